"""No CDR lost, none counted twice: 2,000 SIPp calls while the rater is SIGKILLed, PostgreSQL
restarts, or the bus restarts — on each bus (Redis Streams, NATS JetStream).

Each case runs its own Kamailio, Redis, NATS (or PostgreSQL cluster) and rater process
(tests/e2e/services.py), so breaking them disturbs no other test. The rater is the
production ``akira worker``; the fault comes once a quarter of the calls are rated.
Afterwards: one CDR per call SIPp placed, no (call_id, attempt) twice, the ledger's call
charges equal the CDRs' prices, the balance equals the ledger's sum, and nothing is left in
the node's journal or on the bus.
"""

from __future__ import annotations

import time
from decimal import Decimal

import psycopg
import pytest

from admin.publisher import publish
from kemi.bus import REDELIVER_SECONDS, JetStreamBus, RedisStreamBus
from tests.e2e import catalog as c
from tests.e2e.conftest import SIP_IP, start_kamailio
from tests.e2e.ports import port
from tests.e2e.services import PrivateNats, PrivatePostgres, PrivateRedis, RaterProcess
from tests.e2e.sipp import Load, Vendor

pytestmark = pytest.mark.e2e

CALLS, RATE = 2000, 200  # calls, calls per second
SIP_PORT, REDIS_PORT, NATS_PORT, PG_PORT = port(72), port(1380), port(1422), port(1432)


def count_cdrs(url: str) -> int | None:
    """None while PostgreSQL does not answer (it is restarting)."""
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute("SELECT count(*) FROM cdrs").fetchone()[0]
    except psycopg.OperationalError:
        return None


def wait_for_cdrs(url: str, at_least: int, timeout: float) -> int:
    deadline, count = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        count = count_cdrs(url) or count
        if count >= at_least:
            return count
        time.sleep(0.2)
    return count


@pytest.mark.parametrize("bus", ["redis", "nats"])
@pytest.mark.parametrize("fault", ["rater-killed", "postgresql-restarted", "bus-restarted"])
def test_no_cdr_is_lost_or_counted_twice(fault, bus, tmp_path, request):
    redis = PrivateRedis(tmp_path / "redis", REDIS_PORT)
    nats = PrivateNats(tmp_path / "nats", NATS_PORT)
    postgres = PrivatePostgres(PG_PORT) if fault == "postgresql-restarted" else None
    started: list = []
    try:
        redis_client = redis.start()
        started.append(redis)
        if bus == "nats":
            nats.start()
            started.append(nats)
        if postgres is not None:
            postgres.start()
            database_url = postgres.url
        else:
            database_url = request.getfixturevalue("database_url")
        settings = {
            "AKIRA_BUS": bus,
            "AKIRA_NATS_URL": nats.url,
            "AKIRA_REDIS_URL": redis.url,
            "AKIRA_DATABASE_URL": database_url,
        }
        with psycopg.connect(database_url, autocommit=True) as conn:
            c.load(conn)
            publication = publish(
                conn,
                redis_client,
                published_by="e2e",
                snapshot_dir=str(tmp_path / "admin"),
                node_wait=10,
            )
        kamailio = start_kamailio(
            tmp_path / "kamailio", SIP_PORT, redis.url, node="survival", env=settings
        )
        started.append(kamailio)
        kamailio.wait_installed(publication.version)
        started.append(Vendor("cheap", c.PORTS["cheap"], tmp_path))
        rater = RaterProcess(tmp_path / "rater.log", settings)
        rater.start()
        started.append(rater)

        load = Load(
            c.UK_FIXED,
            calls=CALLS,
            rate=RATE,
            src_ip=c.ACME_IP,
            proxy=f"{SIP_IP}:{SIP_PORT}",
            workdir=tmp_path,
        )
        assert wait_for_cdrs(database_url, CALLS // 4, timeout=60) >= CALLS // 4, (
            "the rater did not start rating: " + (tmp_path / "rater.log").read_text()[-2000:]
        )
        if fault == "rater-killed":
            rater.kill()  # SIGKILL, mid-batch or not
            time.sleep(0.5)
            rater.start()
        elif fault == "postgresql-restarted":
            postgres.restart()
        elif bus == "redis":
            redis.kill()
            time.sleep(0.5)
            redis_client = redis.start()
        else:
            nats.kill()
            time.sleep(0.5)
            nats.start()
        placed = load.wait()
        assert placed["created"] == CALLS, placed

        # every call has its CDR: a batch a killed rater held comes back after the bus's
        # redelivery time (15 s), a restarted rater backs off up to a few seconds
        stored = wait_for_cdrs(database_url, placed["created"], timeout=90)
        assert kamailio.journal_drained(timeout=10), "CDR events are stuck in the journal"
        time.sleep(1.0)  # anything beyond the expected would be rated by now
        with psycopg.connect(database_url) as conn:
            count, calls, answered = conn.execute(
                "SELECT count(*), count(DISTINCT call_id), count(answered_at) FROM cdrs"
            ).fetchone()
            assert (count, calls) == (placed["created"], placed["created"]), (
                stored,
                placed,
                "rater alive"
                if rater.process.poll() is None
                else f"rater exited with {rater.process.returncode}",
                (tmp_path / "rater.log").read_text()[-3000:],
            )
            assert answered == placed["successful"]
            charged, priced = conn.execute(
                "SELECT (SELECT coalesce(sum(amount), 0) FROM ledger_entries"
                "        WHERE kind = 'call_charge'),"
                "       (SELECT sum(customer_price) FROM cdrs)"
            ).fetchone()
            assert priced > 0 and charged == -priced
            for balance, entries in conn.execute(
                "SELECT b.balance, (SELECT coalesce(sum(amount), 0) FROM ledger_entries e"
                "                   WHERE e.company_id = b.company_id)"
                " FROM account_balances b"
            ):
                assert Decimal(balance) == Decimal(entries)
        # nothing left on the bus: a batch whose acknowledgement the fault lost comes back
        # once (after the redelivery time), is found stored already, and is acknowledged
        on_bus = RedisStreamBus(redis_client) if bus == "redis" else JetStreamBus(nats.url)
        deadline = time.monotonic() + REDELIVER_SECONDS + 10
        while (backlog := on_bus.backlog()).unacknowledged and time.monotonic() < deadline:
            time.sleep(0.5)
        on_bus.close()
        assert (backlog.undelivered, backlog.unacknowledged) == (0, 0), backlog
        assert count_cdrs(database_url) == placed["created"]  # the redelivery added nothing
        assert "Traceback" not in kamailio.log_text()
    finally:
        for service in reversed(started):
            (getattr(service, "stop", None) or service.kill)()
        if postgres is not None:
            postgres.stop()
