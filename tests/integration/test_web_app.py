"""The app as a whole: start-up, /healthz, the dashboard, the session key."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import psycopg
import pytest
from litestar.testing import TestClient
from redis import Redis

from admin.queries import query
from admin.web.app import create_app
from admin.web.resources import StartupError
from kemi import contract
from kemi.bus import RedisStreamBus
from tests.integration.web_conftest import (
    DEAD_DATABASE_URL,
    DEAD_REDIS_URL,
    create_user,
    log_in,
    web_settings,
)

pytestmark = pytest.mark.integration


def record_publication(conn: psycopg.Connection, version: int, by: str) -> None:
    conn.execute(
        query("record_publication"),
        {
            "version": version,
            "published_by": by,
            "originators": 2,
            "terminators": 3,
            "tariffs": 5,
            "rates": 29,
            "duration_ms": 12,
            "catalog_revision": 0,
        },
    )
    conn.commit()


def test_healthz_is_ok_with_live_services(web_client: TestClient, redis_client: Redis) -> None:
    response = web_client.get("/healthz")
    assert response.status_code == 200
    health = response.json()
    assert {k: health[k] for k in ("database", "redis", "snapshot_version", "cdr_bus")} == {
        "database": "ok",
        "redis": "ok",
        "snapshot_version": None,
        "cdr_bus": "ok",
    }
    assert health["cdr_backlog"]["undelivered"] == 0
    redis_client.set(contract.SNAPSHOT_POINTER, 42)
    RedisStreamBus(redis_client).publish([b'{"format":3}', b'{"format":3}'])
    health = web_client.get("/healthz").json()
    assert health["snapshot_version"] == 42
    backlog = health["cdr_backlog"]
    # one relay batch of two events: one stream entry
    assert (backlog["bus"], backlog["unit"], backlog["undelivered"]) == ("redis", "batches", 1)
    assert 0 <= backlog["oldest_age_seconds"] < 60


def test_healthz_is_503_when_redis_is_down(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Litestar's logging set-up replaces the root logger's handlers at start-up: listen to the
    # module's own logger, which it leaves alone.
    resources_logger = logging.getLogger("admin.web.resources")
    resources_logger.addHandler(caplog.handler)
    try:
        settings = web_settings(database_url, redis_url=DEAD_REDIS_URL)
        with TestClient(create_app(settings)) as client:
            response = client.get("/healthz")
    finally:
        resources_logger.removeHandler(caplog.handler)
    assert response.status_code == 503
    health = response.json()
    assert {k: health[k] for k in ("database", "redis", "snapshot_version", "cdr_bus")} == {
        "database": "ok",
        "redis": "error",
        "snapshot_version": None,
        "cdr_bus": "error",
    }
    assert "Connection refused" in health["cdr_backlog"]["error"]
    assert "Redis at AKIRA_REDIS_URL does not answer" in caplog.text


def test_start_fails_fast_and_says_why_when_the_database_is_down() -> None:
    app = create_app(web_settings(DEAD_DATABASE_URL))
    with pytest.raises(ExceptionGroup) as failure, TestClient(app):
        pass
    reason = r"cannot reach PostgreSQL at 127\.0\.0\.1:1/akira \(AKIRA_DATABASE_URL\)"
    assert failure.group_contains(StartupError, match=reason)


def test_dashboard_shows_counts_snapshot_and_publications(
    logged_in: TestClient, demo_catalog: None, conn: psycopg.Connection, redis_client: Redis
) -> None:
    record_publication(conn, 6, "ci")
    record_publication(conn, 7, "olga")
    redis_client.set(contract.SNAPSHOT_POINTER, 7)
    html = logged_in.get("/").text
    assert '<span class="figure">2</span> originators' in html
    assert '<span class="figure">3</span> terminators' in html
    assert '<span class="figure">5</span> tariffs' in html
    assert '<span class="figure">v7</span> live snapshot' in html
    rows = html.split("<tbody>", 1)[1]
    assert rows.index("<td>olga</td>") < rows.index("<td>ci</td>")  # newest first


def test_dashboard_before_any_publish(logged_in: TestClient) -> None:
    html = logged_in.get("/").text
    assert "nothing published yet" in html
    assert "No snapshot published yet" in html


def test_dashboard_says_when_redis_is_down(database_url: str, conn: psycopg.Connection) -> None:
    create_user(conn, "olga")
    with TestClient(create_app(web_settings(database_url, redis_url=DEAD_REDIS_URL))) as client:
        assert log_in(client, "olga").status_code == 303
        response = client.get("/")
    assert response.status_code == 200
    assert "Redis does not answer" in response.text


def test_without_secret_key_sessions_work_and_a_warning_says_they_will_not_last(
    database_url: str, conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    create_user(conn, "olga")
    with caplog.at_level(logging.WARNING, logger="admin.web.sessions"):
        app = create_app(web_settings(database_url, secret_key=""))
    assert "AKIRA_SECRET_KEY is empty" in caplog.text
    with TestClient(app) as client:
        assert log_in(client, "olga").status_code == 303
        assert client.get("/tariffs", follow_redirects=False).status_code == 200


def test_a_session_cookie_made_under_another_key_is_refused(
    database_url: str, conn: psycopg.Connection
) -> None:
    create_user(conn, "olga")
    with TestClient(create_app(web_settings(database_url, secret_key="one"))) as first:
        assert log_in(first, "olga").status_code == 303
        cookies = dict(first.cookies)
    with TestClient(create_app(web_settings(database_url, secret_key="two"))) as second:
        second.cookies.update(cookies)
        assert second.get("/tariffs", follow_redirects=False).status_code == 303


def test_static_files_are_served_without_login(web_client: TestClient) -> None:
    htmx = web_client.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert htmx.text.startswith("var htmx=function()")
    assert "table" in web_client.get("/static/akira.css").text


def test_the_live_dashboard_shows_asr_acd_rejects_and_backlog(
    logged_in: TestClient, conn: psycopg.Connection, redis_client: Redis
) -> None:
    """Three calls ended a minute ago: two answered (60 s and 120 s), one refused 404."""
    from admin import catalog
    from admin.rater import Rater
    from tests.integration.test_rater import event, send

    with conn.transaction():
        company = catalog.company(conn, "Acme", customer=True)
        tariff = catalog.tariff(conn, "T", [catalog.RateRow("44", Decimal("0.01"))])
        originator = catalog.originator(conn, company, "acme", tariff, None, ["10.0.0.1/32"])
    start = int(time.time() * 1000) - 180_000
    calls = [
        event("a", originator_id=originator, customer_tariff_id=tariff, call_started_ms=start,
              started_ms=start, answered_ms=start + 1000, ended_ms=start + 61_000),
        event("b", originator_id=originator, customer_tariff_id=tariff, call_started_ms=start,
              started_ms=start, answered_ms=start + 1000, ended_ms=start + 121_000),
        event("c", originator_id=originator, customer_tariff_id=tariff, code=404,
              reason="no-route", call_started_ms=start, started_ms=start, answered_ms=None,
              ended_ms=start + 100),
    ]  # fmt: skip
    rater = Rater(conn=conn, redis=redis_client, consumer="t", log=lambda m: None)
    rater.setup()
    send(RedisStreamBus(redis_client), *calls)
    assert rater.run_once(block_ms=10).written == 3
    page = logged_in.get("/dashboard/live").text
    assert "66.7 %" in page  # ASR: 2 of 3 calls
    assert "1.50 min" in page  # ACD: 180 s over 2 answered
    assert "no-route" in page and ">404<" in page
    assert "CDR batches waiting on redis" in page  # one entry per relay batch
    # no proxy node is up here: nothing in progress; the calls started 3 minutes ago
    assert '"figure">0</span> calls in progress' in page
    assert '"figure">0.00</span> calls per second' in page
    assert 'hx-get="/dashboard/live"' in logged_in.get("/").text
