"""Entity services: every write to the catalog goes through one (DESIGN §8, NetBox's views).

A service creates, updates or deletes one row of its entity in one transaction that also
writes one audit row (who, request id, before, after). The CLI, the pages and the API call the
same service, so no SQL or business rule lives in a handler or a command. A service is a
declaration — its form (a pydantic model), its named queries, the checks an update needs —
and the functions below run any of them.

Query contract, for an entity ``e`` (``sql/queries/<entities>.sql``): ``e_get`` (%(id)s → the
row as the audit log and the detail page show it), ``e_create`` (the form's fields → id),
``e_update`` (%(id)s and the form's fields), ``e_delete`` (%(id)s) and ``e_dependents``
(%(id)s → rows of label, count, blocks: what refers to it; those that block refuse the
deletion, the others go with the row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from admin.ledger import audit
from admin.queries import query


class Form(BaseModel):
    """The base of every service's form: unknown fields refused, text stripped, and no NUL
    character anywhere (PostgreSQL text cannot hold one)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("a NUL character is not allowed")
        return value


FormT = TypeVar("FormT", bound=BaseModel)
# a reference to another row in a form: a bigint, so no larger number reaches PostgreSQL
RowRef = Annotated[int, Field(ge=1, le=2**63 - 1)]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who writes: a user (or ``cli``/a token's owner) and the request it came with."""

    username: str
    request_id: str = ""


class ServiceError(Exception):
    """A refused write: a message for the operator, and each field at fault."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class NotFound(ServiceError):
    pass


class InUse(ServiceError):
    """A delete refused: other rows still refer to this one."""


@dataclass(frozen=True, slots=True)
class Dependent:
    label: str  # what refers to the row, plural: "originators"
    count: int
    blocks: bool = True  # False: deleted with the row (ON DELETE CASCADE), listed all the same


@dataclass(frozen=True, slots=True)
class Service(Generic[FormT]):
    entity: str  # singular, as the audit log names it and its queries start: "company"
    table: str  # its table, for the row lock of an update or delete
    form: type[FormT]
    # constraint name -> (field, message): what a unique or foreign-key refusal means
    constraint_fields: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    # an update the row's state forbids: (conn, before, form) -> {field: why}
    check_update: Callable[[psycopg.Connection, dict, FormT], dict[str, str]] | None = None
    # the queries' parameters from a form (creating or not), when they are not its fields
    # as they are (a password becomes its hash); raises ServiceError for a refused form
    to_params: Callable[[FormT, bool], dict[str, Any]] | None = None

    def params(self, form: FormT, creating: bool) -> dict[str, Any]:
        return self.to_params(form, creating) if self.to_params else form.model_dump()

    def q(self, action: str) -> str:
        return query(self.query_name(action))

    def query_name(self, action: str) -> str:
        if action not in QUERY_ACTIONS:
            raise ValueError(f"a service has no {action!r} query")
        return f"{self.entity}_{action}"


QUERY_ACTIONS = ("get", "create", "update", "delete", "dependents")  # the contract above


def parse_form(service: Service[FormT], data: Mapping[str, Any]) -> FormT:
    """The form from raw input (a posted form, a JSON body, a CSV row), or every field's error."""
    try:
        return service.form.model_validate(dict(data))
    except ValidationError as exc:
        fields: dict[str, str] = {}
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "form"
            fields.setdefault(name, error["msg"].removeprefix("Value error, "))
        listed = "; ".join(f"{name}: {message}" for name, message in fields.items())
        raise ServiceError(f"the form has errors: {listed}", fields) from None


def get(conn: psycopg.Connection, service: Service[Any], row_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cursor:
        row = cursor.execute(service.q("get"), {"id": row_id}).fetchone()
    if row is None:
        raise NotFound(f"no {service.entity} with id {row_id}")
    return row


def dependents(conn: psycopg.Connection, service: Service[Any], row_id: int) -> list[Dependent]:
    rows = conn.execute(service.q("dependents"), {"id": row_id}).fetchall()
    return [Dependent(*row) for row in rows if row[1]]


def create(conn: psycopg.Connection, service: Service[FormT], form: FormT, actor: Actor) -> int:
    with conn.transaction():
        with _constraints(service):
            row_id = conn.execute(service.q("create"), service.params(form, True)).fetchone()[0]
        after = get(conn, service, row_id)
        _audit(conn, actor, service, row_id, "create", None, after)
    return row_id


def update(
    conn: psycopg.Connection, service: Service[FormT], row_id: int, form: FormT, actor: Actor
) -> dict[str, Any]:
    with conn.transaction():
        before = _locked(conn, service, row_id)
        refused = service.check_update(conn, before, form) if service.check_update else {}
        if refused:
            listed = "; ".join(f"{name}: {message}" for name, message in refused.items())
            raise ServiceError(f"this change is refused: {listed}", refused)
        with _constraints(service):
            conn.execute(service.q("update"), {"id": row_id, **service.params(form, False)})
        after = get(conn, service, row_id)
        if after != before:
            _audit(conn, actor, service, row_id, "update", before, after)
    return after


def delete(conn: psycopg.Connection, service: Service[Any], row_id: int, actor: Actor) -> None:
    with conn.transaction():
        before = _locked(conn, service, row_id)
        blocking = [d for d in dependents(conn, service, row_id) if d.blocks]
        if blocking:
            listed = ", ".join(f"{d.count} {d.label}" for d in blocking)
            raise InUse(f"{service.entity} {row_id} is still used by {listed}")
        conn.execute(service.q("delete"), {"id": row_id})
        _audit(conn, actor, service, row_id, "delete", before, None)


IMPORT_LIMIT = 10_000  # rows per import: one transaction, one audit row each


def import_rows(
    conn: psycopg.Connection, service: Service[Any], rows: list[Mapping[str, Any]], actor: Actor
) -> list[int]:
    """Create every row or none: each is validated first, and any refusal — a form error or
    the database's — names its row (the header is row 1, as a spreadsheet counts) and column."""
    if len(rows) > IMPORT_LIMIT:
        raise ServiceError(f"{len(rows)} rows: at most {IMPORT_LIMIT} in one import")
    forms, problems = [], []
    for number, row in enumerate(rows, start=2):
        try:
            forms.append(parse_form(service, row))
        except ServiceError as refused:
            problems += [f"row {number}, {field}: {why}" for field, why in refused.fields.items()]
    if problems:
        raise ServiceError("nothing imported: " + "; ".join(problems[:50]), {"file": problems[0]})
    created = []
    with conn.transaction():
        for number, form in enumerate(forms, start=2):
            try:
                created.append(create(conn, service, form, actor))
            except ServiceError as refused:
                field, why = next(iter(refused.fields.items()), ("row", str(refused)))
                message = f"nothing imported: row {number}, {field}: {why}"
                raise ServiceError(message, {"file": message}) from None
    return created


def jsonable(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A row for the audit log's JSON: money exact (text), times ISO 8601."""
    if row is None:
        return None
    return {key: _plain(value) for key, value in row.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"  # positional: "0.00000000", never "0E-8"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _locked(conn: psycopg.Connection, service: Service[Any], row_id: int) -> dict[str, Any]:
    """The row as it is, locked until the transaction ends (no write in between)."""
    lock = sql.SQL("SELECT 1 FROM {} WHERE id = %(id)s FOR UPDATE")
    conn.execute(lock.format(sql.Identifier(service.table)), {"id": row_id})
    return get(conn, service, row_id)


def _audit(conn, actor: Actor, service, row_id, action: str, before, after) -> None:
    audit(
        conn,
        actor.username,
        service.entity,
        row_id,
        action,
        before=jsonable(before),
        after=jsonable(after),
        request_id=actor.request_id,
    )


class _constraints:
    """Turn the database's unique, foreign-key and check refusals into a field's error."""

    def __init__(self, service: Service[Any]) -> None:
        self.fields = service.constraint_fields

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, traceback) -> bool:
        if isinstance(
            exc, errors.UniqueViolation | errors.ForeignKeyViolation | errors.CheckViolation
        ):
            name = exc.diag.constraint_name or ""
            if name in self.fields:
                field, message = self.fields[name]
                raise ServiceError(message, {field: message}) from None
        return False
