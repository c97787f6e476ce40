"""Helpers of the admin web tests: plain functions and constants the test modules import.

The fixtures built on them are in tests/integration/conftest.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import psycopg
from litestar.testing import TestClient

from admin.passwords import hash_password
from admin.settings import Settings
from tests.conftest import REDIS_URL

PASSWORD = "correct horse battery"
# a user as a fixture, without the users service's audit row (tests count audit rows)
INSERT_USER = """
INSERT INTO users (username, password_hash, role)
VALUES (%(username)s, %(password_hash)s, %(role)s)
ON CONFLICT (username) DO UPDATE
SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, enabled = true
RETURNING id
"""
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
DEAD_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/akira"
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def web_settings(database_url: str, redis_url: str = REDIS_URL, secret_key: str = "t") -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        bus="redis",
        nats_url="nats://127.0.0.1:4222",
        secret_key=secret_key,
        spool_dir="/tmp/akira-test-spool",
        snapshot_dir="/tmp/akira-test-snapshot",
        auth_realm="akira",
        http_host="127.0.0.1",
        http_port=8000,
        secure_cookies=False,  # the TestClient speaks plain http
    )


def csrf_token(client: TestClient, path: str = "/login") -> str:
    """The token a page's forms carry, read from the page as a browser would."""
    match = _CSRF_INPUT.search(client.get(path).text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


def log_in(
    client: TestClient, username: str, password: str = PASSWORD, **fields: str
) -> httpx.Response:
    form = {"username": username, "password": password, "_csrf_token": csrf_token(client)}
    return client.post("/login", data={**form, **fields}, follow_redirects=False)


def create_user(conn: psycopg.Connection, username: str, role: str = "operator") -> str:
    conn.execute(
        INSERT_USER,
        {"username": username, "password_hash": hash_password(PASSWORD), "role": role},
    )
    conn.commit()
    return username


def akira(database_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real ``akira`` command against this test's database."""
    return subprocess.run(
        [sys.executable, "-m", "admin.cli", *args],
        env=os.environ | {"AKIRA_DATABASE_URL": database_url, "USER": "root-cli"},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def new_token(database_url: str, username: str, *options: str) -> str:
    """An API token made by ``akira tokens create`` (the only place it is ever shown)."""
    made = akira(database_url, "tokens", "create", username, "--name", "test", *options)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
