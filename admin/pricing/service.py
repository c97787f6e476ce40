"""A customer tariff derived from vendor costs and written through the rate-deck importer.

One transaction: the customer tariff is locked, the vendor tariffs read as they price calls
at the chosen date, the derivation applied by ``admin.ratedecks.store.apply`` (the same diff,
history and audit row as an imported deck), the notice periods of the customers it prices
checked against what changed — a violation rolls everything back — and a rate sheet per
customer written to the outbox. The derived rows take effect at the chosen date (now when it
is not in the future); codes no vendor prices any more are closed then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg

from admin.pricing import notices, rate_sheets
from admin.pricing.derivation import Derivation, DerivationError, VendorRate, VendorTariff, derive
from admin.pricing.rules import Rules
from admin.queries import query
from admin.ratedecks import store
from admin.ratedecks.diff import Omitted, OmittedMode, Plan
from admin.ratedecks.store import Tariff
from admin.services import Actor


@dataclass(slots=True)
class Outcome:
    plan: Plan
    derivation: Derivation
    effective: datetime  # when the derived rates take effect
    customers: list[notices.NoticePeriod] = field(default_factory=list)
    violations: list[notices.Violation] = field(default_factory=list)  # dry run only
    notices: list[int] = field(default_factory=list)  # outbox ids of the rate sheets


def vendor_tariff(conn: psycopg.Connection, tariff: Tariff, at: datetime) -> VendorTariff:
    rows = conn.execute(
        query("pricing_vendor_rates_at"), {"tariff_id": tariff.id, "at": at}
    ).fetchall()
    return VendorTariff(tariff.name, {row[0]: VendorRate(*row[1:]) for row in rows})


def derive_tariff(
    conn: psycopg.Connection,
    target: Tariff,
    vendors: Sequence[Tariff],
    rules: Rules,
    actor: Actor,
    *,
    at: datetime | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Outcome:
    """Derive ``target`` from ``vendors`` with ``rules``, from the vendor rates in force at
    ``at`` (None: now), effective then (now, for a date in the past).

    Raises ``notices.NoticeRefused`` (nothing written) when an increase or closure comes
    sooner than a customer's notice period; a dry run returns the violations instead."""
    moment = now or datetime.now(UTC).replace(microsecond=0)
    effective = at if at is not None and at > moment else moment
    _check(target, vendors)
    with conn.transaction():
        conn.execute(query("rate_deck_tariff_lock"), {"tariff_id": target.id})
        derivation = derive(
            [vendor_tariff(conn, vendor, at or moment) for vendor in vendors],
            rules,
            effective if effective > moment else None,
            name=f"derived from {', '.join(v.name for v in vendors)}",
        )
        omitted = Omitted(OmittedMode.CLOSE, effective)  # no vendor prices them any more
        customers = notices.periods_of_tariff(conn, target.id)
        outcome = Outcome(Plan(moment), derivation, effective, customers)
        if dry_run:
            outcome.plan = store.preview(conn, target, derivation.deck, omitted, now=moment)
            outcome.violations = notices.check(outcome.plan.changes, customers, moment)
            return outcome
        source = (
            f"derived from {', '.join(v.name for v in vendors)} at {effective.isoformat()} "
            f"with {rules.source}"
        )
        outcome.plan = store.apply(
            conn, target, derivation.deck, omitted, actor, now=moment, source=source, notice=False
        )
        # a violation raises NoticeRefused: the transaction, the importer's writes, rolls back
        notices.enforce(conn, target.id, target.name, outcome.plan.changes, moment)
        outcome.notices = rate_sheets.write_notices(
            conn, target, outcome.plan.changes, customers, moment
        )
    return outcome


def _check(target: Tariff, vendors: Sequence[Tariff]) -> None:
    if not vendors:
        raise DerivationError("give at least one vendor tariff to derive from")
    if any(vendor.id == target.id for vendor in vendors):
        raise DerivationError(f"{target.name} cannot be derived from itself")
    other = [v.name for v in vendors if v.currency != target.currency]
    if other:
        raise DerivationError(
            f"{', '.join(other)} not in {target.currency}, the currency of {target.name}: "
            "a derivation never converts money"
        )
