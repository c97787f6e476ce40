"""Generated A-Z decks, imported by the real importer, routed by the real Kamailio: each sampled
number reaches the vendor a brute-force reference over the decks picks — before and after a
scheduled increase takes effect, with one publish (issue 9).

What the test does:

- ``tests/data/shared/numbering/gen_ratedeck.py`` makes a 3,000-row deck for each of three
  vendors (own seed and vendor name: other prices, and besides the codes all three share some
  codes of their own, so the longest prefix differs between vendors for some numbers; issue
  date today, so its Increase rows are 7 days ahead with their Previous Rate). Its numbering
  data (6 s of libphonenumber work that depends on no argument) is collected once for the
  three runs.
- Among the Increase rows, those whose new rate would change the cheapest vendor of a number
  in the code are found with the reference; up to ``FLIPS`` of them get their Effective Date
  rewritten to ``LEAD`` seconds from now (an ISO 8601 UTC time, which the importer reads as
  is): each is then a scheduled increase a few seconds ahead. The others keep the generator's
  dates (a week ahead: their previous rate holds throughout the test).
- Each deck goes through ``read_deck`` and ``store.apply`` — what ``akira import rates`` runs —
  into an empty vendor tariff; a customer tariff at 50.00/min on every first digit keeps
  margin protection from dropping any vendor; one publish; a SIPp UAS per terminator.
- ``SAMPLES`` codes drawn uniformly from the union of the decks' codes, and the flipping codes,
  each extended with digits to a number; one SIPp call per number before the flip time and one
  after it, with no publish between: each INVITE must reach the vendor the reference picks at
  that time (longest prefix per vendor in force then; cheapest rate; ties by plan priority,
  then terminator id — ``kemi.lcr.least_cost``).
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from types import ModuleType

import pytest

from admin import catalog
from admin.catalog import RateRow
from admin.ratedecks import store
from admin.ratedecks.normalize import read_deck
from admin.services import Actor
from kemi.snapshot_files import installed_version
from tests.e2e.conftest import ROOT
from tests.e2e.ports import port

pytestmark = pytest.mark.e2e

GENERATOR = ROOT / "tests" / "data" / "shared" / "numbering" / "gen_ratedeck.py"
VENDORS = {  # name -> (generator seed, generator vendor label, SIPp UAS port)
    "alpha": (101, "VENDOR-ALPHA", port(81)),
    "bravo": (202, "VENDOR-BRAVO", port(82)),
    "charlie": (303, "VENDOR-CHARLIE", port(83)),
}
ROWS = 3000  # per deck
SAMPLES = 40  # codes drawn uniformly, besides the flipping ones
FLIPS = 8  # at most this many Increase rows are moved to the flip time
LEAD = 12  # seconds from writing the decks to the flip: the import, publish and first calls
CUSTOMER_IP = "127.0.0.2"
CUSTOMER_RATE = D("50.00")  # per minute: above every generated vendor rate (at most ~9.5)
PRIORITY = 100  # catalog.routing_plan's default for every entry
CONCURRENT_CALLS = 8


# --- the generator ---------------------------------------------------------------------------


def generator() -> ModuleType:
    """gen_ratedeck.py as a module whose numbering data is collected once for every deck."""
    spec = importlib.util.spec_from_file_location("akira_e2e_gen_ratedeck", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    collect, collected = module.collect_prefixes, []

    def collect_once(numbering):
        if not collected:
            collected.append(collect(numbering))
        rows, *tiers = collected[0]
        return (dict(rows), *tiers)  # main() adds synthetic children to its copy

    module.collect_prefixes = collect_once
    return module


def generate(workdir: Path, issue: str) -> dict[str, Path]:
    module = generator()
    decks = {}
    for name, (seed, label, _) in VENDORS.items():
        decks[name] = workdir / f"{name}.csv"
        with contextlib.redirect_stderr(io.StringIO()):  # its summary as JSON
            module.main(
                ["--rows", str(ROWS), "--seed", str(seed), "--vendor", label,
                 "--issue-date", issue, "--out", str(decks[name])]
            )  # fmt: skip
    return decks


def rewrite_dates(path: Path, codes: set[str], effective: datetime) -> None:
    """The rows of ``codes`` take effect at ``effective`` (an ISO 8601 UTC time)."""
    with path.open(newline="", encoding="utf-8") as deck:
        rows = list(csv.reader(deck))
    header = rows[0]
    code, date = header.index("Code"), header.index("Effective Date")
    for row in rows[1:]:
        if row[code] in codes:
            row[date] = effective.strftime("%Y-%m-%dT%H:%M:%SZ")
    with path.open("w", newline="", encoding="utf-8") as deck:
        csv.writer(deck, lineterminator="\r\n").writerows(rows)


# --- the reference: plain Python over the deck's rows ----------------------------------------


@dataclass(frozen=True)
class Row:
    code: str
    change: str
    rate: D
    previous: D | None
    effective: datetime


def parse(path: Path) -> dict[str, Row]:
    rows = {}
    with path.open(newline="", encoding="utf-8") as deck:
        for cells in csv.DictReader(deck):
            text = cells["Effective Date"]
            effective = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if effective.tzinfo is None:
                effective = effective.replace(tzinfo=UTC)
            previous = cells["Previous Rate"]
            rows[cells["Code"]] = Row(
                cells["Code"],
                cells["Change"],
                D(cells["Rate"]),
                D(previous) if previous else None,
                effective,
            )
    return rows


def rate_at(row: Row, at: datetime) -> D | None:
    """The row's rate in force at ``at`` (a time after the import), as docs/ratedecks.md says
    a deck means: Closed prices until its date, New from it, any other row its rate from its
    date and its previous rate (if it gives one) until then."""
    if row.change == "Closed":
        return row.rate if at < row.effective else None
    if at >= row.effective:
        return row.rate
    return None if row.change == "New" else row.previous


def vendor_rate(deck: dict[str, Row], number: str, at: datetime) -> D | None:
    """The rate of the vendor's longest prefix of ``number`` that is in force at ``at``."""
    for length in range(len(number), 0, -1):
        row = deck.get(number[:length])
        if row is not None:
            rate = rate_at(row, at)
            if rate is not None:
                return rate
    return None


