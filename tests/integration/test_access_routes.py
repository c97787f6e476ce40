"""Every route of the app, enumerated: who may reach it, and the headers every answer carries.

The routes come from the app itself (``app.routes``), so a route added tomorrow is checked
tomorrow: anonymous requests are refused except on the public routes, every write route declares
its action, and every role that may not do it gets 403 — through a session for pages, through an
API token for the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from admin.cli import build_parser
from admin.settings import SQL_DIR
from admin.web import tokens
from admin.web.app import TEMPLATES_DIR, create_app
from admin.web.permissions import (
    ACTIONS,
    PERMISSION_OPT,
    PERMISSIONS,
    SAFE_METHODS,
    Role,
    action_for,
    actions_of,
)
from admin.web.security import CONTENT_SECURITY_POLICY
from tests.integration.web_conftest import bearer, create_user, csrf_token, log_in, web_settings

pytestmark = pytest.mark.integration

PUBLIC_PATHS = ("/login", "/healthz")
PUBLIC_PREFIXES = ("/static/", "/schema")
_PARAMETER = re.compile(r"\{(\w+):(\w+)\}")
_SAMPLE = {"int": "1", "path": "akira.css", "str": "x"}


@dataclass(frozen=True)
class Endpoint:
    path: str  # a concrete URL of the route
    method: str
    opt: dict

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def public(self) -> bool:
        return self.path in PUBLIC_PATHS or self.path.startswith(PUBLIC_PREFIXES)

    @property
    def action(self) -> str:
        return action_for(self.opt, self.method)


def endpoints(app: Litestar) -> Iterator[Endpoint]:
    """Every (route, method) of the app but the OPTIONS answers Litestar adds by itself."""
    for route in app.routes:
        assert isinstance(route, HTTPRoute), route  # no websockets, no mounted ASGI apps
        path = _PARAMETER.sub(lambda m: _SAMPLE[m.group(2)], route.path)
        for method, (handler, _) in route.route_handler_map.items():
            if method != "OPTIONS":
                yield Endpoint(path, method, dict(handler.opt))


APP = create_app(web_settings("postgresql://unused@127.0.0.1:1/unused"))  # never started
ENDPOINTS = sorted(endpoints(APP), key=lambda e: (e.path, e.method))
PRIVATE = [e for e in ENDPOINTS if not e.public]
WRITES = [e for e in PRIVATE if e.method not in SAFE_METHODS]


def _id(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


def test_the_enumeration_sees_the_app() -> None:
    seen = {_id(e) for e in ENDPOINTS}
    assert {"GET /", "POST /logout", "GET /api/v1/tariffs", "GET /static/akira.css"} <= seen
    assert "POST /api/v1/accounts/1/entries" in {_id(e) for e in WRITES}
    assert {e.path for e in ENDPOINTS if e.public} >= {"/login", "/healthz", "/schema/openapi.json"}


@pytest.mark.parametrize("endpoint", PRIVATE, ids=_id)
def test_anonymous_requests_are_refused(web_client: TestClient, endpoint: Endpoint) -> None:
    response = web_client.request(endpoint.method, endpoint.path, follow_redirects=False)
    if endpoint.api:
        assert response.status_code == 401, response.text
        assert response.json()["detail"] == "login required"
    else:
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/login?next=")


def test_the_public_routes_answer_without_login(web_client: TestClient) -> None:
    for path in ("/login", "/healthz", "/static/akira.css", "/schema/openapi.json"):
        assert web_client.get(path).status_code in (200, 503), path  # 503: a health verdict


@pytest.mark.parametrize("endpoint", WRITES, ids=_id)
def test_every_write_route_declares_its_action(endpoint: Endpoint) -> None:
    assert endpoint.opt.get(PERMISSION_OPT) in ACTIONS, (
        f"{_id(endpoint)} declares no action: add opt=needs(...) (admin/web/permissions.py)"
    )


@pytest.fixture
def role_users(conn: psycopg.Connection) -> dict[Role, str]:
    return {role: create_user(conn, f"user-{role}", role=role.value) for role in Role}


def _refused(client: TestClient, endpoint: Endpoint, headers: dict[str, str]) -> None:
    response = client.request(
        endpoint.method, endpoint.path, headers=headers, json={}, follow_redirects=False
    )
    assert response.status_code == 403, (_id(endpoint), response.status_code, response.text)
    assert f"{endpoint.action} is not allowed for the role" in response.text  # not the CSRF 403


def test_under_privileged_roles_get_403_on_every_write_route(
    web_client: TestClient, conn: psycopg.Connection, role_users: dict[Role, str]
) -> None:
    checked = 0
    for role, username in role_users.items():
        refused = [e for e in WRITES if role not in PERMISSIONS[e.action]]
        token = tokens.create(conn, username, "t", role=None, days=1, by="test")[0]
        web_client.cookies.clear()
        for endpoint in refused:
            if endpoint.api:  # the token alone, no session cookie
                _refused(web_client, endpoint, bearer(token))
        assert log_in(web_client, username).status_code == 303
        with_csrf = {"x-csrftoken": csrf_token(web_client, "/")}
        for endpoint in refused:  # pages and API through the session
            _refused(web_client, endpoint, with_csrf)
            checked += 1
    assert checked >= len(WRITES)  # each write route refused at least one role


def test_the_map_gives_each_role_its_job() -> None:
    assert actions_of(Role.ADMIN) == ACTIONS
    assert actions_of(Role.OPERATOR) == {
        "read",
        "catalog.write",
        "publish",
        "calls.view",
        "reports.view",
    }
    assert actions_of(Role.NOC) == {
        "read",
        "noc.test_call",
        "calls.view",
        "calls.drop",
        "reports.view",
    }
    assert actions_of(Role.FINANCE) == {"read", "accounts.post", "reports.view"}
    assert actions_of(Role.READ_ONLY) == {"read", "reports.view"}


def test_the_roles_are_the_database_and_the_cli_ones(conn: psycopg.Connection) -> None:
    definition = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contypid = 'akira_role'::regtype"
    ).fetchone()[0]
    assert set(re.findall(r"'([^']+)'::text", definition)) == {role.value for role in Role}
    users = build_parser()._subparsers._group_actions[0].choices["users"]
    role_option = next(a for a in users._actions if a.dest == "role")
    assert list(role_option.choices) == [role.value for role in Role]


def test_migration_0007_makes_viewers_read_only(template_database: str) -> None:
    from admin.migrate import migrations
    from tests.conftest import create_database, database_url_for, drop_database

    name = "akira_test_viewers"
    create_database(name)
    try:
        with psycopg.connect(database_url_for(name), autocommit=True) as db:
            for version, path in migrations():
                if version == "0007":
                    db.execute(
                        "INSERT INTO users (username, password_hash, role) "
                        "VALUES ('vera', 'x', 'viewer'), ('ada', 'x', 'admin')"
                    )
                db.execute(path.read_text())
            roles = db.execute("SELECT username, role FROM users ORDER BY 1").fetchall()
        assert roles == [("ada", "admin"), ("vera", "read-only")]
    finally:
        drop_database(name)


def test_security_headers_are_on_every_answer(logged_in: TestClient) -> None:
    for path in ("/", "/tariffs", "/api/v1/tariffs", "/login", "/no-such-page", "/healthz"):
        headers = logged_in.get(path, follow_redirects=False).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert headers["cache-control"] == "no-store", path
    assert "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    static = logged_in.get("/static/akira.css").headers
    assert static["x-content-type-options"] == "nosniff"
    assert static.get("cache-control") != "no-store"


def test_the_templates_need_no_inline_script_or_style() -> None:
    """What lets the Content-Security-Policy forbid inline code."""
    for template in TEMPLATES_DIR.glob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), template.name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:", html), template.name


def test_openapi_declares_the_security_schemes_and_refusals(web_client: TestClient) -> None:
    schema = web_client.get("/schema/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["apiToken"]["type"] == "http" and schemes["apiToken"]["scheme"] == "bearer"
    assert (schemes["sessionCookie"]["in"], schemes["sessionCookie"]["name"]) == (
        "cookie",
        "akira_session",
    )
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
    ]
    assert len(operations) >= 7
    for path, method, operation in operations:
        assert operation["security"] == [{"apiToken": []}, {"sessionCookie": []}], path
        assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_sql_names_no_viewer_role_any_more() -> None:
    assert "'viewer'" not in (SQL_DIR / "schema.sql").read_text()
