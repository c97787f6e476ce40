"""Fixtures of the admin web tests (tests/integration/test_web_*.py).

Each test builds the app with ``create_app`` on its own fresh database (``database_url``) and the
test Redis database, and talks to it through Litestar's TestClient: real PostgreSQL, real Redis,
real session and CSRF cookies, nothing mocked. Plain helpers are in web_conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from litestar.testing import TestClient
from redis import Redis

from admin import demo
from admin.web.app import create_app
from tests.integration.web_conftest import create_user, log_in, web_settings


@pytest.fixture
def web_client(database_url: str, redis_client: Redis) -> Iterator[TestClient]:
    """The app, started (lifespan run), not logged in."""
    with TestClient(create_app(web_settings(database_url))) as client:
        yield client


@pytest.fixture
def operator(conn: psycopg.Connection) -> str:
    return create_user(conn, "olga", role="operator")


@pytest.fixture
def logged_in(web_client: TestClient, operator: str) -> TestClient:
    response = log_in(web_client, operator)
    assert response.status_code == 303, response.text
    return web_client


@pytest.fixture
def demo_catalog(conn: psycopg.Connection) -> None:
    """Customers acme and globex, vendors alpha, bravo and charlie, and their five tariffs."""
    assert demo.load(conn)
    conn.commit()
