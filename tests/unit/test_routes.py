"""The KEMI adapter's choices, table-tested against a KSR double (no Kamailio needed):
what it replies, what it relays, which CDR events it journals."""

import json

import pytest

from tests.unit.ksr_double import install

KSR = install()

from kemi import routes  # noqa: E402  (needs the double in place)
from kemi.context import CallContext, Side, Target  # noqa: E402
from tests.unit import snapshots as s  # noqa: E402

BAD_UTF8 = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


class Journal:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def append(self, line: str) -> None:
        self.events.append(json.loads(line))


class Store:
    def __init__(self, snapshot) -> None:
        self.snapshot = snapshot
        self.down = frozenset()
        self.quality = None

    def current(self):
        return self.snapshot


def snapshot():
    return s.build(
        tariffs=[s.tariff(1, {"44": "0.0150"}), s.tariff(11, {"44": "0.0100"})],
        originators=[s.originator(1, 1)],
        terminators=[s.terminator(1, 11)],
        plans=[s.plan(1, [1])],
        devices=[("10.0.0.1/32", None, None, 1)],
    )


@pytest.fixture
def router():
    router = routes.Router()
    router._store = Store(snapshot())
    router._journal = Journal()
    return router


def context(targets=2, hunt_stop=frozenset({486})):
    side = Side(11, "44", 1_000_000, 1, 1, 0, 0)
    return CallContext(
        "call-1", 1, 1, "10.0.0.1", "15551234", "442071234567", "442071234567", "USD",
        Side(1, "44", 1_500_000, 60, 60, 0, 0), hunt_stop, 1_000,
        tuple(Target(t + 1, f"sip:4420@192.0.2.{t}:5060", side) for t in range(targets)),
    )  # fmt: skip


def in_failure_route(router, code, *, attempt=1, canceled=False, targets=2):
    KSR.message(results={"tm.t_get_status_code": code, "tm.t_is_canceled": 1 if canceled else -1})
    KSR.dialog_vars.update(
        {routes.CONTEXT: context(targets).encode(), routes.ATTEMPT: f"{attempt},2000"}
    )
    router.ksr_failure_vendor(None)


def test_a_routed_invite_gets_a_dialog_its_context_and_the_first_gateway(router):
    KSR.message()
    router.ksr_request_route(None)
    names = KSR.names()
    assert names.index("rr.record_route") < names.index("dialog.dlg_manage")
    assert ("dialog.dlg_set_timeout", (3600,)) in KSR.calls
    decoded = CallContext.decode(KSR.dialog_vars[routes.CONTEXT])
    assert [t.uri for t in decoded.targets] == ["sip:442071234567@192.0.2.1:5061"]
    assert ("seturi", ("sip:442071234567@192.0.2.1:5061",)) in KSR.calls
    assert KSR.dialog_vars[routes.ATTEMPT].startswith("1,")
    assert "tm.t_relay" in names and KSR.replies == []


@pytest.mark.parametrize(
    ("code", "canceled", "relayed_to", "reply"),
    [
        (503, False, "sip:4420@192.0.2.1:5060", None),  # next attempt
        (408, False, "sip:4420@192.0.2.1:5060", None),
        (486, False, None, None),  # hunt-stop: tm relays the vendor's 486
        (603, False, None, None),  # any 6xx
        (503, True, None, None),  # the caller cancelled
    ],
)
def test_failure_route_hunts_or_stops(router, code, canceled, relayed_to, reply):
    in_failure_route(router, code, canceled=canceled)
    relayed = [args[0] for name, args in KSR.calls if name == "seturi"]
    assert relayed == ([relayed_to] if relayed_to else [])
    assert KSR.replies == []
    (event,) = router._journal.events
    assert (event["attempt"], event["sip_code"]) == (1, 487 if canceled else code)
    assert event["reason"] == ("caller-cancel" if canceled else "vendor-reply")


