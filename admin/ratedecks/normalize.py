"""A deck's rows to exact, validated rates: one ``DeckRate`` per dial code, or every refusal as
``row N, column: message`` — a deck with one error is refused whole (``DeckErrors``).

Checks: digits-only codes, each on one row only; non-negative rates within the stored scale;
whole-second increments; valid dates, an end after the start; a change flag that agrees with
the previous rate; the tariff's currency; rows as wide as the header (a trailing separator or
a decimal comma in a comma-separated file shifts a row, and is refused, never guessed at).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from admin.ratedecks import values
from admin.ratedecks.bulk import collector_paused
from admin.ratedecks.deck import Deck, DeckErrors, DeckRate, RowError
from admin.ratedecks.layout import Layout, LayoutError, detect, find_header
from admin.ratedecks.rows import RowReader
from admin.ratedecks.sheets import Cell, Record, Sheet, open_sheet

__all__ = ["Deck", "DeckErrors", "DeckRate", "RowError", "normalize", "read_deck"]

MAX_ERRORS = 200  # kept and shown; all are counted


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
    with collector_paused():
        return _normalize(sheet, layout, currency, progress)


def _normalize(
    sheet: Sheet, layout: Layout | None, currency: str | None, progress: Progress | None
) -> Deck:
    layout = layout or detect(sheet.head)
    header_row, header = _header(sheet, layout)
    positions, names = _positions(layout, header, sheet)
    decimal_mark = layout.decimal or _decimal_mark(sheet, layout, positions, header_row)
    reader = RowReader(
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
    if sheet.head and all(isinstance(c, int) for c in layout.columns.values()):
        number, cells = sheet.head[0]  # columns by position: the header only to be skipped
        return number, [values.text_of(cell) for cell in cells]
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
