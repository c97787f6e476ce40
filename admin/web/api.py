"""The JSON API's generic list route, ``GET /api/v1/<slug>``, from the same declaration as the page.

No ``from __future__ import annotations`` here: the route's return type, ``Page[<row type>]``,
is made per entity at run time, and Litestar reads it from the annotations to write the
OpenAPI schema; string annotations could not name a type that only exists in a closure.
"""

from typing import Any

from litestar import get
from litestar.handlers import HTTPRouteHandler

from admin.web.listing import (
    DEFAULT_PER_PAGE,
    Entity,
    Listing,
    Page,
    PageNumber,
    PerPage,
    Search,
    declare_filters,
    fetch_page,
)
from admin.web.resources import Database

API_PREFIX = "/api/v1"


def list_endpoint(entity: Entity[Any]) -> HTTPRouteHandler:
    async def list_rows(
        db: Database,
        search: Search = None,
        page: PageNumber = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
        **chosen: str | None,
    ) -> Page[Any]:
        listing = Listing.from_request(entity, chosen, search, page, per_page)
        return await fetch_page(db, entity, listing)

    declare_filters(list_rows, entity)
    list_rows.__annotations__["return"] = Page[entity.row]  # type: ignore[name-defined]
    return get(
        f"/{entity.slug}",
        operation_id=f"list_{entity.slug}",
        summary=f"List {entity.label.lower()}",
        description=f"`q` searches {entity.search_hint}.",
        tags=[entity.label],
    )(list_rows)
