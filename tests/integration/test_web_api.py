"""The JSON API under /api/v1 and its OpenAPI schema."""

from __future__ import annotations

import psycopg
import pytest
from litestar.testing import TestClient

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("demo_catalog")]


def test_originators_api_lists_rows_as_json(logged_in: TestClient) -> None:
    body = logged_in.get("/api/v1/originators").json()
    assert body["total"] == 2
    assert (body["page"], body["per_page"]) == (1, 50)
    acme = body["items"][0]
    assert acme["name"] == "acme"
    assert acme["company"] == "Acme Telecom"
    assert acme["devices"] == ["127.0.0.2/32"]
    assert acme["routing_plan"] == "Default LCR"
    assert acme["enabled"] is True


def test_api_pages_searches_and_filters(logged_in: TestClient) -> None:
    page = logged_in.get("/api/v1/tariffs?per_page=2&page=3").json()
    assert page["total"] == 5
    assert [tariff["name"] for tariff in page["items"]] == ["Globex Voice USD"]
    found = logged_in.get("/api/v1/terminators?q=charlie&enabled=yes").json()
    assert [terminator["name"] for terminator in found["items"]] == ["charlie"]
    assert found["items"][0]["gateways"] == ["127.0.0.1:5083/udp"]
    refused = logged_in.get("/api/v1/terminators?enabled=maybe")
    assert refused.status_code == 400
    assert refused.json()["status_code"] == 400


def test_rates_api_gives_money_as_exact_decimal_text(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    tariff = conn.execute("SELECT id FROM tariffs WHERE name = 'Globex Voice USD'").fetchone()[0]
    body = logged_in.get(f"/api/v1/tariffs/{tariff}/rates?q=447").json()
    assert body["total"] == 1
    rate = body["items"][0]
    assert rate["prefix"] == "447"
    assert rate["rate"] == "0.02700000"
    assert rate["connect_fee"] == "0.00000000"
    assert (rate["initial_increment"], rate["next_increment"]) == (30, 6)
    assert rate["effective_from"] == "2000-01-01T00:00:00Z"
    assert logged_in.get("/api/v1/tariffs/999999/rates").status_code == 404


WRITABLE = (
    "companies",
    "originators",
    "devices",
    "terminators",
    "gateways",
    "routing_plans",
    "routing_plan_entries",
)


def test_openapi_schema_lists_the_api_and_not_the_pages(web_client: TestClient) -> None:
    response = web_client.get("/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == {
        "/healthz",
        "/api/v1/originators",
        "/api/v1/terminators",
        "/api/v1/tariffs",
        "/api/v1/tariffs/{tariff_id}/rates",
        "/api/v1/accounts/{company_id}",
        "/api/v1/accounts/{company_id}/entries",
        "/api/v1/companies/{company_id}/notice-period",
        "/api/v1/audit",
        "/api/v1/cdrs",
        "/api/v1/simulate",
        *(path for slug in WRITABLE for path in (f"/api/v1/{slug}", f"/api/v1/{slug}/{{row_id}}")),
        "/api/v1/tariffs/{row_id}",
        "/api/v1/rates",  # POST: a rate of a tariff (listed at /api/v1/tariffs/{id}/rates)
        "/api/v1/rates/{row_id}",
        "/api/v1/users",
        "/api/v1/users/{row_id}",
        "/api/v1/calls",  # live calls: GET, and POST .../drop
        "/api/v1/calls/{call_ref}/drop",
        "/api/v1/noc/test-calls",  # GET results, POST a test call
        "/api/v1/noc/audits",
        "/api/v1/users/{user_id}/logout",  # admins: end a user's sessions
        "/api/v1/sessions",
        "/api/v1/tokens",  # admins: GET, and POST a new token (its text once)
        "/api/v1/tokens/{token_id}/revoke",
        "/api/v1/reports",
    }
    company = schema["paths"]["/api/v1/companies/{row_id}"]
    assert set(company) == {"get", "put", "delete"}
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/originators"]["get"]["parameters"]}
    assert set(parameters) == {"q", "page", "per_page", "enabled", "sort", "columns"}
    assert parameters["enabled"]["schema"]["enum"] == ["any", "yes", "no", None]
    rate = schema["components"]["schemas"]["Rate"]["properties"]
    assert rate["rate"]["type"] == "string"


def _csrf_headers(client: TestClient) -> dict[str, str]:
    from tests.integration.web_conftest import csrf_token

    return {"x-csrftoken": csrf_token(client, "/")}


def test_accounts_api_posts_entries_exactly_and_refuses_bad_ones(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    conn.execute("UPDATE users SET role = 'finance' WHERE username = 'olga'")  # ledger posts
    conn.commit()
    company = conn.execute("SELECT id FROM companies WHERE name = 'Acme Telecom'").fetchone()[0]
    url = f"/api/v1/accounts/{company}"
    headers = _csrf_headers(logged_in)
    posted = logged_in.post(
        f"{url}/entries", json={"kind": "topup", "amount": "10.25", "note": "wire"}, headers=headers
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["entry"]["amount"] == "10.25"
    assert posted.json()["balance"] == "10.25000000"
    refused = logged_in.post(
        f"{url}/entries", json={"kind": "topup", "amount": "-1"}, headers=headers
    )
    assert refused.status_code == 400 and "positive" in refused.json()["detail"]
    assert (
        logged_in.post(f"{url}/entries", json={"kind": "topup", "amount": "1"}).status_code == 403
    )
    account = logged_in.get(url).json()
    assert [(e["kind"], e["amount"], e["by"]) for e in account["entries"]] == [
        ("topup", "10.25000000", "olga")
    ]
    assert logged_in.get("/api/v1/accounts/999999").status_code == 404


def test_viewers_read_accounts_but_post_nothing(web_client: TestClient, conn) -> None:
    from tests.integration.web_conftest import create_user, log_in

    log_in(web_client, create_user(conn, "vera", role="read-only"))
    company = conn.execute("SELECT id FROM companies WHERE name = 'Acme Telecom'").fetchone()[0]
    assert web_client.get(f"/api/v1/accounts/{company}").status_code == 200
    refused = web_client.post(
        f"/api/v1/accounts/{company}/entries",
        json={"kind": "topup", "amount": "1"},
        headers=_csrf_headers(web_client),
    )
    assert refused.status_code == 403
    assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0] == 0


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/accounts/1?entries=-2447401084",  # found by schemathesis: was a 500
        "/api/v1/accounts/1?entries=1001",
        "/api/v1/accounts/99999999999999999999",
        "/api/v1/accounts/0",
    ],
)
def test_account_parameters_out_of_range_are_400(logged_in: TestClient, path: str) -> None:
    assert logged_in.get(path).status_code == 400
