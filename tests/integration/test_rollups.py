"""The rollups equal a direct aggregation of the CDRs: after replays, a crash between commit and
acknowledgement, a restarted rater and a rerate (issue 10). Events go through the real rater
path (the bus, rating, COPY or merge), and the rater's compaction feeds the coarser rollups
from the minute one (0016); the aggregation below is written independently of the
rollup's SQL, and every report dimension is compared between the rollups and the raw CDRs."""

import json
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from admin.cdr_rating import rate_event
from admin.rater import Rater
from admin.reports import dimensions, measures, query
from tests.integration.test_rater import T0, event, reopened, send

pytestmark = pytest.mark.integration

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000

# Independent of akira_network_effective / akira_post_dial_delay_ms: the definitions themselves.
DIRECT = """
SELECT date_trunc(%(grain)s, started_at, 'UTC') AS bucket, {keys}, currency,
       count(*) AS attempts,
       count(*) FILTER (WHERE attempt <= 1) AS calls,
       count(answered_at) AS answered,
       count(*) FILTER (WHERE answered_at IS NOT NULL
                           OR sip_code IN (480, 486, 487, 600, 603)) AS effective,
       sum(duration) AS talk_seconds,
       sum(customer_billed_seconds) AS billed_seconds,
       coalesce(sum(round(extract(epoch FROM coalesce(ringing_at, answered_at, ended_at)
                                         - started_at) * 1000))
                FILTER (WHERE terminator_id IS NOT NULL
                          AND (sip_code <> 487 OR ringing_at IS NOT NULL)), 0) AS pdd_ms,
       count(*) FILTER (WHERE terminator_id IS NOT NULL
                          AND (sip_code <> 487 OR ringing_at IS NOT NULL)) AS pdd_attempts,
       sum(customer_price) AS revenue, sum(vendor_cost) AS cost
FROM cdrs GROUP BY bucket, {keys}, currency
ORDER BY bucket, {keys}, currency
"""


def direct(conn, rollup):
    keys = ", ".join(rollup.keys)
    rows = conn.execute(DIRECT.format(keys=keys), {"grain": rollup.grain}).fetchall()
    return [tuple(row) for row in rows]


SUMMED = ", ".join(f"sum({name})" for name in measures.SUMMED)


def rolled_up(conn, rollup, relation=None):
    """What the rollup says: its partial rows summed per key (as every report sums them), read
    as reports read it (a coarser rollup with the minute rows not yet fed into it), or from
    ``relation``."""
    keys = ", ".join(rollup.keys)
    rows = conn.execute(
        f"SELECT bucket, {keys}, currency, {SUMMED} FROM {relation or rollup.relation}"
        f" GROUP BY bucket, {keys}, currency HAVING sum(attempts) <> 0"
        f" ORDER BY bucket, {keys}, currency"
    ).fetchall()
    return [tuple(row) for row in rows]


def physical_rows(conn):
    return {
        rollup.name: conn.execute(f"SELECT count(*) FROM {rollup.name}").fetchone()[0]
        for rollup in query.ROLLUPS
    }


def report_requests():
    """Every dimension, alone and with the filters that make a narrow rollup the source."""
    since = datetime.fromtimestamp((T0 - DAY) / 1000, UTC).replace(hour=0, minute=0, second=0)
    until = since + timedelta(days=4)
    for dimension in dimensions.DIMENSIONS:
        yield query.ReportRequest(dimension, since, until)
        yield query.ReportRequest(dimension, since, until, {"customer": 1, "terminator": 3})
        yield query.ReportRequest(dimension, since, until, {"destination": "447"})


def assert_rollups_match(conn, compacted=False):
    """Every rollup as reports read it equals the CDRs; after a compaction, every table too."""
    assert conn.execute("SELECT count(*) FROM cdrs").fetchone()[0] > 0
    for rollup in query.ROLLUPS:
        assert rolled_up(conn, rollup) == direct(conn, rollup), rollup.name
        if compacted:
            assert rolled_up(conn, rollup, rollup.name) == direct(conn, rollup), rollup.name
    sources = set()
    for request in report_requests():
        from_rollups = query.run(conn, request)
        assert from_rollups.rows == query.run(conn, request, source="cdrs").rows, request
        sources.add(from_rollups.source)
    assert sources == {rollup.name for rollup in query.ROLLUPS}  # each is read and right


