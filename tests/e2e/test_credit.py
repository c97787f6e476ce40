"""Prepaid credit through real Kamailio nodes, Redis, the rater and PostgreSQL: 20 long calls at
once for a customer whose balance buys 55 seconds. The calls admitted are cut when what they
reserved is spent, the rest get 402, and the ledger's charges stay within the overdraft bound
(balance + one increment per concurrent call; docs/money.md)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal as D

import pytest

from admin import ledger
from tests.conftest import REDIS_URL
from tests.e2e import catalog as c
from tests.e2e.conftest import SIP_IP, SIP_PORT, start_kamailio
from tests.e2e.ports import port
from tests.e2e.rawsip import Call, Endpoint, reply

pytestmark = pytest.mark.e2e

SECOND_NODE_PORT = port(77)
CALLS = 20
BALANCE = D("0.55")  # at 0.60 a minute, 1/1: 55 seconds of talk in all
MAX_DURATION = 10  # the originator's: each call reserves at most 10 s (0.10)


def long_call(proxy: tuple[str, int], results: list) -> None:
    """One call that never hangs up: its final code, and when answered, the seconds from the
    200 OK to the proxy's BYE (which it answers)."""
    with Endpoint(c.ACME_IP) as endpoint:
        caller = Call(endpoint, proxy, c.UK_FIXED)
        answer = caller.invite(timeout=10)
        if answer is None or answer.status != 200:
            results.append((None if answer is None else answer.status, None, answer))
            return
        answered = time.monotonic()
        received = endpoint.collect(MAX_DURATION + 5, until=lambda ms: ms[-1].method == "BYE")
        bye = next((m for m in received if m.method == "BYE"), None)
        if bye is not None:
            # A caller across a network answers after a round trip. One that answers within
            # microseconds hits Kamailio 5.6's dialog race (docs/engine.md "Known Kamailio
            # issues"): its 200 ends the dialog before the vendor's BYE is sent.
            time.sleep(0.02)
            endpoint.sock.sendto(reply(bye, 200, "OK"), bye.source)
        results.append((200, None if bye is None else time.monotonic() - answered, answer))


@pytest.mark.parametrize("nodes", [1, 2])
def test_prepaid_calls_stop_when_the_credit_is_spent(platform, tmp_path, nodes):
    ids = c.load(platform.conn)
    company = platform.conn.execute(
        "SELECT company_id FROM originators WHERE id = %s", (ids["acme"],)
    ).fetchone()[0]
    with platform.conn.transaction():
        ledger.set_billing(
            platform.conn, company, billing="prepaid", credit_limit=None, username="t"
        )
        ledger.post(platform.conn, company, "topup", BALANCE, note="", username="t")
        platform.conn.execute(
            "UPDATE rates SET rate = 0.60, initial_increment = 1, next_increment = 1"
            " WHERE tariff_id = %s AND prefix = '44'",
            (ids["tariff:customer"],),
        )
        platform.conn.execute(
            "UPDATE originators SET max_call_duration = %s WHERE id = %s",
            (MAX_DURATION, ids["acme"]),
        )
    version = platform.publish().version
    vendor = platform.vendor("cheap", c.PORTS["cheap"])
    proxies = [(SIP_IP, SIP_PORT)]
    other = None
    if nodes == 2:
        other = start_kamailio(tmp_path / "node-b", SECOND_NODE_PORT, REDIS_URL, node="e2e-b")
        other.wait_installed(version)
        proxies.append((SIP_IP, SECOND_NODE_PORT))
    results: list = []
    try:
        threads = [
            threading.Thread(target=long_call, args=(proxies[i % nodes], results), daemon=True)
            for i in range(CALLS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(MAX_DURATION + 20)
        if other is not None:
            assert other.journal_drained()
    finally:
        if other is not None:
            other.stop()
    codes = Counter(code for code, _, _ in results)
    assert codes == {200: 6, 402: 14}, codes
    refusals = {a.header("x-akira-reason") for code, _, a in results if code == 402}
    assert refusals == {"no-credit"}
    # five calls reserved 10 s each, the sixth the 5 s left; each is cut within a second
    lasted = sorted(seconds for code, seconds, _ in results if code == 200)
    assert None not in lasted, "an answered call was never cut"
    for seconds, expected in zip(lasted, [5, 10, 10, 10, 10, 10], strict=True):
        assert abs(seconds - expected) <= 1.0, lasted
    # and the vendor's leg of each is cut too: its billing stops with ours
    assert vendor.messages.read_text().count("BYE sip:") == 6

    cdrs = platform.rate_cdrs(expected=CALLS)
    answered = [cdr for cdr in cdrs if cdr["answered_at"] is not None]
    assert len(answered) == 6 and all(cdr["reason"] == "max-duration" for cdr in answered)
    charged = -platform.conn.execute(
        "SELECT sum(amount) FROM ledger_entries WHERE company_id = %s AND kind = 'call_charge'",
        (company,),
    ).fetchone()[0]
    assert charged == sum(cdr["customer_price"] for cdr in cdrs)
    one_increment = D("0.01")  # a second at 0.60 a minute
    assert BALANCE - D("0.06") <= charged <= BALANCE + len(answered) * one_increment
    assert ledger.balance(platform.conn, company).balance == BALANCE - charged
