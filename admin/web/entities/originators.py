"""Originators: customer trunks, the calls we take in (DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass

from admin.web.listing import ENABLED_FILTER, Entity
from admin.web.table import Column, Kind


@dataclass(frozen=True, slots=True)
class Originator:
    id: int
    name: str
    company: str
    tariff_id: int
    tariff: str
    routing_plan: str | None
    tech_prefix: str
    devices: list[str]  # networks the originator's calls come from
    max_call_duration: int  # seconds
    enabled: bool


ORIGINATORS = Entity(
    slug="originators",
    label="Originators",
    row=Originator,
    list_query="web_originators_list",
    search_hint="name, company or device network",
    filters=(ENABLED_FILTER,),
    columns=(
        Column("name", "Name"),
        Column("company", "Company"),
        Column("tariff", "Tariff", link="/tariffs/{tariff_id}"),
        Column("routing_plan", "Routing plan"),
        Column("tech_prefix", "Tech prefix"),
        Column("devices", "Devices", Kind.LIST),
        Column("max_call_duration", "Max duration (s)", Kind.NUMBER),
        Column("enabled", "Enabled", Kind.BOOL),
    ),
)
