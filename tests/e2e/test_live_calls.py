"""Live calls: a call SIPp holds open is listed from the node's dialogs, then dropped (BYE to
both legs, CDR ``operator-drop``, one audit row), by ``akira calls`` and through the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from litestar.testing import TestClient

from admin.web import tokens
from admin.web.app import create_app
from tests.conftest import REDIS_URL
from tests.e2e import catalog as c
from tests.e2e.conftest import PROXY
from tests.e2e.sipp import SCENARIOS, free_udp_port
from tests.integration.web_conftest import bearer, create_user, log_in, web_settings

pytestmark = pytest.mark.e2e


class HeldCall:
    """A customer call that stays up until the other side (here: the proxy) sends BYE."""

    def __init__(self, number: str, src_ip: str, workdir: Path) -> None:
        self.messages = workdir / f"held-{number}.msg"
        command = ["sipp", "-sf", str(SCENARIOS / "uac-answered-remote-bye.xml"), "-s", number]
        command += ["-i", src_ip, "-p", str(free_udp_port(src_ip)), "-m", "1"]
        command += ["-timeout", "40s", "-timeout_error", "-nostdin", "-trace_msg"]
        command += ["-message_file", str(self.messages), PROXY]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def ended_by_bye(self, timeout: float = 10) -> bool:
        """SIPp's exit 0: it got the BYE and answered it."""
        try:
            return self.process.wait(timeout=timeout) == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def akira(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "admin.cli", *args],
        env=os.environ | {"AKIRA_DATABASE_URL": database_url, "AKIRA_REDIS_URL": REDIS_URL},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def listed(database_url: str, *filters: str, want: int = 1) -> list[dict]:
    """``akira calls list --json`` until it shows ``want`` answered calls (or 10 s pass)."""
    deadline = time.monotonic() + 10
    while True:
        done = akira(database_url, "calls", "list", "--json", *filters)
        assert done.returncode == 0, done.stderr
        calls = json.loads(done.stdout)["calls"]
        answered = [call for call in calls if call["state"] == "answered"]
        if len(answered) >= want or time.monotonic() > deadline:
            return answered
        time.sleep(0.2)


def vendor_got_bye(vendor) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if vendor.messages.exists() and "BYE sip:" in vendor.messages.read_text():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def ids(platform):
    ids = c.load(platform.conn)
    platform.publish()
    return ids


@pytest.fixture
def held(platform):
    calls: list[HeldCall] = []

    def hold(number: str = c.UK_FIXED) -> HeldCall:
        call = HeldCall(number, c.ACME_IP, platform.workdir)
        calls.append(call)
        return call

    yield hold
    for call in calls:
        call.stop()


def test_a_held_call_is_listed_then_dropped_from_the_cli(platform, ids, held, database_url):
    vendor = platform.vendor("cheap", c.PORTS["cheap"])
    call = held()
    (live,) = listed(database_url, "--customer", "acme", "--number", "4412345")
    assert (live["customer"], live["originator"], live["vendor"], live["terminator"]) == (
        "Acme",
        "acme",
        "Vendor cheap",
        "cheap",
    )
    assert (live["called"], live["caller"], live["node"]) == (c.UK_FIXED, "15550001", "e2e")
    assert live["duration"] >= 0 and live["answered_at"] >= live["started_at"]
    assert listed(database_url, "--vendor", "mid", want=0) == []
    assert listed(database_url, "--number", "999", want=0) == []
    assert listed(database_url, "--customer", str(live["customer_id"])) != []

    dropped = akira(database_url, "calls", "drop", live["id"], "--by", "nora")
    assert dropped.returncode == 0, dropped.stderr
    assert call.ended_by_bye(), call.process.stderr.read().decode()[-2000:]
    assert vendor_got_bye(vendor)
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["sip_code"], cdr["reason"], cdr["terminator_id"]) == (
        200,
        "operator-drop",
        ids["cheap"],
    )
    row = platform.conn.execute(
        "SELECT username, entity, entity_id, action, before ->> 'called' FROM audit_log"
    ).fetchall()
    assert row == [("nora", "live_call", live["id"], "drop", c.UK_FIXED)]
    assert listed(database_url, want=0) == []
    again = akira(database_url, "calls", "drop", live["id"])
    assert again.returncode == 1 and "no call" in again.stderr


