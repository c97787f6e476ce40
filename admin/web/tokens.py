"""API tokens: ``Authorization: Bearer akira_<id>_<secret>`` for scripts and other systems.

Only the SHA-256 of the secret is stored (docs/decisions/0009-api-tokens.md): the secret is 32
random bytes, so a fast hash is as safe as a slow one and costs no CPU per request. The id in
the token finds the row; the digest is compared in constant time. A token acts with its own
role, made no larger than its owner's when it is created and cut to what the owner may still do
at each request. ``akira tokens create|list|revoke`` call the functions below, each writing its
audit row in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from admin.ledger import audit
from admin.queries import query
from admin.web.permissions import Role, actions_of, covers

TOKEN_PREFIX = "akira"
SECRET_BYTES = 32
DEFAULT_DAYS = 90
MAX_DAYS = 366
# token_urlsafe(32) is 43 characters of [A-Za-z0-9_-]; the id fits a bigint.
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([1-9][0-9]{{0,17}})_([A-Za-z0-9_-]{{43}})$")
_NO_SUCH_DIGEST = bytes(32)  # compared against when the id is unknown, to spend the same time


class TokenError(ValueError):
    """A token cannot be created or revoked as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid token lets its bearer do: its owner, and the actions of both roles."""

    token_id: int
    user_id: int
    username: str
    role: Role
    actions: frozenset[str]


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse(header: str) -> tuple[int, str] | None:
    """The token id and secret of an Authorization header's value; None when it is no token."""
    scheme, _, credentials = header.strip().partition(" ")
    match = _TOKEN.match(credentials.strip()) if scheme.lower() == "bearer" else None
    return None if match is None else (int(match.group(1)), match.group(2))


async def authenticate(pool: AsyncConnectionPool, header: str) -> Grant | None:
    """The grant of a live token; None for a malformed, unknown, expired or revoked one."""
    parsed = parse(header)
    if parsed is None:
        return None
    token_id, secret = parsed
    async with pool.connection() as db, db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("token_for_request"), {"id": token_id})
        row = await cursor.fetchone()
        stored = bytes(row["secret_sha256"]) if row else _NO_SUCH_DIGEST
        if not hmac.compare_digest(digest(secret), stored) or row is None:
            return None
        if row["expired"] or row["revoked"]:
            return None
        await cursor.execute(query("token_used"), {"id": token_id})
    role = Role(row["role"])
    actions = actions_of(role) & actions_of(Role(row["user_role"]))
    return Grant(token_id, row["user_id"], row["username"], role, actions)


def create(
    conn: psycopg.Connection,
    username: str,
    name: str,
    *,
    role: str | None,
    days: int,
    by: str,
) -> tuple[str, dict[str, Any]]:
    """A new token (its text, shown once) and its record; one transaction with its audit row."""
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"--days must be from 1 to {MAX_DAYS}: a token always expires")
    with conn.transaction():
        owner = conn.execute(query("access_user_by_name"), {"username": username}).fetchone()
        if owner is None or not owner[3]:
            raise TokenError(f"no enabled user {username!r}")
        owner_role = Role(owner[2])
        scope = owner_role if role is None else Role(role)
        if not covers(owner_role, scope):
            raise TokenError(
                f"a token of {username} ({owner_role}) cannot have the role {scope}: "
                "it may do nothing its owner may not"
            )
        secret = secrets.token_urlsafe(SECRET_BYTES)
        token_id, expires_at = conn.execute(
            query("token_insert"),
            {
                "name": name,
                "user_id": owner[0],
                "role": scope.value,
                "secret_sha256": digest(secret),
                "days": days,
            },
        ).fetchone()
        record = {
            "id": token_id,
            "name": name,
            "user": username,
            "role": scope.value,
            "expires_at": _iso(expires_at),
        }
        audit(conn, by, "api_token", token_id, "create", after=record)
    return f"{TOKEN_PREFIX}_{token_id}_{secret}", record


def listed(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(query("token_list")).fetchall()


def revoke(conn: psycopg.Connection, token_id: int, *, by: str) -> dict[str, Any]:
    with conn.transaction():
        row = conn.execute(query("token_revoke"), {"id": token_id}).fetchone()
        if row is None:
            raise TokenError(f"no live token {token_id} (unknown, or revoked already)")
        record = {"id": row[0], "name": row[1], "user": row[2], "role": row[3]}
        audit(conn, by, "api_token", token_id, "revoke", before=record)
    return record


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
