"""Redis dies mid-traffic: calls keep routing from the engine's copy, and no CDR is lost.

This test runs its own Redis (with an append-only file, as production should) and its own
Kamailio on 127.0.0.1:base+70, so killing Redis disturbs nothing else.
"""

import subprocess
import time

import pytest
from redis import Redis

from admin.publisher import publish
from admin.rater import Rater
from tests.e2e import catalog as c
from tests.e2e.conftest import SIP_IP, start_kamailio
from tests.e2e.ports import port
from tests.e2e.sipp import Vendor, call

pytestmark = pytest.mark.e2e

REDIS_PORT, SIP_PORT = port(1379), port(70)


class PrivateRedis:
    def __init__(self, directory) -> None:
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def start(self) -> Redis:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(REDIS_PORT),
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = Redis(port=REDIS_PORT, socket_timeout=2)
        for _ in range(100):
            try:
                client.ping()
                return client
            except Exception:
                time.sleep(0.05)
        pytest.fail("private redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def private_redis(tmp_path):
    redis = PrivateRedis(tmp_path)
    yield redis
    redis.kill()


def test_calls_route_and_cdrs_survive_a_redis_outage(
    conn, autocommit_conn, private_redis, tmp_path
):
    redis = private_redis.start()
    c.load(conn)
    publish(conn, redis, published_by="e2e")
    # Started after the publish, every SIP worker loads the snapshot in child_init. (A worker
    # that never loaded one answers 503 no-snapshot while Redis is down: docs/engine.md.)
    kamailio = start_kamailio(tmp_path, SIP_PORT, f"redis://127.0.0.1:{REDIS_PORT}/0")
    cheap = Vendor("cheap", c.PORTS["cheap"], tmp_path)
    try:
        proxy = f"{SIP_IP}:{SIP_PORT}"

        before = call(c.UK_FIXED, src_ip=c.ACME_IP, proxy=proxy, workdir=tmp_path)
        assert before.ok, before.explain()

        private_redis.kill()
        during = call(c.UK_FIXED, src_ip=c.ACME_IP, proxy=proxy, workdir=tmp_path)
        assert during.ok, during.explain()  # routed from the snapshot the workers hold
        assert cheap.invites() == 2
        spooled = list((tmp_path / "spool").glob("cdr-*.jsonl"))
        assert spooled, "the CDR of the call made while Redis was down must be spooled"

        redis = private_redis.start()  # back, with what it had written to its AOF
        rater = Rater(
            conn=autocommit_conn,
            redis=redis,
            consumer="e2e",
            spool_dir=str(tmp_path / "spool"),
            spool_settle_seconds=0.2,
            log=lambda m: None,
        )
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
        assert not list((tmp_path / "spool").iterdir())
        assert "Traceback" not in kamailio.log_text()
    finally:
        cheap.stop()
        kamailio.stop()
