"""Rate decks into tariffs on the real PostgreSQL (admin/ratedecks/store.py, ``akira import
rates``): history kept, all or nothing, the same deck twice changes nothing."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from admin import catalog
from admin.ratedecks import store
from admin.ratedecks.diff import Category, Omitted, OmittedMode, OmittedUnchosen
from admin.ratedecks.export import export
from admin.ratedecks.layout import PRESETS, LayoutError
from admin.ratedecks.normalize import read_deck
from admin.services import Actor
from admin.staleness import staleness
from tests.unit.test_ratedeck_samples import SAMPLES, SHARED, VARIANTS, VENDOR_A

pytestmark = [
    pytest.mark.integration,
]
ISSUE = datetime(2025, 1, 6, tzinfo=UTC)  # the vendor-A deck's issue date: its changes to come
OLGA = Actor("olga", "test")


@pytest.fixture
def tariff(conn) -> store.Tariff:
    tariff_id = catalog.tariff(conn, "Vendor A USD", [])
    conn.commit()
    return store.Tariff(tariff_id, "Vendor A USD", "USD")


def windows(conn, tariff_id: int) -> list[tuple]:
    return conn.execute(
        "SELECT prefix, rate, initial_increment, next_increment, connect_fee, effective_from,"
        " effective_to FROM rates WHERE tariff_id = %s ORDER BY prefix, effective_from",
        (tariff_id,),
    ).fetchall()


def audit_count(conn) -> int:
    return conn.execute("SELECT count(*) FROM audit_log WHERE action = 'import_rates'").fetchone()[
        0
    ]


def test_the_generated_deck_imports_with_its_schedule_and_again_changes_nothing(conn, tariff):
    deck = read_deck(VENDOR_A, currency="USD")
    before = staleness(conn).revision
    result = store.apply(conn, tariff, deck, None, OLGA, now=ISSUE)
    assert result.counts == {Category.NEW: 49_525, Category.CLOSED: 475}
    stored = windows(conn, tariff.id)
    assert len(stored) == 50_000 + 2_070 + 1_822 - sum(  # two windows for a scheduled change
        1
        for r in deck.rates.values()
        if r.previous_rate and r.effective_from <= ISSUE and r.previous_rate != r.rate
    )
    by_prefix: dict[str, list[tuple]] = {}
    for row in stored:
        by_prefix.setdefault(row[0], []).append(row)
    increase = next(r for r in deck.rates.values() if r.change == "increase")
    assert increase.effective_from > ISSUE
    assert [(w[1], w[5], w[6]) for w in by_prefix[increase.prefix]] == [
        (increase.previous_rate, ISSUE, increase.effective_from),
        (increase.rate, increase.effective_from, None),
    ]
    closed = next(r for r in deck.rates.values() if r.change == "closed")
    assert [(w[1], w[6]) for w in by_prefix[closed.prefix]] == [
        (closed.rate, closed.effective_from)
    ]
    assert staleness(conn).revision > before
    assert audit_count(conn) == 1

    revision = conn.execute("SELECT revision FROM tariffs WHERE id = %s", (tariff.id,)).fetchone()
    for moment in (ISSUE, datetime(2025, 1, 9, tzinfo=UTC)):  # before the changes start
        again = store.apply(conn, tariff, deck, None, OLGA, now=moment)
        assert again.writes == 0 and again.counts == {Category.UNCHANGED: 50_000}
    assert windows(conn, tariff.id) == stored
    assert conn.execute("SELECT revision FROM tariffs WHERE id = %s", (tariff.id,)).fetchone() == (
        revision
    )
    assert audit_count(conn) == 1


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_stores_the_vendor_decks_rates(conn, tariff, name):
    layout, fields = VARIANTS[name]
    deck = read_deck(SAMPLES / "variants" / name, layout, currency="USD")
    store.apply(conn, tariff, deck, None, OLGA, now=datetime(2026, 1, 1, tzinfo=UTC))
    reference = read_deck(VENDOR_A)
    got = {row[0]: row for row in windows(conn, tariff.id)}
    # closed codes (their dates are past by 2026) stop matching: no window
    assert set(got) == {prefix for prefix, r in deck.rates.items() if r.change != "closed"}
    for prefix, row in got.items():
        wanted = reference.rates[prefix]
        assert row[1] == wanted.rate
        if "initial_increment" in fields:
            assert (row[2], row[3]) == (wanted.initial_increment, wanted.next_increment)


def test_omitted_codes_close_at_a_date_or_stay(conn, tariff):
    small = SAMPLES / "variants" / "variant_ixc_semicolon_decimal_comma.csv"
    deck = read_deck(small, PRESETS["ixc"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store.apply(conn, tariff, deck, None, OLGA, now=start)
    fewer = read_deck(small, PRESETS["ixc"])
    dropped = list(fewer.rates)[:5]
    for prefix in dropped:
        del fewer.rates[prefix]
    stored = windows(conn, tariff.id)
    with pytest.raises(OmittedUnchosen, match="leaves out 5 code"):
        store.apply(conn, tariff, fewer, None, OLGA, now=start)
    conn.rollback()
    assert windows(conn, tariff.id) == stored
    kept = store.apply(conn, tariff, fewer, Omitted(OmittedMode.KEEP), OLGA, now=start)
    assert kept.writes == 0
    at = datetime(2026, 2, 1, tzinfo=UTC)
    closed = store.apply(conn, tariff, fewer, Omitted(OmittedMode.CLOSE, at), OLGA, now=start)
    assert closed.counts[Category.CLOSED] == 5
    ends = dict(
        conn.execute(
            "SELECT prefix, effective_to FROM rates WHERE tariff_id = %s AND prefix = ANY(%s)",
            (tariff.id, dropped),
        ).fetchall()
    )
    assert ends == dict.fromkeys(dropped, at)


def test_a_rate_change_keeps_the_history_a_rerate_reads(conn, tariff):
    catalog.copy_rates(
        conn, tariff.id, [catalog.RateRow("93", D("0.05"), "Afghanistan", 60, 60)]
    )  # since 2000 (catalog.EPOCH)
    path = Path(conn.info.dbname + ".csv")
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / path
    tmp.write_text("code,destination,rate,billing increment\n93,Afghanistan,0.04,60/60\n")
    now = datetime(2026, 3, 1, tzinfo=UTC)
    result = store.apply(conn, tariff, read_deck(tmp), None, OLGA, now=now)
    assert result.counts == {Category.DECREASED: 1}
    assert [(w[1], w[5], w[6]) for w in windows(conn, tariff.id)] == [
        (D("0.05"), catalog.EPOCH, now),  # the old rate still prices calls made before now
        (D("0.04"), now, None),
    ]


def akira(database_url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "admin.cli", "import", "rates", *args],
        env=os.environ | {"AKIRA_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def test_the_cli_previews_applies_and_saves_the_mapping(database_url, conn, tariff, tmp_path):
    ixc = SAMPLES / "variants" / "variant_ixc_semicolon_decimal_comma.csv"
    diff = tmp_path / "diff.csv"
    preview = akira(database_url, str(ixc), "--tariff", tariff.name, "--mapping", "ixc",
                    "--dry-run", "--diff", str(diff))  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    assert "new 215" in preview.stdout and "would" in preview.stdout
    with diff.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 215 and rows[0]["change"] == "new" and rows[0]["new_rate"] == "0.03284"
    assert windows(conn, tariff.id) == []

    applied = akira(database_url, str(ixc), "--tariff", tariff.name, "--mapping", "ixc",
                    "--save-mapping", "Vendor A IXC", "--by", "olga")  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert len(windows(conn, tariff.id)) == 215
    audit = conn.execute("SELECT username, entity, action FROM audit_log ORDER BY id").fetchall()
    assert audit == [("olga", "tariff", "import_rates"), ("olga", "rate_deck_mapping", "create")]
    # the saved mapping is the tariff's: the next deck needs no --mapping
    again = akira(database_url, str(ixc), "--tariff", tariff.name)
    assert again.returncode == 0, again.stderr
    assert "mapping Vendor A IXC (saved for this tariff or its terminator)" in again.stdout
    assert "unchanged 215" in again.stdout and "nothing changed" in again.stdout


def test_the_cli_refuses_a_broken_deck_by_row_and_writes_nothing(
    database_url, conn, tariff, tmp_path
):
    deck = tmp_path / "broken.csv"
    deck.write_text("Code,Destination,Rate\n93,Afghanistan,0.03\n9370,AWCC,0,16\n93,Again,0.1\n")
    before = (staleness(conn).revision, windows(conn, tariff.id))
    refused = akira(database_url, str(deck), "--tariff", tariff.name)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "akira import rates: row 3, row: 4 fields, the header has 3 (a decimal comma or an "
        "unquoted separator in a field?)",
        "akira import rates: row 4, Code: 93 is on row 2 too",
        "akira import rates: 2 error(s): nothing imported",
    ]
    conn.rollback()
    assert (staleness(conn).revision, windows(conn, tariff.id)) == before
    missing = akira(database_url, str(deck), "--tariff", "No Such Tariff")
    assert missing.returncode == 1 and "no tariff named 'No Such Tariff'" in missing.stderr


def test_omitted_codes_without_a_choice_are_refused_by_the_cli(
    database_url, conn, tariff, tmp_path
):
    catalog.copy_rates(conn, tariff.id, [catalog.RateRow("44", D("0.01"))])
    conn.commit()
    deck = tmp_path / "deck.csv"
    deck.write_text("code,rate\n93,0.03\n")
    refused = akira(database_url, str(deck), "--tariff", tariff.name)
    assert refused.returncode == 1 and "choose what becomes of them" in refused.stderr
    closed = akira(database_url, str(deck), "--tariff", tariff.name, "--omitted", "close")
    assert closed.returncode == 0, closed.stderr
    assert "closed 1" in closed.stdout and "new 1" in closed.stdout


GENERATOR = SHARED / "numbering" / "gen_ratedeck.py"


def test_a_freshly_generated_deck_imports(conn, tariff, tmp_path):
    pytest.importorskip("phonenumbers")  # the bench extra (pyproject.toml)
    out = tmp_path / "vendorB.csv"
    subprocess.run(
        [sys.executable, str(GENERATOR), "--rows", "3000", "--seed", "7", "--vendor", "VENDOR-B",
         "--issue-date", "2026-12-01", "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    deck = read_deck(out, currency="USD")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    result = store.apply(conn, tariff, deck, None, OLGA, now=now)
    assert sum(result.counts.values()) == 3000 == len(deck.rates)
    assert store.apply(conn, tariff, deck, None, OLGA, now=now).writes == 0


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_export_imports_back_to_the_same_windows(database_url, conn, tariff, tmp_path, suffix):
    deck = read_deck(VENDOR_A, currency="USD")
    store.apply(conn, tariff, deck, None, OLGA, now=ISSUE)
    conn.commit()
    out = tmp_path / f"export{suffix}"
    exported = subprocess.run(
        [sys.executable, "-m", "admin.cli", "export", "rates", "--tariff", tariff.name,
         "--out", str(out)],
        env=os.environ | {"AKIRA_DATABASE_URL": database_url}, capture_output=True, text=True,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    # windows that ended before today are history, not exported: compare what is still to come
    now = datetime.now(UTC)
    back = read_deck(out, PRESETS["canonical"], currency="USD")
    assert sum(1 + len(back.later.get(p, [])) for p in back.rates) == len(
        [w for w in windows(conn, tariff.id) if w[6] is None or w[6] > now]
    )
    again = store.apply(conn, tariff, back, Omitted(OmittedMode.KEEP), OLGA, now=now)
    assert again.writes == 0


def test_names_with_backslashes_and_tabs_read_back_the_same(conn, tariff, tmp_path):
    deck_file = tmp_path / "names.csv"
    deck_file.write_text('code,destination,rate\n93,"Kabul\\\\Fixed\tzone",0.1\n94,Côte,0.2\n')
    deck = read_deck(deck_file)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    store.apply(conn, tariff, deck, None, OLGA, now=now)
    assert store.current_windows(conn, tariff.id, now)["93"][0].terms.destination == (
        "Kabul\\\\Fixed zone"
    )
    assert store.apply(conn, tariff, deck, None, OLGA, now=now).writes == 0


def test_a_scheduled_increase_routes_at_each_rate_without_a_publish(conn, redis_client, tmp_path):
    """Imported decks, published once: the engine prices with the previous rate until the
    increase's date and with the new one after it, and routes to the vendor that is cheapest at
    each time (the vendor's own scheduled decrease included)."""
    from admin import simulate
    from admin.publisher import publish

    issue = datetime.now(UTC).replace(microsecond=0)
    later = (issue + timedelta(days=7)).date().isoformat()
    customer_deck = tmp_path / "customer.csv"
    customer_deck.write_text(
        "Code,Destination,Rate,Previous Rate,Effective Date,Change,Billing Increment\n"
        f"93,Afghanistan,0.09,0.06,{later},Increase,60/60\n"
        f"9370,Afghanistan Mobile,0.2,,2024-01-01,Unchanged,60/60\n"
    )
    vendor_decks = {
        "cheap-now": f"93,Afghanistan,0.02,0.01,{later},Increase,60/60\n",
        "cheap-later": f"93,Afghanistan,0.015,0.03,{later},Decrease,60/60\n",
    }
    header = "Code,Destination,Rate,Previous Rate,Effective Date,Change,Billing Increment\n"
    customer_id = catalog.company(conn, "Customer", customer=True)
    customer_tariff = catalog.tariff(conn, "Customer USD", [])
    terminators = []
    for port, (name, rows) in enumerate(vendor_decks.items(), start=25_101):
        company_id = catalog.company(conn, f"Vendor {name}", vendor=True)
        tariff_id = catalog.tariff(conn, f"Vendor {name} USD", [])
        path = tmp_path / f"{name}.csv"
        path.write_text(header + rows)
        store.apply(conn, store.Tariff(tariff_id, name, "USD"), read_deck(path), None, OLGA)
        terminators.append(
            catalog.terminator(conn, company_id, name, tariff_id, [("127.0.0.1", port, "udp")])
        )
    plan_id = catalog.routing_plan(conn, "LCR", terminators)
    catalog.originator(conn, customer_id, "customer", customer_tariff, plan_id, ["127.0.0.9/32"])
    store.apply(
        conn, store.Tariff(customer_tariff, "Customer USD", "USD"), read_deck(customer_deck),
        None, OLGA,
    )  # fmt: skip
    conn.commit()
    snapshot_dir = str(tmp_path / "snapshots")
    publish(conn, redis_client, published_by="test", snapshot_dir=snapshot_dir, node_wait=0)
    snapshot = simulate.live_snapshot(redis_client, snapshot_dir)

    def decision(at: datetime) -> tuple[str, list[str]]:
        call = simulate.simulate(
            snapshot, simulate.request("93201234567", src_ip="127.0.0.9", at=at)
        )
        return call["customer_rate"]["rate"], [route["terminator"] for route in call["routes"]]

    before = decision(issue + timedelta(days=1))
    after = decision(issue + timedelta(days=8))
    assert before == ("0.06", ["cheap-now", "cheap-later"])
    assert after == ("0.09", ["cheap-later", "cheap-now"])


def test_a_mapping_saved_for_a_terminator_reads_its_next_deck(database_url, conn, tariff, tmp_path):
    vendor = catalog.company(conn, "Vendor A", vendor=True)
    catalog.terminator(conn, vendor, "vendor-a", tariff.id, [("127.0.0.1", 25_101, "udp")])
    conn.commit()
    sync = SAMPLES / "variants" / "variant_syncswitch_noheader.csv"
    first = akira(database_url, str(sync), "--tariff", tariff.name, "--mapping", "syncswitch",
                  "--save-mapping", "SyncSwitch", "--for-terminator", "vendor-a")  # fmt: skip
    assert first.returncode == 0, first.stderr
    owner = conn.execute("SELECT terminator_id, tariff_id FROM rate_deck_mappings").fetchone()
    assert owner[0] is not None and owner[1] is None
    again = akira(database_url, str(sync), "--tariff", tariff.name)
    assert again.returncode == 0, again.stderr
    assert "mapping SyncSwitch" in again.stdout and "unchanged 215" in again.stdout
    headerless = akira(database_url, str(sync), "--tariff", tariff.name, "--mapping", "nope")
    assert headerless.returncode == 1 and "no saved mapping named 'nope'" in headerless.stderr


def test_an_export_in_a_vendors_layout_imports_back_with_it(database_url, conn, tariff, tmp_path):
    ixc = SAMPLES / "variants" / "variant_ixc_semicolon_decimal_comma.csv"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    store.apply(conn, tariff, read_deck(ixc, PRESETS["ixc"]), None, OLGA, now=now)
    out = tmp_path / "ixc.csv"
    assert export(conn, tariff.id, out, layout=PRESETS["ixc"], now=now) == 215
    assert "93;Afghanistan - Fixed;0,03284" in out.read_text().splitlines()
    again = store.apply(conn, tariff, read_deck(out, PRESETS["ixc"]), None, OLGA, now=now)
    assert again.writes == 0
    # a scheduled change cannot be said in a layout without dates: refused, not flattened
    later = tmp_path / "later.csv"
    later.write_text("code,rate,effective_date\n93,0.5,2026-02-01\n")
    store.apply(conn, tariff, read_deck(later), Omitted(OmittedMode.KEEP), OLGA, now=now)
    with pytest.raises(LayoutError, match="93 has a window ending 2026-02-01: this layout"):
        export(conn, tariff.id, tmp_path / "no.csv", layout=PRESETS["ixc"], now=now)
