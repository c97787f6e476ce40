"""In-process probes of Akira's engine: snapshot fetch and map, decision time, per-call work,
and the check of the CDR events the runs produced.

The snapshot is fetched with ``kemi.snapshot_sync.SnapshotSync`` into a node directory and
mapped with ``kemi.store.SnapshotStore``, exactly as a node's sync timer and its workers do, and
``kemi.pipeline.decide`` runs on it with a ``CallRequest`` as ``kemi.routes`` builds it, so the
timings are the Python part of a call without Kamailio around it.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from callbench.servers import BENCH_DIR, HOST, UAC_PORT
from kemi import contract
from kemi.bus import entry_events
from kemi.context import CallContext
from kemi.journal import Journal
from kemi.pipeline import decide
from kemi.request import CallRequest
from kemi.snapshot import Snapshot
from kemi.snapshot_sync import SnapshotSync
from kemi.store import SnapshotStore

CALLER = "12125550100"


def request(number: str, call_id: str) -> CallRequest:
    """The INVITE of the bench customer's SIPp UAC, as ``Router._read_request`` reads it."""
    return CallRequest(
        call_id=call_id,
        src_ip=HOST,
        src_port=UAC_PORT,
        transport="udp",
        ruri_user=number,
        from_user=CALLER,
        from_tag=f"tag-{call_id}",
        at_ms=time.time_ns() // 1_000_000,
    )


def first_vendor(snapshot: Snapshot, number: str, call_id: str = "bench") -> int | None:
    """The terminator ``decide`` tries first for ``number``; None when it rejects the call."""
    call = decide(snapshot, request(number, call_id))
    return call.routes[0].terminator.id if call.reason is None else None


@dataclass(frozen=True, slots=True)
class SnapshotLoad:
    fetch_seconds: float  # SnapshotSync.sync_current into an empty node directory
    map_seconds: float  # SnapshotStore.refresh: a worker maps the installed version
    file_bytes: int  # the node's snapshot directory: tariff files, route tables, manifest


def load_snapshot(redis: Redis, directory: Path) -> tuple[Snapshot, SnapshotLoad]:
    """The live snapshot through the engine's own path: fetched into ``directory`` (emptied
    first) as a node's sync timer does, then mapped as a worker does."""
    shutil.rmtree(directory, ignore_errors=True)
    started = time.perf_counter()
    SnapshotSync(redis, str(directory), node="bench-probe").sync_current()
    fetched = time.perf_counter()
    problems: list[str] = []
    store = SnapshotStore(str(directory), on_event=problems.append)
    store.refresh()
    mapped = time.perf_counter()
    if store.snapshot is None:
        raise RuntimeError(f"the engine could not map the snapshot: {problems}")
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    return store.snapshot, SnapshotLoad(fetched - started, mapped - fetched, size)


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
    """``decide`` per dialed number, timed one call at a time over ``passes`` rounds (the
    request is built outside the timing: in Kamailio that is KSR calls)."""
    durations: list[float] = []
    routed: list[str] = []
    unrouted: Counter[str] = Counter()
    first: dict[str, int] = {}
    down: frozenset[str] = frozenset()
    for round_number in range(passes):
        for index, number in enumerate(numbers):
            call_request = request(number, f"bench-{round_number}-{index}")
            started = time.perf_counter_ns()
            call = decide(snapshot, call_request, down)
            durations.append((time.perf_counter_ns() - started) / 1000)
            if round_number:
                continue
            if call.reason is None:
                routed.append(number)
                first[call.called] = call.routes[0].terminator.id
            else:
                unrouted[call.reason] += 1
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
    """Per-call Python work of ``kemi.routes`` besides ``decide``, timed in-process (p50)."""

    calls: int
    context_us: float  # Call.context + CallContext.encode: the dialog variable, at the INVITE
    end_us: float  # CallContext.decode + event(): the CDR event line, at the dialog's end
    append_wall_us: float  # Journal.append of that line (a local file, no network)
    append_cpu_us: float  # this process's CPU for the append


