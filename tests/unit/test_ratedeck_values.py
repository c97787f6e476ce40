"""Cells to exact values (admin/ratedecks/values.py) and rows to rates (normalize.py): tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from admin.ratedecks import values
from admin.ratedecks.layout import Layout, LayoutError, detect
from admin.ratedecks.normalize import DeckErrors, read_deck
from admin.ratedecks.sheets import sniff_delimiter
from admin.ratedecks.values import CellError, Change


@pytest.mark.parametrize(
    ("cell", "mark", "value"),
    [
        ("0.03284", ".", D("0.03284")),
        ("0,086", ",", D("0.086")),
        (0.03284, ".", D("0.03284")),  # a spreadsheet's float, through its shortest repr
        (2, ".", D(2)),
        (".5", ".", D("0.5")),
        ("0.12345678", ".", D("0.12345678")),
        ("0.1234567800", ".", D("0.12345678")),  # trailing zeros beyond the scale are fine
    ],
)
def test_money_is_exact(cell, mark, value):
    found = values.money(cell, mark)
    assert found == value and isinstance(found, D)


@pytest.mark.parametrize(
    ("cell", "mark", "says"),
    [
        ("0,086", ".", "decimal comma, but this deck's decimal mark is '.'"),
        ("0.086", ",", "has a '.', but this deck's decimal mark is ','"),
        ("-0.01", ".", "is negative"),
        ("0.123456789", ".", "more than 8 decimal places"),
        ("abc", ".", "is not a decimal number"),
        ("1e-3", ".", "is not a decimal number"),
        ("", ".", "is not a decimal number"),
        ("99999999999", ".", "too large"),
        ("NaN", ".", "is not a decimal number"),
    ],
)
def test_bad_money_says_why(cell, mark, says):
    with pytest.raises(CellError, match=says):
        values.money(cell, mark)


@pytest.mark.parametrize(
    ("cell", "codes"),
    [
        ("9370", ["9370"]),
        ("+49151", ["49151"]),
        ("9370, 9371", ["9370", "9371"]),
        ("93 70,71", ["9370", "9371"]),  # Freeside: country code, then area codes
        ("61 38,39", ["6138", "6139"]),
        ("52 33", ["5233"]),
        ("93 744,75", ["93744", "9375"]),
        (93.0, ["93"]),
    ],
)
def test_codes(cell, codes):
    assert values.codes(cell) == codes


def test_codes_after_a_country_code_column_and_an_international_prefix():
    assert values.codes("20, 21", country_code="93") == ["9320", "9321"]
    assert values.codes("011420", international_prefix="011") == ["420"]


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("4670-4673", "code ranges are not read"),
        ("93a", "is not a dial code"),
        ("9370,,9371", "an empty code"),
        ("", "no dial code"),
        ("1" * 21, "is not a dial code"),
    ],
)
def test_bad_codes(cell, says):
    with pytest.raises(CellError, match=says):
        values.codes(cell)


@pytest.mark.parametrize(
    ("cell", "order", "moment"),
    [
        ("2024-01-10", None, datetime(2024, 1, 10, tzinfo=UTC)),
        ("2024/01/10", None, datetime(2024, 1, 10, tzinfo=UTC)),
        ("3/28/2024", None, datetime(2024, 3, 28, tzinfo=UTC)),
        ("28/03/2024", None, datetime(2024, 3, 28, tzinfo=UTC)),
        ("28-03-2024", None, datetime(2024, 3, 28, tzinfo=UTC)),
        ("3/12/2024", "md", datetime(2024, 3, 12, tzinfo=UTC)),
        ("3/12/2024", "dm", datetime(2024, 12, 3, tzinfo=UTC)),
        ("5/5/2024", None, datetime(2024, 5, 5, tzinfo=UTC)),
        ("2019-05-10 07:55:42", None, datetime(2019, 5, 10, 7, 55, 42, tzinfo=UTC)),
        (
            "2024-01-10 10:00 +02:00",
            None,
            datetime(2024, 1, 10, 10, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2024-01-10T10:00Z", None, datetime(2024, 1, 10, 10, tzinfo=UTC)),
        (datetime(2024, 1, 10), None, datetime(2024, 1, 10, tzinfo=UTC)),
    ],
)
def test_dates(cell, order, moment):
    assert values.when(cell, order) == moment


@pytest.mark.parametrize(
    ("cell", "says"),
    [
        ("3/12/2024", "could be month/day or day/month"),
        ("2024-02-30", "day is out of range"),
        ("yesterday", "is not a date"),
        ("2024-01-10 noon", "after the day"),
        (45292.0, "is not a date"),
    ],
)
def test_bad_dates(cell, says):
    with pytest.raises(CellError, match=says):
        values.when(cell, None)


def test_increments_and_change_flags():
    assert values.increments("30/6") == (30, 6)
    assert values.increments("60") == (60, 60)
    assert values.seconds("30s") == 30
    with pytest.raises(CellError, match="not an increment like 60/60"):
        values.increments("0/6")
    assert values.change("Increase") is Change.INCREASE
    assert values.change("N") is Change.NEW
    assert values.change("Removed") is Change.CLOSED
    assert values.change("") is None
    with pytest.raises(CellError, match="not a change flag"):
        values.change("Active")


def test_sniffing_the_separator():
    assert sniff_delimiter("93;Afghanistan;0,086\n9370;AWCC;0,16\n") == ";"
    assert sniff_delimiter("a\tb\tc\n1\t2\t3\n") == "\t"
    assert sniff_delimiter("title line\ncode,rate\n93,0.1\n") == ","


def deck_file(tmp_path: Path, text: str, name: str = "deck.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def refusals(path: Path, layout: Layout | None = None, **kwargs) -> list[str]:
    with pytest.raises(DeckErrors) as refused:
        read_deck(path, layout, **kwargs)
    return [str(error) for error in refused.value.errors]


def test_bom_crlf_semicolons_and_a_decimal_comma(tmp_path):
    path = deck_file(
        tmp_path, "\ufeffCode;Destination;Rate\r\n9370;AWCC;0,16045\r\n93;Fixed;0,03\r\n"
    )
    deck = read_deck(path)
    assert {p: r.rate for p, r in deck.rates.items()} == {"9370": D("0.16045"), "93": D("0.03")}


def test_a_preamble_before_the_header(tmp_path):
    path = deck_file(
        tmp_path,
        "EXAMPLE CARRIER,,\nIssue date:,2025-01-06,\n,,\nDial Codes,Destination,Price\n"
        '"9370, 9371",AWCC,0.16\n',
    )
    deck = read_deck(path)
    assert sorted(deck.rates) == ["9370", "9371"]
    assert {r.row for r in deck.rates.values()} == {5}


def test_windows_1252_text(tmp_path):
    path = deck_file(tmp_path, "code,destination,rate\n225,Côte d'Ivoire,0.1\n", encoding="cp1252")
    assert read_deck(path).rates["225"].destination == "Côte d'Ivoire"


def test_every_bad_row_is_named(tmp_path):
    path = deck_file(
        tmp_path,
        "Code,Destination,Rate,Previous Rate,Change,Effective Date,Billing Increment\n"
        "93,Fixed,0.03,0.03,Unchanged,2024-01-10,60/60\n"  # row 2: fine
        "93,Fixed again,0.03,0.03,Unchanged,2024-01-10,60/60\n"  # row 3: duplicate
        "9370,AWCC,0,16,0.1,Increase,2024-01-10,60/60\n"  # row 4: decimal comma shifts it
        "9371,AWCC,0.16,0.2,Increase,2024-01-10,60/60\n"  # row 5: not an increase
        "9372,AWCC,0.16,,New,2024-02-30,60/60\n"  # row 6: bad date
        "9373,AWCC,-1,,New,2024-01-10,0/60\n"  # row 7: negative, bad increment
        "+9374,AWCC,0.16,,New,2024-01-10,60/60,\n",  # row 8: trailing comma
    )
    assert refusals(path) == [
        "row 3, Code: 93 is on row 2 too from the same date",
        "row 4, row: 8 fields, the header has 7 (a decimal comma or an unquoted separator "
        "in a field?)",
        "row 5, Change: says Increase, but the rate 0.16 is not above the previous 0.2",
        "row 6, Effective Date: '2024-02-30' is not a date: day is out of range for month",
        "row 7, Rate: '-1' is negative",
        "row 7, Billing Increment: '0/60' is not an increment like 60/60 or 30/6",
        "row 8, row: 8 fields, the header has 7 (a trailing separator?)",
    ]


def test_rows_alike_but_for_the_code_are_each_their_own(tmp_path):
    """Cells read once for rows that differ only in the code: a refusal still names each
    row, a bad code only its own, and dates settled later reach every row's rate."""
    path = deck_file(
        tmp_path,
        "Code,Rate,Effective Date\n"
        "441,0.05,3/12/2024\n441X,0.05,3/12/2024\n442,0.05,3/12/2024\n"  # rows 2-4
        "443,-1,3/12/2024\n444,-1,3/12/2024\n445,0.05,3/28/2024\n",  # rows 5-7
    )
    assert refusals(path) == [
        "row 3, Code: '441X' is not a dial code (digits only, at most 20, after '+' and "
        "spaces are removed)",
        "row 5, Rate: '-1' is negative",
        "row 6, Rate: '-1' is negative",
    ]
    good = deck_file(
        tmp_path, "Code,Rate,Effective Date\n441,0.05,3/12/2024\n442,0.05,3/12/2024\n"
        "443,0.05,3/28/2024\n", "good.csv",
    )  # fmt: skip
    rates = read_deck(good).rates
    assert [(r.row, r.prefix, r.effective_from) for r in rates.values()] == [
        (2, "441", datetime(2024, 3, 12, tzinfo=UTC)),
        (3, "442", datetime(2024, 3, 12, tzinfo=UTC)),
        (4, "443", datetime(2024, 3, 28, tzinfo=UTC)),
    ]


