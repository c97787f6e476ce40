import json
from decimal import Decimal as D

import pytest

from admin.cdr_rating import COLUMNS, InvalidEvent, rate_event

T0 = 1_780_000_000_000
USD = {"USD": 6}


def event(**changes):
    base = {
        "format": 1, "call_id": "c", "attempt": 1, "node": "n", "snapshot_version": 1,
        "originator_id": 1, "src_ip": "10.0.0.1", "caller": "1", "called": "44", "dialed": "44",
        "currency": "USD",
        "customer": {"tariff_id": 1, "prefix": "44", "rate": "0.06", "initial_increment": 60,
                     "next_increment": 60, "connect_fee": "0"},
        "terminator_id": 2, "gateway": "sip:44@192.0.2.1:5060",
        "vendor": {"tariff_id": 2, "prefix": "44", "rate": "0.03", "initial_increment": 1,
                   "next_increment": 1, "connect_fee": "0.001"},
        "sip_code": 200, "reason": "caller-bye", "call_started_ms": T0, "started_ms": T0,
        "answered_ms": T0 + 1000, "ended_ms": T0 + 11_250,
    }  # fmt: skip
    return json.dumps(base | changes)


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
    row = rate_event(event(attempt=0, vendor=None, terminator_id=None, gateway=None,
                           answered_ms=None, sip_code=404), USD)  # fmt: skip
    assert column(row, "vendor_rate") is None
    assert (column(row, "customer_price"), column(row, "vendor_cost")) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer": {"tariff_id": 1, "prefix": "44", "rate": 0.06, "initial_increment": 60,
                       "next_increment": 60, "connect_fee": "0"}},
         "customer.rate: Value error, money must be a decimal string"),
        ({"answered_ms": T0 + 20_000}, "answered_ms is after ended_ms"),
        ({"format": 2}, "format is not 1"),
        ({"started_ms": "yesterday"}, "started_ms"),
        ({"vendor": {"tariff_id": 2, "prefix": "44", "rate": "0.03", "initial_increment": 0,
                     "next_increment": 1, "connect_fee": "0"}}, "vendor.initial_increment"),
        ({"currency": "XXX"}, "unknown currency 'XXX'"),
    ],
)  # fmt: skip
def test_invalid_events_say_which_field_is_wrong(changes, message):
    with pytest.raises(InvalidEvent, match=message):
        rate_event(event(**changes), USD)


def test_not_json_at_all():
    with pytest.raises(InvalidEvent, match="malformed event"):
        rate_event(b"{not json", USD)
