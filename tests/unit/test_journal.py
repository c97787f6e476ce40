"""The CDR journal and its relay: every event reaches the bus once the bus takes it, none is
lost when the relay takes over a silent worker's segment, a failed bus keeps the segment."""

import json
import os

import pytest

from kemi.bus import BusError
from kemi.journal import OPEN, READY, STALE_SECONDS, Journal
from kemi.relay import Relay


class Bus:
    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.keys: list[str] = []
        self.fail = False

    def publish(self, lines, key):
        if self.fail:
            raise BusError("bus down")
        self.lines.extend(lines)
        self.keys.append(key)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path):
    clock, bus = Clock(), Bus()
    journal = Journal(str(tmp_path), "n1", rotate_seconds=1.0, clock=clock)
    relay = Relay(str(tmp_path), bus, clock=clock, retry_after=5.0)
    return journal, relay, bus, clock, tmp_path


def events(bus):
    return [json.loads(line)["n"] for line in bus.lines]


def test_rotated_segments_are_shipped_and_deleted(parts):
    journal, relay, bus, clock, directory = parts
    journal.append('{"n":1}')
    journal.append('{"n":2}')
    assert relay.run_once() == 0  # still open, not stale
    clock.now += 1.5
    journal.append('{"n":3}')  # rotates the first segment, opens a second
    assert [p.suffix for p in sorted(directory.iterdir())] == [READY, OPEN]
    assert relay.run_once() == 2 and events(bus) == [1, 2]


def test_a_silent_workers_segment_is_taken_over_and_nothing_is_lost(parts):
    journal, relay, bus, clock, directory = parts
    journal.append('{"n":1}')
    (segment,) = directory.iterdir()
    old = os.path.getmtime(segment) - STALE_SECONDS - 1
    os.utime(segment, (old, old))
    clock.now = os.path.getmtime(segment) + STALE_SECONDS + 1
    assert relay.run_once() == 1
    journal.append('{"n":2}')  # the worker notices and starts a new segment
    assert [p.suffix for p in directory.iterdir()] == [OPEN]
    clock.now += 2
    journal.append('{"n":3}')
    assert relay.run_once() == 2 and events(bus) == [1, 2, 3]


def test_a_failed_bus_keeps_the_segment_and_backs_off(parts):
    journal, relay, bus, clock, directory = parts
    journal.append('{"n":1}')
    journal.rotate()
    bus.fail = True
    assert relay.run_once() == 0
    assert relay.backlog()[0] == 1
    bus.fail = False
    assert relay.run_once() == 0  # still backing off
    clock.now += 6
    assert relay.run_once() == 1 and events(bus) == [1]
    assert not list(directory.iterdir())