def test_the_rollups_are_the_ones_the_schema_declares(conn):
    declared = conn.execute("SELECT name, grain, keys FROM akira_rollups()").fetchall()
    assert [query.Rollup(name, grain, tuple(keys)) for name, grain, keys in declared] == list(
        query.ROLLUPS
    )


def traffic(prefix="c"):
    """Answered, failed over, busy, cancelled, rejected before any vendor, on three days, two
    hours, two customers and two destinations; two of the attempts rang first."""
    no_vendor = {f"vendor_{name}": None for name in
                 ("tariff_id", "prefix", "rate", "initial_increment", "next_increment",
                  "connect_fee", "minimum_duration")}  # fmt: skip
    at = T0
    return [
        event(f"{prefix}1", 1, 503, None, T0 + 800),
        event(f"{prefix}1", 2),  # answered after a failover, 61.5 s
        event(f"{prefix}2", 1, 486, None, T0 + 3_000, ringing_ms=T0 + 1_000),  # rang, busy
        event(f"{prefix}3", 1, 487, None, T0 + 9_000, started_ms=at + MINUTE),
        event(
            f"{prefix}4", 0, 403, None, T0 + 20, terminator_id=None, gateway=None,
            reason="originator-unknown", **no_vendor,
        ),
        event(
            f"{prefix}5", 1, 200, T0 + HOUR + 4_000, T0 + HOUR + 125_000, started_ms=T0 + HOUR,
            customer_prefix="33", originator_id=2, ringing_ms=T0 + HOUR + 1_500,
        ),
        event(
            f"{prefix}6", 1, 200, T0 + DAY + 1_000, T0 + DAY + 30_000, started_ms=T0 + DAY,
            call_started_ms=T0 + DAY,
        ),
        event(f"{prefix}7", 1, 480, None, T0 + 2 * DAY + 5_000, started_ms=T0 + 2 * DAY),
    ]  # fmt: skip


