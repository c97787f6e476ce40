#!/usr/bin/env python3
"""The admin's list and detail pages under a big catalog: p50/p95/max and SQL statements per page.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/admin_pages.py --quick       # 100k rates, 1k trunks, 100k CDRs: < 1 min
    .venv/bin/python bench/admin_pages.py               # 1M rates, 10k trunks, 1M CDRs
    .venv/bin/python bench/admin_pages.py --help        # every option

It creates database akira_bench_pages (admin.migrate; dropped at the end unless --keep) and
loads it with COPY: the rates over four tariffs (one holds most of them), the trunks (half
originators with a device each, half terminators with a gateway each, over 200 companies, the
trunks skewed so that some companies have many and some few), CDRs spread over the last 30
days in the rater's column list (admin.cdr_rating.COLUMNS, from kemi/cdr.py's declaration),
priced with kemi.money.call_cost (exact decimals), and 20,000 audit rows; then ANALYZE. It
serves create_app(settings) with uvicorn in a thread of this process, logs in over real HTTP
(httpx, the login page's CSRF token) as an admin, and times each page sequentially (warm-ups
first). SQL statements are counted by wrapping psycopg's Cursor and AsyncCursor execute,
executemany, copy and stream in this process (the app runs in it), so every statement a
request runs (session, user, page) counts; the pool's liveness checks (an empty statement) are
counted apart. N+1: each list is also fetched with per_page=10 and per_page=200, and each
detail page on a record with few and one with many children; a page whose statement count
changes with the rows, or that runs one statement 3+ times, is flagged.

Resources: PostgreSQL database akira_bench_pages (dropped and re-created), Redis db 14 (the
app only reads it), a free TCP port on 127.0.0.1. Never part of the test run.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import re
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import uvicorn
from psycopg import sql

from admin.cdr_rating import COLUMNS
from admin.migrate import migrate
from admin.queries import all_queries, query
from admin.services import Actor, parse_form, users
from admin.settings import Settings
from admin.web.app import create_app
from kemi.money import call_cost

DATABASE_URL = "postgresql://akira:akira@127.0.0.1:5432/postgres"  # maintenance database
DATABASE = "akira_bench_pages"
REDIS_URL = "redis://127.0.0.1:6379/14"
USERNAME, PASSWORD = "bench-admin", "bench pages password"
COMPANIES = 200
AUDIT_ROWS = 20_000
DAYS = 30
PRECISION = 6  # USD's decimal places (currencies.precision)
SLOW_MS = 200.0  # a page slower than this at p95 is flagged
_CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- loading -------------------------------------------------------------------------------


class Progress:
    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.start = self.last = time.perf_counter()

    def add(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= 2.0 or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            log(f"  {self.what}: {self.done:,}/{self.total:,} ({rate:,.0f} rows/s)")

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def _text(value: object) -> str:
    return "\\N" if value is None else str(value)


def copy_lines(conn: psycopg.Connection, statement, lines, progress: Progress, chunk=20_000):
    """COPY ... FROM STDIN (text format) of preformatted rows, in chunks of ``chunk`` lines."""
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= chunk:
                copy.write("".join(buffer))
                progress.add(len(buffer))
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            progress.add(len(buffer))


def _copy_into(table: str, columns: tuple[str, ...]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


@dataclass
class Loaded:
    tariffs: list[tuple[int, int]]  # (id, rates)
    companies: list[tuple[int, int]]  # (id, trunks), customers and vendors
    originators: list[tuple[int, str]]  # (id, address)
    terminators: list[tuple[int, int, str]]  # (id, tariff id, host)
    destinations: list[tuple[str, Decimal]]  # prefixes of the customer tariff the CDRs call
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def rate_of(tariff_index: int, prefix: int) -> Decimal:
    return Decimal((prefix * 7919 + tariff_index * 104_729) % 90_000 + 1_000).scaleb(-6)


def load(conn: psycopg.Connection, rates: int, trunks: int, cdrs: int, seed: int) -> Loaded:
    rng = random.Random(seed)
    loaded = Loaded([], [], [], [], [])

    # Tariffs: one customer tariff with most of the rates, three vendor tariffs of 5 % each.
    small = rates // 20
    sizes = [rates - 3 * small, small, small, small]
    tariff_names = ["bench customers A-Z", "bench vendor 1", "bench vendor 2", "bench vendor 3"]
    for name, size in zip(tariff_names, sizes, strict=True):
        tariff_id = conn.execute(
            query("insert_tariff"), {"name": name, "currency": "USD", "description": "bench"}
        ).fetchone()[0]
        loaded.tariffs.append((tariff_id, size))
    progress = Progress("rates", rates)

    def rate_lines():
        for index, ((tariff_id, size), _) in enumerate(zip(loaded.tariffs, sizes, strict=True)):
            for n in range(size):
                prefix = 1000 + n  # 1000 ... : unique, 4-7 digits; "44" matches 44, 440-449, ...
                yield (
                    f"{tariff_id}\t{prefix}\tDestination {str(prefix)[:3]}\t"
                    f"{rate_of(index, prefix)}\t1\t1\t0\t2000-01-01 00:00:00+00\t\\N\t0\n"
                )

    copy_lines(conn, query("copy_rates"), rate_lines(), progress)
    loaded.seconds["rates"], loaded.rows["rates"] = progress.seconds, rates

    # Companies: 100 customers (every tenth also a vendor), 100 vendors.
    progress = Progress("companies", COMPANIES)
    copy_lines(
        conn,
        _copy_into("companies", ("name", "is_customer", "is_vendor", "currency")),
        (
            f"Bench company {c:03d}\t{'t' if c < 100 else 'f'}\t"
            f"{'t' if c >= 100 or c % 10 == 0 else 'f'}\tUSD\n"
            for c in range(COMPANIES)
        ),
        progress,
    )
    company_ids = [r[0] for r in conn.execute("SELECT id FROM companies ORDER BY name")]
    customers, vendors = company_ids[:100], company_ids[100:]

    # Trunks, skewed: company k of a side gets a share proportional to k + 1.
    t0 = time.perf_counter()
    n_orig, n_term = trunks // 2, trunks - trunks // 2
    orig_companies = rng.choices(customers, weights=range(1, 101), k=n_orig)
    term_companies = rng.choices(vendors, weights=range(1, 101), k=n_term)
    customer_tariff = loaded.tariffs[0][0]
    vendor_tariffs = [t for t, _ in loaded.tariffs[1:]]
    progress = Progress("originators", n_orig)
    copy_lines(
        conn,
        _copy_into("originators", ("company_id", "name", "tariff_id")),
        (
            f"{c}\tbench originator {k:05d}\t{customer_tariff}\n"
            for k, c in enumerate(orig_companies)
        ),
        progress,
    )
    originator_ids = [r[0] for r in conn.execute("SELECT id FROM originators ORDER BY id")]
    addresses = [f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}" for k in range(n_orig)]
    progress = Progress("devices", n_orig)
    copy_lines(
        conn,
        _copy_into("devices", ("originator_id", "network", "description")),
        (f"{o}\t{a}/32\tbench\n" for o, a in zip(originator_ids, addresses, strict=True)),
        progress,
    )
    progress = Progress("terminators", n_term)
    copy_lines(
        conn,
        _copy_into("terminators", ("company_id", "name", "tariff_id")),
        (
            f"{c}\tbench terminator {k:05d}\t{vendor_tariffs[k % 3]}\n"
            for k, c in enumerate(term_companies)
        ),
        progress,
    )
    terminators = conn.execute("SELECT id, tariff_id FROM terminators ORDER BY id").fetchall()
    hosts = [f"198.18.{k >> 8 & 255}.{k & 255}" for k in range(n_term)]
    progress = Progress("gateways", n_term)
    copy_lines(
        conn,
        _copy_into("terminator_gateways", ("terminator_id", "host", "port", "transport")),
        (f"{t}\t{h}\t5060\tudp\n" for (t, _), h in zip(terminators, hosts, strict=True)),
        progress,
    )
    loaded.seconds["trunks"], loaded.rows["trunks"] = time.perf_counter() - t0, trunks
    loaded.originators = list(zip(originator_ids, addresses, strict=True))
    loaded.terminators = [(t, tariff, h) for (t, tariff), h in zip(terminators, hosts, strict=True)]
    per_company = Counter(orig_companies) + Counter(term_companies)
    loaded.companies = [(c, per_company[c]) for c in company_ids]

    # CDRs over the last 30 days, in the rater's COPY columns.
    load_cdrs(conn, loaded, cdrs, rng)
    load_audit(conn, rng)
    conn.commit()
    t0 = time.perf_counter()
    log("ANALYZE")
    conn.execute("ANALYZE")
    conn.commit()
    loaded.seconds["analyze"] = time.perf_counter() - t0
    return loaded


def load_cdrs(conn: psycopg.Connection, loaded: Loaded, n: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    first = now - timedelta(days=DAYS)
    month = first.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while month <= now:  # the monthly partitions the rater would make
        conn.execute(query("ensure_cdr_partition"), {"at": month})
        month = (month + timedelta(days=32)).replace(day=1)
    customer_tariff = loaded.tariffs[0][0]
    # 500 destinations of the customer tariff, every one also in the vendor tariffs' range
    vendor_size = loaded.tariffs[1][1]
    picks = sorted(rng.sample(range(1000, 1000 + max(vendor_size, 1)), min(500, vendor_size)))
    loaded.destinations = [(str(p), rate_of(0, p)) for p in picks]
    weights = [1 / (i + 1) for i in range(len(picks))]  # a few destinations take most calls
    columns = COLUMNS
    position = {name: i for i, name in enumerate(columns)}
    statement = _copy_into("cdrs", columns)
    span_ms = DAYS * 86_400_000
    start_ms = int(first.timestamp() * 1000)
    zero = Decimal(0)

    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat()

    def lines():
        for k in range(n):
            originator, address = loaded.originators[rng.randrange(len(loaded.originators))]
            terminator, vendor_tariff, host = loaded.terminators[
                rng.randrange(len(loaded.terminators))
            ]
            index = rng.choices(range(len(picks)), weights)[0]
            prefix, customer_rate = loaded.destinations[index]
            vendor_index = loaded.tariffs.index((vendor_tariff, vendor_size))
            vendor_rate = rate_of(vendor_index, int(prefix))
            called = prefix + str(rng.randrange(10**6, 10**7))
            started = start_ms + rng.randrange(span_ms)
            ring = rng.randrange(100, 8_000)
            answered_ms = None
            if rng.random() < 0.6:
                answered_ms = started + ring
                talk = min(int(rng.expovariate(1 / 90) * 1000) + 1, 7_200_000)
                ended, code, reason = answered_ms + talk, 200, "callee-bye"
            else:
                talk, ended = 0, started + ring
                code = rng.choice((486, 487, 503, 404, 480))
                reason = "caller-cancel" if code == 487 else "vendor-reply"
            duration = Decimal(talk).scaleb(-3)
            terms = {"duration": duration, "initial_increment": 1, "next_increment": 1}
            c_billed, c_price = call_cost(
                answered=answered_ms is not None, rate=customer_rate, connect_fee=zero,
                precision=PRECISION, **terms,
            )  # fmt: skip
            v_billed, v_cost = call_cost(
                answered=answered_ms is not None, rate=vendor_rate, connect_fee=zero,
                precision=PRECISION, **terms,
            )  # fmt: skip
            row = [None] * len(columns)
            for name, value in (
                ("call_id", f"{k:016x}@bench"), ("attempt", 1), ("node", "n1"),
                ("snapshot_version", 1), ("originator_id", originator),
                ("terminator_id", terminator), ("gateway", f"sip:{called}@{host}:5060"),
                ("src_ip", address), ("caller", f"1555{rng.randrange(10**7):07d}"),
                ("called", called), ("dialed", "00" + called), ("sip_code", code),
                ("reason", reason), ("call_started_at", iso(started)),
                ("started_at", iso(started)),
                ("answered_at", None if answered_ms is None else iso(answered_ms)),
                ("ended_at", iso(ended)), ("duration", duration), ("currency", "USD"),
                ("customer_tariff_id", customer_tariff), ("customer_prefix", prefix),
                ("customer_rate", customer_rate), ("customer_initial_increment", 1),
                ("customer_next_increment", 1), ("customer_connect_fee", zero),
                ("customer_minimum_duration", 0), ("customer_billed_seconds", c_billed),
                ("customer_price", c_price), ("vendor_tariff_id", vendor_tariff),
                ("vendor_prefix", prefix), ("vendor_rate", vendor_rate),
                ("vendor_initial_increment", 1), ("vendor_next_increment", 1),
                ("vendor_connect_fee", zero), ("vendor_minimum_duration", 0),
                ("vendor_billed_seconds", v_billed), ("vendor_cost", v_cost),
                ("trace", f"originator {originator} by address {address};customer {prefix}"),
            ):  # fmt: skip
                row[position[name]] = value
            yield "\t".join(map(_text, row)) + "\n"

    progress = Progress("cdrs", n)
    copy_lines(conn, statement, lines(), progress)
    loaded.seconds["cdrs"], loaded.rows["cdrs"] = progress.seconds, n


def load_audit(conn: psycopg.Connection, rng: random.Random) -> None:
    now = time.time()
    progress = Progress("audit_log", AUDIT_ROWS)
    copy_lines(
        conn,
        _copy_into("audit_log", ("at", "username", "entity", "entity_id", "action", "after")),
        (
            f"{datetime.fromtimestamp(now - rng.random() * DAYS * 86400, UTC).isoformat()}\t"
            f"{USERNAME}\t{rng.choice(('originator', 'terminator', 'company'))}\t"
            f'{rng.randrange(1, 5000)}\tupdate\t{{"enabled": true, "n": {k}}}\n'
            for k in range(AUDIT_ROWS)
        ),
        progress,
    )


# --- SQL counting --------------------------------------------------------------------------


class SqlCounter:
    """Every statement psycopg runs in this process while ``active``: (name or text, seconds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = False
        self.statements: list[tuple[str, float]] = []
        self.pool_checks = 0
        self.names = {" ".join(body.split()): name for name, body in all_queries().items()}

    def name(self, cursor, statement) -> str:
        if not isinstance(statement, str | bytes):
            try:
                statement = statement.as_string(cursor.connection)
            except Exception:  # a name for a report, nothing more
                statement = repr(statement)
        if isinstance(statement, bytes):
            statement = statement.decode(errors="replace")
        text = " ".join(statement.split())
        return self.names.get(text) or text[:70]

    def record(self, cursor, statement, seconds: float) -> None:
        if not self.active:
            return
        empty = isinstance(statement, str | bytes) and not statement.strip()
        with self.lock:
            if empty:
                self.pool_checks += 1
            else:
                self.statements.append((self.name(cursor, statement), seconds))

    def take(self) -> tuple[list[tuple[str, float]], int]:
        with self.lock:
            taken, checks = self.statements, self.pool_checks
            self.statements, self.pool_checks = [], 0
        return taken, checks

    def install(self) -> None:
        counter = self
        for cls in (psycopg.Cursor, psycopg.ServerCursor):
            for method in ("execute", "executemany"):
                original = cls.__dict__.get(method)
                if original is None:
                    continue

                def sync(self, statement, *args, _original=original, **kwargs):
                    start = time.perf_counter()
                    try:
                        return _original(self, statement, *args, **kwargs)
                    finally:
                        counter.record(self, statement, time.perf_counter() - start)

                setattr(cls, method, sync)
        for cls in (psycopg.AsyncCursor, psycopg.AsyncServerCursor):
            for method in ("execute", "executemany"):
                original = cls.__dict__.get(method)
                if original is None:
                    continue

                async def coro(self, statement, *args, _original=original, **kwargs):
                    start = time.perf_counter()
                    try:
                        return await _original(self, statement, *args, **kwargs)
                    finally:
                        counter.record(self, statement, time.perf_counter() - start)

                setattr(cls, method, coro)
        sync_copy, async_copy = psycopg.Cursor.copy, psycopg.AsyncCursor.copy
        sync_stream, async_stream = psycopg.Cursor.stream, psycopg.AsyncCursor.stream

        def copy(self, statement, *args, **kwargs):
            counter.record(self, statement, 0.0)
            return sync_copy(self, statement, *args, **kwargs)

        def acopy(self, statement, *args, **kwargs):
            counter.record(self, statement, 0.0)
            return async_copy(self, statement, *args, **kwargs)

        def stream(self, statement, *args, **kwargs):
            counter.record(self, statement, 0.0)
            return sync_stream(self, statement, *args, **kwargs)

        def astream(self, statement, *args, **kwargs):
            counter.record(self, statement, 0.0)
            return async_stream(self, statement, *args, **kwargs)

        psycopg.Cursor.copy, psycopg.AsyncCursor.copy = copy, acopy
        psycopg.Cursor.stream, psycopg.AsyncCursor.stream = stream, astream


# --- serving and measuring -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """create_app(settings) under uvicorn in a thread of this process."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.port = free_port()
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            bus="redis",
            nats_url="nats://127.0.0.1:4222",
            secret_key="bench-admin-pages",
            spool_dir="/tmp/akira-bench-pages-spool",
            snapshot_dir="/tmp/akira-bench-pages-snapshot",
            auth_realm="akira",
            http_host="127.0.0.1",
            http_port=self.port,
            secure_cookies=False,
        )
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit("the admin app did not start (see its log above)")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def log_in(client: httpx.Client) -> None:
    match = _CSRF_INPUT.search(client.get("/login").text)
    if not match:
        raise SystemExit("no CSRF token on /login")
    form = {"username": USERNAME, "password": PASSWORD, "_csrf_token": match.group(1)}
    answer = client.post("/login", data=form, follow_redirects=False)
    if answer.status_code != 303 or client.get("/companies").status_code != 200:
        raise SystemExit(f"login failed: {answer.status_code} {answer.text[:200]}")


