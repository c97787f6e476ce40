"""Delivery of the notification outbox to a webhook (docs/money.md "Alerts").

Each alert is POSTed as JSON, oldest first, with ``X-Akira-Alert-Id`` (receivers drop a
repeat: delivery is at least once) and, when a secret is set, ``X-Akira-Signature:
sha256=<hex HMAC of the body>``. A 2xx marks it delivered in the transaction that claimed it;
anything else stops the pass with the alert kept, so order holds and nothing is lost. E-mail
or Telegram are reached through a webhook receiver of the operator's choice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import psycopg

from admin import ledger

TIMEOUT = 5.0  # seconds per POST: a slow receiver must not hold the claimed rows for long


@dataclass(frozen=True, slots=True)
class Pass:
    delivered: int
    error: str | None = None  # why the pass stopped early (the alert stays undelivered)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(conn: psycopg.Connection, url: str, secret: str = "", limit: int = 100) -> Pass:
    """One pass over the outbox, in a transaction of its own (claim, POST, mark)."""
    delivered: list[int] = []
    error = None
    with conn.transaction(), httpx.Client(timeout=TIMEOUT) as client:
        for alert in ledger.claim_alerts(conn, limit):
            body = json.dumps(alert).encode()
            headers = {"Content-Type": "application/json", "X-Akira-Alert-Id": str(alert["id"])}
            if secret:
                headers["X-Akira-Signature"] = sign(secret, body)
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                error = f"alert {alert['id']}: {url} did not answer: {exc!r}"
                break
            if not response.is_success:
                error = f"alert {alert['id']}: {url} answered {response.status_code}"
                break
            delivered.append(alert["id"])
        if delivered:
            ledger.mark_delivered(conn, delivered)
    return Pass(len(delivered), error)


def run_forever(
    connect: Callable[[], psycopg.Connection],
    url: str,
    secret: str,
    log: Callable[[str], None],
    every: float = 5.0,
) -> None:
    """Deliver every few seconds; a dead PostgreSQL or receiver is waited out, never fatal."""
    conn = None
    while True:
        try:
            conn = conn or connect()
            result = deliver(conn, url, secret)
            if result.delivered:
                log(f"delivered {result.delivered} alert(s) to {url}")
            if result.error:
                log(f"alert delivery waits: {result.error}")
        except psycopg.Error as exc:
            log(f"alert delivery waits: PostgreSQL: {exc!r}")
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(every)
