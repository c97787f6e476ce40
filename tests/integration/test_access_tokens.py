"""API tokens: `akira tokens create|list|revoke`, and `Authorization: Bearer` on /api/v1."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from litestar.testing import TestClient

from admin.web.auth import TOKEN_REFUSED
from tests.integration.web_conftest import akira, bearer, create_user, csrf_token, new_token

pytestmark = pytest.mark.integration

TOKEN = re.compile(r"^akira_([0-9]+)_([A-Za-z0-9_-]{43})$")


@pytest.fixture
def company(conn: psycopg.Connection, demo_catalog: None) -> int:
    return conn.execute("SELECT id FROM companies WHERE name = 'Acme Telecom'").fetchone()[0]


def test_cli_creates_lists_and_revokes_tokens_with_audit_rows(
    database_url: str, operator: str, conn: psycopg.Connection
) -> None:
    for action in ("create", "list", "revoke"):
        assert akira(database_url, "tokens", action, "--help").returncode == 0
    made = akira(database_url, "tokens", "create", operator, "--name", "billing-sync")
    assert made.returncode == 0, made.stderr
    assert "shown only now" in made.stderr
    token_id, secret = TOKEN.match(made.stdout.strip()).groups()
    row = conn.execute(
        "SELECT name, role, secret_sha256, expires_at, revoked_at FROM api_tokens WHERE id = %s",
        (int(token_id),),
    ).fetchone()
    assert row[:2] == ("billing-sync", "operator")  # the owner's role by default
    assert bytes(row[2]) == hashlib.sha256(secret.encode()).digest()  # the secret itself: nowhere
    assert abs(row[3] - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=1)
    listed = akira(database_url, "tokens", "list").stdout
    assert re.search(rf"^{token_id}\s+billing-sync\s+olga\s+operator\s+active ", listed, re.M)
    assert secret not in listed
    revoked = akira(database_url, "tokens", "revoke", token_id, "--by", "root")
    assert revoked.returncode == 0, revoked.stderr
    assert re.search(rf"^{token_id}\s+billing-sync\s+olga\s+operator\s+revoked ",
                     akira(database_url, "tokens", "list").stdout, re.M)  # fmt: skip
    again = akira(database_url, "tokens", "revoke", token_id)
    assert again.returncode == 1 and "no live token" in again.stderr
    audit = conn.execute(
        "SELECT username, action, entity_id, coalesce(after, before)->>'name' FROM audit_log "
        "WHERE entity = 'api_token' ORDER BY id"
    ).fetchall()
    assert audit == [
        ("root-cli", "create", token_id, "billing-sync"),
        ("root", "revoke", token_id, "billing-sync"),
    ]
    assert secret not in str(conn.execute("SELECT array_agg(after) FROM audit_log").fetchone())


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        (["--role", "admin"], "cannot have the role admin"),
        (["--role", "finance"], "cannot have the role finance"),  # not above, nor beside
        (["--days", "0"], "--days must be from 1 to 366"),
        (["--days", "400"], "--days must be from 1 to 366"),
    ],
)
def test_a_token_is_never_above_its_owner_and_always_expires(
    database_url: str, operator: str, options: list[str], refusal: str
) -> None:
    refused = akira(database_url, "tokens", "create", operator, "--name", "x", *options)
    assert refused.returncode == 1
    assert refusal in refused.stderr


def test_tokens_are_for_enabled_users_only(database_url: str, conn: psycopg.Connection) -> None:
    assert (
        "no enabled user 'nobody'"
        in akira(database_url, "tokens", "create", "nobody", "--name", "x").stderr
    )
    create_user(conn, "gone")
    conn.execute("UPDATE users SET enabled = false WHERE username = 'gone'")
    conn.commit()
    assert akira(database_url, "tokens", "create", "gone", "--name", "x").returncode == 1


def test_a_token_authenticates_the_api_and_needs_no_csrf(
    web_client: TestClient, database_url: str, conn: psycopg.Connection, company: int
) -> None:
    create_user(conn, "fiona", role="finance")
    token = new_token(database_url, "fiona")
    assert web_client.get("/api/v1/tariffs", headers=bearer(token)).json()["total"] == 5
    posted = web_client.post(
        f"/api/v1/accounts/{company}/entries",
        json={"kind": "topup", "amount": "5"},
        headers=bearer(token),
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["balance"] == "5.00000000"
    entry_by = conn.execute("SELECT created_by FROM ledger_entries").fetchone()
    assert entry_by == ("fiona",)
    assert conn.execute("SELECT last_used_at FROM api_tokens").fetchone()[0] is not None
    assert "akira_session" not in web_client.cookies  # a token request opens no session


def test_a_read_only_token_of_an_admin_reads_only(
    web_client: TestClient, database_url: str, conn: psycopg.Connection, company: int
) -> None:
    create_user(conn, "ada", role="admin")
    token = new_token(database_url, "ada", "--role", "read-only")
    assert web_client.get(f"/api/v1/accounts/{company}", headers=bearer(token)).status_code == 200
    refused = web_client.post(
        f"/api/v1/accounts/{company}/entries",
        json={"kind": "topup", "amount": "5"},
        headers=bearer(token),
    )
    assert refused.status_code == 403
    assert "not allowed for the role read-only" in refused.json()["detail"]


def test_a_token_does_no_more_than_its_owner_may_now(
    web_client: TestClient, database_url: str, conn: psycopg.Connection, company: int
) -> None:
    create_user(conn, "fiona", role="finance")
    token = new_token(database_url, "fiona")
    conn.execute("UPDATE users SET role = 'read-only' WHERE username = 'fiona'")
    conn.commit()
    refused = web_client.post(
        f"/api/v1/accounts/{company}/entries",
        json={"kind": "topup", "amount": "5"},
        headers=bearer(token),
    )
    assert refused.status_code == 403


def _break(conn: psycopg.Connection, token: str, how: str) -> str:
    token_id = int(TOKEN.match(token).group(1))
    statements = {
        "expired": "UPDATE api_tokens SET created_at = now() - interval '2 days', "
        "expires_at = now() - interval '1 day' WHERE id = %s",
        "revoked": "UPDATE api_tokens SET revoked_at = now() WHERE id = %s",
        "owner disabled": "UPDATE users SET enabled = false WHERE id = "
        "(SELECT user_id FROM api_tokens WHERE id = %s)",
        "owner deleted": "DELETE FROM users WHERE id = "
        "(SELECT user_id FROM api_tokens WHERE id = %s)",
    }
    if how in statements:
        conn.execute(statements[how], (token_id,))
        conn.commit()
        return token
    secret = token.rsplit("_", 1)[1]
    return {
        "wrong secret": f"akira_{token_id}_{'A' * 43}",
        "unknown id": f"akira_{token_id + 1000}_{secret}",
        "id out of range": f"akira_{'9' * 30}_{secret}",
        "truncated": token[:-1],
        "garbage": "not-a-token",
        "empty": "",
    }[how]


@pytest.mark.parametrize(
    "how",
    [
        "expired",
        "revoked",
        "owner disabled",
        "owner deleted",
        "wrong secret",
        "unknown id",
        "id out of range",
        "truncated",
        "garbage",
        "empty",
    ],
)
def test_a_bad_token_gets_401_json_never_500(
    web_client: TestClient, database_url: str, operator: str, conn: psycopg.Connection, how: str
) -> None:
    token = _break(conn, new_token(database_url, operator), how)
    for headers in (bearer(token), {"Authorization": f"Basic {token}"}):
        response = web_client.get("/api/v1/tariffs", headers=headers)
        assert response.status_code == 401, (how, response.text)
        assert response.json() == {"status_code": 401, "detail": TOKEN_REFUSED}
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_bad_token_is_refused_even_beside_a_good_session(
    logged_in: TestClient, database_url: str, operator: str
) -> None:
    token = new_token(database_url, operator)
    headers = bearer(token[:-1] + ("B" if token[-1] != "B" else "C"))
    assert logged_in.get("/api/v1/tariffs", headers=headers).status_code == 401
    assert logged_in.get("/api/v1/tariffs").status_code == 200


def test_a_request_with_the_session_cookie_still_needs_csrf(
    logged_in: TestClient, database_url: str, conn: psycopg.Connection, company: int
) -> None:
    """Else a page could forge a POST that rides the cookie and a made-up Authorization."""
    conn.execute("UPDATE users SET role = 'finance' WHERE username = 'olga'")
    conn.commit()
    token = new_token(database_url, "olga")
    entry = {"kind": "topup", "amount": "1"}
    url = f"/api/v1/accounts/{company}/entries"
    refused = logged_in.post(url, json=entry, headers=bearer(token))
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    with_csrf = {**bearer(token), "x-csrftoken": csrf_token(logged_in, "/")}
    assert logged_in.post(url, json=entry, headers=with_csrf).status_code == 201


def test_tokens_open_no_pages(web_client: TestClient, database_url: str, operator: str) -> None:
    token = new_token(database_url, operator)
    response = web_client.get("/tariffs", headers=bearer(token), follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
