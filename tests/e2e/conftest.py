"""End-to-end fixtures: a real Kamailio running Akira's engine, SIPp vendors and customers.

One Kamailio serves the whole session on 127.0.0.1:15060 (``tests/e2e/ports.py``; so a
developer's quick-start platform on 5060 is left alone). Each test publishes its own catalog
into the cleaned Redis database that Kamailio reads, from its own fresh PostgreSQL database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from admin.publisher import Publication, publish
from admin.rater import Rater
from kemi.snapshot_files import installed_version
from tests.conftest import REDIS_URL
from tests.e2e.ports import port
from tests.e2e.sipp import CallResult, Vendor, call

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SIP_IP, SIP_PORT = "127.0.0.1", port(60)
PROXY = f"{SIP_IP}:{SIP_PORT}"
CHECK_INTERVAL = 0.1  # a worker looks at its node's installed version this often in tests


@dataclass
class Kamailio:
    process: subprocess.Popen
    run_dir: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def snapshot_dir(self) -> Path:
        return self.run_dir / "snapshot"

    @property
    def journal_dir(self) -> Path:
        return self.run_dir / "spool" / "journal"

    def journal_drained(self, timeout: float = 5.0) -> bool:
        """Until the relay has shipped every CDR event this node journaled."""
        deadline = time.monotonic() + timeout
        while self._journaled_bytes():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _journaled_bytes(self) -> int:
        """Bytes in the journal's files; a file the relay renames or removes as we look
        (``*.taken`` once shipped) counts as empty."""
        total = 0
        for path in self.journal_dir.glob("*"):
            with contextlib.suppress(FileNotFoundError):
                if path.is_file():
                    total += path.stat().st_size
        return total

    def wait_installed(self, version: int, timeout: float = 10.0) -> None:
        """Until this node's sync installed ``version`` and every worker looked at it."""
        deadline = time.monotonic() + timeout
        while (installed_version(str(self.snapshot_dir)) or 0) < version:
            if time.monotonic() > deadline:
                pytest.fail(f"snapshot {version} was not installed in {timeout} s")
            time.sleep(0.02)
        time.sleep(CHECK_INTERVAL * 1.25 + 0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_kamailio(
    run_dir: Path,
    port: int,
    redis_url: str,
    node: str = "e2e",
    wrapper: Sequence[str] = (),
    probe_seconds: float = 0,
    env: dict[str, str] | None = None,
) -> Kamailio:
    """Kamailio with the engine on 127.0.0.1:``port``, reading ``redis_url``; waits until up.
    ``wrapper`` runs it through another command (test_torture.py: nsenter into a namespace);
    ``env`` sets more engine settings (AKIRA_BUS, say)."""
    for tool in ("kamailio", "sipp", "kamcmd"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: run scripts/test.sh, which installs it")
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "kamailio.log"
    env = (
        os.environ
        | {
            "AKIRA_SIP_LISTEN": f"udp:{SIP_IP}:{port}",
            "AKIRA_KAMAILIO_DIR": str(run_dir),
            "AKIRA_REDIS_URL": redis_url,
            "AKIRA_SNAPSHOT_CHECK_INTERVAL": str(CHECK_INTERVAL),
            "AKIRA_SPOOL_DIR": str(run_dir / "spool"),
            "AKIRA_NODE": node,
            # vendor stand-ins come and go between tests: only the health tests probe them (0: off)
            "AKIRA_PROBE_SECONDS": str(probe_seconds),
            "AKIRA_SIP_WORKERS": "4",
        }
        | (env or {})
    )
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [*wrapper, str(ROOT / "scripts" / "kamailio-run.sh")],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    kamailio = Kamailio(process, run_dir, log)
    ctl = f"unix:{run_dir}/ctl"
    deadline = time.monotonic() + 20
    while subprocess.run(["kamcmd", "-s", ctl, "core.uptime"], capture_output=True).returncode:
        if process.poll() is not None or time.monotonic() > deadline:
            kamailio.stop()
            pytest.fail(f"Kamailio did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return kamailio


@pytest.fixture(scope="session")
def kamailio(tmp_path_factory) -> Iterator[Kamailio]:
    kamailio = start_kamailio(tmp_path_factory.mktemp("kamailio"), SIP_PORT, REDIS_URL)
    yield kamailio
    kamailio.stop()


@dataclass
class Platform:
    """What one e2e test drives: its database, the shared Kamailio, SIPp peers, the rater."""

    conn: psycopg.Connection
    rater_conn: psycopg.Connection  # the rater's own autocommit session, as in production
    redis: Redis
    kamailio: Kamailio
    workdir: Path
    vendors: list[Vendor] = field(default_factory=list)

    def publish(self) -> Publication:
        """Publish as the admin does, and wait until the engine's workers route with it."""
        publication = publish(
            self.conn,
            self.redis,
            published_by="e2e",
            snapshot_dir=str(self.workdir / "admin-snapshot"),
            node_wait=10,
        )
        self.kamailio.wait_installed(publication.version)
        return publication

    def vendor(
        self, name: str, port: int, reject: int | None = None, hangup=False, ring_ms: int = 0
    ) -> Vendor:
        vendor = Vendor(name, port, self.workdir, reject=reject, hangup=hangup, ring_ms=ring_ms)
        self.vendors.append(vendor)
        return vendor

    def call(self, number: str, src_ip: str, **kwargs) -> CallResult:
        return call(number, src_ip=src_ip, proxy=PROXY, workdir=self.workdir, **kwargs)

    def rate_cdrs(self, expected: int) -> list[dict]:
        """Run the rater until ``expected`` CDRs are stored (or 15 s pass), then return all."""
        rater = Rater(conn=self.rater_conn, redis=self.redis, consumer="e2e", log=lambda m: None)
        rater.setup()
        deadline = time.monotonic() + 15
        while self._count() < expected and time.monotonic() < deadline:
            rater.run_once(block_ms=200)
        assert self.kamailio.journal_drained(), "CDR events are stuck in the node's journal"
        rater.run_once(block_ms=300)  # anything beyond the expected would show up now
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cursor:
            return cursor.execute("SELECT * FROM cdrs ORDER BY call_id, attempt").fetchall()

    def _count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM cdrs").fetchone()[0]


@pytest.fixture
def platform(conn, autocommit_conn, redis_client, kamailio, tmp_path) -> Iterator[Platform]:
    log_start = kamailio.log.stat().st_size
    platform = Platform(conn, autocommit_conn, redis_client, kamailio, tmp_path)
    yield platform
    for vendor in platform.vendors:
        vendor.stop()
    # this test's CDR events leave the node before the next test cleans the stream
    assert kamailio.journal_drained(), "CDR events are stuck in the node's journal"
    with kamailio.log.open(errors="replace") as log:
        log.seek(log_start)
        new_lines = log.read()
    faults = [line for line in new_lines.splitlines() if "fault" in line or "Traceback" in line]
    assert not faults, "the engine logged faults during the test:\n" + "\n".join(faults)
