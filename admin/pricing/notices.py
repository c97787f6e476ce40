"""Notice periods: how long before a change to its tariff a customer company must be told.

Each company has days per kind of change (``company_notice_periods``, migration 0013; a
company without a row is owed no notice). Industry custom, and the defaults of ``akira
notices set``: 7 days for increases and closures, decreases and new codes at once. A change
that can make a call dearer counts as an increase: a higher rate, connect fee, minimum
duration or longer increments. A tariff priced for several companies owes each its own
period: a change must wait for the longest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import psycopg

from admin.ledger import audit
from admin.queries import query
from admin.ratedecks.diff import Category, CodeChange, Terms
from admin.ratedecks.store import money_text
from admin.services import Actor, NotFound, ServiceError

MAX_DAYS = 365
# What a refusal advises, ``{at}`` the earliest allowed moment: a derivation's, an import's.
DERIVE_ADVICE = "derive with --at {at} or later"
IMPORT_ADVICE = "give those rows an effective date of {at} or later, or a previous rate until then"
DEFAULT_DAYS = {"increase": 7, "closure": 7, "decrease": 0, "new": 0}


class Kind(StrEnum):
    INCREASE = "increase"
    CLOSURE = "closure"
    DECREASE = "decrease"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class NoticePeriod:
    company_id: int
    company: str
    days: dict[Kind, int]  # a kind missing: no notice
    stored: bool = True  # False: the company has no row (no notice owed)

    def as_json(self) -> dict[str, object]:
        return {
            "company_id": self.company_id,
            "company": self.company,
            **{f"{kind.value}_days": self.days.get(kind, 0) for kind in Kind},
            "set": self.stored,
        }


@dataclass(frozen=True, slots=True)
class Violation:
    prefix: str
    kind: Kind
    effective: datetime
    earliest: datetime
    company: str  # whose period it breaks (the longest)
    days: int
    change: CodeChange

    def __str__(self) -> str:
        what = self.kind.value
        current, new = self.change.current, self.change.new
        if current is not None and new is not None and current.rate != new.rate:
            what += f" {money_text(current.rate)} → {money_text(new.rate)}"
        return f"{self.prefix} ({what} from {_moment(self.effective)})"


class NoticeRefused(ServiceError):
    """Increases or closures sooner than a customer's notice period: nothing is written."""

    def __init__(
        self, tariff: str, violations: Sequence[Violation], advice: str = DERIVE_ADVICE
    ) -> None:
        self.violations = list(violations)
        self.earliest = max(v.earliest for v in violations)
        shown = ", ".join(str(v) for v in violations[:10])
        more = f" and {len(violations) - 10} more" if len(violations) > 10 else ""
        owed = sorted({f"{v.company}: {v.kind.value}s {v.days} day(s)" for v in violations})
        super().__init__(
            f"refused: {len(violations)} change(s) of tariff {tariff} sooner than the notice "
            f"period ({'; '.join(owed)}): {shown}{more}; the earliest allowed date is "
            f"{_moment(self.earliest)} "
            f"({advice.format(at=f'{self.earliest.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}')}); "
            "nothing was written"
        )


def kind_of(change: CodeChange) -> Kind | None:
    """The kind of notice a change needs (None: only its destination name changed)."""
    if change.category is Category.NEW:
        return Kind.NEW
    if change.category is Category.CLOSED:
        return Kind.CLOSURE
    if change.category is Category.INCREASED:
        return Kind.INCREASE
    if change.category is Category.DECREASED:
        return Kind.DECREASE
    if change.category is Category.CHANGED and change.current and change.new:
        if dearer(change.current, change.new):
            return Kind.INCREASE
        if dearer(change.new, change.current):
            return Kind.DECREASE
    return None


def dearer(before: Terms, after: Terms) -> bool:
    """Can some call cost more under ``after`` than under ``before``?"""
    return (
        after.rate > before.rate
        or after.connect_fee > before.connect_fee
        or after.initial_increment > before.initial_increment
        or after.next_increment > before.next_increment
        or after.minimum_duration > before.minimum_duration
    )


