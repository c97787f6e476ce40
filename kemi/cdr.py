"""The CDR, declared once (DESIGN §5): one row per call attempt.

Every field of the ``cdrs`` table is listed here with its SQL type and where its value comes
from: the engine's event (``EVENT``) or the rater (``RATED``). From this one list derive the
event the engine writes (``event_line``), the rater's validating model and its COPY / merge
column lists (admin.cdr_rating), and a test holds it against the live schema
(tests/integration/test_cdr_schema.py). Columns the database fills itself (id, ingested_at)
are not CDR fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from kemi.contract import CDR_EVENT_FORMAT

EVENT, RATED = "event", "rated"


@dataclass(frozen=True, slots=True)
class CdrField:
    name: str  # the event's key; for times, "<x>_ms" in the event is column "<x>_at"
    kind: str  # text | int | money | epoch_ms | seconds
    sql: str  # the column's type as PostgreSQL's format_type() names it
    source: str = EVENT
    nullable: bool = False
    checks: dict[str, Any] = field(default_factory=dict)  # constraints the rater enforces
    # added after engines were deployed: their events omit it (None), still in CDR format 1
    absent_ok: bool = False

    @property
    def column(self) -> str:
        return self.name[:-3] + "_at" if self.kind == "epoch_ms" else self.name


_PREFIX = {"pattern": r"^[0-9]{1,20}$"}
_INCREMENT = {"gt": 0}


def _terms(side: str, source: str = EVENT) -> tuple[CdrField, ...]:
    """The rating terms of one side (customer or vendor): what the engine routed on."""
    return (
        CdrField(f"{side}_tariff_id", "int", "bigint", source, nullable=True),
        CdrField(f"{side}_prefix", "text", "text", source, nullable=True, checks=_PREFIX),
        CdrField(f"{side}_rate", "money", "numeric(18,8)", source, nullable=True),
        CdrField(f"{side}_initial_increment", "int", "integer", source, True, _INCREMENT),
        CdrField(f"{side}_next_increment", "int", "integer", source, True, _INCREMENT),
        CdrField(f"{side}_connect_fee", "money", "numeric(18,8)", source, nullable=True),
        CdrField(f"{side}_minimum_duration", "int", "integer", source, True, {"ge": 0}),
    )


TERMS = (
    "tariff_id",
    "prefix",
    "rate",
    "initial_increment",
    "next_increment",
    "connect_fee",
    "minimum_duration",
)

FIELDS: tuple[CdrField, ...] = (
    CdrField("call_id", "text", "text", checks={"min_length": 1}),
    CdrField("attempt", "int", "smallint", checks={"ge": 0}),  # 0: rejected before any relay
    CdrField("node", "text", "text"),
    CdrField("snapshot_version", "int", "bigint"),
    CdrField("originator_id", "int", "bigint"),
    CdrField("terminator_id", "int", "bigint", nullable=True),
    CdrField("gateway", "text", "text", nullable=True),
    CdrField("src_ip", "text", "inet"),
    CdrField("caller", "text", "text"),
    CdrField("called", "text", "text"),
    CdrField("dialed", "text", "text"),
    CdrField("sip_code", "int", "smallint", checks={"ge": 100, "le": 699}),
    CdrField("reason", "text", "text", checks={"min_length": 1}),
    CdrField("call_started_ms", "epoch_ms", "timestamp with time zone"),
    CdrField("started_ms", "epoch_ms", "timestamp with time zone"),
    CdrField("answered_ms", "epoch_ms", "timestamp with time zone", nullable=True),
    # the attempt's first 18x (the end of its post-dial delay), None if it never rang
    CdrField("ringing_ms", "epoch_ms", "timestamp with time zone", nullable=True, absent_ok=True),
    CdrField("ended_ms", "epoch_ms", "timestamp with time zone"),
    CdrField("duration", "seconds", "numeric(12,3)", RATED),
    CdrField("currency", "text", "character(3)", checks={"pattern": r"^[A-Z]{3}$"}),
    *_terms("customer"),
    CdrField("customer_billed_seconds", "int", "integer", RATED),
    CdrField("customer_price", "money", "numeric(20,8)", RATED),
    *_terms("vendor"),
    CdrField("vendor_billed_seconds", "int", "integer", RATED),
    CdrField("vendor_cost", "money", "numeric(20,8)", RATED),
    CdrField("trace", "text", "text"),  # how the engine decided the call (docs/engine.md)
)

EVENT_FIELDS = tuple(f for f in FIELDS if f.source == EVENT)
EVENT_NAMES = ("format", *(f.name for f in EVENT_FIELDS))
COLUMNS = tuple(f.column for f in FIELDS)


# The event as the engine writes it: a JSON object, its keys in EVENT_NAMES order (encoding
# only: the rater's strict decoding model is admin.cdr_rating's, from the same FIELDS).
_Event = msgspec.defstruct("CdrEventLine", [(name, Any) for name in EVENT_NAMES])
_encode_event = msgspec.json.Encoder().encode


def event_line(values: tuple[Any, ...]) -> str:
    """One CDR event as the JSON line the bus carries; ``values`` in EVENT_FIELDS order."""
    if len(values) != len(EVENT_FIELDS):
        raise ValueError(f"a CDR event has {len(EVENT_FIELDS)} values, not {len(values)}")
    return _encode_event(_Event(CDR_EVENT_FORMAT, *values)).decode()
