"""One row of cells to its rates (one per dial code of the row), or its refusals.

A value seen before is not parsed again: a million-row deck holds a few thousand distinct
rates, dates and increments, so each field keeps what its cells meant (an error included),
keyed by the cell.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from operator import itemgetter

from admin.ratedecks import values
from admin.ratedecks.deck import Deck, DeckRate, RowError
from admin.ratedecks.layout import Layout
from admin.ratedecks.sheets import Cell
from admin.ratedecks.values import AmbiguousDate, CellError, Change

ZERO = Decimal(0)
ROWS_REMEMBERED = 200_000  # distinct rows' terms kept (a 1M-row A-Z deck has ~55k)
_START, _END = 6, 7  # effective_from, effective_to in a row's terms
_ABSENT = object()  # an empty optional cell
# every field's values are remembered: even names repeat (a breakout inherits its parent's)
REMEMBERED = ("rate", "previous_rate", "connect_fee", "billing_increment", "initial_increment",
              "next_increment", "minimum_duration", "change", "forbidden", "currency",
              "effective_from", "effective_to", "destination", "country")  # fmt: skip
# few distinct values each, and fewer together: remembered as one tuple of cells
GROUPED = ("connect_fee", "billing_increment", "initial_increment", "next_increment",
           "minimum_duration", "change", "forbidden", "currency", "country")  # fmt: skip


class RowReader:
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
        # (field, column index, parse) of the fields read together, one lookup for them all
        self.grouped: list[tuple[str, int, Callable[[Cell], object]]] = []
        for name in REMEMBERED:
            if name == "country" and "destination" in positions:
                continue  # the country names a code only when the deck has no destination
            if name not in positions:
                continue
            parse = self._guarded(name, parsers[name])
            if name in GROUPED:
                self.grouped.append((name, positions[name], parse))
            else:
                memo = self.memos.setdefault(name, {})
                self.steps.append((name, positions[name], parse, memo))
        indices = [index for _, index, _ in self.grouped]
        self.group_key: Callable[[list[Cell]], tuple] | None = None
        if len(indices) > 1:
            self.group_key = itemgetter(*indices)
        elif indices:
            self.group_key = lambda cells: (cells[indices[0]],)
        self.group_memo: dict[tuple, tuple[dict[str, object], list[tuple[str, CellError]]]] = {}
        self.text_only = text_only  # CSV: every cell is text (a workbook's may be floats)
        # a CSV row's cells but the code's (and country code's), to read each such set once
        # (a workbook's are not: 1, 1.0 and True are one key)
        rest = sorted({index for _, index, _, _ in self.steps} | set(indices))
        self.rest_of: Callable[[list[Cell]], object] | None = None
        if text_only and rest:
            self.rest_of = itemgetter(*rest)  # one index: the cell itself, a fine key too
        self.rows_memo: dict[object, tuple[list[tuple[str, str]], tuple | None]] = {}
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
        if self.rest_of is None:
            faults, terms = self._terms(cells)
        else:  # most rows repeat another's cells but for the code: read those once
            rest = self.rest_of(cells)
            try:
                faults, terms = self.rows_memo[rest]
            except KeyError:
                faults, terms = self._terms(cells)
                if len(self.rows_memo) < ROWS_REMEMBERED:
                    self.rows_memo[rest] = faults, terms
        problems = [RowError(number, column, message) for column, message in faults]
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
        if problems or terms is None:
            return [], problems
        rates = [DeckRate(number, prefix, *terms) for prefix in prefixes]
        for name, text in (("effective_from", terms[_START]), ("effective_to", terms[_END])):
            if isinstance(text, str):  # day/month not known yet: settled after the last row
                self.pending += [(rate, name, text) for rate in rates]
        return rates, []

    def _terms(self, cells: list[Cell]) -> tuple[list[tuple[str, str]], tuple | None]:
        """What a row's cells but its code say: its refusals as (column, message), or the
        rate's fields after the code (DeckRate's order from the destination on)."""
        faults: list[tuple[str, str]] = []
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
                faults.append((self.names[name], str(value)))
            else:
                fields[name] = value
        if self.group_key is not None:
            key = self.group_key(cells)
            try:
                parsed, errors = self.group_memo[key]
            except KeyError:
                parsed, errors = self.group_memo[key] = self._read_group(key)
            except TypeError:  # unhashable
                parsed, errors = self._read_group(key)
            fields.update(parsed)
            faults += [(self.names[name], str(error)) for name, error in errors]
        if self.checks_rows:
            faults += self._consistency(fields)
        if faults:
            return faults, None
        initial, step = self._increments(fields)
        get = fields.get
        return faults, (
            get("destination") or get("country") or "",
            fields["rate"],
            initial,
            step,
            get("connect_fee", ZERO),
            get("minimum_duration", 0),
            get("effective_from"),
            get("effective_to"),
            get("previous_rate"),
            get("change"),
        )

    def _read_group(
        self, cells: tuple[Cell, ...]
    ) -> tuple[dict[str, object], list[tuple[str, CellError]]]:
        parsed: dict[str, object] = {}
        errors: list[tuple[str, CellError]] = []
        for (name, _, parse), cell in zip(self.grouped, cells, strict=True):
            value = parse(cell)
            if isinstance(value, CellError):
                errors.append((name, value))
            elif value is not _ABSENT:
                parsed[name] = value
        return parsed, errors

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

    def _consistency(self, fields: dict[str, object]) -> list[tuple[str, str]]:
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
                (
                    self.names["forbidden"],
                    "a forbidden (reject calls) code: tariffs cannot reject a priced code; "
                    "block the prefix in the routing plan and leave the row out",
                )
            )
        currency = fields.get("currency")
        if self.currency and currency and str(currency).upper() != self.currency:
            problems.append(
                (self.names["currency"], f"{currency}, but the tariff is in {self.currency}")
            )
        start, end = fields.get("effective_from"), fields.get("effective_to")
        if isinstance(start, datetime) and isinstance(end, datetime) and end <= start:
            problems.append(
                (
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
                problems.append((self.names["change"], message))
            elif change == Change.DECREASE and not rate < previous:
                message = f"says Decrease, but the rate {rate} is not below the previous {previous}"
                problems.append((self.names["change"], message))
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
