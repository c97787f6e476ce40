"""Tariffs and their rates: price lists, each trunk sells or buys at one (DESIGN §6).

Beyond the generic list, a tariff has a page of its own: its rates, a list scoped by
``tariff_id`` that pages, searches and swaps like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Template
from psycopg import AsyncConnection
from psycopg.rows import class_row

from admin.queries import query
from admin.services.tariffs import RATES as RATE_SERVICE
from admin.services.tariffs import TARIFFS as TARIFF_SERVICE
from admin.web.crud import Editable
from admin.web.listing import (
    COUNT_CAP,
    DEFAULT_PER_PAGE,
    Entity,
    Listing,
    Page,
    PageNumber,
    PerPage,
    Search,
    fetch_page,
)
from admin.web.resources import Database
from admin.web.table import Column, Kind
from admin.web.views import render_listing


@dataclass(frozen=True, slots=True)
class Tariff:
    id: int
    name: str
    currency: str
    description: str
    rate_count: int
    trunk_count: int  # originators and terminators priced by this tariff
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Rate:
    id: int
    prefix: str
    destination: str
    rate: str  # per minute, in the tariff's currency; exact decimal text, never a float
    initial_increment: int  # seconds
    next_increment: int  # seconds
    connect_fee: str  # exact decimal text
    effective_from: datetime
    effective_to: datetime | None


TARIFFS = Entity(
    slug="tariffs",
    label="Tariffs",
    row=Tariff,
    list_query="web_tariffs_list",
    search_hint="name or description",
    columns=(
        Column("name", "Name", link="/tariffs/{id}"),
        Column("currency", "Currency"),
        Column("rate_count", "Rates", Kind.NUMBER),
        Column("trunk_count", "Trunks", Kind.NUMBER),
        Column("description", "Description"),
        Column("created_at", "Created", Kind.DATETIME),
    ),
)

RATES = Entity(
    slug="rates",
    label="Rates",
    row=Rate,
    list_query="web_rates_list",
    count_cap=COUNT_CAP,
    search_hint="prefix (starts with) or destination",
    scope=("tariff_id",),
    columns=(
        Column("prefix", "Prefix", link="/rates/{id}"),
        Column("destination", "Destination"),
        Column("rate", "Rate / min", Kind.MONEY),
        Column("initial_increment", "Initial (s)", Kind.NUMBER),
        Column("next_increment", "Next (s)", Kind.NUMBER),
        Column("connect_fee", "Connect fee", Kind.MONEY),
        Column("effective_from", "From", Kind.DATETIME),
        Column("effective_to", "Until", Kind.DATETIME),
    ),
)


async def load_tariff(db: AsyncConnection, tariff_id: int) -> Tariff:
    async with db.cursor(row_factory=class_row(Tariff)) as cursor:
        await cursor.execute(query("web_tariff"), {"tariff_id": tariff_id})
        tariff = await cursor.fetchone()
    if tariff is None:
        raise NotFoundException(f"no tariff {tariff_id}")
    return tariff


@get("/tariffs/{tariff_id:int}", name="tariff-detail", include_in_schema=False)
async def tariff_page(
    request: Request[Any, Any, Any],
    db: Database,
    tariff_id: FromPath[int],
    search: Search = None,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> Template:
    """The tariff and a page of its rates."""
    tariff = await load_tariff(db, tariff_id)
    listing = Listing.from_request(RATES, {}, search, page, per_page)
    rates = await fetch_page(db, RATES, listing, scope={"tariff_id": tariff_id})
    return render_listing(
        request, RATES, listing, rates, template="tariff.html", extra={"tariff": tariff}
    )


@get(
    "/tariffs/{tariff_id:int}/rates",
    operation_id="list_tariff_rates",
    summary="List a tariff's rates",
    description=f"`q` searches {RATES.search_hint}. Money is exact decimal text.",
    tags=["Tariffs"],
)
async def tariff_rates(
    db: Database,
    tariff_id: FromPath[int],
    search: Search = None,
    page: PageNumber = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> Page[Rate]:
    await load_tariff(db, tariff_id)  # 404 rather than an empty page for a wrong id
    listing = Listing.from_request(RATES, {}, search, page, per_page)
    return await fetch_page(db, RATES, listing, scope={"tariff_id": tariff_id})


TARIFFS_EDITABLE = Editable(
    entity=TARIFFS,
    service=TARIFF_SERVICE,
    singular="tariff",
    fields=(),
    choices={"currency": "currency_codes"},
    detail=False,  # its page lists its rates (tariff_page)
)

RATES_EDITABLE = Editable(
    entity=RATES,
    service=RATE_SERVICE,
    singular="rate",
    fields=(
        Column("tariff", "Tariff", link="/tariffs/{tariff_id}"),
        Column("rate", "Rate / min", Kind.MONEY),
        Column("initial_increment", "Initial (s)", Kind.NUMBER),
        Column("next_increment", "Next (s)", Kind.NUMBER),
        Column("connect_fee", "Connect fee", Kind.MONEY),
        Column("minimum_duration", "Minimum (s)", Kind.NUMBER),
        Column("effective_from", "From", Kind.DATETIME),
        Column("effective_to", "Until", Kind.DATETIME),
    ),
    choices={"tariff_id": "tariff_choices"},
    parent=("tariff_id", "/tariffs/{}"),
)
