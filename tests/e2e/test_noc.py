"""The NOC orchestrator (``akira noc serve``, its own process) places SIPp test calls through
Kamailio to the vendor it is told, bypassing LCR via the NOC trunk, and records what the
vendor answered; an audit that fails raises an alert. A customer naming a vendor gets LCR."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal as D

import httpx
import pytest

from admin import catalog, ledger
from admin.catalog import RateRow
from admin.noc import runs, sipp_call
from tests.conftest import REDIS_URL
from tests.e2e import catalog as c
from tests.e2e.conftest import PROXY, ROOT
from tests.e2e.ports import port

pytestmark = pytest.mark.e2e

NOC_IP = "127.0.0.5"
TOKEN = "noc-secret"
NOC_PORT = port(75)


@pytest.fixture
def ids(platform):
    ids = c.load(platform.conn)
    with platform.conn.transaction():
        company = catalog.company(platform.conn, "NOC", customer=True)
        tariff = catalog.tariff(platform.conn, "NOC zero", [RateRow("4", D("0"))])
        # the NOC plan: every vendor that may be tested, a loss allowed (the NOC pays nothing)
        plan = catalog.routing_plan(
            platform.conn, "NOC", [ids["cheap"], ids["mid"], ids["dear"]], allow_loss=True
        )
        ids["noc"] = catalog.originator(
            platform.conn, company, "noc", tariff, plan, [f"{NOC_IP}/32"]
        )
    runs.set_trunk(platform.conn, "noc", True, "e2e")
    platform.publish()
    return ids


@pytest.fixture
def orchestrator(platform, database_url):
    yield from serve(platform, database_url)


def serve(platform, database_url, *options: str, **settings: str):
    """``akira noc serve`` as its own process until the test ends; its HTTP client."""
    env = os.environ | {
        "AKIRA_DATABASE_URL": database_url,
        "AKIRA_REDIS_URL": REDIS_URL,
        "AKIRA_NOC_PROXY": PROXY,
        "AKIRA_NOC_SIP_IP": NOC_IP,
        "AKIRA_NOC_TOKEN": TOKEN,
        "AKIRA_NOC_PORT": str(NOC_PORT),
        "AKIRA_NOC_MAX_PER_MINUTE": "5",
        **settings,
    }
    log = platform.workdir / "noc.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "admin.cli", "noc", "serve", *options],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    client = httpx.Client(base_url=f"http://127.0.0.1:{NOC_PORT}", timeout=60)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.get("/healthz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"akira noc serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    yield client
    client.close()
    process.terminate()
    process.wait(timeout=10)


def place(client: httpx.Client, terminator_id: int, **fields) -> httpx.Response:
    body = {"terminator_id": terminator_id, "number": c.UK_FIXED, "hold_seconds": 1} | fields
    return client.post("/test-calls", json=body, headers={"Authorization": f"Bearer {TOKEN}"})


def test_the_orchestrator_forces_the_vendor_and_records_200_and_503(platform, ids, orchestrator):
    cheap = platform.vendor("cheap", c.PORTS["cheap"], reject=503)
    mid = platform.vendor("mid", c.PORTS["mid"])
    dear = platform.vendor("dear", c.PORTS["dear"])
    # LCR would try cheap first: the NOC trunk gets exactly the vendor it names
    answered = place(orchestrator, ids["mid"], requested_by="nina")
    assert answered.status_code == 201, answered.text
    result = answered.json()
    assert (result["outcome"], result["sip_code"], result["terminator"]) == ("passed", 200, "mid")
    assert 200 in result["reply_codes"] and result["pdd_ms"] is not None
    assert 900 <= result["duration_ms"] <= 5000  # held for 1 s
    assert result["requested_by"] == "nina" and result["call_id"]

    rejected = place(orchestrator, ids["cheap"])
    assert rejected.status_code == 201, rejected.text
    failed = rejected.json()
    assert (failed["outcome"], failed["sip_code"]) == ("failed", 503)
    assert failed["detail"] == "expected 200, got 503" and failed["duration_ms"] is None
    # no failover from a forced vendor: mid saw only its own test call, dear none
    assert (cheap.invites(), mid.invites(), dear.invites()) == (1, 1, 0)

    stored = platform.conn.execute(
        "SELECT terminator_id, outcome, sip_code FROM noc_test_calls ORDER BY id"
    ).fetchall()
    assert stored == [(ids["mid"], "passed", 200), (ids["cheap"], "failed", 503)]
    listed = orchestrator.get(
        "/test-calls",
        params={"terminator_id": ids["cheap"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert [r["sip_code"] for r in listed.json()] == [503]
    # the test calls are calls of the NOC trunk, billed like any: their CDRs land
    cdrs = platform.rate_cdrs(expected=2)
    assert {(r["originator_id"], r["terminator_id"], r["sip_code"]) for r in cdrs} == {
        (ids["noc"], ids["mid"], 200),
        (ids["noc"], ids["cheap"], 503),
    }


def test_the_api_needs_the_token_and_bounds_calls_per_vendor(platform, ids, orchestrator):
    assert (
        orchestrator.post("/test-calls", json={"terminator_id": 1, "number": "44"}).status_code
        == 401
    )
    wrong = orchestrator.get("/test-calls", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert place(orchestrator, ids["mid"], number="44x").status_code == 400
    assert place(orchestrator, 999_999).status_code == 400
    platform.vendor("dear", c.PORTS["dear"], reject=486)
    codes = [place(orchestrator, ids["dear"], expect_code=486).status_code for _ in range(6)]
    assert codes == [201] * 5 + [429]  # AKIRA_NOC_MAX_PER_MINUTE=5 for this vendor
    platform.rate_cdrs(expected=5)


def test_a_failed_audit_raises_an_alert(platform, ids, orchestrator):
    platform.vendor("cheap", c.PORTS["cheap"], reject=503)
    platform.vendor("mid", c.PORTS["mid"])
    good = runs.create_audit(
        platform.conn, runs.AuditForm(ids["mid"], [c.UK_FIXED], 60, 200, 1), "nina"
    )
    bad = runs.create_audit(
        platform.conn, runs.AuditForm(ids["cheap"], [c.UK_FIXED], 60, 200, 1), "nina"
    )
    ran = orchestrator.post("/audits/run", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ran.status_code == 200, ran.text
    assert sorted((r["audit_id"], r["outcome"]) for r in ran.json()) == [
        (good, "passed"),
        (bad, "failed"),
    ]
    again = orchestrator.post("/audits/run", headers={"Authorization": f"Bearer {TOKEN}"})
    assert again.json() == []  # next run in 60 minutes
    (alert,) = ledger.undelivered_alerts(platform.conn)
    assert (alert["kind"], alert["company"]) == ("noc-test-failed", "Vendor cheap")
    assert alert["detail"]["audit_id"] == bad and alert["detail"]["sip_code"] == 503
    assert alert["detail"]["terminator"] == "cheap" and "balance" not in alert
    platform.rate_cdrs(expected=2)


def test_a_customer_naming_a_vendor_gets_least_cost_routing(platform, ids):
    """The header from a customer's trunk is ignored (and never relayed): no relay hole."""
    cheap = platform.vendor("cheap", c.PORTS["cheap"], reject=503)
    mid = platform.vendor("mid", c.PORTS["mid"])
    dear = platform.vendor("dear", c.PORTS["dear"])
    outcome, problem = sipp_call.place(
        proxy=PROXY, sip_ip=c.ACME_IP, number=c.UK_FIXED, terminator_id=ids["dear"], hold_seconds=1
    )
    assert outcome.sip_code == 200, problem
    assert (cheap.invites(), mid.invites(), dear.invites()) == (1, 1, 0)
    assert "X-Akira-Terminator" not in mid.messages.read_text()
    platform.rate_cdrs(expected=2)


