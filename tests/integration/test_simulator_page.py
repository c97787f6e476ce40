"""The route simulator page and API answer with the engine's own decision on the live
snapshot (the code of `akira simulate`), and refuse malformed input naming the field."""

from __future__ import annotations

import pytest

from admin import demo
from tests.integration.test_publisher import publish_now

pytestmark = pytest.mark.integration


@pytest.fixture
def published(conn, redis_client, web_client, tmp_path):
    assert demo.load(conn)
    conn.commit()
    return publish_now(conn, redis_client, str(tmp_path / "admin"))


def test_the_page_shows_the_vendors_in_order_and_the_trace(logged_in, published):
    page = logged_in.get("/simulate?src_ip=127.0.0.2&number=442071234567")
    assert page.status_code == 200
    assert "Vendors, in order" in page.text and "Customer rate" in page.text
    answer = logged_in.get("/api/v1/simulate?src_ip=127.0.0.2&number=442071234567").json()
    assert answer["routed"] is True and answer["snapshot_version"] == published.version
    assert answer["originator"]["name"] == "acme"
    assert [r["terminator"] for r in answer["routes"]]  # the least-cost order, non-empty


def test_an_unknown_source_is_refused_as_the_engine_refuses_it(logged_in, published):
    answer = logged_in.get("/api/v1/simulate?src_ip=192.0.2.99&number=442071234567").json()
    assert (answer["routed"], answer["sip_code"]) == (False, 403)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("src_ip=nope&number=44", "src_ip"),
        ("src_ip=127.0.0.2&number=44x", "number"),
        ("src_ip=127.0.0.2&number=44&at=2026-01-01T00:00:00", "at"),
        ("src_ip=127.0.0.2&number=44&at=yesterday", "at"),
    ],
)
def test_malformed_input_is_a_400_naming_the_field(logged_in, published, query, field):
    refused = logged_in.get(f"/api/v1/simulate?{query}")
    assert refused.status_code == 400
    assert field in refused.json()["extra"]
    page = logged_in.get(f"/simulate?{query}")
    assert page.status_code == 400 and field in page.text