def first_vendor(
    decks: dict[str, dict[str, Row]], ids: dict[str, int], number: str, at: datetime
) -> str | None:
    """Cheapest vendor no dearer than the customer; ties: plan priority, then terminator id."""
    offers = []
    for name, deck in decks.items():
        rate = vendor_rate(deck, number, at)
        if rate is not None and rate <= CUSTOMER_RATE:
            offers.append((rate, PRIORITY, ids[name], name))
    return min(offers)[3] if offers else None


def number_for(code: str) -> str:
    """A number in ``code``: the code and 4 to 7 more digits (15 at most), the same every run."""
    rng = random.Random(f"number:{code}")
    length = min(15, len(code) + rng.randint(4, 7))
    return code + "".join(rng.choice("0123456789") for _ in range(length - len(code)))


def flipping_increases(
    decks: dict[str, dict[str, Row]], ids: dict[str, int], flip: datetime
) -> list[tuple[str, str]]:
    """(vendor, code) of the Increase rows that, moved to ``flip``, change the first vendor of
    the code's number between just before ``flip`` and ``flip``."""
    found = []
    before = flip - timedelta(seconds=1)
    for name, deck in decks.items():
        for code, row in sorted(deck.items()):
            if row.change != "Increase" or row.previous is None:
                continue
            moved = {**decks, name: {**deck, code: replace(row, effective=flip)}}
            number = number_for(code)
            if first_vendor(moved, ids, number, before) != first_vendor(moved, ids, number, flip):
                found.append((name, code))
    return found


# --- the platform ----------------------------------------------------------------------------


def load_catalog(conn) -> dict[str, int]:
    """Three vendors with empty tariffs, a least-cost plan over them, one customer."""
    ids: dict[str, int] = {}
    with conn.transaction():
        for name, (_, _, sip_port) in VENDORS.items():
            company_id = catalog.company(conn, f"Vendor {name}", vendor=True)
            tariff_id = catalog.tariff(conn, f"{name} deck", [])
            ids[name] = catalog.terminator(
                conn, company_id, name, tariff_id, [("127.0.0.1", sip_port, "udp")]
            )
        plan_id = catalog.routing_plan(conn, "LCR", [ids[name] for name in VENDORS])
        customer_tariff = catalog.tariff(
            conn,
            "customer price list",
            [
                RateRow(d, CUSTOMER_RATE, initial_increment=60, next_increment=60)
                for d in "123456789"
            ],
        )
        company_id = catalog.company(conn, "Customer", customer=True)
        catalog.originator(
            conn, company_id, "customer", customer_tariff, plan_id, [f"{CUSTOMER_IP}/32"]
        )
    return ids


def import_deck(conn, tariff_name: str, path: Path) -> None:
    """What ``akira import rates PATH --tariff NAME`` runs (admin/ratedecks/cli.py)."""
    tariff = store.find_tariff(conn, tariff_name)
    deck = read_deck(path, None, currency=tariff.currency)
    result = store.apply(conn, tariff, deck, None, Actor("e2e", "cli"), source=str(path))
    assert sum(result.counts.values()) == ROWS, result.counts


