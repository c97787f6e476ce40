"""The worker loop outlives any failure of a round: expected ones (bus, database) and bugs."""

from __future__ import annotations

import pytest

from admin import rater as rater_module
from admin.rater import BatchResult, run_forever
from kemi.bus import BusError


class Stop(BaseException):
    """Ends the loop from inside the test (run_forever never returns by itself)."""


class FakeRater:
    """Only for the loop's own logic: run_once answers from a script of outcomes."""

    consumer = "unit"

    def __init__(self, script: list, closed: list[str]) -> None:
        self.script, self.closed = script, closed

    def setup(self) -> None:
        pass

    def run_once(self) -> BatchResult:
        outcome = self.script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def close(self) -> None:
        self.closed.append("closed")
        raise OSError("the connection was already gone")  # closing may fail too


def test_the_worker_keeps_going_after_a_bus_failure_and_after_a_bug(monkeypatch):
    sleeps: list[float] = []
    monkeypatch.setattr(rater_module.time, "sleep", sleeps.append)
    script = [
        BusError("ConnectionClosedError"),
        RuntimeError("a bug in a round"),
        BatchResult(read=3, written=3),
        Stop(),
    ]
    closed: list[str] = []
    made: list[FakeRater] = []
    lines: list[str] = []

    def make() -> FakeRater:
        made.append(FakeRater(script, closed))
        return made[-1]

    with pytest.raises(Stop):
        run_forever(make, log=lines.append)

    assert len(made) == 3 and closed == ["closed", "closed"]  # a new rater after each failure
    assert sleeps == [1.0, 2.0]  # backed off, doubling
    assert "BusError('ConnectionClosedError')" in lines[1]
    assert "Traceback" in lines[3] and "RuntimeError: a bug in a round" in lines[3]
    assert "rated 3 events: 3 new CDRs, 0 rejected" in lines
