"""A plan's route table against each vendor's own tariff file: the same vendors, windows,
prefixes and order, at any time from the table's start on."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin.route_table import compile_route_table, valid_from
from admin.tariff_compiler import compile_tariff, rows_from_rates
from kemi.rates import TariffFile
from kemi.route_table import RouteTable, RouteTableError


def files(tmp_path, decks, now=0):
    vendors = [rows_from_rates(deck) for deck in decks]
    start = valid_from(vendors, now)
    table_path = tmp_path / "plan.akr"
    table_path.write_bytes(b"".join(compile_route_table(vendors, start)))
    tariffs = []
    for index, rows in enumerate(vendors):
        path = tmp_path / f"v{index}.akt"
        path.write_bytes(compile_tariff(rows))
        tariffs.append(TariffFile(str(path)))
    return RouteTable(str(table_path)), tariffs


def reference(tariffs, number, at):
    """Each vendor's own longest-prefix match, cheapest first (ties: plan order)."""
    found = [(t.match(number, at), v) for v, t in enumerate(tariffs)]
    return sorted(((r, v) for r, v in found if r is not None), key=lambda x: (x[0].rate, x[1]))


def rate(prefix, price, start=0, end=None):
    return (prefix, D(price), 1, 1, D(0), start, end)


def test_one_walk_gives_every_vendor_cheapest_first(tmp_path):
    table, _ = files(
        tmp_path,
        [
            [rate("44", "0.02"), rate("4420", "0.05")],
            [rate("44", "0.01")],
            [rate("4", "0.03"), rate("447", "0.001")],
        ],
    )
    number = "442071234567"
    entries = table.entries(number.encode(), 100)
    assert [(v, length) for v, (_, length) in entries.items()] == [(1, 2), (2, 1), (0, 4)]
    assert [table.rate(number, *match).prefix for match in entries.values()] == ["44", "4", "4420"]


def test_scheduled_changes_are_epochs_of_the_table(tmp_path):
    table, _ = files(
        tmp_path,
        [[rate("44", "0.02", 0, 1000), rate("44", "0.05", 1000)], [rate("44", "0.03")]],
        now=500,
    )
    assert list(table.entries(b"4412", 999)) == [0, 1]
    assert list(table.entries(b"4412", 1000)) == [1, 0]
    with pytest.raises(RouteTableError):
        table.entries(b"4412", -1)


prefixes = st.text("0123", min_size=1, max_size=4)
windows = st.sampled_from([(0, None), (100, None), (0, 150), (100, 250), (200, 400)])
deck = st.dictionaries(st.tuples(prefixes, windows), st.integers(0, 30), max_size=12)


@settings(max_examples=120, deadline=None)
@given(
    decks=st.lists(deck, min_size=1, max_size=5),
    numbers=st.lists(st.tuples(st.text("01234", min_size=1, max_size=7), st.integers(0, 500))),
)
def test_the_table_equals_every_vendors_own_lookup(tmp_path_factory, decks, numbers):
    rates = []
    for items in decks:
        seen, rows = set(), []
        for (prefix, (start, end)), price in items.items():
            if (prefix, start) not in seen:
                seen.add((prefix, start))
                # some equal prices with other minimum durations: distinct terms all the same
                rows.append((*rate(prefix, D(price) / 1000, start, end), price % 3 * 30))
        rates.append(rows)
    table, tariffs = files(tmp_path_factory.mktemp("plan"), rates)
    for number, at in numbers:
        if at < table.valid_from:
            continue
        found = table.entries(number.encode(), at)
        got = [(table.rate(number, *match), v) for v, match in found.items()]
        assert got == reference(tariffs, number, at)
