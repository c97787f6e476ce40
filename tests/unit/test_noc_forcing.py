"""A NOC test call names its vendor (X-Akira-Terminator): only a NOC trunk may, only among its
plan's vendors, and every other check still holds; the header is never relayed."""

import dataclasses

import pytest

from tests.unit.ksr_double import install

KSR = install()

from kemi import routes  # noqa: E402  (needs the double in place)
from kemi.pipeline import decide  # noqa: E402
from kemi.request import NOC_HEADER, CallRequest, forced_terminator  # noqa: E402
from kemi.stages import DROP_DISABLED  # noqa: E402
from tests.unit import snapshots as s  # noqa: E402
from tests.unit.test_routes import Journal, Store  # noqa: E402

CUSTOMER, NOC, VENDOR_A, VENDOR_B, VENDOR_C = 1, 2, 11, 12, 13


def snapshot(noc=True, disabled=()):
    return s.build(
        tariffs=[
            s.tariff(CUSTOMER, {"44": "0.0150"}),
            s.tariff(NOC, {"4": "0"}),
            s.tariff(VENDOR_A, {"44": "0.0100"}),
            s.tariff(VENDOR_B, {"44": "0.0090"}),
            s.tariff(VENDOR_C, {"44": "0.0080"}),
        ],
        originators=[s.originator(1, CUSTOMER, 1), s.originator(2, NOC, 2, noc=noc)],
        terminators=[
            s.terminator(1, VENDOR_A, enabled=1 not in disabled),
            s.terminator(2, VENDOR_B, enabled=2 not in disabled),
            s.terminator(3, VENDOR_C),
        ],
        # the NOC's plan has vendors 1 and 2 and allows a loss (its rate is 0); 3 is nobody's
        plans=[s.plan(1, [1, 2]), s.plan(2, [1, 2], allow_loss=True)],
        devices=[("10.0.0.1/32", None, None, 1), ("10.0.0.9/32", None, None, 2)],
    )


def decision(snap, ip, forced):
    request = CallRequest("c1", ip, 5060, "udp", "441234567890", "1", "t", 1_000_000)
    return decide(snap, dataclasses.replace(request, forced_terminator=forced))


def test_a_noc_trunk_gets_exactly_the_vendor_it_names():
    call = decision(snapshot(), "10.0.0.9", 1)  # not the cheapest: B is
    assert call.reason is None
    assert [c.terminator.id for c in call.routes] == [1]
    assert "noc forces terminator 1" in call.trace
    assert [t.terminator_id for t in call.targets()] == [1]


def test_without_the_header_a_noc_trunk_routes_by_its_plan():
    assert [c.terminator.id for c in decision(snapshot(), "10.0.0.9", None).routes] == [2, 1]


def test_a_customer_naming_a_vendor_is_routed_as_always():
    call = decision(snapshot(), "10.0.0.1", 1)
    assert [c.terminator.id for c in call.routes] == [2, 1]  # least cost, header ignored
    assert "terminator header ignored: not a NOC trunk" in call.trace


def test_an_originator_not_flagged_noc_cannot_force_either():
    call = decision(snapshot(noc=False), "10.0.0.9", 1)
    assert [c.terminator.id for c in call.routes] == [2, 1]


def test_a_vendor_outside_the_noc_plan_is_no_route():
    call = decision(snapshot(), "10.0.0.9", 3)
    assert (call.reason, call.routes) == ("no-vendor", [])


def test_the_forced_vendor_still_passes_every_check():
    call = decision(snapshot(disabled=(1,)), "10.0.0.9", 1)
    assert call.reason == "no-vendor"
    assert [(d.terminator_id, d.reason) for d in call.dropped] == [(1, DROP_DISABLED)]


@pytest.mark.parametrize(
    ("value", "wanted"),
    [
        ("7", 7),
        (" 12 ", 12),
        ("", None),
        ("-1", None),
        ("1;x", None),
        ("١", None),
        ("9" * 19, None),
    ],
)
def test_the_header_is_a_plain_id_or_nothing(value, wanted):
    assert forced_terminator(value) == wanted


@pytest.fixture
def router():
    router = routes.Router()
    router._store = Store(snapshot())
    router._journal = Journal()
    return router


@pytest.mark.parametrize(("ip", "relayed"), [("10.0.0.9", "5061"), ("10.0.0.1", "5062")])
def test_the_adapter_reads_the_header_and_never_relays_it(router, ip, relayed):
    KSR.message(
        headers={NOC_HEADER: "1"}, values={"kx.get_srcip": ip, "kx.get_ruser": "441234567890"}
    )
    router.ksr_request_route(None)
    assert ("hdr.remove", (NOC_HEADER,)) in KSR.calls
    (uri,) = [args[0] for name, args in KSR.calls if name == "seturi"]
    assert uri.endswith(relayed) or relayed in uri


def test_the_simulator_answers_a_noc_test_call_as_the_engine_does():
    from admin import simulate

    snap = snapshot()
    forced = simulate.simulate(
        snap, simulate.request("441234567890", src_ip="10.0.0.9", forced_terminator=1)
    )
    assert [route["terminator_id"] for route in forced["routes"]] == [1]
    customer = simulate.simulate(
        snap, simulate.request("441234567890", src_ip="10.0.0.1", forced_terminator=1)
    )
    assert [route["terminator_id"] for route in customer["routes"]] == [2, 1]
