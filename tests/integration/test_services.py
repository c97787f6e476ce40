"""Entity services against the real PostgreSQL: each write is one transaction with one audit
row (who, request id, before, after); refusals name the field and write nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D

import pytest

from admin import catalog, ledger, services
from admin.catalog import RateRow
from admin.services.companies import COMPANIES

pytestmark = pytest.mark.integration
OLGA = services.Actor("olga", request_id="req-1")


def audit_rows(conn, entity_id: int) -> list[tuple]:
    return conn.execute(
        "SELECT username, request_id, action, before, after FROM audit_log"
        " WHERE entity = 'company' AND entity_id = %s ORDER BY id",
        (str(entity_id),),
    ).fetchall()


def form(**fields):
    return services.parse_form(COMPANIES, {"name": "Acme", "currency": "usd", **fields})


def test_create_update_delete_each_write_one_audit_row(conn):
    company = services.create(conn, COMPANIES, form(is_customer="on"), OLGA)
    row = services.get(conn, COMPANIES, company)
    assert (row["name"], row["currency"], row["is_customer"]) == ("Acme", "USD", True)
    services.update(conn, COMPANIES, company, form(name="Acme Ltd", is_customer=True), OLGA)
    services.update(conn, COMPANIES, company, form(name="Acme Ltd", is_customer=True), OLGA)
    services.delete(conn, COMPANIES, company, OLGA)
    rows = audit_rows(conn, company)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("olga", "req-1", "create"),
        ("olga", "req-1", "update"),  # the second, changing nothing, wrote nothing
        ("olga", "req-1", "delete"),
    ]
    created, updated, deleted = (r[3:] for r in rows)
    assert created[0] is None and created[1]["name"] == "Acme"
    assert (updated[0]["name"], updated[1]["name"]) == ("Acme", "Acme Ltd")
    assert deleted[0]["name"] == "Acme Ltd" and deleted[1] is None
    json.dumps(updated[0])  # money and times stored as text: the JSON round-trips
    with pytest.raises(services.NotFound):
        services.get(conn, COMPANIES, company)


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"name": "  "}, "name", "at least 1 character"),
        ({"currency": "dollars"}, "currency", "should match pattern"),
        ({"currency": "XXX"}, "currency", "no such currency"),
        ({"name": "Taken"}, "name", "another company has this name"),
        ({"unexpected": "1"}, "unexpected", "Extra inputs are not permitted"),
        ({"is_vendor": "perhaps"}, "is_vendor", "valid boolean"),
    ],
)
def test_refusals_name_the_field_and_write_nothing(conn, fields, field, says):
    services.create(conn, COMPANIES, form(name="Taken"), OLGA)
    before = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    with pytest.raises(services.ServiceError) as refused:
        services.create(conn, COMPANIES, form(**fields), OLGA)
    assert says in refused.value.fields[field]
    assert conn.execute("SELECT count(*) FROM companies").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == before


def test_a_company_in_use_is_not_deleted_and_says_by_what(conn):
    company = services.create(conn, COMPANIES, form(is_customer=True), OLGA)
    with conn.transaction():
        tariff = catalog.tariff(conn, "T", [RateRow("44", D("0.01"))])
        catalog.originator(conn, company, "acme", tariff, None, ["10.0.0.1/32"])
        ledger.post(conn, company, "topup", "5", note="", username="t")
    assert [(d.label, d.count) for d in services.dependents(conn, COMPANIES, company)] == [
        ("originators", 1),
        ("ledger entries", 1),
    ]
    with pytest.raises(services.ServiceError, match="still used by 1 originators, 1 ledger"):
        services.delete(conn, COMPANIES, company, OLGA)
    with pytest.raises(services.ServiceError) as refused:  # the ledger is in USD
        services.update(conn, COMPANIES, company, form(currency="EUR"), OLGA)
    assert "1 ledger entries in USD" in refused.value.fields["currency"]
    assert services.get(conn, COMPANIES, company)["currency"] == "USD"


def test_the_cli_runs_the_same_service(database_url, conn):
    def akira(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "admin.cli", "company", *args],
            env=os.environ | {"AKIRA_DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            check=False,
        )

    created = akira("create", "name=Initech", "currency=eur", "is_vendor=yes", "--by", "olga")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["currency"] == "EUR"
    changed = akira("update", "Initech", "name=Initech AG", "--by", "olga")
    assert json.loads(changed.stdout)["is_vendor"] is True  # fields not given are kept
    refused = akira("create", "name=Bad", "currency=XXX")
    assert refused.returncode == 1 and "no such currency" in refused.stderr
    assert akira("delete", "Initech AG", "--by", "olga").returncode == 0
    missing = akira("show", "Initech AG")
    assert missing.returncode == 1 and "no company named 'Initech AG'" in missing.stderr
    actions = conn.execute("SELECT username, action FROM audit_log ORDER BY id").fetchall()
    assert actions == [("olga", "create"), ("olga", "update"), ("olga", "delete")]
