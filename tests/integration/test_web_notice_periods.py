"""A customer's notice periods on its company page and in the API: shown, set (audited, the
same service as ``akira notices set``), refused with why, and only for writers."""

from __future__ import annotations

import psycopg
import pytest
from litestar.testing import TestClient

from tests.integration.test_web_crud import api_headers, submit
from tests.integration.web_conftest import create_user, log_in

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("demo_catalog")]


def stored(conn: psycopg.Connection, company: int):
    return conn.execute(
        "SELECT increase_days, closure_days, decrease_days, new_days"
        " FROM company_notice_periods WHERE company_id = %s",
        (company,),
    ).fetchone()


def customer(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT min(id) FROM companies WHERE is_customer").fetchone()[0]


def test_the_company_page_sets_the_notice_periods_and_audits_it(logged_in, conn):
    acme = customer(conn)
    page = logged_in.get(f"/companies/{acme}").text
    assert "Notice periods" in page and "None set: no notice is owed" in page
    assert 'name="increase_days"' in page and 'value="7"' in page  # the defaults offered
    saved = submit(
        logged_in,
        f"/companies/{acme}/notice-period",
        page=f"/companies/{acme}",
        increase_days="14",
        closure_days="30",
        decrease_days="0",
        new_days="1",
    )
    assert (saved.status_code, saved.headers["location"]) == (303, f"/companies/{acme}")
    assert stored(conn, acme) == (14, 30, 0, 1)
    page = logged_in.get(f"/companies/{acme}").text
    assert 'value="14"' in page and 'value="30"' in page  # the form shows what is stored
    audit = conn.execute(
        "SELECT username, after->>'increase_days' FROM audit_log"
        " WHERE entity = 'company' AND entity_id = %s AND action = 'set_notice_period'",
        (str(acme),),
    ).fetchall()
    assert audit == [("olga", "14")]


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("366", "increase days: 366 must be from 0 to 365"),
        ("-1", "increase days: '-1' must be a whole number from 0 to 365"),
        ("7\x00", "increase days: '7\\x00' must be a whole number from 0 to 365"),
    ],
)
def test_a_refused_period_says_why_keeps_the_input_and_writes_nothing(logged_in, conn, given, says):
    acme = customer(conn)
    refused = submit(
        logged_in,
        f"/companies/{acme}/notice-period",
        page=f"/companies/{acme}",
        increase_days=given,
        closure_days="7",
        decrease_days="0",
        new_days="0",
    )
    assert refused.status_code == 400
    assert says.replace("'", "&#39;") in refused.text
    assert stored(conn, acme) is None


def test_the_api_reads_and_sets_a_notice_period(logged_in, conn):
    acme = customer(conn)
    url = f"/api/v1/companies/{acme}/notice-period"
    before = logged_in.get(url).json()
    assert before["set"] is False and before["increase_days"] == 0
    changed = logged_in.put(url, json={"increase_days": 10}, headers=api_headers(logged_in))
    assert changed.status_code == 200, changed.text
    assert changed.json() | {"company": ""} == {
        "company_id": acme,
        "company": "",
        "increase_days": 10,
        "closure_days": 7,  # the default, as `akira notices set` stores it
        "decrease_days": 0,
        "new_days": 0,
        "set": True,
    }
    kept = logged_in.put(url, json={"new_days": 2}, headers=api_headers(logged_in)).json()
    assert (kept["increase_days"], kept["new_days"]) == (10, 2)  # a kind left out is kept
    refused = logged_in.put(url, json={"closure_days": 400}, headers=api_headers(logged_in))
    assert refused.status_code == 400 and "365" in refused.text
    missing = logged_in.get("/api/v1/companies/999999/notice-period")
    assert missing.status_code == 404


def test_only_writers_set_notice_periods(web_client: TestClient, conn):
    acme = customer(conn)
    create_user(conn, "ro", role="read-only")
    assert log_in(web_client, "ro").status_code == 303
    page = web_client.get(f"/companies/{acme}").text
    assert "Save notice periods" not in page
    refused = submit(
        web_client, f"/companies/{acme}/notice-period", page=f"/companies/{acme}",
        increase_days="1", closure_days="1", decrease_days="0", new_days="0",
    )  # fmt: skip
    assert refused.status_code == 403
    api = web_client.put(
        f"/api/v1/companies/{acme}/notice-period",
        json={"increase_days": 1},
        headers=api_headers(web_client),
    )
    assert api.status_code == 403
    assert stored(conn, acme) is None
