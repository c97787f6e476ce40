"""Everything one benchmark run measured, and the derived figures the report prints."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from admin.publisher import Publication
from callbench.class4 import CdrFileCheck, Class4Setup, LcrProbe
from callbench.engine import CallWork, CdrCheck, DecisionTiming, SnapshotLoad
from callbench.fixtures import Catalog
from callbench.loadpoint import LoadResult

VARIANTS = ("native", "class4", "akira", "limits", "credit", "floor")
AKIRA_VARIANTS = ("akira", "limits", "credit")  # the engine's instances: CDR stream, own Redis
LETTERS = {"native": "a", "class4": "b", "akira": "c", "limits": "d", "credit": "e", "floor": "f"}
LABELS = {
    "native": "native relay (a)",
    "class4": "native class-4 (b)",
    "akira": "Akira engine (c)",
    "limits": "Akira + limits (d)",
    "credit": "Akira + limits + credit (e)",
    "floor": "KEMI floor + dialog (f)",
}
# (numerator, denominator) of the ratios reported: Akira against each baseline, what the
# class-4 work itself costs over a plain relay, what limits add to Akira, and what prepaid
# credit control adds to limits (on in both) and to Akira.
RATIOS = (
    ("akira", "native"),
    ("akira", "class4"),
    ("class4", "native"),
    ("limits", "akira"),
    ("limits", "native"),
    ("credit", "limits"),
    ("credit", "akira"),
    ("floor", "native"),  # what Python through app_python3 and the dialog module cost alone
    ("floor", "class4"),
    ("akira", "floor"),  # Akira's own work over that floor
)


def variant_letters(text: str) -> tuple[str, ...]:
    """``--variants c,d,e`` (letters or names; "all") as variant names, in VARIANTS order."""
    if text.strip() == "all":
        return VARIANTS
    by_letter = {letter: variant for variant, letter in LETTERS.items()}
    asked = {by_letter.get(item.strip(), item.strip()) for item in text.split(",") if item.strip()}
    unknown = asked - set(VARIANTS)
    if unknown or not asked:
        raise ValueError(f"variants are a-f or {', '.join(VARIANTS)}, not {text!r}")
    return tuple(v for v in VARIANTS if v in asked)


def ratio_label(numerator: str, denominator: str) -> str:
    return f"({LETTERS[numerator]})/({LETTERS[denominator]})"


@dataclass(frozen=True, slots=True)
class MemoryReading:
    """All processes of one Kamailio instance at one moment."""

    processes: int
    total_pss: int  # bytes, sum of Pss over every process (shared memory counted once)
    worker_private: list[int]  # bytes, Private_Clean+Private_Dirty of each SIP worker
    shm_used: int  # bytes, Kamailio's shared memory in use (core.shmmem real_used)


@dataclass(frozen=True, slots=True)
class Plan:
    rate: int  # CPS of the CPU-per-call rounds
    duration: float  # seconds per round
    rounds: int
    step: int  # CPS increment of the max-CPS search
    step_duration: float
    max_rate: int
    settle: float  # seconds after each run before the CPU is read again
    numbers: int  # distinct dialed numbers
    decision_passes: int
    workers: int
    allocator: str  # Kamailio shared-memory allocator of every variant
    quick: bool
    overload: tuple[float, ...]  # (c) offered these multiples of its max clean CPS
    overload_duration: float
    variants: tuple[str, ...] = VARIANTS  # the instances started and measured (--variants)

    def ratios(self) -> list[tuple[str, str]]:
        """The RATIOS whose two variants both ran."""
        return [(n, d) for n, d in RATIOS if n in self.variants and d in self.variants]


@dataclass
class BenchResults:
    plan: Plan
    command: str  # the command line of this run, for the report
    started: datetime
    machine: dict[str, str]
    deck: str
    deck_rows: int
    catalog: Catalog
    publications: dict[str, Publication]  # Akira variant -> the snapshot it routes with
    decision: DecisionTiming
    snapshot_loads: list[SnapshotLoad]  # in-process: SnapshotSync fetch, SnapshotStore map
    memory: dict[str, float]  # callbench.snapshot_probe output
    call_work: CallWork
    class4: Class4Setup | None = None
    lcr_probe: LcrProbe | None = None
    startup_loads: list[float] = field(default_factory=list)  # (c): per process map, seconds
    startup_seconds: dict[str, float] = field(default_factory=dict)  # variant -> start to ready
    akira_code: str = ""  # the KEMI entry script and virtualenv the Akira instance runs
    memory_warm: dict[str, MemoryReading] = field(default_factory=dict)  # after the warm-up
    memory_loaded: dict[str, MemoryReading] = field(default_factory=dict)  # after the rounds
    rounds: list[LoadResult] = field(default_factory=list)
    steps: list[LoadResult] = field(default_factory=list)
    max_cps: dict[str, int | None] = field(default_factory=dict)
    overload: list[LoadResult] = field(default_factory=list)  # (c) beyond its clean capacity
    overload_capacity: int | None = None  # the CPS the overload multiples are of
    cdr: dict[str, CdrCheck] = field(
        default_factory=lambda: {v: CdrCheck() for v in AKIRA_VARIANTS}
    )
    # successful calls through (c), (d) and (e), one CDR event each expected
    cdr_calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AKIRA_VARIANTS, 0))
    credit_company: int = 0  # (e): the prepaid company whose credit the calls reserve
    credit_available: int = 0  # (e): its available money in Redis before any call, 1e-8 units
    credit_max_duration: int = 0  # (e): seconds a call reserves (the originator's max)
    class4_cdr: CdrFileCheck = field(default_factory=CdrFileCheck)
    class4_module_shm: dict[str, int] = field(default_factory=dict)  # (b): module -> bytes
    class4_answered: int = 0  # successful calls through (b): one CDR each is expected
    load_average: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    finished: datetime | None = None

    def clean_rounds(self, variant: str) -> list[LoadResult]:
        """The CPU-per-call rounds that count: an overloaded run (failed calls, retransmission
        storms) spends its CPU on retries, and per successful call that says nothing."""
        return [r for r in self.rounds if r.variant == variant and r.clean]

    def cpu_per_call(self, variant: str) -> list[float]:
        return [
            r.cpu_per_call_us for r in self.clean_rounds(variant) if r.cpu_per_call_us is not None
        ]

    def mean_cpu_per_call(self, variant: str) -> float | None:
        values = self.cpu_per_call(variant)
        return statistics.fmean(values) if values else None

    def round_ratios(self, numerator: str, denominator: str) -> list[float]:
        """The ratio within each round where both ran clean, back to back, under the same load."""
        by_round: dict[str, dict[str, float]] = {}
        for r in self.rounds:
            if r.clean and r.cpu_per_call_us:
                by_round.setdefault(r.tag.split("-")[0], {})[r.variant] = r.cpu_per_call_us
        return [
            pair[numerator] / pair[denominator]
            for pair in by_round.values()
            if numerator in pair and denominator in pair
        ]

    def mean_of(self, variant: str, attribute: str) -> float | None:
        """Mean over the clean rounds of a per-call figure: ``attribute`` seconds / successful
        calls."""
        values = [
            getattr(r, attribute) / r.sipp.successful * 1e6
            for r in self.clean_rounds(variant)
            if r.sipp.successful
        ]
        return statistics.fmean(values) if values else None

    def redis_per_call(self, variant: str) -> Counter[str]:
        """Commands the instance's redis-server executed per successful call, by name, over
        the clean rounds (background included: the sync timer's polls, the relay's keep-alive;
        commands run by a Lua function count under their own names)."""
        commands: Counter[str] = Counter()
        calls = 0
        for r in self.clean_rounds(variant):
            commands.update(r.redis_commands)
            calls += r.sipp.successful
        return Counter({name: count / calls for name, count in commands.items()} if calls else {})

    def routing_checks(self, variant: str) -> tuple[int, int, int, int, int]:
        """Over the clean runs of ``variant``: (runs where no vendor got fewer calls than
        predicted, runs with exactly the predicted counts, runs, extra INVITEs, calls)."""
        clean = [
            r
            for r in [*self.rounds, *self.steps]
            if r.variant == variant and r.expected_calls and r.clean
        ]
        return (
            sum(r.routed_as_predicted for r in clean),
            sum(r.vendor_counts_exact for r in clean),
            len(clean),
            sum(r.vendor_excess for r in clean),
            sum(sum(r.expected_calls.values()) for r in clean),
        )

    def cdr_checks(self, variant: str) -> tuple[int, int]:
        """(clean runs of ``variant`` with exactly one CDR per successful call, clean runs):
        (b)'s acc records, (c)'s, (d)'s and (e)'s events (a clean run has no failed attempt)."""
        clean = [r for r in [*self.rounds, *self.steps] if r.variant == variant and r.clean]
        exact = [r for r in clean if r.cdr is not None and _cdrs(r.cdr) == r.sipp.successful]
        return len(exact), len(clean)

    def credit_checks(self) -> tuple[int, int]:
        """(clean runs of (e) whose every successful call reserved credit, left no reservation
        and settled one, clean runs)."""
        clean = [r for r in [*self.rounds, *self.steps] if r.variant == "credit" and r.clean]
        return sum(
            r.credit is not None and r.credit.every_call(r.sipp.successful) for r in clean
        ), len(clean)

    def first_failure(self, variant: str) -> LoadResult | None:
        return next((r for r in self.steps if r.variant == variant and not r.clean), None)

    def foreign_share(self) -> float:
        """Largest share of the machine's CPU other people's processes used during one run."""
        runs = [*self.rounds, *self.steps, *self.overload]
        return max((r.foreign_share for r in runs), default=0.0)


def _cdrs(check: CdrCheck | CdrFileCheck) -> int:
    return check.records if isinstance(check, CdrFileCheck) else check.events


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return b / a
