"""A deck's rows to exact, validated rates: one ``DeckRate`` per dial code, or every refusal as
``row N, column: message`` — a deck with one error is refused whole (``DeckErrors``).

Checks: digits-only codes, each on one row only; non-negative rates within the stored scale;
whole-second increments; valid dates, an end after the start; a change flag that agrees with
the previous rate; the tariff's currency; rows as wide as the header (a trailing separator or
a decimal comma in a comma-separated file shifts a row, and is refused, never guessed at).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from admin.ratedecks import values
from admin.ratedecks.layout import Layout, LayoutError, detect, find_header
from admin.ratedecks.sheets import Cell, Record, Sheet, open_sheet
from admin.ratedecks.values import AmbiguousDate, CellError, Change

MAX_ERRORS = 200  # kept and shown; all are counted
ZERO = Decimal(0)


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


Progress = Callable[[int], None]  # called with the rows read so far, now and then


def read_deck(
    path: Path,
    layout: Layout | None = None,
    *,
    currency: str | None = None,
    progress: Progress | None = None,
) -> Deck:
    """The deck at ``path`` read with ``layout`` (None: detected from its header)."""
    try:
        sheet = open_sheet(
            path,
            delimiter=layout.delimiter if layout else None,
            sheet=layout.sheet if layout else None,
        )
        return normalize(sheet, layout, currency=currency, progress=progress)
    except LayoutError as exc:
        raise DeckErrors([RowError(None, "layout", str(exc))], 1) from None


def normalize(
    sheet: Sheet,
    layout: Layout | None = None,
    *,
    currency: str | None = None,
    progress: Progress | None = None,
) -> Deck:
    layout = layout or detect(sheet.head)
    header_row, header = _header(sheet, layout)
    positions, names = _positions(layout, header, sheet)
    decimal_mark = layout.decimal or _decimal_mark(sheet, layout, positions, header_row)
    reader = _RowReader(
        layout, positions, names, decimal_mark, currency, text_only=sheet.workbook_rows is None
    )
    deck = Deck(sheet.name, layout, {})
    width = len(header) if header else None
    errors: list[RowError] = []
    total = 0
    seen_rows = 0
    for number, cells in _data_records(sheet.records(), header_row):
        seen_rows += 1
        if progress is not None and seen_rows % 10_000 == 0:
            progress(seen_rows)
        if width is None:
            width = len(cells)
        if len(cells) != width:
            problems = [RowError(number, "row", _width_message(cells, width, header))]
            rates: list[DeckRate] = []
        else:
            rates, problems = reader.read(number, cells)
        for rate in rates:
            earlier = deck.rates.get(rate.prefix)
            if earlier is None:
                deck.rates[rate.prefix] = rate
                continue
            same = _same_start(rate, [earlier, *deck.later.get(rate.prefix, [])])
            if same is None:  # another window of the code: checked against its others below
                deck.later.setdefault(rate.prefix, []).append(rate)
            else:
                message = f"{rate.prefix} is on row {same.row} too"
                if rate.effective_from is not None:
                    message += " from the same date"
                problems.append(RowError(number, names["code"], message))
        if problems:
            total += len(problems)
            errors.extend(problems[: MAX_ERRORS - len(errors)])
    deck.rows = seen_rows
    if progress is not None:
        progress(seen_rows)
    problems = reader.settle_dates(deck)
    if not problems:
        problems = _overlaps(deck, names)
    total += len(problems)
    errors.extend(problems[: max(MAX_ERRORS - len(errors), 0)])
    if not seen_rows:
        errors.append(RowError(None, "file", "no rows of rates"))
        total += 1
    if total:
        raise DeckErrors(errors, total)
    used = {str(column) for column in layout.columns.values()}
    deck.unused_columns = [cell for cell in header if cell and cell not in used]
    return deck


def _same_start(rate: DeckRate, others: list[DeckRate]) -> DeckRate | None:
    """The row of the same code this one duplicates: without dates, any; else one starting
    at the same moment."""
    for other in others:
        if rate.effective_from is None or other.effective_from is None:
            return other
        if other.effective_from == rate.effective_from:
            return other
    return None


def _overlaps(deck: Deck, names: dict[str, str]) -> list[RowError]:
    """A code on several rows (one window each, as a canonical export writes a scheduled
    change) must not have two windows at once."""
    problems = []
    for prefix, later in deck.later.items():
        windows = sorted([deck.rates[prefix], *later], key=_start)
        deck.rates[prefix], deck.later[prefix] = windows[0], windows[1:]
        for before, after in pairwise(windows):
            if before.effective_to is not None and before.effective_to > _start(after):
                column = names.get("effective_to", "effective_to")
                problems.append(
                    RowError(
                        before.row,
                        column,
                        f"{prefix}'s window overlaps the one of row {after.row} "
                        f"(from {after.effective_from:%Y-%m-%d %H:%M})",
                    )
                )
    return problems


def _start(rate: DeckRate) -> datetime:
    assert rate.effective_from is not None  # a code has several rows only with dates
    return rate.effective_from


def _header(sheet: Sheet, layout: Layout) -> tuple[int, list[str]]:
    if not layout.header:
        return 0, []
    if layout.header_row is not None:
        for number, cells in sheet.head:
            if number == layout.header_row:
                return number, [values.text_of(cell) for cell in cells]
    return find_header(sheet.head, layout)


def _positions(layout: Layout, header: list[str], sheet: Sheet) -> tuple[dict, dict]:
    """field -> 0-based index, and field -> the column's name for errors."""
    positions: dict[str, int] = {}
    names: dict[str, str] = {}
    for name, column in layout.columns.items():
        if isinstance(column, int):
            positions[name] = column - 1
            label = header[column - 1] if column <= len(header) else ""
            names[name] = label or f"column {column} ({name})"
        else:
            if column not in header:
                raise LayoutError(
                    f"{sheet.name} has no column {column!r} for {name} "
                    f"(its header: {', '.join(cell for cell in header if cell)})"
                )
            positions[name] = header.index(column)
            names[name] = column
    return positions, names


