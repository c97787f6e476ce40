"""Vendor quality per destination: the table the engine judges vendors by (docs/engine.md,
"Quality routing"; decisions/0014).

``akira quality publish`` (admin.quality) sums the minute rollups of a recent window per
terminator x destination - the customer tariff's prefix the call matched, the one destination
key the rollups keep - and encodes them here, so the encoding is declared once. A node's
snapshot sync (kemi.snapshot_sync) fetches the file beside the snapshot, not in it: it changes
every minute without a catalog publish. Workers map it read-only (one copy per node in the page
cache, whatever the number of workers) and look up one entry per candidate vendor of a plan
whose strategy reads quality: a dict read and a binary search over the vendor's own sorted
prefixes, no I/O.

Only sums travel, never ratios, so the engine compares integers: ASR = answered / attempts,
ACD = talk / answered, PDD = post-dial delay / attempts. ``attempts`` are the attempts relayed
to the vendor that the caller did not cancel (the rollups' ``pdd_attempts``): a customer hanging
up while it rings says nothing about the vendor.
"""

from __future__ import annotations

import array
import bisect
from collections.abc import Iterable
from typing import NamedTuple

from kemi import arrays_file
from kemi.arrays_file import ArraysFile

QUALITY_FORMAT = 1
MAX_PREFIX_DIGITS = 18  # "1" + prefix must fit a signed 64-bit code
_ARRAYS = (("attempts", "I"), ("answered", "I"), ("talk_ms", "Q"), ("pdd_ms", "Q"))


class QualityError(Exception):
    """A quality file of another format."""


class Measured(NamedTuple):
    """One vendor's sums for one destination over the window."""

    attempts: int  # relayed and not cancelled by the caller
    answered: int
    talk_ms: int
    pdd_ms: int

    @property
    def asr_percent(self) -> float:  # for people only: the judge compares integers
        return 100 * self.answered / self.attempts if self.attempts else 0.0


class QualityRow(NamedTuple):
    terminator_id: int
    prefix: str  # the customer tariff's prefix the calls matched
    measured: Measured


def prefix_code(prefix: str) -> int | None:
    """A prefix as one sortable integer ("1" keeps its leading zeros and length); None for
    one the table cannot hold."""
    if not prefix.isascii() or not prefix.isdigit() or len(prefix) > MAX_PREFIX_DIGITS:
        return None
    return int("1" + prefix)


def encode(
    rows: Iterable[QualityRow], *, computed_at: float, window_seconds: int, expires_at: float
) -> list[bytes]:
    """The file's parts (kemi.arrays_file): per terminator, its prefixes sorted by code."""
    coded = sorted(
        (row.terminator_id, code, row.measured)
        for row in rows
        if (code := prefix_code(row.prefix)) is not None and row.measured.attempts > 0
    )
    ranges: dict[str, list[int]] = {}
    for index, (terminator_id, _, _) in enumerate(coded):
        ranges.setdefault(str(terminator_id), [index, index])[1] = index + 1
    arrays = [("prefix", "q", _pack("q", [code for _, code, _ in coded]))]
    arrays += [
        (name, code, _pack(code, [measured[field] for _, _, measured in coded]))
        for field, (name, code) in enumerate(_ARRAYS)
    ]
    meta = {
        "format": QUALITY_FORMAT,
        "computed_at": computed_at,
        "window_seconds": window_seconds,
        "expires_at": expires_at,
        "terminators": ranges,
    }
    return arrays_file.encode(arrays, meta)


def _pack(code: str, values: list[int]) -> bytes:
    return array.array(code, values).tobytes()


class QualityTable:
    """A published quality file, mapped; ``measured`` is the engine's per-candidate lookup."""

    __slots__ = ("_file", "_ranges", "answered", "attempts", "computed_at", "digest",
                 "expires_at", "pdd_ms", "prefix", "talk_ms", "window_seconds")  # fmt: skip

    def __init__(self, path: str, digest: str = "") -> None:
        self._file = ArraysFile(path)
        meta = self._file.meta
        if meta.get("format") != QUALITY_FORMAT:
            raise QualityError(f"{path}: quality format {meta.get('format')}, not {QUALITY_FORMAT}")
        self.digest = digest
        self.computed_at = float(meta["computed_at"])
        self.expires_at = float(meta["expires_at"])
        self.window_seconds = int(meta["window_seconds"])
        self._ranges = {int(t): (start, end) for t, (start, end) in meta["terminators"].items()}
        self.prefix = self._file["prefix"]
        self.attempts = self._file["attempts"]
        self.answered = self._file["answered"]
        self.talk_ms = self._file["talk_ms"]
        self.pdd_ms = self._file["pdd_ms"]

    def measured(self, terminator_id: int, prefix: str) -> Measured | None:
        span = self._ranges.get(terminator_id)
        if span is None:
            return None
        code = prefix_code(prefix)
        if code is None:
            return None
        start, end = span
        i = bisect.bisect_left(self.prefix, code, start, end)
        if i == end or self.prefix[i] != code:
            return None
        return Measured(self.attempts[i], self.answered[i], self.talk_ms[i], self.pdd_ms[i])

    def rows(self) -> list[QualityRow]:
        """Every entry (``akira quality show``, tests)."""
        found = []
        for terminator_id, (start, end) in sorted(self._ranges.items()):
            for i in range(start, end):
                measured = Measured(
                    self.attempts[i], self.answered[i], self.talk_ms[i], self.pdd_ms[i]
                )
                found.append(QualityRow(terminator_id, str(self.prefix[i])[1:], measured))
        return found


class Thresholds(NamedTuple):
    """A routing plan's quality thresholds (kemi.snapshot.RoutingPlan's quality_* fields)."""

    min_attempts: int  # fewer: not judged (a new or rarely used vendor gets its chance)
    min_asr: int | None  # 1/100 of a percent (basis points)
    min_acd: int | None  # seconds
    max_pdd_ms: int | None


def judge(thresholds: Thresholds, measured: Measured | None) -> str | None:
    """Why a vendor's quality is under the plan's thresholds, for the trace; None when it
    meets them or has too few attempts to be judged. Integer comparisons only."""
    if measured is None or measured.attempts < thresholds.min_attempts:
        return None
    attempts, answered = measured.attempts, measured.answered
    if thresholds.min_asr is not None and answered * 10_000 < thresholds.min_asr * attempts:
        return (
            f"asr {_fixed(answered * 10_000 // attempts, 2)}% < "
            f"{_fixed(thresholds.min_asr, 2)}% over {attempts} attempts"
        )
    if thresholds.min_acd is not None and (
        not answered or measured.talk_ms < thresholds.min_acd * 1000 * answered
    ):
        acd = measured.talk_ms // answered // 1000 if answered else 0
        return f"acd {acd}s < {thresholds.min_acd}s over {answered} answered"
    if thresholds.max_pdd_ms is not None and measured.pdd_ms > thresholds.max_pdd_ms * attempts:
        return (
            f"pdd {_fixed(measured.pdd_ms // attempts, 3)}s > "
            f"{_fixed(thresholds.max_pdd_ms, 3)}s over {attempts} attempts"
        )
    return None


def _fixed(value: int, decimals: int) -> str:
    """An integer of 10^-decimals units as text: 1234, 2 -> '12.34'."""
    whole, fraction = divmod(value, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}".rstrip("0").rstrip(".")
