"""Accounts and their ledger (DESIGN §4): the balance is the sum of entries, never overwritten.

Operators post top-ups, adjustments, refunds and invoices here (``akira account``, the JSON
API), each in one transaction with its audit row; the rater posts call charges itself, in the
transaction that stores the CDRs (sql/queries/cdrs.sql ``merge_cdr_staging``), so a CDR is
charged exactly once. Amounts are Decimal, checked against the currency's precision: an
amount the ledger would have to round is refused, not rounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from admin.queries import query

if TYPE_CHECKING:
    import psycopg

# kind -> the sign its amount must have (+1 credits the account, -1 debits it, 0 either)
MANUAL_KINDS = {"topup": 1, "refund": 1, "adjustment": 0, "invoice": -1}
BILLING = ("prepaid", "postpaid")


class LedgerError(ValueError):
    """An entry the ledger refuses; the message says why and how to fix it."""


@dataclass(frozen=True, slots=True)
class Balance:
    company_id: int
    name: str
    currency: str
    billing: str
    credit_limit: Decimal
    balance: Decimal
    available: Decimal  # balance + credit limit: what calls may still spend

    def as_json(self) -> dict[str, Any]:
        return {
            "company_id": self.company_id,
            "company": self.name,
            "currency": self.currency,
            "billing": self.billing,
            "credit_limit": str(self.credit_limit),
            "balance": str(self.balance),
            "available": str(self.available),
        }


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: datetime
    kind: str
    amount: Decimal


def parse_amount(text: object, kind: str, precision: int) -> Decimal:
    """The amount of a manual entry of ``kind``, exact, or LedgerError."""
    if kind not in MANUAL_KINDS:
        raise LedgerError(f"{kind!r} is not an entry an operator posts ({', '.join(MANUAL_KINDS)})")
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise LedgerError(f"{text!r} is not a decimal amount (e.g. 100 or -12.50)") from exc
    if not amount.is_finite() or amount == 0:
        raise LedgerError("the amount must be a number other than 0")
    if amount.as_tuple().exponent < -precision:  # type: ignore[operator]
        raise LedgerError(f"{amount} has more than the currency's {precision} decimal places")
    sign = MANUAL_KINDS[kind]
    if sign and (amount > 0) != (sign > 0):
        raise LedgerError(f"a {kind} is {'positive' if sign > 0 else 'negative'}: {amount}")
    if abs(amount) >= Decimal(10) ** 12:
        raise LedgerError(f"{amount} is beyond what an account holds (10^12)")
    return amount


def post(
    conn: psycopg.Connection,
    company_id: int,
    kind: str,
    amount: object,
    *,
    note: str,
    username: str,
) -> Entry:
    """One manual entry and its audit row, in the caller's transaction."""
    account = conn.execute(query("account_for_update"), {"company_id": company_id}).fetchone()
    if account is None:
        raise LedgerError(f"no company with id {company_id}")
    _, name, currency, precision = account
    value = parse_amount(amount, kind, precision)
    if "\x00" in note:  # PostgreSQL text cannot hold it
        raise LedgerError("the note holds a NUL character")
    if kind == "adjustment" and not note.strip():
        raise LedgerError("an adjustment needs a note saying why (--note)")
    entry_id, at = conn.execute(
        query("insert_ledger_entry"),
        {
            "company_id": company_id,
            "kind": kind,
            "amount": value,
            "currency": currency,
            "note": note,
            "created_by": username,
        },
    ).fetchone()
    audit(
        conn,
        username,
        "ledger_entries",
        entry_id,
        kind,
        after={"company": name, "amount": str(value), "currency": currency, "note": note},
    )
    return Entry(entry_id, at, kind, value)


