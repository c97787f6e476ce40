"""A tariff out as a deck, CSV or XLSX: every window in force at ``now`` or to come, so a
scheduled change goes out with its date. In the canonical layout (DESIGN §6) by default, or in
a vendor's layout (a preset or a saved mapping): the file imports back with the same layout to
the same windows. Money stays exact text, never a float, as decisions/0011 has it for every
spreadsheet the admin writes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from admin.queries import query
from admin.ratedecks.layout import DATE_FORMATS, PRESETS, Layout, LayoutError
from admin.ratedecks.store import money_text

CANONICAL_COLUMNS = (
    "prefix", "destination", "rate", "initial_increment", "next_increment", "connect_fee",
    "effective_from", "effective_to",
)  # fmt: skip
# a window as rate_deck_tariff_windows returns it
Window = tuple  # (prefix, destination, rate, initial, next, fee, minimum, start, end)


def windows(
    conn: psycopg.Connection, tariff_id: int, now: datetime | None = None
) -> Iterator[Window]:
    moment = now or datetime.now(UTC)
    with conn.cursor(name="rate_deck_export") as cursor:
        cursor.itersize = 20_000
        cursor.execute(query("rate_deck_tariff_windows"), {"tariff_id": tariff_id, "now": moment})
        yield from cursor


def _moment(value: datetime | None, date_format: str | None) -> str:
    if value is None:
        return ""
    value = value.astimezone(UTC)
    if date_format and value == value.replace(hour=0, minute=0, second=0, microsecond=0):
        return value.strftime(DATE_FORMATS[date_format])
    return value.isoformat().replace("+00:00", "Z")


def _writer(layout: Layout, currency: str) -> tuple[list[str] | None, Callable[[Window], list]]:
    """The header (None without one) and a window's cells in ``layout``."""
    if "country_code" in layout.columns:
        raise LayoutError("a layout with a country_code column cannot be written: codes are whole")
    mark = layout.decimal or "."
    dates = layout.date_format

    def money(value: object) -> str:
        text = money_text(value)  # type: ignore[arg-type]
        return text.replace(".", ",") if mark == "," else text

    values: dict[str, Callable[[Window], object]] = {
        "code": lambda w: w[0],
        "destination": lambda w: w[1],
        "country": lambda w: "" if "destination" in layout.columns else w[1],
        "rate": lambda w: money(w[2]),
        "previous_rate": lambda w: "",
        "billing_increment": lambda w: f"{w[3]}/{w[4]}",
        "initial_increment": lambda w: str(w[3]),
        "next_increment": lambda w: str(w[4]),
        "connect_fee": lambda w: money(w[5]),
        "minimum_duration": lambda w: str(w[6]),
        "effective_from": lambda w: _moment(w[7], dates),
        "effective_to": lambda w: _moment(w[8], dates),
        "change": lambda w: "",
        "forbidden": lambda w: "no",
        "currency": lambda w: currency,
    }
    positional = any(isinstance(column, int) for column in layout.columns.values())
    if positional:
        width = max(int(column) for column in layout.columns.values())
        slots = [(int(column) - 1, values[name]) for name, column in layout.columns.items()]

        def cells(window: Window) -> list:
            row: list = [""] * width
            for index, value in slots:
                row[index] = value(window)
            return row

        header = None
        if layout.header:
            header = [""] * width
            for name, column in layout.columns.items():
                header[int(column) - 1] = name
        return header, cells
    order = [(str(column), values[name]) for name, column in layout.columns.items()]
    return [name for name, _ in order], lambda window: [value(window) for _, value in order]


def export(
    conn: psycopg.Connection,
    tariff_id: int,
    target: Path,
    *,
    layout: Layout | None = None,
    currency: str = "",
    now: datetime | None = None,
) -> int:
    """Write the tariff to ``target`` (``.xlsx``: a workbook, else CSV); returns the rows.
    A layout without an effective date cannot say when a window starts: a tariff with a
    scheduled change is refused in it rather than written as if in force now."""
    layout = layout or PRESETS["canonical"]
    header, cells = _writer(layout, currency)
    undated = "effective_from" not in layout.columns
    moment = now or datetime.now(UTC)
    count = 0

    def rows() -> Iterator[list]:
        nonlocal count
        for window in windows(conn, tariff_id, moment):
            if undated and (window[7] > moment or window[8] is not None):
                change = (
                    f"a window from {window[7]:%Y-%m-%d} to come"
                    if window[7] > moment
                    else f"a window ending {window[8]:%Y-%m-%d}"
                )
                raise LayoutError(
                    f"{window[0]} has {change}: this layout has no effective date to say so "
                    "(export in canonical)"
                )
            count += 1
            yield cells(window)

    with conn.transaction():
        if target.suffix.lower() == ".xlsx":
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("rates")
            if header:
                sheet.append(header)
            for row in rows():
                sheet.append(row)
            workbook.save(target)
        else:
            delimiter = layout.delimiter or (";" if layout.decimal == "," else ",")
            with target.open("w", newline="", encoding="utf-8") as f:
                out = csv.writer(f, delimiter=delimiter)
                if header:
                    out.writerow(header)
                for row in rows():
                    out.writerow(row)
    return count