@dataclass
class PageResult:
    label: str
    path: str
    times_ms: list[float]
    statements: list[int]  # per timed request
    pool_checks: int
    names: Counter  # statement names of one request
    slowest: tuple[str, float]  # the statement with the highest median time, ms
    bytes: int
    growth: str = ""  # N+1 check: statements with few rows vs many rows
    flags: list[str] = field(default_factory=list)

    def pct(self, q: float) -> float:
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def fetch(client: httpx.Client, counter: SqlCounter, path: str):
    counter.take()
    counter.active = True
    start = time.perf_counter()
    answer = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    counter.active = False
    time.sleep(0.002)  # a statement of the request's thread finishing its bookkeeping
    statements, checks = counter.take()
    if answer.status_code != 200:
        raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:300]}")
    return elapsed, statements, checks, len(answer.content)


def measure(client, counter, label, path, warmups, requests) -> PageResult:
    for _ in range(warmups):
        fetch(client, counter, path)
    times, counts, checks, per_name = [], [], 0, {}
    names: Counter = Counter()
    size = 0
    for _ in range(requests):
        elapsed, statements, pool_checks, size = fetch(client, counter, path)
        times.append(elapsed)
        counts.append(len(statements))
        checks += pool_checks
        names = Counter(name for name, _ in statements)
        for name, seconds in statements:
            per_name.setdefault(name, []).append(seconds * 1000)
    slowest = max(
        ((name, statistics.median(ms)) for name, ms in per_name.items()),
        key=lambda item: item[1],
        default=("-", 0.0),
    )
    result = PageResult(label, path, times, counts, checks, names, slowest, size)
    repeated = [f"{name} ×{n}" for name, n in names.items() if n >= 3]
    if repeated:
        result.flags.append("repeats " + ", ".join(repeated))
    if result.pct(0.95) > SLOW_MS:
        result.flags.append(f"slow (p95 > {SLOW_MS:.0f} ms)")
    return result


