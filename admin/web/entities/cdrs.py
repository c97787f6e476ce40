"""CDRs: every attempt, searchable by time, customer, vendor, number, SIP code and Call-ID."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from admin.web.listing import COUNT_CAP, Choice, ChoiceFilter, Entity
from admin.web.table import Column, Kind


@dataclass(frozen=True, slots=True)
class Cdr:
    call_id: str
    attempt: int
    started_at: datetime
    originator_id: int | None
    customer: str | None
    terminator_id: int | None
    vendor: str | None
    caller: str
    called: str
    sip_code: int
    reason: str
    duration: str  # seconds, exact
    price: str  # the customer's, exact decimal text
    cost: str  # the vendor's
    currency: str


PERIOD_FILTER = ChoiceFilter(
    "period",
    "Started",
    (
        Choice("1h", "last hour", "1 hour"),
        Choice("24h", "last 24 hours", "24 hours"),
        Choice("7d", "last 7 days", "7 days"),
        Choice("30d", "last 30 days", "30 days"),
    ),
)
OUTCOME_FILTER = ChoiceFilter(
    "outcome",
    "Outcome",
    (Choice("answered", "answered", "answered"), Choice("failed", "failed", "failed")),
)

CDRS = Entity(
    slug="cdrs",
    label="CDRs",
    row=Cdr,
    list_query="web_cdrs_list",
    search_hint="a number's start, a Call-ID, a SIP code, a customer or vendor name",
    filters=(PERIOD_FILTER, OUTCOME_FILTER),
    key=("call_id", "attempt", "started_at"),
    count_cap=COUNT_CAP,
    columns=(
        Column("started_at", "Started", Kind.DATETIME),
        Column("customer", "Customer", link="/originators/{originator_id}"),
        Column("vendor", "Vendor"),
        Column("caller", "Caller"),
        Column("called", "Called"),
        Column("sip_code", "Code", Kind.NUMBER),
        Column("reason", "Reason"),
        Column("duration", "Duration (s)", Kind.NUMBER),
        Column("price", "Price", Kind.MONEY),
        Column("cost", "Cost", Kind.MONEY),
        Column("currency", "Currency"),
        Column("call_id", "Call-ID"),
    ),
)