def test_ambiguous_dates_take_the_order_the_others_show(tmp_path):
    path = deck_file(
        tmp_path, "code,rate,effective_date\n1201,0.01,3/12/2024\n1202,0.01,3/28/2024\n"
    )
    assert read_deck(path).rates["1201"].effective_from == datetime(2024, 3, 12, tzinfo=UTC)
    alone = deck_file(tmp_path, "code,rate,effective_date\n1201,0.01,3/12/2024\n", "alone.csv")
    assert refusals(alone) == [
        "row 2, effective_date: '3/12/2024' could be month/day or day/month: set the layout's "
        "date_format"
    ]
    both = deck_file(
        tmp_path, "code,rate,effective_date\n1201,0.01,13/03/2024\n1202,0.01,3/28/2024\n", "b.csv"
    )
    assert refusals(both) == [
        "effective_date: some dates are month/day, others day/month: set the layout's date_format"
    ]
    given = Layout({"code": "code", "rate": "rate", "effective_from": "effective_date"},
                   date_format="dd/mm/yyyy")  # fmt: skip
    assert read_deck(alone, given).rates["1201"].effective_from == datetime(2024, 12, 3, tzinfo=UTC)


def test_currency_forbidden_and_end_dates(tmp_path):
    path = deck_file(
        tmp_path,
        "code,rate,currency,forbidden,effective_date,end_date\n"
        "93,0.1,EUR,no,2024-01-10,\n"
        "94,0.1,USD,yes,2024-01-10,\n"
        "95,0.1,USD,no,2024-01-10,2024-01-01\n",
    )
    assert refusals(path, currency="USD") == [
        "row 2, currency: EUR, but the tariff is in USD",
        "row 3, forbidden: a forbidden (reject calls) code: tariffs cannot reject a priced code; "
        "block the prefix in the routing plan and leave the row out",
        "row 4, end_date: 2024-01-01 00:00 is not after the effective date 2024-01-10 00:00",
    ]


