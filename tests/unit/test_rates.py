"""Tariff files: the compiler's output read back by the engine's lookup, against a reference."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin.tariff_compiler import CompileError, compile_tariff, rows_from_rates
from kemi import tariff_format as fmt
from kemi.rates import Rate, TariffFile, money_decimal, money_text, money_units

DAY = 86_400


def tariff_file(tmp_path, rates) -> TariffFile:
    path = tmp_path / "t.akt"
    path.write_bytes(compile_tariff(rows_from_rates(rates)))
    return TariffFile(str(path))


def rate(prefix, price, start=0, end=None, initial=1, nxt=1, fee="0"):
    return (prefix, D(price), initial, nxt, D(fee), start, end)


def test_longest_prefix_wins(tmp_path):
    tariff = tariff_file(tmp_path, [rate("44", "0.01"), rate("447", "0.03"), rate("4477", "0.05")])
    assert tariff.match("447700900123", at=DAY).prefix == "4477"
    assert tariff.match("447123", at=DAY).prefix == "447"
    assert tariff.match("4420", at=DAY).prefix == "44"
    assert tariff.match("33123", at=DAY) is None
    assert tariff.prefixes == 3


def test_effective_window_picks_the_current_row(tmp_path):
    tariff = tariff_file(tmp_path, [rate("44", "0.01", 0, 10 * DAY), rate("44", "0.02", 10 * DAY)])
    assert tariff.match("4420", at=5 * DAY).rate == money_units(D("0.01"))
    assert tariff.match("4420", at=10 * DAY).rate == money_units(D("0.02"))


def test_closed_or_future_prefix_falls_back_to_its_parent(tmp_path):
    tariff = tariff_file(
        tmp_path,
        [rate("44", "0.01"), rate("447", "0.03", 0, 5 * DAY), rate("4420", "0.02", 7 * DAY)],
    )
    assert tariff.match("447700", at=6 * DAY).prefix == "44"  # 447 closed on day 5
    assert tariff.match("442079", at=6 * DAY).prefix == "44"  # 4420 opens on day 7
    assert tariff.match("442079", at=8 * DAY).prefix == "4420"


def test_terms_and_money_are_exact(tmp_path):
    terms = rate("1", "0.12345678", initial=30, nxt=6, fee="0.5")
    tariff = tariff_file(tmp_path, [(*terms, 90)])  # a 90 s minimum duration
    found = tariff.match("1212", at=DAY)
    assert found == Rate("1", 12_345_678, 30, 6, 50_000_000, 90)
    assert money_text(found.rate) == "0.12345678" and money_text(found.connect_fee) == "0.5"
    assert money_decimal(found.rate) == D("0.12345678")
    with pytest.raises(ValueError, match="decimals"):
        money_units(D("0.123456789"))


def test_an_empty_tariff_matches_nothing(tmp_path):
    assert tariff_file(tmp_path, []).match("44", at=DAY) is None


@pytest.mark.parametrize(
    ("rates", "problem"),
    [
        ([rate("4a", "0.1")], "digits only"),
        ([rate("44", "0.1", 10), rate("44", "0.2", 10)], "same time"),
        ([rate("44", "0.1", 10, 5)], "ends before it starts"),
        ([rate("44", "0.1", initial=0)], "initial increment"),
    ],
)
def test_rates_the_engine_would_misread_are_refused(rates, problem):
    with pytest.raises(CompileError, match=problem):
        compile_tariff(rows_from_rates(rates))


def test_a_truncated_file_is_refused(tmp_path):
    path = tmp_path / "t.akt"
    path.write_bytes(compile_tariff(rows_from_rates([rate("44", "0.1")]))[:-4])
    with pytest.raises(Exception, match="not a complete tariff file"):
        TariffFile(str(path))


def reference(rates, number, at):
    """Longest prefix with a window effective at ``at``; newest window first. Written here,
    independently of the compiler."""
    for length in range(len(number), 0, -1):
        windows = sorted((r for r in rates if r[0] == number[:length]), key=lambda r: -r[5])
        for prefix, price, initial, nxt, fee, start, end, minimum in windows:
            if start <= at < (fmt.OPEN_END if end is None else end):
                return Rate(prefix, money_units(price), initial, nxt, money_units(fee), minimum)
    return None


prefixes = st.text("0123", min_size=1, max_size=5)
windows = st.sampled_from([(0, None), (100, None), (0, 150), (100, 250), (200, 400)])
decks = st.dictionaries(
    st.tuples(prefixes, windows),
    st.tuples(
        st.decimals(0, 10, places=8),
        st.sampled_from([1, 6, 30, 60]),
        st.sampled_from([1, 6]),
        st.sampled_from([0, 0, 15, 60]),  # minimum duration
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    deck=decks,
    numbers=st.lists(st.tuples(st.text("01234", min_size=1, max_size=8), st.integers(0, 500))),
)
def test_lookups_equal_a_brute_force_reference(tmp_path_factory, deck, numbers):
    seen, rates = set(), []
    for (prefix, (start, end)), (price, initial, nxt, minimum) in deck.items():
        if (prefix, start) not in seen:  # one window per prefix and start
            seen.add((prefix, start))
            rates.append((prefix, price, initial, nxt, D(0), start, end, minimum))
    tariff = tariff_file(tmp_path_factory.mktemp("deck"), rates)
    for number, at in numbers:
        assert tariff.match(number, at) == reference(rates, number, at)