def test_the_admin_places_test_calls_through_the_orchestrator(
    platform, ids, orchestrator, database_url, monkeypatch
):
    from litestar.testing import TestClient

    from admin.web import tokens
    from admin.web.app import create_app
    from tests.integration.web_conftest import bearer, create_user, log_in, web_settings

    monkeypatch.setenv("AKIRA_NOC_URL", f"http://127.0.0.1:{NOC_PORT}")
    monkeypatch.setenv("AKIRA_NOC_TOKEN", TOKEN)
    platform.vendor("mid", c.PORTS["mid"])
    made = {}
    for name, role in (("nina", "noc"), ("olga", "operator")):
        user = create_user(platform.conn, name, role)
        made[role] = tokens.create(platform.conn, user, "t", role=None, days=1, by="t")[0]
    platform.conn.commit()
    body = {"terminator_id": ids["mid"], "number": c.UK_FIXED, "hold_seconds": 1}
    with TestClient(create_app(web_settings(database_url))) as client:
        refused = client.post("/api/v1/noc/test-calls", json=body, headers=bearer(made["operator"]))
        assert refused.status_code == 403 and "noc.test_call" in refused.text
        placed = client.post("/api/v1/noc/test-calls", json=body, headers=bearer(made["noc"]))
        assert placed.status_code == 201, placed.text
        assert (placed.json()["outcome"], placed.json()["requested_by"]) == ("passed", "nina")
        listed = client.get("/api/v1/noc/test-calls", headers=bearer(made["operator"]))
        assert [r["sip_code"] for r in listed.json()] == [200]
        audit = {"terminator_id": ids["mid"], "numbers": [c.UK_FIXED], "every_minutes": 30}
        created = client.post("/api/v1/noc/audits", json=audit, headers=bearer(made["noc"]))
        assert created.status_code == 201, created.text
        bad = client.post(
            "/api/v1/noc/audits", json=audit | {"numbers": ["x"]}, headers=bearer(made["noc"])
        )
        assert bad.status_code == 400
        audits = client.get("/api/v1/noc/audits", headers=bearer(made["operator"])).json()
        assert [(a["id"], a["every_minutes"]) for a in audits] == [(created.json()["id"], 30)]
        assert log_in(client, "nina").status_code == 303
        page = client.get("/noc")
        assert page.status_code == 200 and "<rect" in page.text and "Schedule audit" in page.text
        assert '<td>mid</td><td class="num">1</td><td class="num">1</td>' in page.text
        schema = client.get("/schema/openapi.json").json()["paths"]
        assert {"/api/v1/noc/test-calls", "/api/v1/noc/audits"} <= schema.keys()
    logged = platform.conn.execute(
        "SELECT username, entity, action FROM audit_log WHERE entity = 'noc_audit'"
    ).fetchall()
    assert logged == [("nina", "noc_audit", "create")]
    platform.rate_cdrs(expected=1)