def set_billing(
    conn: psycopg.Connection,
    company_id: int,
    *,
    billing: str | None,
    credit_limit: object | None,
    username: str,
    low_balance: object | None = None,
) -> tuple[str, Decimal]:
    """Billing mode, credit limit and the low-balance alert threshold (``"none"`` clears it);
    None leaves a setting as it is."""
    if billing is not None and billing not in BILLING:
        raise LedgerError(f"billing is {' or '.join(BILLING)}, not {billing!r}")
    limit = None
    if credit_limit is not None:
        try:
            limit = Decimal(str(credit_limit))
        except InvalidOperation as exc:
            raise LedgerError(f"{credit_limit!r} is not a decimal credit limit") from exc
        if not limit.is_finite() or limit < 0:
            raise LedgerError("the credit limit is 0 or more")
    threshold = None
    if low_balance not in (None, "none", ""):
        try:
            threshold = Decimal(str(low_balance))
        except InvalidOperation as exc:
            raise LedgerError(f"{low_balance!r} is not a decimal threshold") from exc
        if not threshold.is_finite():
            raise LedgerError("the low-balance threshold must be a number")
    before = balance(conn, company_id)
    row = conn.execute(
        query("set_billing"),
        {
            "company_id": company_id,
            "billing": billing,
            "credit_limit": limit,
            "set_threshold": low_balance is not None,
            "threshold": threshold,
        },
    ).fetchone()
    audit(
        conn,
        username,
        "company",  # the company's history shows it (admin/services names entities so)
        company_id,
        "billing",
        before={"billing": before.billing, "credit_limit": str(before.credit_limit)},
        after={"billing": row[0], "credit_limit": str(row[1]), "low_balance": str(row[2])},
    )
    return row[0], row[1]


def undelivered_alerts(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Alerts the delivery channels have not taken yet, oldest first."""
    return [_alert(row) for row in conn.execute(query("undelivered_alerts")).fetchall()]


def claim_alerts(conn: psycopg.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The oldest undelivered alerts, locked for the caller's transaction (a second deliverer
    skips them): deliver, ``mark_delivered``, commit."""
    rows = conn.execute(query("claim_undelivered_alerts"), {"limit": limit}).fetchall()
    return [_alert(row) for row in rows]


def _alert(row: tuple) -> dict[str, Any]:
    alert_id, at, company_id, company, kind, balance, threshold, detail = row
    alert = {
        "id": alert_id,
        "at": at.isoformat(),
        "company_id": company_id,
        "company": company,
        "kind": kind,
    }
    if balance is not None:  # a money alert; a NOC one (noc-test-failed) carries its detail
        alert |= {"balance": str(balance), "threshold": str(threshold)}
    if detail is not None:
        alert["detail"] = detail
    return alert


def mark_delivered(conn: psycopg.Connection, alert_ids: list[int]) -> int:
    return conn.execute(query("mark_alerts_delivered"), {"ids": alert_ids}).rowcount


def company_by_name(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(query("company_id_by_name"), {"name": name}).fetchone()
    if row is None:
        raise LedgerError(f"no company named {name!r}")
    return row[0]


def balance(conn: psycopg.Connection, company_id: int) -> Balance:
    row = conn.execute(query("account_balance"), {"company_id": company_id}).fetchone()
    if row is None:
        raise LedgerError(f"no company with id {company_id}")
    return Balance(*row)


def entries(conn: psycopg.Connection, company_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The latest entries, newest first, as the CLI and the API show them (money as text)."""
    rows = conn.execute(query("ledger_entries"), {"company_id": company_id, "limit": limit})
    return [
        {
            "id": entry_id,
            "at": at.isoformat(),
            "kind": kind,
            "amount": str(amount),
            "calls": calls,
            "note": note,
            "by": by,
        }
        for entry_id, at, kind, amount, _currency, calls, note, by in rows
    ]


def audit(
    conn: psycopg.Connection,
    username: str,
    entity: str,
    entity_id: object,
    action: str,
    *,
    before: dict | None = None,
    after: dict | None = None,
    request_id: str = "",
) -> None:
    conn.execute(
        query("insert_audit_row"),
        {
            "username": username,
            "request_id": request_id,
            "entity": entity,
            "entity_id": str(entity_id),
            "action": action,
            "before": None if before is None else json.dumps(before),
            "after": None if after is None else json.dumps(after),
        },
    )
