"""What a NOC test call saw, read from SIPp's message trace; how it is judged; its chart."""

import pytest

from admin.noc.runs import judge
from admin.noc.sipp_call import SippOutcome, command, parse_trace
from admin.web.noc import pdd_bars


def block(at: str, direction: str, message: str) -> str:
    verb = "sent (100 bytes):" if direction == "sent" else "received [100] bytes :"
    rule = "-" * 47
    return f"{rule} 2026-12-03 {at}\nUDP message {verb}\n\n{message}\n\n"


INVITE = "INVITE sip:441234567890@127.0.0.1:5060 SIP/2.0\nCall-ID: 1-42@127.0.0.5\nCSeq: 1 INVITE\n"


def reply(code: int, method: str = "INVITE") -> str:
    return f"SIP/2.0 {code} Phrase\nCall-ID: 1-42@127.0.0.5\nCSeq: 1 {method}\n"


def test_an_answered_call_gives_codes_pdd_and_duration():
    trace = "".join(
        (
            block("10:00:00.000000", "sent", INVITE),
            block("10:00:00.020000", "received", reply(100)),
            block("10:00:00.250000", "received", reply(180)),
            block("10:00:00.900000", "received", reply(200)),
            block("10:00:00.901000", "received", reply(200)),  # a retransmission
            block("10:00:00.902000", "sent", "ACK sip:x SIP/2.0\nCSeq: 1 ACK\n"),
            block("10:00:03.902000", "sent", "BYE sip:x SIP/2.0\nCSeq: 2 BYE\n"),
            block("10:00:03.910000", "received", reply(200, "BYE")),
        )
    )
    assert parse_trace(trace) == SippOutcome(200, [100, 180, 200], 250, 3002, "1-42@127.0.0.5")


def test_a_rejected_call_without_ringing_has_the_final_reply_as_pdd():
    trace = (
        block("10:00:00.000000", "sent", INVITE)
        + block("10:00:00.040000", "received", reply(100))
        + block("10:00:00.120000", "received", reply(503))
    )
    assert parse_trace(trace) == SippOutcome(503, [100, 503], 120, None, "1-42@127.0.0.5")


def test_nothing_came_back():
    assert parse_trace(block("10:00:00.000000", "sent", INVITE)).sip_code is None
    assert parse_trace("") == SippOutcome(None)


@pytest.mark.parametrize(
    ("expect", "code", "problem", "verdict"),
    [
        (200, 200, "", ("passed", "")),
        (200, 503, "", ("failed", "expected 200, got 503")),
        (486, 486, "", ("passed", "")),
        (200, None, "SIPp did not finish in 90 s", ("error", "SIPp did not finish in 90 s")),
        (200, None, "", ("error", "no final reply")),
    ],
)
def test_judge(expect, code, problem, verdict):
    assert judge(expect, SippOutcome(code), problem) == verdict


def test_the_command_names_the_vendor_and_holds_for_the_asked_time(tmp_path):
    argv = command(
        proxy="127.0.0.1:5060", sip_ip="127.0.0.1", number="4412", terminator_id=7,
        hold_seconds=3, trace=tmp_path / "t.msg",
    )  # fmt: skip
    assert argv[argv.index("-key") + 1 : argv.index("-key") + 3] == ["terminator", "7"]
    assert argv[argv.index("-d") + 1] == "3000" and argv[argv.index("-m") + 1] == "1"
    assert argv[-1] == "127.0.0.1:5060"


def test_the_pdd_chart_scales_to_the_slowest_call():
    rows = [
        {"pdd_ms": 100, "outcome": "passed", "terminator": "a", "number": "1", "sip_code": 200},
        {"pdd_ms": None, "outcome": "error", "terminator": "a", "number": "1", "sip_code": None},
        {"pdd_ms": 400, "outcome": "failed", "terminator": "b", "number": "2", "sip_code": 503},
    ]  # newest first, as listed
    bars = pdd_bars(rows, width=200)
    assert [(b["x"], b["height"], b["outcome"]) for b in bars] == [
        (0, 100.0, "failed"),
        (100.0, 25.0, "passed"),
    ]