def check(
    changes: Iterable[CodeChange], periods: Sequence[NoticePeriod], now: datetime
) -> list[Violation]:
    """The changes that take effect sooner than the longest notice any of ``periods`` owes."""
    longest: dict[Kind, tuple[int, str]] = {}
    for period in periods:
        for kind, days in period.days.items():
            if days > longest.get(kind, (0, ""))[0]:
                longest[kind] = (days, period.company)
    if not longest:
        return []
    violations = []
    for change in changes:
        kind = kind_of(change)
        if kind is None or kind not in longest:
            continue
        days, company = longest[kind]
        earliest = now + timedelta(days=days)
        effective = change.effective or now
        if effective < earliest:
            violations.append(
                Violation(change.prefix, kind, effective, earliest, company, days, change)
            )
    return violations


def enforce(
    conn: psycopg.Connection,
    tariff_id: int,
    tariff: str,
    changes: Sequence[CodeChange],
    now: datetime,
    advice: str = DERIVE_ADVICE,
) -> list[NoticePeriod]:
    """Raise ``NoticeRefused`` when ``changes`` to the tariff break a notice period of the
    companies it prices; returns those companies. Called inside the transaction that wrote
    the changes, so a refusal rolls them back (any writer of a customer tariff can call it)."""
    customers = periods_of_tariff(conn, tariff_id)
    violations = check(changes, customers, now)
    if violations:
        raise NoticeRefused(tariff, violations, advice)
    return customers


def periods_of_tariff(conn: psycopg.Connection, tariff_id: int) -> list[NoticePeriod]:
    """The companies whose customer trunks (originators) this tariff prices."""
    rows = conn.execute(query("pricing_tariff_customers"), {"tariff_id": tariff_id}).fetchall()
    return [_period(row) for row in rows]


def periods(conn: psycopg.Connection, company: str | None = None) -> list[NoticePeriod]:
    """Every customer company's (or one company's) notice period."""
    rows = conn.execute(query("pricing_notice_periods"), {"company": company}).fetchall()
    if company is not None and not rows:
        raise NotFound(f"no company named {company!r}")
    return [_period(row) for row in rows]


def period_of(conn: psycopg.Connection, company_id: int) -> NoticePeriod:
    """One company's notice period, by id (the admin's pages and API)."""
    row = conn.execute(query("pricing_notice_period_of"), {"company_id": company_id}).fetchone()
    if row is None:
        raise NotFound(f"no company {company_id}")
    return _period(row)


def set_period(
    conn: psycopg.Connection, company: str, days: dict[Kind, int | None], actor: Actor
) -> NoticePeriod:
    """Store a company's notice period (kinds not given keep theirs, or the defaults); one
    transaction with one audit row."""
    for kind, value in days.items():
        if value is not None and not 0 <= value <= MAX_DAYS:
            raise ServiceError(f"{kind.value} days: {value} must be from 0 to {MAX_DAYS}")
    with conn.transaction():
        found = periods(conn, company)[0]
        before = found.as_json() if found.stored else None
        base = found.days if found.stored else {Kind(k): v for k, v in DEFAULT_DAYS.items()}
        chosen = {kind: days.get(kind) if days.get(kind) is not None else base.get(kind, 0)
                  for kind in Kind}  # fmt: skip
        conn.execute(
            query("pricing_notice_period_set"),
            {"company_id": found.company_id, **{f"{k.value}_days": v for k, v in chosen.items()}},
        )
        stored = NoticePeriod(found.company_id, found.company, chosen)  # type: ignore[arg-type]
        audit(
            conn,
            actor.username,
            "company",
            found.company_id,
            "set_notice_period",
            before=before,
            after=stored.as_json(),
            request_id=actor.request_id,
        )
    return stored


def _period(row: tuple) -> NoticePeriod:
    company_id, company, increase, closure, decrease, new, stored = row
    days = {Kind.INCREASE: increase, Kind.CLOSURE: closure, Kind.DECREASE: decrease, Kind.NEW: new}
    return NoticePeriod(company_id, company, days if stored else {}, stored)


def _moment(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}Z"