def test_an_audit_of_top_destinations_calls_what_customers_called(platform, ids, database_url):
    """Run from cron (akira noc audit run): the vendor's busiest prefixes of the day, each at
    the number customers last called there; the NOC's own calls do not count."""
    platform.vendor("cheap", c.PORTS["cheap"])
    for number in (c.UK_FIXED, c.UK_FIXED, "441234000111"):
        assert platform.call(number, c.ACME_IP, hold_ms=200).ok
    platform.rate_cdrs(expected=3)
    audit_id = runs.create_audit(
        platform.conn, runs.AuditForm(ids["cheap"], [], 60, 200, 1, top_destinations=2), "nina"
    )
    env = os.environ | {
        "AKIRA_DATABASE_URL": database_url,
        "AKIRA_REDIS_URL": REDIS_URL,
        "AKIRA_NOC_PROXY": PROXY,
        "AKIRA_NOC_SIP_IP": NOC_IP,
    }
    done = subprocess.run(
        [sys.executable, "-m", "admin.cli", "noc", "audit", "run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    called = platform.conn.execute(
        "SELECT number, outcome FROM noc_test_calls WHERE audit_id = %s", (audit_id,)
    ).fetchall()
    assert called == [("441234000111", "passed")]  # customers' prefix 44: its last number
    assert runs.top_destinations(platform.conn, ids["cheap"], 5) == ["441234000111"]
    platform.rate_cdrs(expected=4)


def test_the_service_runs_due_audits_as_its_job(platform, ids, database_url):
    platform.vendor("mid", c.PORTS["mid"])
    audit_id = runs.create_audit(
        platform.conn, runs.AuditForm(ids["mid"], [c.UK_FIXED], 60, 200, 1), "nina"
    )
    service = serve(platform, database_url, "--audits", AKIRA_NOC_AUDIT_INTERVAL="0.5")
    next(service)
    try:
        deadline = time.monotonic() + 20
        while not platform.conn.execute(
            "SELECT outcome FROM noc_test_calls WHERE audit_id = %s", (audit_id,)
        ).fetchall():
            assert time.monotonic() < deadline, "the audit job did not run the due audit"
            time.sleep(0.2)
            platform.conn.rollback()
        time.sleep(1.5)  # a few more rounds: the audit is not due again for 60 minutes
        calls = platform.conn.execute(
            "SELECT outcome, requested_by FROM noc_test_calls WHERE audit_id = %s", (audit_id,)
        ).fetchall()
        assert calls == [("passed", "audit")]
    finally:
        next(service, None)
    platform.rate_cdrs(expected=1)
