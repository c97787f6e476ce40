from decimal import Decimal as D

import pytest

from kemi.explain import explain
from kemi.pipeline import decide
from kemi.rates import money_units
from kemi.request import CallRequest
from kemi.snapshot import SnapshotError
from kemi.stages import (
    DROP_ATTEMPTS,
    DROP_CURRENCY,
    DROP_DISABLED,
    DROP_LOSS,
    DROP_NO_GATEWAY,
    DROP_NO_RATE,
    DROP_UNHEALTHY,
)
from tests.unit import snapshots as s

CUSTOMER, VENDOR_A, VENDOR_B, VENDOR_C = 1, 11, 12, 13


def standard(**overrides):
    """Customer 1 on 10.0.0.1 buys 44 at 0.0150; vendors A, B, C sell it at other prices."""
    parts = {
        "tariffs": [
            s.tariff(CUSTOMER, {"44": "0.0150", "447": "0.0400", "33": "0.0200"}),
            s.tariff(VENDOR_A, {"44": "0.0100", "4420": "0.0200", "447": "0.0300"}),
            s.tariff(VENDOR_B, {"44": "0.0090", "447": "0.0450"}),
            s.tariff(VENDOR_C, {"44": "0.0120", "4420": "0.0090"}),
        ],
        "originators": [s.originator(1, CUSTOMER)],
        "terminators": [
            s.terminator(1, VENDOR_A),
            s.terminator(2, VENDOR_B),
            s.terminator(3, VENDOR_C),
        ],
        "plans": [s.plan(1, [1, 2, 3])],
        "devices": [("10.0.0.1/32", None, None, 1)],
    }
    parts.update(overrides)
    return s.build(**parts)


def route(
    snapshot, user, ip="10.0.0.1", port=5060, transport="udp", call_id="c1", down=frozenset()
):
    return decide(
        snapshot,
        CallRequest(call_id, ip, port, transport, user, "caller", "tag", 1_000_000),
        down,
    )


def units(text):
    return money_units(D(text))


def test_vendors_ordered_by_cost_with_longest_prefix_each():
    decision = route(standard(), "442071234567")
    # A: 4420 at 0.0200 (its longer prefix beats its own 44 at 0.0100)
    # B: 44 at 0.0090; C: 4420 at 0.0090 -> B and C tie on price, B has the lower id
    assert decision.reason is None
    assert [(c.terminator.id, c.rate.prefix, c.rate.rate) for c in decision.routes] == [
        (2, "44", units("0.0090")),
        (3, "4420", units("0.0090")),
    ]
    assert [(d.terminator_id, d.reason) for d in decision.dropped] == [(1, DROP_LOSS)]
    assert decision.customer_rate.prefix == "44"


def test_vendor_dearer_than_customer_rate_is_dropped_unless_plan_allows_loss():
    decision = route(standard(), "447700900123")
    # customer 447 at 0.04: C (its 44 at 0.012) and A (447 at 0.03) kept, B (0.045) dropped
    assert [c.terminator.id for c in decision.routes] == [3, 1]
    assert [(d.terminator_id, d.reason) for d in decision.dropped] == [(2, DROP_LOSS)]

    lossy = standard(plans=[s.plan(1, [1, 2, 3], allow_loss=True)])
    assert [c.terminator.id for c in route(lossy, "447700900123").routes] == [3, 1, 2]


@pytest.mark.parametrize("plan", [s.plan(1, [1, 2, 3]), s.plan(1, [1, 2, 3], min_margin_percent=1)])
def test_vendors_whose_gateways_are_all_down_or_none_are_dropped(plan):
    """Under every margin policy: B's only gateway is down, C has none; A is kept."""
    snapshot = standard(
        plans=[plan],
        terminators=[
            s.terminator(1, VENDOR_A),
            s.terminator(2, VENDOR_B),
            s.terminator(3, VENDOR_C, gateways=()),
        ],
    )
    decision = route(snapshot, "441234567890", down=frozenset({"192.0.2.1:5062:udp"}))
    assert [c.terminator.id for c in decision.routes] == [1]
    assert [(d.terminator_id, d.reason) for d in decision.dropped] == [
        (2, DROP_UNHEALTHY),
        (3, DROP_NO_GATEWAY),
    ]


