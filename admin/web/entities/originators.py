"""Originators: customer trunks, the calls we take in (DESIGN §6)."""

from __future__ import annotations

from dataclasses import dataclass

from admin.services.trunks import DEVICES
from admin.services.trunks import ORIGINATORS as ORIGINATOR_SERVICE
from admin.web.crud import Child, Editable
from admin.web.entities.trunk_parts import RECENT_CDRS, ROUTING_SETTINGS
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
        Column("name", "Name", link="/originators/{id}"),
        Column("company", "Company"),
        Column("tariff", "Tariff", link="/tariffs/{tariff_id}"),
        Column("routing_plan", "Routing plan"),
        Column("tech_prefix", "Tech prefix"),
        Column("devices", "Devices", Kind.LIST),
        Column("max_call_duration", "Max duration (s)", Kind.NUMBER),
        Column("enabled", "Enabled", Kind.BOOL),
    ),
)


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    network: str
    originator_id: int
    originator: str
    port: int | None
    transport: str | None
    description: str
    digest: bool  # has digest credentials (akira device credentials)


DEVICE_COLUMNS = (
    Column("network", "Network", link="/devices/{id}"),
    Column("port", "Port", Kind.NUMBER),
    Column("transport", "Transport"),
    Column("description", "Description"),
    Column("digest", "Digest auth", Kind.BOOL),
)

DEVICE_LIST = Entity(
    nav=False,  # listed on its parent's page
    slug="devices",
    label="Devices",
    row=Device,
    list_query="web_devices_list",
    search_hint="network, originator or description",
    columns=(
        Column("originator", "Originator", link="/originators/{originator_id}"),
        *DEVICE_COLUMNS,
    ),
)

ORIGINATORS_EDITABLE = Editable(
    entity=ORIGINATORS,
    service=ORIGINATOR_SERVICE,
    singular="originator",
    fields=(
        Column("company", "Company", link="/companies/{company_id}"),
        Column("tariff", "Tariff", link="/tariffs/{tariff_id}"),
        Column("routing_plan", "Routing plan"),
        Column("tech_prefix", "Tech prefix"),
        Column("max_call_duration", "Max call duration (s)", Kind.NUMBER),
        Column("enabled", "Enabled", Kind.BOOL),
        *ROUTING_SETTINGS,
        Column("cli_policy", "CLI policy"),
        Column("match_header", "Match header"),
        Column("match_value", "Match value"),
    ),
    choices={
        "company_id": "company_choices",
        "tariff_id": "tariff_choices",
        "routing_plan_id": "routing_plan_choices",
    },
    children=(Child("Devices", "web_originator_devices", DEVICE_COLUMNS), RECENT_CDRS),
    new_child=("devices", "originator_id", "Add a device"),
)

DEVICES_EDITABLE = Editable(
    entity=DEVICE_LIST,
    service=DEVICES,
    singular="device",
    title="network",
    fields=(
        Column("originator", "Originator", link="/originators/{originator_id}"),
        Column("port", "Port", Kind.NUMBER),
        Column("transport", "Transport"),
        Column("description", "Description"),
        Column("username", "Digest username"),
    ),
    choices={"originator_id": "originator_choices"},
)
