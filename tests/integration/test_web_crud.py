"""The generic record pages and write API (admin/web/crud.py), tried on companies: create,
detail with children, edit, delete with its dependents, CSV export, the audit log — through
the real app, PostgreSQL, sessions and CSRF."""

from __future__ import annotations

import csv
import io

import psycopg
import pytest
from litestar.testing import TestClient

from tests.integration.web_conftest import create_user, csrf_token, log_in

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("demo_catalog")]


def submit(client: TestClient, path: str, page: str | None = None, **fields: str):
    token = csrf_token(client, page or path)  # the page the form is on: its own, or given
    return client.post(path, data={"_csrf_token": token, **fields}, follow_redirects=False)


def api_headers(client: TestClient) -> dict[str, str]:
    return {"x-csrftoken": csrf_token(client, "/")}


def company_id(conn: psycopg.Connection, name: str) -> int | None:
    row = conn.execute("SELECT id FROM companies WHERE name = %s", (name,)).fetchone()
    return None if row is None else row[0]


def test_create_then_see_edit_and_delete_a_company(logged_in, conn):
    created = submit(logged_in, "/companies/new", name="Initech", currency="EUR", is_vendor="on")
    assert created.status_code == 303
    new_id = company_id(conn, "Initech")
    assert created.headers["location"] == f"/companies/{new_id}"
    page = logged_in.get(f"/companies/{new_id}").text
    assert "Initech" in page and "EUR" in page and "Changes" in page and "olga" in page
    edited = submit(logged_in, f"/companies/{new_id}/edit", name="Initech AG", currency="EUR")
    assert edited.status_code == 303
    flags = conn.execute(
        "SELECT name, is_vendor, enabled FROM companies WHERE id = %s", (new_id,)
    ).fetchone()
    assert flags == ("Initech AG", False, False)  # unticked boxes are off
    confirm = logged_in.get(f"/companies/{new_id}/delete")
    assert "Nothing refers to it." in confirm.text
    deleted = submit(logged_in, f"/companies/{new_id}/delete")
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/companies")
    assert company_id(conn, "Initech AG") is None
    actions = conn.execute(
        "SELECT action, username, request_id <> '' FROM audit_log"
        " WHERE entity = 'company' AND entity_id = %s ORDER BY id",
        (str(new_id),),
    ).fetchall()
    assert actions == [("create", "olga", True), ("update", "olga", True), ("delete", "olga", True)]


def test_a_refused_form_keeps_the_input_and_says_why_next_to_the_field(logged_in, conn):
    taken = submit(logged_in, "/companies/new", name="Acme Telecom", currency="USD")
    assert taken.status_code == 400
    assert 'id="e-name"' in taken.text and "another company has this name" in taken.text
    assert 'value="Acme Telecom"' in taken.text  # the operator's input kept
    bad = submit(logged_in, "/companies/new", name="New One", currency="dollars")
    assert bad.status_code == 400 and 'id="e-currency"' in bad.text
    assert company_id(conn, "New One") is None


def test_a_company_in_use_lists_what_depends_on_it_and_stays(logged_in, conn):
    acme = company_id(conn, "Acme Telecom")
    confirm = logged_in.get(f"/companies/{acme}/delete").text
    assert "cannot be deleted" in confirm and "1 originators" in confirm
    refused = submit(logged_in, f"/companies/{acme}/delete")
    assert refused.status_code == 409 and "still used by" in refused.text
    assert company_id(conn, "Acme Telecom") == acme


def test_the_detail_page_shows_the_trunks_and_the_account(logged_in, conn):
    acme = company_id(conn, "Acme Telecom")
    page = logged_in.get(f"/companies/{acme}").text
    for heading in ("Account", "Originators", "Terminators", "Recent calls (7 days)"):
        assert f"<h2>{heading}</h2>" in page
    assert ">acme<" in page  # its originator


