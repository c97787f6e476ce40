"""Live calls: the page (refreshed by HTMX every few seconds), its drop button, and the API.

The list comes from every node's dialog table (admin.live_calls, the code of ``akira calls``),
so it is as fresh as the request. Viewing needs ``calls.view``, dropping ``calls.drop``
(admin/web/permissions.py); a drop is one audit row, entity ``live_call``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, PathParameter, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_502_BAD_GATEWAY
from redis import Redis

from admin import live_calls
from admin.settings import Settings
from admin.web.crud import actor
from admin.web.permissions import CALLS_DROP, CALLS_VIEW, needs

REFRESH_SECONDS = 5
Party = Annotated[
    str | None,
    QueryParameter(max_length=100, description="company id, or part of its or its trunk's name"),
]
Number = Annotated[
    str | None, QueryParameter(max_length=40, description="part of the calling or called number")
]
Node = Annotated[str | None, QueryParameter(max_length=100, description="one node's calls")]
CallRef = Annotated[
    str, PathParameter(max_length=200, description="node:entry:id, as the list gives it")
]
DropForm = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


@dataclass(frozen=True, slots=True)
class LiveCallList:
    calls: list[dict[str, Any]]
    unreachable: dict[str, str]  # node -> why it gave no list


def _clients(settings: Settings) -> tuple[psycopg.Connection, Redis]:
    conn = psycopg.connect(settings.database_url, autocommit=True)
    return conn, Redis.from_url(settings.redis_url, socket_timeout=2)


def _list(settings: Settings, chosen: live_calls.CallFilter) -> live_calls.NodeCalls:
    conn, redis = _clients(settings)
    with conn:
        try:
            return live_calls.list_calls(conn, redis, chosen)
        finally:
            redis.close()


def _drop(settings: Settings, call_ref: str, username: str, request_id: str) -> dict[str, Any]:
    conn, redis = _clients(settings)
    with conn:
        try:
            return live_calls.drop(conn, redis, call_ref, username, request_id).as_json()
        finally:
            redis.close()


async def _listed(request: Request, chosen: live_calls.CallFilter) -> live_calls.NodeCalls:
    return await asyncio.to_thread(_list, request.app.state.settings, chosen)


async def _dropped(request: Request, call_ref: str) -> dict[str, Any]:
    who = actor(request)
    try:
        return await asyncio.to_thread(
            _drop, request.app.state.settings, call_ref, who.username, who.request_id
        )
    except live_calls.LiveCallError as exc:
        if exc.missing:
            raise NotFoundException(str(exc)) from exc
        if exc.unanswered:
            raise HTTPException(str(exc), status_code=409) from exc
        raise HTTPException(str(exc), status_code=HTTP_502_BAD_GATEWAY) from exc


@get("/calls", name="live-calls", include_in_schema=False, opt=needs(CALLS_VIEW))
async def live_calls_page(
    request: Request,
    customer: Party = None,
    vendor: Party = None,
    number: Number = None,
    node: Node = None,
) -> Template:
    chosen = live_calls.CallFilter(customer, vendor, number, node)
    found = await _listed(request, chosen)
    context = {
        "calls": found.calls,
        "unreachable": found.unreachable,
        "chosen": chosen,
        "refresh": REFRESH_SECONDS,
        "query": request.url.query,
        "dropped": request.query_params.get("dropped"),
    }
    partial = request.headers.get("hx-request") == "true"
    return Template("_live_calls.html" if partial else "live_calls.html", context=context)


@post("/calls/drop", name="drop-live-call", include_in_schema=False, opt=needs(CALLS_DROP))
async def drop_page(request: Request, data: DropForm) -> Redirect:
    call_ref = data.get("call", "")
    await _dropped(request, call_ref)
    return Redirect(path=f"/calls?dropped={call_ref}", status_code=303)


@get(
    "/calls",
    operation_id="list_live_calls",
    summary="Calls in progress on every node (longest first), and nodes that did not answer",
    tags=["Live calls"],
    opt=needs(CALLS_VIEW),
)
async def live_calls_api(
    request: Request,
    customer: Party = None,
    vendor: Party = None,
    number: Number = None,
    node: Node = None,
) -> LiveCallList:
    found = await _listed(request, live_calls.CallFilter(customer, vendor, number, node))
    return LiveCallList([c.as_json() for c in found.calls], found.unreachable)


@post(
    "/calls/{call_ref:str}/drop",
    operation_id="drop_live_call",
    summary="End a call in progress: BYE to both sides; recorded in the audit log",
    tags=["Live calls"],
    opt=needs(CALLS_DROP),
    status_code=200,
    responses={
        409: ResponseSpec(
            data_container=dict[str, Any],
            description="The call is not answered yet: nothing to drop (the caller may cancel)",
            generate_examples=False,
        ),
        502: ResponseSpec(
            data_container=dict[str, Any],
            description="The call's node did not answer, or refused to end it",
            generate_examples=False,
        ),
    },
)
async def drop_api(request: Request, call_ref: CallRef) -> dict[str, Any]:
    return await _dropped(request, call_ref)


PAGES = (live_calls_page, drop_page)
API = (live_calls_api, drop_api)
