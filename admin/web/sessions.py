"""Server-side sessions in PostgreSQL and CSRF protection (decisions 0004 and 0010).

The session cookie holds a random id; the session itself is a row of ``web_sessions`` keyed by
the id's SHA-256, with its user's id beside it, so logout deletes the row and ``akira users
disable`` / ``akira users logout`` delete every row of a user at once. PostgreSQL, not Redis:
the admin must keep working while Redis (the engines' snapshots) is down, and it cannot work
without PostgreSQL anyway. Anonymous requests store nothing: no row per visit of /login.

CSRF is a signed double-submit cookie that every unsafe request carrying the session cookie must
echo in a form field or the ``X-CSRFToken`` header. A request without the session cookie (an API
token's, or an anonymous one that the login guard refuses) skips it: a browser cannot be made to
send credentials it does not attach by itself. The login form, the one unsafe route open to
anonymous requests, always needs it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders, State
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Empty, Message, Receive, Scope, ScopeSession, Send
from litestar.utils.dataclass import extract_dataclass_items
from psycopg_pool import AsyncConnectionPool

from admin.queries import query
from admin.settings import Settings

logger = logging.getLogger(__name__)

SESSION_COOKIE = "akira_session"
SESSION_MAX_AGE = 12 * 3600  # one shift without a request; then log in again
SESSION_STORE = "sessions"
SESSION_USER_ID = "user_id"
FRESH_SESSION = "fresh_session"  # connection state: give this login a new session id
CSRF_COOKIE = "akira_csrf"
CSRF_HEADER = "x-csrftoken"
CSRF_ALWAYS = ("/login",)  # unsafe routes open to anonymous requests
NOT_SESSIONED = ["^/static/", "^/healthz$", "^/schema"]


@dataclass(frozen=True, slots=True)
class Keys:
    session: bytes  # HMAC key of the session ids as stored
    csrf: str  # HMAC key of the CSRF tokens


def derive_keys(secret_key: str) -> Keys:
    """One key per purpose from the one secret: leaking a CSRF token says nothing of the other.

    Without AKIRA_SECRET_KEY a random key serves this process only: fine for a try-out, but every
    restart logs everyone out and two processes cannot read each other's sessions.
    """
    if not secret_key:
        logger.warning(
            "AKIRA_SECRET_KEY is empty: using a random key for this process; sessions will not "
            "survive a restart nor be shared between processes"
        )
        secret_key = secrets.token_urlsafe(32)
    root = secret_key.encode()
    return Keys(
        session=hmac.new(root, b"akira session id", hashlib.sha256).digest(),
        csrf=hmac.new(root, b"akira csrf token", hashlib.sha256).hexdigest(),
    )


def _seconds(expires_in: int | timedelta | None) -> int:
    if expires_in is None:
        return SESSION_MAX_AGE
    return int(expires_in.total_seconds()) if isinstance(expires_in, timedelta) else expires_in


class PostgresSessionStore(Store):
    """Litestar's store interface on the ``web_sessions`` table, through the app's pool.

    The pool opens in the lifespan, after this store is made: it is looked up in the app's state
    at each call. Rows are keyed by the id's HMAC under AKIRA_SECRET_KEY: neither a copy of the
    table nor another key opens a session. Values are the session backend's JSON; its
    ``user_id`` is copied to a column so a user's sessions can all be ended at once.
    """

    def __init__(self, state: State, key: bytes) -> None:
        self._state = state
        self._key = key

    def _digest(self, session_id: str) -> bytes:
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()

    @property
    def _pool(self) -> AsyncConnectionPool:
        return self._state.pool

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None):
        data = value.encode() if isinstance(value, str) else value
        try:
            user_id = json.loads(data).get(SESSION_USER_ID)
        except (ValueError, AttributeError):
            user_id = None
        params = {
            "id_digest": self._digest(key),
            "user_id": user_id if isinstance(user_id, int) else None,
            "data": data,
            "seconds": _seconds(expires_in),
        }
        async with self._pool.connection() as db:
            await db.execute(query("session_set"), params)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        async with self._pool.connection() as db:
            row = await (
                await db.execute(query("session_get"), {"id_digest": self._digest(key)})
            ).fetchone()
            if row is not None and renew_for:
                params = {"id_digest": self._digest(key), "seconds": _seconds(renew_for)}
                await db.execute(query("session_renew"), params)
        return None if row is None else bytes(row[0])

    async def delete(self, key: str) -> None:
        async with self._pool.connection() as db:
            await db.execute(query("session_delete"), {"id_digest": self._digest(key)})

    async def delete_all(self) -> None:
        async with self._pool.connection() as db:
            await db.execute(query("session_delete_all"))

    async def delete_expired(self) -> None:
        async with self._pool.connection() as db:
            await db.execute(query("session_delete_expired"))

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        async with self._pool.connection() as db:
            cursor = await db.execute(query("session_expires_in"), {"id_digest": self._digest(key)})
            row = await cursor.fetchone()
        return None if row is None else int(row[0])


class RevocableSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side backend, less two habits of it.

    It would store every anonymous visit's empty session (one row per hit of /login); here an
    empty session stores nothing. And it would keep the session id a visitor arrived with through
    the login; here a login gets a new id, so an id planted before it (session fixation) is dead.
    """

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        store = self.config.get_store_from_app(connection.scope["app"])
        headers = MutableScopeHeaders.from_message(message)
        cookie_params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )
        arrived_with = connection.cookies.get(self.config.key)
        if arrived_with == "null":
            arrived_with = None
        if scope_session is Empty or not scope_session:
            if arrived_with:
                await self.delete(arrived_with, store=store)
                cookie = Cookie(value="null", key=self.config.key, expires=0, **cookie_params)
                headers.add("Set-Cookie", cookie.to_header(header=""))
            return
        session_id = arrived_with
        if session_id is None or getattr(connection.state, FRESH_SESSION, False):
            if session_id is not None:
                await self.delete(session_id, store=store)
            if isinstance(store, PostgresSessionStore):
                await store.delete_expired()  # a login is rare enough to sweep on
            session_id = self.generate_session_id()
        await self.set(session_id, self.serialize_data(scope_session, connection.scope), store)
        cookie = Cookie(value=session_id, key=self.config.key, **cookie_params)
        headers.add("Set-Cookie", cookie.to_header(header=""))


