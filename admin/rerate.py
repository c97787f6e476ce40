"""``akira rerate``: re-price stored CDRs after a rate correction, and post the difference.

The history of rates stays in PostgreSQL (the rates table's effective windows; the snapshot
may drop rows that ended), so a CDR is re-priced with the rate in force at its call's start in
the tariff it was rated with, by the same money rules as the rater (kemi.money). A CDR whose
price changes is rewritten with its new terms, and each company's ledger gets one
``call_charge`` entry for the sum of its differences. It is idempotent: a second run over the
same window finds nothing to change and posts nothing. Vendor costs are re-priced the same way
(vendors have no ledger yet). One transaction for the window: all or nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from admin.queries import query
from kemi.money import call_cost

if TYPE_CHECKING:
    import psycopg


TERM_NAMES = ("prefix", "rate", "initial", "next", "fee", "minimum")


@dataclass
class RerateResult:
    checked: int = 0
    repriced: int = 0  # CDRs whose customer price or vendor cost changed
    no_rate: int = 0  # sides with no rate in force at the call's start any more: left as they were
    posted: dict[int, Decimal] = field(default_factory=dict)  # company -> ledger amount


def _price(row: dict[str, Any], side: str, precision: int) -> tuple[int, Decimal] | None:
    if row[f"{side}_rate"] is None:
        return None
    return call_cost(
        answered=True,
        duration=row["duration"],
        rate=row[f"{side}_rate"],
        initial_increment=row[f"{side}_initial"],
        next_increment=row[f"{side}_next"],
        connect_fee=row[f"{side}_fee"],
        precision=precision,
        minimum_duration=row[f"{side}_minimum"],
    )


def rerate(
    conn: psycopg.Connection,
    since: datetime,
    until: datetime,
    *,
    company_id: int | None,
    username: str,
    progress: Callable[[int], None] = lambda done: None,
) -> RerateResult:
    """Re-price the answered CDRs whose call started in [since, until), in the caller's
    transaction."""
    from psycopg.rows import dict_row

    precisions = dict(conn.execute(query("currency_precisions")).fetchall())
    result = RerateResult()
    differences: dict[tuple[int, str], list[Decimal]] = defaultdict(list)
    parameters = {"since": since, "until": until, "company_id": company_id}
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(query("rerate_candidates"), parameters).fetchall()
    for row in rows:
        result.checked += 1
        if result.checked % 10_000 == 0:
            progress(result.checked)
        precision = precisions[row["currency"]]
        key = {k: row[k] for k in ("call_id", "attempt", "started_at")}
        changed = False
        for side, column, statement, old in (
            ("c", "customer", "rerate_customer_side", row["customer_price"]),
            ("v", "vendor", "rerate_vendor_side", row["vendor_cost"]),
        ):
            priced = _price(row, side, precision)
            if priced is None:
                result.no_rate += 1
                continue
            billed, price = priced
            if price == old:
                continue
            changed = True
            terms = {name: row[f"{side}_{name}"] for name in TERM_NAMES}
            conn.execute(query(statement), key | terms | {"billed": billed, "price": price})
            if column == "customer":
                differences[(row["company_id"], row["currency"])].append(price - old)
        result.repriced += changed
    note = f"rerate of calls started {since.isoformat()} to {until.isoformat()}"
    for (company, currency), amounts in differences.items():
        total = sum(amounts, Decimal(0))
        if total == 0:
            continue
        conn.execute(
            query("insert_rerate_charge"),
            {
                "company_id": company,
                "amount": -total,  # dearer calls debit the account more
                "currency": currency,
                "calls": len(amounts),
                "note": note,
                "by": username,
            },
        )
        result.posted[company] = -total
    return result
