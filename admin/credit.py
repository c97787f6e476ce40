"""Prepaid credit in Redis, from the ledger (docs/money.md "Credit control").

The engine reserves and settles calls in Redis (kemi.limits); PostgreSQL's ledger is the
truth. ``sync`` writes each prepaid account's available money (balance + credit limit) to
``akira:credit:{company}``, tagged with the newest ledger entry it includes so that a slower
writer's older value never replaces a newer one. The rater calls it after every batch, with
``settled`` for the calls whose charges that batch posted; the publisher and the ledger's
commands call it after their changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from redis import Redis
from redis.exceptions import ResponseError

from admin.queries import query
from kemi import limits
from kemi.rates import money_units

if TYPE_CHECKING:
    import psycopg


def _fcall(redis: Redis, function: str, *args: object) -> object:
    try:
        return redis.fcall(function, 0, *args)
    except ResponseError as exc:
        if "function not found" not in str(exc).lower():
            raise
        # no node has loaded the engine's library into this Redis yet
        redis.function_load(limits.LIBRARY, replace=True)
        return redis.fcall(function, 0, *args)


def sync(conn: psycopg.Connection, redis: Redis, company_ids: Iterable[int] | None = None) -> int:
    """Write the credit-controlled accounts' available money (balance + credit limit) to Redis:
    prepaid ones, and postpaid ones with a credit limit. How many were written."""
    ids = None if company_ids is None else sorted(set(company_ids))
    if ids == []:
        return 0
    rows = conn.execute(query("prepaid_credit"), {"company_ids": ids}).fetchall()
    for company_id, available, as_of in rows:
        _fcall(redis, "akira_credit_set", company_id, money_units(available), as_of)
    return len(rows)


def settled(redis: Redis, calls: Mapping[int, Iterable[str]]) -> None:
    """These calls' charges are posted (company -> Call-IDs): their reservations are done."""
    for company_id, call_ids in calls.items():
        members = sorted({limits.member(call_id) for call_id in call_ids})
        if members:
            _fcall(redis, "akira_credit_settled", company_id, *members)


def prepaid_companies(conn: psycopg.Connection, originator_ids: Iterable[int]) -> dict[int, int]:
    """originator -> its company, for the originators whose company is credit-controlled
    (``akira_credit_controlled`` in sql/schema.sql: prepaid, or postpaid with a credit limit)."""
    rows = conn.execute(
        query("companies_of_originators"), {"originator_ids": sorted(set(originator_ids))}
    ).fetchall()
    return {originator: company for originator, company, prepaid in rows if prepaid}
