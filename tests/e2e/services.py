"""Private, killable copies of the real services for the tests that take them down.

A test that restarts Redis, NATS or PostgreSQL, or kills the rater, runs its own instance on
its own port (tests/e2e/ports.py), so nothing the other tests use is disturbed. Each is the
real server, started as production would (Redis with an fsync-always append-only file,
nats-server with JetStream on a file store, a PostgreSQL cluster of its own).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from redis import Redis

from admin.migrate import migrate
from tests.e2e.conftest import ROOT


def _wait(ready, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:
            pass
        time.sleep(0.05)
    pytest.fail(f"{what} did not start in {timeout} s")


class PrivateRedis:
    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> Redis:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.directory), "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = Redis(port=self.port, socket_timeout=2)
        _wait(client.ping, f"redis-server on {self.port}")
        return client

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class PrivateNats:
    """nats-server with JetStream; its file store survives a restart (and a SIGKILL)."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory, self.port = directory, port
        self.url = f"nats://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if shutil.which("nats-server") is None:
            pytest.fail("nats-server is not installed: run scripts/test.sh, which installs it")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["nats-server", "-a", "127.0.0.1", "-p", str(self.port), "-js",
             "-sd", str(self.directory), "-l", str(self.directory / "nats.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        from kemi.bus import JetStreamBus

        def ready() -> bool:
            bus = JetStreamBus(self.url, stream="PROBE", subject="probe")
            try:
                bus.backlog()  # JetStream answers (creates the probe stream)
                bus.delete_stream()
                return True
            finally:
                bus.close()

        _wait(ready, f"nats-server on {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (superuser ``akira``, trust on 127.0.0.1),
    holding one migrated database ``akira``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"postgresql://akira@127.0.0.1:{port}/akira"
        versions = sorted(os.listdir("/usr/lib/postgresql"), key=int)
        self.bin = Path("/usr/lib/postgresql") / versions[-1] / "bin"
        # the cluster belongs to the postgres user when we are root (PostgreSQL refuses root)
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        self.data = Path(tempfile.mkdtemp(prefix="akira-pg-", dir="/tmp"))
        if self.as_user:
            shutil.chown(self.data, "postgres", "postgres")

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(
                [*self.as_user, str(self.bin / "initdb"), "-D", str(self.data), "-U", "akira",
                 "-A", "trust", "--no-sync"],
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp"
        self._ctl("-l", str(self.data / "server.log"), "-o", options, "start")
        maintenance = psycopg.conninfo.make_conninfo(self.url, dbname="postgres")
        with psycopg.connect(maintenance, autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'akira'").fetchone():
                admin.execute("CREATE DATABASE akira")
        with psycopg.connect(self.url) as conn:
            migrate(conn)

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.data, ignore_errors=True)


class RaterProcess:
    """``akira worker``, the production rater, as its own process (so it can be SIGKILLed)."""

    def __init__(self, log: Path, env: dict[str, str]) -> None:
        # faulthandler: a rater killed by a fatal signal leaves its Python stacks in the log
        self.log = log
        self.env = os.environ | env | {"PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "admin.cli", "worker", "--consumer", "e2e-rater"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
