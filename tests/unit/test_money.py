from decimal import Decimal as D

import pytest

from kemi.money import billable_seconds, billed_seconds, call_cost, decimal_text


@pytest.mark.parametrize(
    ("seconds", "initial", "following", "billed"),
    [
        (0, 60, 60, 0),
        (1, 60, 60, 60),
        (60, 60, 60, 60),
        (61, 60, 60, 120),
        (1, 1, 1, 1),
        (37, 1, 1, 37),
        (1, 30, 6, 30),
        (30, 30, 6, 30),
        (31, 30, 6, 36),
        (36, 30, 6, 36),
        (37, 30, 6, 42),
        (125, 60, 10, 130),
    ],
)
def test_billed_seconds_follow_increments(seconds, initial, following, billed):
    assert billed_seconds(seconds, initial, following) == billed


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [(D("0"), 0), (D("0.001"), 1), (D("1.000"), 1), (D("1.001"), 2), (D("59.999"), 60)],
)
def test_any_started_second_is_billable(duration, seconds):
    assert billable_seconds(duration) == seconds


@pytest.mark.parametrize(
    ("answered", "duration", "rate", "initial", "following", "fee", "precision", "expected"),
    [
        # 61 s at 1/1 and 0.0123/min: 61 * 0.0123 / 60 = 0.012505 exactly
        (True, D("61"), D("0.0123"), 1, 1, D("0"), 6, (61, D("0.012505"))),
        # half up at the last place: 0.0123 * 61 / 60 to 5 places = 0.01251 (0.012505 -> up)
        (True, D("61"), D("0.0123"), 1, 1, D("0"), 5, (61, D("0.01251"))),
        # 30/6 increments, 31 s -> 36 s; connect fee added once before rounding
        (True, D("30.2"), D("0.06"), 30, 6, D("0.01"), 6, (36, D("0.046000"))),
        # 60/60: a 1 s call costs a full minute
        (True, D("0.5"), D("0.0270"), 60, 60, D("0"), 6, (60, D("0.027000"))),
        # unanswered attempts cost nothing, connect fee included
        (False, D("0"), D("0.5"), 1, 1, D("0.1"), 6, (0, D("0.000000"))),
        # answered with zero talk time: only the connect fee
        (True, D("0"), D("0.5"), 1, 1, D("0.1"), 6, (0, D("0.100000"))),
        # 1/3 of a cent per second repeats forever: rounded once, at the end
        (True, D("1"), D("0.2"), 1, 1, D("0"), 6, (1, D("0.003333"))),
    ],
)
def test_call_cost(answered, duration, rate, initial, following, fee, precision, expected):
    assert (
        call_cost(
            answered=answered,
            duration=duration,
            rate=rate,
            initial_increment=initial,
            next_increment=following,
            connect_fee=fee,
            precision=precision,
        )
        == expected
    )


def test_decimal_text_has_no_exponent_or_trailing_zeros():
    assert decimal_text(D("0E-8")) == "0"
    assert decimal_text(D("0.02700000")) == "0.027"
    assert decimal_text(D("10.00")) == "10"
