"""Which column of a deck holds which field: detected from its header, a named preset for the
headerless layouts vendors document, or a mapping saved for a terminator or tariff.

A layout is plain data (JSON in ``rate_deck_mappings.layout``). A column is named by its header
text or, without a header, by its position (1 is the first column). Detection matches header
cells against the names FORMATS.md lists, ignoring case, spaces and punctuation, so ``Cost /
Min (USD)`` is ``costminusd``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from admin.ratedecks.sheets import Cell, Record

# the fields a deck may carry; prefix, rate are required (the others have defaults)
FIELDS = (
    "code",  # dial code(s): one or several joined by commas, or area codes after country_code
    "country_code",  # when the codes column holds area codes only
    "destination",
    "country",  # joined before destination when the layout has no destination
    "rate",
    "previous_rate",
    "billing_increment",  # "F/N"
    "initial_increment",
    "next_increment",
    "connect_fee",
    "minimum_duration",
    "effective_from",
    "effective_to",
    "change",  # Increase / Decrease / New / Closed / Unchanged
    "forbidden",  # priced but rejected: refused (tariffs cannot reject a code)
    "currency",
)
REQUIRED = ("code", "rate")
DATE_FORMATS = {  # the five DNL's template accepts (FORMATS.md), and ISO with a time
    "yyyy-mm-dd": "%Y-%m-%d",
    "mm/dd/yyyy": "%m/%d/%Y",
    "dd/mm/yyyy": "%d/%m/%Y",
    "dd-mm-yyyy": "%d-%m-%Y",
    "yyyy/mm/dd": "%Y/%m/%d",
    "dd.mm.yyyy": "%d.%m.%Y",
}

# header names seen in real decks (FORMATS.md), squeezed (see squeeze); first match wins
SYNONYMS: dict[str, tuple[str, ...]] = {
    "code": (
        "code", "codes", "dialcode", "dialcodes", "prefix", "prefixes", "dialprefix",
        "scanprefix", "destinationcode", "matchprefix", "countrycodeprefix", "e164",
    ),
    "country_code": ("countrycode", "cc"),
    "destination": (
        "destination", "destinationname", "description", "codename", "name", "label",
        "destinationdescription", "zone",
    ),
    "country": ("country", "countryname"),
    "rate": (
        "rate", "price", "rateperminute", "ratemin", "costmin", "costminusd", "perminutecost",
        "ratecost", "priceperminute", "cost", "rateusd", "newrate", "interrate",
    ),
    "previous_rate": ("previousrate", "oldrate", "prevrate", "previousprice", "oldprice"),
    "billing_increment": ("billingincrement", "billing", "increments", "billingincrements"),
    "initial_increment": (
        "initialincrement", "intervalfirst", "firstincrement", "firstinterval", "duration",
        "initialtime", "initialtimes", "mintime",
    ),
    "next_increment": (
        "nextincrement", "increment", "intervalnext", "recurringincrement", "nextinterval",
        "subsequentincrement", "rateincrement", "pulse", "interval",
    ),
    "connect_fee": (
        "connectfee", "connectionfee", "connectcost", "connectioncost", "connectioncostusd",
        "setupfee", "ratesurcharge", "ratecall", "connectcharge",
    ),
    "minimum_duration": ("minimumduration", "ratemimimum", "rateminimum", "minduration"),
    "effective_from": (
        "effectivedate", "effectivefrom", "validfrom", "activationdate", "activationtime",
        "startdate", "effective", "datefrom",
    ),
    "effective_to": ("enddate", "effectiveto", "expirationdate", "validtill", "validto", "dateto"),
    "change": ("change", "changes", "changetype", "changeflag", "ratechange"),
    "forbidden": ("forbidden", "rejectcalls", "reject", "blocked", "rejectrate"),
    "currency": ("currency", "currencycode"),
}  # fmt: skip


class LayoutError(Exception):
    """The deck's columns cannot be told: say which mapping to give."""