def _data_records(records: Iterable[Record], header_row: int) -> Iterable[Record]:
    for number, cells in records:
        if number > header_row:
            yield number, cells


def _decimal_mark(sheet: Sheet, layout: Layout, positions: dict, header_row: int) -> str:
    """',' for a deck not separated by commas whose rates are written with one, else '.'."""
    if sheet.delimiter == ",":
        return "."
    index = positions["rate"]
    rates = [
        cells[index]
        for number, cells in sheet.head
        if number > header_row and index < len(cells) and isinstance(cells[index], str)
    ]
    with_comma = [text for text in rates if "," in text]
    return "," if with_comma and not any("." in text for text in rates) else "."


def _width_message(cells: list[Cell], width: int, header: list[str]) -> str:
    what = "the header has" if header else "the first row has"
    message = f"{len(cells)} fields, {what} {width}"
    if len(cells) == width + 1 and values.text_of(cells[-1]) == "":
        message += " (a trailing separator?)"
    elif len(cells) > width:
        message += " (a decimal comma or an unquoted separator in a field?)"
    return message


_ABSENT = object()  # an empty optional cell
# every field's values are remembered: even names repeat (a breakout inherits its parent's)
REMEMBERED = ("rate", "previous_rate", "connect_fee", "billing_increment", "initial_increment",
              "next_increment", "minimum_duration", "change", "forbidden", "currency",
              "effective_from", "effective_to", "destination", "country")  # fmt: skip


