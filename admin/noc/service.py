"""The orchestrator's HTTP API (``akira noc serve``): place a test call, list results, run the
due audits. Its own process, holding nothing between requests: results live in PostgreSQL,
the per-vendor bounds in Redis. Every request but /healthz carries the service's bearer token
(AKIRA_NOC_TOKEN): whoever may call it can make the switch place calls.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from litestar import Litestar, Request, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.handlers import BaseRouteHandler
from litestar.params import JSONBody, Parameter
from redis import Redis

from admin.noc import runs
from admin.noc.settings import NocSettings


@dataclass(frozen=True, slots=True)
class TestCallBody:
    terminator_id: int
    number: str
    hold_seconds: int = 3
    expect_code: int = 200
    requested_by: str = "noc"


def _authorized(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    settings: NocSettings = connection.app.state.noc
    given = connection.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {settings.token}".encode()):
        raise NotAuthorizedException("a bearer token (AKIRA_NOC_TOKEN) is required")


def _clients(app_state) -> tuple[psycopg.Connection, Redis]:
    conn = psycopg.connect(app_state.database_url)
    return conn, Redis.from_url(app_state.redis_url, socket_timeout=5)


def _place(app_state, body: TestCallBody) -> dict[str, Any]:
    conn, redis = _clients(app_state)
    with conn:
        try:
            request = runs.TestCallRequest(
                body.terminator_id, body.number, body.hold_seconds, body.expect_code,
                body.requested_by[:100] or "noc",
            )  # fmt: skip
            return runs.run_test_call(conn, redis, app_state.noc, request)
        finally:
            redis.close()


@get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


@post("/test-calls", guards=[_authorized], status_code=201)
async def place_test_call(request: Request, data: JSONBody[TestCallBody]) -> dict[str, Any]:
    try:
        return await asyncio.to_thread(_place, request.app.state, data)
    except runs.TestCallRefused as exc:
        if exc.busy:
            raise HTTPException(str(exc), status_code=429) from exc
        raise ValidationException(str(exc)) from exc


@get("/test-calls", guards=[_authorized])
async def list_test_calls(
    request: Request,
    terminator_id: int | None = None,
    outcome: str | None = None,
    limit: int = Parameter(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    def fetch() -> list[dict[str, Any]]:
        with psycopg.connect(request.app.state.database_url) as conn:
            return runs.test_calls(conn, terminator_id, outcome, limit)

    return await asyncio.to_thread(fetch)


@post("/audits/run", guards=[_authorized], status_code=200)
async def run_audits(request: Request) -> list[dict[str, Any]]:
    return await asyncio.to_thread(run_audits_once, request.app.state)


def run_audits_once(app_state) -> list[dict[str, Any]]:
    conn, redis = _clients(app_state)
    with conn:
        try:
            return runs.run_due_audits(conn, redis, app_state.noc)
        finally:
            redis.close()


def audit_loop(app_state, log, stop: threading.Event) -> None:
    """The audit job: due audits every AKIRA_NOC_AUDIT_INTERVAL seconds; an outage is waited
    out, never fatal."""
    while not stop.is_set():
        try:
            for result in run_audits_once(app_state):
                verdict = result.get("outcome", result.get("refused"))
                log(f"audit {result.get('audit_id')}: {result.get('number')} {verdict}")
        except (psycopg.Error, OSError) as exc:
            log(f"audits wait: {exc!r}")
        stop.wait(app_state.noc.audit_interval)


def create_app(
    database_url: str, redis_url: str, noc: NocSettings | None = None, audits: bool = False
) -> Litestar:
    noc = noc or NocSettings.from_env()
    if not noc.token:
        raise SystemExit("akira noc serve: set AKIRA_NOC_TOKEN (the API's bearer token)")
    stop = threading.Event()

    def start_audits(app: Litestar) -> None:
        if audits:
            threading.Thread(
                target=audit_loop, args=(app.state, print, stop), daemon=True, name="noc-audits"
            ).start()

    app = Litestar(
        route_handlers=[healthz, place_test_call, list_test_calls, run_audits],
        on_startup=[start_audits],
        on_shutdown=[lambda app: stop.set()],
        openapi_config=None,
    )
    app.state.noc = noc
    app.state.database_url = database_url
    app.state.redis_url = redis_url
    app.state.started = time.time()
    return app