def test_vendors_beyond_max_attempts_are_dropped_with_that_reason():
    decision = route(standard(plans=[s.plan(1, [1, 2, 3], max_attempts=2)]), "441234567890")
    assert [t.terminator_id for t in decision.targets()] == [2, 1]
    assert [t.terminator_id for t in decision.targets()] == [2, 1]  # asking again changes nothing
    assert [(d.terminator_id, d.reason) for d in decision.dropped] == [(3, DROP_ATTEMPTS)]
    assert decision.compact_trace().endswith("attempts 2 of 3;-3 attempts-exhausted")
    assert explain(decision)["attempts"] == [
        "sip:441234567890@192.0.2.1:5062",
        "sip:441234567890@192.0.2.1:5061",
    ]


def test_vendors_without_a_rate_are_dropped():
    decision = route(standard(), "33123456789")
    assert decision.reason == "no-vendor"
    assert {(d.terminator_id, d.reason) for d in decision.dropped} == {
        (1, DROP_NO_RATE),
        (2, DROP_NO_RATE),
        (3, DROP_NO_RATE),
    }


@pytest.mark.parametrize(
    ("user", "ip", "reason", "code"),
    [
        ("442071234567", "10.9.9.9", "unknown-originator", 403),
        ("44abc", "10.0.0.1", "invalid-number", 484),
        ("12125551234", "10.0.0.1", "no-customer-rate", 404),
        ("33123456789", "10.0.0.1", "no-vendor", 503),  # customer rates 33, no vendor does
    ],
)
def test_rejections_have_documented_codes(user, ip, reason, code):
    decision = route(standard(), user, ip=ip)
    assert (decision.reason, decision.rejection.code) == (reason, code)


def test_disabled_originator_and_terminator():
    snapshot = standard(
        originators=[s.originator(1, CUSTOMER, enabled=False)],
    )
    assert route(snapshot, "442071234567").reason == "originator-disabled"

    snapshot = standard(
        terminators=[
            s.terminator(1, VENDOR_A),
            s.terminator(2, VENDOR_B, enabled=False),
            s.terminator(3, VENDOR_C),
        ]
    )
    decision = route(snapshot, "442071234567")
    assert [c.terminator.id for c in decision.routes] == [3]
    assert (2, DROP_DISABLED) in [(d.terminator_id, d.reason) for d in decision.dropped]


def test_currency_mismatch_is_dropped():
    snapshot = standard(
        tariffs=[
            s.tariff(CUSTOMER, {"44": "0.0150"}),
            s.tariff(VENDOR_A, {"44": "0.0100"}, currency="EUR"),
            s.tariff(VENDOR_B, {"44": "0.0110"}),
            s.tariff(VENDOR_C, {"44": "0.0120"}),
        ]
    )
    decision = route(snapshot, "4420")
    assert [c.terminator.id for c in decision.routes] == [2, 3]
    assert (1, DROP_CURRENCY) in [(d.terminator_id, d.reason) for d in decision.dropped]


def test_tech_prefix_selects_the_originator_and_is_stripped():
    snapshot = standard(
        originators=[s.originator(1, CUSTOMER), s.originator(2, CUSTOMER, tech_prefix="0707")],
        devices=[("10.0.0.0/24", None, None, 1), ("10.0.0.0/24", None, None, 2)],
    )
    with_prefix = route(snapshot, "0707+442071234567", ip="10.0.0.77")
    assert (with_prefix.originator.id, with_prefix.called) == (2, "442071234567")
    without = route(snapshot, "442071234567", ip="10.0.0.77")
    assert (without.originator.id, without.called) == (1, "442071234567")


def test_device_port_and_transport_must_match():
    snapshot = standard(devices=[("10.0.0.1/32", 5070, "tcp", 1)])
    assert route(snapshot, "4420", port=5060, transport="tcp").reason == "unknown-originator"
    assert route(snapshot, "4420", port=5070, transport="udp").reason == "unknown-originator"
    assert route(snapshot, "4420", port=5070, transport="tcp").reason is None


def test_as_json_explains_the_decision():
    explained = explain(route(standard(), "+442071234567"))
    assert explained["routed"] is True
    assert explained["called"] == "442071234567"
    assert explained["customer_rate"]["rate"] == "0.015"
    assert [r["terminator_id"] for r in explained["routes"]] == [2, 3]
    assert explained["routes"][0]["gateways"] == ["sip:442071234567@192.0.2.1:5062"]
    assert explained["dropped"][0]["reason"] == DROP_LOSS


def test_snapshot_without_a_referenced_tariff_is_refused():
    with pytest.raises(SnapshotError):
        standard(tariffs=[s.tariff(CUSTOMER, {"44": "0.0150"})])
