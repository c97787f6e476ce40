"""The CDR rater against each real bus (Redis stream, NATS JetStream) and PostgreSQL."""

import json
import time
import uuid
from decimal import Decimal as D

import psycopg
import pytest

from admin import rejects
from admin.rater import Rater
from kemi import bus, contract
from kemi.bus import JetStreamBus, RedisStreamBus
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


def send(bus, *events, key=None):
    """As a node's relay does: one batch (one NATS message, one Redis entry); its key."""
    payloads = [(e if isinstance(e, str) else json.dumps(e)).encode() for e in events]
    key = key or uuid.uuid4().hex
    bus.publish(payloads, key=key)
    return key


def reopened(bus):
    """The same bus as a restarted worker process sees it."""
    if isinstance(bus, RedisStreamBus):
        return RedisStreamBus(bus.redis, bus.consumer)
    return JetStreamBus(
        bus.url, stream=bus.stream, subject=bus.subject, redeliver_seconds=bus.redeliver_seconds
    )


def run_until(rater, written, timeout=5.0):
    """Rate batches until ``written`` new CDRs (redelivery on NATS takes its ack wait)."""
    total, deadline = 0, time.monotonic() + timeout
    while total < written and time.monotonic() < deadline:
        total += rater.run_once(block_ms=100).written
    return total


@pytest.fixture
def rater(autocommit_conn, redis_client, cdr_bus):
    rater = Rater(
        conn=autocommit_conn,
        redis=redis_client,
        consumer="test-rater",
        bus=cdr_bus,
        log=lambda message: None,
    )
    rater.setup()
    return rater


def cdrs(conn):
    return conn.execute(
        "SELECT call_id, attempt, sip_code, duration, customer_billed_seconds, customer_price,"
        " vendor_billed_seconds, vendor_cost FROM cdrs ORDER BY call_id, attempt"
    ).fetchall()


def test_answered_and_failed_attempts_are_priced_exactly(rater, conn, cdr_bus):
    send(cdr_bus, event(attempt=1, code=503, answered=None, ended=T0 + 500), event(attempt=2))
    result = rater.run_once(block_ms=10)
    assert (result.read, result.written, result.rejected) == (2, 2, 0)
    # talk time 61.5 s -> 62 billable seconds.
    # customer 30/6: 30 + ceil(32/6)*6 = 66 s; 0.0010 + 66 * 0.0400 / 60 = 0.045000
    # vendor 1/1: 62 s; 62 * 0.0250 / 60 = 0.025833(33..) -> 0.025833
    assert cdrs(conn) == [
        ("c1", 1, 503, D("0.000"), 0, D("0"), 0, D("0")),
        ("c1", 2, 200, D("61.500"), 66, D("0.045000"), 62, D("0.025833")),
    ]
    backlog = cdr_bus.backlog()
    assert (backlog.undelivered, backlog.unacknowledged) == (0, 0)


def test_replayed_events_are_not_counted_twice(rater, conn, cdr_bus):
    send(cdr_bus, event(), event())  # the same attempt twice in one batch
    rater.run_once(block_ms=10)
    send(cdr_bus, event())  # and again later
    result = rater.run_once(block_ms=10)
    assert result.read == 1 and result.written == 0
    assert len(cdrs(conn)) == 1


def test_malformed_events_are_kept_aside_and_do_not_block_the_stream(rater, conn, cdr_bus):
    key = send(
        cdr_bus,
        "{not json",
        json.dumps(event(format=99)),
        json.dumps(event(currency="XXX")),
        event(call_id="good"),
    )
    result = rater.run_once(block_ms=10)
    assert (result.read, result.written, result.rejected) == (4, 1, 3)
    rows = conn.execute("SELECT stream_id, error FROM cdr_rejects ORDER BY id").fetchall()
    errors = [error for _, error in rows]
    assert errors[0].startswith("malformed event")
    assert "format is not 3" in errors[1]
    assert "unknown currency 'XXX'" in errors[2]
    # each names its batch and its place in it: Redis "<entry id>/<key>#i", NATS "<seq>#i"
    labels = [label for label, _ in rows]
    assert [label.rsplit("#", 1)[1] for label in labels] == ["0", "1", "2"]
    assert len({label.rsplit("#", 1)[0] for label in labels}) == 1
    if isinstance(cdr_bus, RedisStreamBus):
        assert labels[0].split("#")[0].endswith(f"/{key}")
    assert cdr_bus.backlog().unacknowledged == 0


