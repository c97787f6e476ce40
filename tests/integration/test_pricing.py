"""Customer tariffs derived from vendor costs on the real PostgreSQL (admin/pricing): written
through the rate-deck importer, derived again changes nothing, a notice-period violation is
refused with the database unchanged, and the rate sheet in the outbox has the right flags."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from openpyxl import load_workbook

from admin import catalog
from admin.cli import main
from admin.pricing import notices
from admin.pricing.notices import Kind, NoticeRefused
from admin.pricing.rate_sheets import COLUMNS, decoded
from admin.pricing.rules import parse_rules
from admin.pricing.service import derive_tariff
from admin.ratedecks import store
from admin.ratedecks.diff import Category
from admin.ratedecks.normalize import read_deck
from admin.ratedecks.values import Change
from admin.services import Actor

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WEEK = timedelta(days=7)
OLGA = Actor("olga", "test")
RULES_TEXT = """
[[rule]]
name = "mobiles"
destination = "*mobile*"
percent = 20
minimum_margin = 0.004

[[rule]]
name = "the rest"
percent = 10
fixed = 0.0005
"""
RULES = parse_rules(RULES_TEXT, "rules.toml")


@pytest.fixture
def market(conn) -> dict[str, store.Tariff]:
    """Vendors alpha and bravo, customer acme (7 days' notice for increases and closures)
    on the empty tariff acme-usd."""
    with conn.transaction():
        for name in ("alpha", "bravo"):
            catalog.company(conn, name, vendor=True)
        acme = catalog.company(conn, "acme", customer=True)
        alpha = catalog.tariff(
            conn,
            "alpha-usd",
            [
                catalog.RateRow("44", D("0.0100"), "United Kingdom"),
                catalog.RateRow("447", D("0.0500"), "United Kingdom Mobile", 60, 60),
                catalog.RateRow("33", D("0.0200"), "France"),
            ],
        )
        bravo = catalog.tariff(
            conn,
            "bravo-usd",
            [
                catalog.RateRow("44", D("0.0080"), "UK"),
                catalog.RateRow("4479", D("0.0300"), "UK Mobile Vodafone", 30, 6, D("0.01")),
            ],
        )
        customer = catalog.tariff(conn, "acme-usd", [])
        catalog.originator(conn, acme, "acme-trunk", customer, None, ["192.0.2.1/32"])
    notices.set_period(conn, "acme", {}, OLGA)  # the defaults: 7, 7, 0, 0
    return {
        "alpha": store.Tariff(alpha, "alpha-usd", "USD"),
        "bravo": store.Tariff(bravo, "bravo-usd", "USD"),
        "acme": store.Tariff(customer, "acme-usd", "USD"),
    }


def derive(conn, market, *, now=NOW, at=None, dry_run=False):
    return derive_tariff(
        conn,
        market["acme"],
        [market["alpha"], market["bravo"]],
        RULES,
        OLGA,
        at=at,
        now=now,
        dry_run=dry_run,
    )


def windows(conn, tariff_id: int) -> list[tuple]:
    return conn.execute(
        "SELECT prefix, rate, initial_increment, next_increment, connect_fee, effective_from,"
        " effective_to FROM rates WHERE tariff_id = %s ORDER BY prefix, effective_from",
        (tariff_id,),
    ).fetchall()


def state(conn, tariff_id: int) -> tuple:
    """Everything a derivation may write."""
    return (
        windows(conn, tariff_id),
        conn.execute("SELECT count(*) FROM audit_log").fetchone()[0],
        conn.execute("SELECT count(*) FROM notification_outbox").fetchone()[0],
        conn.execute("SELECT revision FROM catalog_state").fetchone()[0],
    )


def rate_sheets(conn) -> list[dict]:
    rows = conn.execute(
        "SELECT c.name, n.detail FROM notification_outbox n JOIN companies c"
        " ON c.id = n.company_id WHERE n.kind = 'rate-sheet' ORDER BY n.id"
    ).fetchall()
    return [{"company": company, **detail} for company, detail in rows]


def sheet_rows(notice: dict) -> dict[str, dict[str, str]]:
    """The CSV's rows by code; the XLSX must say the same."""
    files = dict(decoded(notice["files"]))
    (csv_name,) = [name for name in files if name.endswith(".csv")]
    (xlsx_name,) = [name for name in files if name.endswith(".xlsx")]
    rows = list(csv.reader(io.StringIO(files[csv_name].decode())))
    sheet = load_workbook(io.BytesIO(files[xlsx_name]), read_only=True)["rates"]
    cells = [["" if v is None else v for v in r] for r in sheet.iter_rows(values_only=True)]
    assert cells == rows  # every cell text: money exact
    assert tuple(rows[0]) == COLUMNS
    return {row[0]: dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]}


