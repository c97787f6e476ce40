"""One fixed-rate SIPp run against one Kamailio, with the CPU every party spent meanwhile.

Kamailio's CPU per call is read from /proc (user+sys of the main process and all its workers)
before the run and after a settle pause and until tm has freed every transaction, so the
clean-up that tm does seconds after each call is billed to the calls that caused it. An Akira
instance's own redis-server is measured the same way, with the commands it executed.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from redis import Redis

from callbench.processes import (
    CLOCK_TICKS,
    CORES,
    ProcStat,
    Supervisor,
    busy_ticks,
    children_cpu_seconds,
    descendants,
    read_processes,
)
from callbench.routing_check import delta, read_counts, same_counts
from callbench.servers import HOST, SIPP_BUFFER, UAC_PORT, UAC_SCENARIO, Kamailio, sipp_ports

if TYPE_CHECKING:
    from callbench.credit import CreditCheck

LOG_PROBLEM_MARKERS = ("ERROR", "CRITICAL", "WARNING", "akira:")
# After an overloaded run, transactions linger (fr_timer, retransmissions): the next run, of
# either variant, starts only when they are gone, so one run's backlog never loads the next.
DRAIN_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class SippCounts:
    outgoing: int
    successful: int
    failed: int
    retransmissions: int
    call_rate: float  # calls per second SIPp achieved
    response_ms: float  # mean INVITE -> 200 time
    failures: dict[str, int]  # FailedXxx(C) columns that are not zero
    unexpected: dict[str, int] = field(default_factory=dict)  # from the -trace_err log


@dataclass
class LoadResult:
    variant: str
    tag: str  # e.g. "round2-akira": which round or step of the session
    rate: int
    seconds: float  # the whole measured window: SIPp run, settle pause, drain
    uac_seconds: float  # the SIPp run alone, when the calls happened
    sipp: SippCounts
    kamailio_cpu: float  # seconds, all Kamailio processes
    sipp_cpu: float  # seconds, UAC + vendor UAS
    redis_cpu: float  # seconds, the (shared) redis-server
    machine_busy: float  # seconds of all cores, whole machine
    foreign: list[tuple[str, float]]  # other processes' CPU seconds, largest first
    drain_seconds: float = 0.0  # wait after the settle pause until tm freed every transaction
    log_problems: list[str] = field(default_factory=list)
    # callbench.engine.CdrCheck (Akira) or callbench.class4.CdrFileCheck (native class-4)
    cdr: object | None = None
    redis_commands: dict[str, int] = field(default_factory=dict)  # Akira: executed, by name
    credit: CreditCheck | None = None  # (e): what its calls left in Redis, and their settle
    vendor_calls: dict[str, int] = field(default_factory=dict)  # new calls each vendor UAS got
    expected_calls: dict[str, int] = field(default_factory=dict)  # as the decision predicts

    @property
    def vendor_deficit(self) -> int:
        """Calls a vendor did not get although predicted for it: only misrouting does this."""
        return sum(
            max(0, calls - self.vendor_calls.get(vendor, 0))
            for vendor, calls in self.expected_calls.items()
        )

    @property
    def vendor_excess(self) -> int:
        """New calls a vendor counted beyond the prediction: a late ACK after its BYE
        (callbench.routing_check), or a failover."""
        return sum(
            max(0, calls - self.expected_calls.get(vendor, 0))
            for vendor, calls in self.vendor_calls.items()
        )

    @property
    def routed_as_predicted(self) -> bool:
        """No vendor got fewer calls than predicted (extras: see ``vendor_excess``)."""
        return bool(self.expected_calls) and self.vendor_deficit == 0

    @property
    def vendor_counts_exact(self) -> bool:
        return bool(self.expected_calls) and same_counts(self.vendor_calls, self.expected_calls)

    @property
    def foreign_share(self) -> float:
        """Share of the machine's CPU other processes used over the measured window."""
        return sum(cpu for _, cpu in self.foreign) / (self.seconds * CORES) if self.seconds else 0

    @property
    def cpu_per_call_us(self) -> float | None:
        if self.sipp.successful == 0:
            return None
        return self.kamailio_cpu / self.sipp.successful * 1e6

    @property
    def clean(self) -> bool:
        """Every call answered, none failed, and SIPp kept (nearly) the asked rate."""
        counts = self.sipp
        return (
            counts.failed == 0
            and counts.successful == counts.outgoing > 0
            and (counts.call_rate >= 0.9 * self.rate)
        )


def _seconds(value: str) -> float:
    """SIPp's ``HH:MM:SS:micro`` as seconds."""
    hours, minutes, seconds, micros = (int(part) for part in value.split(":"))
    return hours * 3600 + minutes * 60 + seconds + micros / 1e6


def parse_stats(path: Path) -> SippCounts:
    """The last line of SIPp's -trace_stat file holds the cumulative counts of the run."""
    with path.open(newline="") as stats:
        rows = list(csv.DictReader(stats, delimiter=";"))
    if not rows:
        raise RuntimeError(f"SIPp wrote no statistics to {path}")
    last = rows[-1]
    failures = {
        name[len("Failed") : -len("(C)")]: int(value)
        for name, value in last.items()
        if name
        and name.startswith("Failed")
        and name.endswith("(C)")
        and name != "FailedCall(C)"
        and value
        and int(value) > 0
    }
    return SippCounts(
        outgoing=int(last["OutgoingCall(C)"]),
        successful=int(last["SuccessfulCall(C)"]),
        failed=int(last["FailedCall(C)"]),
        retransmissions=int(last["Retransmissions(C)"]),
        call_rate=float(last["CallRate(C)"]),
        response_ms=_seconds(last["ResponseTime1(C)"]) * 1000,
        failures=failures,
    )