def test_a_batch_sent_twice_is_counted_once(rater, conn, cdr_bus):
    """A relay that resends a batch (the bus took it, the reply was lost): NATS drops the
    copy by its key, Redis delivers it again and the merge stores none of it twice."""
    calls = [event(call_id=f"d{n}") for n in range(3)]
    send(cdr_bus, *calls, key="segment-1:0")
    send(cdr_bus, *calls, key="segment-1:0")
    result = rater.run_once(block_ms=100)
    assert result.read == (6 if isinstance(cdr_bus, RedisStreamBus) else 3)
    assert result.written == 3
    assert [row[0] for row in cdrs(conn)] == ["d0", "d1", "d2"]
    backlog = cdr_bus.backlog()
    assert (backlog.undelivered, backlog.unacknowledged) == (0, 0)


def test_a_relay_batch_is_one_entry_on_the_bus(cdr_bus):
    cdr_bus.setup()
    send(cdr_bus, event(call_id="a"), event(call_id="b"), event(call_id="c"))
    backlog = cdr_bus.backlog()
    assert (backlog.unit, backlog.undelivered) == ("batches", 1)
    [delivery] = cdr_bus.read(10, block_ms=100)
    assert [json.loads(e)["call_id"] for e in delivery.events] == ["a", "b", "c"]
    cdr_bus.ack([delivery])


def test_a_read_is_bounded_in_events_not_batches(cdr_bus):
    """A read takes whole relay batches (at most RELAY_BATCH events each) until it has the
    events asked for, never a batch more than that: full batches and small ones."""
    cdr_bus.setup()
    for n in range(4):
        cdr_bus.publish([b"x%d" % i for i in range(400)], key=f"full:{n}")
    for n in range(10):
        cdr_bus.publish([b"y%d" % i for i in range(50)], key=f"small:{n}")

    def events(deliveries):
        return [len(d.events) for d in deliveries]

    first = cdr_bus.read(1000, block_ms=100)  # 2 batches (800), then 1 more: 1200 < 1000 + 500
    assert events(first) == [400, 400, 400]
    second = cdr_bus.read(1000, block_ms=100)  # 400, then 1 batch at a time to 1000 or the end
    assert events(second) == [400] + [50] * 10
    cdr_bus.publish([b"z%d" % i for i in range(50)] * 4, key="last")
    third = cdr_bus.read(100, block_ms=100)  # a batch larger than asked for still goes whole
    assert events(third) == [200]
    cdr_bus.ack(first + second + third)
    backlog = cdr_bus.backlog()
    assert (backlog.undelivered, backlog.unacknowledged) == (0, 0)


def test_entries_written_before_batches_are_still_read(autocommit_conn, conn, redis_client):
    """A stream written before the upgrade: one event per entry (field "e"), then batches."""
    rater = Rater(conn=autocommit_conn, redis=redis_client, consumer="r", log=lambda m: None)
    rater.setup()
    old = [
        redis_client.xadd(contract.CDR_STREAM, {contract.CDR_EVENT_FIELD: payload}).decode()
        for payload in (json.dumps(event(call_id="old1")), "{not json")
    ]
    send(rater.bus, event(call_id="new1"), event(call_id="new2"))
    result = rater.run_once(block_ms=100)
    assert (result.read, result.written, result.rejected) == (4, 3, 1)
    assert [row[0] for row in cdrs(conn)] == ["new1", "new2", "old1"]
    assert conn.execute("SELECT stream_id FROM cdr_rejects").fetchall() == [(old[1],)]


