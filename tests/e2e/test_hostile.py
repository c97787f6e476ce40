"""Hostile SIP against the real proxy: open-relay attempts, unbillable and malformed requests,
floods. Raw datagrams (tests/e2e/rawsip.py) from chosen loopback sources; listeners bound where
a relayed request would go prove that nothing was relayed.

Unknown sources use one address each (127.0.1.N) so that no two cases ever add up in the
proxy's per-source flood counter; the flood test has its own (127.0.2.1), which stays banned
for a while after it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.e2e import catalog as c
from tests.e2e.conftest import SIP_IP, SIP_PORT
from tests.e2e.ports import port
from tests.e2e.rawsip import SDP, Call, Endpoint, Listener, Listeners, Message, final, request

pytestmark = pytest.mark.e2e

PROXY = (SIP_IP, SIP_PORT)
OTHER = ("127.0.0.66", port(150))  # an address that is neither the proxy nor a vendor
FLOOD_IP = "127.0.2.1"
REPLY_WAIT = 1.0  # the proxy answers in milliseconds; anything later counts as no answer
SILENCE = 0.3  # how long a test waits to be sure that nothing (more) arrives


def unknown_ip(n: int) -> str:
    return f"127.0.1.{n}"


def ruri(user: str | bytes = c.UK_FIXED, to: tuple[str, int] = PROXY) -> bytes:
    user = user if isinstance(user, bytes) else user.encode()
    return b"sip:" + user + f"@{to[0]}:{to[1]}".encode()


@pytest.fixture
def ids(platform):
    ids = c.load(platform.conn)
    platform.publish()
    return ids


@pytest.fixture
def listeners() -> Iterator[Listeners]:
    """Sockets at the three vendor gateways and at OTHER; each answers 603 to any request, so a
    request the proxy relays there by mistake ends at once (and stops a vendor hunt)."""
    group = Listeners()
    for name, vendor_port in c.PORTS.items():
        group.add(name, Listener("127.0.0.1", vendor_port))
    group.add("other", Listener(*OTHER))
    yield group
    group.close()


def relayed(group: Listeners, call_id: str | None = None) -> dict[str, list[str]]:
    """What reached the listeners (start lines), optionally only for one Call-ID."""
    return {
        name: [m.start for m in messages if call_id is None or m.header("call-id") == call_id]
        for name, messages in group.received().items()
        if call_id is None or any(m.header("call-id") == call_id for m in messages)
    }


def outcome(replies: list[Message]) -> tuple[int | None, str | None]:
    """(final status, X-Akira-Reason) of what came back; (None, None) when nothing final did."""
    answer = final(replies)
    return (None, None) if answer is None else (answer.status, answer.header("X-Akira-Reason"))


def send(source_ip: str, method: str, target: bytes, **kwargs) -> tuple[str, list[Message]]:
    """One request from a fresh socket on ``source_ip``; its Call-ID and the replies."""
    with Endpoint(source_ip) as endpoint:
        call_id = f"{method.lower()}-{endpoint.address[1]}-{time.monotonic_ns()}@{source_ip}"
        kwargs.setdefault("call_id", call_id)
        data = request(method, target, source=endpoint.address, **kwargs)
        if method == "ACK":  # never answered: only silence can be observed
            endpoint.send(data, PROXY)
            return kwargs["call_id"], endpoint.collect(SILENCE)
        return kwargs["call_id"], endpoint.transact(data, PROXY, REPLY_WAIT)


# --- 1. no open relay --------------------------------------------------------------------

ROUTE = f"Route: <sip:{SIP_IP}:{SIP_PORT};lr>"
FORGED_ROUTE = f"Route: <sip:{SIP_IP}:{SIP_PORT};lr;ftag=forged1;did=1a2.b3c>"
VENDOR = ("127.0.0.1", c.PORTS["cheap"])

# (source, method, Route header or None, where the R-URI points)
STRAY_IN_DIALOG = {
    "unknown BYE route->vendor": (unknown_ip(1), "BYE", ROUTE, VENDOR),
    "unknown BYE forged-did->other": (unknown_ip(2), "BYE", FORGED_ROUTE, OTHER),
    "unknown INFO route->other": (unknown_ip(3), "INFO", ROUTE, OTHER),
    "unknown re-INVITE forged-did->vendor": (unknown_ip(4), "INVITE", FORGED_ROUTE, VENDOR),
    "unknown re-INVITE route->other": (unknown_ip(5), "INVITE", ROUTE, OTHER),
    "acme BYE route->vendor": (c.ACME_IP, "BYE", ROUTE, VENDOR),
    "acme INFO forged-did->other": (c.ACME_IP, "INFO", FORGED_ROUTE, OTHER),
    "acme re-INVITE forged-did->vendor": (c.ACME_IP, "INVITE", FORGED_ROUTE, VENDOR),
    "acme BYE route->other": (c.ACME_IP, "BYE", ROUTE, OTHER),
}
STRAY_ACKS = {
    "unknown ACK route->vendor": (unknown_ip(7), "ACK", ROUTE, VENDOR),
    "unknown ACK forged-did->other": (unknown_ip(8), "ACK", FORGED_ROUTE, OTHER),
    "acme ACK route->other": (c.ACME_IP, "ACK", ROUTE, OTHER),
}


def test_in_dialog_requests_of_no_dialog_get_404_and_are_relayed_nowhere(platform, ids, listeners):
    """A request with a To-tag that belongs to no dialog of this proxy — with a Route naming
    the proxy (plain, or with forged ftag/did), from an unknown source or from a customer, its
    R-URI at a vendor or at any other address — is answered 404 without a reason header and
    relayed nowhere; such an ACK gets no answer and is relayed nowhere either."""
    observed, expected = {}, {}
    for case, (source, method, route, target) in (STRAY_IN_DIALOG | STRAY_ACKS).items():
        call_id, replies = send(
            source,
            method,
            ruri(c.UK_FIXED, target),
            to_tag="b7e1c2",
            headers=[route] if route else [],
            body=SDP if method == "INVITE" else b"",
        )
        observed[case] = (*outcome(replies), call_id)
        expected[case] = (None, None) if method == "ACK" else (404, None)
    time.sleep(SILENCE)  # a relay happens before any reply; this is only slack
    observed = {
        case: (code, reason, relayed(listeners, call_id))
        for case, (code, reason, call_id) in observed.items()
    }
    assert observed == {case: (*want, {}) for case, want in expected.items()}


def test_in_dialog_requests_without_a_route_get_404_and_go_nowhere(platform, ids, listeners):
    """A request with a To-tag and no Route (nothing says it went through this proxy) is
    answered 404 and relayed nowhere, whatever its source; such an ACK is silently absorbed."""
    cases = {
        "unknown BYE": (unknown_ip(6), "BYE", VENDOR),
        "acme INFO": (c.ACME_IP, "INFO", OTHER),
        "unknown ACK": (unknown_ip(9), "ACK", VENDOR),
    }
    observed = {}
    for case, (source, method, target) in cases.items():
        _, replies = send(source, method, ruri(c.UK_FIXED, target), to_tag="b7e1c2")
        observed[case] = outcome(replies)[0]
    time.sleep(SILENCE)
    assert (observed, relayed(listeners)) == (
        {"unknown BYE": 404, "acme INFO": 404, "unknown ACK": None},
        {},
    )


def test_forged_requests_reusing_a_live_calls_route_are_not_relayed(platform, ids, listeners):
    """While a call is up, requests that copy its Record-Route (with the real did and ftag)
    but carry another Call-ID or other tags are refused (404) and relayed nowhere, and the
    vendor never sees them; the call's own BYE still ends it and its CDR is the normal one."""
    listeners.by_name.pop("cheap").close()  # the real vendor answers this call
    vendor = platform.vendor("cheap", c.PORTS["cheap"])
    with Endpoint(c.ACME_IP) as endpoint:
        call = Call(endpoint, PROXY, c.UK_FIXED)
        answer = call.invite()
        assert answer is not None and answer.status == 200, answer
        (route,) = call.route
        assert ";did=" in route  # the dialog cookie the forgeries reuse
        to_tag = call.answer.tag("to")
        forgeries = {
            "BYE other Call-ID": ("BYE", {"from_tag": call.from_tag, "to_tag": to_tag}),
            "BYE other To-tag": ("BYE", {"call_id": call.call_id, "from_tag": call.from_tag,
                                         "to_tag": "forged"}),
            "INFO other From-tag": ("INFO", {"call_id": call.call_id, "from_tag": "forged",
                                             "to_tag": to_tag}),
            "re-INVITE other Call-ID": ("INVITE", {"from_tag": call.from_tag, "to_tag": to_tag}),
            "ACK other Call-ID": ("ACK", {"from_tag": call.from_tag, "to_tag": to_tag}),
        }  # fmt: skip
        observed, expected = {}, {}
        for case, (method, fields) in forgeries.items():
            source = c.ACME_IP if "INFO" in case else unknown_ip(20 + len(observed))
            _, replies = send(
                source, method, ruri("forged", OTHER), headers=[f"Route: {route}"], **fields
            )
            observed[case] = outcome(replies)
            expected[case] = (None, None) if method == "ACK" else (404, None)
        time.sleep(SILENCE)
        assert (observed, relayed(listeners)) == (expected, {})

        bye = call.bye()
        assert bye is not None and bye.status == 200, bye
    assert vendor.messages.read_text().count("BYE sip:") == 1
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["sip_code"], cdr["reason"]) == (1, 200, "caller-bye")


