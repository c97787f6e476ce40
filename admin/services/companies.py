"""Companies: the customers and vendors every trunk and account belongs to.

Billing, credit limit and thresholds are the account's (``akira account set``, finance); the
company form holds who the company is. Its currency cannot change once its ledger has entries:
the balance is the sum of entries in the account's currency, and old entries would drop out.
"""

from __future__ import annotations

from typing import Annotated

import psycopg
from pydantic import Field, StringConstraints

from admin.queries import query
from admin.services import Form, Service

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]


class CompanyForm(Form):
    name: Name = Field(title="Name")
    currency: Currency = Field(title="Currency", description="ISO 4217, e.g. USD")
    is_customer: bool = Field(False, title="Customer", description="sends us calls")
    is_vendor: bool = Field(False, title="Vendor", description="terminates our calls")
    enabled: bool = Field(True, title="Enabled")


def _currency_kept(conn: psycopg.Connection, before: dict, form: CompanyForm) -> dict[str, str]:
    if form.currency == before["currency"]:
        return {}
    entries = conn.execute(query("company_ledger_entries"), {"id": before["id"]}).fetchone()[0]
    if entries:
        return {"currency": f"the account has {entries} ledger entries in {before['currency']}"}
    return {}


COMPANIES = Service(
    entity="company",
    table="companies",
    form=CompanyForm,
    constraint_fields={
        "companies_name_key": ("name", "another company has this name"),
        "companies_currency_fkey": ("currency", "no such currency in the currencies table"),
    },
    check_update=_currency_kept,
)
