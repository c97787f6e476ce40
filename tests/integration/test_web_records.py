"""Every writable entity through its pages and its API, generated from one table of samples:
create → detail → edit → CSV export → delete, each write with its audit row, and a
read-only user refused each write. A new entity in EDITABLE fails here until it has a sample."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal

import psycopg
import pytest
from litestar.testing import TestClient

from admin.web.entities import EDITABLE
from admin.web.permissions import PERMISSIONS, Role
from tests.integration.web_conftest import create_user, csrf_token, log_in

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("demo_catalog")]


def one(conn: psycopg.Connection, sql: str) -> str:
    return str(conn.execute(sql).fetchone()[0])


# slug -> (fields of a new row, given the demo catalog; fields changed by an edit; the edit's
# effect as (column, value) of the row's get query)
Sample = tuple[Callable[[psycopg.Connection], dict[str, str]], dict[str, str], tuple[str, object]]
SAMPLES: dict[str, Sample] = {
    "companies": (
        lambda conn: {"name": "Initech", "currency": "EUR", "is_vendor": "on"},
        {"name": "Initech AG"},
        ("name", "Initech AG"),
    ),
    "originators": (
        lambda conn: {
            "name": "initech-in",
            "company_id": one(conn, "SELECT id FROM companies WHERE name = 'Acme Telecom'"),
            "tariff_id": one(conn, "SELECT min(id) FROM tariffs"),
            "routing_plan_id": "",  # optional: none
            "tech_prefix": "123#",
            "max_call_duration": "3600",
            "enabled": "on",
        },
        {"max_call_duration": "60"},
        ("max_call_duration", 60),
    ),
    "devices": (
        lambda conn: {
            "originator_id": one(conn, "SELECT min(id) FROM originators"),
            "network": "192.0.2.0/28",
            "port": "",
            "transport": "udp",
            "description": "lab",
        },
        {"description": "lab 2"},
        ("description", "lab 2"),
    ),
    "terminators": (
        lambda conn: {
            "name": "initech-out",
            "company_id": one(conn, "SELECT id FROM companies WHERE name LIKE 'Alpha%'"),
            "tariff_id": one(conn, "SELECT min(id) FROM tariffs"),
            "tech_prefix": "",
            "enabled": "on",
        },
        {"tech_prefix": "99"},
        ("tech_prefix", "99"),
    ),
    "tariffs": (
        lambda conn: {"name": "Initech EUR", "currency": "EUR", "description": "new"},
        {"description": "renamed"},
        ("description", "renamed"),
    ),
    "rates": (
        lambda conn: {
            "tariff_id": one(conn, "SELECT min(id) FROM tariffs"),
            "prefix": "49301",
            "destination": "Germany Berlin",
            "rate": "0.01234567",
            "initial_increment": "30",
            "next_increment": "6",
            "connect_fee": "0",
            "minimum_duration": "0",
            "effective_from": "",
            "effective_to": "",
        },
        {"rate": "0.5"},
        ("rate", "0.50000000"),
    ),
    "users": (
        lambda conn: {
            "username": "nina",
            "role": "noc",
            "enabled": "on",
            "password": "s3cret-pass",
        },
        {"role": "finance", "password": ""},  # an empty password keeps the current one
        ("role", "finance"),
    ),
    "gateways": (
        lambda conn: {
            "terminator_id": one(conn, "SELECT min(id) FROM terminators"),
            "host": "gw.example.net",
            "port": "5080",
            "transport": "tcp",
            "position": "3",
        },
        {"port": "5090"},
        ("port", 5090),
    ),
    "routing_plans": (
        lambda conn: {
            "name": "premium",
            "strategy": "priority",
            "hunt_stop_codes": "404, 486",
            "allow_loss": "",
            "min_margin": "0.001",
            "min_margin_percent": "",
            "max_attempts": "4",
            "ring_timeout": "3",
            "answer_timeout": "90",
        },
        {"hunt_stop_codes": "404,486,487,603"},
        ("hunt_stop_codes", [404, 486, 487, 603]),
    ),
    "routing_plan_entries": (
        lambda conn: {
            # a plan of its own: a terminator is in a plan once, and the demo's has them all
            "routing_plan_id": one(
                conn,
                "INSERT INTO routing_plans (name) VALUES ('spare') ON CONFLICT (name) "
                "DO UPDATE SET name = excluded.name RETURNING id",
            ),
            "terminator_id": one(conn, "SELECT max(id) FROM terminators"),
            "priority": "5",
            "weight": "50",
            "position": "1",
        },
        {"weight": "70"},
        ("weight", 70),
    ),
}


def submit(client: TestClient, path: str, fields: dict[str, str]):
    token = csrf_token(client, path)
    return client.post(path, data={"_csrf_token": token, **fields}, follow_redirects=False)


def audit_actions(conn, entity: str, row_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT action FROM audit_log WHERE entity = %s AND entity_id = %s ORDER BY id",
        (entity, str(row_id)),
    )
    return [row[0] for row in rows]


def new_row_id(conn, editable, location: str) -> int:
    """The row a create made: from its page's address, or (a row shown on its parent's page)
    the newest row of its table."""
    if editable.detail and not editable.parent:
        return int(location.rsplit("/", 1)[1])
    return int(one(conn, f"SELECT max(id) FROM {editable.service.table}"))


def test_every_writable_entity_has_a_sample():
    assert {e.entity.slug for e in EDITABLE} == set(SAMPLES)


def writer(web_client: TestClient, conn, editable) -> TestClient:
    """Logged in with a role that may write this entity (operators the catalog, admins users)."""
    role = next(r for r in ("operator", "admin") if Role(r) in PERMISSIONS[editable.action])
    create_user(conn, f"w-{role}", role=role)
    assert log_in(web_client, f"w-{role}").status_code == 303
    return web_client


@pytest.mark.parametrize("editable", EDITABLE, ids=lambda e: e.entity.slug)
def test_pages_create_show_edit_export_and_delete(web_client, conn, editable):
    logged_in = writer(web_client, conn, editable)
    slug, entity = editable.entity.slug, editable.service.entity
    new, change, (column, expected) = SAMPLES[slug]
    fields = new(conn)
    assert logged_in.get(f"/{slug}/new").status_code == 200
    created = submit(logged_in, f"/{slug}/new", fields)
    assert created.status_code == 303, created.text
    row_id = new_row_id(conn, editable, created.headers["location"])
    detail = logged_in.get(f"/{slug}/{row_id}")
    assert detail.status_code == 200
    if editable.detail:
        assert "Changes" in detail.text
    edit_page = logged_in.get(f"/{slug}/{row_id}/edit")
    assert edit_page.status_code == 200
    edited = submit(logged_in, f"/{slug}/{row_id}/edit", {**fields, **change})
    assert edited.status_code == 303, edited.text
    row = logged_in.get(f"/api/v1/{slug}/{row_id}").json()
    assert row[column] == expected
    if not editable.entity.scope:  # a tariff's rates are exported with their tariff's page
        exported = list(csv.reader(io.StringIO(logged_in.get(f"/{slug}.csv").text)))
        assert exported[0] == [c.label for c in editable.entity.columns] and len(exported) >= 2
    assert logged_in.get(f"/{slug}/{row_id}/delete").status_code == 200
    deleted = submit(logged_in, f"/{slug}/{row_id}/delete", {})
    assert deleted.status_code == 303, deleted.text
    assert logged_in.get(f"/api/v1/{slug}/{row_id}").status_code == 404
    assert audit_actions(conn, entity, row_id) == ["create", "update", "delete"]


@pytest.mark.parametrize("editable", EDITABLE, ids=lambda e: e.entity.slug)
def test_a_read_only_user_is_refused_every_write(web_client, conn, editable):
    slug = editable.entity.slug
    create_user(conn, "rita", role="read-only")
    assert log_in(web_client, "rita").status_code == 303
    if editable.private:  # users: admins only, even to read
        assert web_client.get(f"/{slug}").status_code == 403
    elif not editable.entity.scope:  # a scoped list is read on its parent's page
        assert web_client.get(f"/{slug}").status_code == 200
    assert web_client.get(f"/{slug}/new").status_code == 403
    token = {"x-csrftoken": csrf_token(web_client, "/")}
    refused = web_client.post(f"/api/v1/{slug}", json=SAMPLES[slug][0](conn), headers=token)
    assert refused.status_code == 403
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0


def test_a_trunk_page_adds_its_device_and_deletes_it_with_the_trunk(logged_in, conn):
    originator = int(one(conn, "SELECT id FROM originators WHERE name = 'acme'"))
    page = logged_in.get(f"/originators/{originator}").text
    assert f'href="/devices/new?originator_id={originator}"' in page
    form = logged_in.get(f"/devices/new?originator_id={originator}").text
    assert f'<option value="{originator}" selected>' in form  # the parent chosen already
    bad = submit(
        logged_in, "/devices/new", {"originator_id": str(originator), "network": "10.0.0.1/8"}
    )
    assert bad.status_code == 400 and "host bits set" in bad.text
    confirm = logged_in.get(f"/originators/{originator}/delete").text
    assert "These are deleted with it" in confirm and "1 devices" in confirm


def upload(client: TestClient, slug: str, content: bytes):
    token = csrf_token(client, f"/{slug}/import")
    return client.post(
        f"/{slug}/import",
        data={"_csrf_token": token},
        files={"data": ("rows.csv", content, "text/csv")},
    )


def test_csv_import_is_all_or_nothing_and_says_row_and_column(logged_in, conn):
    before = conn.execute("SELECT count(*) FROM companies").fetchone()[0]
    broken = b"name,currency,is_vendor\nGood One,USD,yes\nBad One,dollars,yes\nOther,EUR,maybe\n"
    refused = upload(logged_in, "companies", broken)
    assert refused.status_code == 400
    assert "row 3, currency" in refused.text and "row 4, is_vendor" in refused.text
    duplicate = upload(logged_in, "companies", b"name,currency\nNew,USD\nAcme Telecom,USD\n")
    assert duplicate.status_code == 400 and "row 3, name: another company" in duplicate.text
    assert conn.execute("SELECT count(*) FROM companies").fetchone()[0] == before  # nothing
    assert upload(logged_in, "companies", b"\xff\xfe").status_code == 400
    good = upload(logged_in, "companies", "\ufeffname,currency\nÜber,EUR\nZed,USD\n".encode())
    assert good.status_code == 200 and "2 companies imported" in good.text
    assert conn.execute("SELECT count(*) FROM companies").fetchone()[0] == before + 2
    audited = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'create'").fetchone()
    assert audited[0] == 2


def test_xlsx_export_holds_what_the_list_shows(logged_in):
    from openpyxl import load_workbook

    response = logged_in.get("/companies.xlsx?role=customer")
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("Name", "Currency")
    assert {row[0] for row in rows[1:]} == {"Acme Telecom", "Globex Voice"}
    assert all(isinstance(row[5], str) for row in rows[1:])  # balance: exact text, no float


def test_a_tariff_page_adds_and_imports_its_rates(logged_in, conn):
    tariff = int(one(conn, "SELECT min(id) FROM tariffs"))
    page = logged_in.get(f"/tariffs/{tariff}").text
    assert f'href="/rates/new?tariff_id={tariff}"' in page
    assert f'href="/rates/import?tariff_id={tariff}"' in page
    form = logged_in.get(f"/rates/import?tariff_id={tariff}").text
    assert f'name="tariff_id" value="{tariff}"' in form and "tariff_id," not in form
    token = csrf_token(logged_in, f"/rates/import?tariff_id={tariff}")
    deck = b"prefix,destination,rate,initial_increment,next_increment\n4930,Berlin,0.0123,60,60\n"
    imported = logged_in.post(
        "/rates/import",
        data={"_csrf_token": token, "tariff_id": str(tariff)},
        files={"data": ("deck.csv", deck, "text/csv")},
    )
    assert imported.status_code == 200 and "1 rates imported" in imported.text
    rate = conn.execute(
        "SELECT rate, initial_increment FROM rates WHERE tariff_id = %s AND prefix = '4930'",
        (tariff,),
    ).fetchone()
    assert rate == (Decimal("0.01230000"), 60)
    too_fine = submit(
        logged_in,
        "/rates/new",
        {"tariff_id": str(tariff), "prefix": "4931", "rate": "0.123456789"},
    )
    assert too_fine.status_code == 400 and "at most 8 decimal places" in too_fine.text


def test_users_are_for_admins_and_never_show_a_password(web_client, conn):
    create_user(conn, "olga", role="operator")
    assert log_in(web_client, "olga").status_code == 303
    for path in ("/users", "/users.csv", "/users/new", "/api/v1/users"):
        assert web_client.get(path).status_code == 403, path
    assert "/users" not in web_client.get("/").text.split("<main>")[0]  # no menu link
    admin = writer(web_client, conn, next(e for e in EDITABLE if e.entity.slug == "users"))
    created = submit(admin, "/users/new", {"username": "nina", "role": "noc", "password": "short"})
    assert created.status_code == 400 and "at least 8 characters" in created.text
    assert 'value="short"' not in created.text  # a password is never sent back
    created = submit(
        admin,
        "/users/new",
        {"username": "nina", "role": "noc", "enabled": "on", "password": "long enough"},
    )
    assert created.status_code == 303
    logged = conn.execute("SELECT after::text FROM audit_log WHERE entity = 'user'").fetchall()
    assert logged and all("long enough" not in row[0] and "scrypt" not in row[0] for row in logged)
    assert log_in(TestClient(web_client.app), "nina", "long enough").status_code == 303
