"""The 1M-prefix x 21-tariff catalog: generated decks, their rows, and the PostgreSQL load.

DESIGN §3 sizes the snapshot for decks of millions of prefixes x dozens of vendors. The shared
50k deck is too small to show that, so this module makes 21 decks of 1M codes each with the
shared generator (``shared/data/numbering/gen_ratedeck.py``, same bytes for the same seed and
``phonenumbers`` version), one seed per deck: different seeds pick different synthetic child
codes and different rates, so the 21 tariffs overlap the way real vendors' decks do (the 316,900
real codes in all of them, the 683,100 one-digit-deeper breakouts differing).

Deck 1 priced x1.25 is the customer's tariff; decks 2…21 are the 20 vendors'. Generation takes
~46 s and ~1.3 GB per deck, so decks are cached under ``/var/tmp/akira-bench/decks`` and checked
by sha256 and by their meta file before reuse.

Run from ``bench/``:  ``../.venv/bin/python -m callbench.bigdeck generate|load-db``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from callbench.dictindex import Terms

SHARED_DATA = Path("/work/shared/data/numbering")
GENERATOR = SHARED_DATA / "gen_ratedeck.py"
SMALL_DECK = SHARED_DATA / "ratedeck_50k_seed42_vendorA.csv"
CACHE = Path(os.environ.get("AKIRA_BENCH_CACHE", "/var/tmp/akira-bench"))
DECKS = CACHE / "decks"
PHONENUMBERS_VERSION = "9.0.43"
ISSUE_DATE = date(2025, 1, 6)  # the generator's default: Increase/Closed take effect +7 days
ROWS = 1_000_000
DECK_COUNT = 21  # deck 1: the customer's (x1.25); decks 2..21: the vendors'
CUSTOMER_MARKUP = Decimal("1.25")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # admin.catalog.EPOCH: "since ever"
EPOCH_S = EPOCH.timestamp()
DATABASE_NAME = "akira_bigdeck"
DEFAULT_DATABASE = f"postgresql://akira:akira@127.0.0.1:5432/{DATABASE_NAME}"

# sha256 of each generated deck (phonenumbers 9.0.43): a deck that differs is regenerated.
EXPECTED_SHA256: dict[int, str] = {
    1: "4ec521ce7f1517368e71577e1f4e661a79a6045881b7b77fdab8865d3a202ffa",
    2: "14891aedce09439e7d8f8a350ecd9c8f7ac9a1360b96a01d271429f332034c05",
    3: "04fb9192c086a805f537e57b920ca73164de31649ccc76af91e3cb3704b599cd",
    4: "ca45ab79473bfd58447fb2f8ad210ee6aea408787d0bc9f8bfb6f00ed5751d9b",
    5: "ab1ab266c18dc63dc1a939538ded78d2950b2419ced9ae19114a749c231f2e9a",
    6: "4b07ed5872ce25fa3bc6df2fd1eb95e6789767a8ab618bebd9cbc49cd6050f8c",
    7: "7be12774ff0e5fe99bee7e2c7b57447d3def0975789247a263caf20fb45dedf5",
    8: "a2c7873ee2159100ffb6d62c5023fa08063d80338e6a0f600c736c23daafc8d9",
    9: "4be7a4061fe8ed68292c9d54003f62451cae5a92b5fcb83154fb53f110941ead",
    10: "407667764e32147b2b5dfbcfa035456c8de75f67929f3b9fa08582365b022009",
    11: "6a595da2f733726d7056141c3c65483131a50ff974d85912404943ae248eb38e",
    12: "ec166ea55568f1a395b47a195a3d2c75badff599059fef9c8e3e1540542723b4",
    13: "c4e868028a5908a7a6bf8e97b3b6a8d95035aaa17d4431f62aace709093e7f27",
    14: "64315a1a58074268d4e62cb95a56f4d6e0eda87365ffe113b6a695c9e29ec109",
    15: "5e04e433abe8b076b5b23d768886eb91a6a3535860be0f50e5768550bde12af3",
    16: "bad1a227c085161d0fb00181c2830474020ff3ec94771e4c48495ecb6bac28dd",
    17: "e26ab1cfe505f84b828e9c348303076f6fcab567f4a19f3d7126849280cf0c8c",
    18: "988bfbec03f6f00b3cb66431685b50a1f92b3b574067d49f3d03a59787ed6e78",
    19: "faac5ac1fb22368d1e56bddf4ec7ebef91081146713c3cf8580785055f7a75c3",
    20: "a41d6447f946416377b3a21f9f3a542fff320019d3f2de1248cb32793b2671ab",
    21: "b6613a30dac1e4405b5efdbb45b62844a0d7cda89ed85edf7b5fbaf427672f40",
}


@dataclass(frozen=True, slots=True)
class DeckSpec:
    """One deck of the catalog: its generator arguments and where it is cached."""

    number: int  # 1..21
    rows: int = ROWS

    @property
    def seed(self) -> int:
        return self.number

    @property
    def vendor(self) -> str:
        return f"V{self.number:02d}"

    @property
    def csv(self) -> Path:
        return DECKS / f"deck_{self.rows}_seed{self.seed}_{self.vendor}.csv"

    @property
    def meta(self) -> Path:
        return self.csv.with_suffix(".meta.json")

    @property
    def digest_file(self) -> Path:
        return self.csv.with_suffix(".sha256")


def specs(count: int = DECK_COUNT, rows: int = ROWS) -> list[DeckSpec]:
    return [DeckSpec(n, rows) for n in range(1, count + 1)]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def is_cached(spec: DeckSpec) -> bool:
    """The deck is there, its meta says it is the deck asked for, and its bytes are unchanged."""
    if not (spec.csv.exists() and spec.meta.exists() and spec.digest_file.exists()):
        return False
    meta = json.loads(spec.meta.read_text())
    wanted = {
        "rows": spec.rows,
        "seed": spec.seed,
        "vendor": spec.vendor,
        "issue_date": ISSUE_DATE.isoformat(),
        "phonenumbers_version": PHONENUMBERS_VERSION,
    }
    if any(meta.get(key) != value for key, value in wanted.items()):
        return False
    return sha256_of(spec.csv) == spec.digest_file.read_text().split()[0]


def generate_one(spec: DeckSpec) -> float:
    """Run the shared generator for one deck; returns its wall time (0 when cached)."""
    if is_cached(spec):
        return 0.0
    DECKS.mkdir(parents=True, exist_ok=True)
    partial = spec.csv.with_suffix(".partial.csv")
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--rows",
            str(spec.rows),
            "--seed",
            str(spec.seed),
            "--vendor",
            spec.vendor,
            "--issue-date",
            ISSUE_DATE.isoformat(),
            "--out",
            str(partial),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    partial.with_suffix(".meta.json").replace(spec.meta)
    partial.replace(spec.csv)
    digest = sha256_of(spec.csv)
    spec.digest_file.write_text(f"{digest}  {spec.csv.name}\n")
    expected = EXPECTED_SHA256.get(spec.number) if spec.rows == ROWS else None
    if expected and digest != expected:
        print(
            f"warning: {spec.csv.name} differs from the deck these benchmarks were measured on "
            f"(sha256 {digest[:12]}…, expected {expected[:12]}…): check phonenumbers' version",
            file=sys.stderr,
        )
    return elapsed


def generate(decks: Sequence[DeckSpec], parallel: int = 2) -> dict[int, float]:
    """Generate the decks not cached, ``parallel`` at a time (each needs ~1.3 GB and one core)."""
    with ThreadPoolExecutor(parallel) as pool:
        return dict(zip((s.number for s in decks), pool.map(generate_one, decks), strict=True))


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeckRate:
    """One window of one code, as the catalog stores it (admin.catalog.RateRow's fields)."""

    prefix: str
    destination: str
    terms: Terms


def read_deck(path: Path, factor: Decimal = Decimal(1)) -> Iterator[DeckRate]:
    """The deck's windows as the importer reads them (``admin.ratedecks``, docs/ratedecks.md:
    the one reader of decks), seen from ``EPOCH`` so every scheduled change is in the windows,
    with ``factor`` applied to every rate and fee (exactly; the result must fit
    numeric(18, 8)):

    - ``Closed``: the code is priced until its Effective Date, then falls to its parent;
    - ``New``: priced from its Effective Date;
    - a Previous Rate that differs (``Increase``/``Decrease``): the previous rate until the
      Effective Date, the new one from then on (carriers' 7-day notice of an increase);
    - otherwise (``Unchanged``): the rate throughout.

    Equal terms are one object, so a 1M-code deck holds a few tens of thousands of Terms.
    """
    from admin.ratedecks.diff import timeline_of
    from admin.ratedecks.normalize import read_deck as read_rates

    meta = json.loads(path.with_suffix(".meta.json").read_text()) if path.suffix else {}
    columns = meta.get("columns")
    if columns:
        with path.open(newline="", encoding="utf-8") as deck:
            header = next(csv.reader(deck))
        if header != columns:
            raise ValueError(f"{path}: header {header} is not the meta file's {columns}")
    shared: dict[tuple, Terms] = {}
    decimals: dict[Decimal, Decimal] = {}

    def money(value: Decimal) -> Decimal:
        found = decimals.get(value)
        if found is None:
            found = value * factor
            if found != found.quantize(Decimal("0.00000001")):
                raise ValueError(f"{value} x {factor} does not fit numeric(18, 8)")
            found = decimals[value] = found.normalize() if found else Decimal(0)
        return found

    for prefix, rate in read_rates(path).rates.items():
        for window in timeline_of(rate, EPOCH, None):
            t = window.terms
            key = (
                money(t.rate),
                t.initial_increment,
                t.next_increment,
                money(t.connect_fee),
                window.start.timestamp(),
                None if window.end is None else window.end.timestamp(),
            )
            terms = shared.get(key)
            if terms is None:
                terms = shared[key] = Terms(*key)
            yield DeckRate(prefix, rate.destination, terms)


TariffRows = list[tuple[str, Terms]]  # (prefix, terms): what a snapshot structure is built from


def tariff_rows(path: Path, factor: Decimal = Decimal(1)) -> TariffRows:
    """A deck's windows without destinations, cached next to the deck (pickle, ~3x faster)."""
    cached = path.with_suffix(f".x{factor}.rows.pickle")
    if cached.exists() and cached.stat().st_mtime >= path.stat().st_mtime:
        with cached.open("rb") as f:
            return pickle.load(f)
    rows = [(sys.intern(r.prefix), r.terms) for r in read_deck(path, factor)]
    if path.parent == DECKS:
        temp = cached.with_suffix(".tmp")
        with temp.open("wb") as f:
            pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
        temp.replace(cached)
    return rows


@dataclass(frozen=True, slots=True)
class Catalog:
    """The tariffs of one routing decision: the customer's, then the plan's vendors in order."""

    customer: TariffRows
    vendors: list[tuple[str, TariffRows]]


def big_catalog(count: int = DECK_COUNT) -> Catalog:
    decks = specs(count)
    return Catalog(
        tariff_rows(decks[0].csv, CUSTOMER_MARKUP),
        [(spec.vendor, tariff_rows(spec.csv)) for spec in decks[1:]],
    )


def small_catalog(vendors: int = DECK_COUNT - 1) -> Catalog:
    """The shared 50k deck as customer (x1.25) and ``vendors`` vendors, each priced by its own
    exact per-code factor, so the comparison at 50k has the same shape as at 1M."""
    base = tariff_rows(SMALL_DECK)
    factors = [Decimal(f"0.{80 + 2 * i:02d}") for i in range(vendors)]  # 0.80 .. 1.18

    def priced(factor: Decimal, salt: int) -> TariffRows:
        out: TariffRows = []
        memo: dict[Terms, Terms] = {}
        for prefix, terms in base:
            # per-code spread, deterministic: each vendor is the cheapest somewhere
            spread = factor + Decimal((hash_code(prefix, salt) % 21) - 10) / 100
            key = terms._replace(rate=terms.rate * spread)
            out.append((prefix, memo.setdefault(key, key)))
        return out

    customer = [(p, t._replace(rate=t.rate * CUSTOMER_MARKUP)) for p, t in base]
    return Catalog(customer, [(f"S{i + 2:02d}", priced(f, i)) for i, f in enumerate(factors)])


def hash_code(code: str, salt: int) -> int:
    """A stable per-code integer (no PYTHONHASHSEED dependence)."""
    return int.from_bytes(hashlib.blake2b(f"{salt}:{code}".encode(), digest_size=4).digest())


# --- PostgreSQL ----------------------------------------------------------------------------


def recreate_database(database_url: str, allowed: str = DATABASE_NAME) -> None:
    """Drop and re-create the bench's own database (named ``allowed``, no other) with
    ``akira migrate --create-database``."""
    import psycopg
    from psycopg import sql

    name = str(psycopg.conninfo.conninfo_to_dict(database_url).get("dbname", ""))
    if name != allowed:
        raise SystemExit(f"refusing to drop database {name!r}: only {allowed!r}")
    maintenance = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    akira = Path(sys.executable).with_name("akira")
    subprocess.run(
        [str(akira), "migrate", "--create-database"],
        env={"AKIRA_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    )


def _catalog_rows(path: Path, factor: Decimal) -> Iterator[object]:
    from admin.catalog import RateRow

    for r in read_deck(path, factor):
        t = r.terms
        yield RateRow(
            prefix=r.prefix,
            rate=t.rate,
            destination=r.destination,
            initial_increment=t.initial_increment,
            next_increment=t.next_increment,
            connect_fee=t.connect_fee,
            effective_from=datetime.fromtimestamp(t.effective_from, UTC),
            effective_to=None
            if t.effective_to is None
            else datetime.fromtimestamp(t.effective_to, UTC),
        )


@dataclass(frozen=True, slots=True)
class LoadResult:
    tariffs: int
    rates: int
    seconds: float  # the whole transaction: 21 COPYs, the trunks, the plan, the commit
    per_tariff: list[float]


def load_catalog(database_url: str = DEFAULT_DATABASE, count: int = DECK_COUNT) -> LoadResult:
    """One customer (deck 1 x 1.25, source 127.0.0.1), 20 vendor terminators with one gateway
    each and one least-cost routing plan with all 20, through ``admin.catalog`` (rates by COPY),
    in one transaction into a freshly migrated ``akira_bigdeck``."""
    import psycopg

    from admin import catalog

    decks = specs(count)
    recreate_database(database_url)
    per_tariff: list[float] = []
    rates = 0
    with psycopg.connect(database_url) as conn:
        started = time.perf_counter()
        with conn.transaction():
            terminators = []
            for port, spec in enumerate(decks[1:], start=25101):
                t0 = time.perf_counter()
                company_id = catalog.company(conn, f"Vendor {spec.vendor}", vendor=True)
                tariff_id = catalog.tariff(
                    conn,
                    f"Vendor {spec.vendor} USD",
                    _catalog_rows(spec.csv, Decimal(1)),  # type: ignore[arg-type]
                    description=f"bigdeck: {spec.csv.name}",
                )
                terminators.append(
                    catalog.terminator(
                        conn,
                        company_id,
                        f"vendor-{spec.vendor.lower()}",
                        tariff_id,
                        [("127.0.0.1", port, "udp")],
                    )
                )
                per_tariff.append(time.perf_counter() - t0)
            plan_id = catalog.routing_plan(conn, "Bigdeck LCR", terminators)
            t0 = time.perf_counter()
            customer_id = catalog.company(conn, "Bigdeck Customer", customer=True)
            tariff_id = catalog.tariff(
                conn,
                "Bigdeck customer USD",
                _catalog_rows(decks[0].csv, CUSTOMER_MARKUP),  # type: ignore[arg-type]
                description=f"bigdeck: {decks[0].csv.name} x1.25",
            )
            catalog.originator(
                conn, customer_id, "bigdeck-customer", tariff_id, plan_id, ["127.0.0.1/32"]
            )
            per_tariff.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - started
        rates = conn.execute("SELECT count(*) FROM rates").fetchone()[0]  # type: ignore[index]
    return LoadResult(len(decks), rates, seconds, per_tariff)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate (or check) the 21 cached decks")
    gen.add_argument("--parallel", type=int, default=2)
    gen.add_argument("--count", type=int, default=DECK_COUNT)
    load = sub.add_parser("load-db", help="load the catalog into PostgreSQL, timed")
    load.add_argument("--database-url", default=DEFAULT_DATABASE)
    load.add_argument("--count", type=int, default=DECK_COUNT)
    args = parser.parse_args(argv)
    if args.command == "generate":
        started = time.perf_counter()
        times = generate(specs(args.count), args.parallel)
        for number, seconds in times.items():
            spec = DeckSpec(number)
            size = spec.csv.stat().st_size
            print(f"deck {number:2d} {spec.csv.name}: {seconds:6.1f} s, {size / 1e6:.1f} MB")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"total {time.perf_counter() - started:.1f} s wall; generator peak RSS {peak:.0f} MB")
    else:
        result = load_catalog(args.database_url, args.count)
        print(json.dumps(result.__dict__ if hasattr(result, "__dict__") else _as_dict(result)))


def _as_dict(result: LoadResult) -> dict[str, object]:
    return {name: getattr(result, name) for name in result.__slots__}


if __name__ == "__main__":
    main()
