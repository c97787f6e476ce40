"""Companies: customers and vendors, each with its trunks and its account (DESIGN §4, §6)."""

from __future__ import annotations

from dataclasses import dataclass

from admin.services.companies import COMPANIES
from admin.web.crud import Child, Editable
from admin.web.listing import ENABLED_FILTER, Choice, ChoiceFilter, Entity
from admin.web.table import Column, Kind


@dataclass(frozen=True, slots=True)
class Company:
    id: int
    name: str
    currency: str
    is_customer: bool
    is_vendor: bool
    billing: str
    balance: str  # exact decimal text
    credit_limit: str
    originators: int
    terminators: int
    enabled: bool


ROLE_FILTER = ChoiceFilter(
    "role",
    "Role",
    (Choice("customer", "Customers", "customer"), Choice("vendor", "Vendors", "vendor")),
)

COMPANY_LIST = Entity(
    slug="companies",
    label="Companies",
    row=Company,
    list_query="web_companies_list",
    search_hint="name",
    filters=(ENABLED_FILTER, ROLE_FILTER),
    columns=(
        Column("name", "Name", link="/companies/{id}"),
        Column("currency", "Currency"),
        Column("is_customer", "Customer", Kind.BOOL),
        Column("is_vendor", "Vendor", Kind.BOOL),
        Column("billing", "Billing"),
        Column("balance", "Balance", Kind.MONEY),
        Column("credit_limit", "Credit limit", Kind.MONEY),
        Column("originators", "Originators", Kind.NUMBER),
        Column("terminators", "Terminators", Kind.NUMBER),
        Column("enabled", "Enabled", Kind.BOOL),
    ),
)

TRUNK_COLUMNS = (
    Column("name", "Name"),
    Column("tariff", "Tariff"),
    Column("enabled", "Enabled", Kind.BOOL),
)

COMPANIES_EDITABLE = Editable(
    entity=COMPANY_LIST,
    service=COMPANIES,
    singular="company",
    fields=(
        Column("currency", "Currency"),
        Column("is_customer", "Customer", Kind.BOOL),
        Column("is_vendor", "Vendor", Kind.BOOL),
        Column("billing", "Billing"),
        Column("credit_limit", "Credit limit", Kind.MONEY),
        Column("low_balance_threshold", "Low-balance alert below", Kind.MONEY),
        Column("enabled", "Enabled", Kind.BOOL),
        Column("created_at", "Created", Kind.DATETIME),
    ),
    choices={"currency": "currency_codes"},
    # top-ups and adjustments (accounts.py), notice periods (notice_periods.py)
    panel="_company_forms.html",
    children=(
        Child(
            "Account",
            "web_company_account",
            (
                Column("billing", "Billing"),
                Column("currency", "Currency"),
                Column("balance", "Balance", Kind.MONEY),
                Column("credit_limit", "Credit limit", Kind.MONEY),
                Column("available", "Available", Kind.MONEY),
            ),
        ),
        Child(
            "Ledger (latest 20)",
            "web_company_ledger",
            (
                Column("at", "When", Kind.DATETIME),
                Column("kind", "Kind"),
                Column("amount", "Amount", Kind.MONEY),
                Column("calls", "Calls", Kind.NUMBER),
                Column("note", "Note"),
                Column("created_by", "By"),
            ),
        ),
        Child(
            "Notice periods (days owed before a tariff change takes effect)",
            "web_company_notice_period",
            (
                Column("increase_days", "Increases", Kind.NUMBER),
                Column("closure_days", "Closures", Kind.NUMBER),
                Column("decrease_days", "Decreases", Kind.NUMBER),
                Column("new_days", "New codes", Kind.NUMBER),
                Column("updated_at", "Set", Kind.DATETIME),
            ),
        ),
        Child("Originators", "web_company_originators", TRUNK_COLUMNS),
        Child("Terminators", "web_company_terminators", TRUNK_COLUMNS),
        Child(
            "Recent calls (7 days)",
            "web_company_recent_cdrs",
            (
                Column("started_at", "Started", Kind.DATETIME),
                Column("originator", "Originator"),
                Column("called", "Called"),
                Column("sip_code", "Code", Kind.NUMBER),
                Column("duration", "Duration (s)", Kind.NUMBER),
                Column("price", "Price", Kind.MONEY),
            ),
        ),
    ),
)
