"""The routing commands that are not entity services still write one audit row each: plan
and trunk settings, overrides, blocked prefixes, device credentials (never the HA1)."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.web_conftest import akira

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("demo_catalog")]


def audit_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT username, entity, action, before, after FROM audit_log ORDER BY id"
    ).fetchall()


def test_each_routing_command_writes_its_audit_row(database_url, conn):
    plan = "Default LCR"
    steps = [
        ("plan", "set", plan, "max_attempts=3", "--by", "bob"),
        ("plan", "override", plan, "4477", "alpha", "--by", "bob"),
        ("block", "4478", "--reason", "fraud", "--by", "bob"),
        ("block", "4478", "--remove", "--by", "bob"),
    ]
    for step in steps:
        done = akira(database_url, *step)
        assert done.returncode == 0, done.stderr
    done = akira(
        database_url, "device", "credentials", "acme", "pbx1", "--network", "192.0.2.7/32",
        "--password-stdin", "--by", "bob", stdin="a long secret\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = audit_rows(conn)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("bob", "routing_plan", "update"),
        ("bob", "routing_plan", "override"),
        ("bob", "blocked_prefix", "block"),
        ("bob", "blocked_prefix", "unblock"),
        ("bob", "originator", "credentials"),
    ]
    assert rows[0][3:] == ({"max_attempts": 10}, {"max_attempts": 3})
    assert rows[1][4]["prefix"] == "4477" and len(rows[1][4]["terminator_ids"]) == 1
    assert rows[2][4] == {"plan_id": None, "prefix": "4478", "reason": "fraud"}
    assert rows[4][4] == {"username": "pbx1", "network": "192.0.2.7/32"}  # no HA1, no password
    unchanged = akira(database_url, "plan", "set", plan, "max_attempts=3", "--by", "bob")
    assert unchanged.returncode == 0 and len(audit_rows(conn)) == 5  # nothing changed: no row
