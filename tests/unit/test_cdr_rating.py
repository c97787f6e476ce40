import json
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from admin.cdr_rating import COLUMNS, InvalidEvent, rate_event
from kemi.cdr import TERMS
from kemi.context import CallContext, Side, Target
from kemi.money import call_cost

T0 = 1_780_000_000_000
USD = {"USD": 6}


def event(**changes):
    base = {
        "format": 3, "call_id": "c", "attempt": 1, "node": "n", "snapshot_version": 1,
        "originator_id": 1, "terminator_id": 2, "gateway": "sip:44@192.0.2.1:5060",
        "src_ip": "10.0.0.1", "caller": "1", "called": "44", "dialed": "44",
        "sip_code": 200, "reason": "caller-bye", "call_started_ms": T0, "started_ms": T0,
        "answered_ms": T0 + 1000, "ended_ms": T0 + 11_250, "currency": "USD",
        **terms("customer", 1, "0.06", 60, 60, "0"), **terms("vendor", 2, "0.03", 1, 1, "0.001"),
        "trace": "originator 1 by address 10.0.0.1",
    }  # fmt: skip
    return json.dumps(base | changes)


def terms(side, tariff_id, rate, initial, nxt, fee, prefix="44", minimum=0):
    values = (tariff_id, prefix, rate, initial, nxt, fee, minimum)
    return {f"{side}_{name}": value for name, value in zip(TERMS, values, strict=True)}


def column(row, name):
    return row[COLUMNS.index(name)]


def test_both_sides_are_priced_from_the_terms_in_the_event():
    row = rate_event(event(), USD)
    assert column(row, "duration") == D("10.25")
    assert (column(row, "customer_billed_seconds"), column(row, "customer_price")) == (
        60, D("0.060000"))  # fmt: skip
    # 11 s at 0.03/min + 0.001 = 0.0065 exactly
    assert (column(row, "vendor_billed_seconds"), column(row, "vendor_cost")) == (11, D("0.006500"))


def test_a_rejected_call_has_no_vendor_and_costs_nothing():
    no_vendor = dict.fromkeys(terms("vendor", *[None] * 7))
    row = rate_event(event(attempt=0, terminator_id=None, gateway=None, answered_ms=None,
                           sip_code=404, **no_vendor), USD)  # fmt: skip
    assert column(row, "vendor_rate") is None
    assert (column(row, "customer_price"), column(row, "vendor_cost")) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_rate": 0.06}, "customer_rate: money must be a decimal string"),
        ({"customer_rate": "-0.06"}, "customer_rate: money must be a decimal string >= 0"),
        ({"customer_rate": "NaN"}, "customer_rate: money must be a decimal string >= 0"),
        ({"customer_rate": "six cents"}, "customer_rate: money must be a decimal string >= 0"),
        # what the column cannot hold would fail the whole batch's COPY, not just this event
        ({"vendor_connect_fee": "12345678901"}, r"vendor_connect_fee: .* more than 10 digits"),
        ({"attempt": 40_000}, "attempt: Expected `int` <= 32767"),
        ({"ended_ms": T0 + 7_200_000, "vendor_rate": "9999999999"}, "does not fit numeric"),
        ({"src_ip": "10.0.0.300"}, "src_ip: not an IP address"),
        ({"caller": "15\u00005"}, "PostgreSQL cannot store"),
        ({"customer_prefix": "44\n"}, r"customer_prefix: '44\\n' does not match"),
        ({"sip_code": 99}, "sip_code: Expected `int` >= 100"),
        ({"attempt": True}, "attempt: Expected `int`, got `bool`"),
        ({"ended_ms": 1.5e12}, "ended_ms: Expected `int`, got `float`"),
        ({"call_id": ""}, "call_id: Expected `str` of length >= 1"),
        ({"format": "3"}, "format is not 3"),
        ({"answered_ms": T0 + 20_000}, "answered_ms is after ended_ms"),
        ({"ringing_ms": T0 - 1}, "ringing_ms is outside the attempt"),
        ({"ringing_ms": T0 + 20_000}, "ringing_ms is outside the attempt"),
        ({"ringing_ms": "soon"}, "ringing_ms: Expected `int | null`"),
        ({"format": 4}, "format is not 3"),
        ({"started_ms": "yesterday"}, "started_ms"),
        ({"vendor_initial_increment": 0}, "vendor_initial_increment"),
        ({"vendor_rate": None}, "vendor terms are incomplete"),
        ({"surprise": 1}, "surprise: unknown field"),
        ({"currency": "XXX"}, "unknown currency 'XXX'"),
    ],
)  # fmt: skip
def test_invalid_events_say_which_field_is_wrong(changes, message):
    with pytest.raises(InvalidEvent, match=message):
        rate_event(event(**changes), USD)


def test_every_field_is_required():
    document = json.loads(event())
    del document["trace"]
    with pytest.raises(InvalidEvent, match="trace: missing"):
        rate_event(json.dumps(document), USD)


def test_the_ringing_is_stored_and_engines_before_it_leave_it_out():
    ringing = column(rate_event(event(ringing_ms=T0 + 400), USD), "ringing_at")
    assert ringing.timestamp() * 1000 == T0 + 400
    assert "ringing_ms" not in json.loads(event())  # the event of an engine before 0017
    assert column(rate_event(event(), USD), "ringing_at") is None


def test_not_json_at_all():
    with pytest.raises(InvalidEvent, match="malformed event"):
        rate_event(b"{not json", USD)


