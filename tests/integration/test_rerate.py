"""``akira rerate`` against the real PostgreSQL: a corrected rate re-prices the stored CDRs of
a window, the difference is posted to the ledger once, and a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from admin import catalog, ledger
from admin.catalog import RateRow
from admin.rater import Rater
from admin.rerate import rerate
from kemi.bus import RedisStreamBus
from tests.integration.test_rater import T0, event, send

pytestmark = pytest.mark.integration

SINCE, UNTIL = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def rated(conn, redis_client):
    """Acme's two answered calls to 447 (61.5 s each at 0.04/min, 30/6, fee 0.001), rated."""
    with conn.transaction():
        company = catalog.company(conn, "Acme", customer=True)
        tariff = catalog.tariff(
            conn,
            "Acme USD",
            [RateRow("44", D("0.0150")), RateRow("447", D("0.0400"), "", 30, 6, D("0.0010"))],
        )
        originator = catalog.originator(conn, company, "acme", tariff, None, ["10.0.0.1/32"])
    rater = Rater(conn=conn, redis=redis_client, consumer="t", log=lambda m: None)
    rater.setup()
    mine = {"originator_id": originator, "customer_tariff_id": tariff}
    send(RedisStreamBus(redis_client), event("c1", **mine), event("c2", **mine))
    assert rater.run_once(block_ms=10).written == 2
    return {"company": company, "tariff": tariff}


def prices(conn):
    return [row[0] for row in conn.execute("SELECT customer_price FROM cdrs ORDER BY call_id")]


def run(conn, **kwargs):
    with conn.transaction():
        return rerate(conn, SINCE, UNTIL, username="olga", **kwargs)


def test_unchanged_rates_change_nothing(conn, rated):
    result = run(conn, company_id=None)
    assert (result.checked, result.repriced, result.posted) == (2, 0, {})
    assert result.no_rate == 2  # the vendor's tariff is not in this database: left as it was


def test_a_corrected_rate_is_applied_and_its_difference_posted_once(conn, rated):
    before = prices(conn)
    assert before == [D("0.045000")] * 2  # 66 s at 0.04 + 0.001
    conn.execute(
        "UPDATE rates SET rate = 0.0500 WHERE tariff_id = %s AND prefix = '447'",
        (rated["tariff"],),
    )
    result = run(conn, company_id=rated["company"])
    after = prices(conn)
    assert after == [D("0.056000")] * 2  # 66 s at 0.05 + 0.001
    assert (result.repriced, result.posted) == (2, {rated["company"]: D("-0.022000")})
    assert conn.execute("SELECT customer_rate FROM cdrs GROUP BY customer_rate").fetchall() == [
        (D("0.05000000"),)
    ]
    again = run(conn, company_id=rated["company"])
    assert (again.repriced, again.posted) == (0, {})
    # the ledger explains the balance: every CDR charged exactly its current price
    balance = ledger.balance(conn, rated["company"]).balance
    assert balance == -sum(after) == D("-0.112000")


def test_a_rate_in_force_only_later_does_not_reprice_older_calls(conn, rated):
    """A new rate from June on: May's calls keep the rate of their time."""
    conn.execute(
        "INSERT INTO rates (tariff_id, prefix, rate, initial_increment, next_increment,"
        " connect_fee, effective_from) VALUES (%s, '447', 0.09, 1, 1, 0, %s)",
        (rated["tariff"], datetime.fromtimestamp(T0 / 1000 + 86_400, UTC)),
    )
    assert run(conn, company_id=None).repriced == 0


def test_another_companys_window_is_left_alone(conn, rated):
    with conn.transaction():
        other = catalog.company(conn, "Globex", customer=True)
    conn.execute("UPDATE rates SET rate = 0.0500 WHERE tariff_id = %s", (rated["tariff"],))
    assert run(conn, company_id=other).checked == 0
    assert prices(conn) == [D("0.045000")] * 2
