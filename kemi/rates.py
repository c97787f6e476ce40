"""Rates and longest-prefix match with effective dates.

A tariff is indexed as ``{prefix: (Rate, ...)}``; several rows of one prefix differ only by their
effective window. The match walks from the longest candidate prefix down and takes the first
prefix that has a row effective at the call time, so a closed or not-yet-effective prefix falls
back to its shorter parent, as carriers' decks intend.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from kemi.money import decimal_text


class Rate(NamedTuple):
    prefix: str
    rate: Decimal  # per minute
    initial_increment: int  # seconds
    next_increment: int  # seconds
    connect_fee: Decimal
    effective_from: float  # epoch seconds
    effective_to: float | None  # epoch seconds, exclusive; None = open

    def effective_at(self, at: float) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)

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

    def __init__(self, tariff_id: int, currency: str, rates: Iterable[Rate]) -> None:
        self.tariff_id = tariff_id
        self.currency = currency
        grouped: dict[str, list[Rate]] = {}
        for rate in rates:
            grouped.setdefault(rate.prefix, []).append(rate)
        # Newest window first: at call time the first effective row wins.
        self._by_prefix = {
            prefix: tuple(sorted(rows, key=lambda r: r.effective_from, reverse=True))
            for prefix, rows in grouped.items()
        }
        self._longest = max((len(p) for p in self._by_prefix), default=0)

    def __len__(self) -> int:
        return len(self._by_prefix)

    def match(self, number: str, at: float) -> Rate | None:
        """The rate of the longest prefix of ``number`` that is effective at ``at``."""
        by_prefix = self._by_prefix
        for length in range(min(len(number), self._longest), 0, -1):
            rows = by_prefix.get(number[:length])
            if rows is not None:
                for row in rows:
                    if row.effective_at(at):
                        return row
        return None
