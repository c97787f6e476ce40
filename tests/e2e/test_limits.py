"""Cluster-wide CPS and concurrent-call limits through the real Kamailio and Redis: hit, and
released on every way a call ends (BYE either way, CANCEL, final failure, max duration, a node
killed with -9), shared by two nodes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from admin import routing_settings as rs
from tests.conftest import REDIS_URL
from tests.e2e import catalog as c
from tests.e2e.conftest import SIP_IP, SIP_PORT, start_kamailio
from tests.e2e.ports import port
from tests.e2e.rawsip import SDP, Call, Endpoint, Listener, Message, final, reply, request, token

pytestmark = pytest.mark.e2e

SECOND_NODE_PORT = port(75)


@pytest.fixture
def ids(platform):
    return c.load(platform.conn)


def change(platform, table: str, row_id: int, **settings) -> None:
    with platform.conn.transaction():
        rs.update(platform.conn, table, row_id, settings)


def invite(number: str = c.UK_FIXED, proxy: tuple[str, int] = (SIP_IP, SIP_PORT)):
    """One raw INVITE from Acme: its final reply (answered calls are ACKed and hung up)."""
    with Endpoint(c.ACME_IP) as endpoint:
        caller = Call(endpoint, proxy, number)
        reply = caller.invite()
        if reply is not None and reply.status == 200:
            caller.bye()
        return reply


def in_background(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def until(predicate: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def accepted() -> bool:
    reply = invite()
    return reply is not None and reply.status == 200


def refused_for(reason: str) -> bool:
    reply = invite()
    return reply is not None and (reply.status, reply.header("x-akira-reason")) == (503, reason)


def held(platform, hold_ms: int, **kwargs) -> threading.Thread:
    """A customer call held ``hold_ms`` in the background; returns once its INVITE reached the
    vendor (its slot is taken by then). Probing with calls instead would race it for the slot."""
    vendor = platform.vendors[-1]
    before = vendor.invites()
    thread = in_background(lambda: platform.call(c.UK_FIXED, c.ACME_IP, hold_ms=hold_ms, **kwargs))
    assert until(lambda: vendor.invites() > before, 5, 0.05), "the held call never got up"
    return thread


def test_a_concurrency_limit_refuses_calls_and_frees_on_bye(platform, ids):
    """Acme may have one call at a time: while one is up, the next gets 503 with Retry-After
    and X-Akira-Reason; once the first hangs up its slot is free again."""
    change(platform, "originators", ids["acme"], concurrent_limit=1)
    platform.publish()
    platform.vendor("cheap", c.PORTS["cheap"])
    first = held(platform, 2500)
    reply = invite()
    assert reply.status == 503 and reply.header("retry-after") == "5"
    first.join()
    assert until(accepted, 5), "the slot was not released after the BYE"


def test_the_slot_is_freed_when_the_vendor_hangs_up(platform, ids):
    change(platform, "originators", ids["acme"], concurrent_limit=1)
    platform.publish()
    platform.vendor("cheap", c.PORTS["cheap"], hangup=True)  # BYE from the vendor after 1 s
    first = held(platform, 0, remote_hangup=True)
    first.join()
    assert until(accepted, 5)


def test_the_slot_is_freed_by_a_cancel(platform, ids):
    """The caller cancels while the vendor rings: 487 to the caller, and the slot is free."""
    change(platform, "originators", ids["acme"], concurrent_limit=1)
    platform.publish()
    cheap = Listener("127.0.0.1", c.PORTS["cheap"], answer=None)  # answered by hand below
    try:
        with Endpoint(c.ACME_IP) as caller:
            assert cancelled(caller, cheap).status == 487
    finally:
        cheap.close()
    platform.vendor("cheap", c.PORTS["cheap"])
    assert until(accepted, 5)
    reasons = {cdr["reason"] for cdr in platform.rate_cdrs(expected=2)}
    assert "caller-cancel" in reasons


def cancelled(caller: Endpoint, vendor: Listener) -> Message:
    """INVITE, 180 from the vendor, CANCEL (same branch, RFC 3261 §9.1), 487; its ACK."""
    proxy, branch = (SIP_IP, SIP_PORT), f"z9hG4bK-{token()}"
    dialog = {"call_id": f"{token()}@{c.ACME_IP}", "from_tag": token(4), "branch": branch}
    ruri = f"sip:{c.UK_FIXED}@{SIP_IP}:{SIP_PORT}"
    caller.send(request("INVITE", ruri, source=caller.address, body=SDP, **dialog), proxy)
    assert until(lambda: vendor.requests("INVITE"), 5, 0.05), "the INVITE never reached cheap"
    relayed = vendor.requests("INVITE")[0]
    vendor.sock.sendto(reply(relayed, 180, "Ringing", to_tag="v1"), relayed.source)
    assert caller.collect(2, until=lambda ms: any(m.status == 180 for m in ms))
    cancel = request("CANCEL", ruri, source=caller.address, **dialog)
    assert final(caller.transact(cancel, proxy)).status == 200
    assert until(lambda: vendor.requests("CANCEL"), 5, 0.05), "the CANCEL never reached cheap"
    to_vendor = vendor.requests("CANCEL")[0]
    vendor.sock.sendto(reply(to_vendor, 200, "OK"), to_vendor.source)
    vendor.sock.sendto(reply(relayed, 487, "Request Terminated", to_tag="v1"), relayed.source)
    answer = final(caller.collect(5, until=lambda ms: final(ms) is not None))
    assert answer is not None, "no final reply to the cancelled INVITE"
    ack = request("ACK", ruri, source=caller.address, to_tag=answer.tag("to"), **dialog)
    caller.send(ack, proxy)
    return answer


def test_the_slot_is_freed_when_every_vendor_fails(platform, ids):
    """Nobody answers (ring timeout 1 s each): 503 all-vendors-failed, and the slot is free."""
    change(platform, "originators", ids["acme"], concurrent_limit=1)
    plan_id = platform.conn.execute(
        "SELECT routing_plan_id FROM originators WHERE id = %s", (ids["acme"],)
    ).fetchone()[0]
    change(platform, "routing_plans", plan_id, ring_timeout=1)
    platform.publish()
    failed = invite()
    assert (failed.status, failed.header("x-akira-reason")) == (503, "all-vendors-failed")
    platform.vendor("cheap", c.PORTS["cheap"])
    assert until(accepted, 5)


def test_the_slot_is_freed_at_the_max_duration(platform, ids):
    change(platform, "originators", ids["acme"], concurrent_limit=1, max_call_duration=2)
    platform.publish()
    platform.vendor("cheap", c.PORTS["cheap"])
    first = held(platform, 0, remote_hangup=True)  # the proxy ends it after 2 s
    first.join()
    assert until(accepted, 5)


def test_a_cps_limit(platform, ids):
    """Two calls per second: of six INVITEs sent together, about two get through."""
    change(platform, "originators", ids["acme"], cps_limit=2)
    platform.publish()
    cheap = Listener("127.0.0.1", c.PORTS["cheap"], answer=486)
    try:
        replies = []
        threads = [in_background(lambda: replies.append(invite())) for _ in range(6)]
        for thread in threads:
            thread.join()
    finally:
        cheap.close()
    outcome = Counter((r.status, r.header("x-akira-reason")) for r in replies)
    assert outcome[(503, "cps-limit")] >= 3, outcome
    assert outcome[(486, None)] + outcome[(503, "cps-limit")] == 6, outcome


def test_a_vendor_over_its_limit_is_skipped(platform, ids):
    """cheap takes one call at a time: the second goes to mid, and says why in its CDR."""
    change(platform, "terminators", ids["cheap"], concurrent_limit=1)
    platform.publish()
    cheap = platform.vendor("cheap", c.PORTS["cheap"])
    mid = platform.vendor("mid", c.PORTS["mid"])
    first = in_background(lambda: platform.call(c.UK_FIXED, c.ACME_IP, hold_ms=2500))
    assert until(lambda: cheap.invites() == 1, 5, 0.05)
    assert accepted()
    first.join()
    cdrs = platform.rate_cdrs(expected=2)
    assert (cheap.invites(), mid.invites()) == (1, 1)
    to_mid = next(cdr for cdr in cdrs if cdr["terminator_id"] == ids["mid"])
    assert f"-{ids['cheap']} concurrency-limit" in to_mid["trace"]


def test_two_nodes_share_the_limit(platform, ids, tmp_path):
    """A second Kamailio on the same Redis: a call up on one node counts on the other."""
    change(platform, "originators", ids["acme"], concurrent_limit=1)
    platform.publish()
    platform.vendor("cheap", c.PORTS["cheap"])
    other = start_kamailio(tmp_path / "node-b", SECOND_NODE_PORT, REDIS_URL, node="e2e-b")
    try:
        other.wait_installed(int(platform.redis.get("akira:snapshot:current")))
        first = held(platform, 2500)
        reply = invite(proxy=(SIP_IP, SECOND_NODE_PORT))
        assert (reply.status, reply.header("x-akira-reason")) == (503, "concurrency-limit")
        first.join()
        assert until(lambda: invite(proxy=(SIP_IP, SECOND_NODE_PORT)).status == 200, 5)
    finally:
        other.stop()


def test_a_killed_nodes_slots_expire(platform, ids, tmp_path):
    """kill -9 of a Kamailio holding a call: its slot outlives it by the node's alive time
    (2 s here), then calls are accepted again; no slot leaks."""
    change(platform, "originators", ids["acme"], concurrent_limit=1)
    platform.publish()
    platform.vendor("cheap", c.PORTS["cheap"])
    os.environ["AKIRA_SLOTS_ALIVE_MS"] = "2000"
    try:
        doomed = start_kamailio(tmp_path / "doomed", SECOND_NODE_PORT, REDIS_URL, node="doomed")
    finally:
        del os.environ["AKIRA_SLOTS_ALIVE_MS"]
    doomed.wait_installed(int(platform.redis.get("akira:snapshot:current")))
    with Endpoint(c.ACME_IP) as endpoint:
        up = Call(endpoint, (SIP_IP, SECOND_NODE_PORT), c.UK_FIXED).invite()  # never hung up
        assert up is not None and up.status == 200
        kill_all(doomed.process.pid)
        doomed.process.wait()
    killed_at = time.monotonic()
    assert refused_for("concurrency-limit")  # the dead node's slot still counts, for now
    assert until(accepted, 6), "the dead node's slot never expired"
    assert time.monotonic() - killed_at <= 4.5


def kill_all(main_pid: int) -> None:
    """SIGKILL a Kamailio: its main process and every child, at once."""
    children = subprocess.run(
        ["pgrep", "-P", str(main_pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    for pid in [main_pid, *map(int, children)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
