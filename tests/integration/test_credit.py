"""Prepaid credit in the real Redis and PostgreSQL: what a call may reserve, how reservations
add up, settle and expire, and the rater's settlement (docs/money.md "Credit control")."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row
from redis import Redis

from admin import catalog, credit, ledger
from admin.catalog import RateRow
from admin.queries import query
from admin.rater import Rater
from kemi import limits
from kemi.bus import RedisStreamBus
from kemi.rates import Rate, money_units
from tests.integration.test_limits import setup
from tests.integration.test_rater import event, send

pytestmark = pytest.mark.integration

COMPANY = 7
PER_MINUTE = Rate("44", money_units(D("0.60")), 1, 1, 0)  # a cent a second, 1/1


@pytest.fixture
def redis(redis_client: Redis) -> Redis:
    redis_client.function_load(limits.LIBRARY, replace=True)
    return redis_client


def fund(redis: Redis, amount: str, company: int = COMPANY, as_of: int = 1) -> None:
    redis.fcall("akira_credit_set", 0, company, money_units(D(amount)), as_of)


def call(redis, name, rate=PER_MINUTE, max_duration=3600, node="node-a", company=COMPANY):
    return setup(redis, name, "", credit=limits.credit_of(company, rate, max_duration), node=node)


def end(redis, name, answered, node="node-a", company=COMPANY):
    record = limits.release_record(node, limits.member(name), [], company, answered)
    redis.fcall("akira_release", 0, record.removeprefix("R "))


def held(redis: Redis, company: int = COMPANY) -> dict[str, int]:
    account = redis.hgetall(f"akira:credit:{company}")
    totals = redis.hgetall(f"akira:resvtot:{company}")
    return {
        "available": int(account[b"available"]),
        "settling": int(account.get(b"settling", 0)),
        "reserved": sum(int(v) for v in totals.values()),
    }


def test_a_call_reserves_what_its_longest_talk_time_costs(redis):
    fund(redis, "0.55")  # 55 seconds at a cent a second
    first = call(redis, "c1", max_duration=10)
    assert (first.originator_over, first.credit_seconds) == (None, 10)
    for name in ("c2", "c3", "c4", "c5"):
        assert call(redis, name, max_duration=10).credit_seconds == 10
    assert call(redis, "c6", max_duration=10).credit_seconds == 5  # what is left
    assert call(redis, "c7", max_duration=10).originator_over == "no-credit"
    assert held(redis) == {"available": 55_000_000, "settling": 0, "reserved": 55_000_000}


def test_the_first_increment_and_the_fee_must_fit(redis):
    fund(redis, "0.50")
    per_minute = Rate("44", money_units(D("0.60")), 60, 60, money_units(D("0.05")))
    assert call(redis, "c1", per_minute).originator_over == "no-credit"  # 0.60 + 0.05 > 0.50
    fund(redis, "0.65", as_of=2)
    assert call(redis, "c2", per_minute).credit_seconds == 60


def test_an_ended_call_holds_until_the_rater_has_posted_it(redis):
    fund(redis, "0.30")
    call(redis, "c1", max_duration=20)
    call(redis, "c2", max_duration=20)
    end(redis, "c1", answered=True)  # its 0.20 now waits for the rater
    end(redis, "c2", answered=False)  # never answered: nothing to hold
    assert held(redis) == {"available": 30_000_000, "settling": 20_000_000, "reserved": 0}
    assert call(redis, "c3", max_duration=20).credit_seconds == 10
    redis.fcall("akira_credit_settled", 0, COMPANY, limits.member("c1"))
    assert held(redis)["settling"] == 0
    end(redis, "c1", answered=True)  # a replayed release changes nothing
    assert held(redis)["settling"] == 0


def test_an_older_balance_never_replaces_a_newer_one(redis):
    fund(redis, "5", as_of=10)
    fund(redis, "9", as_of=9)  # a slower writer with an older view of the ledger
    assert held(redis)["available"] == 500_000_000


def test_without_a_balance_in_redis_the_call_is_refused(redis):
    assert call(redis, "c1").originator_over == "credit-unavailable"


def test_a_dead_nodes_reservations_expire_with_it(redis):
    fund(redis, "0.10")
    assert call(redis, "c1", node="doomed", max_duration=10).credit_seconds == 10
    redis.set("akira:alive:doomed", 1, px=200)  # its relay stops renewing it
    assert call(redis, "c2", max_duration=10).originator_over == "no-credit"
    time.sleep(0.3)
    assert call(redis, "c3", max_duration=10).credit_seconds == 10


def reference(free, rate, fee, initial, following, minimum, max_duration):
    """By brute force: the longest talk time whose price fits, and that price."""

    def price(seconds):
        seconds = max(seconds, minimum)
        billed = initial
        while billed < seconds:
            billed += following
        return fee + -(-billed * rate // 60)

    best = max((s for s in range(1, max_duration + 1) if price(s) <= free), default=0)
    return best, price(best) if best else 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    free=st.integers(0, 200_000_000),
    rate=st.integers(0, 300_000_000),
    fee=st.sampled_from([0, 0, 1_000_000, 12_345]),
    increments=st.sampled_from([(1, 1), (60, 60), (30, 6), (6, 6), (60, 1)]),
    minimum=st.sampled_from([0, 0, 30, 90]),
    max_duration=st.integers(1, 400),
)
def test_what_a_call_may_reserve_equals_a_brute_force_reference(
    redis, free, rate, fee, increments, minimum, max_duration
):
    redis.delete(f"akira:credit:{COMPANY}", f"akira:resvtot:{COMPANY}")
    redis.delete(f"akira:resv:{COMPANY}:node-a")
    redis.hset(f"akira:credit:{COMPANY}", mapping={"available": free, "as_of": 0})
    terms = Rate("44", rate, increments[0], increments[1], fee, minimum)
    answer = call(redis, "c", terms, max_duration)
    seconds, price = reference(free, rate, fee, *increments, minimum, max_duration)
    if seconds == 0:
        assert answer.originator_over == "no-credit"
    else:
        assert answer.credit_seconds == seconds
        assert held(redis)["reserved"] == price <= free


def test_the_rater_settles_prepaid_calls_from_the_ledger(conn, redis):
    """Top-up 1.00; a reserved call ends answered; once its CDR is rated, the account's
    available money is the ledger's and nothing is held for the call any more."""
    with conn.transaction():
        company = catalog.company(conn, "Acme", customer=True)
        ledger.set_billing(conn, company, billing="prepaid", credit_limit=None, username="t")
        ledger.post(conn, company, "topup", "1.00", note="", username="t")
        tariff = catalog.tariff(conn, "Acme USD", [RateRow("447", D("0.0400"), "", 30, 6)])
        originator = catalog.originator(conn, company, "acme", tariff, None, ["10.0.0.1/32"])
    assert credit.sync(conn, redis) == 1
    rate = Rate("447", money_units(D("0.04")), 30, 6, money_units(D("0.001")))
    assert call(redis, "c1", rate, company=company).credit_seconds > 60
    end(redis, "c1", answered=True, company=company)
    assert held(redis, company)["settling"] > 0
    rater = Rater(conn=conn, redis=redis, consumer="t", log=lambda m: None)
    rater.setup()
    send(RedisStreamBus(redis), event("c1", originator_id=originator, customer_tariff_id=tariff))
    assert rater.run_once(block_ms=10).written == 1
    price = conn.execute("SELECT customer_price FROM cdrs").fetchone()[0]
    assert price == D("0.045000")
    assert held(redis, company) == {
        "available": money_units(D("1.00") - price),
        "settling": 0,
        "reserved": 0,
    }
    assert ledger.balance(conn, company).balance == D("0.955")


