"""In-process probes of Akira's engine: snapshot load, decision time, the CDR stream.

The snapshot is loaded with ``kemi.store.SnapshotStore`` exactly as a Kamailio worker loads it,
and ``kemi.decision.decide`` runs on it with the arguments the KEMI route passes, so the timings
are the Python part of a call without Kamailio around it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from callbench.servers import BENCH_DIR, HOST, UAC_PORT
from kemi import contract
from kemi.cdr_event import attempt_event, call_context, dumps
from kemi.cdr_sink import CdrSink
from kemi.decision import decide
from kemi.snapshot import Snapshot
from kemi.store import SnapshotStore


def load_snapshot(redis: Redis) -> tuple[Snapshot, float]:
    """The current snapshot through the engine's own refresh path, and the seconds it took."""
    problems: list[str] = []
    store = SnapshotStore(redis, on_event=problems.append)
    started = time.perf_counter()
    store.refresh()
    elapsed = time.perf_counter() - started
    if store.snapshot is None:
        raise RuntimeError(f"the engine could not load the snapshot: {problems}")
    return store.snapshot, elapsed


@dataclass
class DecisionTiming:
    samples: int
    p50_us: float
    p99_us: float
    mean_us: float
    routed: list[str]  # dialed numbers the engine routes
    unrouted: Counter[str]  # reason -> count, for numbers it rejects
    first_terminator: dict[str, int]  # called number -> terminator of the first attempt
    vendor_share: Counter[int]  # terminator id -> numbers it is first for


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_decisions(snapshot: Snapshot, numbers: Sequence[str], passes: int) -> DecisionTiming:
    """``decide`` per dialed number, timed one call at a time over ``passes`` rounds."""
    durations: list[float] = []
    routed: list[str] = []
    unrouted: Counter[str] = Counter()
    first: dict[str, int] = {}
    for round_number in range(passes):
        for index, number in enumerate(numbers):
            call_id = f"bench-{round_number}-{index}"
            started = time.perf_counter_ns()
            decision = decide(
                snapshot,
                ip=HOST,
                port=UAC_PORT,
                transport="udp",
                user=number,
                at=time.time(),
                call_id=call_id,
            )
            durations.append((time.perf_counter_ns() - started) / 1000)
            if round_number:
                continue
            if decision.reason is None:
                routed.append(number)
                first[decision.called] = decision.routes[0].terminator.id
            else:
                unrouted[decision.reason] += 1
    durations.sort()
    return DecisionTiming(
        samples=len(durations),
        p50_us=_percentile(durations, 0.50),
        p99_us=_percentile(durations, 0.99),
        mean_us=statistics.fmean(durations),
        routed=routed,
        unrouted=unrouted,
        first_terminator=first,
        vendor_share=Counter(first.values()),
    )


@dataclass(frozen=True, slots=True)
class CallWork:
    """Per-call Python work of the KEMI route besides ``decide``, timed in-process (p50)."""

    calls: int
    context_us: float  # call_context + JSON dump: the AVP / dialog-variable payload
    emit_wall_us: float  # one CDR event: attempt_event + JSON + CdrSink.emit (XADD round trip)
    emit_cpu_us: float  # this process's CPU for that, without the wait for Redis


def time_call_work(
    snapshot: Snapshot, numbers: Sequence[str], redis: Redis, spool_dir: Path
) -> CallWork:
    """What ``kemi.routes`` does per routed call around ``decide``, with the engine's code.

    The events go to the real stream of the bench's Redis database and are deleted after.
    """
    sink = CdrSink(redis, str(spool_dir))
    context_times, wall_times, cpu_times = [], [], []
    for index, number in enumerate(numbers):
        call_id = f"bench-work-{index}"
        decision = decide(
            snapshot,
            ip=HOST,
            port=UAC_PORT,
            transport="udp",
            user=number,
            at=time.time(),
            call_id=call_id,
        )
        if decision.reason is not None:
            continue
        started = time.perf_counter_ns()
        context = call_context(
            decision,
            call_id=call_id,
            src_ip=HOST,
            caller="12125550100",
            dialed=number,
            version=snapshot.version,
            started_ms=0,
        )
        dumps(context)
        context_times.append((time.perf_counter_ns() - started) / 1000)
        wall, cpu = time.perf_counter_ns(), time.process_time_ns()
        sink.emit(
            dumps(
                attempt_event(
                    context,
                    1,
                    node="bench",
                    sip_code=200,
                    reason="caller-bye",
                    started_ms=0,
                    answered_ms=0,
                    ended_ms=0,
                )
            )
        )
        cpu_times.append((time.process_time_ns() - cpu) / 1000)
        wall_times.append((time.perf_counter_ns() - wall) / 1000)
    redis.delete(contract.CDR_STREAM)
    return CallWork(
        calls=len(wall_times),
        context_us=statistics.median(context_times),
        emit_wall_us=statistics.median(wall_times),
        emit_cpu_us=statistics.median(cpu_times),
    )


def snapshot_memory(redis_url: str) -> dict[str, float]:
    """Run bench/callbench/snapshot_probe.py in a fresh interpreter (see its docstring)."""
    result = subprocess.run(
        [sys.executable, "-m", "callbench.snapshot_probe", redis_url],
        cwd=BENCH_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"snapshot probe failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


# --- CDR events ------------------------------------------------------------------------------


@dataclass
class CdrCheck:
    events: int = 0
    stream_bytes: int = 0
    misrouted: int = 0  # first attempts that went to another vendor than decide() chose
    failovers: int = 0  # attempts after the first (a vendor failed or timed out)
    unknown: int = 0  # events for numbers the in-process decision did not route
    spooled: int = 0  # events the engine wrote to its local spool (Redis did not answer)
    codes: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, other: CdrCheck) -> None:
        for name in ("events", "stream_bytes", "misrouted", "failovers", "unknown", "spooled"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.codes.update(other.codes)
        self.reasons.update(other.reasons)


def drain_cdr_stream(redis: Redis, first_terminator: dict[str, int], spool_dir: Path) -> CdrCheck:
    """Check each CDR event of the last run against the expected vendor, then delete them.

    Deleting after every run keeps the shared Redis small: a full benchmark writes ~10^5 events.
    """
    check = CdrCheck(events=int(redis.xlen(contract.CDR_STREAM)))
    check.stream_bytes = int(redis.memory_usage(contract.CDR_STREAM) or 0)
    last = "-"
    while True:
        batch = redis.xrange(contract.CDR_STREAM, min=last, max="+", count=5000)
        if not batch:
            break
        for entry_id, fields in batch:
            _check_event(
                check, json.loads(fields[contract.CDR_EVENT_FIELD.encode()]), first_terminator
            )
            last = "(" + entry_id.decode()
    redis.delete(contract.CDR_STREAM)
    for spool in spool_dir.glob("cdr-*.jsonl"):
        check.spooled += len(spool.read_text().splitlines())
        spool.unlink()
    return check


def _check_event(check: CdrCheck, event: dict, first_terminator: dict[str, int]) -> None:
    check.codes[event["sip_code"]] += 1
    check.reasons[event["reason"]] += 1
    if event["attempt"] > 1:
        check.failovers += 1
        return
    expected = first_terminator.get(event["called"])
    if expected is None:
        check.unknown += 1
    elif event["terminator_id"] != expected:
        check.misrouted += 1
