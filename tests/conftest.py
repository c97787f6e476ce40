"""Fixtures shared by every test layer.

Integration and end-to-end tests use the real PostgreSQL and Redis (never mocks): each test
gets a fresh database copied from a migrated template, and a Redis database cleaned of Akira's
keys. When a service does not answer, those tests fail with the reason; they are never skipped.

Environment: AKIRA_TEST_DATABASE_URL (a maintenance database URL, default
postgresql://akira:akira@127.0.0.1:5432/postgres), AKIRA_TEST_REDIS_URL (default
redis://127.0.0.1:6379/15) and AKIRA_TEST_NATS_URL (default nats://127.0.0.1:4222, a
JetStream server; each test gets a stream of its own). scripts/test.sh sets them. Under
pytest-xdist each worker gets a Redis database of its own (gw0 the configured one, gwN the
one N + 4 below it, keeping clear of the benchmarks' 12-14) and, in tests/e2e/ports.py,
ports of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from redis import Redis

from admin.migrate import migrate
from kemi import contract
from kemi.bus import CdrBus, JetStreamBus, RedisStreamBus

MAINTENANCE_URL = os.environ.get(
    "AKIRA_TEST_DATABASE_URL", "postgresql://akira:akira@127.0.0.1:5432/postgres"
)
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def _worker_redis_url(url: str) -> str:
    if not WORKER:
        return url
    base, _, db = url.rpartition("/")
    return f"{base}/{int(db or 0) - WORKER - 4}"


NATS_URL = os.environ.get("AKIRA_TEST_NATS_URL", "nats://127.0.0.1:4222")
REDIS_URL = _worker_redis_url(os.environ.get("AKIRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))


def database_url_for(name: str) -> str:
    return psycopg.conninfo.make_conninfo(MAINTENANCE_URL, dbname=name)


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(MAINTENANCE_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL does not answer at AKIRA_TEST_DATABASE_URL={MAINTENANCE_URL}: {exc}"
        )


def create_database(name: str, template: str | None = None) -> None:
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """A migrated database that every test's database is copied from."""
    name = f"akira_test_template_{os.getpid()}"
    create_database(name)
    with psycopg.connect(database_url_for(name)) as conn:
        migrate(conn)
        conn.commit()
        stop_background_workers(conn)
    close_to_connections(name)
    yield name
    drop_database(name)


def stop_background_workers(conn: psycopg.Connection) -> None:
    """TimescaleDB's scheduler connects to every database that allows connections, and
    ``CREATE DATABASE ... TEMPLATE`` fails while one is ("being accessed by other users"):
    stop its workers here (the function's schema moved in TimescaleDB 2.12)."""
    found = conn.execute(
        "SELECT format('%I.%I', n.nspname, p.proname) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.proname = 'stop_background_workers'"
        " AND n.nspname IN ('_timescaledb_functions', '_timescaledb_internal')"
        " ORDER BY n.nspname = '_timescaledb_functions' DESC LIMIT 1"
    ).fetchone()
    if found:
        try:
            conn.execute(sql.SQL("SELECT {}()").format(sql.SQL(found[0])))
            conn.commit()
        except psycopg.errors.InsufficientPrivilege:  # not the owner: ended below instead
            conn.rollback()


def close_to_connections(name: str) -> None:
    """No new session (a restarted scheduler, say) may open on the template; any still open
    is ended. Copies of it are made all the same; it is dropped WITH (FORCE)."""
    with _admin() as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
        )
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    name = f"akira_test_{uuid.uuid4().hex[:12]}"
    create_database(name, template=template_database)
    yield database_url_for(name)
    drop_database(name)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """The test's own session, autocommit: every write a test makes is visible to the code
    under test at once (wrap several in ``conn.transaction()`` to make them one)."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def autocommit_conn(database_url: str) -> Iterator[psycopg.Connection]:
    """A second session, as the rater or the web app have in production: what it writes is
    visible to ``conn`` only once committed."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def clean_redis(client: Redis) -> None:
    """Remove Akira's keys but the version counter: engines in flight must see versions rise."""
    keys = [k for k in client.scan_iter("akira:*") if k != contract.SNAPSHOT_SEQ.encode()]
    if keys:
        client.delete(*keys)


@pytest.fixture
def redis_client() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"Redis does not answer at AKIRA_TEST_REDIS_URL={REDIS_URL}: {exc}")
    clean_redis(client)
    yield client
    client.close()


@pytest.fixture(params=["redis", "nats"])
def cdr_bus(request, redis_client) -> Iterator[CdrBus]:
    """Each CDR bus in turn: the Redis stream in the test database, or a JetStream stream of
    this test's own on the real NATS server (redelivery after 1 s instead of 15)."""
    if request.param == "redis":
        yield RedisStreamBus(redis_client, consumer="test-rater")
        return
    name = f"T{uuid.uuid4().hex[:12].upper()}"
    bus = JetStreamBus(NATS_URL, stream=name, subject=f"test.{name}", redeliver_seconds=1.0)
    try:
        bus.setup()
    except Exception as exc:
        pytest.fail(f"NATS JetStream does not answer at AKIRA_TEST_NATS_URL={NATS_URL}: {exc}")
    yield bus
    bus.delete_stream()
    bus.close()
