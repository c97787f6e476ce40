"""Real calls: SIPp customer -> Kamailio running Akira's engine -> SIPp vendors -> CDRs."""

import math
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest

from tests.e2e import catalog as c

pytestmark = pytest.mark.e2e


def vendor_cost(duration: D, rate: str) -> D:
    """1/1 increments: every started second, rate per minute, six decimals half up."""
    seconds = math.ceil(duration)
    return (seconds * D(rate) / 60).quantize(D("0.000001"), rounding=ROUND_HALF_UP)


@pytest.fixture
def ids(platform):
    ids = c.load(platform.conn)
    platform.publish()
    return ids


def test_cheapest_vendor_answers_and_is_billed(platform, ids):
    vendors = {name: platform.vendor(name, port) for name, port in c.PORTS.items()}
    result = platform.call(c.UK_FIXED, c.ACME_IP, hold_ms=1500)
    assert result.ok, result.explain()
    assert {n: v.invites() for n, v in vendors.items()} == {"cheap": 1, "mid": 0, "dear": 0}

    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["terminator_id"], cdr["sip_code"]) == (1, ids["cheap"], 200)
    assert (cdr["originator_id"], cdr["called"], cdr["customer_prefix"]) == (
        ids["acme"],
        c.UK_FIXED,
        "44",
    )
    assert D("1.4") <= cdr["duration"] <= D("5")
    # customer 60/60 at 0.0150: one full minute
    assert (cdr["customer_billed_seconds"], cdr["customer_price"]) == (60, D("0.015000"))
    assert cdr["vendor_rate"] == D("0.0080")
    assert cdr["vendor_billed_seconds"] == math.ceil(cdr["duration"])
    assert cdr["vendor_cost"] == vendor_cost(cdr["duration"], "0.0080")
    assert cdr["answered_at"] is not None and cdr["ended_at"] > cdr["answered_at"]


def test_a_call_that_rings_has_its_post_dial_delay_end_at_the_ringing(platform, ids):
    platform.vendor("cheap", c.PORTS["cheap"], ring_ms=1500)
    result = platform.call(c.UK_FIXED, c.ACME_IP)
    assert result.ok, result.explain()

    (cdr,) = platform.rate_cdrs(expected=1)
    started, ringing, answered = cdr["started_at"], cdr["ringing_at"], cdr["answered_at"]
    assert ringing is not None and started <= ringing < answered
    assert (answered - ringing).total_seconds() >= 1.4  # the vendor's 1.5 s of ringing
    # the minute rollup's delay runs to the 180, not to the 200 (and equals the CDR's own)
    pdd_ms, attempts = platform.conn.execute(
        "SELECT sum(pdd_ms), sum(pdd_attempts) FROM cdr_rollup_minute"
    ).fetchone()
    assert attempts == 1
    assert pdd_ms == round((ringing - started).total_seconds() * 1000) < 1000


def test_503_moves_the_call_to_the_next_cheapest(platform, ids):
    vendors = {
        "cheap": platform.vendor("cheap", c.PORTS["cheap"], reject=503),
        "mid": platform.vendor("mid", c.PORTS["mid"]),
        "dear": platform.vendor("dear", c.PORTS["dear"]),
    }
    result = platform.call(c.UK_FIXED, c.ACME_IP)
    assert result.ok, result.explain()
    assert {n: v.invites() for n, v in vendors.items()} == {"cheap": 1, "mid": 1, "dear": 0}

    first, second = platform.rate_cdrs(expected=2)
    assert first["call_id"] == second["call_id"]
    assert (first["attempt"], first["terminator_id"], first["sip_code"]) == (1, ids["cheap"], 503)
    assert (first["customer_price"], first["vendor_cost"], first["answered_at"]) == (0, 0, None)
    assert (second["attempt"], second["terminator_id"], second["sip_code"]) == (2, ids["mid"], 200)
    assert second["customer_price"] == D("0.015000")
    assert second["vendor_cost"] == vendor_cost(second["duration"], "0.0100")


def test_486_is_a_hunt_stop_code(platform, ids):
    vendors = {
        "cheap": platform.vendor("cheap", c.PORTS["cheap"], reject=486),
        "mid": platform.vendor("mid", c.PORTS["mid"]),
        "dear": platform.vendor("dear", c.PORTS["dear"]),
    }
    result = platform.call(c.UK_FIXED, c.ACME_IP, expect=486)
    assert result.ok, result.explain()
    assert {n: v.invites() for n, v in vendors.items()} == {"cheap": 1, "mid": 0, "dear": 0}
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["terminator_id"], cdr["sip_code"]) == (1, ids["cheap"], 486)


def test_when_every_vendor_fails_the_customer_gets_503(platform, ids):
    vendors = {
        "cheap": platform.vendor("cheap", c.PORTS["cheap"], reject=503),
        "mid": platform.vendor("mid", c.PORTS["mid"], reject=500),
        "dear": platform.vendor("dear", c.PORTS["dear"], reject=502),
    }
    result = platform.call(c.UK_FIXED, c.ACME_IP, expect=503, reason="all-vendors-failed")
    assert result.ok, result.explain()
    assert "Retry-After: 5" in result.messages
    assert {n: v.invites() for n, v in vendors.items()} == {"cheap": 1, "mid": 1, "dear": 1}
    cdrs = platform.rate_cdrs(expected=3)
    assert [(r["attempt"], r["terminator_id"], r["sip_code"]) for r in cdrs] == [
        (1, ids["cheap"], 503),
        (2, ids["mid"], 500),
        (3, ids["dear"], 502),
    ]


