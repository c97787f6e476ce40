"""What every per-tariff structure of the comparison shares: windows, values and the decision.

A tariff is compiled into a small table of *windows* (one rate's terms during one effective
period) and *values* (the windows of one prefix, newest first). Prefixes of a deck share values
(rates are per destination), so 1M prefixes need ~50k values: the structures under comparison
differ only in how they map a prefix to its value id, which is what is being measured.

A match is ``(rate_key, window_id, prefix_length)``: ``rate_key`` is the rate in units of 1e-8
(exactly the database's numeric(18, 8)), so the margin filter and the least-cost sort compare
small ints instead of Decimals; ``Terms`` are built only for what the engine uses
(``terms(window_id)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from kemi.rates import Rate, RateIndex, Terms

OPEN = 1 << 62  # effective_to of an open window
UNITS = 10**8
NONE = 0xFFFFFFFF  # "no value" in u32 arrays

Match = tuple[int, int, int]  # rate_key, window id, prefix length
Kept = tuple[int, int, int, int]  # rate_key, vendor index, window id, prefix length
Decision = tuple[Match, list[Kept]]  # the customer's match, the vendors kept, cheapest first


def rate_key(value: Decimal) -> int:
    """The rate in units of 1e-8; refuses a value the database could not hold exactly."""
    scaled = value.scaleb(8)
    key = int(scaled)
    if key != scaled:
        raise ValueError(f"{value} has more than 8 decimals")
    return key


@dataclass(slots=True)
class CompiledTariff:
    """One tariff's windows and values, and each prefix's value id."""

    w_from: list[int]
    w_to: list[int]
    w_rate: list[int]
    w_init: list[int]
    w_next: list[int]
    w_fee: list[int]
    v_first: list[int]  # value i = windows v_windows[v_first[i]:v_first[i+1]]
    v_windows: list[int]
    prefixes: list[str]  # unique, in the deck's order
    value_of: list[int]  # value id of prefixes[i]

    def arrays(self) -> dict[str, Any]:
        from array import array

        return {
            "w_from": array("q", self.w_from),
            "w_to": array("q", self.w_to),
            "w_rate": array("q", self.w_rate),
            "w_init": array("I", self.w_init),
            "w_next": array("I", self.w_next),
            "w_fee": array("q", self.w_fee),
            "v_first": array("I", self.v_first),
            "v_windows": array("I", self.v_windows),
        }


def compile_tariff(rows: Sequence[tuple[str, Terms]]) -> CompiledTariff:
    """Group windows by prefix (newest first, as kemi.rates does) and share equal values."""
    by_prefix: dict[str, list[Terms]] = {}
    for prefix, terms in rows:
        found = by_prefix.get(prefix)
        if found is None:
            by_prefix[prefix] = [terms]
        else:
            found.append(terms)
    window_ids: dict[int, int] = {}  # id(Terms) -> window id: decks share their Terms objects
    value_ids: dict[tuple[int, ...], int] = {}
    out = CompiledTariff([], [], [], [], [], [], [0], [], [], [])
    for prefix, windows in by_prefix.items():
        if len(windows) > 1:
            windows.sort(key=lambda t: t.effective_from, reverse=True)
        ids = []
        for t in windows:
            w = window_ids.get(id(t))
            if w is None:
                w = window_ids[id(t)] = len(out.w_from)
                out.w_from.append(int(t.effective_from))
                out.w_to.append(OPEN if t.effective_to is None else int(t.effective_to))
                out.w_rate.append(rate_key(t.rate))
                out.w_init.append(t.initial_increment)
                out.w_next.append(t.next_increment)
                out.w_fee.append(rate_key(t.connect_fee))
            ids.append(w)
        key = tuple(ids)
        value = value_ids.get(key)
        if value is None:
            value = value_ids[key] = len(value_ids)
            out.v_windows.extend(ids)
            out.v_first.append(len(out.v_windows))
        out.prefixes.append(prefix)
        out.value_of.append(value)
    return out


class Windows:
    """The reader of a compiled tariff's tables: which window of a value is in force, Terms."""

    __slots__ = ("v_first", "v_windows", "w_fee", "w_from", "w_init", "w_next", "w_rate", "w_to")

    def __init__(self, arrays: dict[str, memoryview], prefix: str = "") -> None:
        for name in self.__slots__:
            setattr(self, name, arrays[prefix + name])

    def effective(self, value: int, at: float) -> int:
        """The window of ``value`` in force at ``at``, newest first; -1 when none is."""
        v_windows, w_from, w_to = self.v_windows, self.w_from, self.w_to
        for i in range(self.v_first[value], self.v_first[value + 1]):
            w = v_windows[i]
            if w_from[w] <= at < w_to[w]:
                return w
        return -1

    def terms(self, window: int) -> Terms:
        end = self.w_to[window]
        return Terms(
            Decimal(self.w_rate[window]).scaleb(-8),
            self.w_init[window],
            self.w_next[window],
            Decimal(self.w_fee[window]).scaleb(-8),
            float(self.w_from[window]),
            None if end == OPEN else float(end),
        )


