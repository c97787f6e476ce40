"""Quality routing through the real Kamailio (issue 10 part 5): the cheapest vendor's SIPp UAS
answers 503, so every call fails over to the next one; within two rollup periods - each one
driven explicitly: calls, the rater, then ``akira quality publish`` - its ASR for the
destination is judged under the plan's 50 % and it goes after the others, with the reason in
``akira simulate``'s trace, and the next call reaches the good vendor first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import REDIS_URL, database_url_for
from tests.e2e import catalog as c
from tests.e2e.test_routing import plan_of

pytestmark = pytest.mark.e2e

MIN_ATTEMPTS = 4  # before judging; each period below gives the cheap vendor 2 attempts


def akira(platform, *args: str) -> str:
    env = os.environ | {
        "AKIRA_REDIS_URL": REDIS_URL,
        "AKIRA_DATABASE_URL": database_url_for(platform.conn.info.dbname),
        "AKIRA_SNAPSHOT_DIR": str(platform.workdir / "cli-snapshot"),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "admin.cli", *args], env=env, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def publish_quality(platform) -> dict:
    """One round of the refresh job, as cron or ``--every`` runs it, and the node's pickup."""
    publication = json.loads(akira(platform, "quality", "publish", "--window", "10"))
    current = platform.kamailio.snapshot_dir / "quality" / "current"
    deadline = time.monotonic() + 10
    while not (current.exists() and current.read_text().strip() == publication["digest"]):
        assert time.monotonic() < deadline, "the node's sync did not install the quality table"
        time.sleep(0.05)
    time.sleep(0.5)  # the workers map it at their next look (every 0.1 s in tests)
    return publication


def simulate(platform) -> dict:
    return json.loads(akira(platform, "simulate", "--src-ip", c.ACME_IP, "--number", c.UK_FIXED))


def test_a_vendor_answering_503_is_demoted_within_two_rollup_periods(platform):
    ids = c.load(platform.conn)
    with platform.conn.transaction():
        platform.conn.execute(
            "UPDATE routing_plans SET strategy = 'quality_then_cost', quality_min_asr = 50,"
            " quality_min_attempts = %s WHERE id = %s",
            (MIN_ATTEMPTS, plan_of(platform.conn, ids["acme"])),
        )
    failing = platform.vendor("cheap", c.PORTS["cheap"], reject=503)
    platform.vendor("mid", c.PORTS["mid"])
    platform.vendor("dear", c.PORTS["dear"])
    platform.publish()
    cdrs = 0

    def period(calls: int) -> dict:
        """``calls`` calls to 44 (each: cheap 503, then mid answers), rated, then the job."""
        nonlocal cdrs
        for _ in range(calls):
            result = platform.call(c.UK_FIXED, c.ACME_IP, hold_ms=200)
            assert result.ok, result.explain()
        cdrs += 2 * calls
        assert len(platform.rate_cdrs(cdrs)) == cdrs
        publish_quality(platform)
        return simulate(platform)

    first = period(2)  # 2 attempts of the cheap vendor: too few to judge
    assert [r["terminator_id"] for r in first["routes"]] == [ids["cheap"], ids["mid"], ids["dear"]]
    assert not any(line.startswith("quality") for line in first["trace"])

    second = period(2)  # 4 attempts, none answered: under 50 %
    assert [r["terminator_id"] for r in second["routes"]] == [ids["mid"], ids["dear"], ids["cheap"]]
    assert [r["demoted"] for r in second["routes"]] == [False, False, True]
    assert (
        f"quality demotes {ids['cheap']} on 44: asr 0% < 50% over {MIN_ATTEMPTS} attempts"
        in second["trace"]
    )

    before = failing.invites()
    result = platform.call(c.UK_FIXED, c.ACME_IP, hold_ms=200)
    assert result.ok, result.explain()
    assert failing.invites() == before  # the demoted vendor was not tried: mid answered first
    rows = platform.rate_cdrs(cdrs + 1)
    last = max(rows, key=lambda row: row["started_at"])
    assert (last["attempt"], last["terminator_id"], last["sip_code"]) == (1, ids["mid"], 200)
    assert "quality demotes" in last["trace"]
