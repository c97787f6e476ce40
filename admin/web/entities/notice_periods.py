"""A customer company's notice periods, on its page and in the JSON API.

The days owed before a change to its tariff takes effect, per kind of change; imports and
derivations are refused while they break them (admin/pricing/notices.py, docs/pricing.md).
Setting them runs ``notices.set_period``, the code ``akira notices set`` runs: one
transaction with one audit row. Reading is for every role; setting needs ``catalog.write``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from litestar import Request, get, post, put
from litestar.exceptions import ValidationException
from litestar.params import JSONBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK

from admin.pricing import notices
from admin.pricing.notices import Kind
from admin.services import ServiceError
from admin.web.crud import FormData, RowId, actor, detail_context, found
from admin.web.permissions import CATALOG_WRITE, needs


@dataclass(frozen=True, slots=True)
class NoticeDays:
    """Days per kind of change; a kind left out keeps its stored days (or the default)."""

    increase_days: int | None = None
    closure_days: int | None = None
    decrease_days: int | None = None
    new_days: int | None = None

    def by_kind(self) -> dict[Kind, int | None]:
        return {kind: getattr(self, f"{kind.value}_days") for kind in Kind}


def _set(conn: psycopg.Connection, company_id: int, days: NoticeDays, who) -> dict[str, Any]:
    company = notices.period_of(conn, company_id).company
    return notices.set_period(conn, company, days.by_kind(), who).as_json()


@get(
    "/companies/{company_id:int}/notice-period",
    operation_id="get_notice_period",
    summary="A company's notice periods: days owed before a tariff change takes effect",
    tags=["Companies"],
)
async def notice_period(request: Request, company_id: RowId) -> dict[str, Any]:
    period = await found(request, lambda conn: notices.period_of(conn, company_id))
    return period.as_json()


@put(
    "/companies/{company_id:int}/notice-period",
    operation_id="set_notice_period",
    summary="Set a company's notice periods (days from 0 to 365; a kind left out is kept)",
    tags=["Companies"],
    status_code=HTTP_200_OK,
    opt=needs(CATALOG_WRITE),
)
async def set_notice_period(
    request: Request, company_id: RowId, data: JSONBody[NoticeDays]
) -> dict[str, Any]:
    who = actor(request)
    try:
        return await found(request, lambda conn: _set(conn, company_id, data, who))
    except ServiceError as exc:
        raise ValidationException(str(exc)) from exc


@post(
    "/companies/{company_id:int}/notice-period",
    name="company-set-notice-period",
    include_in_schema=False,
    opt=needs(CATALOG_WRITE),
)
async def set_notice_period_page(
    request: Request, company_id: RowId, data: FormData
) -> Redirect | Template:
    """The company page's form: the same setting, then back to the page; a refusal comes
    back on the page with why, the input kept."""
    from admin.web.entities.companies import COMPANIES_EDITABLE

    who = actor(request)
    given = {kind: data.get(f"{kind.value}_days", "").strip() for kind in Kind}
    try:
        days = NoticeDays(**{f"{k.value}_days": _days(k, text) for k, text in given.items()})
        await found(request, lambda conn: _set(conn, company_id, days, who))
    except ServiceError as exc:
        page = COMPANIES_EDITABLE
        context = await found(request, lambda conn: detail_context(conn, page, company_id))
        context |= {"editable": page, "notice_error": str(exc), "notice_given": given}
        return Template("detail.html", context=context, status_code=400)
    return Redirect(path=f"/companies/{company_id}", status_code=303)


def _days(kind: Kind, text: str) -> int | None:
    if not text:
        return None  # kept
    if not text.isdigit() or len(text) > 3:
        raise ServiceError(f"{kind.value} days: {text!r} must be a whole number from 0 to 365")
    return int(text)
