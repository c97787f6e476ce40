#!/usr/bin/env python3
"""Reports from rollups vs raw CDRs (issue 10): p95 of the per-customer-per-day and the
top-destinations-by-margin reports, and the ratio between the two sources.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/reports.py --cdrs 5000000     # ~ minutes on 2 cores
    .venv/bin/python bench/reports.py --cdrs 200000      # a quick look
    .venv/bin/python bench/reports.py --help

It creates database akira_bench_reports (admin.migrate; dropped at the end unless --keep), a
catalog of 200 customers (one originator each), 20 vendors (one terminator each), a customer
tariff of 2,000 prefixes under 400 destination names, then COPYs the CDRs into ``cdrs`` in
chunks, spread over 30 days: originators and prefixes Zipf-skewed (a few carry most traffic, as
on a real switch), 3 vendors per prefix, 45 % answered, talk time exponential (mean 2 min),
prices and costs in exact integer micro-units. By default the rollup trigger is off during the
load and the rollups are filled at the end in one set-based pass (the statement migration 0010
runs on stored CDRs); --trigger keeps it on, as the rater's writes have it (since 0016 it writes
the minute rollup), then runs the rater's compaction once (which feeds the coarser rollups from
it), and --trigger-cost COPYs 200,000 CDRs with and without it first (and the compaction after
it). Then ANALYZE,
and each report runs through admin.reports (the code the pages and the API run) from the
rollups and from the raw CDRs (``source="cdrs"``), warm-up first, then --runs times each:

- per customer per day: a customer's 30 days by day (the customer traffic page), a different
  customer each run, drawn by traffic;
- top destinations by margin: the 30 days by destination, sorted by margin, top 20.

Resources: PostgreSQL database akira_bench_reports (dropped and re-created). Never part of the
test run.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import platform
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql

from admin.migrate import migrate
from admin.reports import dimensions, query

DATABASE_URL = os.environ.get(
    "AKIRA_BENCH_DATABASE_URL", "postgresql://akira:akira@127.0.0.1:5432/postgres"
)
DATABASE = "akira_bench_reports"
CUSTOMERS, VENDORS, PREFIXES, DESTINATIONS = 200, 20, 2_000, 400
DAYS = 30
END = datetime(2026, 11, 1, tzinfo=UTC)  # the 30 days end here (whole days: the day rollup)
START = END - timedelta(days=DAYS)
CHUNK = 250_000
COPIED = (
    "call_id", "attempt", "node", "snapshot_version", "originator_id", "terminator_id",
    "src_ip", "caller", "called", "dialed", "sip_code", "reason", "call_started_at",
    "started_at", "answered_at", "ended_at", "duration", "currency", "customer_tariff_id",
    "customer_prefix", "customer_billed_seconds", "customer_price", "vendor_tariff_id",
    "vendor_prefix", "vendor_billed_seconds", "vendor_cost",
)  # fmt: skip
FAILURES = ((503, "vendor-reply"), (486, "vendor-reply"), (480, "vendor-reply"),
            (487, "caller-cancel"), (404, "vendor-reply"))  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def zipf_weights(count: int, skew: float = 1.1) -> list[float]:
    return list(itertools.accumulate(1 / (rank**skew) for rank in range(1, count + 1)))


def pick(cumulative: list[float], rng: random.Random) -> int:
    return bisect.bisect(cumulative, rng.random() * cumulative[-1])


def money(micro: int) -> str:
    """Micro-units as exact decimal text (the CDR's numeric(20,8))."""
    return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"


def create_database() -> str:
    with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(DATABASE)))  # fmt: skip
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return psycopg.conninfo.make_conninfo(DATABASE_URL, dbname=DATABASE)


