"""Login, logout, server-side sessions, the login guard and CSRF protection of the admin."""

from __future__ import annotations

import hashlib
import hmac

import psycopg
import pytest
from litestar.testing import TestClient

from admin.web import sessions
from admin.web.sessions import CSRF_COOKIE, SESSION_COOKIE
from tests.integration.web_conftest import PASSWORD, akira, create_user, csrf_token, log_in

pytestmark = pytest.mark.integration


def test_login_page_renders_a_form_with_a_csrf_token(web_client: TestClient) -> None:
    response = web_client.get("/login")
    assert response.status_code == 200
    assert '<form class="login" method="post" action="/login">' in response.text
    assert 'name="password" type="password"' in response.text
    assert len(csrf_token(web_client)) > 32
    assert CSRF_COOKIE in web_client.cookies


@pytest.mark.parametrize("username", ["olga", "nobody"])
def test_wrong_credentials_show_an_error_and_open_no_session(
    web_client: TestClient, operator: str, username: str
) -> None:
    response = log_in(web_client, username, password="not the password")
    assert response.status_code == 400
    assert "Wrong username or password." in response.text
    assert SESSION_COOKIE not in response.cookies
    assert web_client.get("/", follow_redirects=False).status_code == 303


def test_right_password_redirects_and_opens_the_pages(
    web_client: TestClient, operator: str, conn: psycopg.Connection
) -> None:
    response = log_in(web_client, operator)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert SESSION_COOKIE in response.cookies
    for path in ("/", "/originators", "/terminators", "/tariffs", "/api/v1/tariffs"):
        assert web_client.get(path, follow_redirects=False).status_code == 200, path
    dashboard = web_client.get("/")
    assert 'aria-current="page">Dashboard' in dashboard.text
    assert "olga" in dashboard.text
    last_login = conn.execute("SELECT last_login_at FROM users WHERE username = 'olga'").fetchone()
    assert last_login[0] is not None


def test_login_returns_to_the_page_asked_for_but_never_off_site(
    web_client: TestClient, operator: str
) -> None:
    assert log_in(web_client, operator, next="/tariffs?q=acme").headers["location"] == (
        "/tariffs?q=acme"
    )
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert log_in(web_client, operator, next=hostile).headers["location"] == "/", hostile