# --- 2. unbillable calls -----------------------------------------------------------------


def test_an_invite_without_from_tag_is_refused_with_400_and_a_cdr(platform, ids, listeners):
    """A customer's INVITE without a From tag could never be matched to its dialog (nor its
    BYE billed): it is refused with 400 missing-from-tag, reaches no vendor, and leaves one
    attempt-0 CDR."""
    _, replies = send(c.ACME_IP, "INVITE", ruri(), from_tag=None, body=SDP)
    time.sleep(SILENCE)
    assert (outcome(replies), relayed(listeners)) == ((400, "missing-from-tag"), {})
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["sip_code"], cdr["reason"]) == (0, 400, "missing-from-tag")
    assert cdr["originator_id"] == ids["acme"]


def test_a_retransmitted_rejected_invite_is_answered_again_and_billed_once(platform, ids):
    """A customer's rejected INVITE sent three times (the same datagram, as a caller's
    retransmission timer does) gets the same 404 each time and leaves exactly one CDR."""
    with Endpoint(c.ACME_IP) as endpoint:
        data = request("INVITE", ruri(c.CHINA), source=endpoint.address, body=SDP)
        codes = [outcome(endpoint.transact(data, PROXY, REPLY_WAIT)) for _ in range(3)]
    assert codes == [(404, "no-customer-rate")] * 3
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["sip_code"]) == (0, 404)


