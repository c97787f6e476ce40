"""Terminators: vendor trunks, where calls are sent out (DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass

from admin.web.listing import ENABLED_FILTER, Entity
from admin.web.table import Column, Kind


@dataclass(frozen=True, slots=True)
class Terminator:
    id: int
    name: str
    company: str
    tariff_id: int
    tariff: str
    tech_prefix: str
    gateways: list[str]  # host:port/transport, in hunting order
    enabled: bool


TERMINATORS = Entity(
    slug="terminators",
    label="Terminators",
    row=Terminator,
    list_query="web_terminators_list",
    search_hint="name, company or gateway host",
    filters=(ENABLED_FILTER,),
    columns=(
        Column("name", "Name"),
        Column("company", "Company"),
        Column("tariff", "Tariff", link="/tariffs/{tariff_id}"),
        Column("gateways", "Gateways", Kind.LIST),
        Column("tech_prefix", "Tech prefix"),
        Column("enabled", "Enabled", Kind.BOOL),
    ),
)
