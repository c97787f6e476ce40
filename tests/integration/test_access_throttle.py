"""Login throttling: per username and per source address, 429 with Retry-After, no user oracle."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
import pytest
from litestar.testing import TestClient

from admin.web import throttle
from tests.integration.web_conftest import log_in

pytestmark = pytest.mark.integration

ADDRESS = "testclient"  # what Litestar's TestClient reports as the peer


@pytest.fixture
def throttle_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # Litestar's logging set-up replaces the root logger's handlers: listen to the module's own.
    logger = logging.getLogger("admin.web.throttle")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def fail(client: TestClient, username: str, times: int) -> None:
    for _ in range(times):
        assert log_in(client, username, password="wrong guess").status_code == 400


def test_five_failures_throttle_the_username_even_with_the_right_password(
    web_client: TestClient, operator: str, throttle_log: pytest.LogCaptureFixture
) -> None:
    fail(web_client, operator, throttle.FAILURES_PER_USER)
    refused = log_in(web_client, operator)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= throttle.WINDOW_SECONDS
    assert '<form class="login" method="post" action="/login">' in refused.text
    assert "Too many failed logins. Try again in 15 min." in refused.text
    assert "akira_session" not in refused.cookies
    assert "login failed for username 'olga' from testclient" in throttle_log.text
    assert "login throttled for username 'olga' from testclient" in throttle_log.text
    assert log_in(web_client, "somebody-else").status_code == 400  # others still try


def test_a_throttled_answer_does_not_tell_who_exists(web_client: TestClient, operator: str) -> None:
    answers = []
    for username in (operator, "nobody"):
        fail(web_client, username, throttle.FAILURES_PER_USER)
        answer = log_in(web_client, username)
        answers.append((answer.status_code, answer.text.replace(username, "NAME")))
    assert answers[0][0] == 429
    assert answers[0] == answers[1]


def test_twenty_failures_throttle_the_address_whatever_the_username(
    web_client: TestClient, operator: str
) -> None:
    for n in range(throttle.FAILURES_PER_ADDRESS):
        fail(web_client, f"guess-{n}", 1)
    assert log_in(web_client, operator).status_code == 429


def test_failures_leave_the_window_and_a_right_password_forgives_its_user(
    web_client: TestClient, operator: str, conn: psycopg.Connection
) -> None:
    conn.execute(
        "INSERT INTO login_failures (at, username, address) "
        "SELECT now() - interval '14 minutes', 'olga', %s FROM generate_series(1, 4)",
        (ADDRESS,),
    )
    conn.execute(
        "INSERT INTO login_failures (at, username, address) "
        "SELECT now() - interval '16 minutes', 'olga', %s FROM generate_series(1, 50)",
        (ADDRESS,),
    )  # out of the window: not counted, neither for the user nor the address
    conn.commit()
    fail(web_client, operator, 1)
    refused = log_in(web_client, operator)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) <= 60  # the oldest counted leaves in a minute
    conn.execute("UPDATE login_failures SET at = at - interval '2 minutes'")
    conn.commit()
    assert log_in(web_client, operator).status_code == 303
    fail(web_client, operator, throttle.FAILURES_PER_USER - 1)  # forgiven: a fresh count
    assert log_in(web_client, operator).status_code == 303
