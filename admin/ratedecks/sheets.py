"""A deck file as rows of cells, whatever it was saved as.

CSV comes in every dialect vendors use: a BOM, CRLF, ``,``/``;``/tab/``|`` separators (sniffed
from the first lines), UTF-8 or, failing that, Windows-1252. XLSX (and XLS/ODS) is read with
python-calamine (docs/decisions/0013): a cell is text, a number (a float, made exact by
``normalize``) or a date. Rows are numbered as a spreadsheet numbers them (the first is 1), so
an error's ``row N`` is the row the operator sees; blank rows are skipped but keep their number.
A CSV is streamed, never held whole: a 1M-row deck is 110 MB of text.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path

Cell = str | float | int | bool | datetime | date | time | None
Record = tuple[int, list[Cell]]  # (row number, cells)
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
DELIMITERS = (",", ";", "\t", "|")
HEAD_ROWS = 60  # what layout detection looks at


class SheetError(Exception):
    """The file cannot be read as a deck at all (missing, binary, not a spreadsheet)."""


@dataclass(frozen=True, slots=True)
class Sheet:
    path: Path
    name: str  # the file's name, with the sheet's for a workbook
    delimiter: str | None  # None for a workbook
    encoding: str | None
    size: int  # bytes, for progress
    head: list[Record]  # the first rows that are not blank, for layout detection
    workbook_rows: list[Record] | None = None  # a workbook's rows (calamine reads it whole)

    def records(self) -> Iterator[Record]:
        """Every row that is not blank, in order."""
        if self.workbook_rows is not None:
            yield from self.workbook_rows
            return
        yield from _csv_records(self.path, self.encoding or "utf-8-sig", self.delimiter or ",")


def open_sheet(path: Path, *, delimiter: str | None = None, sheet: str | None = None) -> Sheet:
    if not path.is_file():
        raise SheetError(f"{path}: no such file")
    if path.suffix.lower() in SPREADSHEET_SUFFIXES:
        return _open_workbook(path, sheet)
    with path.open("rb") as f:
        start = f.read(1 << 16)
    if b"\x00" in start:
        raise SheetError(f"{path.name}: a binary file, not CSV text (a workbook must end in .xlsx)")
    encoding = _encoding(path)
    text = start.decode(encoding, errors="ignore")
    chosen = delimiter or sniff_delimiter(text)
    head = list(islice(_csv_records(path, encoding, chosen), HEAD_ROWS))
    return Sheet(path, path.name, chosen, encoding, path.stat().st_size, head)


def _encoding(path: Path) -> str:
    """UTF-8 (with or without a BOM) when every byte decodes so, else Windows-1252."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as f:
        try:
            while chunk := f.read(1 << 22):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def _csv_records(path: Path, encoding: str, delimiter: str) -> Iterator[Record]:
    with path.open(encoding=encoding, errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        number = 0
        try:
            for record in reader:
                number += 1
                if "".join(record).strip():
                    yield number, record  # type: ignore[misc]
        except csv.Error as exc:
            raise SheetError(f"{path.name}: row {number + 1}: {exc}") from None


def sniff_delimiter(text: str) -> str:
    """The separator that splits most lines into the same number (>1) of fields, the widest
    such; preamble lines (a title, "Issue date: …") may be narrower. One column: ``,``."""
    lines = [line for line in text.splitlines()[:HEAD_ROWS] if line.strip()]
    best, best_fields = ",", 1
    for candidate in DELIMITERS:
        widths = [
            len(row) for row in csv.reader(io.StringIO("\n".join(lines)), delimiter=candidate)
        ]
        widest = max(widths, default=1)
        if widest > best_fields and widths.count(widest) * 2 >= len(widths):
            best, best_fields = candidate, widest
    return best


def _open_workbook(path: Path, sheet: str | None) -> Sheet:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = workbook.sheet_names
        if sheet is not None and sheet not in names:
            raise SheetError(f"{path.name}: no sheet {sheet!r} (sheets: {', '.join(names)})")
        chosen = sheet if sheet is not None else names[0]
        cells = workbook.get_sheet_by_name(chosen).to_python(skip_empty_area=False)
    except CalamineError as exc:
        raise SheetError(f"{path.name}: not a readable spreadsheet: {exc}") from None
    rows: list[Record] = [
        (number, list(record))
        for number, record in enumerate(cells, start=1)
        if any(
            not (cell is None or (isinstance(cell, str) and not cell.strip())) for cell in record
        )
    ]
    name = f"{path.name}[{chosen}]"
    return Sheet(path, name, None, None, path.stat().st_size, rows[:HEAD_ROWS], rows)
