"""Login, logout, the login guard and CSRF protection of the admin web app."""

from __future__ import annotations

import psycopg
import pytest
from litestar.testing import TestClient

from admin.web.sessions import CSRF_COOKIE, SESSION_COOKIE
from tests.integration.web_conftest import PASSWORD, create_user, csrf_token, log_in

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
    for role in ("viewer", "operator", "admin"):
        username = create_user(conn, f"user-{role}", role=role)
        assert log_in(web_client, username).status_code == 303
        page = web_client.get("/tariffs")
        assert page.status_code == 200
        assert f'<span class="role">{role}</span>' in page.text