def raise_vendor_rate(conn, tariff: store.Tariff, prefix: str, rate: str, at: datetime) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE rates SET effective_to = %s WHERE tariff_id = %s AND prefix = %s"
            " AND effective_to IS NULL RETURNING destination, initial_increment,"
            " next_increment, connect_fee",
            (at, tariff.id, prefix),
        )
        destination, initial, step, fee = conn.execute(
            "SELECT destination, initial_increment, next_increment, connect_fee FROM rates"
            " WHERE tariff_id = %s AND prefix = %s AND effective_to = %s",
            (tariff.id, prefix, at),
        ).fetchone()
        catalog.copy_rates(
            conn,
            tariff.id,
            [catalog.RateRow(prefix, D(rate), destination, initial, step, fee, at)],
        )


def test_the_derived_tariff_is_applied_through_the_importer_with_exact_prices(conn, market):
    outcome = derive(conn, market)
    assert outcome.plan.counts == {Category.NEW: 4}
    assert windows(conn, market["acme"].id) == [
        ("33", D("0.0225"), 1, 1, D(0), NOW, None),  # alpha 0.02 * 1.1 + 0.0005
        ("44", D("0.0093"), 1, 1, D(0), NOW, None),  # bravo 0.008 * 1.1 + 0.0005
        ("447", D("0.0120"), 1, 1, D(0), NOW, None),  # bravo's 44 + the minimum margin
        ("4479", D("0.0360"), 30, 6, D("0.01"), NOW, None),  # bravo 0.03 * 1.2
    ]
    (audited,) = conn.execute(
        "SELECT username, entity, entity_id, after FROM audit_log WHERE action = 'import_rates'"
    ).fetchall()
    assert audited[:3] == ("olga", "tariff", str(market["acme"].id))
    assert audited[3]["source"].startswith("derived from alpha-usd, bravo-usd at 2026-06-01")
    assert audited[3]["counts"] == {"new": 4}
    (notice,) = rate_sheets(conn)
    assert notice["company"] == "acme" and notice["counts"]["New"] == 4
    rows = sheet_rows(notice)
    assert {code: row["Change"] for code, row in rows.items()} == dict.fromkeys(
        ("33", "44", "447", "4479"), "New"
    )
    assert rows["4479"]["Rate"] == "0.036" and rows["4479"]["Billing Increment"] == "30/6"
    assert rows["44"]["Effective Date"] == "2026-06-01T12:00:00Z"


def test_deriving_again_changes_nothing(conn, market):
    derive(conn, market)
    before = state(conn, market["acme"].id)
    again = derive(conn, market, now=NOW + timedelta(hours=1))
    assert again.plan.writes == 0
    assert again.plan.counts == {Category.UNCHANGED: 4}
    assert again.notices == []
    assert state(conn, market["acme"].id) == before


