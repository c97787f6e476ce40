"""Tariffs and their rates, one at a time (a deck of thousands comes through the rate-deck
importer or a CSV import of rates, which runs this same service for each row, all or nothing).

A rate is exact: ``Decimal`` per minute with at most 8 places, never a float. Its window
starts now unless given; correcting a rate in force is done by closing it (``effective_to``)
and adding the new one, so the history ``akira rerate`` prices from stays true.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import psycopg
from pydantic import AfterValidator, Field, StringConstraints

from admin.queries import query
from admin.services import Form, RowRef, Service
from admin.services.companies import Currency, Name


def _exact(places: int):
    def check(value: Decimal) -> Decimal:
        if not value.is_finite() or value < 0:
            raise ValueError("a non-negative decimal")
        if -value.as_tuple().exponent > places:
            raise ValueError(f"at most {places} decimal places")
        return value

    return AfterValidator(check)


Money = Annotated[Decimal, _exact(8)]
Seconds = Annotated[int, Field(ge=1, le=3600)]


class TariffForm(Form):
    name: Name = Field(title="Name")
    currency: Currency = Field(title="Currency", description="ISO 4217; its rates are in it")
    description: str = Field("", max_length=500, title="Description")


class RateForm(Form):
    tariff_id: RowRef = Field(title="Tariff")
    prefix: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")] = Field(title="Prefix")
    destination: str = Field("", max_length=200, title="Destination")
    rate: Money = Field(title="Rate per minute", description="exact, up to 8 decimals")
    initial_increment: Seconds = Field(1, title="Initial increment (s)")
    next_increment: Seconds = Field(1, title="Next increment (s)")
    connect_fee: Money = Field(Decimal(0), title="Connect fee")
    minimum_duration: int = Field(0, ge=0, le=3600, title="Minimum duration (s)")
    effective_from: datetime | None = Field(None, title="Effective from", description="empty: now")
    effective_to: datetime | None = Field(None, title="Effective until", description="empty: open")


def _currency_kept(conn: psycopg.Connection, before: dict, form: TariffForm) -> dict[str, str]:
    if form.currency == before["currency"]:
        return {}
    rates = conn.execute(query("tariff_rate_count"), {"id": before["id"]}).fetchone()[0]
    if rates:
        return {"currency": f"its {rates} rates are in {before['currency']}"}
    return {}


TARIFFS = Service(
    entity="tariff",
    table="tariffs",
    form=TariffForm,
    constraint_fields={
        "tariffs_name_key": ("name", "another tariff has this name"),
        "tariffs_currency_fkey": ("currency", "no such currency in the currencies table"),
    },
    check_update=_currency_kept,
)
RATES = Service(
    entity="rate",
    table="rates",
    form=RateForm,
    constraint_fields={
        "rates_tariff_id_fkey": ("tariff_id", "no such tariff"),
        "rates_tariff_id_prefix_effective_from_key": (
            "prefix", "this tariff has a rate for this prefix from this time already"
        ),
        "rates_effective_to_check": ("effective_to", "must be after effective from"),
    },
)  # fmt: skip