class TariffLookup(Protocol):
    """One tariff opened from its files: the longest prefix of a number in force at a time."""

    def match(self, number: str, at: float) -> Match | None: ...

    def terms(self, window: int) -> Terms: ...


class Decider(Protocol):
    """A whole routing decision for one customer tariff and one routing plan's vendors."""

    def decide(self, number: str, at: float) -> Decision | None: ...

    def customer_terms(self, window: int) -> Terms: ...

    def vendor_terms(self, vendor: int, window: int) -> Terms: ...


class TariffDecider:
    """Customer match, then each vendor's, margin filter, least-cost order (ties: plan order).

    The decision of every per-tariff structure, so they differ only in their lookups."""

    __slots__ = ("_customer", "_matchers", "_vendors", "customer")

    def __init__(self, customer: TariffLookup, vendors: Sequence[TariffLookup]) -> None:
        self.customer = customer
        self._customer = customer.match
        self._vendors = list(vendors)
        self._matchers: list[tuple[int, Callable[[str, float], Match | None]]] = list(
            enumerate(v.match for v in vendors)
        )

    def decide(self, number: str, at: float) -> Decision | None:
        found = self._customer(number, at)
        if found is None:
            return None
        limit = found[0]
        kept = []
        for vendor, match in self._matchers:
            m = match(number, at)
            if m is not None and m[0] <= limit:
                kept.append((m[0], vendor, m[1], m[2]))
        kept.sort()
        return found, kept

    def customer_terms(self, window: int) -> Terms:
        return self.customer.terms(window)

    def vendor_terms(self, vendor: int, window: int) -> Terms:
        return self._vendors[vendor].terms(window)


Explained = tuple[Rate, list[tuple[int, Rate]]]


def explain(decider: Decider, number: str, decision: Decision | None) -> Explained | None:
    """A decision as kemi's Rate values, to compare structures with the reference."""
    if decision is None:
        return None
    (_, window, length), kept = decision
    customer = Rate(number[:length], *decider.customer_terms(window))
    return customer, [
        (vendor, Rate(number[:length], *decider.vendor_terms(vendor, window)))
        for _, vendor, window, length in kept
    ]


class Reference:
    """The engine's own per-process dicts (kemi.rates.RateIndex): the expected answers."""

    def __init__(self, customer: Sequence[tuple[str, Terms]], vendors: Sequence[Sequence]) -> None:
        self.customer = RateIndex(0, "USD", customer)
        self.vendors = [RateIndex(i + 1, "USD", rows) for i, rows in enumerate(vendors)]

    def decide(self, number: str, at: float) -> Explained | None:
        customer = self.customer.match(number, at)
        if customer is None:
            return None
        kept = []
        for vendor, index in enumerate(self.vendors):
            rate = index.match(number, at)
            if rate is not None and rate.rate <= customer.rate:
                kept.append((rate.rate, vendor, rate))
        kept.sort(key=lambda k: (k[0], k[1]))
        return customer, [(vendor, rate) for _, vendor, rate in kept]
