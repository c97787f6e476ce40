import decimal
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- rating tables over every increment edge (issue: money) --------------------------------

EDGES = (0, 1, 5, 6, 7, 29, 30, 31, 59, 60, 61, 119, 120, 121, 3599, 3600, 7201)
BILLED_AT_EDGES = {  # (initial, next) -> billed seconds for each of EDGES, worked out by hand
    (60, 60): (0, 60, 60, 60, 60, 60, 60, 60, 60, 60, 120, 120, 120, 180, 3600, 3600, 7260),
    (1, 1): EDGES,
    (30, 6): (0, 30, 30, 30, 30, 30, 30, 36, 60, 60, 66, 120, 120, 126, 3600, 3600, 7206),
    (6, 6): (0, 6, 6, 6, 12, 30, 30, 36, 60, 60, 66, 120, 120, 126, 3600, 3600, 7206),
    (60, 1): (0, 60, 60, 60, 60, 60, 60, 60, 60, 60, 61, 119, 120, 121, 3599, 3600, 7201),
}


@pytest.mark.parametrize(
    ("increments", "seconds", "billed"),
    [
        (increments, seconds, billed)
        for increments, row in BILLED_AT_EDGES.items()
        for seconds, billed in zip(EDGES, row, strict=True)
    ],
)
def test_billed_seconds_at_every_increment_edge(increments, seconds, billed):
    assert billed_seconds(seconds, *increments) == billed


@pytest.mark.parametrize(
    ("seconds", "increments", "minimum", "billed"),
    [
        (1, (30, 6), 90, 90),  # raised to the minimum, which is on an increment
        (61, (30, 6), 90, 90),
        (91, (30, 6), 90, 96),  # above the minimum: the increments alone
        (1, (60, 60), 45, 60),  # raised to 45, then to the first increment
        (1, (1, 1), 30, 30),
        (0, (1, 1), 30, 0),  # not answered / no talk time: the minimum does not apply
    ],
)
def test_a_minimum_duration_then_the_increments(seconds, increments, minimum, billed):
    assert billed_seconds(seconds, *increments, minimum) == billed


@pytest.mark.parametrize(
    ("seconds", "expected"),
    # 30/6 at 0.01234567/min, connect fee 0.0015, 30 s minimum, 6 decimal places (half up)
    [(0, D("0.001500")), (1, D("0.007673")), (31, D("0.008907")), (7201, D("1.484215"))],
)
def test_cost_with_fee_and_minimum_at_edges(seconds, expected):
    # 7201 s -> 7206 billed: 0.0015 + 7206 x 0.01234567 / 60 = 1.484214967 -> 1.484215
    _, cost = call_cost(
        answered=True,
        duration=D(seconds),
        rate=D("0.01234567"),
        initial_increment=30,
        next_increment=6,
        connect_fee=D("0.0015"),
        precision=6,
        minimum_duration=30,
    )
    assert cost == expected


def reference_cost(duration, rate, initial, following, fee, minimum, precision):
    """Exact rationals and loops, written apart from kemi.money: whole seconds started, raised
    to the minimum, then increments added one by one; fee + billed x rate / 60, rounded half
    up once."""
    from fractions import Fraction

    exact = Fraction(duration)
    seconds = -(-exact.numerator // exact.denominator)
    if seconds == 0:
        billed = 0
    else:
        seconds = max(seconds, minimum)
        billed = initial
        while billed < seconds:
            billed += following
    cost = Fraction(fee) + Fraction(billed) * Fraction(rate) / 60
    scaled = cost * 10**precision
    rounded = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)
    return billed, D(rounded).scaleb(-precision)


@settings(max_examples=500, deadline=None)
@given(
    duration=st.decimals(0, 10_000, places=3),
    rate=st.decimals(0, 100, places=8),
    increments=st.sampled_from([(60, 60), (1, 1), (30, 6), (6, 6), (60, 1), (30, 30), (1, 60)]),
    fee=st.decimals(0, 5, places=8),
    minimum=st.sampled_from([0, 0, 10, 30, 60, 90]),
    precision=st.integers(0, 8),
)
def test_call_cost_equals_an_exact_reference_and_never_touches_float(
    duration, rate, increments, fee, minimum, precision
):
    with decimal.localcontext() as context:
        context.traps[decimal.FloatOperation] = True  # any float mixed in raises
        got = call_cost(
            answered=True,
            duration=duration,
            rate=rate,
            initial_increment=increments[0],
            next_increment=increments[1],
            connect_fee=fee,
            precision=precision,
            minimum_duration=minimum,
        )
    assert got == reference_cost(duration, rate, *increments, fee, minimum, precision)
    assert got[1].as_tuple().exponent == -precision  # to the currency's places, exactly
