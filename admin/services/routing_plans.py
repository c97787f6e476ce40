"""Routing plans and their entries (which terminators a plan hunts, with priority and weight).

A plan's settings are checked by their one validator, admin/routing_settings.py (the same that
``akira plan set`` uses), so nothing the engine would refuse at publish is ever written.
Overrides and blocked prefixes stay with ``akira plan override`` and ``akira block``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import Field, field_validator

from admin.routing_settings import SETTINGS
from admin.services import Form, RowRef, Service
from admin.services.tariffs import Money
from admin.services.trunks import Name
from kemi.lcr import STRATEGIES

PLAN_SETTINGS = SETTINGS["routing_plans"]
Strategy = Literal[tuple(sorted(STRATEGIES))]  # the engine's strategies, a select in the form


class RoutingPlanForm(Form):
    name: Name = Field(title="Name")
    strategy: Strategy = Field("least_cost", title="Strategy")
    hunt_stop_codes: list[int] = Field(
        [404, 486, 487], title="Hunt-stop codes",
        description="vendor replies that end the hunt, comma separated",
    )  # fmt: skip
    allow_loss: bool = Field(False, title="Allow loss", description="margin protection off")
    min_margin: Money = Field(Decimal(0), title="Minimum margin", description="per minute")
    min_margin_percent: Decimal | None = Field(
        None, ge=0, le=100, decimal_places=4, title="Minimum margin (%)",
        description="of the customer's rate; empty: none",
    )  # fmt: skip
    max_attempts: int = Field(10, title="Max attempts", description="vendors tried per call")
    ring_timeout: int = Field(3, title="Ring timeout (s)", description="for a first reply")
    answer_timeout: int = Field(60, title="Answer timeout (s)", description="for the final one")
    # quality_then_cost's thresholds (docs/engine.md, Quality routing)
    quality_min_attempts: int = Field(
        20, title="Quality: min attempts", description="fewer in the window: not judged"
    )
    quality_min_asr: Decimal | None = Field(
        None, title="Quality: min ASR (%)", description="empty: not checked"
    )
    quality_min_acd: int | None = Field(
        None, title="Quality: min ACD (s)", description="empty: not checked"
    )
    quality_max_pdd: Decimal | None = Field(
        None, title="Quality: max PDD (s)", description="empty: not checked"
    )
    quality_drop: bool = Field(
        False, title="Quality: drop", description="a vendor under them is dropped, not put last"
    )

    @field_validator(
        "hunt_stop_codes", "min_margin_percent", "max_attempts", "ring_timeout",
        "answer_timeout", "quality_min_attempts", "quality_min_asr", "quality_min_acd",
        "quality_max_pdd", mode="before",
    )  # fmt: skip
    @classmethod
    def _setting(cls, value: Any, info) -> Any:
        if value == "" and info.field_name == "hunt_stop_codes":
            return []
        return PLAN_SETTINGS[info.field_name](value)  # a SettingError is a ValueError


class RoutingPlanEntryForm(Form):
    routing_plan_id: RowRef = Field(title="Routing plan")
    terminator_id: RowRef = Field(title="Terminator")
    priority: int = Field(100, ge=0, le=1_000_000, title="Priority", description="lower first")
    weight: int = Field(100, ge=0, le=1_000_000, title="Weight", description="share of calls")
    position: int = Field(0, ge=0, le=1_000_000, title="Position", description="static order")


ROUTING_PLANS = Service(
    entity="routing_plan",
    table="routing_plans",
    form=RoutingPlanForm,
    constraint_fields={"routing_plans_name_key": ("name", "another plan has this name")},
)
ROUTING_PLAN_ENTRIES = Service(
    entity="routing_plan_entry",
    table="routing_plan_entries",
    form=RoutingPlanEntryForm,
    constraint_fields={
        "routing_plan_entries_pkey": ("terminator_id", "this terminator is in the plan already"),
        "routing_plan_entries_routing_plan_id_fkey": ("routing_plan_id", "no such routing plan"),
        "routing_plan_entries_terminator_id_fkey": ("terminator_id", "no such terminator"),
    },
)
