"""Accounts and the ledger in the real PostgreSQL: manual entries with their audit rows, refusals
that write nothing, and call charges posted by the rater exactly once per CDR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D

import pytest

from admin import catalog, ledger
from admin.catalog import RateRow
from admin.publisher import PublishError, compile_routing
from kemi.bus import RedisStreamBus
from tests.integration.test_rater import event, send

pytestmark = pytest.mark.integration


@pytest.fixture
def acme(conn) -> dict[str, int]:
    """Customer Acme (USD, 6 decimal places) with one originator."""
    with conn.transaction():
        company = catalog.company(conn, "Acme", customer=True)
        tariff = catalog.tariff(conn, "Acme USD", [RateRow("44", D("0.0150"))])
        originator = catalog.originator(conn, company, "acme", tariff, None, ["10.0.0.1/32"])
    return {"company": company, "originator": originator, "tariff": tariff}


def entry_total(conn, company_id: int) -> D:
    return conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE company_id = %s", (company_id,)
    ).fetchone()[0]


def test_manual_entries_make_the_balance_and_leave_an_audit_row(conn, acme):
    company = acme["company"]
    with conn.transaction():
        ledger.post(conn, company, "topup", "100.50", note="wire 4711", username="olga")
        ledger.post(conn, company, "adjustment", "-0.000001", note="rounding", username="olga")
        ledger.post(conn, company, "invoice", "-40", note="November", username="olga")
        ledger.post(conn, company, "refund", "5", note="", username="olga")
        ledger.set_billing(conn, company, billing="prepaid", credit_limit="10", username="olga")
    account = ledger.balance(conn, company)
    assert account.balance == D("65.499999") == entry_total(conn, company)
    assert (account.billing, account.credit_limit, account.available) == (
        "prepaid",
        D("10"),
        D("75.499999"),
    )
    audit = conn.execute(
        "SELECT username, entity, action, after FROM audit_log ORDER BY id"
    ).fetchall()
    assert [(a[0], a[1], a[2]) for a in audit] == [
        ("olga", "ledger_entries", "topup"),
        ("olga", "ledger_entries", "adjustment"),
        ("olga", "ledger_entries", "invoice"),
        ("olga", "ledger_entries", "refund"),
        ("olga", "company", "billing"),
    ]
    assert audit[0][3] == {
        "company": "Acme",
        "amount": "100.50",
        "currency": "USD",
        "note": "wire 4711",
    }


@pytest.mark.parametrize(
    ("kind", "amount", "note", "says"),
    [
        ("topup", "-5", "", "positive"),
        ("invoice", "5", "", "negative"),
        ("topup", "0", "", "other than 0"),
        ("topup", "1.0000001", "", "6 decimal places"),
        ("topup", "ten", "", "not a decimal"),
        ("topup", "NaN", "", "other than 0"),
        ("topup", "1e15", "", r"\(10\^12\)"),
        ("adjustment", "3", " ", "needs a note"),
        ("call_charge", "-3", "", "not an entry an operator posts"),
    ],
)
def test_refused_entries_say_why_and_write_nothing(conn, acme, kind, amount, note, says):
    with pytest.raises(ledger.LedgerError, match=says), conn.transaction():
        ledger.post(conn, acme["company"], kind, amount, note=note, username="olga")
    assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def test_the_rater_charges_each_new_cdr_once(conn, acme, redis_client):
    from admin.rater import Rater

    rater = Rater(conn=conn, redis=redis_client, consumer="t", log=lambda m: None)
    rater.setup()
    mine = {"originator_id": acme["originator"]}
    calls = [
        event("c1", **mine),
        event("c2", **mine),
        event("c3", code=486, answered=None, **mine),  # costs nothing: no entry for it
    ]
    send(RedisStreamBus(redis_client), *calls)
    assert rater.run_once(block_ms=10).written == 3
    send(RedisStreamBus(redis_client), *calls[:2])  # a replay (a relay that shipped twice, say)
    assert rater.run_once(block_ms=10).written == 0
    charges = conn.execute(
        "SELECT amount, calls, currency, created_by FROM ledger_entries WHERE kind = 'call_charge'"
    ).fetchall()
    priced = conn.execute("SELECT sum(customer_price) FROM cdrs").fetchone()[0]
    assert priced > 0
    assert charges == [(-priced, 2, "USD", "rater")]
    assert ledger.balance(conn, acme["company"]).balance == -priced


def test_publish_refuses_a_customer_tariff_in_another_currency(conn, acme):
    with conn.transaction():
        eur = catalog.tariff(conn, "Acme EUR", [RateRow("44", D("0.0150"))], currency="EUR")
        conn.execute("UPDATE originators SET tariff_id = %s", (eur,))
    with pytest.raises(PublishError, match="'acme' has a EUR tariff, its company keeps USD"):
        compile_routing(conn)


def test_the_cli_posts_and_shows(database_url, acme):
    def akira(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "admin.cli", "account", *args],
            env=os.environ | {"AKIRA_DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            check=False,
        )

    assert akira("topup", "Acme", "25.5", "--note", "wire", "--by", "olga").returncode == 0
    assert akira("adjustment", "Acme", "-0.5", "--note", "goodwill").returncode == 0
    refused = akira("adjustment", "Acme", "1")
    assert refused.returncode != 0 and "needs a note" in refused.stderr
    assert akira("set", "Acme", "--billing", "prepaid", "--credit-limit", "3").returncode == 0
    shown = json.loads(akira("show", "Acme").stdout)
    assert shown | {"entries": None} == {
        "company_id": acme["company"],
        "company": "Acme",
        "currency": "USD",
        "billing": "prepaid",
        "credit_limit": "3.00000000",
        "balance": "25.00000000",
        "available": "28.00000000",
        "entries": None,
    }
    assert [(e["kind"], e["amount"]) for e in shown["entries"]] == [
        ("adjustment", "-0.50000000"),
        ("topup", "25.50000000"),
    ]
    unknown = akira("show", "Nobody")
    assert unknown.returncode != 0 and "no company named 'Nobody'" in unknown.stderr


def test_an_alert_is_written_once_per_crossing(conn, acme, redis_client):
    """Threshold 10: charges taking the balance 12 -> 9 -> 5 alert once (at 9); a top-up above
    and a fall below again alert again; the credit limit reached is its own alert."""
    company = acme["company"]
    with conn.transaction():
        ledger.set_billing(
            conn, company, billing="prepaid", credit_limit="2", username="t", low_balance="10"
        )
        ledger.post(conn, company, "topup", "12", note="", username="t")
    for amount in ("-3", "-4"):  # 9, then 5: below since the first
        with conn.transaction():
            ledger.post(conn, company, "adjustment", amount, note="charge", username="t")
    kinds = [a["kind"] for a in ledger.undelivered_alerts(conn)]
    assert kinds == ["low-balance"]
    with conn.transaction():
        ledger.post(conn, company, "topup", "10", note="", username="t")  # 15
        ledger.post(conn, company, "invoice", "-8", note="", username="t")  # 7: again
        ledger.post(conn, company, "invoice", "-8.5", note="", username="t")  # -1.5: within limit
        ledger.post(conn, company, "invoice", "-1", note="", username="t")  # -2.5: limit passed
    alerts = ledger.undelivered_alerts(conn)
    assert [(a["kind"], a["balance"]) for a in alerts] == [
        ("low-balance", "9.00000000"),  # 12 -> 9 crossed; 9 -> 5 stayed below
        ("low-balance", "7.00000000"),
        ("credit-limit-reached", "-2.50000000"),
    ]
    with conn.transaction():
        assert ledger.mark_delivered(conn, [a["id"] for a in alerts[:2]]) == 2
    assert [a["kind"] for a in ledger.undelivered_alerts(conn)] == ["credit-limit-reached"]


def test_rated_calls_raise_the_alert_too(conn, acme, redis_client):
    from admin.rater import Rater

    with conn.transaction():
        ledger.set_billing(
            conn, acme["company"], billing=None, credit_limit=None, username="t", low_balance="0"
        )
    rater = Rater(conn=conn, redis=redis_client, consumer="t", log=lambda m: None)
    rater.setup()
    send(RedisStreamBus(redis_client), event("c1", originator_id=acme["originator"]))
    rater.run_once(block_ms=10)
    assert [a["kind"] for a in ledger.undelivered_alerts(conn)] == ["low-balance"]
