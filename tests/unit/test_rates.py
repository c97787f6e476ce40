from decimal import Decimal as D

from kemi.rates import Rate, RateIndex

DAY = 86_400.0


def rate(prefix, price, start=0.0, end=None):
    return Rate(prefix, D(price), 1, 1, D(0), start, end)


def test_longest_prefix_wins():
    index = RateIndex.of_rates(
        1, "USD", [rate("44", "0.01"), rate("447", "0.03"), rate("4477", "0.05")]
    )
    assert index.match("447700900123", at=DAY).prefix == "4477"
    assert index.match("447123", at=DAY).prefix == "447"
    assert index.match("4420", at=DAY).prefix == "44"
    assert index.match("33123", at=DAY) is None


def test_effective_window_picks_the_current_row():
    index = RateIndex.of_rates(
        1, "USD", [rate("44", "0.01", 0, 10 * DAY), rate("44", "0.02", 10 * DAY)]
    )
    assert index.match("4420", at=5 * DAY).rate == D("0.01")
    assert index.match("4420", at=10 * DAY).rate == D("0.02")


def test_closed_or_future_prefix_falls_back_to_its_parent():
    index = RateIndex.of_rates(
        1,
        "USD",
        [rate("44", "0.01"), rate("447", "0.03", 0, 5 * DAY), rate("4420", "0.02", 7 * DAY)],
    )
    assert index.match("447700", at=6 * DAY).prefix == "44"  # 447 closed on day 5
    assert index.match("442079", at=6 * DAY).prefix == "44"  # 4420 opens on day 7
    assert index.match("442079", at=8 * DAY).prefix == "4420"


def test_number_shorter_than_the_longest_prefix():
    index = RateIndex.of_rates(1, "USD", [rate("1", "0.01"), rate("1212555", "0.02")])
    assert index.match("12", at=DAY).prefix == "1"
    assert len(index) == 2
