"""Is the live routing snapshot behind the catalog? (the catalog's revision, sql/schema.sql)

Every statement that changes a table a snapshot is compiled from bumps ``catalog_state``; each
publication records the revision it compiled. The admin shows the difference on every page,
``akira publish --if-stale`` publishes only then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from admin.queries import query


@dataclass(frozen=True, slots=True)
class Staleness:
    revision: int  # the catalog's
    changed_at: datetime
    version: int | None  # the last publication, None before the first
    published_at: datetime | None
    published_by: str | None
    published_revision: int  # -1 before the first

    @property
    def stale(self) -> bool:
        return self.revision > self.published_revision


def staleness(conn: psycopg.Connection) -> Staleness:
    return Staleness(*conn.execute(query("snapshot_staleness")).fetchone())