def load_catalog(conn: psycopg.Connection) -> dict:
    """Companies, trunks, a customer tariff (prefix -> destination, rate) and a vendor tariff."""
    rng = random.Random(7)
    with conn.transaction():
        customers = [
            conn.execute(
                "INSERT INTO companies (name, is_customer, currency) VALUES (%s, true, 'USD')"
                " RETURNING id", (f"customer-{n:03d}",),
            ).fetchone()[0]
            for n in range(CUSTOMERS)
        ]  # fmt: skip
        vendors = [
            conn.execute(
                "INSERT INTO companies (name, is_vendor, currency) VALUES (%s, true, 'USD')"
                " RETURNING id", (f"vendor-{n:02d}",),
            ).fetchone()[0]
            for n in range(VENDORS)
        ]  # fmt: skip
        selling, buying = (
            conn.execute(
                "INSERT INTO tariffs (name, currency) VALUES (%s, 'USD') RETURNING id", (name,)
            ).fetchone()[0]
            for name in ("customers USD", "vendors USD")
        )
        prefixes = [str(rng.randrange(10**5, 10**7)) for _ in range(PREFIXES)]
        prefixes = list(dict.fromkeys(prefixes))
        sell = {p: rng.randrange(5_000, 200_000) for p in prefixes}  # micro-units per minute
        with conn.cursor().copy(
            "COPY rates (tariff_id, prefix, destination, rate, effective_from) FROM STDIN"
        ) as copy:
            for index, prefix in enumerate(prefixes):
                name = f"destination {index % DESTINATIONS:03d}"
                copy.write_row((selling, prefix, name, money(sell[prefix]), "2026-01-01"))
                copy.write_row((buying, prefix, name, money(sell[prefix] * 9 // 10), "2026-01-01"))
        originators = [
            conn.execute(
                "INSERT INTO originators (company_id, name, tariff_id) VALUES (%s, %s, %s)"
                " RETURNING id", (company, f"o-{company}", selling),
            ).fetchone()[0]
            for company in customers
        ]  # fmt: skip
        terminators = [
            conn.execute(
                "INSERT INTO terminators (company_id, name, tariff_id) VALUES (%s, %s, %s)"
                " RETURNING id", (company, f"t-{company}", buying),
            ).fetchone()[0]
            for company in vendors
        ]  # fmt: skip
    # some vendors cost more than the customer pays on some prefixes: losses to find
    cost = {
        (prefix, t): sell[prefix] * rng.choice((80, 90, 95, 110)) // 100
        for prefix in prefixes
        for t in terminators
    }
    routes = {prefix: rng.sample(terminators, 3) for prefix in prefixes}
    return {
        "customers": customers, "originators": originators, "prefixes": prefixes,
        "sell": sell, "cost": cost, "routes": routes, "selling": selling, "buying": buying,
    }  # fmt: skip


def cdr_rows(catalog: dict, count: int, seed: int = 42):
    rng = random.Random(seed)
    by_originator = zipf_weights(len(catalog["originators"]))
    by_prefix = zipf_weights(len(catalog["prefixes"]))
    span = (END - START).total_seconds()
    call = 0
    while count > 0:
        call += 1
        originator = catalog["originators"][pick(by_originator, rng)]
        prefix = catalog["prefixes"][pick(by_prefix, rng)]
        called = prefix + str(rng.randrange(10**6, 10**7))
        call_start = START + timedelta(seconds=rng.random() * (span - 7200))
        started = call_start
        for attempt, terminator in enumerate(catalog["routes"][prefix], start=1):
            if count == 0:
                break
            count -= 1
            answered = rng.random() < 0.45
            last = attempt == 3
            if answered:
                ring = timedelta(milliseconds=rng.randrange(1_000, 8_000))
                talk = min(int(rng.expovariate(1 / 120)) + 1, 7200)
                answered_at, ended = started + ring, started + ring + timedelta(seconds=talk)
                price, cost = (
                    catalog["sell"][prefix] * talk // 60,
                    catalog["cost"][(prefix, terminator)] * talk // 60,
                )
                code, reason, duration = 200, "vendor-reply", f"{talk}.000"
            else:
                code, reason = rng.choice(FAILURES)
                answered_at, talk, price, cost, duration = None, 0, 0, 0, "0"
                ended = started + timedelta(milliseconds=rng.randrange(200, 6_000))
            yield (
                f"bench-{seed}-{call}", attempt, "n1", 1, originator, terminator, "10.0.0.1",
                "15550001", called, "+" + called, code, reason, call_start, started,
                answered_at, ended, duration, "USD", catalog["selling"], prefix, talk,
                money(price), catalog["buying"], prefix, talk, money(cost),
            )  # fmt: skip
            if answered or code in (486, 487, 404) or last:
                break
            started = ended


def load_cdrs(conn: psycopg.Connection, catalog: dict, count: int, trigger: bool) -> float:
    if not trigger:
        conn.execute("ALTER TABLE cdrs DISABLE TRIGGER USER")
    month = START.replace(day=1)
    while month < END:
        conn.execute("SELECT akira_ensure_cdr_partition(%s)", (month,))
        month = (month + timedelta(days=32)).replace(day=1)
    conn.commit()
    statement = sql.SQL("COPY cdrs ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, COPIED))
    )
    began, rows, done = time.perf_counter(), cdr_rows(catalog, count), 0
    while done < count:
        chunk = list(itertools.islice(rows, CHUNK))
        with conn.transaction(), conn.cursor().copy(statement) as copy:
            for row in chunk:
                copy.write_row(row)
        done += len(chunk)
        elapsed = time.perf_counter() - began
        log(f"  {done:,} CDRs in {elapsed:.0f} s ({done / elapsed:,.0f}/s)")
    seconds = time.perf_counter() - began
    if trigger:  # as the rater does every minute: the coarser rollups fed from the minute one
        began = time.perf_counter()
        with conn.transaction():
            conn.execute("SELECT akira_compact_rollups()")
        compaction = time.perf_counter() - began
        print(f"compaction after the load (feeds the coarser rollups): {compaction:.1f} s")
        seconds += compaction
    if not trigger:
        conn.execute("ALTER TABLE cdrs ENABLE TRIGGER USER")
        began = time.perf_counter()
        with conn.transaction():
            for name, grain, keys in conn.execute("SELECT * FROM akira_rollups()").fetchall():
                conn.execute(
                    conn.execute(
                        "SELECT akira_rollup_statement(%s, %s, %s, %s, compacted => true)",
                        (name, grain, keys, "SELECT 1 AS sign, * FROM cdrs"),
                    ).fetchone()[0]
                )
        print(f"rollups filled from the stored CDRs in {time.perf_counter() - began:.1f} s")
    conn.commit()
    return seconds


def trigger_cost() -> None:
    """COPY of the same 200,000 CDRs into an empty database, without and with the trigger."""
    rates = {}
    for trigger in (False, True):
        url = create_database()
        with psycopg.connect(url) as conn:
            migrate(conn)
            conn.commit()
            catalog = load_catalog(conn)
            if not trigger:
                conn.execute("ALTER TABLE cdrs DISABLE TRIGGER USER")
                conn.commit()
            rates[trigger] = 200_000 / load_cdrs(conn, catalog, 200_000, trigger=True)
    print(f"COPY of 200,000 CDRs: {rates[False]:,.0f}/s without the rollup trigger, "
          f"{rates[True]:,.0f}/s with it and the compaction after "
          f"({rates[False] / rates[True]:.2f}x)")  # fmt: skip


def timed(conn: psycopg.Connection, requests: list, source: str | None) -> list[float]:
    query.run(conn, requests[0], source)  # warm-up
    timings = []
    for request in requests:
        began = time.perf_counter()
        query.run(conn, request, source)
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def p95(timings: list[float]) -> float:
    """The 95th percentile; of fewer than two runs, the slowest."""
    if len(timings) < 2:
        return max(timings)
    return statistics.quantiles(timings, n=20, method="inclusive")[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cdrs", type=int, default=5_000_000, help="CDR rows (default 5M)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per report and source")
    parser.add_argument("--raw-runs", type=int, default=10, help="runs on the raw CDRs")
    parser.add_argument("--trigger", action="store_true", help="rollups by trigger during COPY")
    parser.add_argument("--trigger-cost", action="store_true", help="time COPY with and without")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--reuse", action="store_true", help="use a kept database (migrated first), no load"
    )
    options = parser.parse_args()
    if options.trigger_cost:
        trigger_cost()
    url = psycopg.conninfo.make_conninfo(DATABASE_URL, dbname=DATABASE)
    if not options.reuse:
        url = create_database()
    with psycopg.connect(url) as conn:
        if options.reuse:
            migrate(conn)  # a database kept by an older schema's run
            conn.commit()
            customers = [row[0] for row in conn.execute(
                "SELECT id FROM companies WHERE is_customer ORDER BY id")]  # fmt: skip
        else:
            migrate(conn)
            conn.commit()
            catalog = load_catalog(conn)
            customers = catalog["customers"]
            log(f"loading {options.cdrs:,} CDRs over {DAYS} days with COPY")
            seconds = load_cdrs(conn, catalog, options.cdrs, options.trigger)
            trigger = "with" if options.trigger else "without"
            print(f"COPY {trigger} the rollup trigger: {options.cdrs:,} CDRs in {seconds:.1f} s "
                  f"({options.cdrs / seconds:,.0f}/s)")  # fmt: skip
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            conn.autocommit = False
        sizes = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("cdrs", *(rollup.name for rollup in query.ROLLUPS))
        }
        print("rows: " + ", ".join(f"{table} {count:,}" for table, count in sizes.items()))
        rng = random.Random(1)
        weights = zipf_weights(len(customers))
        per_customer = [
            query.ReportRequest(
                dimensions.BY_NAME["day"], START, END,
                {"customer": customers[pick(weights, rng)]}, limit=query.MAX_LIMIT,
            )
            for _ in range(options.runs)
        ]  # fmt: skip
        top_margin = [
            query.ReportRequest(
                dimensions.BY_NAME["destination"], START, END, sort="-margin", limit=20
            )
        ] * options.runs
        print(f"\n{platform.node()}, PostgreSQL {conn.info.server_version}, {os.cpu_count()} CPUs")
        print(f"{'report':<34} {'rollup p95 ms':>14} {'raw p95 ms':>11} {'raw/rollup':>10}")
        for name, requests in (
            ("per customer per day (30 days)", per_customer),
            ("top 20 destinations by margin", top_margin),
        ):
            assert query.run(conn, requests[0]).rows == query.run(conn, requests[0], "cdrs").rows
            rolled = timed(conn, requests, None)
            raw = timed(conn, [replace(r) for r in requests[: options.raw_runs]], "cdrs")
            source = query.source_for(requests[0])
            print(f"{name:<34} {p95(rolled):>14.1f} {p95(raw):>11.1f} "
                  f"{p95(raw) / p95(rolled):>9.0f}x   ({source})")  # fmt: skip
    if not options.keep and not options.reuse:
        with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                sql.Identifier(DATABASE)))  # fmt: skip


if __name__ == "__main__":
    main()
