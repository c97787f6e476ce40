"""``akira simulate`` must decide exactly what Kamailio does for the same inputs."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REDIS_URL
from tests.e2e import catalog as c

pytestmark = pytest.mark.e2e

CASES = [
    (c.ACME_IP, c.UK_FIXED),
    (c.ACME_IP, "+" + c.LONDON),
    (c.ACME_IP, "00" + c.UK_MOBILE),
    (c.GLOBEX_IP, "0707" + c.UK_FIXED),
    (c.GLOBEX_IP, c.UK_FIXED),  # Globex without its tech-prefix is nobody
    (c.UNKNOWN_IP, c.UK_FIXED),
    (c.ACME_IP, c.CHINA),
    (c.ACME_IP, c.FRANCE),
    (c.ACME_IP, "44x1"),
]


def simulate(src_ip: str, number: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "admin.cli", "simulate", "--src-ip", src_ip, "--number", number],
        env=os.environ | {"AKIRA_REDIS_URL": REDIS_URL},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


def test_simulate_agrees_with_kamailio(platform):
    ids = c.load(platform.conn)
    version = platform.publish().version
    vendors = {name: platform.vendor(name, port) for name, port in c.PORTS.items()}
    names = {ids[name]: name for name in c.PORTS}
    for src_ip, number in CASES:
        decision = simulate(src_ip, number)
        assert decision["snapshot_version"] == version
        before = {name: vendor.invites() for name, vendor in vendors.items()}
        if decision["routed"]:
            result = platform.call(number, src_ip, hold_ms=200)
            chosen = names[decision["routes"][0]["terminator_id"]]
            after = {name: vendor.invites() for name, vendor in vendors.items()}
            got = [name for name in vendors if after[name] > before[name]]
            assert (result.ok, got) == (True, [chosen]), (src_ip, number, result.explain())
        else:
            result = platform.call(
                number, src_ip, expect=decision["sip_code"], reason=decision["reason"]
            )
            assert result.ok, (src_ip, number, decision["reason"], result.explain())
    assert [case for case in CASES if simulate(*case)["routed"]] == CASES[:4]
