"""Terminators: vendor trunks, where calls are sent out (DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass

from admin.services.trunks import GATEWAYS
from admin.services.trunks import TERMINATORS as TERMINATOR_SERVICE
from admin.web.crud import Child, Editable
from admin.web.entities.trunk_parts import RECENT_CDRS, ROUTING_SETTINGS
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
        Column("name", "Name", link="/terminators/{id}"),
        Column("company", "Company"),
        Column("tariff", "Tariff", link="/tariffs/{tariff_id}"),
        Column("gateways", "Gateways", Kind.LIST),
        Column("tech_prefix", "Tech prefix"),
        Column("enabled", "Enabled", Kind.BOOL),
    ),
)


@dataclass(frozen=True, slots=True)
class Gateway:
    id: int
    host: str
    port: int
    transport: str
    position: int
    terminator_id: int
    terminator: str


GATEWAY_COLUMNS = (
    Column("host", "Host", link="/gateways/{id}"),
    Column("port", "Port", Kind.NUMBER),
    Column("transport", "Transport"),
    Column("position", "Position", Kind.NUMBER),
)

GATEWAY_LIST = Entity(
    nav=False,  # listed on its parent's page
    slug="gateways",
    label="Gateways",
    row=Gateway,
    list_query="web_gateways_list",
    search_hint="host or terminator",
    columns=(
        Column("terminator", "Terminator", link="/terminators/{terminator_id}"),
        *GATEWAY_COLUMNS,
    ),
)

TERMINATORS_EDITABLE = Editable(
    entity=TERMINATORS,
    service=TERMINATOR_SERVICE,
    singular="terminator",
    fields=(
        Column("company", "Company", link="/companies/{company_id}"),
        Column("tariff", "Tariff", link="/tariffs/{tariff_id}"),
        Column("tech_prefix", "Tech prefix"),
        Column("enabled", "Enabled", Kind.BOOL),
        *ROUTING_SETTINGS,
    ),
    choices={"company_id": "company_choices", "tariff_id": "tariff_choices"},
    children=(Child("Gateways", "web_terminator_gateways", GATEWAY_COLUMNS), RECENT_CDRS),
    new_child=("gateways", "terminator_id", "Add a gateway"),
)

GATEWAYS_EDITABLE = Editable(
    entity=GATEWAY_LIST,
    service=GATEWAYS,
    singular="gateway",
    fields=(
        Column("terminator", "Terminator", link="/terminators/{terminator_id}"),
        Column("host", "Host"),
        Column("port", "Port", Kind.NUMBER),
        Column("transport", "Transport"),
        Column("position", "Position", Kind.NUMBER),
    ),
    choices={"terminator_id": "terminator_choices"},
)
