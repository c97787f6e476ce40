"""Live calls without a node: a dialog list entry read as a call, the filters, the end reason."""

import pytest

from admin.live_calls import CallFilter, LiveCall, from_dialog
from kemi.context import CallContext, Side, Target
from kemi.pipeline import OPERATOR_DROP, end_reason

SIDE = Side(11, "44", 1_000_000, 1, 1, 0, 0)
CONTEXT = CallContext(
    "abc@10.0.0.1", 1, 7, "10.0.0.1", "15551234", "441234567890", "441234567890", "USD",
    Side(1, "44", 1_500_000, 60, 60, 0, 0), frozenset({486}), 1_000_000,
    (Target(3, "sip:441234567890@192.0.2.1:5060", SIDE), Target(4, "sip:4412@192.0.2.2", SIDE)),
)  # fmt: skip


def dialog(**variables: str) -> dict:
    return {
        "h_entry": 12,
        "h_id": 34,
        "state": 4,
        "variables": [{"akira_ctx": CONTEXT.encode()}, *({k: v} for k, v in variables.items())],
    }


def test_a_dialog_of_the_engine_is_a_call_on_its_attempt_in_flight():
    call = from_dialog("n1", dialog(akira_att="2,1000100", akira_ans="1002000"), now=1_010.5)
    assert call is not None
    assert (call.id, call.state, call.call_id) == ("n1:12:34", "answered", "abc@10.0.0.1")
    assert (call.originator_id, call.terminator_id, call.gateway) == (7, 4, "sip:4412@192.0.2.2")
    assert (call.started_at, call.answered_at, call.duration) == (1_000.0, 1_002.0, 8)


@pytest.mark.parametrize(
    "entry",
    [
        {"h_entry": 1, "h_id": 2, "state": 4, "variables": []},  # not one of ours
        {"h_entry": 1, "h_id": 2, "state": 4, "variables": [{"akira_ctx": "9\x1fjunk"}]},
    ],
)
def test_other_dialogs_are_no_calls(entry):
    assert from_dialog("n1", entry, now=0) is None


def test_a_ringing_call_has_no_duration_yet():
    entry = dialog(akira_att="1,1000100") | {"state": 2}
    call = from_dialog("n1", entry, now=2_000)
    assert call is not None and (call.state, call.answered_at, call.duration) == (
        "ringing",
        None,
        0,
    )


def named(**names) -> LiveCall:
    call = from_dialog("n1", dialog(akira_att="1,1"), now=0)
    assert call is not None
    fields = {k: getattr(call, k) for k in call.__slots__} | names
    return LiveCall(**fields)


@pytest.mark.parametrize(
    ("chosen", "admitted"),
    [
        (CallFilter(), True),
        (CallFilter(customer="acme"), True),  # part of the company name, any case
        (CallFilter(customer="trunk-a"), True),  # or of the originator's
        (CallFilter(customer="5"), True),  # a company id
        (CallFilter(customer="6"), False),
        (CallFilter(vendor="carrier"), True),
        (CallFilter(vendor="acme"), False),
        (CallFilter(number="4412"), True),
        (CallFilter(number="1555"), True),  # the caller too
        (CallFilter(number="999"), False),
        (CallFilter(node="n2"), False),
    ],
)
def test_filters(chosen, admitted):
    call = named(customer="ACME Ltd", originator="trunk-a", customer_id=5, vendor="Carrier X")
    assert chosen.admits(call) is admitted


@pytest.mark.parametrize(
    ("by_bye", "from_caller", "before_timeout", "reason"),
    [
        (True, True, False, "caller-bye"),
        (True, False, False, "callee-bye"),
        (False, False, False, "max-duration"),
        (False, False, True, OPERATOR_DROP),
    ],
)
def test_why_an_answered_call_ended(by_bye, from_caller, before_timeout, reason):
    assert end_reason(by_bye, from_caller, before_timeout) == reason
