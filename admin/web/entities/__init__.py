"""The entities of the admin, one module each; docs/admin.md has the checklist to add one.

``LISTED`` entities get a navigation link, a list page and a JSON list route, generically.
Routes an entity adds beyond that (a detail page, a nested list) are registered below.
"""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from admin.web.entities import accounts, originators, tariffs, terminators
from admin.web.listing import Entity

LISTED: tuple[Entity, ...] = (originators.ORIGINATORS, terminators.TERMINATORS, tariffs.TARIFFS)

EXTRA_PAGES: tuple[HTTPRouteHandler, ...] = (tariffs.tariff_page,)
EXTRA_API: tuple[HTTPRouteHandler, ...] = (
    tariffs.tariff_rates,
    accounts.account,
    accounts.post_entry,
)
