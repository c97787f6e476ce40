"""The home page: how big the catalog is and which routing snapshot the engines run.

The catalog counts come from PostgreSQL, the live version from Redis: when the two disagree
(changes since the last publish, a publish that failed), this is where an operator sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from litestar import get
from litestar.response import Template
from psycopg.rows import class_row

from admin.queries import query
from admin.web.resources import Database, RedisClient, snapshot_version_or_none
from admin.web.table import Column, Kind, render_rows

RECENT_PUBLICATIONS = 10


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
