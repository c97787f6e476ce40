"""Trunks: originators (customer side) with their devices, terminators (vendor side) with their
gateways. The forms hold what a trunk is; its routing settings (limits, number rules, CLI
policy, header match) keep their one validator, admin/routing_settings.py (``akira originator
set``), and show on the detail page.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from admin.services import Form, RowRef, Service

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TechPrefix = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9#*]{0,16}$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Transport = Literal["udp", "tcp"]


class OriginatorForm(Form):
    name: Name = Field(title="Name")
    company_id: RowRef = Field(title="Company")
    tariff_id: RowRef = Field(title="Tariff", description="the customer's rates")
    routing_plan_id: RowRef | None = Field(None, title="Routing plan")
    tech_prefix: TechPrefix = Field(
        "", title="Tech prefix", description="digits the calls start with"
    )
    max_call_duration: int = Field(7200, ge=1, le=86400, title="Max call duration (s)")
    enabled: bool = Field(True, title="Enabled")


class DeviceForm(Form):
    originator_id: RowRef = Field(title="Originator")
    network: str = Field(title="Network", description="address or CIDR the calls come from")
    port: Port | None = Field(None, title="Port", description="empty: any")
    transport: Transport | None = Field(None, title="Transport", description="empty: any")
    description: str = Field("", max_length=200, title="Description")

    @field_validator("network")
    @classmethod
    def _network(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_network(value.strip(), strict=True))
        except ValueError as exc:
            raise ValueError(f"not an address or network: {exc}") from None


class TerminatorForm(Form):
    name: Name = Field(title="Name")
    company_id: RowRef = Field(title="Company")
    tariff_id: RowRef = Field(title="Tariff", description="the vendor's rates")
    tech_prefix: TechPrefix = Field("", title="Tech prefix", description="put before the number")
    enabled: bool = Field(True, title="Enabled")


class GatewayForm(Form):
    terminator_id: RowRef = Field(title="Terminator")
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.:-]{1,253}$")] = Field(
        title="Host", description="address or DNS name"
    )
    port: Port = Field(5060, title="Port")
    transport: Transport = Field("udp", title="Transport")
    position: int = Field(0, ge=0, le=1000, title="Position", description="tried in this order")


REFERENCES = {
    "company_id": "no such company",
    "tariff_id": "no such tariff",
    "routing_plan_id": "no such routing plan",
}

ORIGINATORS = Service(
    entity="originator",
    table="originators",
    form=OriginatorForm,
    constraint_fields={
        "originators_name_key": ("name", "another originator has this name"),
        **{f"originators_{f}_fkey": (f, m) for f, m in REFERENCES.items()},
    },
)
DEVICES = Service(
    entity="device",
    table="devices",
    form=DeviceForm,
    constraint_fields={
        "devices_originator_id_fkey": ("originator_id", "no such originator"),
        "devices_originator_id_network_port_transport_username_key": (
            "network", "this originator has this device already"
        ),
    },
)  # fmt: skip
TERMINATORS = Service(
    entity="terminator",
    table="terminators",
    form=TerminatorForm,
    constraint_fields={
        "terminators_name_key": ("name", "another terminator has this name"),
        **{
            f"terminators_{f}_fkey": (f, m) for f, m in REFERENCES.items() if f != "routing_plan_id"
        },
    },
)
GATEWAYS = Service(
    entity="gateway",
    table="terminator_gateways",
    form=GatewayForm,
    constraint_fields={
        "terminator_gateways_terminator_id_fkey": ("terminator_id", "no such terminator"),
        "terminator_gateways_terminator_id_host_port_transport_key": (
            "host", "this terminator has this gateway already"
        ),
    },
)  # fmt: skip
