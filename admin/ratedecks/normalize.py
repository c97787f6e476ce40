"""A deck's rows to exact, validated rates: one ``DeckRate`` per dial code, or every refusal as
``row N, column: message`` — a deck with one error is refused whole (``DeckErrors``).

Checks: digits-only codes, each on one row only; non-negative rates within the stored scale;
whole-second increments; valid dates, an end after the start; a change flag that agrees with
the previous rate; the tariff's currency; rows as wide as the header (a trailing separator or
a decimal comma in a comma-separated file shifts a row, and is refused, never guessed at).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from admin.ratedecks import values
from admin.ratedecks.layout import Layout, LayoutError, detect, find_header
from admin.ratedecks.sheets import Cell, Record, Sheet, open_sheet
from admin.ratedecks.values import AmbiguousDate, CellError, Change

MAX_ERRORS = 200  # kept and shown; all are counted


@dataclass(frozen=True, slots=True)
class DeckRate:
    """One dial code of a deck, exact. ``effective_from`` None: the deck has no date column."""

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
    reader = _RowReader(layout, positions, names, decimal_mark, currency)
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


class _RowReader:
    """Reads one row's cells into its rates. Values seen before are not parsed again: a
    million-row deck holds a few thousand distinct rates, dates and increments."""

    def __init__(
        self,
        layout: Layout,
        positions: dict[str, int],
        names: dict[str, str],
        decimal_mark: str,
        currency: str | None,
    ) -> None:
        self.layout = layout
        self.positions = positions
        self.names = names
        self.decimal_mark = decimal_mark
        self.currency = currency
        self.default_increments = values.increments(layout.default_increments)
        self.order = values.date_order(layout.date_format)
        self.memo: dict[tuple[str, object], object] = {}
        # dates settled after the last row: (rate, field, text)
        self.pending: list[tuple[DeckRate, str, str]] = []

    def _cell(self, cells: list[Cell], name: str) -> Cell:
        index = self.positions.get(name)
        return None if index is None else cells[index]

    def _parse(self, kind: str, cell: Cell, parse: Callable[[Cell], object]) -> object:
        key = (kind, cell if not isinstance(cell, float) else repr(cell))
        try:
            found = self.memo[key]
        except KeyError:
            try:
                found = parse(cell)
            except CellError as exc:
                found = exc
            except TypeError:  # an unhashable or odd cell type
                found = CellError(f"{cell!r} cannot be read")
            self.memo[key] = found
        if isinstance(found, CellError):
            raise found
        return found

    def read(self, number: int, cells: list[Cell]) -> tuple[list[DeckRate], list[RowError]]:
        problems: list[RowError] = []
        fields: dict[str, object] = {}

        def take(name: str, parse: Callable[[Cell], object], *, optional: bool = True) -> None:
            cell = self._cell(cells, name)
            if cell is None and name not in self.positions:
                return
            if optional and values.text_of(cell) == "" and not isinstance(cell, bool):
                return
            try:
                fields[name] = self._parse(name, cell, parse)
            except CellError as exc:
                problems.append(RowError(number, self.names[name], str(exc)))

        mark = self.decimal_mark
        take("rate", lambda cell: values.money(cell, mark), optional=False)
        take("previous_rate", lambda cell: values.money(cell, mark))
        take("connect_fee", lambda cell: values.money(cell, mark))
        take("billing_increment", values.increments)
        take("initial_increment", values.seconds)
        take("next_increment", values.seconds)
        take("minimum_duration", lambda cell: values.seconds(cell, minimum=0))
        take("change", values.change)
        take("forbidden", values.flag)
        take("destination", values.destination)
        take("country", values.destination)
        take("currency", values.text_of)
        for name in ("effective_from", "effective_to"):
            take(name, self._date)
        country_code = values.text_of(self._cell(cells, "country_code")).replace("+", "")
        try:  # not remembered: every code is new
            prefixes = values.codes(
                self._cell(cells, "code"),
                country_code=country_code,
                international_prefix=self.layout.international_prefix,
            )
        except CellError as exc:
            problems.append(RowError(number, self.names["code"], str(exc)))
            prefixes = []
        problems += self._consistency(number, fields)
        if problems:
            return [], problems
        initial, step = self._increments(fields)
        destination = fields.get("destination") or fields.get("country") or ""
        rates = [
            DeckRate(
                row=number,
                prefix=prefix,
                destination=destination,  # type: ignore[arg-type]
                rate=fields["rate"],  # type: ignore[arg-type]
                initial_increment=initial,
                next_increment=step,
                connect_fee=fields.get("connect_fee", Decimal(0)),  # type: ignore[arg-type]
                minimum_duration=fields.get("minimum_duration", 0),  # type: ignore[arg-type]
                effective_from=fields.get("effective_from"),  # type: ignore[arg-type]
                effective_to=fields.get("effective_to"),  # type: ignore[arg-type]
                previous_rate=fields.get("previous_rate"),  # type: ignore[arg-type]
                change=fields.get("change"),  # type: ignore[arg-type]
            )
            for prefix in prefixes  # type: ignore[attr-defined]
        ]
        for name in ("effective_from", "effective_to"):
            text = fields.get(name)
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
            (key[0], key[1])
            for key in self.memo
            if key[0].startswith("effective_") and isinstance(key[1], str)
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
            settled[id(rate)] = replace(current, **{name: moment})
        for prefix, rate in deck.rates.items():
            if id(rate) in settled:
                deck.rates[prefix] = settled[id(rate)]
        for later in deck.later.values():
            later[:] = [settled.get(id(rate), rate) for rate in later]
        return problems
