"""Routing settings of trunks and plans: what an operator may change, checked before it is
written, the same for the CLI (``akira originator|terminator|plan set``), the tests and, later,
the admin's forms.

Each entity declares its settable columns once (``SETTINGS``) with a parser from text (CLI) or
a value; rules are checked with the engine's own parser, so nothing the engine would refuse at
publish ever reaches the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from admin.queries import query
from kemi.lcr import STRATEGIES
from kemi.number_rules import RuleError, parse_rules

if TYPE_CHECKING:  # imported where used: `akira --help` and `akira simulate` start fast
    import psycopg


class SettingError(ValueError):
    """A setting the engine would not understand; the message names it and says why."""


def _optional_int(low: int, high: int) -> Callable[[Any], int | None]:
    def parse(value: Any) -> int | None:
        if value in (None, "", "none"):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError) as exc:
            raise SettingError(f"{value!r} is not a whole number") from exc
        if not low <= number <= high:
            raise SettingError(f"{number} is not between {low} and {high}")
        return number

    return parse


def _int(low: int, high: int) -> Callable[[Any], int]:
    optional = _optional_int(low, high)

    def parse(value: Any) -> int:
        number = optional(value)
        if number is None:
            raise SettingError("a number is required")
        return number

    return parse


def _rules(value: Any) -> str:
    document = json.loads(value) if isinstance(value, str) else value
    try:
        parse_rules(document, "rules")
    except RuleError as exc:
        raise SettingError(str(exc)) from exc
    return json.dumps(document)


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise SettingError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _decimal(value: Any) -> Decimal | None:
    if value in (None, "", "none"):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise SettingError(f"{value!r} is not a decimal number") from exc


def _optional_decimal(low: Decimal, high: Decimal, places: int) -> Callable[[Any], Decimal | None]:
    """A decimal in [low, high] with at most ``places`` decimals, or None (unset)."""

    def parse(value: Any) -> Decimal | None:
        number = _decimal(value)
        if number is None:
            return None
        if not number.is_finite() or not low <= number <= high:
            raise SettingError(f"{value} is not between {low} and {high}")
        if number != number.quantize(Decimal(1).scaleb(-places)):
            raise SettingError(f"{value} has more than {places} decimals")
        return number

    return parse


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _digits(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not (str(value).isdigit() and str(value).isascii()):
        raise SettingError(f"{value!r} is not digits only")
    return str(value)


def _codes(value: Any) -> list[int]:
    codes = [int(c) for c in value.split(",")] if isinstance(value, str) else list(value)
    if not all(400 <= c <= 699 for c in codes):
        raise SettingError("hunt-stop codes are final replies from 400 to 699")
    return codes


SETTINGS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "originators": {
        "tech_prefix": lambda v: v or "",
        "match_header": _text,
        "match_value": _text,
        "number_rules": _rules,
        "min_digits": _optional_int(1, 32),
        "max_digits": _optional_int(1, 32),
        "cli_rules": _rules,
        "cli_policy": _choice("pass", "reject", "replace"),
        "cli_replacement": _digits,
        "cps_limit": _optional_int(1, 1_000_000),
        "concurrent_limit": _optional_int(1, 10_000_000),
        "max_call_duration": _int(1, 86_400),
        "enabled": lambda v: v in (True, "1", "true", "yes", "on"),
    },
    "terminators": {
        "tech_prefix": lambda v: v or "",
        "number_rules": _rules,
        "cps_limit": _optional_int(1, 1_000_000),
        "concurrent_limit": _optional_int(1, 10_000_000),
        "enabled": lambda v: v in (True, "1", "true", "yes", "on"),
    },
    "routing_plans": {
        "strategy": _choice(*sorted(STRATEGIES)),
        "hunt_stop_codes": _codes,
        "allow_loss": lambda v: v in (True, "1", "true", "yes", "on"),
        "min_margin": lambda v: _decimal(v) or Decimal(0),
        "min_margin_percent": _decimal,
        "max_attempts": _int(1, 100),
        "ring_timeout": _int(1, 60),
        "answer_timeout": _int(1, 300),
        # quality_then_cost's thresholds (docs/engine.md, Quality routing)
        "quality_min_attempts": _int(1, 1_000_000),
        "quality_min_asr": _optional_decimal(Decimal(0), Decimal(100), 2),  # percent
        "quality_min_acd": _optional_int(0, 86_400),  # seconds
        "quality_max_pdd": _optional_decimal(Decimal("0.001"), Decimal("999.999"), 3),  # seconds
        "quality_drop": lambda v: v in (True, "1", "true", "yes", "on"),
    },
}


def update(
    conn: psycopg.Connection,
    table: str,
    row_id: int,
    changes: Mapping[str, Any],
    *,
    by: str = "cli",
    request_id: str = "cli",
) -> dict[str, Any]:
    """Check every change, then write them in one statement with one audit row (the settings
    before and after); the values written. Run it inside the caller's transaction."""
    from psycopg import sql

    from admin.ledger import audit
    from admin.services import jsonable

    allowed = SETTINGS[table]
    values = {}
    for name, value in changes.items():
        if name not in allowed:
            raise SettingError(f"{name} is not a setting of {table} ({', '.join(allowed)})")
        try:
            values[name] = allowed[name](value)
        except SettingError as exc:
            raise SettingError(f"{name}: {exc}") from exc
    if values:
        statement = sql.SQL("UPDATE {} SET {} WHERE id = {}").format(
            sql.Identifier(table),
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(n), sql.Placeholder(n)) for n in values
            ),
            sql.Placeholder("row_id"),
        )
        before = _settings_of(conn, table, row_id, values)
        conn.execute(statement, values | {"row_id": row_id})
        after = _settings_of(conn, table, row_id, values)
        if after != before:
            entity = {"routing_plans": "routing_plan"}.get(table, table.removesuffix("s"))
            audit(conn, by, entity, row_id, "update", before=jsonable(before),
                  after=jsonable(after), request_id=request_id)  # fmt: skip
    return values


