"""Saved rate-deck column mappings: how one vendor's decks are read (admin/ratedecks/layout.py),
kept per terminator or per tariff so the next deck from that vendor imports the same way."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from pydantic import Field, field_validator

from admin.ratedecks.layout import Layout, LayoutError
from admin.services import Form, RowRef, Service, ServiceError
from admin.services.companies import Name


class RateDeckMappingForm(Form):
    name: Name = Field(title="Name")
    terminator_id: RowRef | None = Field(None, title="Terminator", description="its decks")
    tariff_id: RowRef | None = Field(None, title="Tariff", description="or this tariff's decks")
    layout: dict[str, Any] = Field(title="Layout", description="columns and reading settings")

    @field_validator("layout")
    @classmethod
    def _a_layout(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            return Layout.from_json(value).as_json()
        except LayoutError as exc:
            raise ValueError(str(exc)) from None


def _params(form: RateDeckMappingForm, creating: bool) -> dict[str, Any]:
    if form.terminator_id is not None and form.tariff_id is not None:
        message = "a mapping belongs to one terminator or one tariff, not both"
        raise ServiceError(message, {"tariff_id": message})
    return {**form.model_dump(), "layout": Jsonb(form.layout)}


RATE_DECK_MAPPINGS = Service(
    entity="rate_deck_mapping",
    table="rate_deck_mappings",
    form=RateDeckMappingForm,
    constraint_fields={
        "rate_deck_mappings_name_key": ("name", "another mapping has this name"),
        "rate_deck_mappings_name_check": ("name", "1 to 100 characters, no blank at the ends"),
        "rate_deck_mappings_terminator_id_key": (
            "terminator_id", "this terminator has a mapping already"
        ),
        "rate_deck_mappings_tariff_id_key": ("tariff_id", "this tariff has a mapping already"),
        "rate_deck_mappings_terminator_id_fkey": ("terminator_id", "no such terminator"),
        "rate_deck_mappings_tariff_id_fkey": ("tariff_id", "no such tariff"),
    },
    to_params=_params,
)  # fmt: skip
