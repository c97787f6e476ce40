"""Login throttling: a few wrong passwords per username, a few more per address, then 429.

Failures are rows of ``login_failures`` (PostgreSQL, like the sessions: the admin must work with
Redis down), counted over a sliding window whether the username exists or not, so a throttled
answer says nothing of who exists. Throttled attempts are not checked and not counted: while
throttled, a right password is refused too, and the wait does not grow. A right password
forgives its username's earlier failures, not its address's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from admin.queries import query

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
USERNAME_KEPT = 100  # characters of a tried username that are counted and logged
FAILURES_PER_USER = 5
FAILURES_PER_ADDRESS = 20


@dataclass(frozen=True, slots=True)
class Throttled:
    retry_after: int  # seconds


async def check(db: AsyncConnection, username: str, address: str) -> Throttled | None:
    """None when this attempt may go on; takes the username's lock until the transaction ends."""
    username = username[:USERNAME_KEPT]
    params = {"username": username, "address": address, "window": WINDOW_SECONDS}
    async with db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("login_serialize_user"), params)
        await cursor.execute(query("login_throttle"), params)
        counts = await cursor.fetchone()
    waits = []
    if counts["user_failures"] >= FAILURES_PER_USER:
        waits.append(counts["user_retry_after"])
    if counts["address_failures"] >= FAILURES_PER_ADDRESS:
        waits.append(counts["address_retry_after"])
    if not waits:
        return None
    retry_after = max(1, *waits)
    logger.warning(
        "login throttled for username %r from %s: retry in %d s", username, address, retry_after
    )
    return Throttled(retry_after)


async def record_failure(db: AsyncConnection, username: str, address: str) -> None:
    username = username[:USERNAME_KEPT]
    logger.warning("login failed for username %r from %s", username, address)
    await db.execute(query("login_failure_record"), {"username": username, "address": address})


async def forgive(db: AsyncConnection, username: str) -> None:
    await db.execute(query("login_failures_forget_user"), {"username": username})
