"""HTTP errors answered the way the asker can use them.

API clients get JSON; a browser that is not logged in is sent to the login page (303, with the
page it wanted as ``next``); an HTMX request gets ``HX-Redirect`` instead, since a redirect
followed inside XHR would paste the login page into a table; other page errors get a page.
PostgreSQL failing under a running admin (sessions, users and the catalog all live there) is a
503 saying so, in JSON or as a page, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ServiceUnavailableException
from litestar.response import Redirect, Template
from psycopg_pool import PoolTimeout

from admin.web.views import is_htmx

logger = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/schema", "/healthz")
DATABASE_DOWN = "PostgreSQL does not answer; try again in a moment"
# What a database outage raises: a refused or lost connection, a pool that found none in time.
DATABASE_OUTAGES: tuple[type[Exception], ...] = (psycopg.OperationalError, PoolTimeout)


def wants_json(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith(JSON_PREFIXES)


def login_url(request: Request[Any, Any, Any]) -> str:
    """The login page, then back to the page the user was on (for HTMX: the browser's page)."""
    url = urlsplit(request.headers.get("hx-current-url", "/")) if is_htmx(request) else request.url
    wanted = url.path + (f"?{url.query}" if url.query else "")
    return "/login?" + urlencode({"next": wanted or "/"})


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if wants_json(request):
        return Response(
            {"status_code": exc.status_code, "detail": exc.detail}
            | ({"extra": exc.extra} if getattr(exc, "extra", None) else {}),
            status_code=exc.status_code,
            media_type=MediaType.JSON,
            headers=exc.headers,
        )
    if isinstance(exc, NotAuthorizedException):
        if is_htmx(request):
            redirect = {"HX-Redirect": login_url(request)}
            return Response("", status_code=exc.status_code, headers=redirect)
        return Redirect(path=login_url(request), status_code=303)
    context = {"status_code": exc.status_code, "detail": exc.detail}
    return Template("error.html", context=context, status_code=exc.status_code)


def handle_database_outage(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.error("PostgreSQL failed under %s %s: %s", request.method, request.url.path, exc)
    outage = ServiceUnavailableException(DATABASE_DOWN, headers={"Retry-After": "10"})
    return handle_http_exception(request, outage)
