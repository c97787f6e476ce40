"""Longest-prefix rate lookups in a memory-mapped tariff file (layout: ``kemi.tariff_format``).

A lookup walks the number's digits down the trie, remembering the deepest prefix of the tariff
on the way, then takes that prefix's first window effective at the call time; when none is
(closed, or not yet in force) it falls back to the parent prefix, as carriers' decks intend.
Money stays an exact integer of 1e-8 units until it is shown or billed.
"""

from __future__ import annotations

import mmap
import os
from decimal import Decimal
from typing import NamedTuple

from kemi import tariff_format as fmt


class Rate(NamedTuple):
    """The terms a lookup found, with the prefix they were found under."""

    prefix: str
    rate: int  # per minute, 1e-8 units
    initial_increment: int  # seconds
    next_increment: int  # seconds
    connect_fee: int  # 1e-8 units
    minimum_duration: int = 0  # seconds: shorter answered calls are billed this long


def money_text(units: int) -> str:
    """Exact decimal text of 1e-8 units without trailing zeros: 2700000 -> '0.027'."""
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), fmt.MONEY_SCALE)
    fraction_text = f"{fraction:08d}".rstrip("0")
    return f"{sign}{whole}.{fraction_text}" if fraction_text else f"{sign}{whole}"


def money_decimal(units: int) -> Decimal:
    return Decimal(units).scaleb(-fmt.MONEY_DECIMALS)


def money_units(value: Decimal | str) -> int:
    """Decimal -> 1e-8 units; refuses what does not fit exactly (no silent rounding)."""
    scaled = Decimal(value).scaleb(fmt.MONEY_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {fmt.MONEY_DECIMALS} decimals")
    return int(scaled)


class TariffError(Exception):
    """A tariff file is missing, truncated or of another format."""


class TariffFile:
    """One tariff, mapped read-only; all workers of a node share its pages."""

    __slots__ = (
        "_entries",
        "_map",
        "_money",
        "_nodes",
        "_steps",
        "_view",
        "_windows",
        "prefixes",
        "size",
    )

    def __init__(self, path: str) -> None:
        try:
            with open(path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise TariffError(f"cannot map tariff file {path}: {exc}") from exc
        magic, n_nodes, n_entries, n_windows, n_terms, _ = fmt.HEADER.unpack_from(self._map)
        sizes = fmt.section_sizes(n_nodes, n_entries, n_windows, n_terms)
        if magic != fmt.MAGIC or size != fmt.HEADER_SIZE + sum(sizes):
            raise TariffError(f"{path} is not a complete tariff file of format {fmt.MAGIC!r}")
        self._map.madvise(mmap.MADV_WILLNEED)
        view = self._view = memoryview(self._map)
        offset = fmt.HEADER_SIZE
        sections = []
        for length, kind in zip(sizes, "IIIqI", strict=True):
            sections.append(view[offset : offset + length].cast(kind))
            offset += length
        self._nodes, self._entries, self._windows, self._money, self._steps = sections
        self.size = size
        self.prefixes = n_entries

    def find(self, digits: bytes, at: int) -> int:
        """The match for ``digits`` (ASCII) at ``at`` (epoch seconds) as one int, -1 if none:
        ``terms index << 5 | prefix length``. The engine's hot path: it compares vendors by
        ``rate`` only for the ones it needs."""
        nodes = self._nodes
        base = 0
        found = 0  # entry + 1
        for digit in digits:
            child = nodes[base + digit - 48]
            if not child:
                break
            if child & 1:
                found = (child >> 1) + 1
                break
            base = (child >> 1) * 11  # fmt.NODE_WIDTH
            own = nodes[base + 10]  # fmt.OWN_ENTRY
            if own:
                found = own
        entries, windows = self._entries, self._windows
        while found:
            slot = (found - 1) * 3  # fmt.ENTRY_WIDTH
            packed = entries[slot + 2]
            window = entries[slot] * 3  # fmt.WINDOW_WIDTH
            end = window + (packed >> 8) * 3
            while window < end:
                if windows[window] <= at < windows[window + 1]:
                    return windows[window + 2] << 5 | (packed & 0xFF)
                window += 3
            found = entries[slot + 1]
        return -1

    def rate(self, digits: bytes, found: int) -> Rate:
        terms = found >> 5
        money, steps = self._money, self._steps
        return Rate(
            digits[: found & 31].decode(),
            money[2 * terms],
            steps[3 * terms],
            steps[3 * terms + 1],
            money[2 * terms + 1],
            steps[3 * terms + 2],
        )

    def match(self, number: str, at: int) -> Rate | None:
        """The rate of the longest prefix of ``number`` (ASCII digits) effective at ``at``."""
        digits = number.encode()
        found = self.find(digits, at)
        return None if found < 0 else self.rate(digits, found)

    def close(self) -> None:
        """Unmap now (tests); otherwise the mapping goes when the last reference does."""
        for view in (self._nodes, self._entries, self._windows, self._money, self._steps):
            view.release()
        self._view.release()
        self._map.close()
