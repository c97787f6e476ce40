"""Baseline (b) around its Kamailio: the lcr tables, their agreement with Akira's decision, the
acc CDR files, and the probe that times lcr in C (load, reload, ``load_gws``).

Baseline (b) must send every call to the vendor Akira's engine picks, or comparing their CPU
per call compares different work. So before any SIP the generated tables are replayed
(``LcrTables.predict``) against ``kemi.pipeline.decide`` on one number per open code of the
deck; during the runs the vendor UAS counters (callbench.routing_check) and the vendor field of
every CDR are checked against the same prediction.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from admin.catalog import RateRow
from callbench import lcr_tables
from callbench.engine import first_vendor
from callbench.lcr_tables import LcrTables
from callbench.loadpoint import run_uac
from callbench.processes import Supervisor
from callbench.servers import HOST, Kamailio, start_class4
from kemi.snapshot import Snapshot

CDR_FIELDS = (
    *("start", "end", "duration"),  # acc's own
    *("callid", "src_ip", "caller", "called", "vendor", "attempts"),  # cdr_extra, dialog vars
)
CUSTOMER_NETWORKS = [(HOST, 32)]  # the bench customer's device, as in the catalog


@dataclass
class Agreement:
    """lcr's first vendor against ``decide``'s, number by number."""

    checked: int = 0
    agreed: int = 0
    examples: list[str] = field(default_factory=list)  # the first few disagreements

    @property
    def all_agree(self) -> bool:
        return self.checked > 0 and self.agreed == self.checked


@dataclass
class Class4Setup:
    tables: LcrTables
    db_dir: Path
    cdr_dir: Path
    build_seconds: float  # tariffs -> rules, in Python
    write_seconds: float  # rules -> db_text files
    table_bytes: int
    dialog_timeout: int  # seconds: the originator's max call duration
    agreement: Agreement


def build_tables(
    tariffs: Mapping[str, Sequence[RateRow]],
    vendor_ports: Mapping[str, int],
    directory: Path,
) -> tuple[LcrTables, float, float]:
    """The integrator's offline step, timed: tables as of now, written as db_text files."""
    started = time.perf_counter()
    tables = lcr_tables.build(tariffs, vendor_ports, HOST, datetime.now(UTC))
    built = time.perf_counter()
    lcr_tables.write(directory, tables, CUSTOMER_NETWORKS)
    return tables, built - started, time.perf_counter() - built


def check_agreement(
    tables: LcrTables,
    snapshot: Snapshot,
    numbers: Iterable[str],
    vendor_of_terminator: Mapping[int, str],
) -> Agreement:
    """For each number: the vendor lcr tries first is the one ``decide`` routes to first."""
    agreement = Agreement()
    for index, number in enumerate(numbers):
        terminator = first_vendor(snapshot, number, f"lcr-check-{index}")
        expected = None if terminator is None else vendor_of_terminator[terminator]
        predicted = tables.predict(number)
        agreement.checked += 1
        if predicted == expected:
            agreement.agreed += 1
        elif len(agreement.examples) < 5:
            agreement.examples.append(f"{number}: lcr {predicted}, Akira {expected}")
    return agreement


# --- the CDR files ---------------------------------------------------------------------------