def drain(rater, timeout=5.0):
    """Rate until the bus has nothing left (replays write nothing, so count the backlog)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rater.run_once(block_ms=100)
        backlog = rater.bus.backlog()
        if (backlog.undelivered, backlog.unacknowledged) == (0, 0):
            return
    raise AssertionError("the bus was not drained")


def make_rater(conn, redis_client, bus):
    rater = Rater(conn=conn, redis=redis_client, consumer="test-rater", bus=bus, log=lambda m: None)
    rater.setup()
    return rater


def test_rollups_equal_the_cdrs_after_replays_and_restarts(
    conn, autocommit_conn, redis_client, cdr_bus, monkeypatch
):
    rater = make_rater(autocommit_conn, redis_client, cdr_bus)
    first = traffic()
    send(cdr_bus, *first[:4])
    drain(rater)
    assert_rollups_match(conn)

    # the same events again, with new ones: the straight COPY fails, the merge adds the new only
    send(cdr_bus, *first)
    drain(rater)
    assert conn.execute("SELECT count(*) FROM cdrs").fetchone()[0] == len(first)
    assert_rollups_match(conn)

    # committed, then the worker dies before acknowledging: delivered again after a restart
    def dies_before_ack(deliveries):
        raise ConnectionError("killed between commit and ack")

    second = traffic("d")
    send(cdr_bus, *second)
    monkeypatch.setattr(rater.bus, "ack", dies_before_ack)
    with pytest.raises(ConnectionError):
        rater.run_once(block_ms=100)
    monkeypatch.undo()
    written = conn.execute("SELECT count(*) FROM cdrs").fetchone()[0]
    assert written == len(first) + len(second)
    restarted = make_rater(autocommit_conn, redis_client, reopened(cdr_bus))
    drain(restarted)
    assert conn.execute("SELECT count(*) FROM cdrs").fetchone()[0] == written
    assert_rollups_match(conn)

    # and once more through the restarted worker, all replays
    send(restarted.bus, *first, *second)
    drain(restarted)
    assert_rollups_match(conn)
    restarted.bus.close()


def test_rollups_follow_a_rerate_and_a_deletion(conn, autocommit_conn, redis_client, cdr_bus):
    rater = make_rater(autocommit_conn, redis_client, cdr_bus)
    send(cdr_bus, *traffic())
    drain(rater)
    # as akira rerate rewrites one side of a stored CDR (sql/queries/rerate.sql)
    conn.execute(
        "UPDATE cdrs SET customer_prefix = '4477', customer_price = customer_price * 2"
        " WHERE call_id = 'c1' AND attempt = 2"
    )
    conn.execute("DELETE FROM cdrs WHERE call_id = 'c7'")
    assert_rollups_match(conn)
    rater.compact_rollups()  # the changes fed on into the coarser rollups, signed
    assert_rollups_match(conn, compacted=True)


def test_compaction_merges_partial_rows_and_changes_no_report(
    conn, autocommit_conn, redis_client, cdr_bus
):
    rater = make_rater(autocommit_conn, redis_client, cdr_bus)
    for prefix in ("a", "b", "c"):  # three batches: three partial rows per key
        send(cdr_bus, *traffic(prefix))
        drain(rater)
    conn.execute("DELETE FROM cdrs WHERE call_id = 'c7'")  # its key now sums to nothing
    before = physical_rows(conn)
    # the cdrs trigger writes the minute rollup alone; the others are fed from it (0016)
    assert before["cdr_rollup_minute"] > 0
    assert all(before[r.name] == 0 for r in query.ROLLUPS if r.grain != "minute"), before
    assert rater.compact_rollups() > 0
    after = physical_rows(conn)
    assert after["cdr_rollup_minute"] < before["cdr_rollup_minute"], (before, after)
    assert_rollups_match(conn, compacted=True)
    for rollup in query.ROLLUPS:  # one row per key, each merged
        keys = ", ".join(rollup.keys)
        assert conn.execute(
            f"SELECT count(*), count(DISTINCT (bucket, {keys}, currency)),"
            f" bool_and(compacted) FROM {rollup.name}"
        ).fetchone() == (after[rollup.name], after[rollup.name], True)
    assert rater.compact_rollups() == 0  # nothing new: nothing to merge
    send(cdr_bus, *traffic("d"))  # new rows after a compaction merge into it
    drain(rater)
    assert_rollups_match(conn)  # reports see them before they are fed on
    assert rater.compact_rollups() > 0
    assert_rollups_match(conn, compacted=True)
    assert conn.execute(
        "SELECT count(*) FROM cdr_rollup_minute WHERE NOT compacted"
    ).fetchone() == (0,)


def test_rows_committed_during_a_compaction_are_fed_on_once(
    conn, autocommit_conn, redis_client, cdr_bus, database_url
):
    """A batch whose transaction is open while a compaction runs: the compaction neither sees
    its minute rows nor loses them; the next one feeds them into the coarser rollups, once."""
    rater = make_rater(autocommit_conn, redis_client, cdr_bus)
    send(cdr_bus, *traffic("a"))
    drain(rater)
    with psycopg.connect(database_url, autocommit=True) as writer_conn:
        writer = Rater(conn=writer_conn, redis=redis_client, consumer="w", log=lambda m: None)
        precisions = writer.precisions()
        rows = [rate_event(json.dumps(e).encode(), precisions) for e in traffic("b")]
        with writer_conn.transaction():
            assert writer.store(rows) == len(rows)
            rater.compact_rollups()  # batch "a" only: "b" is not committed
            assert conn.execute("SELECT bool_and(compacted) FROM cdr_rollup_minute").fetchone() == (
                True,
            )
            assert_rollups_match(conn, compacted=True)  # "a" fed on, "b" unseen
        assert_rollups_match(conn)  # "b" committed: reports see it before it is fed on
        assert conn.execute(
            "SELECT count(*) > 0 FROM cdr_rollup_minute WHERE NOT compacted"
        ).fetchone() == (True,)
    rater.compact_rollups()
    assert_rollups_match(conn, compacted=True)
    assert rater.compact_rollups() == 0
    assert_rollups_match(conn, compacted=True)
