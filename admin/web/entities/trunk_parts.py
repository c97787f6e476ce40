"""What the originator and terminator pages share: the routing settings they show and the
trunk's latest calls."""

from __future__ import annotations

from admin.web.crud import Child
from admin.web.table import Column, Kind

ROUTING_SETTINGS = (  # changed with `akira originator|terminator set` (docs/engine.md)
    Column("cps_limit", "CPS limit", Kind.NUMBER),
    Column("concurrent_limit", "Concurrent calls limit", Kind.NUMBER),
    Column("number_rules", "Number rules"),
)

RECENT_CDRS = Child(
    "Recent calls (7 days)",
    "web_trunk_recent_cdrs",
    (
        Column("started_at", "Started", Kind.DATETIME),
        Column("called", "Called"),
        Column("sip_code", "Code", Kind.NUMBER),
        Column("duration", "Duration (s)", Kind.NUMBER),
        Column("price", "Price", Kind.MONEY),
        Column("cost", "Cost", Kind.MONEY),
    ),
)
