"""Test calls and audits: place one, record it, judge it; run the audits that are due.

A test call is judged against the code it should get (200 unless told otherwise): ``passed``
when the final reply is that code, ``failed`` when it is another, ``error`` when no final
reply came or SIPp could not run. A failed (or erroneous) audit call raises an alert of the
vendor's company in the notification outbox (``akira alerts`` delivers it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from redis import Redis

from admin.noc import limits, sipp_call
from admin.noc.settings import NocSettings
from admin.queries import query
from admin.services import jsonable

MAX_HOLD_SECONDS = 120


class TestCallRefused(Exception):
    """Not placed: unknown vendor, bad number, or the vendor's test-call bounds."""

    def __init__(self, message: str, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


@dataclass(frozen=True, slots=True)
class TestCallRequest:
    terminator_id: int
    number: str
    hold_seconds: int = 3
    expect_code: int = 200
    requested_by: str = "noc"
    audit_id: int | None = None


def _checked(request: TestCallRequest) -> None:
    if not (
        request.number.isascii() and request.number.isdigit() and 3 <= len(request.number) <= 32
    ):
        raise TestCallRefused("number: 3 to 32 digits, E.164 without +")
    if not 1 <= request.hold_seconds <= MAX_HOLD_SECONDS:
        raise TestCallRefused(f"hold_seconds: 1 to {MAX_HOLD_SECONDS}")
    if not 200 <= request.expect_code <= 699:
        raise TestCallRefused("expect_code: a final SIP code, 200 to 699")


def judge(expect_code: int, outcome: sipp_call.SippOutcome, problem: str) -> tuple[str, str]:
    """(outcome, detail) of a test call."""
    if outcome.sip_code is None:
        return "error", problem or "no final reply"
    if outcome.sip_code == expect_code:
        return "passed", ""
    return "failed", f"expected {expect_code}, got {outcome.sip_code}"


def run_test_call(
    conn: psycopg.Connection,
    redis: Redis,
    settings: NocSettings,
    request: TestCallRequest,
    place: Callable[..., tuple[sipp_call.SippOutcome, str]] = sipp_call.place,
) -> dict[str, Any]:
    """Place one test call within the vendor's bounds, record it, and return its row."""
    _checked(request)
    with conn.cursor(row_factory=dict_row) as cursor:
        terminator = cursor.execute(
            query("noc_terminator"), {"id": request.terminator_id}
        ).fetchone()
    conn.commit()
    if terminator is None:
        raise TestCallRefused(f"no terminator {request.terminator_id}")
    started_at = datetime.now(UTC)
    try:
        with limits.slot(
            redis, request.terminator_id, settings.max_concurrent, settings.max_per_minute
        ):
            outcome, problem = place(
                proxy=settings.proxy,
                sip_ip=settings.sip_ip,
                number=request.number,
                terminator_id=request.terminator_id,
                hold_seconds=request.hold_seconds,
            )
    except limits.VendorBusy as exc:
        raise TestCallRefused(str(exc), busy=True) from exc
    verdict, detail = judge(request.expect_code, outcome, problem)
    row = {
        "terminator_id": request.terminator_id,
        "audit_id": request.audit_id,
        "number": request.number,
        "requested_by": request.requested_by,
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "outcome": verdict,
        "expect_code": request.expect_code,
        "sip_code": outcome.sip_code,
        "reply_codes": outcome.reply_codes,
        "pdd_ms": outcome.pdd_ms,
        "duration_ms": outcome.duration_ms,
        "call_id": outcome.call_id,
        "detail": detail,
    }
    with conn.transaction():
        (row["id"],) = conn.execute(query("noc_insert_test_call"), row).fetchone()
        if request.audit_id is not None and verdict != "passed":
            alert = {"audit_id": request.audit_id, "test_call_id": row["id"]} | jsonable(
                {
                    k: row[k]
                    for k in (
                        "terminator_id",
                        "number",
                        "expect_code",
                        "sip_code",
                        "outcome",
                        "detail",
                    )
                }
            )
            alert["terminator"] = terminator["name"]
            conn.execute(
                query("noc_insert_alert"),
                {"company_id": terminator["company_id"], "detail": json.dumps(alert)},
            )
    return jsonable(row) | {"terminator": terminator["name"]}


def test_calls(
    conn: psycopg.Connection,
    terminator_id: int | None = None,
    outcome: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(
            query("noc_test_calls"),
            {"terminator_id": terminator_id, "outcome": outcome, "limit": limit},
        ).fetchall()
    return [jsonable(row) for row in rows]


@dataclass(frozen=True, slots=True)
class AuditForm:
    terminator_id: int
    numbers: list[str]
    every_minutes: int = 60
    expect_code: int = 200
    hold_seconds: int = 3
    top_destinations: int | None = None  # also the vendor's N busiest destinations of the day


def create_audit(
    conn: psycopg.Connection, form: AuditForm, username: str, request_id: str = ""
) -> int:
    """A scheduled audit, first due now; one audit row (the audit log's, who made it)."""
    from admin.ledger import audit

    for number in form.numbers:
        _checked(TestCallRequest(form.terminator_id, number, form.hold_seconds, form.expect_code))
    if not form.numbers and form.top_destinations is None:
        raise TestCallRefused("numbers: give some, or top_destinations")
    params = asdict(form) | {"created_by": username}
    try:
        with conn.transaction():
            (audit_id,) = conn.execute(query("noc_insert_audit"), params).fetchone()
            audit(
                conn,
                username,
                "noc_audit",
                audit_id,
                "create",
                after=asdict(form),
                request_id=request_id,
            )
    except psycopg.errors.ForeignKeyViolation as exc:
        raise TestCallRefused(f"no terminator {form.terminator_id}") from exc
    except psycopg.errors.CheckViolation as exc:
        raise TestCallRefused(f"audit refused: {exc.diag.constraint_name}") from exc
    return audit_id


def audits(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return [jsonable(row) for row in cursor.execute(query("noc_audits")).fetchall()]


def run_due_audits(
    conn: psycopg.Connection,
    redis: Redis,
    settings: NocSettings,
    place: Callable[..., tuple[sipp_call.SippOutcome, str]] = sipp_call.place,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Claim the audits due now (their next run moves on at once) and call each number."""
    with conn.transaction():
        due = conn.execute(query("noc_claim_due_audits"), {"limit": limit}).fetchall()
    results = []
    for audit_id, terminator_id, numbers, top, expect_code, hold_seconds in due:
        if top:
            numbers = [*numbers, *top_destinations(conn, terminator_id, top)]
            if not numbers:
                results.append({"audit_id": audit_id, "refused": "no traffic in the last day"})
        for number in dict.fromkeys(numbers):
            request = TestCallRequest(
                terminator_id, number, hold_seconds, expect_code, "audit", audit_id
            )
            try:
                results.append(run_test_call(conn, redis, settings, request, place))
            except TestCallRefused as exc:
                results.append({"audit_id": audit_id, "number": number, "refused": str(exc)})
    return results


def top_destinations(conn: psycopg.Connection, terminator_id: int, limit: int) -> list[str]:
    """The number last called at each of the vendor's ``limit`` busiest prefixes today."""
    rows = conn.execute(
        query("noc_top_destinations"), {"terminator_id": terminator_id, "limit": limit}
    ).fetchall()
    conn.commit()
    return [number for _, number in rows]


def set_trunk(
    conn: psycopg.Connection, originator: str, noc: bool, username: str
) -> dict[str, Any]:
    """Make an originator the NOC's test trunk (or no longer); audited. Publish to apply."""
    from admin.ledger import audit

    with conn.transaction():
        found = conn.execute(
            query("noc_set_trunk"),
            {
                "noc": noc,
                "id": int(originator) if originator.isdigit() else None,
                "name": originator,
            },
        ).fetchone()
        if found is None:
            raise TestCallRefused(f"no originator {originator!r}")
        audit(
            conn,
            username,
            "originator",
            found[0],
            "update",
            before={"noc": not noc},
            after={"noc": noc},
        )
    return {"id": found[0], "name": found[1], "noc": found[2]}