def test_finance_tops_up_an_account_from_the_company_page(web_client, conn):
    acme = company_id(conn, "Acme Telecom")
    create_user(conn, "fiona", role="finance")
    assert log_in(web_client, "fiona").status_code == 303
    page = web_client.get(f"/companies/{acme}").text
    assert "<h2>Post to the account</h2>" in page and "<h2>Ledger (latest 20)</h2>" in page
    path = f"/companies/{acme}/entries"
    posted = submit(web_client, path, "/", kind="topup", amount="125.50", note="wire 42")
    assert posted.status_code == 303 and posted.headers["location"] == f"/companies/{acme}"
    page = web_client.get(f"/companies/{acme}").text
    assert "wire 42" in page and "125.50" in page
    refused = submit(web_client, path, "/", kind="invoice", amount="30", note="march")
    assert refused.status_code == 400
    assert "is negative: 30" in refused.text  # the ledger's own message
    assert 'value="30"' in refused.text and 'value="march"' in refused.text  # input kept
    entries = conn.execute(
        "SELECT kind, amount::text, created_by FROM ledger_entries WHERE company_id = %s", (acme,)
    ).fetchall()
    assert entries == [("topup", "125.50000000", "fiona")]


def test_an_operator_cannot_post_to_an_account(logged_in, conn):
    acme = company_id(conn, "Acme Telecom")
    assert "Post to the account" not in logged_in.get(f"/companies/{acme}").text
    refused = submit(logged_in, f"/companies/{acme}/entries", "/", kind="topup", amount="10")
    assert refused.status_code == 403
    assert conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0] == 0


def test_csv_export_follows_the_list_filters(logged_in):
    response = logged_in.get("/companies.csv?role=vendor")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["Name", "Currency", "Customer"]
    names = [row[0] for row in rows[1:]]
    assert names and all(name.startswith(("Alpha", "Bravo", "Charlie")) for name in names), names


def test_the_api_creates_reads_updates_and_deletes(logged_in, conn):
    headers = api_headers(logged_in)
    created = logged_in.post(
        "/api/v1/companies", json={"name": "Hooli", "currency": "USD"}, headers=headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["credit_limit"]) == ("Hooli", "0.00000000")  # money as text
    item = f"/api/v1/companies/{body['id']}"
    assert logged_in.get(item).json()["name"] == "Hooli"
    changed = logged_in.put(
        item, json={"name": "Hooli XYZ", "currency": "USD", "is_customer": True}, headers=headers
    )
    assert changed.status_code == 200 and changed.json()["is_customer"] is True
    duplicate = logged_in.post(
        "/api/v1/companies", json={"name": "Hooli XYZ", "currency": "USD"}, headers=headers
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["extra"]["fields"] == {"name": "another company has this name"}
    acme = company_id(conn, "Acme Telecom")
    assert logged_in.delete(f"/api/v1/companies/{acme}", headers=headers).status_code == 409
    assert logged_in.delete(item, headers=headers).status_code == 204
    assert logged_in.get(item).status_code == 404
    assert logged_in.post("/api/v1/companies", json={"name": "X"}, headers={}).status_code == 403


def test_a_read_only_user_reads_but_cannot_write(web_client, conn):
    create_user(conn, "ro", role="read-only")
    assert log_in(web_client, "ro").status_code == 303
    assert web_client.get("/companies").status_code == 200
    assert web_client.get("/companies/new").status_code == 403
    refused = submit(web_client, "/companies", name="x")  # a GET page has the token
    assert refused.status_code in (403, 405)
    headers = api_headers(web_client)
    api = web_client.post(
        "/api/v1/companies", json={"name": "Z", "currency": "USD"}, headers=headers
    )
    assert api.status_code == 403
    assert company_id(conn, "Z") is None


def test_the_audit_log_is_browsable_per_user_and_object(logged_in, conn):
    submit(logged_in, "/companies/new", name="Umbrella", currency="USD")
    new_id = company_id(conn, "Umbrella")
    by_user = logged_in.get("/api/v1/audit?q=olga").json()
    assert [(r["entity"], r["entity_id"], r["action"]) for r in by_user["items"]] == [
        ("company", str(new_id), "create")
    ]
    assert "currency" in by_user["items"][0]["changed"]
    by_object = logged_in.get(f"/api/v1/audit?q=company {new_id}").json()
    assert by_object["total"] == 1
    assert logged_in.get("/audit?action=create").status_code == 200
    assert logged_in.get("/audit?action=nonsense").status_code == 400