def _settings_of(conn, table: str, row_id: int, names: Mapping[str, Any]) -> dict[str, Any]:
    from psycopg import sql
    from psycopg.rows import dict_row

    statement = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in names), sql.Identifier(table)
    )
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(statement, (row_id,)).fetchone() or {}


def digest_ha1(username: str, realm: str, password: str) -> str:
    """What the engine checks a device's digest response against (RFC 2617); the password
    itself is never stored."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def add_credentials(
    conn: psycopg.Connection,
    originator_id: int,
    username: str,
    ha1: str,
    network: str,
    *,
    by: str = "cli",
) -> None:
    conn.execute(
        query("insert_credentials"),
        {"originator_id": originator_id, "network": network, "username": username, "ha1": ha1},
    )
    audited = {"username": username, "network": network}  # never the HA1
    _audit(conn, by, "originator", originator_id, "credentials", audited)


def set_override(
    conn: psycopg.Connection,
    plan_id: int,
    prefix: str,
    terminator_ids: list[int] | None,
    *,
    by: str = "cli",
) -> None:
    """This prefix of the plan always goes to these terminators in this order (None: no
    longer)."""
    if terminator_ids:
        parameters = {"plan_id": plan_id, "prefix": prefix, "terminator_ids": terminator_ids}
        conn.execute(query("set_override"), parameters)
    else:
        conn.execute(query("remove_override"), {"plan_id": plan_id, "prefix": prefix})
    audited = {"prefix": prefix, "terminator_ids": terminator_ids or None}
    _audit(conn, by, "routing_plan", plan_id, "override", audited)


def block_prefix(
    conn: psycopg.Connection,
    prefix: str,
    plan_id: int | None = None,
    reason: str = "",
    *,
    blocked: bool = True,
    by: str = "cli",
) -> None:
    """No call of the plan (None: of any plan) may reach numbers under ``prefix``."""
    parameters = {"plan_id": plan_id, "prefix": prefix, "reason": reason}
    conn.execute(query("block_prefix" if blocked else "unblock_prefix"), parameters)
    target = f"{'every plan' if plan_id is None else plan_id}:{prefix}"
    _audit(conn, by, "blocked_prefix", target, "block" if blocked else "unblock", parameters)


def _audit(conn, by: str, entity: str, entity_id: object, action: str, after: dict) -> None:
    """The audit row of a routing write the CLI makes (the services write their own)."""
    from admin.ledger import audit

    audit(conn, by, entity, entity_id, action, after=after, request_id="cli")


def id_by_name(conn: psycopg.Connection, table: str, name: str) -> int:
    if table not in SETTINGS:
        raise SettingError(f"no such kind of record: {table}")
    from psycopg import sql

    statement = sql.SQL(query("id_by_name")).format(table=sql.Identifier(table))
    row = conn.execute(statement, {"name": name}).fetchone()
    if row is None:
        raise SettingError(f"no {table[:-1].replace('_', ' ')} named {name!r}")
    return row[0]
