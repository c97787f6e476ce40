"""Test calls recorded, judged and bounded per vendor (real PostgreSQL and Redis; SIPp's part
stands in as a function: tests/e2e/test_noc.py runs the real one through Kamailio)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from admin import catalog, ledger
from admin.catalog import RateRow
from admin.noc import limits, runs
from admin.noc.settings import NocSettings
from admin.noc.sipp_call import SippOutcome

pytestmark = pytest.mark.integration

SETTINGS = NocSettings("127.0.0.1:5060", "127.0.0.1", "t", "127.0.0.1", 8070, "", 1, 3, 30)


@pytest.fixture
def terminator(conn) -> int:
    vendor = catalog.company(conn, "Carrier", vendor=True)
    tariff = catalog.tariff(conn, "deck", [RateRow("44", D("0.01"))])
    terminator_id = catalog.terminator(
        conn, vendor, "carrier", tariff, [("192.0.2.1", 5060, "udp")]
    )
    conn.commit()
    return terminator_id


def answering(code: int | None, problem: str = ""):
    placed = []

    def place(**call) -> tuple[SippOutcome, str]:
        placed.append(call)
        if code is None:
            return SippOutcome(None), problem
        return SippOutcome(code, [100, code], 120, 1000 if code == 200 else None, "x@y"), problem

    place.placed = placed
    return place


def test_a_test_call_is_recorded_and_judged(conn, redis_client, terminator):
    place = answering(503)
    request = runs.TestCallRequest(terminator, "441234567890", 2, 200, "nina")
    result = runs.run_test_call(conn, redis_client, SETTINGS, request, place)
    assert (result["outcome"], result["sip_code"], result["detail"]) == (
        "failed", 503, "expected 200, got 503",
    )  # fmt: skip
    assert place.placed == [
        {"proxy": "127.0.0.1:5060", "sip_ip": "127.0.0.1", "number": "441234567890",
         "terminator_id": terminator, "hold_seconds": 2},
    ]  # fmt: skip
    (row,) = runs.test_calls(conn, terminator)
    assert (row["reply_codes"], row["pdd_ms"], row["requested_by"]) == ([100, 503], 120, "nina")
    assert ledger.undelivered_alerts(conn) == []  # a one-off test alerts nobody


def test_no_final_reply_is_an_error(conn, redis_client, terminator):
    request = runs.TestCallRequest(terminator, "441234567890")
    result = runs.run_test_call(conn, redis_client, SETTINGS, request, answering(None, "boom"))
    assert (result["outcome"], result["detail"], result["sip_code"]) == ("error", "boom", None)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (runs.TestCallRequest(999_999, "441234567890"), "no terminator"),
        (runs.TestCallRequest(1, "44x"), "number"),
        (runs.TestCallRequest(1, "4412", hold_seconds=0), "hold_seconds"),
        (runs.TestCallRequest(1, "4412", expect_code=100), "expect_code"),
    ],
)
def test_refused_requests_place_nothing(conn, redis_client, request_, message):
    place = answering(200)
    with pytest.raises(runs.TestCallRefused, match=message):
        runs.run_test_call(conn, redis_client, SETTINGS, request_, place)
    assert place.placed == []


def test_a_vendor_gets_so_many_test_calls_at_once_and_per_minute(redis_client):
    with limits.slot(redis_client, 7, max_concurrent=1, max_per_minute=3):
        with (
            pytest.raises(limits.VendorBusy, match="1 at once"),
            limits.slot(redis_client, 7, 1, 3),
        ):
            pass
        with limits.slot(redis_client, 8, 1, 3):  # another vendor is not held up
            pass
    for _ in range(2):
        with limits.slot(redis_client, 7, 1, 3):
            pass
    with pytest.raises(limits.VendorBusy, match="3 a minute"), limits.slot(redis_client, 7, 1, 3):
        pass
    assert int(redis_client.get(limits.BUSY.format(terminator_id=7))) == 0  # all released


def test_due_audits_run_once_per_period_and_failures_alert(conn, redis_client, terminator):
    audit_id = runs.create_audit(
        conn, runs.AuditForm(terminator, ["441234567890", "447700900123"], 15, 200, 1), "nina"
    )
    results = runs.run_due_audits(conn, redis_client, SETTINGS, answering(486))
    assert [(r["audit_id"], r["outcome"], r["requested_by"]) for r in results] == [
        (audit_id, "failed", "audit"), (audit_id, "failed", "audit"),
    ]  # fmt: skip
    assert runs.run_due_audits(conn, redis_client, SETTINGS, answering(486)) == []
    alerts = ledger.undelivered_alerts(conn)
    assert [(a["kind"], a["company"], a["detail"]["number"]) for a in alerts] == [
        ("noc-test-failed", "Carrier", "441234567890"),
        ("noc-test-failed", "Carrier", "447700900123"),
    ]
    (listed,) = runs.audits(conn)
    assert (listed["last_outcome"], listed["every_minutes"], listed["created_by"]) == (
        "failed", 15, "nina",
    )  # fmt: skip
    with pytest.raises(runs.TestCallRefused, match="number"):
        runs.create_audit(conn, runs.AuditForm(terminator, ["x"]), "nina")