def place_calls(platform, numbers: list[str]) -> None:
    with ThreadPoolExecutor(CONCURRENT_CALLS) as pool:
        results = list(pool.map(lambda n: platform.call(n, CUSTOMER_IP, hold_ms=0), numbers))
    failed = [(n, r) for n, r in zip(numbers, results, strict=True) if not r.ok]
    assert not failed, f"{len(failed)} calls failed; {failed[0][0]}: {failed[0][1].explain()}"


def reached(vendors, skip: dict[str, int], expected: int) -> dict[str, str]:
    """number -> vendor, for the INVITEs each vendor logged after its first ``skip[name]``;
    polled until ``expected`` numbers are logged (SIPp writes its message file as it goes)."""
    deadline = time.monotonic() + 10
    while True:
        invited = {name: v.invited()[skip[name] :] for name, v in vendors.items()}
        if len(set().union(*invited.values())) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    found: dict[str, str] = {}
    for name, numbers in invited.items():
        for number in numbers:  # a retransmitted INVITE is no second route
            assert found.setdefault(number, name) == name, f"{number}: {found[number]}, {name}"
    return found


def wrong(got: dict[str, str], expected: dict[str, str | None]) -> list[tuple[str, str, str]]:
    """(number, vendor expected, vendor reached or "-") where they differ."""
    return [(n, str(v), got.get(n, "-")) for n, v in expected.items() if got.get(n) != v] + [
        (n, "-", v) for n, v in got.items() if n not in expected
    ]


def test_generated_decks_route_to_the_reference_vendor_before_and_after_an_increase(platform):
    started = time.monotonic()
    ids = load_catalog(platform.conn)
    vendors = {name: platform.vendor(name, sip_port) for name, (_, _, sip_port) in VENDORS.items()}
    paths = generate(platform.workdir, datetime.now(UTC).date().isoformat())
    flip = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD)
    generated = {name: parse(path) for name, path in paths.items()}
    candidates = flipping_increases(generated, ids, flip)
    moved = random.Random(9).sample(candidates, min(FLIPS, len(candidates)))
    for name, path in paths.items():
        rewrite_dates(path, {code for vendor, code in moved if vendor == name}, flip)
    decks = {name: parse(path) for name, path in paths.items()}  # what is imported

    codes = sorted(set().union(*decks.values()))
    sampled = random.Random(2026).sample(codes, SAMPLES) + [code for _, code in moved]
    numbers = list(dict.fromkeys(number_for(code) for code in sampled))
    before = {n: first_vendor(decks, ids, n, flip - timedelta(seconds=1)) for n in numbers}
    after = {n: first_vendor(decks, ids, n, flip) for n in numbers}
    flipped = [n for n in numbers if before[n] != after[n]]
    assert None not in before.values() and None not in after.values()
    assert len(flipped) >= 3, f"only {len(flipped)} numbers change vendor: {candidates}"

    for name, path in paths.items():
        import_deck(platform.conn, f"{name} deck", path)
    imported = time.monotonic()
    publication = platform.publish()
    published = time.monotonic()

    place_calls(platform, numbers)
    first_calls = time.monotonic()
    if datetime.now(UTC) >= flip - timedelta(seconds=1):
        pytest.fail(
            f"the calls before the flip ended after it: generate+import {imported - started:.1f} s,"
            f" publish {published - imported:.1f} s, calls {first_calls - published:.1f} s;"
            f" LEAD ({LEAD} s) is too short for this machine"
        )
    got = reached(vendors, dict.fromkeys(VENDORS, 0), len(numbers))
    assert not wrong(got, before), f"before the increases: {wrong(got, before)}"

    while (left := (flip - datetime.now(UTC)).total_seconds()) > 0:
        time.sleep(left)  # until the increases take effect: the clock, not a guess
    counts = {name: len(v.invited()) for name, v in vendors.items()}
    place_calls(platform, numbers)
    got = reached(vendors, counts, len(numbers))
    assert not wrong(got, after), f"after the increases: {wrong(got, after)}"
    assert installed_version(str(platform.kamailio.snapshot_dir)) == publication.version
    print(
        f"{len(numbers)} numbers x 2 calls, {len(flipped)} flips"
        f" ({len(moved)} of {len(candidates)} flipping increases moved);"
        f" generate+import {imported - started:.1f} s, publish {published - imported:.1f} s,"
        f" first calls {first_calls - published:.1f} s, total {time.monotonic() - started:.1f} s"
    )