@dataclass
class CdrFileCheck:
    """acc's CDRs of some runs: one line per answered call, vendor checked per called number."""

    records: int = 0
    misrouted: int = 0  # answered by the first vendor tried, and that is not the predicted one
    failovers: int = 0  # answered after one or more vendors failed (attempts > 1)
    unknown: int = 0  # a called number that was not dialed
    malformed: int = 0
    bytes: int = 0
    files: int = 0
    vendors: Counter[str] = field(default_factory=Counter)

    def add(self, other: CdrFileCheck) -> None:
        for name in ("records", "misrouted", "failovers", "unknown", "malformed", "bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.files = max(self.files, other.files)
        self.vendors.update(other.vendors)


class CdrFiles:
    """Reads what db_flatstore appended since the last call (acc_cdrs_<process>.log files).

    Files are never truncated under the writers; only complete lines are consumed.
    """

    def __init__(self, directory: Path, vendor_of: Mapping[str, str]) -> None:
        self.directory = directory
        self.vendor_of = vendor_of
        self._offsets: dict[Path, int] = {}

    def drain(self) -> CdrFileCheck:
        check = CdrFileCheck()
        paths = sorted(self.directory.glob("acc_cdrs_*.log"))
        check.files = len(paths)
        for path in paths:
            offset = self._offsets.get(path, 0)
            with path.open("rb") as cdrs:
                cdrs.seek(offset)
                chunk = cdrs.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offsets[path] = offset + len(complete)
            check.bytes += len(complete)
            for line in complete.decode(errors="replace").splitlines():
                self._check_line(check, line)
        return check

    def _check_line(self, check: CdrFileCheck, line: str) -> None:
        values = line.split("|")
        if len(values) != len(CDR_FIELDS):
            check.malformed += 1
            return
        record = dict(zip(CDR_FIELDS, values, strict=True))
        check.records += 1
        check.vendors[record["vendor"]] += 1
        expected = self.vendor_of.get(record["called"])
        if record["attempts"] != "1":
            check.failovers += 1  # the vendor tried first failed: another one answered
        elif expected is None:
            check.unknown += 1
        elif record["vendor"] != expected:
            check.misrouted += 1


# --- the lcr probe ---------------------------------------------------------------------------


@dataclass
class LcrProbe:
    """lcr's own cost, from a separate (b) instance started with -A LCR_TIMING."""

    startup_seconds: float  # start to ready: db_text parse + lcr load of every table
    reload_seconds: list[float]  # `kamcmd lcr.reload`, idle
    calls: int
    load_gws_us: list[int]  # one per call, benchmark module (microsecond resolution)

    def percentile(self, fraction: float) -> float | None:
        ordered = sorted(self.load_gws_us)
        if not ordered:
            return None
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def mean_us(self) -> float | None:
        return statistics.fmean(self.load_gws_us) if self.load_gws_us else None


def timed_reload(kamailio: Kamailio) -> float:
    """Wall time of one lcr.reload (db_text query of the three tables + rebuild in shm)."""
    started = time.perf_counter()
    kamailio.rpc("lcr.reload", timeout=120)
    return time.perf_counter() - started


def load_gws_timings(lines: Iterable[str]) -> list[int]:
    """The probe cfg logs ``lcr-timing <µs>`` after each load_gws()."""
    found = []
    for line in lines:
        marker = line.rfind("lcr-timing ")
        if marker >= 0:
            try:
                found.append(int(line[marker + len("lcr-timing ") :].strip()))
            except ValueError:
                continue
    return found


def run_probe(
    supervisor: Supervisor,
    setup: Class4Setup,
    workers: int,
    allocator: str,
    inf: Path,
    calls: int,
    rate: int,
) -> LcrProbe:
    """Start the timing variant of (b), reload lcr 3 times, place ``calls`` calls, stop it.

    A low rate, so that queueing on the shared cores does not dominate the per-call figures.
    """
    probe = start_class4(
        supervisor,
        workers,
        allocator,
        db_dir=setup.db_dir,
        cdr_dir=setup.cdr_dir.with_name("class4-probe-cdr"),
        dialog_timeout=setup.dialog_timeout,
        name="class4-probe",
        lcr_timing=True,
    )
    try:
        reloads = [timed_reload(probe) for _ in range(3)]
        probe.new_log_lines()
        counts = run_uac(supervisor, probe, inf, rate, calls / rate, "probe-class4")
        time.sleep(1)  # the last calls' log lines
        timings = load_gws_timings(probe.new_log_lines())
    finally:
        supervisor.stop(probe.process)
    return LcrProbe(probe.startup_seconds, reloads, counts.successful, timings)