def statements_of(client, counter, path: str) -> int:
    fetch(client, counter, path)  # warm
    return len(fetch(client, counter, path)[1])


def with_query(path: str, extra: str) -> str:
    return path + ("&" if "?" in path else "?") + extra


def round_trip_p95(url: str, n: int) -> tuple[float, float]:
    """The floor: SELECT 1 on an open connection, p50 and p95 in ms."""
    with psycopg.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(n + 20):
            start = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append((time.perf_counter() - start) * 1000)
    times = sorted(times[20:])
    return times[len(times) // 2], times[min(len(times) - 1, int(0.95 * len(times)))]


# --- report --------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu}


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def markdown(info: dict, loaded: Loaded, results: list[PageResult], rtt: tuple[float, float]):
    lines = [
        f"## Admin pages under a big catalog (`bench/admin_pages.py`, {info['date']})",
        "",
        f"Machine: {info['nproc']} CPUs, {info['cpu']}; PostgreSQL {info['pg']}; "
        f"load average {info['load_before']} before, {info['load_after']} after "
        "(1, 5, 15 min; other work may share the machine).",
        "",
        f"Data (COPY, then ANALYZE): {loaded.rows['rates']:,} rates over "
        f"{len(loaded.tariffs)} tariffs (the page timed: "
        f"{loaded.tariffs[0][1]:,} rates), {loaded.rows['trunks']:,} trunks "
        f"({len(loaded.originators):,} originators with a device each, "
        f"{len(loaded.terminators):,} terminators with a gateway each) over {COMPANIES} "
        f"companies, {loaded.rows['cdrs']:,} CDRs over the last {DAYS} days, "
        f"{AUDIT_ROWS:,} audit rows. "
        + (
            "Load: not timed (a database kept by an earlier run, --reuse)."
            if info["reused"]
            else "Load: "
            + ", ".join(
                f"{what} {loaded.rows[what] / loaded.seconds[what]:,.0f} rows/s"
                for what in ("rates", "trunks", "cdrs")
            )
            + f", ANALYZE {loaded.seconds['analyze']:.1f} s."
        ),
        "",
        f"Each page: {info['warmups']} warm-up request(s), then {info['requests']} sequential "
        "GETs over "
        "HTTP (uvicorn in the bench's process, httpx, a logged-in admin session). SQL statements "
        "are counted by wrapping psycopg's `Cursor`/`AsyncCursor` `execute`, `executemany`, "
        "`copy` and `stream` in that process (pg_stat_statements is not used): all a request "
        "runs, session and user lookups included; the pool's liveness checks (empty statements) "
        "are not counted. Baseline: `SELECT 1` round trip on an open connection, p50 "
        f"{rtt[0] * 1000:.0f} µs, p95 {rtt[1] * 1000:.0f} µs (the lower of before and after "
        "the pages); the ratio column is page p95 / that p95. "
        "N+1 column: statements with few rows → many rows (per_page=10 → 200 for lists; a "
        "record with few → many children for details); equal means no N+1.",
        "",
        "| page | p50 ms | p95 ms | max ms | p95 / SELECT 1 | SQL per page | few → many rows "
        "| slowest statement (median ms) | flags |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        spread = sorted(set(r.statements))
        sql_count = str(spread[0]) if len(spread) == 1 else f"{spread[0]}–{spread[-1]}"
        lines.append(
            f"| {r.label} | {r.pct(0.5):.1f} | {r.pct(0.95):.1f} | {max(r.times_ms):.1f} | "
            f"{r.pct(0.95) / rtt[1]:,.0f}× | {sql_count} | {r.growth or '–'} | "
            f"`{r.slowest[0]}` ({r.slowest[1]:.1f}) | {'; '.join(r.flags) or '–'} |"
        )
    lines.append("")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="p50/p95/max and SQL statements per admin page with a big catalog loaded.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--rates", type=int, default=1_000_000, help="rates over 4 tariffs")
    parser.add_argument(
        "--trunks", type=int, default=10_000, help="trunks: half originators, half terminators"
    )
    parser.add_argument("--cdrs", type=int, default=1_000_000, help="CDRs over the last 30 days")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per page")
    parser.add_argument("--warmups", type=int, default=5, help="untimed requests per page first")
    parser.add_argument(
        "--quick", action="store_true", help="100k rates, 1k trunks, 100k CDRs, 20 requests"
    )
    parser.add_argument("--keep", action="store_true", help=f"keep database {DATABASE} after")
    parser.add_argument(
        "--reuse", action="store_true", help=f"measure a database {DATABASE} kept by --keep"
    )
    parser.add_argument("--write", metavar="FILE", help="also write the Markdown section to FILE")
    parser.add_argument("--database-url", default=DATABASE_URL, help="maintenance database")
    parser.add_argument("--redis-url", default=REDIS_URL, help="Redis the app connects to")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the data")
    args = parser.parse_args(argv)
    if args.quick:
        args.rates, args.trunks, args.cdrs = 100_000, 1_000, 100_000
        args.requests = min(args.requests, 20)
    if args.rates < 100 or args.trunks < 4 or args.cdrs < 1:
        parser.error("need --rates >= 100, --trunks >= 4, --cdrs >= 1")
    return args


def drop(maintenance: str) -> None:
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )


