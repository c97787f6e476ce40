"""The entities of the admin, one module each; docs/admin.md has the checklist to add one.

``LISTED`` entities get a navigation link, a list page and a JSON list route, generically;
``EDITABLE`` ones their record pages and write routes too.
Routes an entity adds beyond that (a detail page, a nested list) are registered below.
"""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from admin.web.crud import Editable
from admin.web.entities import (
    accounts,
    audit,
    cdrs,
    companies,
    notice_periods,
    originators,
    routing_plans,
    tariffs,
    terminators,
    users,
)
from admin.web.listing import Entity

LISTED: tuple[Entity, ...] = (
    companies.COMPANY_LIST,
    originators.ORIGINATORS,
    originators.DEVICE_LIST,
    terminators.TERMINATORS,
    terminators.GATEWAY_LIST,
    tariffs.TARIFFS,
    routing_plans.ROUTING_PLAN_LIST,
    routing_plans.ROUTING_PLAN_ENTRY_LIST,
    cdrs.CDRS,
    audit.AUDIT_LOG,
    users.USER_LIST,
)
# Entities the admin writes: their new / detail / edit / delete / export pages and API routes
# (admin/web/crud.py), on top of their list.
EDITABLE: tuple[Editable, ...] = (
    companies.COMPANIES_EDITABLE,
    originators.ORIGINATORS_EDITABLE,
    originators.DEVICES_EDITABLE,
    terminators.TERMINATORS_EDITABLE,
    terminators.GATEWAYS_EDITABLE,
    tariffs.TARIFFS_EDITABLE,
    tariffs.RATES_EDITABLE,
    routing_plans.ROUTING_PLANS_EDITABLE,
    routing_plans.ROUTING_PLAN_ENTRIES_EDITABLE,
    users.USERS_EDITABLE,
)

EXTRA_PAGES: tuple[HTTPRouteHandler, ...] = (
    tariffs.tariff_page,
    accounts.post_entry_page,
    notice_periods.set_notice_period_page,
)
EXTRA_API: tuple[HTTPRouteHandler, ...] = (
    tariffs.tariff_rates,
    accounts.account,
    accounts.post_entry,
    notice_periods.notice_period,
    notice_periods.set_notice_period,
)
