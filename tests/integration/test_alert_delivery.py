"""The outbox delivered to a real HTTP receiver (a local server in a thread): oldest first,
signed, marked delivered only on 2xx; a failing receiver keeps every alert for the next pass;
two deliverers at once send each alert once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from admin import alert_delivery, ledger
from tests.integration.test_ledger import acme  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration
SECRET = "s3cret"


class Receiver:
    """Records each POST; answers ``status`` (settable)."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict, dict]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((dict(self.headers), json.loads(body)))
                receiver.bodies.append(body)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.bodies: list[bytes] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def crossings(conn, company: int, times: int) -> None:
    """``times`` low-balance alerts: threshold 10, down to 5 and back to 15, repeatedly."""
    with conn.transaction():
        ledger.set_billing(conn, company, billing=None, credit_limit=None, username="t",
                           low_balance="10")  # fmt: skip
        ledger.post(conn, company, "topup", "15", note="", username="t")
    for _ in range(times):
        with conn.transaction():
            ledger.post(conn, company, "adjustment", "-10", note="usage", username="t")
            ledger.post(conn, company, "topup", "10", note="", username="t")


def test_alerts_are_posted_oldest_first_signed_and_marked(conn, acme, receiver):  # noqa: F811
    crossings(conn, acme["company"], 3)
    waiting = ledger.undelivered_alerts(conn)
    assert len(waiting) == 3
    result = alert_delivery.deliver(conn, receiver.url, SECRET)
    assert (result.delivered, result.error) == (3, None)
    assert [body for _, body in receiver.posts] == waiting  # the same JSON as `akira alerts`
    for (headers, body), raw in zip(receiver.posts, receiver.bodies, strict=True):
        assert headers["X-Akira-Alert-Id"] == str(body["id"])
        assert headers["X-Akira-Signature"] == alert_delivery.sign(SECRET, raw)
    assert ledger.undelivered_alerts(conn) == []
    assert alert_delivery.deliver(conn, receiver.url, SECRET).delivered == 0  # none twice
    assert len(receiver.posts) == 3


def test_a_failing_receiver_keeps_the_alerts(conn, acme, receiver):  # noqa: F811
    crossings(conn, acme["company"], 2)
    receiver.status = 503
    result = alert_delivery.deliver(conn, receiver.url)
    assert result.delivered == 0 and "answered 503" in result.error
    assert len(receiver.posts) == 1  # stopped at the first: order holds
    assert len(ledger.undelivered_alerts(conn)) == 2
    dead = alert_delivery.deliver(conn, "http://127.0.0.1:9/hook")  # nobody listens
    assert dead.delivered == 0 and "did not answer" in dead.error
    receiver.status = 204
    assert alert_delivery.deliver(conn, receiver.url).delivered == 2
    assert ledger.undelivered_alerts(conn) == []


def test_two_deliverers_send_each_alert_once(conn, acme, receiver, database_url):  # noqa: F811
    crossings(conn, acme["company"], 4)
    with psycopg.connect(database_url, autocommit=True) as other, other.transaction():
        held = ledger.claim_alerts(other, limit=2)  # another deliverer holds the oldest two
        assert alert_delivery.deliver(conn, receiver.url).delivered == 2
        ledger.mark_delivered(other, [alert["id"] for alert in held])
    sent = [body["id"] for _, body in receiver.posts]
    assert len(sent) == 2 and set(sent).isdisjoint(alert["id"] for alert in held)
    assert ledger.undelivered_alerts(conn) == []


def test_the_cli_delivers_once_and_says_how_to_configure(database_url, acme, conn, receiver):  # noqa: F811
    def akira(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "admin.cli", "alerts", *args],
            env=os.environ | {"AKIRA_DATABASE_URL": database_url} | env,
            capture_output=True,
            text=True,
            check=False,
        )

    unset = akira("--deliver", "--once", AKIRA_ALERT_WEBHOOK_URL="")
    assert unset.returncode == 2 and "set AKIRA_ALERT_WEBHOOK_URL" in unset.stderr
    crossings(conn, acme["company"], 1)
    done = akira("--deliver", "--once", AKIRA_ALERT_WEBHOOK_URL=receiver.url)
    assert done.returncode == 0, done.stderr
    assert "1 alert(s) delivered" in done.stderr and len(receiver.posts) == 1
