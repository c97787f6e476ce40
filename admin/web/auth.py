"""Who is asking, and may they: the login form, logout and the guard of every other route.

A request is authenticated by its server-side session (pages and API) or, on the API only, by
an API token in ``Authorization: Bearer`` (admin/web/tokens.py). The guard reads the user again
on each request, so disabling a user or changing a role takes effect at once, and then checks
the action the route declares (admin/web/permissions.py): one check for pages and API alike.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
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
from admin.web import throttle, tokens
from admin.web.permissions import READ, Role, action_for, actions_of, needs, require
from admin.web.resources import Database
from admin.web.sessions import SESSION_USER_ID, start_session

__all__ = ["Role", "User", "requires_login"]

API_PATHS = "/api/"
LOGIN_FAILED = "Wrong username or password."
LOGIN_THROTTLED = "Too many failed logins. Try again in {minutes} min."
TOKEN_REFUSED = "invalid, expired or revoked API token"
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="akira"'}


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: Role
    actions: frozenset[str]  # what this user, or this token of theirs, may do
    token_id: int | None = None  # set when an API token authenticated the request


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
    if row is None:
        return None
    role = Role(row["role"])
    return User(row["id"], row["username"], role, actions_of(role))


async def authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> User:
    """The user of a token (API only) or of the session; refused (401) otherwise.

    A request that sends a token is judged by it alone: a bad token is a 401 even when a
    session cookie rides along, so a script never silently acts as whoever used the browser.
    """
    pool: AsyncConnectionPool = connection.app.state.pool
    on_api = connection.url.path.startswith(API_PATHS)
    header = connection.headers.get("authorization")
    if header is not None and on_api:
        grant = await tokens.authenticate(pool, header)
        if grant is None:
            raise NotAuthorizedException(TOKEN_REFUSED, headers=BEARER_CHALLENGE)
        return User(grant.user_id, grant.username, grant.role, grant.actions, grant.token_id)
    user = await load_user(pool, connection.session.get(SESSION_USER_ID))
    if user is None:
        connection.clear_session()
        raise NotAuthorizedException("login required", headers=BEARER_CHALLENGE if on_api else None)
    return user


async def requires_login(
    connection: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler
) -> None:
    """Authenticate, then check the route's declared action; 401 or 403 (admin/web/errors.py)."""
    user = await authenticate(connection)
    connection.state.user = user
    require(user, action_for(route_handler.opt, connection.scope.get("method", "GET")))


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


def client_address(request: Request[Any, Any, Any]) -> str:
    """The peer's address; behind a proxy, uvicorn's --proxy-headers makes it the client's."""
    return request.client.host if request.client else "unknown"


def _login_form(data: LoginForm, error: str, status: int, **headers: str) -> Template:
    context = {"next": safe_next(data.next), "username": data.username, "error": error}
    return Template("login.html", context=context, status_code=status, headers=headers)


@get("/login", include_in_schema=False)
async def login_page(next_path: Annotated[str, QueryParameter(name="next")] = "/") -> Template:
    return Template("login.html", context={"next": safe_next(next_path), "username": ""})


@post("/login", include_in_schema=False)
async def login(
    request: Request[Any, Any, State],
    db: Database,
    data: URLEncodedBody[LoginForm],
) -> Redirect | Template:
    address = client_address(request)
    throttled = await throttle.check(db, data.username, address)
    if throttled is not None:
        minutes = math.ceil(throttled.retry_after / 60)
        return _login_form(
            data,
            LOGIN_THROTTLED.format(minutes=minutes),
            429,
            **{"Retry-After": str(throttled.retry_after)},
        )
    async with db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("user_for_login"), {"username": data.username})
        row = await cursor.fetchone()
    encoded = row["password_hash"] if row else None
    # scrypt takes tens of milliseconds of CPU: off the event loop, other requests go on.
    if not await asyncio.to_thread(_password_matches, data.password, encoded) or row is None:
        await throttle.record_failure(db, data.username, address)
        return _login_form(data, LOGIN_FAILED, 400)
    await throttle.forgive(db, data.username)
    await db.execute(query("record_login"), {"id": row["id"]})
    start_session(request, row["id"])
    return Redirect(path=safe_next(data.next), status_code=303)


@post("/logout", include_in_schema=False, opt=needs(READ))  # any logged-in role
async def logout(request: Request[Any, Any, State]) -> Redirect:
    request.clear_session()  # the session backend deletes its row
    return Redirect(path="/login", status_code=303)
