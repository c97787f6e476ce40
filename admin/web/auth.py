"""Who is logged in: the login form, logout and the guard every other page and API route has.

The session cookie holds only the user's id. The guard reads the user again on each request, so
disabling a user or changing a role takes effect at once, which an encrypted cookie on its own
could not do: it cannot be revoked before it expires.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.params import QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from admin.passwords import hash_password, verify_password
from admin.queries import query
from admin.web.resources import Database

SESSION_USER_ID = "user_id"
LOGIN_FAILED = "Wrong username or password."


class Role(StrEnum):
    ADMIN = "admin"  # everything, users included
    OPERATOR = "operator"  # day-to-day catalog changes
    VIEWER = "viewer"  # reads only


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role


@dataclass(frozen=True, slots=True)
class LoginForm:
    username: str
    password: str
    next: str = "/"


async def load_user(pool: AsyncConnectionPool, user_id: object) -> User | None:
    if not isinstance(user_id, int):
        return None
    async with pool.connection() as db, db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("web_user_by_id"), {"id": user_id})
        row = await cursor.fetchone()
    return None if row is None else User(row["id"], row["username"], Role(row["role"]))


async def requires_login(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Any role may read; the exception handler turns a refusal into a redirect or a 401."""
    user = await load_user(connection.app.state.pool, connection.session.get(SESSION_USER_ID))
    if user is None:
        connection.clear_session()
        raise NotAuthorizedException("login required")
    connection.state.user = user


def safe_next(target: str) -> str:
    """Only a path on this site: a crafted ?next= must not send a fresh login elsewhere."""
    # Browsers read "//host" and "/\host" as other sites.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


@cache
def _unknown_user_hash() -> str:
    """A hash to check unknown usernames against, so they take as long as wrong passwords."""
    return hash_password("no user has this password")


def _password_matches(password: str, encoded: str | None) -> bool:
    """Check even an unknown user's password, so that no one learns who exists by timing."""
    return verify_password(password, encoded or _unknown_user_hash()) and encoded is not None


@get("/login", include_in_schema=False)
async def login_page(next_path: Annotated[str, QueryParameter(name="next")] = "/") -> Template:
    return Template("login.html", context={"next": safe_next(next_path), "username": ""})


@post("/login", include_in_schema=False)
async def login(
    request: Request[Any, Any, State],
    db: Database,
    data: URLEncodedBody[LoginForm],
) -> Redirect | Template:
    async with db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("user_for_login"), {"username": data.username})
        row = await cursor.fetchone()
    encoded = row["password_hash"] if row else None
    # scrypt takes tens of milliseconds of CPU: off the event loop, other requests go on.
    if not await asyncio.to_thread(_password_matches, data.password, encoded) or row is None:
        context = {"next": safe_next(data.next), "username": data.username, "error": LOGIN_FAILED}
        return Template("login.html", context=context, status_code=400)
    await db.execute(query("record_login"), {"id": row["id"]})
    request.set_session({SESSION_USER_ID: row["id"]})
    return Redirect(path=safe_next(data.next), status_code=303)


@post("/logout", include_in_schema=False)  # under the pages' login guard
async def logout(request: Request[Any, Any, State]) -> Redirect:
    request.clear_session()
    return Redirect(path="/login", status_code=303)
