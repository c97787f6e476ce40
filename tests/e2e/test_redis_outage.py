"""Redis dies mid-traffic: calls keep routing from the node's files, and no CDR is lost.

This test runs its own Redis (with an append-only file, as production should) and its own
Kamailio on 127.0.0.1:base+70, so killing Redis disturbs nothing else.
"""

import time

import pytest

from admin.publisher import publish
from admin.rater import Rater
from tests.e2e import catalog as c
from tests.e2e.conftest import SIP_IP, start_kamailio
from tests.e2e.ports import port
from tests.e2e.services import PrivateRedis
from tests.e2e.sipp import Vendor, call

pytestmark = pytest.mark.e2e

REDIS_PORT, SIP_PORT = port(1379), port(70)


@pytest.fixture
def private_redis(tmp_path):
    redis = PrivateRedis(tmp_path / "redis", REDIS_PORT)
    yield redis
    redis.kill()


def test_calls_route_and_cdrs_survive_a_redis_outage(
    conn, autocommit_conn, private_redis, tmp_path
):
    redis = private_redis.start()
    c.load(conn)
    kamailio = start_kamailio(
        tmp_path / "kamailio", SIP_PORT, f"redis://127.0.0.1:{REDIS_PORT}/0", node="outage"
    )
    cheap = Vendor("cheap", c.PORTS["cheap"], tmp_path)
    try:
        publication = publish(
            conn, redis, published_by="e2e", snapshot_dir=str(tmp_path / "admin"), node_wait=10
        )
        kamailio.wait_installed(publication.version)
        proxy = f"{SIP_IP}:{SIP_PORT}"

        before = call(c.UK_FIXED, src_ip=c.ACME_IP, proxy=proxy, workdir=tmp_path)
        assert before.ok, before.explain()

        private_redis.kill()
        during = call(c.UK_FIXED, src_ip=c.ACME_IP, proxy=proxy, workdir=tmp_path)
        assert during.ok, during.explain()  # routed from the node's snapshot files
        assert cheap.invites() == 2
        time.sleep(1.0)  # long enough for the relay to have shipped it, were Redis there
        journaled = [p for p in kamailio.journal_dir.iterdir() if p.stat().st_size]
        assert journaled, "the CDR of the call made while Redis was down must stay journaled"

        redis = private_redis.start()  # back, with what it had written to its AOF
        rater = Rater(conn=autocommit_conn, redis=redis, consumer="e2e", log=lambda m: None)
        rater.setup()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            rater.run_once(block_ms=200)
            if conn.execute("SELECT count(*) FROM cdrs").fetchone()[0] >= 2:
                break
        rows = conn.execute(
            "SELECT sip_code, terminator_id FROM cdrs ORDER BY started_at"
        ).fetchall()
        assert [code for code, _ in rows] == [200, 200]
        assert kamailio.journal_drained()
        assert "Traceback" not in kamailio.log_text()
    finally:
        cheap.stop()
        kamailio.stop()
