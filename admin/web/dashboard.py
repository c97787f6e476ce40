"""The home page: how big the catalog is and which routing snapshot the engines run.

The catalog counts come from PostgreSQL, the live version from Redis: when the two disagree
(changes since the last publish, a publish that failed), this is where an operator sees it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from litestar import Request, get
from litestar.response import Template
from psycopg.rows import class_row
from redis import Redis, RedisError

from admin.backlog import cdr_backlog
from admin.live_calls import node_calls
from admin.queries import query
from admin.settings import Settings
from admin.web.resources import Database, RedisClient, snapshot_version_or_none
from admin.web.table import Column, Kind, render_rows
from kemi.health import cluster_down

RECENT_PUBLICATIONS = 10
WINDOW_MINUTES = 15  # ASR and ACD over the calls that ended in this window


@dataclass(frozen=True, slots=True)
class CatalogCounts:
    originators: int
    terminators: int
    tariffs: int


@dataclass(frozen=True, slots=True)
class SnapshotPublication:
    version: int
    published_at: datetime
    published_by: str
    originators: int
    terminators: int
    tariffs: int
    rates: int
    duration_ms: int


PUBLICATION_COLUMNS = (
    Column("version", "Version", Kind.NUMBER),
    Column("published_at", "Published", Kind.DATETIME),
    Column("published_by", "By"),
    Column("originators", "Originators", Kind.NUMBER),
    Column("terminators", "Terminators", Kind.NUMBER),
    Column("tariffs", "Tariffs", Kind.NUMBER),
    Column("rates", "Rates", Kind.NUMBER),
    Column("duration_ms", "Took (ms)", Kind.NUMBER),
)


@dataclass(frozen=True, slots=True)
class Traffic:
    attempts: int
    calls: int
    answered: int
    talk_seconds: str  # exact decimal text
    last_minute: int

    @property
    def asr(self) -> str:
        return "—" if not self.calls else f"{100 * self.answered / self.calls:.1f} %"

    @property
    def acd(self) -> str:
        if not self.answered:
            return "—"
        return f"{Decimal(self.talk_seconds) / self.answered / 60:.2f} min"


@dataclass(frozen=True, slots=True)
class RejectCause:
    reason: str
    sip_code: int
    attempts: int


REJECT_COLUMNS = (
    Column("sip_code", "Code", Kind.NUMBER),
    Column("reason", "Reason"),
    Column("attempts", "Attempts", Kind.NUMBER),
)


@dataclass(frozen=True, slots=True)
class InProgress:
    """The calls up now on every node (their dialogs, over each node's RPC socket)."""

    calls: int
    answered: int
    started_last_minute: int  # not ended yet, so in no CDR: the CPS counts them too
    unreachable: tuple[str, ...]  # nodes that gave no list


def in_progress(client: Redis) -> InProgress:
    found = node_calls(client)
    recent = time.time() - 60
    return InProgress(
        calls=len(found.calls),
        answered=sum(1 for call in found.calls if call.answered_at is not None),
        started_last_minute=sum(1 for call in found.calls if call.started_at >= recent),
        unreachable=tuple(sorted(found.unreachable)),
    )


def _live(settings: Settings, redis_url: str) -> dict[str, Any]:
    """What takes a round trip beyond the page's pool: the CDR backlog, gateways down and the
    calls in progress."""
    backlog = cdr_backlog(settings)
    try:
        client = Redis.from_url(redis_url, socket_timeout=2)
        down = sorted({g for view in cluster_down(client).values() for g in view})
        calls = in_progress(client)
        client.close()
    except (RedisError, OSError):
        down, calls = None, None
    return {"backlog": backlog, "gateways_down": down, "in_progress": calls}


@get("/dashboard/live", name="dashboard-live", include_in_schema=False)
async def live(request: Request, db: Database) -> Template:
    """The traffic cards, refreshed by the page every 10 s."""
    params = {"minutes": WINDOW_MINUTES}
    async with db.cursor(row_factory=class_row(Traffic)) as cursor:
        await cursor.execute(query("web_traffic_window"), params)
        traffic = await cursor.fetchone()
    async with db.cursor(row_factory=class_row(RejectCause)) as cursor:
        await cursor.execute(query("web_rejects_by_cause"), params)
        causes = await cursor.fetchall()
    settings: Settings = request.app.state.settings
    extra = await asyncio.to_thread(_live, settings, settings.redis_url)
    calls = extra["in_progress"]
    started = traffic.last_minute + (calls.started_last_minute if calls else 0)
    context = {
        "cps": f"{started / 60:.2f}",
        "traffic": traffic,
        "window": WINDOW_MINUTES,
        "reject_columns": REJECT_COLUMNS,
        "rejects": render_rows(REJECT_COLUMNS, causes),
        **extra,
    }
    return Template("_dashboard_live.html", context=context)


@get("/", name="dashboard", include_in_schema=False)
async def dashboard(db: Database, redis: RedisClient) -> Template:
    async with db.cursor(row_factory=class_row(CatalogCounts)) as cursor:
        await cursor.execute(query("web_catalog_counts"))
        counts = await cursor.fetchone()
    async with db.cursor(row_factory=class_row(SnapshotPublication)) as cursor:
        await cursor.execute(query("web_recent_publications"), {"limit": RECENT_PUBLICATIONS})
        publications = await cursor.fetchall()
    version, redis_up = await snapshot_version_or_none(redis)
    return Template(
        "dashboard.html",
        context={
            "counts": counts,
            "snapshot_version": version,
            "redis_up": redis_up,
            "publication_columns": PUBLICATION_COLUMNS,
            "publications": render_rows(PUBLICATION_COLUMNS, publications),
        },
    )
