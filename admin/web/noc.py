"""The NOC page and API: test calls and audits, results and their PDD.

Reading needs nothing beyond login; placing a test call or scheduling an audit needs
``noc.test_call`` (NOC and admins). A test call goes to the orchestrator (``akira noc serve``,
AKIRA_NOC_URL, its bearer token AKIRA_NOC_TOKEN): the one process that places calls, within
each vendor's test-call bounds. Audits are rows the orchestrator's job runs; creating one is
one audit-log row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import psycopg
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, JSONBody, QueryParameter
from litestar.response import Redirect, Template

from admin.noc import runs
from admin.noc.settings import NocSettings
from admin.queries import query
from admin.web.crud import actor
from admin.web.permissions import NOC_TEST_CALL, needs

RECENT = 50
FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
TerminatorId = Annotated[
    int | None, QueryParameter(ge=1, le=2**63 - 1, description="one vendor trunk's results")
]
Outcome = Annotated[
    str | None,
    QueryParameter(pattern="^(passed|failed|error)$", description="passed, failed or error"),
]
Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="rows, newest first")]
ORCHESTRATOR_ANSWERS = {
    429: ResponseSpec(
        data_container=dict[str, Any],
        description="The vendor has its share of test calls (at once, or this minute)",
        generate_examples=False,
    ),
    502: ResponseSpec(
        data_container=dict[str, Any],
        description="The orchestrator (akira noc serve) did not answer",
        generate_examples=False,
    ),
}


@dataclass(frozen=True, slots=True)
class TestCallForm:
    terminator_id: int
    number: str  # E.164 digits
    hold_seconds: int = 3
    expect_code: int = 200


@dataclass(frozen=True, slots=True)
class AuditForm:
    terminator_id: int
    numbers: list[str] = field(default_factory=list)
    every_minutes: int = 60
    expect_code: int = 200
    hold_seconds: int = 3
    top_destinations: int | None = None  # also the vendor's N busiest destinations of the day


def _place(form: TestCallForm, username: str) -> dict[str, Any]:
    """The orchestrator's answer; its refusals as the API's own."""
    noc = NocSettings.from_env()
    body = {
        "terminator_id": form.terminator_id, "number": form.number,
        "hold_seconds": form.hold_seconds, "expect_code": form.expect_code,
        "requested_by": username,
    }  # fmt: skip
    try:
        response = httpx.post(
            f"{noc.url}/test-calls",
            json=body,
            headers={"Authorization": f"Bearer {noc.token}"},
            timeout=runs.MAX_HOLD_SECONDS + 100,
        )
    except httpx.HTTPError as exc:
        raise HTTPException(
            f"the NOC orchestrator at {noc.url} did not answer: {exc}", status_code=502
        ) from exc
    if response.status_code == 201:
        return response.json()
    detail = response.json().get("detail", response.text) if response.content else ""
    if response.status_code in (400, 429):
        raise HTTPException(detail, status_code=response.status_code)
    raise HTTPException(
        f"the NOC orchestrator answered {response.status_code}: {detail}", status_code=502
    )


def _read(database_url: str, terminator_id: int | None, outcome: str | None, limit: int):
    with psycopg.connect(database_url) as conn:
        return {
            "test_calls": runs.test_calls(conn, terminator_id, outcome, limit),
            "audits": runs.audits(conn),
            "terminators": conn.execute(query("terminator_choices")).fetchall(),
            "summary": conn.execute(query("noc_vendor_summary")).fetchall(),
        }


def _create_audit(database_url: str, form: AuditForm, username: str, request_id: str) -> int:
    with psycopg.connect(database_url) as conn:
        return runs.create_audit(
            conn,
            runs.AuditForm(
                form.terminator_id,
                form.numbers,
                form.every_minutes,
                form.expect_code,
                form.hold_seconds,
                form.top_destinations,
            ),
            username,
            request_id,
        )


async def _audit(request: Request, form: AuditForm) -> int:
    who = actor(request)
    try:
        return await asyncio.to_thread(
            _create_audit,
            request.app.state.settings.database_url,
            form,
            who.username,
            who.request_id,
        )
    except runs.TestCallRefused as exc:
        raise ValidationException(str(exc)) from exc


def pdd_bars(test_calls: list[dict[str, Any]], width: int = 600) -> list[dict[str, Any]]:
    """The page's chart: one bar per test call (oldest left), its PDD to scale."""
    rows = [r for r in reversed(test_calls) if r["pdd_ms"] is not None]
    top = max((r["pdd_ms"] for r in rows), default=0) or 1
    step = width / max(len(rows), 1)
    return [
        {
            "x": round(i * step, 1), "width": max(round(step - 2, 1), 1),
            "height": round(100 * r["pdd_ms"] / top, 1), "outcome": r["outcome"],
            "title": f"{r['terminator']} {r['number']}: {r['sip_code']}, PDD {r['pdd_ms']} ms",
        }
        for i, r in enumerate(rows)
    ]  # fmt: skip