def test_a_batch_over_the_size_limit_goes_as_several_entries(redis_client, monkeypatch):
    monkeypatch.setattr(bus, "REDIS_ENTRY_BYTES", 30)
    payloads = [b"event-%02d" % n for n in range(7)]  # 9 bytes each, 10 with its newline
    RedisStreamBus(redis_client).publish(payloads, key="seg:0")
    entries = redis_client.xrange(contract.CDR_STREAM)
    keys = [fields[contract.CDR_KEY_FIELD.encode()] for _, fields in entries]
    assert keys == [b"seg:0#0", b"seg:0#1", b"seg:0#2"]
    assert [bus.entry_events(fields) for _, fields in entries] == [
        payloads[0:3],
        payloads[3:6],
        payloads[6:],
    ]


def test_events_of_a_crashed_worker_are_rated_after_restart(
    conn, autocommit_conn, redis_client, cdr_bus
):
    first = Rater(conn=autocommit_conn, redis=redis_client, consumer="test-rater", bus=cdr_bus)
    first.setup()
    send(cdr_bus, event(call_id="a"), event(call_id="b"))
    # the worker read the batch, then died before writing it
    delivered = cdr_bus.read(10, block_ms=100)
    assert sum(len(d.events) for d in delivered) == 2
    assert cdr_bus.backlog().unacknowledged == len(delivered)
    restarted = Rater(
        conn=autocommit_conn, redis=redis_client, consumer="test-rater", bus=reopened(cdr_bus)
    )
    restarted.setup()
    assert run_until(restarted, 2) == 2
    assert [row[0] for row in cdrs(conn)] == ["a", "b"]
    restarted.bus.close()


def test_no_ack_when_postgresql_fails(rater, conn, redis_client, cdr_bus):
    send(cdr_bus, event(call_id="x"))
    conn.execute("ALTER TABLE cdrs RENAME TO cdrs_away")  # the write will fail
    conn.commit()
    with pytest.raises(Exception, match="cdrs"):
        rater.run_once(block_ms=100)
    assert cdr_bus.backlog().unacknowledged == 1
    conn.execute("ALTER TABLE cdrs_away RENAME TO cdrs")
    conn.commit()
    recovered = Rater(
        conn=rater.conn, redis=redis_client, consumer="test-rater", bus=reopened(cdr_bus)
    )
    recovered.setup()
    assert run_until(recovered, 1) == 1
    recovered.bus.close()


def test_batches_are_rated_while_the_one_before_is_written(rater, conn, cdr_bus):
    rater.batch_size = 2  # events: two relay batches of one event per read
    for n in range(7):
        send(cdr_bus, event(call_id=f"p{n}"))
    result = rater.run_once(block_ms=100)  # one call, four batches, each committed and acked
    assert (result.read, result.written) == (7, 7)
    assert [row[0] for row in cdrs(conn)] == [f"p{n}" for n in range(7)]
    backlog = cdr_bus.backlog()
    assert (backlog.undelivered, backlog.unacknowledged) == (0, 0)


def test_a_failed_write_in_the_pipeline_acknowledges_only_what_committed(
    rater, conn, redis_client, cdr_bus, monkeypatch
):
    """Batch 1 committed and is acknowledged; batch 2 failed and batch 3 was rated but not
    written: both are delivered again, and nothing is counted twice."""
    rater.batch_size = 1
    for n in range(3):
        send(cdr_bus, event(call_id=f"f{n}"))
    written = []
    write = Rater.write

    def failing_second(self, batch):
        written.append(batch)
        if len(written) == 2:
            raise psycopg.OperationalError("the server went away")
        return write(self, batch)

    monkeypatch.setattr(Rater, "write", failing_second)
    with pytest.raises(psycopg.OperationalError):
        rater.run_once(block_ms=100)
    monkeypatch.undo()
    assert [row[0] for row in cdrs(conn)] == ["f0"]
    assert cdr_bus.backlog().unacknowledged == 2
    recovered = Rater(
        conn=rater.conn, redis=redis_client, consumer="test-rater", bus=reopened(cdr_bus)
    )
    recovered.setup()
    assert run_until(recovered, 2) == 2
    assert [row[0] for row in cdrs(conn)] == ["f0", "f1", "f2"]
    recovered.bus.close()


