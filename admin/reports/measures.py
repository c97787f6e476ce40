"""The measures of a report: each one SQL expression over the rollup's sums (``b.<column>``).

Ratios are computed from sums, never averaged from averages, and stay exact NUMERIC until
rounded once here for display; money is never rounded (the currency's precision is the CDR's).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    COUNT = "count"
    PERCENT = "percent"
    SECONDS = "seconds"
    MINUTES = "minutes"
    MONEY = "money"


@dataclass(frozen=True, slots=True)
class Measure:
    name: str
    label: str
    unit: Unit
    sql: str  # over the summed columns of the rollup, aliased ``t``
    description: str

    @property
    def numeric_text(self) -> bool:
        """Given as exact decimal text (a count is an integer)."""
        return self.unit is not Unit.COUNT


# The columns every rollup sums (sql/schema.sql, cdr_rollup_*): one per additive quantity.
SUMMED = (
    "attempts",
    "calls",
    "answered",
    "effective",
    "talk_seconds",
    "billed_seconds",
    "pdd_ms",
    "pdd_attempts",
    "revenue",
    "cost",
)

MEASURES: tuple[Measure, ...] = (
    Measure(
        "attempts", "Attempts", Unit.COUNT, "t.attempts", "call attempts (one per vendor tried)"
    ),
    Measure("calls", "Calls", Unit.COUNT, "t.calls", "calls (first attempts)"),
    Measure("answered", "Answered", Unit.COUNT, "t.answered", "answered attempts"),
    Measure(
        "asr",
        "ASR %",
        Unit.PERCENT,
        "round(100 * t.answered::numeric / nullif(t.attempts, 0), 2)",
        "answer-seizure ratio: answered / attempts",
    ),
    Measure(
        "acd",
        "ACD (s)",
        Unit.SECONDS,
        "round(t.talk_seconds / nullif(t.answered, 0), 1)",
        "average call duration of the answered attempts, seconds",
    ),
    Measure(
        "pdd",
        "PDD (s)",
        Unit.SECONDS,
        "round(t.pdd_ms / nullif(t.pdd_attempts, 0) / 1000, 3)",
        "post-dial delay of vendor attempts, to the answer or failure reply, seconds",
    ),
    Measure(
        "ner",
        "NER %",
        Unit.PERCENT,
        "round(100 * t.effective::numeric / nullif(t.attempts, 0), 2)",
        "network effectiveness: answered or refused by the called party / attempts",
    ),
    Measure("minutes", "Minutes", Unit.MINUTES, "round(t.talk_seconds / 60, 2)", "talk time"),
    Measure(
        "billed_minutes",
        "Billed min",
        Unit.MINUTES,
        "round(t.billed_seconds / 60.0, 2)",
        "minutes billed to customers (increments applied)",
    ),
    Measure("revenue", "Revenue", Unit.MONEY, "t.revenue", "customer prices"),
    Measure("cost", "Cost", Unit.MONEY, "t.cost", "vendor costs"),
    Measure("margin", "Margin", Unit.MONEY, "t.revenue - t.cost", "revenue - cost"),
)
BY_NAME = {measure.name: measure for measure in MEASURES}
NAMES = tuple(BY_NAME)
