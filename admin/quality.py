"""Vendor quality for quality routing: the minute rollups of a recent window -> the quality
table every node's engine maps (kemi.quality; docs/engine.md "Quality routing").

Published beside the snapshot, never in it: a new table every minute costs no catalog publish.
The table's file goes to Redis under its digest (with an expiry) and the pointer moves in the
same transaction; each node's snapshot sync fetches it within about a second, and its workers
map it at their next look at the snapshot directory.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from redis import Redis, RedisError

from admin.queries import query
from kemi import contract, quality
from kemi.quality import Measured, QualityRow

# A table older than this many refresh intervals is ignored by the engine: a stopped job must
# not keep vendors demoted on old figures.
EXPIRES_AFTER_INTERVALS = 5


@dataclass(frozen=True, slots=True)
class QualityPublication:
    digest: str
    entries: int  # terminator x destination pairs with attempts in the window
    terminators: int
    since: str  # the window's first minute, ISO 8601
    computed_at: float
    expires_at: float


def window_start(now: datetime, window_minutes: int) -> datetime:
    """The first minute bucket of the window: the last ``window_minutes`` whole minutes plus
    the one in progress."""
    return now.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=window_minutes)


def measure(conn: psycopg.Connection, since: datetime) -> list[QualityRow]:
    rows = conn.execute(query("quality_by_terminator_destination"), {"since": since}).fetchall()
    return [
        QualityRow(terminator_id, prefix, Measured(attempts, answered, talk_ms, pdd_ms))
        for terminator_id, prefix, attempts, answered, talk_ms, pdd_ms in rows
    ]


def publish_quality(
    conn: psycopg.Connection,
    redis: Redis,
    *,
    window_minutes: int,
    interval_seconds: float,
    now: datetime | None = None,
) -> QualityPublication:
    """Compute the table from the rollups and make it the one in force."""
    now = now or datetime.now(UTC)
    since = window_start(now, window_minutes)
    with conn.transaction():
        rows = measure(conn, since)
    computed_at = now.timestamp()
    expires_at = computed_at + EXPIRES_AFTER_INTERVALS * max(interval_seconds, 60.0)
    data = b"".join(
        quality.encode(
            rows,
            computed_at=computed_at,
            window_seconds=int((now - since).total_seconds()),
            expires_at=expires_at,
        )
    )
    digest = hashlib.sha256(data).hexdigest()
    pipe = redis.pipeline(transaction=True)
    pipe.set(contract.quality_key(digest), zlib.compress(data, 6), ex=contract.QUALITY_KEEP_SECONDS)
    pipe.set(contract.QUALITY_POINTER, digest, ex=contract.QUALITY_KEEP_SECONDS)  # both go
    pipe.execute()
    return QualityPublication(
        digest=digest,
        entries=len(rows),
        terminators=len({row.terminator_id for row in rows}),
        since=since.isoformat(),
        computed_at=computed_at,
        expires_at=expires_at,
    )


def run_every(
    interval_seconds: float,
    publish_once: Callable[[], QualityPublication],
    log: Callable[[str], None],
    *,
    rounds: int | None = None,
) -> None:
    """Publish now, then at every interval (on the interval's grid, so a slow round does not
    drift the next); a failed round is logged and the next one retries."""
    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        try:
            publication = publish_once()
            log(
                f"akira quality: {publication.entries} entries of {publication.terminators} "
                f"terminators since {publication.since} ({publication.digest[:12]})"
            )
        except (psycopg.Error, RedisError, OSError) as exc:
            log(f"akira quality: publish failed, retrying next round: {type(exc).__name__}: {exc}")
        done += 1
        if rounds is not None and done >= rounds:
            return
        time.sleep(max(0.0, interval_seconds - (time.monotonic() - started)))