def test_unauthenticated_page_redirects_to_login_with_next(web_client: TestClient) -> None:
    response = web_client.get("/terminators?q=alpha", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fterminators%3Fq%3Dalpha"


def test_unauthenticated_api_gets_401_json(web_client: TestClient) -> None:
    response = web_client.get("/api/v1/originators", follow_redirects=False)
    assert response.status_code == 401
    assert response.json() == {"status_code": 401, "detail": "login required"}


def test_unauthenticated_htmx_request_is_sent_to_login_by_header(web_client: TestClient) -> None:
    headers = {"HX-Request": "true", "HX-Current-URL": "http://testserver.local/tariffs?page=2"}
    response = web_client.get("/tariffs", headers=headers, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=%2Ftariffs%3Fpage%3D2"


def test_post_without_csrf_token_is_refused(web_client: TestClient, operator: str) -> None:
    web_client.get("/login")  # the CSRF cookie alone must not be enough
    form = {"username": operator, "password": PASSWORD}
    response = web_client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.cookies
    forged = web_client.post(
        "/login", data={**form, "_csrf_token": "0" * 96}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_htmx_requests_carry_the_token_in_a_header(logged_in: TestClient) -> None:
    page = logged_in.get("/")
    token = csrf_token(logged_in, "/")
    assert f'hx-headers=\'{{"X-CSRFToken": "{token}"}}\'' in page.text
    refused = logged_in.post("/logout", follow_redirects=False)
    assert refused.status_code == 403
    accepted = logged_in.post("/logout", headers={"X-CSRFToken": token}, follow_redirects=False)
    assert accepted.status_code == 303


def test_logout_ends_the_session(logged_in: TestClient) -> None:
    token = csrf_token(logged_in, "/")
    response = logged_in.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert logged_in.get("/originators", follow_redirects=False).status_code == 303


def test_a_disabled_user_is_out_at_the_next_request(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    assert logged_in.get("/tariffs").status_code == 200
    conn.execute("UPDATE users SET enabled = false WHERE username = 'olga'")
    conn.commit()
    assert logged_in.get("/tariffs", follow_redirects=False).status_code == 303
    assert logged_in.get("/api/v1/tariffs").status_code == 401


def test_every_role_may_read(web_client: TestClient, conn: psycopg.Connection) -> None:
    for role in ("read-only", "noc", "finance", "operator", "admin"):
        username = create_user(conn, f"user-{role}", role=role)
        assert log_in(web_client, username).status_code == 303
        page = web_client.get("/tariffs")
        assert page.status_code == 200
        assert f'<span class="role">{role}</span>' in page.text


def _session_rows(conn: psycopg.Connection) -> list[tuple]:
    conn.commit()  # see the app's commits, not this connection's old snapshot
    return conn.execute(
        "SELECT u.username FROM web_sessions s LEFT JOIN users u ON u.id = s.user_id"
    ).fetchall()


def test_sessions_live_in_postgresql_keyed_by_a_digest_of_the_cookie(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    cookie = logged_in.cookies[SESSION_COOKIE]
    assert _session_rows(conn) == [("olga",)]
    stored = conn.execute("SELECT id_digest, data FROM web_sessions").fetchone()
    key = sessions.derive_keys("t").session  # web_settings' secret key
    assert bytes(stored[0]) == hmac.new(key, cookie.encode(), hashlib.sha256).digest()
    assert cookie.encode() not in bytes(stored[1])


def test_anonymous_visits_store_no_session(
    web_client: TestClient, conn: psycopg.Connection
) -> None:
    for path in ("/login", "/", "/tariffs", "/api/v1/tariffs", "/healthz"):
        web_client.get(path, follow_redirects=False)
    assert SESSION_COOKIE not in web_client.cookies
    assert _session_rows(conn) == []


def test_logout_deletes_the_session_so_its_cookie_opens_nothing(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    cookie = logged_in.cookies[SESSION_COOKIE]
    token = csrf_token(logged_in, "/")
    logged_in.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert _session_rows(conn) == []
    logged_in.cookies.set(SESSION_COOKIE, cookie)  # a copy kept by whoever stole it
    assert logged_in.get("/tariffs", follow_redirects=False).status_code == 303


def _opens(client: TestClient, cookie: str) -> bool:
    """Whether a browser holding only this session cookie gets a page."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    return client.get("/tariffs", follow_redirects=False).status_code == 200


def test_a_login_gets_a_new_session_id(web_client: TestClient, operator: str) -> None:
    """An id planted before the login (session fixation), or the previous one, is dead after."""
    web_client.cookies.set(SESSION_COOKIE, "planted-by-someone-else", domain="testserver.local")
    first = log_in(web_client, operator).cookies[SESSION_COOKIE]
    assert first != "planted-by-someone-else"
    second = log_in(web_client, operator).cookies[SESSION_COOKIE]
    assert second != first
    assert not _opens(web_client, first)
    assert _opens(web_client, second)


def test_akira_users_logout_and_disable_end_sessions_at_once(
    web_client: TestClient, operator: str, database_url: str, conn: psycopg.Connection
) -> None:
    browsers = []
    for _ in range(2):
        web_client.cookies.clear()
        assert log_in(web_client, operator).status_code == 303
        browsers.append(web_client.cookies[SESSION_COOKIE])
    ended = akira(database_url, "users", "logout", operator, "--by", "root")
    assert ended.returncode == 0, ended.stderr
    assert "2 session(s) ended" in ended.stdout
    assert not any(_opens(web_client, cookie) for cookie in browsers)
    web_client.cookies.clear()
    assert log_in(web_client, operator).status_code == 303  # logout is not a ban
    disabled = akira(database_url, "users", "disable", operator)
    assert disabled.returncode == 0, disabled.stderr
    assert web_client.get("/api/v1/tariffs").status_code == 401
    assert log_in(web_client, operator).status_code == 400
    audit = conn.execute(
        "SELECT username, action, after->>'sessions_ended', after->>'enabled' FROM audit_log "
        "WHERE entity = 'user' AND action IN ('logout', 'disable') ORDER BY id"
    ).fetchall()
    assert audit == [("root", "logout", "2", "true"), ("root-cli", "disable", "1", "false")]
    assert akira(database_url, "users", "disable", "nobody").returncode != 0


def test_users_create_takes_the_five_roles_and_no_other(
    database_url: str, conn: psycopg.Connection
) -> None:
    for role in ("admin", "operator", "noc", "finance", "read-only"):
        made = akira(
            database_url, "users", "create", f"u-{role}", "--role", role, "--password-stdin",
            stdin=f"{PASSWORD}\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    assert akira(database_url, "users", "create", "v", "--role", "viewer").returncode == 2
    roles = conn.execute("SELECT username, role FROM users ORDER BY username").fetchall()
    assert [role for _, role in roles] == ["admin", "finance", "noc", "operator", "read-only"]
    saved = conn.execute("SELECT count(*) FROM audit_log WHERE entity = 'user'").fetchone()[0]
    assert saved == 5


def test_a_database_outage_is_a_503_never_a_traceback(logged_in: TestClient) -> None:
    pool = logged_in.app.state.pool
    logged_in.blocking_portal.call(pool.close)
    page = logged_in.get("/tariffs", follow_redirects=False)
    assert page.status_code == 503
    assert "PostgreSQL does not answer" in page.text and "Traceback" not in page.text
    api = logged_in.get("/api/v1/tariffs")
    assert api.status_code == 503
    assert api.json()["detail"] == "PostgreSQL does not answer; try again in a moment"
