"""Security headers on every response, and the API's security as the OpenAPI schema states it.

The pages load only this site's files (the stylesheet and htmx from /static/, no inline script
or style), so the Content-Security-Policy allows nothing else and no framing. Pages and API
answers may hold what only a logged-in user may see: no cache keeps them. Static files may be
cached. The headers are added as the response starts (an app ``before_send`` hook), so error
pages, redirects and 404s get them too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.types import Message, Scope

from admin.web.sessions import SESSION_COOKIE

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",  # frame-ancestors for browsers that predate it
}
CACHEABLE_PREFIXES = ("/static/",)


async def add_security_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in HEADERS.items():
        headers[name] = value
    if not scope.get("path", "").startswith(CACHEABLE_PREFIXES):
        headers["cache-control"] = "no-store"


# The API's two ways in, for the OpenAPI schema: an API token, or the browser's session.
BEARER = "apiToken"
SESSION = "sessionCookie"
SECURITY_SCHEMES = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="akira_<id>_<secret>",
            description="An API token from `akira tokens create`; requests skip CSRF.",
        ),
        SESSION: SecurityScheme(
            type="apiKey",
            name=SESSION_COOKIE,
            security_scheme_in="cookie",
            description="The admin's login session; unsafe requests carry the CSRF token "
            "in the x-csrftoken header.",
        ),
    }
)
API_SECURITY: list[SecurityRequirement] = [{BEARER: []}, {SESSION: []}]
REFUSALS = {
    401: ResponseSpec(
        data_container=dict[str, Any],
        description="No valid session or API token: invalid, expired, revoked or missing",
        generate_examples=False,
    ),
    403: ResponseSpec(
        data_container=dict[str, Any],
        description="The role may not do this (or a session's request lacks its CSRF token)",
        generate_examples=False,
    ),
}


NOT_FOUND = {
    404: ResponseSpec(
        data_container=dict[str, Any],
        description="No row with this id",
        generate_examples=False,
    )
}


def documented_refusals(handlers: Iterable[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """The API's handlers, each saying in the schema that it may answer 401 and 403, and a
    route naming a row in its path that it may answer 404."""
    result = []
    for handler in handlers:
        by_id = any("{" in path for path in handler.paths)
        handler.responses = {
            **REFUSALS,
            **(NOT_FOUND if by_id else {}),
            **(handler.responses or {}),
        }
        result.append(handler)
    return result