def test_the_engines_event_is_what_the_rater_reads():
    context = CallContext(
        "call-1", 7, 1, "10.0.0.1", "15550001", "447700900123", "+447700900123", "USD",
        Side(1, "447", 4_000_000, 30, 6, 100_000, 0), frozenset({486}), T0,
        (Target(3, "sip:447700900123@192.0.2.1:5060", Side(3, "447", 2_500_000, 1, 1, 0, 15)),),
    )  # fmt: skip
    assert CallContext.decode(context.encode()) == context
    line = context.event(
        1, node="n1", sip_code=200, reason="caller-bye", started_ms=T0 + 10,
        answered_ms=T0 + 2_000, ended_ms=T0 + 63_500,
    )  # fmt: skip
    row = rate_event(line, USD)
    assert column(row, "customer_rate") == D("0.04") and column(row, "vendor_rate") == D("0.025")
    # 61.5 s: customer 30/6 -> 66 s at 0.04 + 0.001 fee; vendor 1/1 -> 62 s at 0.025
    assert (column(row, "customer_billed_seconds"), column(row, "customer_price")) == (
        66, D("0.045000"))  # fmt: skip
    assert (column(row, "vendor_billed_seconds"), column(row, "vendor_cost")) == (62, D("0.025833"))
    assert column(row, "vendor_minimum_duration") == 15  # above it: no effect, but kept


def test_a_minimum_duration_bills_short_calls_as_if_they_lasted_it():
    """10.25 s answered: the vendor's 1/1 with a 30 s minimum bills 30 s; the customer's 60/60
    with a 90 s minimum bills 120 s (the minimum, then rounded up to the increments)."""
    row = rate_event(
        event(
            **terms("customer", 1, "0.06", 60, 60, "0", minimum=90),
            **terms("vendor", 2, "0.03", 1, 1, "0", minimum=30),
        ),
        USD,
    )
    assert (column(row, "customer_billed_seconds"), column(row, "customer_price")) == (
        120, D("0.120000"))  # fmt: skip
    assert (column(row, "vendor_billed_seconds"), column(row, "vendor_cost")) == (30, D("0.015000"))
    assert column(row, "vendor_minimum_duration") == 30
    unanswered = rate_event(
        event(answered_ms=None, **terms("vendor", 2, "0.03", 1, 1, "0", minimum=30)), USD
    )
    assert (column(unanswered, "vendor_billed_seconds"), column(unanswered, "vendor_cost")) == (
        0,
        0,
    )


def test_events_of_format_2_are_still_rated_without_minimums():
    old = json.loads(event())
    old["format"] = 2
    for side in ("customer", "vendor"):
        del old[f"{side}_minimum_duration"]
    row = rate_event(json.dumps(old, separators=(",", ":")), USD)
    assert column(row, "customer_minimum_duration") == column(row, "vendor_minimum_duration") == 0
    assert column(row, "vendor_billed_seconds") == 11


def test_events_of_the_nested_format_1_are_still_rated():
    nested = {
        "format": 1, "call_id": "old", "attempt": 0, "node": "n", "snapshot_version": 1,
        "originator_id": 1, "src_ip": "10.0.0.1", "caller": "1", "called": "44", "dialed": "44",
        "currency": "USD", "terminator_id": None, "gateway": None, "vendor": None,
        "customer": {"tariff_id": 1, "prefix": "44", "rate": "0.06", "initial_increment": 60,
                     "next_increment": 60, "connect_fee": "0"},
        "sip_code": 404, "reason": "no-vendor", "call_started_ms": T0, "started_ms": T0,
        "answered_ms": None, "ended_ms": T0 + 5,
    }  # fmt: skip
    row = rate_event(json.dumps(nested, separators=(",", ":")), USD)
    assert (column(row, "call_id"), column(row, "customer_rate")) == ("old", D("0.06"))


def test_a_value_is_checked_each_time_until_it_passes():
    """Checked values are remembered: a bad one must never be."""
    for _ in range(2):
        with pytest.raises(InvalidEvent, match="src_ip: not an IP address"):
            rate_event(event(src_ip="2001:db8::zz"), USD)
    assert column(rate_event(event(src_ip="2001:db8::1"), USD), "src_ip") == "2001:db8::1"


@given(
    talk_ms=st.integers(0, 7_200_000),
    rate=st.decimals("0", "9.99999999", places=8),
    increments=st.sampled_from([(1, 1), (6, 6), (30, 6), (60, 60), (60, 1)]),
    minimum=st.integers(0, 120),
    fee=st.sampled_from(["0", "0.001", "0.0125"]),
)
@settings(max_examples=300)
def test_priced_once_per_whole_second_as_call_cost_prices_each_millisecond(
    talk_ms, rate, increments, minimum, fee
):
    terms_ = terms("customer", 1, f"{rate:f}", *increments, fee, minimum=minimum)
    row = rate_event(event(answered_ms=T0, ended_ms=T0 + talk_ms, **terms_), USD)
    expected = call_cost(
        answered=True, duration=D(talk_ms) / 1000, rate=rate, initial_increment=increments[0],
        next_increment=increments[1], connect_fee=D(fee), precision=6, minimum_duration=minimum,
    )  # fmt: skip
    assert (column(row, "customer_billed_seconds"), column(row, "customer_price")) == expected
    assert column(row, "duration") == D(talk_ms) / 1000
