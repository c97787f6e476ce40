"""Routing plans: how an originator's calls hunt terminators (DESIGN §5), and their entries."""

from __future__ import annotations

from dataclasses import dataclass

from admin.services.routing_plans import ROUTING_PLAN_ENTRIES, ROUTING_PLANS
from admin.web.crud import Child, Editable
from admin.web.listing import Choice, ChoiceFilter, Entity
from admin.web.table import Column, Kind
from kemi.lcr import STRATEGIES


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    id: int
    name: str
    strategy: str
    hunt_stop_codes: list[int]
    allow_loss: bool
    min_margin: str  # per minute, exact (text)
    max_attempts: int
    entry_count: int
    originator_count: int


STRATEGY_FILTER = ChoiceFilter(
    "strategy", "Strategy", tuple(Choice(s, s.replace("_", " "), s) for s in sorted(STRATEGIES))
)

ROUTING_PLAN_LIST = Entity(
    slug="routing_plans",
    label="Routing plans",
    row=RoutingPlan,
    list_query="web_routing_plans_list",
    search_hint="name",
    filters=(STRATEGY_FILTER,),
    columns=(
        Column("name", "Name", link="/routing_plans/{id}"),
        Column("strategy", "Strategy"),
        Column("hunt_stop_codes", "Hunt-stop codes", Kind.LIST),
        Column("allow_loss", "Allow loss", Kind.BOOL),
        Column("min_margin", "Min margin", Kind.MONEY),
        Column("max_attempts", "Max attempts", Kind.NUMBER),
        Column("entry_count", "Terminators", Kind.NUMBER),
        Column("originator_count", "Originators", Kind.NUMBER),
    ),
)


@dataclass(frozen=True, slots=True)
class RoutingPlanEntry:
    id: int
    routing_plan_id: int
    routing_plan: str
    terminator_id: int
    terminator: str
    priority: int
    weight: int
    position: int


ENTRY_COLUMNS = (
    Column("priority", "Priority", Kind.NUMBER),
    Column("weight", "Weight", Kind.NUMBER),
    Column("position", "Position", Kind.NUMBER),
)

ROUTING_PLAN_ENTRY_LIST = Entity(
    nav=False,  # listed on its parent's page
    slug="routing_plan_entries",
    label="Plan entries",
    row=RoutingPlanEntry,
    list_query="web_routing_plan_entries_list",
    search_hint="plan or terminator",
    columns=(
        Column("routing_plan", "Routing plan", link="/routing_plans/{routing_plan_id}"),
        Column("terminator", "Terminator", link="/terminators/{terminator_id}"),
        *ENTRY_COLUMNS,
    ),
)

ROUTING_PLANS_EDITABLE = Editable(
    entity=ROUTING_PLAN_LIST,
    service=ROUTING_PLANS,
    singular="routing plan",
    fields=(
        Column("strategy", "Strategy"),
        Column("hunt_stop_codes", "Hunt-stop codes", Kind.LIST),
        Column("allow_loss", "Allow loss", Kind.BOOL),
        Column("min_margin", "Min margin per minute", Kind.MONEY),
        Column("min_margin_percent", "Min margin (%)", Kind.NUMBER),
        Column("max_attempts", "Max attempts", Kind.NUMBER),
        Column("ring_timeout", "Ring timeout (s)", Kind.NUMBER),
        Column("answer_timeout", "Answer timeout (s)", Kind.NUMBER),
        Column("quality_min_attempts", "Quality: min attempts", Kind.NUMBER),
        Column("quality_min_asr", "Quality: min ASR (%)", Kind.NUMBER),
        Column("quality_min_acd", "Quality: min ACD (s)", Kind.NUMBER),
        Column("quality_max_pdd", "Quality: max PDD (s)", Kind.NUMBER),
        Column("quality_drop", "Quality: drop", Kind.BOOL),
    ),
    children=(
        Child(
            "Terminators",
            "web_routing_plan_entries",
            (
                Column("terminator", "Terminator", link="/routing_plan_entries/{id}"),
                *ENTRY_COLUMNS,
                Column("enabled", "Enabled", Kind.BOOL),
            ),
        ),
        Child(  # set with `akira plan override`
            "Overrides",
            "web_routing_plan_overrides",
            (Column("prefix", "Prefix"), Column("terminators", "Terminators", Kind.LIST)),
        ),
        Child(  # set with `akira block --plan`
            "Blocked prefixes",
            "web_routing_plan_blocks",
            (Column("prefix", "Prefix"), Column("reason", "Reason")),
        ),
        Child(
            "Originators",
            "web_routing_plan_originators",
            (
                Column("name", "Name", link="/originators/{id}"),
                Column("company", "Company"),
                Column("enabled", "Enabled", Kind.BOOL),
            ),
        ),
    ),
    new_child=("routing_plan_entries", "routing_plan_id", "Add a terminator"),
)

ROUTING_PLAN_ENTRIES_EDITABLE = Editable(
    entity=ROUTING_PLAN_ENTRY_LIST,
    service=ROUTING_PLAN_ENTRIES,
    singular="plan entry",
    fields=(
        Column("routing_plan", "Routing plan", link="/routing_plans/{routing_plan_id}"),
        Column("terminator", "Terminator", link="/terminators/{terminator_id}"),
        *ENTRY_COLUMNS,
    ),
    choices={"routing_plan_id": "routing_plan_choices", "terminator_id": "terminator_choices"},
    parent=("routing_plan_id", "/routing_plans/{}"),
)
