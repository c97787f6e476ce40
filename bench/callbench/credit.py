"""Variant (e)'s prepaid credit, checked in its Redis: before any SIP and after every run.

kemi/limits.py keeps, per prepaid company, ``akira:credit:{company}`` (``available`` and
``settling``), the reservations of calls in flight (``akira:resv:{company}:{incarnation}``,
member -> amount, and their totals per node in ``akira:resvtot:{company}``) and those of calls
that ended answered (``akira:settle:{company}``, member -> amount) until the rater posts their
charges. After a run every call has ended, so no reservation may be left in flight and each
answered call must have left exactly one in settling. The bench has no rater: it then plays the
rater's part (``akira_credit_settled``, the engine's own function, as admin.credit.settled
calls it) so that every run starts from the same free credit.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from callbench import engine
from callbench.loadpoint import redis_commands
from callbench.processes import CLOCK_TICKS
from kemi.pipeline import decide
from kemi.snapshot import Snapshot

SETTLE_BATCH = 1000  # members per akira_credit_settled call, as a rater batch would post


def credit_key(company: int) -> str:
    return f"akira:credit:{company}"


def _int(value: bytes | None) -> int:
    return int(value or 0)


def available(redis: Redis, company: int) -> int | None:
    """What the publisher's credit sync wrote: balance + credit limit, 1e-8 units."""
    value = redis.hget(credit_key(company), "available")
    return None if value is None else int(value)


def mean_reservation(snapshot: Snapshot, numbers: Sequence[str]) -> float:
    """1e-8 units a setup reserves per call on average over ``numbers``: the price of the
    originator's max call duration at the customer's rate (one increment added: the bound)."""
    prices = []
    for number in numbers:
        call = decide(snapshot, engine.request(number, "bench-credit"))
        rate, originator = call.customer_rate, call.originator
        assert rate is not None and originator is not None
        seconds = originator.max_call_duration + rate.next_increment
        prices.append(rate.connect_fee + math.ceil(seconds * rate.rate / 60))
    return statistics.fmean(prices)


@dataclass
class CreditCheck:
    """One run of (e): the reservations its calls left, and the bench's settle of them."""

    in_flight: int = 0  # reservations still held after every call ended (0 expected)
    in_flight_units: int = 0  # their totals per node, summed (0 expected)
    settling_calls: int = 0  # answered calls whose reservation moved to settling
    settling_units: int = 0  # akira:credit:{company} settling before the bench's settle
    settled: int = 0  # reservations akira_credit_settled dropped
    settling_after: int = 0  # settling after it (0 expected)
    settle_cpu: float = 0.0  # seconds of redis-server CPU for the settle (the rater's part)
    settle_commands: Counter[str] = field(default_factory=Counter)
    granted: Counter[int] = field(default_factory=Counter)  # CDR: seconds the credit bought
    max_duration: int = 0  # the originator's: a call granted less would be cut short

    def every_call(self, calls: int) -> bool:
        """Each of ``calls`` reserved its full max duration, ended, and settled once."""
        return (
            self.in_flight == 0
            and self.in_flight_units == 0
            and self.settling_calls == calls
            and self.settled == calls
            and self.settling_after == 0
            and self.granted == Counter({self.max_duration: calls} if calls else {})
        )

    @property
    def cut_short(self) -> int:
        """Calls the credit granted less than the max duration (none with this top-up)."""
        return sum(n for seconds, n in self.granted.items() if seconds < self.max_duration)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def check_run(
    redis: Redis, redis_pid: int, company: int, granted: Counter[int], max_duration: int
) -> CreditCheck:
    """After a run of (e) (its journal shipped, so every release ran): what its calls left in
    Redis; then settle them as the rater would, timing redis-server for that part alone."""
    check = CreditCheck(granted=Counter(granted), max_duration=max_duration)
    for key in redis.scan_iter(f"akira:resv:{company}:*"):
        check.in_flight += int(redis.hlen(key))
    check.in_flight_units = sum(map(_int, redis.hvals(f"akira:resvtot:{company}")))
    settle = f"akira:settle:{company}"
    members = [member for member, _ in redis.hscan_iter(settle, count=SETTLE_BATCH)]
    check.settling_calls = len(members)
    check.settling_units = _int(redis.hget(credit_key(company), "settling"))
    commands, cpu = redis_commands(redis), _cpu_seconds(redis_pid)
    for start in range(0, len(members), SETTLE_BATCH):
        batch = members[start : start + SETTLE_BATCH]
        check.settled += int(redis.fcall("akira_credit_settled", 0, company, *batch))
    check.settle_cpu = _cpu_seconds(redis_pid) - cpu
    check.settle_commands = redis_commands(redis) - commands
    del check.settle_commands["info"]  # ours
    check.settling_after = _int(redis.hget(credit_key(company), "settling"))
    return check
