"""The snapshot on every page: its live version and age, whether the catalog changed since
(admin/staleness.py), and a one-click publish for those who may.

Pages load the status as an HTMX fragment every 30 s (``base.html``), so a change made in
another tab, by the CLI or by a colleague shows without a reload. Publishing runs the CLI's
``admin.publisher.publish`` in a worker thread on connections of its own.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from litestar import Request, get, post
from litestar.response import Template
from redis import Redis, RedisError

from admin.publisher import PublishError, publish
from admin.settings import Settings
from admin.staleness import Staleness, staleness
from admin.web.permissions import PUBLISH, require
from admin.web.resources import RedisClient, snapshot_version_or_none
from admin.web.views import is_htmx

NODE_WAIT_SECONDS = 10.0  # a click should not hang for the CLI's 30 s on a lagging node


def _state(settings: Settings) -> Staleness:
    with psycopg.connect(settings.database_url) as conn:
        return staleness(conn)


async def _fragment(
    request: Request, redis: RedisClient, status: int = 200, **extra: Any
) -> Template:
    """The status fragment; a refusal keeps its code for other clients, but HTMX swaps only
    2xx answers, so the one shown in the page (with the error in it) is a 200."""
    settings: Settings = request.app.state.settings
    state = await asyncio.to_thread(_state, settings)
    live, redis_up = await snapshot_version_or_none(redis)
    age = None if state.published_at is None else time.time() - state.published_at.timestamp()
    context = {"state": state, "live": live, "redis_up": redis_up, "age": age, **extra}
    return Template(
        "_snapshot_status.html", context=context, status_code=200 if is_htmx(request) else status
    )


@get("/snapshot", name="snapshot-status", include_in_schema=False)
async def snapshot_status(request: Request, redis: RedisClient) -> Template:
    return await _fragment(request, redis)


@post("/snapshot/publish", name="snapshot-publish", include_in_schema=False)
async def publish_now(request: Request, redis: RedisClient) -> Template:
    require(request.state.user, PUBLISH)
    settings: Settings = request.app.state.settings
    username = request.state.user.username

    def run() -> int:
        with psycopg.connect(settings.database_url) as conn:
            client = Redis.from_url(settings.redis_url, socket_timeout=5)
            try:
                return publish(
                    conn,
                    client,
                    published_by=username,
                    snapshot_dir=settings.snapshot_dir,
                    node_wait=NODE_WAIT_SECONDS,
                ).version
            finally:
                client.close()

    try:
        version = await asyncio.to_thread(run)
    except PublishError as exc:
        return await _fragment(request, redis, error=f"Not published: {exc}", status=400)
    except (RedisError, OSError) as exc:
        return await _fragment(request, redis, error=f"Not published: Redis: {exc}", status=503)
    return await _fragment(request, redis, published=version)
