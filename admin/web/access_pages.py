"""API tokens and login sessions, for admins: list, create (a token's text is shown once),
revoke; the live sessions, ended per user. Pages and API call what ``akira tokens`` and
``akira users logout`` call (admin/web/tokens.py, admin/services/users.py), so every change is
audited the same way.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

import psycopg
from litestar import Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.response import Redirect, Template
from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from admin.queries import query
from admin.services import NotFound, users
from admin.web import tokens
from admin.web.crud import FormData, RowId, actor, in_thread
from admin.web.permissions import (
    PERMISSION_OPT,
    TOKENS_MANAGE,
    USERS_MANAGE,
    require,
    role_names,
)
from admin.web.table import Column, Kind, render_rows

TOKEN_COLUMNS = (
    Column("id", "Id", Kind.NUMBER),
    Column("name", "Name"),
    Column("username", "Owner"),
    Column("role", "Role"),
    Column("state", "State"),
    Column("created_at", "Created", Kind.DATETIME),
    Column("expires_at", "Expires", Kind.DATETIME),
    Column("last_used_at", "Last used", Kind.DATETIME),
)
SESSION_COLUMNS = (
    Column("username", "User"),
    Column("role", "Role"),
    Column("sessions", "Sessions", Kind.NUMBER),
    Column("first_created_at", "Oldest login", Kind.DATETIME),
    Column("last_expires_at", "Last expiry", Kind.DATETIME),
)


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64, description="the token's owner")
    name: str = Field(min_length=1, max_length=100, description="what it is for")
    role: str | None = Field(None, description="at most the owner's role; empty: the owner's")
    days: int = Field(tokens.DEFAULT_DAYS, ge=1, le=tokens.MAX_DAYS, description="until expiry")


def _rows(conn: psycopg.Connection, name: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(query(name)).fetchall()


def _table(columns, rows) -> tuple[tuple[Column, ...], list]:
    return columns, render_rows(columns, [SimpleNamespace(**row) for row in rows])


async def _tokens_page(request: Request, status: int = 200, **extra: Any) -> Template:
    def work(conn):
        return tokens.listed(conn), _rows(conn, "token_owner_choices")

    listed, owners = await in_thread(request, work)
    context = {
        "table": _table(TOKEN_COLUMNS, listed), "rows": listed, "owners": owners,
        "roles": role_names(), **extra,
    }  # fmt: skip
    return Template("tokens.html", context=context, status_code=status)


@get("/tokens", name="tokens-page")
async def tokens_page(request: Request) -> Template:
    require(request.state.user, TOKENS_MANAGE)
    return await _tokens_page(request)


def _create(request: Request, wanted: TokenRequest) -> tuple[str, dict[str, Any]]:
    def work(conn):
        return tokens.create(
            conn, wanted.username, wanted.name, role=wanted.role or None, days=wanted.days,
            by=actor(request).username,
        )  # fmt: skip

    return work


@post("/tokens", name="tokens-create", opt={PERMISSION_OPT: TOKENS_MANAGE})
async def create_token_page(request: Request, data: FormData) -> Template:
    require(request.state.user, TOKENS_MANAGE)
    try:
        wanted = TokenRequest.model_validate(
            {k: v for k, v in data.items() if k in TokenRequest.model_fields}
        )
        text, record = await in_thread(request, _create(request, wanted))
    except (ValueError, tokens.TokenError) as refused:  # a pydantic error is a ValueError
        return await _tokens_page(request, status=400, error=str(refused), given=data)
    return await _tokens_page(request, status=201, created=text, record=record)


@post("/tokens/{token_id:int}/revoke", name="tokens-revoke", opt={PERMISSION_OPT: TOKENS_MANAGE})
async def revoke_token_page(request: Request, token_id: RowId) -> Redirect | Template:
    require(request.state.user, TOKENS_MANAGE)
    by = actor(request).username
    try:
        await in_thread(request, lambda conn: tokens.revoke(conn, token_id, by=by))
    except tokens.TokenError as refused:
        return await _tokens_page(request, status=404, error=str(refused))
    return Redirect(path="/tokens", status_code=303)


@get("/sessions", name="sessions-page")
async def sessions_page(request: Request) -> Template:
    require(request.state.user, USERS_MANAGE)
    rows = await in_thread(request, lambda conn: _rows(conn, "sessions_by_user"))
    context = {"table": _table(SESSION_COLUMNS, rows), "rows": rows}
    return Template("sessions.html", context=context)


def _end(request: Request, user_id: int):
    def work(conn):
        try:
            return users.end_sessions(conn, user_id, actor(request), disable=False)
        except NotFound as missing:
            raise NotFoundException(str(missing)) from None

    return work


@post("/users/{user_id:int}/logout", name="sessions-end", opt={PERMISSION_OPT: USERS_MANAGE})
async def end_sessions_page(request: Request, user_id: RowId) -> Redirect:
    require(request.state.user, USERS_MANAGE)
    await in_thread(request, _end(request, user_id))
    return Redirect(path="/sessions", status_code=303)


# The JSON API: the same, for scripts.

NOT_FOUND = {404: ResponseSpec(None, description="no such live token or user")}


class CreatedToken(BaseModel):
    token: Annotated[str, Field(description="the bearer token's text; shown only now")]
    id: int
    name: str
    user: str
    role: str
    expires_at: str


@get("/tokens", name="api-tokens", summary="API tokens (admins)")
async def list_tokens(request: Request) -> list[dict[str, Any]]:
    require(request.state.user, TOKENS_MANAGE)
    return await in_thread(request, tokens.listed)


@post(
    "/tokens", name="api-tokens-create", summary="Create an API token (its text shown once)",
    status_code=201, opt={PERMISSION_OPT: TOKENS_MANAGE},
)  # fmt: skip
async def create_token(request: Request, data: JSONBody[TokenRequest]) -> CreatedToken:
    require(request.state.user, TOKENS_MANAGE)
    try:
        text, record = await in_thread(request, _create(request, data))
    except tokens.TokenError as refused:
        raise ClientException(str(refused)) from None
    return CreatedToken(token=text, **record)


@post(
    "/tokens/{token_id:int}/revoke", name="api-tokens-revoke", summary="Revoke an API token",
    status_code=200, responses=NOT_FOUND, opt={PERMISSION_OPT: TOKENS_MANAGE},
)  # fmt: skip
async def revoke_token(request: Request, token_id: RowId) -> dict[str, Any]:
    require(request.state.user, TOKENS_MANAGE)
    by = actor(request).username
    try:
        return await in_thread(request, lambda conn: tokens.revoke(conn, token_id, by=by))
    except tokens.TokenError as refused:
        raise NotFoundException(str(refused)) from None


@get("/sessions", name="api-sessions", summary="Live login sessions per user (admins)")
async def list_sessions(request: Request) -> list[dict[str, Any]]:
    require(request.state.user, USERS_MANAGE)
    return await in_thread(request, lambda conn: _rows(conn, "sessions_by_user"))


@post(
    "/users/{user_id:int}/logout", name="api-sessions-end", status_code=200,
    summary="End every session of a user now", responses=NOT_FOUND,
    opt={PERMISSION_OPT: USERS_MANAGE},
)  # fmt: skip
async def end_sessions(request: Request, user_id: RowId) -> dict[str, int]:
    require(request.state.user, USERS_MANAGE)
    return {"sessions_ended": await in_thread(request, _end(request, user_id))}


PAGES = (tokens_page, create_token_page, revoke_token_page, sessions_page, end_sessions_page)
API = (list_tokens, create_token, revoke_token, list_sessions, end_sessions)
