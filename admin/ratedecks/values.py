"""One cell to one exact value, or a ``CellError`` saying why not (pure functions, table-tested).

Money is ``Decimal`` with at most the stored scale (``numeric(18, 8)``); a spreadsheet's float
cell is read through its shortest repr (``0.03284`` stays ``0.03284``). Increments are whole
seconds. Dates are UTC midnights unless the cell has a time and a zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from admin.ratedecks.sheets import Cell

MONEY_PLACES = 8  # numeric(18, 8)
MONEY_LIMIT = Decimal(10) ** (18 - MONEY_PLACES)
MAX_SECONDS = 3600  # the rate form's bound (admin/services/tariffs.py)
MAX_PREFIX = 20  # rates.prefix CHECK
MAX_DESTINATION = 500  # rates.destination is text; real names run past 300 (Australia)


class CellError(ValueError):
    """A cell that cannot mean what its column says; the message names the value."""


class Change(StrEnum):
    NEW = "new"
    INCREASE = "increase"
    DECREASE = "decrease"
    UNCHANGED = "unchanged"
    CLOSED = "closed"


CHANGE_WORDS = {
    **dict.fromkeys(("new", "n", "added", "add", "newcode"), Change.NEW),
    **dict.fromkeys(("increase", "increased", "i", "up", "inc"), Change.INCREASE),
    **dict.fromkeys(("decrease", "decreased", "d", "down", "dec"), Change.DECREASE),
    **dict.fromkeys(("unchanged", "same", "nochange", "u", "s", "current"), Change.UNCHANGED),
    **dict.fromkeys(
        ("closed", "close", "removed", "remove", "deleted", "delete", "c", "r", "discontinued"),
        Change.CLOSED,
    ),
}
TRUE_WORDS = {"1", "y", "yes", "true", "x", "forbidden", "reject", "rejected", "blocked"}
FALSE_WORDS = {"", "0", "n", "no", "false"}

_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")
_CODE = re.compile(rf"[0-9]{{1,{MAX_PREFIX}}}")
_NUMBER_LIKE = re.compile(r"[+-]?[0-9][0-9.,]*")


def text_of(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


def money(cell: Cell, decimal_mark: str = ".") -> Decimal:
    """A non-negative exact decimal with at most 8 places."""
    if isinstance(cell, bool):
        raise CellError(f"{cell!r} is not a decimal number")
    if isinstance(cell, int | float):
        text = repr(float(cell)) if isinstance(cell, float) else str(cell)
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise CellError(f"{cell!r} is not a decimal number") from None
    else:
        text = text_of(cell)
        if decimal_mark == ",":
            if "." in text:
                raise CellError(f"{text!r} has a '.', but this deck's decimal mark is ','")
            text = text.replace(",", ".")
        elif "," in text and _DECIMAL.fullmatch(text.replace(",", ".")):
            raise CellError(f"{text!r} has a decimal comma, but this deck's decimal mark is '.'")
        if text.startswith("-") and _DECIMAL.fullmatch(text[1:]):
            raise CellError(f"{text!r} is negative")
        if not _DECIMAL.fullmatch(text):
            raise CellError(f"{text!r} is not a decimal number")
        value = Decimal(text)
    if not value.is_finite():
        raise CellError(f"{text!r} is not a decimal number")
    if value < 0:
        raise CellError(f"{text!r} is negative")
    if value.as_tuple().exponent < -MONEY_PLACES:  # type: ignore[operator]
        trimmed = value.normalize()
        if trimmed.as_tuple().exponent < -MONEY_PLACES:  # type: ignore[operator]
            raise CellError(f"{text!r} has more than {MONEY_PLACES} decimal places")
        value = trimmed
    if value >= MONEY_LIMIT:
        raise CellError(f"{text!r} is too large (below {MONEY_LIMIT})")
    return value


def seconds(cell: Cell, *, minimum: int = 1) -> int:
    """Whole seconds in [minimum, 3600]; ``30s`` (CGRateS) is 30."""
    text = text_of(cell).removesuffix("s")
    if not text.isdigit():
        raise CellError(f"{text_of(cell)!r} is not a whole number of seconds")
    value = int(text)
    if not minimum <= value <= MAX_SECONDS:
        raise CellError(f"{value} is not between {minimum} and {MAX_SECONDS} seconds")
    return value


def increments(cell: Cell) -> tuple[int, int]:
    """``F/N`` (first F seconds as a block, then steps of N); ``N`` alone is ``N/N``."""
    text = text_of(cell)
    first, slash, following = text.partition("/")
    try:
        initial = seconds(first)
        step = seconds(following) if slash else initial
    except CellError:
        raise CellError(f"{text!r} is not an increment like 60/60 or 30/6") from None
    return initial, step


def change(cell: Cell) -> Change | None:
    text = text_of(cell).lower().replace(" ", "")
    if not text:
        return None
    found = CHANGE_WORDS.get(text)
    if found is None:
        raise CellError(
            f"{text_of(cell)!r} is not a change flag (Increase, Decrease, New, Closed, Unchanged)"
        )
    return found


def flag(cell: Cell) -> bool:
    if isinstance(cell, bool):
        return cell
    text = text_of(cell).lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise CellError(f"{text_of(cell)!r} is not yes or no")


def destination(cell: Cell) -> str:
    text = " ".join(text_of(cell).split())
    if _NUMBER_LIKE.fullmatch(text):
        raise CellError(f"{text!r} is a number, not a destination name (are columns shifted?)")
    if len(text) > MAX_DESTINATION:
        raise CellError(f"longer than {MAX_DESTINATION} characters")
    if "\x00" in text:
        raise CellError("a NUL character is not allowed")
    return text


def codes(cell: Cell, *, country_code: str = "", international_prefix: str = "") -> list[str]:
    """The dial codes of one cell: ``9370``; several joined (``9370, 9371``); a country code and
    area codes (``93 70,71`` = 9370, 9371; Freeside); ``+`` and spaces inside a code dropped.
    With ``country_code`` (its own column) every piece is an area code after it."""
    plain = not (country_code or international_prefix) and isinstance(cell, str)
    if plain and cell.isdigit() and cell.isascii() and len(cell) <= MAX_PREFIX:  # type: ignore[union-attr]
        return [cell]  # type: ignore[list-item]  # the common case, a million times a deck
    text = text_of(cell).replace("+", "")
    if not text:
        raise CellError("no dial code")
    pieces = [piece.strip() for piece in re.split(r"[,;]", text)]
    found: list[str] = []
    lead = country_code
    first = pieces[0].split()
    if not country_code and len(first) > 1:  # "93 70,71": a country code, then area codes
        lead = first[0]
        pieces[0] = "".join(first[1:])
    for piece in pieces:
        if not piece:
            raise CellError(f"{text!r} has an empty code between separators")
        if "-" in piece:
            raise CellError(f"{piece!r}: code ranges are not read; list each code")
        code = lead + "".join(piece.split())
        if international_prefix and code.startswith(international_prefix):
            code = code[len(international_prefix) :]
        if not _CODE.fullmatch(code):
            raise CellError(
                f"{piece!r} is not a dial code (digits only, at most {MAX_PREFIX}, "
                "after '+' and spaces are removed)"
            )
        found.append(code)
    return found


_DAY_FIRST_OR_MONTH = re.compile(r"([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})")
_YEAR_FIRST = re.compile(r"([0-9]{4})[/.-]([0-9]{1,2})[/.-]([0-9]{1,2})")
_TIME_ZONE = re.compile(
    r"(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?(?:\.[0-9]+)?)?"
    r"\s*(Z|UTC|GMT)?\s*(?:([+-])([0-9]{1,2}):?([0-9]{2})?)?",
    re.IGNORECASE,
)


def when(cell: Cell, order: str | None) -> datetime:
    """A moment, UTC unless the cell says otherwise. ``order`` tells ``3/12/2024``: ``"md"``
    (March 12) or ``"dm"`` (3 December); None raises ``AmbiguousDate`` for such a date."""
    if isinstance(cell, datetime):
        return cell if cell.tzinfo else cell.replace(tzinfo=UTC)
    if isinstance(cell, date):
        return datetime(cell.year, cell.month, cell.day, tzinfo=UTC)
    text = text_of(cell)
    if not isinstance(cell, str):
        raise CellError(f"{text!r} is not a date")
    year_first = _YEAR_FIRST.match(text)
    if year_first:
        year, month, day = (int(part) for part in year_first.groups())
        rest = text[year_first.end() :]
    else:
        other = _DAY_FIRST_OR_MONTH.match(text)
        if not other:
            raise CellError(f"{text!r} is not a date (yyyy-mm-dd, mm/dd/yyyy, dd/mm/yyyy, …)")
        first, second, year = (int(part) for part in other.groups())
        rest = text[other.end() :]
        if order is None:
            order = "dm" if first > 12 else "md" if second > 12 else None
            if order is None and first != second:
                raise AmbiguousDate(text)
            order = order or "md"
        month, day = (first, second) if order == "md" else (second, first)
    clock = _TIME_ZONE.fullmatch(rest)
    if clock is None:
        raise CellError(f"{text!r} is not a date: {rest.strip()!r} after the day")
    hour, minute, second_, _, sign, zone_hours, zone_minutes = clock.groups()
    zone = UTC
    if sign:
        offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes or 0))
        zone = timezone(offset if sign == "+" else -offset)
    try:
        return datetime(
            year, month, day, int(hour or 0), int(minute or 0), int(second_ or 0), tzinfo=zone
        )
    except ValueError as exc:
        raise CellError(f"{text!r} is not a date: {exc}") from None


class AmbiguousDate(CellError):
    def __init__(self, text: str) -> None:
        super().__init__(
            f"{text!r} could be month/day or day/month: set the layout's date_format "
            "(mm/dd/yyyy or dd/mm/yyyy)"
        )
        self.text = text


def date_order(date_format: str | None) -> str | None:
    if date_format in ("mm/dd/yyyy",):
        return "md"
    if date_format in ("dd/mm/yyyy", "dd-mm-yyyy", "dd.mm.yyyy"):
        return "dm"
    return None


def order_of(text: str) -> str | None:
    """What one date text says of the deck's day/month order (None: nothing)."""
    other = _DAY_FIRST_OR_MONTH.match(text)
    if not other:
        return None
    first, second = int(other.group(1)), int(other.group(2))
    return "dm" if first > 12 else "md" if second > 12 else None