def test_the_last_failed_attempt_gets_503_all_vendors_failed(router):
    in_failure_route(router, 503, attempt=2)
    ((code, _, headers),) = KSR.replies
    assert code == 503
    assert "X-Akira-Reason: all-vendors-failed\r\n" in headers
    assert "Retry-After: 5\r\n" in headers


def test_the_first_ringing_of_an_attempt_is_noted_beside_it(router):
    KSR.message()
    KSR.dialog_vars[routes.ATTEMPT] = "1,2000"
    for status in (100, 183, 180, 200):  # only the first 18x counts
        KSR.values["kx.get_status"] = status
        assert router.ksr_vendor_reply(None) == routes.OK  # every reply goes on
        if status == 100:
            assert KSR.dialog_vars[routes.ATTEMPT] == "1,2000"
        if status == 183:
            rung = KSR.dialog_vars[routes.ATTEMPT]
    assert KSR.dialog_vars[routes.ATTEMPT] == rung and rung.startswith("1,2000,")


def test_a_failed_attempt_that_rang_carries_its_ringing(router):
    KSR.message(results={"tm.t_get_status_code": 486, "tm.t_is_canceled": -1})
    KSR.dialog_vars.update({routes.CONTEXT: context().encode(), routes.ATTEMPT: "1,2000,2500"})
    router.ksr_failure_vendor(None)
    (event,) = router._journal.events
    assert (event["sip_code"], event["started_ms"], event["ringing_ms"]) == (486, 2000, 2500)


@pytest.mark.parametrize(
    ("method", "downstream", "reason"),
    [("BYE", 1, "caller-bye"), ("BYE", -1, "callee-bye"), ("OPTIONS", -1, "max-duration")],
)
def test_dialog_end_says_who_ended_the_call(router, method, downstream, reason):
    KSR.message(method, results={"rr.is_direction": downstream})
    KSR.dialog_vars.update(
        {
            routes.CONTEXT: context().encode(),
            routes.ATTEMPT: "2,2000",
            routes.ANSWERED: "3000",
        }
    )
    router.ksr_dialog_event(None, "dialog:end")
    (event,) = router._journal.events
    assert (event["attempt"], event["sip_code"], event["reason"]) == (2, 200, reason)
    assert (event["answered_ms"], event["terminator_id"], event["ringing_ms"]) == (3000, 2, None)


def test_a_max_duration_cdr_is_emitted_once_when_the_proxy_sends_its_byes(router):
    """The dialog module's BYEs (tm:local-request) carry the CDR: Kamailio may skip dialog:end
    after them, and when it does run it, or the second BYE comes, nothing is emitted again."""
    KSR.message("BYE", results={"rr.is_direction": -1})
    KSR.dialog_vars.update(
        {routes.CONTEXT: context().encode(), routes.ATTEMPT: "2,2000", routes.ANSWERED: "3000"}
    )
    router.ksr_tm_event(None, "tm:local-request")  # BYE to the caller
    router.ksr_tm_event(None, "tm:local-request")  # BYE to the vendor
    KSR.message("OPTIONS")  # dialog:end on a faked message, when Kamailio runs it
    router.ksr_dialog_event(None, "dialog:end")
    (event,) = router._journal.events
    assert (event["attempt"], event["reason"]) == (2, "max-duration")


def test_a_local_request_outside_our_calls_is_left_alone(router):
    KSR.message("BYE")
    router.ksr_tm_event(None, "tm:local-request")
    assert router._journal.events == []


def test_an_unknown_source_gets_403_without_a_reason(router):
    KSR.message(values={"kx.get_srcip": "203.0.113.9"})
    router.ksr_request_route(None)
    assert KSR.replies == [(403, "Forbidden", [])]
    assert router._journal.events == []


def test_a_flooding_unknown_source_gets_no_reply(router):
    KSR.message(values={"kx.get_srcip": "203.0.113.9"}, results={"pike.pike_check_req": -1})
    router.ksr_request_route(None)
    assert KSR.replies == []


