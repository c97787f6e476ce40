"""A customer tariff from vendor costs (pure): the rows the rate-deck importer diffs and applies.

The codes are every code of the chosen vendor tariffs (in force at the chosen date). A code's
cost in one vendor tariff is that tariff's longest prefix of it, as the engine routes a call
(a vendor with only ``44`` carries ``447`` calls at its ``44`` rate); the costs are ordered
cheapest first, ties in the order the vendor tariffs were given, and the rule's ``rank``
picks one (the dearest when fewer vendors price the code). Its destination name is the one
of the first vendor tariff holding the code itself. The increments, connect fee and minimum
duration are the chosen vendor rate's unless the rule sets them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from admin.pricing.rules import Rule, Rules
from admin.ratedecks.layout import PRESETS
from admin.ratedecks.normalize import Deck, DeckRate

MAX_RATE = Decimal("9999999999.99999999")  # numeric(18, 8)


class VendorRate(NamedTuple):
    destination: str
    rate: Decimal
    initial_increment: int
    next_increment: int
    connect_fee: Decimal
    minimum_duration: int


@dataclass(frozen=True, slots=True)
class VendorTariff:
    name: str
    rates: dict[str, VendorRate]  # prefix -> the window in force at the chosen date


class Source(NamedTuple):
    """Why a code got its price: the vendor rate chosen and the rule that priced it."""

    vendor: str  # the vendor tariff's name
    vendor_prefix: str  # the prefix of that tariff the code falls under
    cost: Decimal
    rule: str
    price: Decimal


@dataclass(slots=True)
class Derivation:
    deck: Deck
    sources: dict[str, Source] = field(default_factory=dict)


class DerivationError(ValueError):
    pass


def cost_of(prefix: str, tariff: VendorTariff) -> tuple[str, VendorRate] | None:
    """The tariff's longest prefix of ``prefix`` and its rate (None: it does not price it)."""
    rates = tariff.rates
    for length in range(len(prefix), 0, -1):
        found = rates.get(prefix[:length])
        if found is not None:
            return prefix[:length], found
    return None


def derive(
    vendors: Sequence[VendorTariff],
    rules: Rules,
    effective: datetime | None = None,
    name: str = "derived",
) -> Derivation:
    """Every code of ``vendors`` priced by ``rules``, effective at ``effective`` (None: at
    once); raises ``DerivationError`` naming the codes no rule prices."""
    destinations: dict[str, str] = {}
    for vendor in vendors:
        for prefix, rate in vendor.rates.items():
            destinations.setdefault(prefix, rate.destination)
    if not destinations:
        raise DerivationError(
            f"the vendor tariffs {', '.join(v.name for v in vendors)} price no code then"
        )
    deck = Deck(name, PRESETS["canonical"], {})
    derivation = Derivation(deck)
    unpriced: list[str] = []
    for row, prefix in enumerate(sorted(destinations), start=1):
        destination = destinations[prefix]
        rule = rules.first_match(prefix, destination)
        if rule is None:
            unpriced.append(prefix)
            continue
        vendor, vendor_prefix, cost = _chosen(prefix, vendors, rule.rank)
        price = rule.price(cost.rate)
        if price > MAX_RATE:
            raise DerivationError(f"{prefix}: {rule.name} prices it {price}, above {MAX_RATE}")
        deck.rates[prefix] = _deck_rate(row, prefix, destination, cost, rule, price, effective)
        derivation.sources[prefix] = Source(vendor, vendor_prefix, cost.rate, rule.name, price)
    if unpriced:
        shown = ", ".join(unpriced[:10]) + (" …" if len(unpriced) > 10 else "")
        raise DerivationError(
            f"no rule of {rules.source} prices {len(unpriced)} code(s): {shown} "
            "(add a last [[rule]] without prefix or destination to price every code)"
        )
    deck.rows = len(deck.rates)
    return derivation


def _chosen(prefix: str, vendors: Sequence[VendorTariff], rank: int) -> tuple[str, str, VendorRate]:
    costs = []
    for order, vendor in enumerate(vendors):
        found = cost_of(prefix, vendor)
        if found is not None:
            costs.append((found[1].rate, order, vendor.name, found[0], found[1]))
    costs.sort(key=lambda cost: (cost[0], cost[1]))
    _, _, name, vendor_prefix, rate = costs[min(rank, len(costs)) - 1]
    return name, vendor_prefix, rate


def _deck_rate(
    row: int,
    prefix: str,
    destination: str,
    cost: VendorRate,
    rule: Rule,
    price: Decimal,
    effective: datetime | None,
) -> DeckRate:
    initial, following = rule.increments or (cost.initial_increment, cost.next_increment)
    return DeckRate(
        row=row,
        prefix=prefix,
        destination=destination,
        rate=price,
        initial_increment=initial,
        next_increment=following,
        connect_fee=cost.connect_fee if rule.connect_fee is None else rule.connect_fee,
        minimum_duration=cost.minimum_duration,
        effective_from=effective,
    )