class _RowReader:
    """Reads one row's cells into its rates. A value seen before is not parsed again: a
    million-row deck holds a few thousand distinct rates, dates and increments, so each field
    keeps what its cells meant (an error included) by the cell's text."""

    def __init__(
        self,
        layout: Layout,
        positions: dict[str, int],
        names: dict[str, str],
        decimal_mark: str,
        currency: str | None,
        text_only: bool = False,
    ) -> None:
        self.layout = layout
        self.positions = positions
        self.names = names
        self.currency = currency
        self.default_increments = values.increments(layout.default_increments)
        self.order = values.date_order(layout.date_format)
        # dates settled after the last row: (rate, field, text)
        self.pending: list[tuple[DeckRate, str, str]] = []
        parsers: dict[str, Callable[[Cell], object]] = {
            "rate": lambda cell: values.money(cell, decimal_mark),
            "previous_rate": lambda cell: values.money(cell, decimal_mark),
            "connect_fee": lambda cell: values.money(cell, decimal_mark),
            "billing_increment": values.increments,
            "initial_increment": values.seconds,
            "next_increment": values.seconds,
            "minimum_duration": lambda cell: values.seconds(cell, minimum=0),
            "change": values.change,
            "forbidden": values.flag,
            "currency": values.text_of,
            "effective_from": self._date,
            "effective_to": self._date,
            "destination": values.destination,
            "country": values.destination,
        }
        self.memos: dict[str, dict[object, object]] = {}
        # (field, column index, parse, its remembered values), for the fields mapped
        self.steps: list[tuple[str, int, Callable[[Cell], object], dict]] = []
        for name in REMEMBERED:
            if name == "country" and "destination" in positions:
                continue  # the country names a code only when the deck has no destination
            if name in positions:
                memo = self.memos.setdefault(name, {})
                self.steps.append((name, positions[name], self._guarded(name, parsers[name]), memo))
        self.text_only = text_only  # CSV: every cell is text (a workbook's may be floats)
        self.code_index = positions["code"]
        self.country_code_index = positions.get("country_code")
        self.checks_rows = bool(
            {"forbidden", "currency", "effective_to"} & positions.keys()
            or {"previous_rate", "change"} <= positions.keys()
        )

    @staticmethod
    def _guarded(name: str, parse: Callable[[Cell], object]) -> Callable[[Cell], object]:
        """``parse`` returning an empty optional cell as _ABSENT and a refusal as the error."""
        required = name == "rate"

        def guarded(cell: Cell) -> object:
            if not required and (cell is None or (isinstance(cell, str) and not cell.strip())):
                return _ABSENT
            try:
                return parse(cell)
            except CellError as exc:
                return exc
            except (TypeError, ValueError):  # a cell of a kind no parser expects
                return CellError(f"{cell!r} cannot be read")

        return guarded

    def read(self, number: int, cells: list[Cell]) -> tuple[list[DeckRate], list[RowError]]:
        problems: list[RowError] = []
        fields: dict[str, object] = {}
        text_only = self.text_only
        for name, index, parse, memo in self.steps:
            cell = cells[index]
            key = cell if text_only or not isinstance(cell, float) else repr(cell)
            try:
                value = memo[key]
            except KeyError:
                value = memo[key] = parse(cell)
            except TypeError:  # unhashable
                value = parse(cell)
            if value is _ABSENT:
                continue
            if isinstance(value, CellError):
                problems.append(RowError(number, self.names[name], str(value)))
            else:
                fields[name] = value
        country_code = ""
        if self.country_code_index is not None:
            country_code = values.text_of(cells[self.country_code_index]).replace("+", "")
        try:  # not remembered: every code is new
            prefixes = values.codes(
                cells[self.code_index],
                country_code=country_code,
                international_prefix=self.layout.international_prefix,
            )
        except CellError as exc:
            problems.append(RowError(number, self.names["code"], str(exc)))
            prefixes = []
        if self.checks_rows:
            problems += self._consistency(number, fields)
        if problems:
            return [], problems
        initial, step = self._increments(fields)
        get = fields.get
        destination = get("destination") or get("country") or ""
        start, end = get("effective_from"), get("effective_to")
        rates = [
            DeckRate(
                number,
                prefix,
                destination,  # type: ignore[arg-type]
                fields["rate"],  # type: ignore[arg-type]
                initial,
                step,
                get("connect_fee", ZERO),  # type: ignore[arg-type]
                get("minimum_duration", 0),  # type: ignore[arg-type]
                start,  # type: ignore[arg-type]
                end,  # type: ignore[arg-type]
                get("previous_rate"),  # type: ignore[arg-type]
                get("change"),  # type: ignore[arg-type]
            )
            for prefix in prefixes
        ]
        for name, text in (("effective_from", start), ("effective_to", end)):
            if isinstance(text, str):  # day/month not known yet: settled after the last row
                self.pending += [(rate, name, text) for rate in rates]
        return rates, []

    def _date(self, cell: Cell) -> datetime | str:
        try:
            return values.when(cell, self.order)
        except AmbiguousDate as exc:
            return exc.text  # settled later

    def _increments(self, fields: dict[str, object]) -> tuple[int, int]:
        initial, step = fields.get("billing_increment") or (None, None)  # type: ignore[misc]
        initial = fields.get("initial_increment", initial)
        step = fields.get("next_increment", step)
        if initial is None and step is None:
            return self.default_increments
        return int(initial or step), int(step or initial)  # type: ignore[arg-type]

    def _consistency(self, number: int, fields: dict[str, object]) -> list[RowError]:
        get = fields.get
        currency = get("currency")
        if (
            not get("forbidden")
            and get("effective_to") is None
            and get("change") not in (Change.INCREASE, Change.DECREASE)
            and (currency is None or not self.currency or currency == self.currency)
        ):
            return []  # nothing to check: most rows
        problems = []
        if fields.get("forbidden"):
            problems.append(
                RowError(
                    number,
                    self.names["forbidden"],
                    "a forbidden (reject calls) code: tariffs cannot reject a priced code; "
                    "block the prefix in the routing plan and leave the row out",
                )
            )
        currency = fields.get("currency")
        if self.currency and currency and str(currency).upper() != self.currency:
            problems.append(
                RowError(
                    number,
                    self.names["currency"],
                    f"{currency}, but the tariff is in {self.currency}",
                )
            )
        start, end = fields.get("effective_from"), fields.get("effective_to")
        if isinstance(start, datetime) and isinstance(end, datetime) and end <= start:
            problems.append(
                RowError(
                    number,
                    self.names["effective_to"],
                    f"{end:%Y-%m-%d %H:%M} is not after the effective date {start:%Y-%m-%d %H:%M}",
                )
            )
        rate, previous, change = (
            fields.get("rate"),
            fields.get("previous_rate"),
            fields.get("change"),
        )
        if isinstance(rate, Decimal) and isinstance(previous, Decimal):
            if change == Change.INCREASE and not rate > previous:
                message = f"says Increase, but the rate {rate} is not above the previous {previous}"
                problems.append(RowError(number, self.names["change"], message))
            elif change == Change.DECREASE and not rate < previous:
                message = f"says Decrease, but the rate {rate} is not below the previous {previous}"
                problems.append(RowError(number, self.names["change"], message))
        return problems

    def settle_dates(self, deck: Deck) -> list[RowError]:
        """Dates like 3/12/2024 read with the order the deck's other dates show; a deck
        whose dates show both orders is refused."""
        texts = [
            (name, key)
            for name in ("effective_from", "effective_to")
            for key in self.memos.get(name, ())
            if isinstance(key, str)
        ]
        orders = {values.order_of(text) for _, text in texts} - {None}
        if self.order is None and len(orders) > 1:
            name = texts[0][0]
            message = "some dates are month/day, others day/month: set the layout's date_format"
            return [RowError(None, self.names[name], message)]
        if not self.pending:
            return []
        if not orders:
            rate, name, text = self.pending[0]
            message = f"{text!r} could be month/day or day/month: set the layout's date_format"
            return [RowError(rate.row, self.names[name], message)]
        order = orders.pop()
        settled: dict[int, DeckRate] = {}  # id of a row's rate as read -> with its dates
        problems = []
        for rate, name, text in self.pending:
            try:
                moment = values.when(text, order)
            except CellError as exc:
                problems.append(RowError(rate.row, self.names[name], str(exc)))
                continue
            current = settled.get(id(rate), rate)
            settled[id(rate)] = current._replace(**{name: moment})
        for prefix, rate in deck.rates.items():
            if id(rate) in settled:
                deck.rates[prefix] = settled[id(rate)]
        for later in deck.later.values():
            later[:] = [settled.get(id(rate), rate) for rate in later]
        return problems