@dataclass(frozen=True, slots=True)
class Layout:
    """How to read one vendor's decks."""

    columns: dict[str, str | int]  # field -> header text, or 1-based position without header
    header: bool = True
    header_row: int | None = None  # the header's row number (None: detect, after a preamble)
    delimiter: str | None = None  # CSV separator (None: sniffed)
    decimal: str | None = None  # "." or "," (None: "," only for a ;/tab CSV whose rates have one)
    date_format: str | None = None  # a DATE_FORMATS key (None: told from the dates themselves)
    default_increments: str = "1/1"  # when the deck has no increment column
    international_prefix: str = ""  # stripped from codes that start with it: "00", "011"
    sheet: str | None = None  # a workbook's sheet (None: the first)

    def as_json(self) -> dict[str, Any]:
        """What a saved mapping keeps: not the header's row, which moves with the preamble."""
        data = asdict(self)
        data.pop("header_row")
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Layout:
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), Mapping):
            raise LayoutError("a layout is a JSON object with a 'columns' object")
        known = set(cls.__dataclass_fields__) - {"header_row"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LayoutError(f"unknown layout settings: {', '.join(unknown)}")
        try:
            return cls(**dict(data)).checked()
        except TypeError as exc:
            raise LayoutError(f"not a layout: {exc}") from None

    def checked(self) -> Layout:
        unknown = sorted(set(self.columns) - set(FIELDS))
        if unknown:
            raise LayoutError(
                f"unknown fields {', '.join(unknown)}: a column maps to one of {', '.join(FIELDS)}"
            )
        missing = [name for name in REQUIRED if name not in self.columns]
        if missing:
            raise LayoutError(f"no column for {', '.join(missing)}: map one (--column code=…)")
        for name, column in self.columns.items():
            if not self.header and not (isinstance(column, int) and column >= 1):
                raise LayoutError(f"{name}: without a header, a column is a position (1, 2, …)")
        if self.decimal not in (None, ".", ","):
            raise LayoutError(f"decimal mark {self.decimal!r}: '.' or ','")
        if self.date_format is not None and self.date_format not in DATE_FORMATS:
            raise LayoutError(f"date format {self.date_format!r}: one of {', '.join(DATE_FORMATS)}")
        if not re.fullmatch(r"[1-9][0-9]{0,3}/[1-9][0-9]{0,3}", self.default_increments):
            raise LayoutError(f"default increments {self.default_increments!r}: like 60/60")
        if not re.fullmatch(r"[0-9]{0,4}", self.international_prefix):
            raise LayoutError(f"international prefix {self.international_prefix!r}: digits")
        return self

    def with_columns(self, overrides: Mapping[str, str | int]) -> Layout:
        return replace(self, columns={**self.columns, **overrides}).checked()


# Headerless layouts that vendors document by position (FORMATS.md §2).
PRESETS: dict[str, Layout] = {
    # SyncSwitch: rate/min, rate/call, currency id, grace, minimum duration, pulse, start, end,
    # days, seconds per minute, destination name, destination code
    "syncswitch": Layout(
        {
            "rate": 1, "connect_fee": 2, "initial_increment": 5, "next_increment": 6,
            "destination": 11, "code": 12,
        },
        header=False,
    ),
    # IXC Softswitch price lists: code;country;price with a decimal comma
    "ixc": Layout({"code": 1, "destination": 2, "rate": 3}, header=False, decimal=","),
    # Freeside: destination name, country code [area,area…], rate per minute
    "freeside": Layout({"destination": 1, "code": 2, "rate": 3}, header=False),
    # DESIGN §6: prefix,destination,rate,initial_increment,next_increment,connect_fee,
    # effective_from[,effective_to]
    "canonical": Layout(
        {
            "code": "prefix", "destination": "destination", "rate": "rate",
            "initial_increment": "initial_increment", "next_increment": "next_increment",
            "connect_fee": "connect_fee", "effective_from": "effective_from",
            "effective_to": "effective_to",
        },
    ),
}  # fmt: skip


def squeeze(text: object) -> str:
    return re.sub(r"[^a-z0-9]", "", str(text).lower())


_FIELD_OF = {name: field for field, names in SYNONYMS.items() for name in names}


def header_fields(cells: Sequence[Cell]) -> dict[str, str]:
    """field -> the header cell naming it, for the cells that name a field (first one wins)."""
    found: dict[str, str] = {}
    for cell in cells:
        if not isinstance(cell, str):
            continue
        name = _FIELD_OF.get(squeeze(cell))
        if name and name not in found:
            found[name] = cell
    return found


def find_header(head: Sequence[Record], layout: Layout | None = None) -> tuple[int, list[str]]:
    """The header row's number and cells: the first row naming a code and a rate column (or
    every column ``layout`` names); the rows above it are a preamble."""
    if not head:
        raise LayoutError("the file has no rows")
    wanted = {str(c) for c in layout.columns.values()} if layout else None
    for number, cells in head:
        texts = [str(cell).strip() if cell is not None else "" for cell in cells]
        if wanted is not None:
            if wanted <= set(texts):
                return number, texts
        elif {"code", "rate"} <= header_fields(texts).keys():
            return number, texts
    if wanted is not None:
        raise LayoutError(
            f"no header row with the columns {', '.join(sorted(wanted))} in the first "
            f"{len(head)} rows"
        )
    raise LayoutError(
        f"no header row naming a code and a rate column in the first {len(head)} rows: give a "
        f"saved mapping or a preset (--mapping {'|'.join(PRESETS)}) or the columns "
        f"(--column code=N --column rate=N, positions from 1, with --no-header)"
    )


def detect(head: Sequence[Record]) -> Layout:
    """A layout from the header row: every column whose name is a known field."""
    number, cells = find_header(head)
    columns: dict[str, str | int] = dict(header_fields(cells))
    if "billing_increment" in columns and {"initial_increment", "next_increment"} & set(columns):
        columns.pop("billing_increment")  # separate columns say more than "F/N"
    return Layout(columns, header_row=number).checked()