def test_an_increase_sooner_than_the_notice_period_is_refused_and_nothing_changes(conn, market):
    derive(conn, market)
    later = NOW + timedelta(days=1)
    raise_vendor_rate(conn, market["bravo"], "44", "0.0090", later)  # 44 and 447 go up
    before = state(conn, market["acme"].id)
    with pytest.raises(NoticeRefused) as refused:
        derive(conn, market, now=later)
    message = str(refused.value)
    assert "refused: 2 change(s) of tariff acme-usd" in message
    assert "acme: increases 7 day(s)" in message
    assert "44 (increase 0.0093 → 0.0104 from 2026-06-02 12:00Z)" in message
    assert "447 (increase 0.012 → 0.013 from 2026-06-02 12:00Z)" in message
    assert "the earliest allowed date is 2026-06-09 12:00Z" in message
    assert [v.prefix for v in refused.value.violations] == ["44", "447"]
    assert state(conn, market["acme"].id) == before  # rates, audit, outbox, catalog revision
    # a dry run says the same and writes nothing
    dry = derive(conn, market, now=later, dry_run=True)
    assert [v.prefix for v in dry.violations] == ["44", "447"]
    assert state(conn, market["acme"].id) == before


def test_an_increase_at_the_notice_date_is_scheduled_and_the_rate_sheet_flags_it(conn, market):
    derive(conn, market)
    later = NOW + timedelta(days=1)
    raise_vendor_rate(conn, market["bravo"], "44", "0.0090", later)  # 44 and 447 go up
    raise_vendor_rate(conn, market["alpha"], "33", "0.0100", later)  # 33 goes down
    notice_date = later + WEEK
    outcome = derive(conn, market, now=later, at=notice_date)
    assert outcome.plan.counts == {
        Category.INCREASED: 2,
        Category.DECREASED: 1,
        Category.UNCHANGED: 1,
    }
    assert [(w[1], w[5], w[6]) for w in windows(conn, market["acme"].id) if w[0] == "44"] == [
        (D("0.0093"), NOW, notice_date),
        (D("0.0104"), notice_date, None),
    ]
    _, notice = rate_sheets(conn)
    rows = sheet_rows(notice)
    assert {code: row["Change"] for code, row in rows.items()} == {
        "33": "Decrease",
        "44": "Increase",
        "447": "Increase",
        "4479": "Unchanged",
    }
    assert (rows["44"]["Rate"], rows["44"]["Previous Rate"]) == ("0.0104", "0.0093")
    assert rows["44"]["Effective Date"] == "2026-06-09T12:00:00Z"
    # the decrease is priced from the notice date too: the derivation is "as at" that date
    assert rows["33"]["Rate"] == "0.0115" and rows["33"]["Previous Rate"] == "0.0225"
    assert rows["4479"]["Previous Rate"] == rows["4479"]["Rate"] == "0.036"
    assert notice["counts"] == {
        "Increase": 2, "Decrease": 1, "New": 0, "Closed": 0, "Unchanged": 1
    }  # fmt: skip
    assert notice["notice_days"] == {"increase": 7, "closure": 7, "decrease": 0, "new": 0}


def test_a_code_no_vendor_prices_any_more_is_closed_after_the_notice(conn, market, tmp_path):
    derive(conn, market)
    later = NOW + timedelta(days=1)
    conn.execute(
        "UPDATE rates SET effective_to = %s WHERE tariff_id = %s AND prefix = '33'",
        (later, market["alpha"].id),
    )
    with pytest.raises(NoticeRefused, match=r"33 \(closure from 2026-06-02 12:00Z\)"):
        derive(conn, market, now=later)
    notices.set_period(conn, "acme", {Kind.CLOSURE: 2}, OLGA)
    outcome = derive(conn, market, now=later, at=later + timedelta(days=2))
    assert outcome.plan.counts == {Category.CLOSED: 1, Category.UNCHANGED: 3}
    assert [w[6] for w in windows(conn, market["acme"].id) if w[0] == "33"] == [
        later + timedelta(days=2)
    ]
    _, notice = rate_sheets(conn)
    rows = sheet_rows(notice)
    assert rows["33"]["Change"] == "Closed"
    assert rows["33"]["Effective Date"] == "2026-06-04T12:00:00Z"
    assert rows["44"]["Change"] == "Unchanged"
    # the customer's importer reads the sheet with its meaning
    target = tmp_path / "sheet.csv"
    target.write_bytes(dict(decoded(notice["files"]))[notice["files"][0]["name"]])
    deck = read_deck(target, currency="USD")
    assert deck.rates["33"].change is Change.CLOSED
    assert deck.rates["33"].effective_from == later + timedelta(days=2)
    assert deck.rates["4479"].change is Change.UNCHANGED


