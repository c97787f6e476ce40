"""The foundation engine's per-process dict index (kemi/rates.py before decisions/0006).

Kept in bench/ as the structure comparison's reference answers and its "one Python dict per
worker" data point; the engine no longer uses it.

Rates and longest-prefix match with effective dates.

A tariff is indexed as ``{prefix: (terms, ...)}``, where several terms of one prefix differ only
by their effective window. The match walks from the longest candidate prefix down and takes the
first prefix that has terms effective at the call time, so a closed or not-yet-effective prefix
falls back to its shorter parent, as carriers' decks intend.

Memory matters here: every Kamailio worker holds every published tariff (docs/decisions/0001).
Terms do not carry their prefix, so the many prefixes of a deck that share a price share one
terms object (a third as many objects as rows in real decks), and the prefix is attached only
to the one rate a lookup returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from kemi.money import decimal_text


class Terms(NamedTuple):
    """How one prefix is priced during one effective window."""

    rate: Decimal  # per minute
    initial_increment: int  # seconds
    next_increment: int  # seconds
    connect_fee: Decimal
    effective_from: float  # epoch seconds
    effective_to: float | None  # epoch seconds, exclusive; None = open


class Rate(NamedTuple):
    """The terms a lookup found, with the prefix they were found under."""

    prefix: str
    rate: Decimal
    initial_increment: int
    next_increment: int
    connect_fee: Decimal
    effective_from: float
    effective_to: float | None

    def terms(self) -> dict[str, str | int]:
        """The rating terms carried in a CDR event: exact decimals travel as strings."""
        return {
            "prefix": self.prefix,
            "rate": decimal_text(self.rate),
            "initial_increment": self.initial_increment,
            "next_increment": self.next_increment,
            "connect_fee": decimal_text(self.connect_fee),
        }


class RateIndex:
    """One tariff's rates, ready for longest-prefix lookups."""

    __slots__ = ("_by_prefix", "_longest", "currency", "tariff_id")

    def __init__(self, tariff_id: int, currency: str, rows: Iterable[tuple[str, Terms]]) -> None:
        """``rows``: (prefix, terms) pairs in any order; equal terms should be one object."""
        self.tariff_id = tariff_id
        self.currency = currency
        by_prefix: dict[str, tuple[Terms, ...]] = {}
        shared: dict[tuple[Terms, ...], tuple[Terms, ...]] = {}
        for prefix, terms in rows:
            windows = by_prefix.get(prefix)
            if windows is None:
                single = (terms,)
                by_prefix[prefix] = shared.setdefault(single, single)
            else:  # newest window first: at call time the first effective one wins
                by_prefix[prefix] = tuple(
                    sorted((*windows, terms), key=lambda t: t.effective_from, reverse=True)
                )
        self._by_prefix = by_prefix
        self._longest = max((len(p) for p in by_prefix), default=0)

    @classmethod
    def of_rates(cls, tariff_id: int, currency: str, rates: Iterable[Rate]) -> RateIndex:
        return cls(tariff_id, currency, ((r.prefix, Terms(*r[1:])) for r in rates))

    def __len__(self) -> int:
        return len(self._by_prefix)

    def match(self, number: str, at: float) -> Rate | None:
        """The rate of the longest prefix of ``number`` that is effective at ``at``."""
        by_prefix = self._by_prefix
        for length in range(min(len(number), self._longest), 0, -1):
            windows = by_prefix.get(number[:length])
            if windows is not None:
                for terms in windows:
                    if terms[4] <= at and (terms[5] is None or at < terms[5]):
                        return Rate(number[:length], *terms)
        return None
