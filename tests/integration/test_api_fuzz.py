"""Schemathesis over the admin's OpenAPI schema, against the real app on a real socket
(uvicorn, its own PostgreSQL database, the test Redis), authenticated by an admin's API
token: generated requests — valid and not — never get a 5xx, and every status code answered
is one the schema declares for that operation."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, status_code_conformance

from admin import demo
from admin.web import tokens
from admin.web.app import create_app
from tests.integration.web_conftest import create_user, web_settings

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served(database_url: str, redis_client) -> Iterator[tuple[str, str]]:
    """The app on 127.0.0.1:<free port> with the demo catalog; (base URL, an admin token)."""
    with psycopg.connect(database_url) as conn:
        assert demo.load(conn)
        conn.commit()
        create_user(conn, "ada", role="admin")
        token, _ = tokens.create(conn, "ada", "fuzz", role=None, days=1, by="test")
    port = free_port()
    config = uvicorn.Config(
        create_app(web_settings(database_url)), host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield base, token
    server.should_exit = True
    thread.join(timeout=10)


def test_no_5xx_and_no_undocumented_status(served):
    """Every operation of the schema, 25 generated cases each (hypothesis); all failures of
    all operations are reported together."""
    base, token = served
    api = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    failures, tried = [], 0
    for loaded in api.get_all_operations():
        operation = loaded.ok()
        tried += 1

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case) -> None:
            case.call_and_validate(
                base_url=base,
                headers={"Authorization": f"Bearer {token}"},
                checks=[not_a_server_error, status_code_conformance],
            )

        try:
            call()
        except BaseExceptionGroup as exc:  # schemathesis: one group of failures per operation
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert tried >= 20, tried
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/api/v1/companies?q=a%00b", None, 400),
        ("GET", "/api/v1/cdrs?page=99999999999999999999", None, 400),
        ("GET", "/api/v1/companies/99999999999999999999", None, 400),
        ("POST", "/api/v1/companies", {"name": "a\u0000b", "currency": "USD"}, 400),
        (
            "POST",
            "/api/v1/accounts/1/entries",
            {"kind": "topup", "amount": "1", "note": "\u0000"},
            400,
        ),
        ("POST", "/api/v1/originators", {"name": "x", "company_id": 2**70, "tariff_id": 1}, 400),
    ],
)
def test_hostile_input_is_a_400_naming_what_is_wrong(served, method, path, body, expected):
    base, token = served
    answer = httpx.request(
        method, base + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == expected, answer.text