def reload_from(conn: psycopg.Connection) -> Loaded:
    """What a kept database holds, for --reuse."""
    loaded = Loaded([], [], [], [], [])
    loaded.tariffs = conn.execute(
        "SELECT t.id, count(r.id) FROM tariffs t LEFT JOIN rates r ON r.tariff_id = t.id "
        "GROUP BY t.id ORDER BY t.id"
    ).fetchall()
    loaded.companies = conn.execute(
        "SELECT c.id, (SELECT count(*) FROM originators o WHERE o.company_id = c.id) + "
        "(SELECT count(*) FROM terminators t WHERE t.company_id = c.id) FROM companies c"
    ).fetchall()
    loaded.originators = conn.execute("SELECT id, '' FROM originators ORDER BY id").fetchall()
    loaded.terminators = conn.execute(
        "SELECT id, tariff_id, '' FROM terminators ORDER BY id"
    ).fetchall()
    loaded.destinations = [
        (p, Decimal(0))
        for (p,) in conn.execute(
            "SELECT customer_prefix FROM cdrs GROUP BY 1 ORDER BY count(*) DESC LIMIT 5"
        )
    ]
    loaded.rows = {
        "rates": sum(n for _, n in loaded.tariffs),
        "trunks": len(loaded.originators) + len(loaded.terminators),
        "cdrs": conn.execute("SELECT count(*) FROM cdrs").fetchone()[0],
    }
    loaded.seconds = {"rates": float("nan"), "trunks": float("nan"), "cdrs": float("nan")}
    loaded.seconds["analyze"] = float("nan")
    return loaded


