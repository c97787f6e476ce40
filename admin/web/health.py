"""``GET /healthz`` for load balancers and monitoring: no login, no session, JSON only.

503 when PostgreSQL or Redis fails to answer now, so a balancer takes the process out of rotation
while it cannot serve; start-up failures never get this far (admin/web/resources.py). The CDR
backlog (admin/backlog.py: the bus's undelivered and unacknowledged relay batches, the age of the
oldest, this host's journal) is reported for monitoring; a bus that does not answer shows as
``cdr_bus: "error"`` without taking the admin out of rotation, since it can still serve.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from litestar import Response, get
from litestar.datastructures import State
from psycopg import Error as DatabaseError
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from redis.asyncio import Redis
from redis.exceptions import RedisError

from admin.backlog import cdr_backlog
from admin.queries import query
from admin.web.resources import snapshot_version

Status = Literal["ok", "error"]
DATABASE_TIMEOUT = 2.0  # seconds to get a pooled connection; longer is an outage


@dataclass(frozen=True, slots=True)
class Health:
    database: Status
    redis: Status
    snapshot_version: int | None  # live routing snapshot; None before the first publish
    cdr_bus: Status
    cdr_backlog: dict[str, Any]  # admin.backlog.cdr_backlog


async def _database_status(pool: AsyncConnectionPool) -> Status:
    try:
        async with pool.connection(timeout=DATABASE_TIMEOUT) as db:
            await db.execute(query("web_health_check"))
    except (DatabaseError, PoolTimeout, OSError):
        return "error"
    return "ok"


async def _redis_status(redis: Redis) -> tuple[Status, int | None]:
    try:
        await redis.ping()
        return "ok", await snapshot_version(redis)
    except (RedisError, OSError):
        return "error", None


@get("/healthz", tags=["Health"], operation_id="health", summary="Dependencies' health")
async def healthz(state: State) -> Response[Health]:
    database = await _database_status(state.pool)
    redis, version = await _redis_status(state.redis)
    backlog = await asyncio.to_thread(cdr_backlog, state.settings)  # the bus clients are sync
    health = Health(database, redis, version, backlog["status"], backlog)
    healthy = database == "ok" and redis == "ok"
    return Response(health, status_code=200 if healthy else 503)