# --- 3. invalid UTF-8 --------------------------------------------------------------------

BAD = b"\xff\xfe"


def test_invalid_utf8_from_an_unknown_source_gets_403(platform, ids, listeners):
    """Bytes that are not UTF-8 in the R-URI user, the From user or the Call-ID of an INVITE
    from an unknown source get the ordinary 403 (never a 500 engine fault; the platform fixture
    also fails the test on any fault or traceback in the Kamailio log)."""
    cases = {
        "R-URI user": {"target": ruri(b"44" + BAD + b"1234567")},
        "From user": {"from_user": b"1555" + BAD},
        "Call-ID": {"call_id": b"abc" + BAD + b"@x"},
    }
    observed = {}
    for n, (case, fields) in enumerate(cases.items(), start=30):
        target = fields.pop("target", ruri())
        observed[case] = outcome(send(unknown_ip(n), "INVITE", target, body=SDP, **fields)[1])[0]
    assert (observed, relayed(listeners)) == (dict.fromkeys(cases, 403), {})


def test_invalid_utf8_in_a_customers_dialed_number_gets_484_and_a_cdr(platform, ids, listeners):
    """A customer dialing bytes that are not UTF-8 gets 484 invalid-number (like any other
    non-number) and the attempt-0 CDR of a rejected call."""
    _, replies = send(c.ACME_IP, "INVITE", ruri(b"44" + BAD + b"1234567"), body=SDP)
    time.sleep(SILENCE)
    assert (outcome(replies), relayed(listeners)) == ((484, "invalid-number"), {})
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["sip_code"], cdr["reason"]) == (0, 484, "invalid-number")


