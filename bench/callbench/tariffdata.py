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

from callbench.dictindex import Rate, RateIndex, Terms

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
    """One tariff's windows and values, and each prefix's value id (numpy arrays: build time).

    Prefixes are unique and in trie order (length, then digits): ``keys[i]`` is
    ``triebuild``'s node key of ``prefixes[i]``."""

    w_from: Any
    w_to: Any
    w_rate: Any
    w_init: Any
    w_next: Any
    w_fee: Any
    v_first: Any  # value i = windows v_windows[v_first[i]:v_first[i+1]]
    v_windows: Any
    prefixes: list[str]
    keys: Any
    value_of: Any  # value id of prefixes[i]

    def arrays(self) -> dict[str, Any]:
        """The window and value tables as the readers (``Windows``) expect them."""
        import numpy as np

        return {
            "w_from": self.w_from.astype(np.int64),
            "w_to": self.w_to.astype(np.int64),
            "w_rate": self.w_rate.astype(np.int64),
            "w_init": self.w_init.astype(np.uint32),
            "w_next": self.w_next.astype(np.uint32),
            "w_fee": self.w_fee.astype(np.int64),
            "v_first": self.v_first.astype(np.uint32),
            "v_windows": self.v_windows.astype(np.uint32),
        }


def compile_tariff(rows: Sequence[tuple[str, Terms]]) -> CompiledTariff:
    """Group windows by prefix (newest first, as kemi.rates does) and share equal values.

    Vectorized (numpy): a publisher compiles 21M rows, and a Python loop over them costs more
    than the rest of the build. Windows are the distinct ``Terms`` objects (decks share them;
    equal Terms that are distinct objects only cost table space)."""
    import numpy as np

    from callbench.triebuild import LEVEL

    count = len(rows)
    text = np.array([p for p, _ in rows])
    terms = [t for _, t in rows]
    ids = np.fromiter(map(id, terms), dtype=np.int64, count=count)
    _, first, window_of_row = np.unique(ids, return_index=True, return_inverse=True)
    reps = [terms[i] for i in first.tolist()]
    column = {
        "from": [int(t.effective_from) for t in reps],
        "to": [OPEN if t.effective_to is None else int(t.effective_to) for t in reps],
        "rate": [rate_key(t.rate) for t in reps],
        "init": [t.initial_increment for t in reps],
        "next": [t.next_increment for t in reps],
        "fee": [rate_key(t.connect_fee) for t in reps],
    }
    w = {name: np.asarray(values, dtype=np.int64) for name, values in column.items()}
    keys = np.strings.str_len(text).astype(np.int64) * LEVEL + text.astype(np.int64)
    order = np.lexsort((-w["from"][window_of_row], keys))  # by prefix, newest window first
    keys, windows = keys[order], window_of_row[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    counts = np.diff(np.r_[starts, count])
    count_groups = len(starts)
    width = int(counts.max()) if count else 1
    padded = np.full((count_groups, width), -1, dtype=np.int64)
    group = np.repeat(np.arange(count_groups), counts)
    padded[group, np.arange(count) - np.repeat(starts, counts)] = windows
    if width * 21 <= 63 and len(reps) < 1 << 20:  # a value's windows fit one int64
        packed = sum((padded[:, i] + 1) << (21 * i) for i in range(width))
        _, unique_at, value_of = np.unique(packed, return_index=True, return_inverse=True)
        values = padded[unique_at]
    else:
        values, value_of = np.unique(padded, axis=0, return_inverse=True)
    present = values >= 0
    prefixes = text[order][starts].tolist()
    return CompiledTariff(
        w["from"],
        w["to"],
        w["rate"],
        w["init"],
        w["next"],
        w["fee"],
        np.r_[0, np.cumsum(present.sum(axis=1))],
        values[present],
        prefixes,
        keys[starts],
        value_of.reshape(-1),
    )


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
