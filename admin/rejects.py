"""CDR events the rater could not rate (``cdr_rejects``), and ``akira cdr retry``.

An event is rejected, never dropped, when it cannot be rated: malformed, a format this rater
does not read, a currency the database does not know. Once the cause is fixed (the currency
added, the rater upgraded), a retry rates the events again in one transaction: those that
now rate are stored and charged exactly as the rater would (the same COPY and merge, so a
CDR already stored is not counted twice), the others stay with the new reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from redis import Redis

from admin.cdr_rating import InvalidEvent, rate_event
from admin.queries import query
from admin.rater import Rater


@dataclass(frozen=True, slots=True)
class RetryResult:
    retried: int  # rejects tried
    rated: int  # of those, rated now and removed from the rejects
    written: int  # new CDRs (a rated event already stored is not written again)
    still_rejected: int


def listed(conn: psycopg.Connection, limit: int = 100) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(query("cdr_rejects_listed"), {"limit": limit}).fetchall()


def retry(conn: psycopg.Connection, redis: Redis, ids: list[int] | None = None) -> RetryResult:
    """Rate the rejects (``ids``, or all) again; needs an autocommit connection, as the rater."""
    rater = Rater(conn=conn, redis=redis, consumer="retry", log=lambda message: None)
    rows, rated, failing = [], [], []
    with conn.transaction():
        rejects = conn.execute(query("cdr_rejects_for_retry"), {"ids": ids}).fetchall()
        precisions = rater.precisions()
        for reject_id, payload in rejects:
            try:
                rows.append(rate_event(payload, precisions))
                rated.append(reject_id)
            except InvalidEvent as exc:
                failing.append({"id": reject_id, "error": str(exc)})
        written = rater.store(rows)
        conn.execute(query("delete_cdr_rejects"), {"ids": rated})
        with conn.cursor() as cursor:
            cursor.executemany(query("cdr_reject_still_failing"), failing)
    rater.settle(rows)
    return RetryResult(len(rejects), len(rated), written, len(failing))
