"""What a deck becomes once read: its rates, one per dial code and window, and the refusals
(``row N, column: message``) that keep a deck with any error from being applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from admin.ratedecks.layout import Layout
from admin.ratedecks.values import Change


class DeckRate(NamedTuple):
    """One dial code of a deck, exact. ``effective_from`` None: the deck has no date column.
    (A tuple: a million are made per deck, and a frozen dataclass is several times slower.)"""

    row: int  # the deck's row number (several codes of one cell share it)
    prefix: str
    destination: str
    rate: Decimal
    initial_increment: int
    next_increment: int
    connect_fee: Decimal = Decimal(0)
    minimum_duration: int = 0
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    previous_rate: Decimal | None = None
    change: Change | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    row: int | None  # None: the file, not one row
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return f"{where}{self.column}: {self.message}"


class DeckErrors(Exception):
    """The deck is refused: nothing of it is applied."""

    def __init__(self, errors: list[RowError], total: int) -> None:
        self.errors = errors
        self.total = total
        shown = "; ".join(str(error) for error in errors[:20])
        more = f" (and {total - 20} more)" if total > 20 else ""
        super().__init__(f"{total} error(s), nothing imported: {shown}{more}")


@dataclass(slots=True)
class Deck:
    name: str
    layout: Layout
    rates: dict[str, DeckRate]  # prefix -> its rate (its first window), in the deck's order
    later: dict[str, list[DeckRate]] = field(default_factory=dict)  # a code's further windows
    rows: int = 0  # data rows read
    unused_columns: list[str] = field(default_factory=list)  # header cells mapped to no field
