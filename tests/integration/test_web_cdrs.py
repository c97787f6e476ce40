"""The CDR search: by time, customer, number, SIP code and Call-ID; exported as it is listed."""

from __future__ import annotations

import csv
import io
import time
from decimal import Decimal

import pytest

from admin import catalog
from admin.rater import Rater
from kemi.bus import RedisStreamBus
from tests.integration.test_rater import event, send

pytestmark = pytest.mark.integration


@pytest.fixture
def cdrs(conn, redis_client):
    """Two calls: one 10 minutes ago (answered), one 3 days ago (refused 404)."""
    with conn.transaction():
        company = catalog.company(conn, "Acme", customer=True)
        tariff = catalog.tariff(conn, "T", [catalog.RateRow("44", Decimal("0.01"))])
        originator = catalog.originator(conn, company, "acme", tariff, None, ["10.0.0.1/32"])
    now = int(time.time() * 1000)
    recent, old = now - 600_000, now - 3 * 86_400_000
    common = {"originator_id": originator, "customer_tariff_id": tariff}
    calls = [
        event("recent-call", **common, call_started_ms=recent, started_ms=recent,
              answered_ms=recent + 1000, ended_ms=recent + 31_000, called="447700900111"),
        event("old-call", **common, code=404, reason="no-route", call_started_ms=old,
              started_ms=old, answered_ms=None, ended_ms=old + 100, called="33123456789"),
    ]  # fmt: skip
    rater = Rater(conn=conn, redis=redis_client, consumer="t", log=lambda m: None)
    rater.setup()
    send(RedisStreamBus(redis_client), *calls)
    assert rater.run_once(block_ms=10).written == 2


def call_ids(client, query: str) -> list[str]:
    return [row["call_id"] for row in client.get(f"/api/v1/cdrs?{query}").json()["items"]]


@pytest.mark.usefixtures("cdrs")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["recent-call", "old-call"]),  # newest first
        ("period=24h", ["recent-call"]),
        ("period=7d&outcome=failed", ["old-call"]),
        ("q=4477", ["recent-call"]),  # a number's start
        ("q=old-call", ["old-call"]),  # a Call-ID
        ("q=404", ["old-call"]),  # a SIP code
        ("q=acme", ["recent-call", "old-call"]),  # a customer
        ("q=nobody", []),
    ],
)
def test_the_search_finds_by_time_number_code_call_id_and_customer(logged_in, query, expected):
    assert call_ids(logged_in, query) == expected


@pytest.mark.usefixtures("cdrs")
def test_the_page_and_its_export_show_exact_money(logged_in):
    page = logged_in.get("/cdrs?period=24h")
    assert page.status_code == 200 and "447700900111" in page.text
    rows = list(csv.reader(io.StringIO(logged_in.get("/cdrs.csv?period=24h").text)))
    assert rows[0][0] == "Started" and len(rows) == 2
    price = rows[1][rows[0].index("Price")]
    assert Decimal(price) > 0 and "e" not in price.lower()
    assert logged_in.get("/cdrs?period=forever").status_code == 400