def pages(conn: psycopg.Connection, loaded: Loaded) -> tuple[list, dict[str, tuple[str, str]]]:
    """(label, path) of each page timed, and the few/many-rows pair of its N+1 check."""
    big_tariff = loaded.tariffs[0][0]
    number = loaded.destinations[0][0]  # the most called destination's prefix
    by_trunks = sorted(
        (c for c in loaded.companies if c[1] > 0), key=lambda c: (c[1], c[0])
    )  # companies with few ... many trunks
    few_company, many_company = by_trunks[0][0], by_trunks[-1][0]
    # an originator and a terminator with the fewest / most audit rows (their detail shows them)
    originator = loaded.originators[len(loaded.originators) // 2][0]
    terminator = loaded.terminators[len(loaded.terminators) // 2][0]
    few_devices, many_devices = originator, originator
    listed = [
        ("/companies", "/companies"),
        ("/originators", "/originators"),
        ("/terminators", "/terminators"),
        ("/tariffs", "/tariffs"),
        (f"/tariffs/{{id}} ({loaded.tariffs[0][1]:,} rates)", f"/tariffs/{big_tariff}"),
        ("/tariffs/{id}?q=44", f"/tariffs/{big_tariff}?q=44"),
        ("/cdrs", "/cdrs"),
        ("/cdrs?period=24h", "/cdrs?period=24h"),
        (f"/cdrs?q={number}", f"/cdrs?q={number}"),
        ("/audit", "/audit"),
        (f"/companies/{{id}} ({by_trunks[-1][1]} trunks)", f"/companies/{many_company}"),
        ("/originators/{id}", f"/originators/{originator}"),
        ("/terminators/{id}", f"/terminators/{terminator}"),
        ("/api/v1/cdrs", "/api/v1/cdrs"),
        ("/api/v1/originators?sort=-name", "/api/v1/originators?sort=-name"),
    ]
    growth = {
        f"/companies/{many_company}": (f"/companies/{few_company}", f"/companies/{many_company}"),
        f"/originators/{originator}": (
            f"/originators/{few_devices}",
            f"/originators/{many_devices}",
        ),
        f"/terminators/{terminator}": (f"/terminators/{terminator}", f"/terminators/{terminator}"),
    }
    for _, path in listed:
        if path not in growth:
            growth[path] = (with_query(path, "per_page=10"), with_query(path, "per_page=200"))
    return listed, growth


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per request
    url = psycopg.conninfo.make_conninfo(args.database_url, dbname=DATABASE)
    info = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), **machine()}
    info["load_before"] = loadavg()
    info["requests"], info["warmups"] = args.requests, args.warmups
    info["reused"] = args.reuse
    if not args.reuse:
        drop(args.database_url)
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    try:
        with psycopg.connect(url) as conn:
            info["pg"] = conn.execute("SHOW server_version").fetchone()[0]
            if args.reuse:
                loaded = reload_from(conn)
            else:
                migrate(conn)
                conn.commit()
                log(f"loading {args.rates:,} rates, {args.trunks:,} trunks, {args.cdrs:,} CDRs")
                loaded = load(conn, args.rates, args.trunks, args.cdrs, args.seed)
            admin_user = {"username": USERNAME, "role": "admin", "password": PASSWORD}
            users.save(conn, parse_form(users.USERS, admin_user), Actor("bench"))
            conn.commit()
            listed, growth = pages(conn, loaded)
        rtt = round_trip_p95(url, max(200, args.requests * 4))
        counter = SqlCounter()
        counter.install()
        results = []
        with (
            Served(url, args.redis_url) as base,
            httpx.Client(base_url=base, timeout=120) as client,
        ):
            log_in(client)
            for label, path in listed:
                result = measure(client, counter, label, path, args.warmups, args.requests)
                few, many = growth[path]
                if few != many:
                    n_few = statements_of(client, counter, few)
                    n_many = statements_of(client, counter, many)
                    result.growth = f"{n_few} → {n_many}"
                    if n_many > n_few:
                        result.flags.append("N+1: statements grow with rows")
                log(
                    f"{label}: p50 {result.pct(0.5):.1f} ms, p95 {result.pct(0.95):.1f} ms, "
                    f"{result.statements[0]} statements {dict(result.names)}"
                )
                results.append(result)
        rtt_after = round_trip_p95(url, max(200, args.requests * 4))
        rtt = (min(rtt[0], rtt_after[0]), min(rtt[1], rtt_after[1]))
        info["load_after"] = loadavg()
        report = markdown(info, loaded, results, rtt)
        print(report)
        if args.write:
            Path(args.write).write_text(report + "\n")
            log(f"wrote {args.write}")
    finally:
        if not args.keep:
            drop(args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