def test_layouts_are_checked():
    with pytest.raises(LayoutError, match="no column for rate"):
        Layout({"code": 1}, header=False).checked()
    with pytest.raises(LayoutError, match="unknown fields price"):
        Layout({"code": 1, "rate": 2, "price": 3}, header=False).checked()
    with pytest.raises(LayoutError, match="without a header, a column is a position"):
        Layout({"code": "Code", "rate": 2}, header=False).checked()
    with pytest.raises(LayoutError, match="unknown layout settings: colour"):
        Layout.from_json({"columns": {"code": 1, "rate": 2}, "colour": "red"})
    layout = Layout({"code": 1, "rate": 3}, header=False, decimal=",")
    assert Layout.from_json(layout.as_json()) == layout


def test_detection_reads_the_names_vendors_use():
    head = [(1, ["Code", "Destination", "Connection Cost (USD)", "Cost / Min (USD)",
                 "Initial Increment", "Increment"])]  # fmt: skip
    assert detect(head).columns == {
        "code": "Code",
        "destination": "Destination",
        "connect_fee": "Connection Cost (USD)",
        "rate": "Cost / Min (USD)",
        "initial_increment": "Initial Increment",
        "next_increment": "Increment",
    }


def test_a_code_on_several_rows_is_several_windows_unless_they_clash(tmp_path):
    path = deck_file(
        tmp_path,
        "prefix,rate,effective_from,effective_to\n"
        "93,0.07,2025-01-13,\n"
        "93,0.05,2024-01-01,2025-01-13\n"
        "94,0.05,2024-01-01,2025-02-01\n"
        "94,0.07,2025-01-13,\n"
        "95,0.05,2024-01-01,\n"
        "95,0.06,2024-01-01,\n",
    )
    assert refusals(path) == [
        "row 7, prefix: 95 is on row 6 too from the same date",
        "row 4, effective_to: 94's window overlaps the one of row 5 (from 2025-01-13 00:00)",
    ]
    path.write_text("\n".join(path.read_text().splitlines()[:-2]) + "\n")
    assert refusals(path) == [
        "row 4, effective_to: 94's window overlaps the one of row 5 (from 2025-01-13 00:00)",
    ]
    path.write_text("\n".join(path.read_text().splitlines()[:-2]) + "\n")
    deck = read_deck(path)
    assert deck.rates["93"].rate == D("0.05") and [r.rate for r in deck.later["93"]] == [D("0.07")]
