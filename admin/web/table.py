"""Table columns: how one attribute of a row reads in a list (NetBox's tables, in small).

An entity declares its columns; the generic list view turns rows into cells here, so templates
only lay out text and links and never decide how money or times are written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import quote

EMPTY = "—"
# Wholesale rates run to 8 places; trailing zeros beyond 4 only add noise to a list.
MONEY_MIN_PLACES = 4


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    BOOL = "bool"
    DATETIME = "datetime"
    LIST = "list"


def money(value: Decimal | str) -> str:
    """Exact decimal text, trailing zeros trimmed to MONEY_MIN_PLACES; never through float."""
    whole, _, fraction = f"{Decimal(value):f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(MONEY_MIN_PLACES, '0')}"


def timestamp(value: datetime) -> str:
    """Times in UTC, as the engine and the CDRs count them, whatever the server's zone."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _text(kind: Kind, value: Any) -> str:
    if value is None:
        return EMPTY
    if kind is Kind.MONEY:
        return money(value)
    if kind is Kind.BOOL:
        return "yes" if value else "no"
    if kind is Kind.DATETIME:
        return timestamp(value)
    if kind is Kind.LIST:
        return ", ".join(str(item) for item in value) or EMPTY
    return str(value) if value != "" else EMPTY


class _RowAttributes(dict[str, str]):
    """Lets a link template name any attribute of a row: ``"/tariffs/{tariff_id}"``."""

    def __init__(self, row: object) -> None:
        super().__init__()
        self.row = row

    def __missing__(self, attribute: str) -> str:
        return quote(str(getattr(self.row, attribute)), safe="")


@dataclass(frozen=True, slots=True)
class Column:
    attribute: str
    label: str
    kind: Kind = Kind.TEXT
    link: str | None = None  # URL template filled from the row's attributes

    @property
    def numeric(self) -> bool:
        return self.kind in (Kind.NUMBER, Kind.MONEY)

    def cell(self, row: object) -> Cell:
        value = getattr(row, self.attribute)
        href = (
            self.link.format_map(_RowAttributes(row)) if self.link and value is not None else None
        )
        return Cell(_text(self.kind, value), href, self.numeric)


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    href: str | None
    numeric: bool


def render_rows(columns: Sequence[Column], rows: Iterable[object]) -> list[list[Cell]]:
    return [[column.cell(row) for column in columns] for row in rows]
