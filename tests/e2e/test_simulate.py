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


def akira(workdir, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "admin.cli", *args],
        env=os.environ
        | {"AKIRA_REDIS_URL": REDIS_URL, "AKIRA_SNAPSHOT_DIR": str(workdir / "cli-snapshot")},
        capture_output=True,
        text=True,
        check=check,
    )


def simulate(workdir, src_ip: str, number: str) -> dict:
    return json.loads(akira(workdir, "simulate", "--src-ip", src_ip, "--number", number).stdout)


def test_simulate_agrees_with_kamailio(platform):
    ids = c.load(platform.conn)
    version = platform.publish().version
    vendors = {name: platform.vendor(name, port) for name, port in c.PORTS.items()}
    names = {ids[name]: name for name in c.PORTS}
    for src_ip, number in CASES:
        decision = simulate(platform.workdir, src_ip, number)
        assert decision["snapshot_version"] == version
        before = {name: vendor.invites() for name, vendor in vendors.items()}
        if decision["routed"]:
            result = platform.call(number, src_ip, hold_ms=200)
            chosen = names[decision["routes"][0]["terminator_id"]]
            after = {name: vendor.invites() for name, vendor in vendors.items()}
            got = [name for name in vendors if after[name] > before[name]]
            assert (result.ok, got) == (True, [chosen]), (src_ip, number, result.explain())
        elif src_ip == c.UNKNOWN_IP:  # a source that is no customer's is told nothing
            result = platform.call(number, src_ip, expect=decision["sip_code"])
            assert result.ok and "X-Akira-Reason" not in result.messages, result.explain()
        else:
            result = platform.call(
                number, src_ip, expect=decision["sip_code"], reason=decision["reason"]
            )
            assert result.ok, (src_ip, number, decision["reason"], result.explain())
    routed = [case for case in CASES if simulate(platform.workdir, *case)["routed"]]
    assert routed == CASES[:4]


def test_simulate_a_csv_of_numbers_row_by_row(platform, tmp_path):
    c.load(platform.conn)
    platform.publish()
    numbers = tmp_path / "numbers.csv"
    dialed = [c.UK_FIXED, "+" + c.LONDON, c.UK_MOBILE, c.CHINA, c.FRANCE, "44x1"]
    numbers.write_text("number\n" + "\n".join(dialed) + "\n")
    completed = akira(
        platform.workdir, "simulate", "--src-ip", c.ACME_IP, "--numbers", str(numbers)
    )
    header, *rows = [line.split(",") for line in completed.stdout.splitlines()]
    assert header == ["number", "sip_code", "reason", "customer_prefix", "customer_rate", "routes"]
    assert [row[0] for row in rows] == dialed
    for row, number in zip(rows, dialed, strict=True):
        decision = simulate(platform.workdir, c.ACME_IP, number)
        assert row[1:3] == [str(decision["sip_code"] or ""), decision["reason"] or ""]
        expected = " ".join(
            f"{r['terminator']}@{r['vendor_rate']['prefix']}:{r['vendor_rate']['rate']}"
            for r in decision["routes"]
        )
        assert row[5] == expected
    assert rows[0][5] == "cheap@44:0.008 mid@44:0.01 dear@44:0.012"
    assert "6 numbers in" in completed.stderr


def test_simulate_refuses_a_time_before_the_snapshot(platform):
    """Rates that ended before the publication are not in the snapshot: a past time is refused
    with the reason, never answered with today's rates."""
    c.load(platform.conn)
    platform.publish()
    past = ("--number", c.UK_FIXED, "--at", "2020-01-01T00:00:00+00:00")
    before = akira(platform.workdir, "simulate", "--src-ip", c.ACME_IP, *past, check=False)
    assert before.returncode != 0
    assert "is before snapshot" in before.stderr and "cannot say" in before.stderr
    later = simulate(platform.workdir, c.ACME_IP, c.UK_FIXED)
    assert later["routed"]