def test_a_customers_reject_carries_the_reason_and_a_cdr(router):
    KSR.message(values={"kx.get_ruser": "44abc"})
    router.ksr_request_route(None)
    ((code, _, headers),) = KSR.replies
    assert (code, headers) == (484, ["X-Akira-Reason: invalid-number\r\n"])
    assert "tm.t_newtran" in KSR.names()  # a retransmission is absorbed, not billed again
    (event,) = router._journal.events
    assert (event["attempt"], event["sip_code"], event["currency"]) == (0, 484, "USD")


def test_invalid_utf8_in_the_dialed_number_is_read_safely(router):
    KSR.message(values={"kx.get_ruser": BAD_UTF8, "$(rU{s.encode.hexa})": "3434ff"})
    router.ksr_request_route(None)
    assert KSR.replies[0][0] == 484
    assert router._journal.events[0]["dialed"] == "44\ufffd"


def test_a_call_id_that_is_not_ascii_gets_400(router):
    KSR.message(values={"kx.get_callid": "caf\u00e9-1"})
    router.ksr_request_route(None)
    ((code, _, headers),) = KSR.replies
    assert (code, headers) == (400, ["X-Akira-Reason: invalid-call-id\r\n"])


def test_an_invite_without_from_tag_is_refused(router):
    KSR.message(values={"$ft": None})
    router.ksr_request_route(None)
    assert KSR.replies[0][:2] == (400, "Missing From Tag")
    assert "dialog.dlg_manage" not in KSR.names()


def test_a_dialog_that_cannot_be_made_refuses_the_call(router):
    KSR.message(results={"dialog.dlg_manage": -1})
    router.ksr_request_route(None)
    assert KSR.replies[0][0] == 500 and "tm.t_relay" not in KSR.names()
    assert router._journal.events[0]["reason"] == "dialog-failed"


def test_non_digest_credentials_get_400(router):
    KSR.message(headers={"Authorization": "Basic dXNlcjpwYXNz"})
    router.ksr_request_route(None)
    assert KSR.replies == [(400, "Unsupported Authorization Scheme", [])]


@pytest.mark.parametrize("method", ["BYE", "INFO", "INVITE"])
def test_in_dialog_requests_of_no_dialog_of_ours_go_nowhere(router, method):
    KSR.message(method, to_tag=True, results={"rr.loose_route": 1, "dialog.is_known_dlg": -1})
    router.ksr_request_route(None)
    assert "tm.t_relay" not in KSR.names()
    assert KSR.replies == [(404, "Not Found", [])]


def test_in_dialog_requests_of_our_dialogs_are_relayed(router):
    KSR.message("BYE", to_tag=True, results={"rr.loose_route": 1, "dialog.is_known_dlg": 1})
    router.ksr_request_route(None)
    assert "tm.t_relay" in KSR.names() and KSR.replies == []


def test_a_forged_ack_is_never_answered_nor_relayed(router):
    KSR.message("ACK", to_tag=True, results={"rr.loose_route": 1, "dialog.is_known_dlg": -1})
    router.ksr_request_route(None)
    assert "tm.t_relay" not in KSR.names() and KSR.replies == []


def test_shedding_refuses_new_invites_before_any_decision(router):
    KSR.message(values={"pvx.shv_get": 1000})
    router.ksr_request_route(None)
    ((code, _, headers),) = KSR.replies
    assert code == 503 and "X-Akira-Reason: overload\r\n" in headers
    assert "kx.get_ruser" not in KSR.names()


def test_shedding_never_touches_in_dialog_requests(router):
    KSR.message(
        "BYE",
        to_tag=True,
        values={"pvx.shv_get": 1000},
        results={"rr.loose_route": 1, "dialog.is_known_dlg": 1},
    )
    router.ksr_request_route(None)
    assert "tm.t_relay" in KSR.names() and KSR.replies == []
