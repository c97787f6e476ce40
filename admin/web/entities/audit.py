"""The audit log: every write, by whom, with which request, and the fields it changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from admin.web.listing import COUNT_CAP, Choice, ChoiceFilter, Entity
from admin.web.table import Column, Kind


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    username: str
    request_id: str
    entity: str
    entity_id: str
    action: str
    changed: list[str]


# the services' writes; the ledger's (an entry's kind; an account's billing terms); the routing
# commands', access's, live calls', rate decks' and notices' own
ACTIONS = (
    "create", "update", "delete",
    "topup", "adjustment", "invoice", "refund", "billing",
    "override", "block", "unblock", "credentials",
    "logout", "disable", "revoke",
    "drop", "import_rates", "set_notice_period",
)  # fmt: skip

AUDIT_LOG = Entity(
    slug="audit",
    label="Audit log",
    row=AuditRow,
    list_query="web_audit_list",
    count_cap=COUNT_CAP,
    search_hint="a user, an entity (company), an object (company 7) or a request id",
    filters=(ChoiceFilter("action", "Action", tuple(Choice(a, a, a) for a in ACTIONS)),),
    columns=(
        Column("at", "When", Kind.DATETIME),
        Column("username", "Who"),
        Column("action", "What"),
        Column("entity", "Entity"),
        Column("entity_id", "Id"),
        Column("changed", "Fields", Kind.LIST),
        Column("request_id", "Request"),
    ),
)