def test_a_tariff_no_customer_uses_owes_no_notice(conn, market):
    derive(conn, market)
    conn.execute("DELETE FROM devices")
    conn.execute("DELETE FROM originators")
    raise_vendor_rate(conn, market["bravo"], "44", "0.0090", NOW + timedelta(days=1))
    outcome = derive(conn, market, now=NOW + timedelta(days=1))
    assert outcome.plan.counts[Category.INCREASED] == 2
    assert outcome.notices == [] and len(rate_sheets(conn)) == 1


def test_the_cli_derives_with_a_dry_run_first_and_manages_notice_periods(
    conn, market, database_url, monkeypatch, capsys, tmp_path: Path
):
    monkeypatch.setenv("AKIRA_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_TEXT)
    command = ["tariff", "derive", "acme-usd", "--from", "alpha-usd", "bravo-usd"]
    command += ["--rules", str(rules)]
    assert main([*command, "--dry-run", "--explain", "why.csv"]) == 0
    out = capsys.readouterr().out
    assert "would" in out and "new 4" in out
    assert windows(conn, market["acme"].id) == []
    diff = list(csv.DictReader((tmp_path / "acme-usd.derive.diff.csv").open()))
    assert {row["prefix"]: row["change"] for row in diff}["447"] == "new"
    why = {row["prefix"]: row for row in csv.DictReader((tmp_path / "why.csv").open())}
    assert (why["447"]["vendor"], why["447"]["vendor_prefix"], why["447"]["rule"]) == (
        "bravo-usd",
        "44",
        "mobiles",
    )
    assert main([*command, "--by", "olga"]) == 0
    assert "rate sheet for acme: notice" in capsys.readouterr().out
    assert len(windows(conn, market["acme"].id)) == 4
    assert main(["notices", "set", "acme", "--increase-days", "14", "--by", "olga"]) == 0
    assert json.loads(capsys.readouterr().out)["increase_days"] == 14
    assert main(["notices", "show", "acme"]) == 0
    assert json.loads(capsys.readouterr().out)["closure_days"] == 7
    assert main(["notices", "sheets"]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert listed["company"] == "acme" and "files" not in listed
    assert main(["notices", "files", str(listed["id"]), "--out", "sheets"]) == 0
    assert sorted(p.suffix for p in (tmp_path / "sheets").iterdir()) == [".csv", ".xlsx"]
    raise_vendor_rate(conn, market["bravo"], "44", "0.0090", datetime.now(UTC) - WEEK)
    before = state(conn, market["acme"].id)
    assert main([*command, "--dry-run"]) == 1  # an increase now, 14 days owed
    assert "it would be refused: 2 change(s) of tariff acme-usd" in capsys.readouterr().err
    assert main(command) == 1
    assert "acme: increases 14 day(s)" in capsys.readouterr().err
    assert state(conn, market["acme"].id) == before
    assert main(["notices", "set", "nobody"]) == 1
    assert "no company named 'nobody'" in capsys.readouterr().err


def test_an_import_into_a_customer_tariff_is_held_to_the_notice_period(conn, market, tmp_path):
    """``akira import rates`` (store.apply) runs the same notice check inside its transaction:
    a deck raising a customer's rate from now is refused with the importer's own advice."""
    from admin.ratedecks.export import export

    derive(conn, market)
    deck_file = tmp_path / "acme.csv"
    export(conn, market["acme"].id, deck_file, now=NOW)
    rows = list(csv.reader(deck_file.open()))
    rate = rows[0].index("rate")
    for row in rows[1:]:
        row[rate] = str(D(row[rate]) * 2)  # every code dearer, from now
    with deck_file.open("w", newline="") as out:
        csv.writer(out).writerows(rows)
    before = state(conn, market["acme"].id)
    with pytest.raises(NoticeRefused) as refused:
        store.apply(conn, market["acme"], read_deck(deck_file), None, OLGA, now=NOW)
    assert "give those rows an effective date of" in str(refused.value)
    assert state(conn, market["acme"].id) == before
