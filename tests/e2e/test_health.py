"""Vendor health through a real Kamailio: a gateway that stops answering SIP OPTIONS is skipped
(the CDR's trace, ``akira status`` and ``akira simulate`` say so) until it answers again."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REDIS_URL
from tests.e2e import catalog as c
from tests.e2e.conftest import SIP_IP, start_kamailio
from tests.e2e.ports import port
from tests.e2e.rawsip import Call, Endpoint, Listener
from tests.e2e.test_limits import until
from tests.e2e.test_simulate import akira

pytestmark = pytest.mark.e2e

PROBING_PORT = port(76)
NODE = "e2e-probing"


def tried(vendors: dict[str, Listener]) -> tuple[int, list[str]]:
    """One call from Acme through the probing node: its final code and the vendors its INVITEs
    reached, in the order they reached them."""
    before = {name: len(v.requests("INVITE")) for name, v in vendors.items()}
    with Endpoint(c.ACME_IP) as endpoint:
        reply = Call(endpoint, (SIP_IP, PROBING_PORT), c.UK_FIXED).invite()
    assert reply is not None, "no final reply"
    reached = [
        (v.requests("INVITE")[before[name]].received_at, name)
        for name, v in vendors.items()
        if len(v.requests("INVITE")) > before[name]
    ]
    return reply.status, [name for _, name in sorted(reached)]


def status(workdir) -> dict:
    return json.loads(akira(workdir, "status").stdout)


def test_a_silent_vendor_is_skipped_until_it_answers_again(platform, tmp_path):
    """Probes every 0.5 s. Every vendor answers 503, so each call hunts through all that are
    up: cheap, mid, dear. cheap falls silent -> found down within a few probes -> calls go to
    mid, dear only, with "unhealthy" in the trace; it answers again -> it is used again."""
    ids = c.load(platform.conn)
    version = platform.publish().version
    vendors = {name: Listener("127.0.0.1", p, answer=503) for name, p in c.PORTS.items()}
    node = start_kamailio(tmp_path / "node", PROBING_PORT, REDIS_URL, node=NODE, probe_seconds=0.5)
    cheap = f"127.0.0.1:{c.PORTS['cheap']}:udp"
    try:
        node.wait_installed(version)
        assert until(lambda: all(v.requests("OPTIONS") for v in vendors.values()), 5)
        assert tried(vendors) == (503, ["cheap", "mid", "dear"])

        vendors["cheap"].silent = True
        assert until(lambda: status(platform.workdir)["gateways_down"].get(NODE) == [cheap], 10)
        assert tried(vendors) == (503, ["mid", "dear"])
        simulated = json.loads(
            akira(
                platform.workdir, "simulate", "--src-ip", c.ACME_IP, "--number", c.UK_FIXED
            ).stdout
        )
        assert simulated["gateways_down"] == [cheap]
        assert [r["terminator"] for r in simulated["routes"]] == ["mid", "dear"]
        assert {"terminator": "cheap", "reason": "unhealthy"}.items() <= next(
            d for d in simulated["dropped"] if d["terminator"] == "cheap"
        ).items()

        vendors["cheap"].silent = False
        assert until(lambda: status(platform.workdir)["gateways_down"].get(NODE) == [], 5)
        assert tried(vendors) == (503, ["cheap", "mid", "dear"])
        assert node.journal_drained()
    finally:
        node.stop()
        for listener in vendors.values():
            listener.close()
    cdrs = platform.rate_cdrs(expected=8)
    skipping = [cdr for cdr in cdrs if f"-{ids['cheap']} unhealthy" in cdr["trace"]]
    assert {cdr["terminator_id"] for cdr in skipping} == {ids["mid"], ids["dear"]}
