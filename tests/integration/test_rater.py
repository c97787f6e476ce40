"""The CDR rater against the real Redis stream and PostgreSQL."""

import json
from decimal import Decimal as D

import pytest

from admin.rater import Rater
from kemi import contract
from kemi.cdr import TERMS

pytestmark = pytest.mark.integration

T0 = 1_780_000_000_000  # 2026-05-28, epoch ms


def event(call_id="c1", attempt=1, code=200, answered=T0 + 2_000, ended=T0 + 63_500, **extra):
    customer = ("1", "447", "0.0400", 30, 6, "0.0010", 0)
    vendor = ("3", "447", "0.0250", 1, 1, "0", 0)
    return {
        "format": 3,
        "call_id": call_id,
        "attempt": attempt,
        "node": "n1",
        "snapshot_version": 7,
        "originator_id": 1,
        "terminator_id": 3,
        "gateway": "sip:447700900123@192.0.2.1:5060",
        "src_ip": "10.0.0.1",
        "caller": "15550001",
        "called": "447700900123",
        "dialed": "+447700900123",
        "sip_code": code,
        "reason": "vendor-reply",
        "call_started_ms": T0,
        "started_ms": T0 + 10,
        "answered_ms": answered,
        "ended_ms": ended,
        "currency": "USD",
        "trace": "originator 1 by address 10.0.0.1",
        **{
            f"customer_{n}": int(v) if n == "tariff_id" else v
            for n, v in zip(TERMS, customer, strict=True)
        },
        **{
            f"vendor_{n}": int(v) if n == "tariff_id" else v
            for n, v in zip(TERMS, vendor, strict=True)
        },
        **extra,
    }


def send(redis_client, *events):
    for e in events:
        payload = e if isinstance(e, str) else json.dumps(e)
        redis_client.xadd(contract.CDR_STREAM, {contract.CDR_EVENT_FIELD: payload})


@pytest.fixture
def rater(autocommit_conn, redis_client):
    rater = Rater(
        conn=autocommit_conn,
        redis=redis_client,
        consumer="test-rater",
        log=lambda message: None,
    )
    rater.setup()
    return rater


def cdrs(conn):
    return conn.execute(
        "SELECT call_id, attempt, sip_code, duration, customer_billed_seconds, customer_price,"
        " vendor_billed_seconds, vendor_cost FROM cdrs ORDER BY call_id, attempt"
    ).fetchall()


def test_answered_and_failed_attempts_are_priced_exactly(rater, conn, redis_client):
    send(redis_client, event(attempt=1, code=503, answered=None, ended=T0 + 500), event(attempt=2))
    result = rater.run_once(block_ms=10)
    assert (result.read, result.written, result.rejected) == (2, 2, 0)
    # talk time 61.5 s -> 62 billable seconds.
    # customer 30/6: 30 + ceil(32/6)*6 = 66 s; 0.0010 + 66 * 0.0400 / 60 = 0.045000
    # vendor 1/1: 62 s; 62 * 0.0250 / 60 = 0.025833(33..) -> 0.025833
    assert cdrs(conn) == [
        ("c1", 1, 503, D("0.000"), 0, D("0"), 0, D("0")),
        ("c1", 2, 200, D("61.500"), 66, D("0.045000"), 62, D("0.025833")),
    ]
    pending = redis_client.xpending(contract.CDR_STREAM, contract.CDR_GROUP)
    assert pending["pending"] == 0


def test_replayed_events_are_not_counted_twice(rater, conn, redis_client):
    send(redis_client, event(), event())  # the same attempt twice in one batch
    rater.run_once(block_ms=10)
    send(redis_client, event())  # and again later
    result = rater.run_once(block_ms=10)
    assert result.read == 1 and result.written == 0
    assert len(cdrs(conn)) == 1


def test_malformed_events_are_kept_aside_and_do_not_block_the_stream(rater, conn, redis_client):
    send(
        redis_client,
        "{not json",
        json.dumps(event(format=99)),
        json.dumps(event(currency="XXX")),
        event(call_id="good"),
    )
    result = rater.run_once(block_ms=10)
    assert (result.read, result.written, result.rejected) == (4, 1, 3)
    errors = [row[0] for row in conn.execute("SELECT error FROM cdr_rejects ORDER BY id")]
    assert errors[0].startswith("malformed event")
    assert "format is not 3" in errors[1]
    assert "unknown currency 'XXX'" in errors[2]
    assert redis_client.xpending(contract.CDR_STREAM, contract.CDR_GROUP)["pending"] == 0


def test_events_of_a_crashed_worker_are_rated_after_restart(conn, autocommit_conn, redis_client):
    first = Rater(conn=autocommit_conn, redis=redis_client, consumer="w1")
    first.setup()
    send(redis_client, event(call_id="a"), event(call_id="b"))
    # the worker read the batch, then died before writing it
    delivered = first._read(">", block_ms=None)
    assert len(delivered) == 2
    restarted = Rater(conn=autocommit_conn, redis=redis_client, consumer="w1")
    restarted.setup()
    result = restarted.run_once(block_ms=10)
    assert result.written == 2
    assert [row[0] for row in cdrs(conn)] == ["a", "b"]


def test_no_ack_when_postgresql_fails(rater, conn, redis_client):
    send(redis_client, event(call_id="x"))
    conn.execute("ALTER TABLE cdrs RENAME TO cdrs_away")  # the write will fail
    conn.commit()
    with pytest.raises(Exception, match="cdrs"):
        rater.run_once(block_ms=10)
    assert redis_client.xpending(contract.CDR_STREAM, contract.CDR_GROUP)["pending"] == 1
    conn.execute("ALTER TABLE cdrs_away RENAME TO cdrs")
    conn.commit()
    recovered = Rater(conn=rater.conn, redis=redis_client, consumer="test-rater")
    recovered.setup()
    assert recovered.run_once(block_ms=10).written == 1