def test_a_customers_call_id_that_is_not_ascii_gets_400(platform, ids, listeners):
    """RFC 3261's Call-ID is ASCII: one with bytes that are not UTF-8 is refused with 400
    invalid-call-id and reaches no vendor."""
    _, replies = send(c.ACME_IP, "INVITE", ruri(), call_id=b"abc" + BAD + b"@x", body=SDP)
    time.sleep(SILENCE)
    assert (outcome(replies), relayed(listeners)) == ((400, "invalid-call-id"), {})


def test_a_calling_number_that_is_not_utf8_does_not_stop_the_call(platform, ids):
    """The From user is only recorded, never routed on: a customer's call whose From user is
    not UTF-8 is answered by the cheapest vendor, ends normally and is billed."""
    vendor = platform.vendor("cheap", c.PORTS["cheap"])
    with Endpoint(c.ACME_IP) as endpoint:
        call = Call(endpoint, PROXY, c.UK_FIXED, from_user=b"1555" + BAD + b"1")
        answer = call.invite()
        assert answer is not None and answer.status == 200, answer
        bye = call.bye()
        assert bye is not None and bye.status == 200, bye
    trace = vendor.messages.read_bytes().splitlines()  # bytes: the From user is not UTF-8
    assert sum(line.startswith(b"INVITE sip:") for line in trace) == 1
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["attempt"], cdr["terminator_id"], cdr["sip_code"], cdr["reason"]) == (
        1,
        ids["cheap"],
        200,
        "caller-bye",
    )


# --- 4. non-Digest credentials -----------------------------------------------------------


def test_non_digest_credentials_get_400_at_once(platform, ids, listeners):
    """A request carrying Basic (or any non-Digest) Authorization or Proxy-Authorization is
    answered 400 at once, from any source — not silently dropped (which leaves the caller
    retransmitting for 32 s) — and reaches no vendor."""
    basic = "Basic dXNlcjpwYXNz"
    cases = {
        "unknown INVITE Authorization": (unknown_ip(40), "INVITE", f"Authorization: {basic}"),
        "acme INVITE Authorization": (c.ACME_IP, "INVITE", f"Authorization: {basic}"),
        "acme INVITE Proxy-Authorization": (
            c.ACME_IP,
            "INVITE",
            f"Proxy-Authorization: {basic}",
        ),
        "unknown OPTIONS Proxy-Authorization": (
            unknown_ip(41),
            "OPTIONS",
            f"Proxy-Authorization: {basic}",
        ),
    }
    observed = {}
    for case, (source, method, header) in cases.items():
        target = ruri() if method == "INVITE" else f"sip:{SIP_IP}:{SIP_PORT}".encode()
        _, replies = send(source, method, target, headers=[header])
        observed[case] = outcome(replies)[0]
    time.sleep(SILENCE)
    assert (observed, relayed(listeners)) == (dict.fromkeys(cases, 400), {})


# --- 5. floods ---------------------------------------------------------------------------

BURST = 500  # over ~1 s: above 3x any flood threshold from 10 to 100 requests per 2 s
BURST_SECONDS = 1.0
QUIET_TAIL = 150  # the last requests of the burst: by then any such threshold has banned


