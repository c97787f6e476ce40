"""The tokens and sessions pages and their API: admins create (the text shown once), list and
revoke API tokens, and end a user's sessions; everyone else is refused; every change audited."""

from __future__ import annotations

import html
import re

import psycopg
import pytest
from litestar.testing import TestClient

from tests.integration.web_conftest import bearer, create_user, csrf_token, log_in

pytestmark = pytest.mark.integration

SHOWN_TOKEN = re.compile(r'<code class="secret">(akira_[0-9]+_[A-Za-z0-9_-]{43})</code>')


def audited(conn: psycopg.Connection, entity: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT action, username FROM audit_log WHERE entity = %s ORDER BY id", (entity,)
    )
    return [tuple(row) for row in rows]


def wearing(client: TestClient, cookies: list) -> list:
    """Swap the client's cookies (another browser's, or none: a script); the ones it had."""
    kept = list(client.cookies.jar)
    client.cookies.clear()
    for cookie in cookies:
        client.cookies.jar.set_cookie(cookie)
    return kept


@pytest.fixture
def admin_client(web_client: TestClient, conn: psycopg.Connection) -> TestClient:
    create_user(conn, "ada", role="admin")
    assert log_in(web_client, "ada").status_code == 303
    return web_client


def test_an_admin_makes_a_token_on_the_page_uses_it_and_revokes_it(admin_client, conn):
    create_user(conn, "otto", role="operator")
    fields = {"username": "otto", "name": "billing sync", "role": "read-only", "days": "30"}
    token = {"_csrf_token": csrf_token(admin_client, "/tokens")}
    made = admin_client.post("/tokens", data={**token, **fields})
    assert made.status_code == 201
    text = SHOWN_TOKEN.search(made.text).group(1)
    assert admin_client.get("/tokens").text.count(text) == 0  # shown once, never again
    admin = wearing(admin_client, [])  # a script: the token alone
    assert admin_client.get("/api/v1/companies", headers=bearer(text)).status_code == 200
    refused = admin_client.post("/api/v1/companies", json={"name": "x"}, headers=bearer(text))
    assert refused.status_code == 403  # a read-only token of an operator
    wearing(admin_client, admin)
    token_id = int(text.split("_")[1])
    page = admin_client.get("/tokens").text
    assert "billing sync" in html.unescape(page) and "read-only" in page
    revoked = admin_client.post(f"/tokens/{token_id}/revoke", data=token, follow_redirects=False)
    assert revoked.status_code == 303
    admin = wearing(admin_client, [])
    assert admin_client.get("/api/v1/companies", headers=bearer(text)).status_code == 401
    wearing(admin_client, admin)
    again = admin_client.post(f"/tokens/{token_id}/revoke", data=token)
    assert again.status_code == 404
    assert audited(conn, "api_token") == [("create", "ada"), ("revoke", "ada")]


def test_a_refused_token_form_says_why_and_keeps_the_input(admin_client, conn):
    create_user(conn, "rita", role="read-only")
    token = {"_csrf_token": csrf_token(admin_client, "/tokens")}
    above = {"username": "rita", "name": "too much", "role": "admin", "days": "30"}
    refused = admin_client.post("/tokens", data={**token, **above})
    assert refused.status_code == 400
    assert "cannot have the role admin" in html.unescape(refused.text)
    assert 'value="too much"' in refused.text
    forever = {**above, "role": "", "days": "10000"}
    assert admin_client.post("/tokens", data={**token, **forever}).status_code == 400
    assert conn.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0


def test_the_token_api_creates_lists_and_revokes(admin_client, conn):
    header = {"x-csrftoken": csrf_token(admin_client, "/")}
    made = admin_client.post(
        "/api/v1/tokens", json={"username": "ada", "name": "ci", "days": 7}, headers=header
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["token"].startswith(f"akira_{body['id']}_") and body["role"] == "admin"
    listed = admin_client.get("/api/v1/tokens").json()
    assert [(t["name"], t["state"]) for t in listed] == [("ci", "active")]
    assert all("secret" not in key for t in listed for key in t)
    revoked = admin_client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=header)
    assert revoked.status_code == 200
    assert admin_client.get("/api/v1/tokens").json()[0]["state"] == "revoked"
    missing = admin_client.post("/api/v1/tokens/999999/revoke", headers=header)
    assert missing.status_code == 404


def test_an_admin_ends_a_users_sessions_and_they_must_log_in_again(admin_client, conn):
    create_user(conn, "nora", role="noc")
    admin = wearing(admin_client, [])  # nora's browser
    assert log_in(admin_client, "nora").status_code == 303
    assert admin_client.get("/", follow_redirects=False).status_code == 200
    nora = wearing(admin_client, admin)
    page = admin_client.get("/sessions")
    assert page.status_code == 200 and "nora" in page.text
    user_id = conn.execute("SELECT id FROM users WHERE username = 'nora'").fetchone()[0]
    token = {"_csrf_token": csrf_token(admin_client, "/sessions")}
    ended = admin_client.post(f"/users/{user_id}/logout", data=token, follow_redirects=False)
    assert ended.status_code == 303
    admin = wearing(admin_client, nora)
    assert admin_client.get("/", follow_redirects=False).status_code in (302, 303)  # to /login
    wearing(admin_client, admin)
    assert "nora" not in admin_client.get("/sessions").text
    assert ("logout", "ada") in audited(conn, "user")
    header = {"x-csrftoken": csrf_token(admin_client, "/")}
    api = admin_client.post(f"/api/v1/users/{user_id}/logout", headers=header)
    assert api.status_code == 200 and api.json() == {"sessions_ended": 0}
    assert admin_client.post("/api/v1/users/999999/logout", headers=header).status_code == 404


@pytest.mark.parametrize("role", ["operator", "noc", "finance", "read-only"])
def test_only_admins_see_or_change_tokens_and_sessions(web_client, conn, role):
    create_user(conn, "eve", role=role)
    assert log_in(web_client, "eve").status_code == 303
    for path in ("/tokens", "/sessions", "/api/v1/tokens", "/api/v1/sessions"):
        assert web_client.get(path).status_code == 403, path
    form = {"_csrf_token": csrf_token(web_client, "/"), "username": "eve", "name": "mine"}
    assert web_client.post("/tokens", data=form).status_code == 403
    header = {"x-csrftoken": form["_csrf_token"]}
    made = web_client.post("/api/v1/tokens", json={"username": "eve", "name": "x"}, headers=header)
    assert made.status_code == 403
    assert web_client.post("/api/v1/users/1/logout", headers=header).status_code == 403
    assert conn.execute("SELECT count(*) FROM api_tokens").fetchone()[0] == 0
