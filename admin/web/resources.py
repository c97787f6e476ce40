"""The admin's long-lived resources: the PostgreSQL pool and the Redis client.

They open in the application's lifespan, not at import, so tests and ``akira serve`` each get
their own and nothing connects before the event loop runs. PostgreSQL is required: without it no
one can even log in, and an unreachable database at start is nearly always a wrong
AKIRA_DATABASE_URL, so start-up fails at once with the reason. Redis only holds the engine's
snapshots: an operator may need the admin most while Redis is down, so the admin starts, logs a
warning and reports the outage in /healthz and on the dashboard.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.asyncio import Redis
from redis.exceptions import RedisError

from admin.settings import Settings
from kemi import contract

logger = logging.getLogger(__name__)

DATABASE_OPEN_TIMEOUT = 5.0  # seconds to fill the pool's first connection at start
POOL_MAX_SIZE = 10
REDIS_TIMEOUT = 2.0  # seconds; a page waits no longer than this on a stuck Redis


# What handlers declare to be given the request's connection and the Redis client.
Database = NamedDependency[AsyncConnection]
RedisClient = NamedDependency[Redis]


class StartupError(RuntimeError):
    """A resource the admin cannot run without does not answer at start."""


def database_target(url: str) -> str:
    """Where the database is, for messages: host, port and name, never the password."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host = info.get("host") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


@asynccontextmanager
async def database_pool(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    target = database_target(settings.database_url)
    try:
        # One plain connection first: its error tells why (refused, unknown database, auth),
        # where the pool would only time out.
        probe = await psycopg.AsyncConnection.connect(
            settings.database_url, connect_timeout=int(DATABASE_OPEN_TIMEOUT)
        )
        await probe.close()
    except psycopg.Error as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at {target} (AKIRA_DATABASE_URL): {exc}".strip()
        ) from exc
    pool = AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=POOL_MAX_SIZE,
        open=False,
        check=AsyncConnectionPool.check_connection,  # a restarted server costs no failed page
        name="akira-admin",
    )
    try:
        await pool.open(wait=True, timeout=DATABASE_OPEN_TIMEOUT)
    except PoolTimeout as exc:
        await pool.close()
        raise StartupError(f"PostgreSQL at {target} did not fill the pool: {exc}") from exc
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


@asynccontextmanager
async def redis_client(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    redis = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        decode_responses=True,
    )
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        logger.warning(
            "Redis at AKIRA_REDIS_URL does not answer (%s); the admin starts, and /healthz "
            "reports 503 until it does",
            exc,
        )
    app.state.redis = redis
    try:
        yield
    finally:
        await redis.aclose()


async def provide_db(state: State) -> AsyncIterator[AsyncConnection]:
    """One pooled connection per request: one transaction, committed when the handler returns."""
    pool: AsyncConnectionPool = state.pool
    async with pool.connection() as connection:
        yield connection


def provide_redis(state: State) -> Redis:
    return state.redis


async def snapshot_version(redis: Redis) -> int | None:
    """The live snapshot version the engines route with; None before the first publish."""
    version = await redis.get(contract.SNAPSHOT_POINTER)
    return int(version) if version is not None else None


async def snapshot_version_or_none(redis: Redis) -> tuple[int | None, bool]:
    """The version and whether Redis answered, for pages that show an outage, not an error."""
    try:
        return await snapshot_version(redis), True
    except (RedisError, OSError):
        return None, False