def test_the_api_lists_and_drops_for_noc_only(platform, ids, held, database_url):
    vendor = platform.vendor("cheap", c.PORTS["cheap"])
    call = held()
    (live,) = listed(database_url)
    noc = tokens.create(
        platform.conn, create_user(platform.conn, "nina", "noc"), "t", role=None, days=1, by="t"
    )[0]
    operator = tokens.create(
        platform.conn,
        create_user(platform.conn, "olga", "operator"),
        "t",
        role=None,
        days=1,
        by="t",
    )[0]
    finance = tokens.create(
        platform.conn, create_user(platform.conn, "fred", "finance"), "t", role=None, days=1, by="t"
    )[0]
    platform.conn.commit()
    with TestClient(create_app(web_settings(database_url))) as client:
        assert client.get("/api/v1/calls", headers=bearer(finance)).status_code == 403
        listing = client.get("/api/v1/calls", params={"vendor": "cheap"}, headers=bearer(operator))
        assert listing.status_code == 200, listing.text
        assert [c["id"] for c in listing.json()["calls"]] == [live["id"]]
        assert listing.json()["unreachable"] == {}
        client.cookies.clear()
        assert log_in(client, "olga").status_code == 303
        page = client.get("/calls", params={"customer": "acme"})
        assert page.status_code == 200 and live["call_id"] in page.text
        assert "Drop</button>" not in page.text  # operators see, NOC drops
        client.cookies.clear()
        assert log_in(client, "nina").status_code == 303
        page = client.get("/calls", headers={"HX-Request": "true"})  # the refreshed part
        assert live["id"] in page.text and "Drop</button>" in page.text
        assert "<html" not in page.text
        client.cookies.clear()
        path = f"/api/v1/calls/{live['id']}/drop"
        refused = client.post(path, headers=bearer(operator))
        assert refused.status_code == 403 and "calls.drop" in refused.text
        assert call.process.poll() is None  # still up
        response = client.post(path, headers=bearer(noc))
        assert response.status_code == 200, response.text
        assert response.json()["call_id"] == live["call_id"]
        assert call.ended_by_bye()
        assert vendor_got_bye(vendor)
        gone = client.post(path, headers=bearer(noc))
        assert gone.status_code == 404, gone.text
        schema = client.get("/schema/openapi.json").json()["paths"]
        assert {"/api/v1/calls", "/api/v1/calls/{call_ref}/drop"} <= schema.keys()
    (cdr,) = platform.rate_cdrs(expected=1)
    assert cdr["reason"] == "operator-drop"
    assert platform.conn.execute(
        "SELECT username, action FROM audit_log WHERE entity = 'live_call'"
    ).fetchall() == [("nina", "drop")]


def test_a_node_with_more_calls_than_one_datagram_holds_lists_them_all(platform, ids):
    """Beyond LIST_LIMIT dialogs the table is read through dlg.dump_file (measured: 120 calls
    did not fit one dlg.list answer)."""
    from admin.live_calls import LIST_LIMIT, CallFilter, list_calls

    platform.vendor("cheap", c.PORTS["cheap"])
    calls = LIST_LIMIT + 35
    command = ["sipp", "-sf", str(SCENARIOS / "uac-answered.xml"), "-s", c.UK_FIXED]
    command += ["-i", c.ACME_IP, "-p", str(free_udp_port(c.ACME_IP)), "-m", str(calls)]
    command += ["-l", str(calls), "-r", "50", "-d", "6000", "-timeout", "40s", "-nostdin", PROXY]
    load = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            found = list_calls(platform.conn, platform.redis, CallFilter(vendor="cheap"))
            answered = [call for call in found.calls if call.state == "answered"]
            if len(answered) == calls or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert found.unreachable == {}
        assert len(answered) == calls
        assert len({call.call_id for call in answered}) == calls
        assert load.wait(timeout=40) == 0
    finally:
        if load.poll() is None:
            load.kill()
    assert not list(platform.kamailio.run_dir.glob("akira-dialogs-*"))  # the dumps are gone
    platform.rate_cdrs(expected=calls)


def test_a_call_not_answered_yet_is_listed_but_not_dropped(platform, ids, held):
    """Nobody listens on the vendors' ports: the call waits ~3 s on each (no reply: 408)."""
    from admin.live_calls import LiveCallError, drop, list_calls

    call = held()
    deadline = time.monotonic() + 3
    while not (found := list_calls(platform.conn, platform.redis).calls):
        assert time.monotonic() < deadline, "the call was never listed"
        time.sleep(0.1)
    (trying,) = found
    assert (trying.state, trying.answered_at, trying.duration) == ("trying", None, 0)
    with pytest.raises(LiveCallError, match="not answered") as refused:
        drop(platform.conn, platform.redis, trying.id, "nora")
    assert refused.value.unanswered
    assert platform.conn.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)
    call.process.wait(timeout=20)  # 503 all-vendors-failed in the end
    platform.rate_cdrs(expected=3)
