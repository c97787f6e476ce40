"""The call context a dialog variable carries (kemi.context): what goes in comes back out, and
anything that is not a context of this format is refused whole."""

import json

import pytest

from kemi.context import CONTEXT_FORMAT, CallContext, Side, Target


def context(caller="15551234", trace="plan 1;lcr") -> CallContext:
    vendor = Side(11, "4420", 1_000_000, 1, 1, 50_000, 0)
    return CallContext(
        "a84b4c76e66710@pc33.example.com", 7, 3, "10.0.0.1", caller, "442071234567",
        "00442071234567", "EUR", Side(1, "44", 1_500_000, 60, 60, 0, 30), frozenset({486, 404}),
        1_700_000_000_123,
        (Target(2, "sip:442071234567@192.0.2.1:5060", vendor, True),
         Target(5, "sip:442071234567@192.0.2.9:5080;transport=tcp", vendor)),
        3, 60, True, trace, 42,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("caller", "trace"),
    [
        ("15551234", "plan 1;lcr;-4 margin"),
        ('"quoted"\\back', "ünïcödé ☎"),  # JSON escapes, non-ASCII
        ("?\x1f\x1e?", ""),  # the old format's separators are just characters now
    ],
)
def test_a_context_comes_back_as_it_was_written(caller, trace):
    written = context(caller, trace)
    assert CallContext.decode(written.encode()) == written


def test_the_encoding_is_tagged_with_its_format():
    assert json.loads(context().encode())[0] == CONTEXT_FORMAT


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3\x1fcall-1\x1f1",  # the previous, separator-based format
        json.dumps(["3", *json.loads(context().encode())[1:]]),  # another format's tag
        context().encode()[:-5],  # cut short
        json.dumps([CONTEXT_FORMAT, "call-1", "seven"]),  # a field of the wrong type
    ],
)
def test_anything_else_is_refused_whole(text):
    with pytest.raises(ValueError, match="call context"):
        CallContext.decode(text)


def test_the_event_of_an_attempt_carries_both_sides_terms_as_exact_text():
    event = json.loads(
        context().event(
            2, node="n1", sip_code=200, reason="caller-bye", started_ms=1, answered_ms=2,
            ended_ms=3,
        )
    )  # fmt: skip
    assert (event["terminator_id"], event["gateway"]) == (
        5,
        "sip:442071234567@192.0.2.9:5080;transport=tcp",
    )
    assert (event["customer_rate"], event["vendor_rate"], event["vendor_connect_fee"]) == (
        "0.015", "0.01", "0.0005",
    )  # fmt: skip
    assert event["answered_ms"] == 2 and event["customer_minimum_duration"] == 30
