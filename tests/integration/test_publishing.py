"""A stale snapshot is seen and published from the admin: every catalog write bumps the
catalog's revision (whatever wrote it), a publication records the revision it compiled, and
the page header offers the publish that makes the engines current."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal as D

import pytest

from admin import catalog, demo, services
from admin.catalog import RateRow
from admin.services.companies import COMPANIES
from admin.staleness import staleness
from tests.conftest import REDIS_URL
from tests.integration.test_publisher import publish_now
from tests.integration.web_conftest import create_user, csrf_token, log_in

pytestmark = pytest.mark.integration


def test_every_catalog_write_makes_the_snapshot_stale_until_published(conn, redis_client, tmp_path):
    assert demo.load(conn)
    conn.commit()
    assert staleness(conn).stale  # never published
    publication = publish_now(conn, redis_client, str(tmp_path))
    state = staleness(conn)
    assert (state.stale, state.version) == (False, publication.version)
    writes = [
        lambda: catalog.tariff(conn, "New", [RateRow("49", D("0.02"))]),  # the catalog code
        lambda: conn.execute("UPDATE rates SET rate = rate WHERE prefix = '49'"),  # raw SQL
        lambda: services.create(  # a service
            conn, COMPANIES, services.parse_form(COMPANIES, {"name": "N", "currency": "USD"}),
            services.Actor("t"),
        ),
    ]  # fmt: skip
    for write in writes:
        with conn.transaction():
            write()
        assert staleness(conn).stale
        publish_now(conn, redis_client, str(tmp_path))
        assert not staleness(conn).stale
    with conn.transaction():  # money is not routing: the ledger leaves the snapshot current
        company = catalog.company_id(conn, "Acme Telecom")
        conn.execute(
            "INSERT INTO ledger_entries (company_id, kind, amount, currency, note, created_by)"
            " VALUES (%s, 'topup', 1, 'USD', '', 't')",
            (company,),
        )
    assert not staleness(conn).stale


def test_the_header_shows_a_stale_snapshot_and_publishes_it(web_client, conn, redis_client):
    assert demo.load(conn)
    conn.commit()
    create_user(conn, "olga", role="operator")
    assert log_in(web_client, "olga").status_code == 303
    status = web_client.get("/snapshot", headers={"HX-Request": "true"}).text
    assert "catalog changed since" in status and "Publish" in status
    published = web_client.post(
        "/snapshot/publish",
        headers={"HX-Request": "true", "x-csrftoken": csrf_token(web_client, "/")},
    )
    assert published.status_code == 200
    assert "is live" in published.text and "catalog changed since" not in published.text
    state = staleness(conn)
    assert not state.stale and state.published_by == "olga"
    assert int(redis_client.get("akira:snapshot:current")) == state.version


def test_a_viewer_sees_the_state_but_cannot_publish(web_client, conn):
    create_user(conn, "vera", role="read-only")
    assert log_in(web_client, "vera").status_code == 303
    assert web_client.get("/snapshot").status_code == 200
    refused = web_client.post(
        "/snapshot/publish", headers={"x-csrftoken": csrf_token(web_client, "/")}
    )
    assert refused.status_code == 403
    assert staleness(conn).version is None


def test_akira_publish_records_its_publication_and_skips_when_current(database_url, conn, tmp_path):
    """`akira publish` on its own (non-autocommit) connection: recorded, so --if-stale knows."""
    assert demo.load(conn)
    conn.commit()

    def akira(*args: str) -> subprocess.CompletedProcess:
        env = os.environ | {
            "AKIRA_DATABASE_URL": database_url,
            "AKIRA_REDIS_URL": REDIS_URL,
            "AKIRA_SNAPSHOT_DIR": str(tmp_path),
        }
        return subprocess.run(
            [sys.executable, "-m", "admin.cli", "publish", "--node-wait", "0", *args],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip

    first = akira("--if-stale", "--by", "cron")
    assert first.returncode == 0, first.stderr
    state = staleness(conn)
    assert (state.stale, state.published_by) == (False, "cron")
    second = akira("--if-stale")
    assert second.returncode == 0 and "is up to date" in second.stderr
    assert staleness(conn).version == state.version
