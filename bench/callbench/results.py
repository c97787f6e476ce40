"""Everything one benchmark run measured, and the derived figures the report prints."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

from admin.publisher import Publication
from callbench.engine import CallWork, CdrCheck, DecisionTiming
from callbench.fixtures import Catalog
from callbench.loadpoint import LoadResult
from callbench.processes import CORES

VARIANTS = ("native", "akira")
LABELS = {"native": "native relay (a)", "akira": "Akira engine (b)"}


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
    allocator: str  # Kamailio shared-memory allocator of both variants
    quick: bool


@dataclass
class BenchResults:
    plan: Plan
    command: str  # the command line of this run, for the report
    started: datetime
    machine: dict[str, str]
    deck: str
    deck_rows: int
    catalog: Catalog
    publication: Publication
    decision: DecisionTiming
    snapshot_loads: list[float]  # seconds, in-process, through SnapshotStore.refresh()
    memory: dict[str, float]  # callbench.snapshot_probe output
    call_work: CallWork
    startup_loads: list[float] = field(default_factory=list)  # per Kamailio worker, seconds
    worker_memory: dict[str, list[int]] = field(default_factory=dict)  # variant -> bytes
    rounds: list[LoadResult] = field(default_factory=list)
    steps: list[LoadResult] = field(default_factory=list)
    max_cps: dict[str, int | None] = field(default_factory=dict)
    cdr: CdrCheck = field(default_factory=CdrCheck)
    cdr_calls: int = 0  # calls SIPp placed through Akira (outgoing), for events per call
    load_average: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    finished: datetime | None = None

    def cpu_per_call(self, variant: str) -> list[float]:
        return [
            r.cpu_per_call_us
            for r in self.rounds
            if r.variant == variant and r.cpu_per_call_us is not None
        ]

    def mean_cpu_per_call(self, variant: str) -> float | None:
        values = self.cpu_per_call(variant)
        return statistics.fmean(values) if values else None

    def round_ratios(self) -> list[float]:
        """(b)/(a) within each round: both ran back to back, so shared load affects both."""
        native, akira = self.cpu_per_call("native"), self.cpu_per_call("akira")
        return [b / a for a, b in zip(native, akira, strict=False) if a]

    def mean_of(self, variant: str, attribute: str) -> float | None:
        """Mean over the rounds of a per-call figure: ``attribute`` seconds / successful calls."""
        values = [
            getattr(r, attribute) / r.sipp.successful * 1e6
            for r in self.rounds
            if r.variant == variant and r.sipp.successful
        ]
        return statistics.fmean(values) if values else None

    def first_failure(self, variant: str) -> LoadResult | None:
        return next((r for r in self.steps if r.variant == variant and not r.clean), None)

    def foreign_share(self) -> float:
        """Largest share of the machine's CPU other people's processes used during one run.

        Over the SIPp part of the run, like the per-run tables, so text and tables agree.
        """
        shares = [
            sum(cpu for _, cpu in r.foreign) / (r.uac_seconds * CORES)
            for r in [*self.rounds, *self.steps]
            if r.uac_seconds > 0
        ]
        return max(shares, default=0.0)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return b / a