def time_call_work(snapshot: Snapshot, numbers: Sequence[str], journal_dir: Path) -> CallWork:
    """What ``kemi.routes`` does per answered call around ``decide``, with the engine's code:
    the context at the INVITE, then at ``dialog:end`` its decode, the event and the append to a
    real journal (in ``journal_dir``, removed after)."""
    journal = Journal(str(journal_dir), "bench")
    context_times, end_times, wall_times, cpu_times = [], [], [], []
    for index, number in enumerate(numbers):
        call = decide(snapshot, request(number, f"bench-work-{index}"))
        if call.reason is not None:
            continue
        started = time.perf_counter_ns()
        encoded = call.context(snapshot.version).encode()
        ended = time.perf_counter_ns()
        now_ms = ended // 1_000_000
        line = CallContext.decode(encoded).event(
            1,
            node="bench",
            sip_code=200,
            reason="caller-bye",
            started_ms=now_ms,
            answered_ms=now_ms,
            ended_ms=now_ms,
        )
        wall, cpu = time.perf_counter_ns(), time.process_time_ns()
        journal.append(line)
        cpu_times.append((time.process_time_ns() - cpu) / 1000)
        wall_times.append((time.perf_counter_ns() - wall) / 1000)
        context_times.append((ended - started) / 1000)
        end_times.append((wall - ended) / 1000)
    journal.rotate()
    shutil.rmtree(journal_dir, ignore_errors=True)
    return CallWork(
        calls=len(wall_times),
        context_us=statistics.median(context_times),
        end_us=statistics.median(end_times),
        append_wall_us=statistics.median(wall_times),
        append_cpu_us=statistics.median(cpu_times),
    )


def snapshot_memory(directory: Path, numbers: Sequence[str]) -> dict[str, float]:
    """Run bench/callbench/snapshot_probe.py in a fresh interpreter (see its docstring)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listed:
        listed.write("\n".join(numbers))
        listed.flush()
        result = subprocess.run(
            [sys.executable, "-m", "callbench.snapshot_probe", str(directory), listed.name],
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
    stuck: int = 0  # events still in the node's journal when the check gave up waiting
    codes: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    # seconds of talk time the prepaid credit bought, from the trace ("credit 7200s"), by count
    credit_seconds: Counter[int] = field(default_factory=Counter)

    def add(self, other: CdrCheck) -> None:
        for name in ("events", "stream_bytes", "misrouted", "failovers", "unknown", "stuck"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.codes.update(other.codes)
        self.reasons.update(other.reasons)
        self.credit_seconds.update(other.credit_seconds)


def journal_backlog(journal_dir: Path) -> int:
    """Lines in the node's journal not yet shipped (CDR events and limit releases)."""
    lines = 0
    for path in journal_dir.glob("*"):
        with contextlib.suppress(FileNotFoundError):  # shipped meanwhile
            lines += path.read_bytes().count(b"\n")
    return lines


def wait_journal_shipped(journal_dir: Path, timeout: float = 10.0) -> int:
    """Until the relay timer has shipped every line the workers journaled; what is left."""
    deadline = time.monotonic() + timeout
    while (left := journal_backlog(journal_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def drain_cdr_stream(redis: Redis, journal_dir: Path, first_terminator: dict[str, int]) -> CdrCheck:
    """Check each CDR event of the last run against the expected vendor, then delete them.

    The workers journal the events and the node's relay ships them to the bus, the
    ``akira:cdr`` stream of the instance's Redis (kemi.relay); the check waits for the journal
    to be shipped. Deleting after every run keeps Redis small: a full run writes ~10^5 events.
    """
    check = CdrCheck(stuck=wait_journal_shipped(journal_dir))
    check.stream_bytes = int(redis.memory_usage(contract.CDR_STREAM) or 0)
    last = "-"
    while True:
        # an entry is one relay batch, up to contract.RELAY_BATCH events
        entries = redis.xrange(contract.CDR_STREAM, min=last, max="+", count=100)
        if not entries:
            break
        for entry_id, fields in entries:
            for event in entry_events(fields):
                check.events += 1
                _check_event(check, json.loads(event), first_terminator)
            last = "(" + entry_id.decode()
    redis.delete(contract.CDR_STREAM)
    return check


_CREDIT_TRACE = re.compile(r"(?:^|;)credit (\d+)s(?:;|$)")  # kemi.routes: what the setup bought


def _check_event(check: CdrCheck, event: dict, first_terminator: dict[str, int]) -> None:
    check.codes[event["sip_code"]] += 1
    check.reasons[event["reason"]] += 1
    if granted := _CREDIT_TRACE.search(event.get("trace") or ""):
        check.credit_seconds[int(granted.group(1))] += 1
    if event["attempt"] > 1:
        check.failovers += 1
        return
    expected = first_terminator.get(event["called"])
    if expected is None:
        check.unknown += 1
    elif event["terminator_id"] != expected:
        check.misrouted += 1