def test_a_batch_with_one_replayed_event_stores_the_others(rater, conn, cdr_bus):
    """The straight COPY fails on the replayed CDR; the merge stores the rest (and charges
    only those: test_ledger.py)."""
    send(cdr_bus, event(call_id="r1"))
    assert rater.run_once(block_ms=100).written == 1
    send(cdr_bus, event(call_id="r1"), event(call_id="r2"), event(call_id="r3"))
    assert run_until(rater, 2) == 2
    assert [row[0] for row in cdrs(conn)] == ["r1", "r2", "r3"]


def test_acknowledged_events_leave_the_bus(rater, cdr_bus):
    """The Redis stream is trimmed behind the rater, JetStream deletes acknowledged batches:
    the bus holds the backlog, not the history."""
    for n in range(30):
        send(cdr_bus, event(call_id=f"t{n}"))
    assert run_until(rater, 30) == 30
    backlog = cdr_bus.backlog()
    assert (backlog.undelivered, backlog.unacknowledged, backlog.oldest_age_seconds) == (
        0,
        0,
        None,
    )
    if isinstance(cdr_bus, RedisStreamBus):
        assert cdr_bus.redis.xlen("akira:cdr") <= 1  # the last entry read marks the floor


def test_rejects_are_rated_again_once_the_cause_is_fixed(autocommit_conn, conn, redis_client):
    rater = Rater(conn=autocommit_conn, redis=redis_client, consumer="r", log=lambda m: None)
    rater.setup()
    send(rater.bus, json.dumps(event(call_id="zz", currency="XXX")), "{not json")
    assert rater.run_once(block_ms=10).rejected == 2
    still = rejects.retry(autocommit_conn, redis_client)
    assert (still.retried, still.rated, still.still_rejected) == (2, 0, 2)

    conn.execute("INSERT INTO currencies (code, name, precision) VALUES ('XXX', 'Test', 4)")
    conn.commit()
    fixed = rejects.retry(autocommit_conn, redis_client)
    assert (fixed.retried, fixed.rated, fixed.written, fixed.still_rejected) == (2, 1, 1, 1)
    assert rejects.retry(autocommit_conn, redis_client).written == 0  # nothing counted twice
    assert [row[0] for row in cdrs(conn)] == ["zz"]
    price = conn.execute("SELECT customer_price FROM cdrs WHERE call_id = 'zz'").fetchone()[0]
    assert price == D("0.0450")  # at XXX's 4 places (the merge charges it: test_ledger.py)
    left = rejects.listed(autocommit_conn)
    assert [(row["retries"], row["error"][:15]) for row in left] == [(3, "malformed event")]


def test_batches_a_crashed_rater_held_are_claimed_by_another(
    autocommit_conn, conn, redis_client, monkeypatch
):
    """Redis: the batches in a dead consumer's pending list go to another once idle for
    REDELIVER_SECONDS (XAUTOCLAIM), whole, before new ones."""
    monkeypatch.setattr(bus, "REDELIVER_SECONDS", 0.05)
    dead = RedisStreamBus(redis_client, consumer="dead")
    dead.setup()
    send(dead, event(call_id="h1"), event(call_id="h2"), event(call_id="h3"))
    send(dead, event(call_id="h4"))
    assert sum(len(d.events) for d in dead.read(10, block_ms=100)) == 4  # then it died
    send(dead, event(call_id="n1"))
    time.sleep(0.1)
    alive = Rater(conn=autocommit_conn, redis=redis_client, consumer="alive", log=lambda m: None)
    alive.setup()
    assert run_until(alive, 5) == 5
    assert [row[0] for row in cdrs(conn)] == ["h1", "h2", "h3", "h4", "n1"]
    backlog = alive.bus.backlog()
    assert (backlog.undelivered, backlog.unacknowledged) == (0, 0)