def test_a_silent_vendor_times_out_and_the_next_one_gets_the_call(platform, ids):
    # nothing listens on cheap's port: no provisional reply within fr_timer -> local 408
    mid = platform.vendor("mid", c.PORTS["mid"])
    result = platform.call(c.UK_FIXED, c.ACME_IP)
    assert result.ok, result.explain()
    assert mid.invites() == 1
    first, second = platform.rate_cdrs(expected=2)
    assert (first["terminator_id"], first["sip_code"]) == (ids["cheap"], 408)
    assert (second["terminator_id"], second["sip_code"]) == (ids["mid"], 200)


def test_longer_vendor_prefix_wins_then_price_decides(platform, ids):
    vendors = {name: platform.vendor(name, port) for name, port in c.PORTS.items()}
    # cheap's 4420 (0.0200) beats its own 44 (0.0080) and is dearer than the customer's 0.0150
    result = platform.call(c.LONDON, c.ACME_IP)
    assert result.ok, result.explain()
    assert {n: v.invites() for n, v in vendors.items()} == {"cheap": 0, "mid": 1, "dear": 0}
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["terminator_id"], cdr["vendor_prefix"], cdr["vendor_rate"]) == (
        ids["mid"],
        "44",
        D("0.0100"),
    )


def test_a_vendor_dearer_than_the_customer_rate_is_never_used(platform, ids):
    vendors = {
        "cheap": platform.vendor("cheap", c.PORTS["cheap"]),
        "mid": platform.vendor("mid", c.PORTS["mid"], reject=503),
        "dear": platform.vendor("dear", c.PORTS["dear"], reject=503),
    }
    result = platform.call(c.UK_MOBILE, c.ACME_IP, expect=503, reason="all-vendors-failed")
    assert result.ok, result.explain()
    assert {n: v.invites() for n, v in vendors.items()} == {"cheap": 0, "mid": 1, "dear": 1}
    assert [r["terminator_id"] for r in platform.rate_cdrs(expected=2)] == [ids["mid"], ids["dear"]]


def test_unknown_source_ip_gets_403_no_reason_and_no_cdr(platform, ids):
    result = platform.call(c.UK_FIXED, c.UNKNOWN_IP, expect=403)
    assert result.ok, result.explain()
    assert "X-Akira-Reason" not in result.messages  # a scanner learns nothing
    assert platform.rate_cdrs(expected=0) == []


def test_unrated_number_gets_404_and_a_cdr_without_vendor(platform, ids):
    result = platform.call(c.CHINA, c.ACME_IP, expect=404, reason="no-customer-rate")
    assert result.ok, result.explain()
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["sip_code"], cdr["reason"], cdr["terminator_id"]) == (
        0,
        404,
        "no-customer-rate",
        None,
    )


def test_no_vendor_for_a_rated_number_gets_503(platform, ids):
    result = platform.call(c.FRANCE, c.ACME_IP, expect=503, reason="no-vendor")
    assert result.ok, result.explain()


def test_invalid_number_gets_484(platform, ids):
    result = platform.call("44abc", c.ACME_IP, expect=484, reason="invalid-number")
    assert result.ok, result.explain()


def test_tech_prefix_identifies_the_customer(platform, ids):
    mid = platform.vendor("mid", c.PORTS["mid"])
    result = platform.call("0707" + c.UK_MOBILE, c.GLOBEX_IP)
    assert result.ok, result.explain()
    assert mid.invites() == 1
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["originator_id"], cdr["called"], cdr["dialed"]) == (
        ids["globex"],
        c.UK_MOBILE,
        "0707" + c.UK_MOBILE,
    )


def test_a_published_tariff_change_reroutes_the_next_call_without_restart(platform, ids):
    vendors = {name: platform.vendor(name, port) for name, port in c.PORTS.items()}
    pid = platform.kamailio.process.pid
    assert platform.call(c.UK_FIXED, c.ACME_IP).ok
    assert vendors["cheap"].invites() == 1

    with platform.conn.transaction():
        platform.conn.execute(
            "UPDATE rates SET rate = 0.0050 WHERE tariff_id = %s AND prefix = '44'",
            (ids["tariff:dear"],),
        )
    platform.publish()
    result = platform.call(c.UK_FIXED, c.ACME_IP)
    assert result.ok, result.explain()
    assert {n: v.invites() for n, v in vendors.items()} == {"cheap": 1, "mid": 0, "dear": 1}
    assert platform.kamailio.process.pid == pid and platform.kamailio.process.poll() is None
    versions = {r["snapshot_version"] for r in platform.rate_cdrs(expected=2)}
    assert len(versions) == 2


def test_a_vendor_hang_up_is_recorded_as_such(platform, ids):
    platform.vendor("cheap", c.PORTS["cheap"], hangup=True)  # hangs up 1 s after answering
    result = platform.call(c.UK_FIXED, c.ACME_IP, remote_hangup=True)
    assert result.ok, result.explain()
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["sip_code"], cdr["reason"]) == (200, "callee-bye")
    assert D("0.9") <= cdr["duration"] <= D("4")


def test_calls_end_at_the_originators_max_duration(platform, ids):
    with platform.conn.transaction():
        platform.conn.execute(
            "UPDATE originators SET max_call_duration = 2 WHERE id = %s", (ids["acme"],)
        )
    platform.publish()
    vendor = platform.vendor("cheap", c.PORTS["cheap"])
    # the customer never hangs up: the proxy sends BYE to both sides after 2 s
    result = platform.call(c.UK_FIXED, c.ACME_IP, remote_hangup=True)
    assert result.ok, result.explain()
    assert "BYE sip:" in vendor.messages.read_text()
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["sip_code"], cdr["reason"]) == (200, "max-duration")
    # the dialog module's timer ticks once a second: the call ends within a second of the limit
    assert D("1") <= cdr["duration"] <= D("3")