def test_prepaid_and_limited_postpaid_accounts_are_credit_controlled(conn, redis):
    """A prepaid account, and a postpaid one with a credit limit, get their available money
    (balance + limit) in Redis and their calls checked; a postpaid one without a limit runs
    until invoiced, unchecked."""
    with conn.transaction():
        tariff = catalog.tariff(conn, "USD", [RateRow("447", D("0.0400"), "", 30, 6)])
        trunks = {}
        for name, billing, limit in [
            ("Pre", "prepaid", None), ("Capped", "postpaid", "25"), ("Open", "postpaid", "0")
        ]:  # fmt: skip
            company = catalog.company(conn, name, customer=True)
            ledger.set_billing(conn, company, billing=billing, credit_limit=limit, username="t")
            ledger.post(conn, company, "topup", "10", note="", username="t")
            ip = f"10.0.0.{len(trunks) + 1}/32"
            trunks[name] = (company, catalog.originator(conn, company, name, tariff, None, [ip]))
    assert credit.sync(conn, redis) == 2
    companies = {name: company for name, (company, _) in trunks.items()}
    assert held(redis, companies["Pre"])["available"] == money_units(D("10"))
    assert held(redis, companies["Capped"])["available"] == money_units(D("35"))
    assert not redis.exists(f"akira:credit:{companies['Open']}")
    controlled = credit.prepaid_companies(conn, [o for _, o in trunks.values()])
    assert set(controlled.values()) == {companies["Pre"], companies["Capped"]}
    with conn.cursor(row_factory=dict_row) as cursor:  # the snapshot's flag
        published = cursor.execute(query("publish_originators")).fetchall()
    flags = {row["name"]: row["prepaid"] for row in published}
    assert flags == {"Pre": True, "Capped": True, "Open": False}