@dataclass
class RevocableSessionConfig(ServerSideSessionConfig):
    _backend_class = RevocableSessionBackend


def session_config(settings: Settings) -> RevocableSessionConfig:
    return RevocableSessionConfig(
        key=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        store=SESSION_STORE,
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
        exclude=NOT_SESSIONED,
    )


def start_session(connection: ASGIConnection[Any, Any, Any, Any], user_id: int) -> None:
    """Log this connection in as ``user_id``, under a session id never seen before."""
    connection.set_session({SESSION_USER_ID: user_id})
    setattr(connection.state, FRESH_SESSION, True)


def has_session_cookie(scope: Scope) -> bool:
    value = ASGIConnection(scope).cookies.get(SESSION_COOKIE)
    return bool(value) and value != "null"


class SessionCSRFMiddleware(CSRFMiddleware):
    """Litestar's CSRF check, for the requests a browser could have been tricked into sending."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] not in self.config.safe_methods
            and scope["path"] not in CSRF_ALWAYS
            and not has_session_cookie(scope)
        ):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def csrf_config(settings: Settings, keys: Keys) -> CSRFConfig:
    return CSRFConfig(
        secret=keys.csrf,
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_secure=settings.secure_cookies,
        cookie_httponly=True,  # pages carry the token; scripts need not read the cookie
        cookie_samesite="lax",
        exclude=["^/static/", "^/healthz$"],
    )


def csrf_middleware(settings: Settings, keys: Keys) -> DefineMiddleware:
    return DefineMiddleware(SessionCSRFMiddleware, config=csrf_config(settings, keys))