def _int(data: dict[str, str], name: str, default: int | None = None) -> int:
    value = data.get(name, "").strip()
    if not value and default is not None:
        return default
    if not value.isdigit() or len(value) > 18:
        raise ValidationException(f"{name}: a whole number", extra={name: "a whole number"})
    return int(value)


@get("/noc", name="noc", include_in_schema=False)
async def noc_page(
    request: Request, terminator_id: TerminatorId = None, outcome: Outcome = None
) -> Template:
    found = await asyncio.to_thread(
        _read, request.app.state.settings.database_url, terminator_id, outcome, RECENT
    )
    context = found | {
        "chosen": {"terminator_id": terminator_id, "outcome": outcome},
        "bars": pdd_bars(found["test_calls"]),
        "error": request.query_params.get("error"),
    }
    return Template("noc.html", context=context)


@post("/noc/test-calls", include_in_schema=False, opt=needs(NOC_TEST_CALL))
async def test_call_page(request: Request, data: FormData) -> Redirect:
    form = TestCallForm(
        _int(data, "terminator_id"), data.get("number", "").strip(),
        _int(data, "hold_seconds", 3), _int(data, "expect_code", 200),
    )  # fmt: skip
    try:
        result = await asyncio.to_thread(_place, form, actor(request).username)
    except HTTPException as exc:
        return Redirect(path="/noc", query_params={"error": exc.detail}, status_code=303)
    return Redirect(
        path="/noc", query_params={"terminator_id": result["terminator_id"]}, status_code=303
    )


@post("/noc/audits", include_in_schema=False, opt=needs(NOC_TEST_CALL))
async def audit_page(request: Request, data: FormData) -> Redirect:
    numbers = [n for n in data.get("numbers", "").replace(",", " ").split() if n]
    top = _int(data, "top_destinations", 0) or None
    form = AuditForm(
        _int(data, "terminator_id"), numbers, _int(data, "every_minutes", 60),
        _int(data, "expect_code", 200), _int(data, "hold_seconds", 3), top,
    )  # fmt: skip
    try:
        await _audit(request, form)
    except ValidationException as exc:
        return Redirect(path="/noc", query_params={"error": exc.detail}, status_code=303)
    return Redirect(path="/noc", status_code=303)


@get(
    "/noc/test-calls",
    operation_id="list_noc_test_calls",
    summary="NOC test calls, newest first: reply codes, PDD, duration, verdict",
    tags=["NOC"],
)
async def test_calls_api(
    request: Request,
    terminator_id: TerminatorId = None,
    outcome: Outcome = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    found = await asyncio.to_thread(
        _read, request.app.state.settings.database_url, terminator_id, outcome, limit
    )
    return found["test_calls"]


@post(
    "/noc/test-calls",
    operation_id="place_noc_test_call",
    summary="Place a test call through this vendor now (the orchestrator), and its result",
    tags=["NOC"],
    opt=needs(NOC_TEST_CALL),
    responses=ORCHESTRATOR_ANSWERS,
)
async def place_api(request: Request, data: JSONBody[TestCallForm]) -> dict[str, Any]:
    return await asyncio.to_thread(_place, data, actor(request).username)


@get(
    "/noc/audits",
    operation_id="list_noc_audits",
    summary="Scheduled NOC audits and their last outcome",
    tags=["NOC"],
)
async def audits_api(request: Request) -> list[dict[str, Any]]:
    found = await asyncio.to_thread(_read, request.app.state.settings.database_url, None, None, 1)
    return found["audits"]


@post(
    "/noc/audits",
    operation_id="create_noc_audit",
    summary="Schedule an audit: test calls to these numbers via this vendor every N minutes",
    tags=["NOC"],
    opt=needs(NOC_TEST_CALL),
)
async def create_audit_api(request: Request, data: JSONBody[AuditForm]) -> dict[str, int]:
    return {"id": await _audit(request, data)}


PAGES = (noc_page, test_call_page, audit_page)
API = (test_calls_api, place_api, audits_api, create_audit_api)