_UNEXPECTED = re.compile(
    r"Aborting call on unexpected message .*?: (while [^(]*)\(index \d+\), "
    r"received '(SIP/2.0 \d+[^\r\n]*|[A-Z]+)[^']*?CSeq: *\d+ (\w+)",
    re.DOTALL,
)


def parse_unexpected(path: Path) -> dict[str, int]:
    """Why SIPp aborted calls, e.g. ``408 Request Timeout to BYE, while expecting '200'``."""
    if not path.exists():
        return {}
    found = Counter(
        f"{received.strip().removeprefix('SIP/2.0 ')} to {method}, {state.strip()}"
        for state, received, method in _UNEXPECTED.findall(path.read_text(errors="replace"))
    )
    return dict(found.most_common())


def run_uac(
    supervisor: Supervisor, target: Kamailio, inf: Path, rate: int, seconds: float, tag: str
) -> SippCounts:
    """The customer: ``rate`` calls per second for ``seconds``, each hung up at once (-d 0)."""
    calls = max(1, round(rate * seconds))
    stats = supervisor.run_dir / f"uac-{tag}.csv"
    errors = supervisor.run_dir / f"uac-{tag}-errors.log"
    argv = [
        "sipp",
        "-sf",
        str(UAC_SCENARIO),
        "-inf",
        str(inf),
        "-i",
        HOST,
        "-p",
        str(UAC_PORT),
        *sipp_ports(UAC_PORT),
        "-r",
        str(rate),
        "-rp",
        "1000",
        "-m",
        str(calls),
        "-d",
        "0",
        "-l",
        str(max(3000, 3 * rate)),
        "-buff_size",
        SIPP_BUFFER,
        "-recv_timeout",
        "10000",
        "-timeout",
        f"{int(seconds) + 60}s",
        "-trace_stat",
        "-stf",
        str(stats),
        "-fd",
        "5",
        "-trace_err",
        "-error_file",
        str(errors),
        "-nostdin",
        f"{HOST}:{target.port}",
    ]
    process = supervisor.start(f"uac-{tag}", argv)
    try:
        process.wait(seconds + 90)
    finally:
        supervisor.stop(process)
    return dataclasses.replace(parse_stats(stats), unexpected=parse_unexpected(errors))


def redis_commands(redis: Redis) -> Counter[str]:
    """Commands redis-server has executed so far, by name (INFO commandstats); those a Lua
    function runs count under their own names, as in total_commands_processed."""
    stats = redis.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()})


def _cpu(before: dict[int, ProcStat], after: dict[int, ProcStat], pids: Iterable[int]) -> float:
    ticks = 0
    for pid in pids:
        if pid in after:
            ticks += after[pid].ticks - (before[pid].ticks if pid in before else 0)
    return ticks / CLOCK_TICKS


def measure(
    supervisor: Supervisor,
    target: Kamailio,
    vendors: Iterable[subprocess.Popen],
    inf: Path,
    rate: int,
    seconds: float,
    settle: float,
    tag: str,
    vendor_stats: Mapping[str, Path] | None = None,
) -> LoadResult:
    """Run one load point and account for the CPU of Kamailio, SIPp, Redis and the rest.

    With ``vendor_stats`` (each UAS's -trace_stat file), also the calls each vendor received.
    """
    target.new_log_lines()  # forget what earlier runs logged
    commands = redis_commands(target.redis) if target.redis else Counter()
    vendors_before = read_counts(vendor_stats or {})
    vendor_pids = [process.pid for process in vendors]
    before, busy_before, reaped_before = read_processes(), busy_ticks(), children_cpu_seconds()
    started = time.monotonic()
    counts = run_uac(supervisor, target, inf, rate, seconds, tag)
    uac_seconds = time.monotonic() - started
    uac_cpu = children_cpu_seconds() - reaped_before
    time.sleep(settle)
    drain = target.wait_drained(DRAIN_TIMEOUT)
    if target.redis:
        commands = redis_commands(target.redis) - commands
        del commands["info"]  # ours
    after, busy_after = read_processes(), busy_ticks()
    vendor_calls = delta(vendors_before, read_counts(vendor_stats or {}))

    kamailio = descendants(after, target.pid) | descendants(before, target.pid)
    redis = {target.redis_pid} if target.redis_pid else set()
    mine = kamailio | set(vendor_pids) | redis | descendants(after, os.getpid())
    foreign: Counter[str] = Counter()
    for pid, stat in after.items():
        if pid not in mine:
            foreign[stat.comm] += _cpu(before, after, [pid])
    result = LoadResult(
        variant=target.name,
        tag=tag,
        rate=rate,
        seconds=time.monotonic() - started,
        uac_seconds=uac_seconds,
        sipp=counts,
        kamailio_cpu=_cpu(before, after, kamailio),
        sipp_cpu=uac_cpu + _cpu(before, after, vendor_pids),
        redis_cpu=_cpu(before, after, redis),
        machine_busy=(busy_after - busy_before) / CLOCK_TICKS,
        foreign=[(name, cpu) for name, cpu in foreign.most_common(3) if cpu >= 0.05],
        drain_seconds=drain,
        log_problems=[
            line
            for line in target.new_log_lines()
            if any(marker in line for marker in LOG_PROBLEM_MARKERS)
        ],
        vendor_calls=vendor_calls,
        redis_commands=dict(commands),
    )
    return result