def test_a_flooding_unknown_source_is_banned_while_customers_call_on(platform, ids):
    """An unknown source sending INVITEs as fast as it can: its first ones get a bare 403 (no
    X-Akira-Reason: reasons are not told to strangers); once it crosses the flood threshold it
    gets no reply at all, also for a request right after the burst. A customer's call placed
    during the burst completes normally, and customers still get reasons (484)."""
    platform.vendor("cheap", c.PORTS["cheap"])
    customer: dict[str, object] = {}
    calling = threading.Thread(
        target=lambda: customer.update(result=platform.call(c.UK_FIXED, c.ACME_IP, hold_ms=500))
    )
    with Endpoint(FLOOD_IP) as flooder:
        started = time.monotonic()
        calling.start()
        for i in range(BURST):
            flooder.send(
                request("INVITE", ruri(), source=flooder.address, call_id=f"flood-{i}", body=SDP),
                PROXY,
            )
            time.sleep(max(0.0, started + (i + 1) * BURST_SECONDS / BURST - time.monotonic()))
        # right after the burst, one more; then 2 s for any reply to it or to the burst
        flooder.send(
            request("INVITE", ruri(), source=flooder.address, call_id="after-0", body=SDP), PROXY
        )
        replies = flooder.collect(2.0)
    calling.join(timeout=30)

    after = [m for m in replies if m.header("call-id") == "after-0"]
    replies = [m for m in replies if m not in after]
    answered = sorted({int(m.header("call-id").split("-")[1]) for m in replies})
    kinds = {(m.status, m.header("X-Akira-Reason")) for m in replies}
    summary = f"{len(answered)} of {BURST} answered, the last one #{answered[-1:]}; {kinds}"
    assert kinds <= {(100, None), (403, None)}, summary
    assert answered[:1] == [0] and len(answered) >= 5, summary
    assert not [i for i in answered if i >= BURST - QUIET_TAIL], summary
    assert after == [], f"a banned source was answered right after its burst: {after}"

    result = customer["result"]
    assert result.ok, result.explain()
    _, replies = send(c.ACME_IP, "INVITE", ruri("44abc"), body=SDP)
    assert outcome(replies) == (484, "invalid-number")


# --- 6. rejected calls are billed records too --------------------------------------------


def test_every_rejected_customer_call_keeps_its_cdr(platform, ids):
    """Each way a known customer's call is refused before any relay — 484 invalid number, 404
    no customer rate, 503 no vendor, 403 originator disabled — stores exactly one attempt-0 CDR
    with that code and reason, in the customer's currency; the rater rejects none of them."""
    for number, code, reason in (
        ("44abc", 484, "invalid-number"),
        (c.CHINA, 404, "no-customer-rate"),
        (c.FRANCE, 503, "no-vendor"),
    ):
        result = platform.call(number, c.ACME_IP, expect=code, reason=reason)
        assert result.ok, result.explain()
    platform.conn.execute("UPDATE originators SET enabled = false WHERE id = %s", (ids["acme"],))
    platform.publish()
    result = platform.call(c.UK_FIXED, c.ACME_IP, expect=403, reason="originator-disabled")
    assert result.ok, result.explain()

    cdrs = platform.rate_cdrs(expected=4)
    rejects = platform.conn.execute("SELECT error FROM cdr_rejects").fetchall()
    stored = sorted(
        (r["dialed"], r["attempt"], r["sip_code"], r["reason"], r["currency"]) for r in cdrs
    )
    assert (stored, rejects) == (
        sorted(
            [
                ("44abc", 0, 484, "invalid-number", "USD"),
                (c.CHINA, 0, 404, "no-customer-rate", "USD"),
                (c.FRANCE, 0, 503, "no-vendor", "USD"),
                (c.UK_FIXED, 0, 403, "originator-disabled", "USD"),
            ]
        ),
        [],
    )
    assert {r["originator_id"] for r in cdrs} == {ids["acme"]}
