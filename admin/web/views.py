"""The generic list page, written once: every entity's list is this view with its declaration.

A browser gets the whole page; an HTMX request (search as you type, pager links) gets only the
``_listing.html`` fragment it swaps in. Both come from the same URL, so every state of a list
has an address that can be bookmarked, reloaded or shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template

from admin.web.listing import (
    DEFAULT_PER_PAGE,
    PER_PAGE_CHOICES,
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
from admin.web.table import render_rows

# Caches must not hand the fragment to a full page load of the same URL, or the reverse.
VARY_ON_HTMX = {"Vary": "HX-Request"}


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    """An HTMX swap wants a fragment; HTMX restoring history after a cache miss wants a page."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def listing_context(
    request: Request[Any, Any, Any], entity: Entity[Any], listing: Listing, page: Page[Any]
) -> dict[str, Any]:
    path = request.url.path
    return {
        "entity": entity,
        "listing": listing,
        "page": page,
        "columns": listing.shown(entity),
        "rows": render_rows(listing.shown(entity), page.items),
        "path": path,
        "listing_id": f"{entity.slug}-listing",
        "per_page_choices": sorted({*PER_PAGE_CHOICES, listing.per_page}),
        "previous_url": path + listing.query_string(page.page - 1) if page.page > 1 else None,
        "next_url": path + listing.query_string(page.page + 1) if page.page < page.pages else None,
        "sort_links": sort_links(path, entity, listing),
        "page_links": page_links(path, listing, page),
    }


def page_links(path: str, listing: Listing, page: Page[Any]) -> list[tuple[int, str] | None]:
    """Numbered pager links: the first, the last and two either side of the current page;
    None where pages are skipped."""
    wanted = {1, page.pages, *range(page.page - 2, page.page + 3)}
    numbers = sorted(n for n in wanted if 1 <= n <= page.pages)
    links: list[tuple[int, str] | None] = []
    for number in numbers:
        if links and links[-1] is not None and number > links[-1][0] + 1:
            links.append(None)
        links.append((number, path + listing.query_string(number)))
    return links


def sort_links(path: str, entity: Entity[Any], listing: Listing) -> dict[str, tuple[str, str]]:
    """Each column header's link: sort by it, or the other way when it is the sort already;
    with the mark of the current sort. Scoped lists (a tariff's rates) keep their order."""
    if entity.scope:
        return {}
    links = {}
    for column in entity.columns:
        name = column.attribute
        next_sort = f"-{name}" if listing.sort == name else name
        mark = {name: " ▲", f"-{name}": " ▼"}.get(listing.sort or "", "")
        links[name] = (path + replace(listing, sort=next_sort).query_string(1), mark)
    return links


def render_listing(
    request: Request[Any, Any, Any],
    entity: Entity[Any],
    listing: Listing,
    page: Page[Any],
    *,
    template: str = "list.html",
    extra: Mapping[str, Any] | None = None,
) -> Template:
    context = listing_context(request, entity, listing, page)
    if is_htmx(request):
        return Template("_listing.html", context=context, headers=VARY_ON_HTMX)
    return Template(template, context={**context, **(extra or {})}, headers=VARY_ON_HTMX)


def list_page(entity: Entity[Any]) -> HTTPRouteHandler:
    """The page route of one entity's list: ``GET /<slug>``."""

    async def list_view(
        request: Request[Any, Any, Any],
        db: Database,
        search: Search = None,
        page: PageNumber = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
        **chosen: str | None,
    ) -> Template:
        listing = Listing.from_request(entity, chosen, search, page, per_page)
        return render_listing(request, entity, listing, await fetch_page(db, entity, listing))

    declare_filters(list_view, entity)
    return get(f"/{entity.slug}", name=f"{entity.slug}-list", include_in_schema=False)(list_view)
