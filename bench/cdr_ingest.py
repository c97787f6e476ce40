#!/usr/bin/env python3
"""CDR ingest + rating into PostgreSQL by ONE rater process, on each CDR bus (Redis, NATS).

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/cdr_ingest.py --events 20000     # ~15 s: does it work?
    .venv/bin/python bench/cdr_ingest.py                    # 200,000 events, ~2 min
    .venv/bin/python bench/cdr_ingest.py --live-cps 1000    # the events of live traffic
    .venv/bin/python bench/cdr_ingest.py --profile          # + where one batch's time goes
    .venv/bin/python bench/cdr_ingest.py --help             # every option

By default the calls start at random over a day, so a rater batch's CDRs fall in ~1,100
minutes and the minute rollup gets about a row per CDR (its worst case); --live-cps N makes
them start at N per second, their events in the order the calls end, as a switch emits them.
Per bus, N distinct CDR events (the engine's JSON lines, kemi.cdr.event_line) are first
published in relay batches of 500 (not timed as ingest; the publish rate is reported apart),
then one admin.rater.Rater runs ``run_once`` until all N are rated, COPYed, merged into cdrs and
charged to the ledger: wall time, the rater's CPU (time.process_time) and its PostgreSQL
backend's CPU (/proc, when the server is local). Baselines in the same run: "rate_event only"
(admin.cdr_rating.rate_event, no database) and "rate + store" (rate_event, then Rater.store and
Rater.settle in one transaction per batch of the same size: Rater.write, no bus, no pipeline),
and the same with the report rollups kept as migration 0010 kept them (the cdrs trigger summing
every statement into all five rollups; since 0016 it writes the minute one, and the rater's
compaction feeds the others from it) and with none (the trigger disabled), so what the rollups
cost is measured in the same run (--rollup-baselines). After each database phase the rollups
are compacted as the rater does every minute, timed apart (its PostgreSQL CPU per CDR is part
of the rollups' cost), then checked: count(cdrs) == N, no duplicate (call_id, attempt), the
prices equal those rate_event computed, the ledger's call charges == -sum(customer_price), and
every rollup's totals (attempts, answered, talk time, PDD, revenue, cost) those of the CDRs.

Resources: database akira_bench_ingest (created from sql/ with admin.migrate, dropped at the
end), the akira:cdr stream of Redis db 13 (deleted before and after), the JetStream stream
BENCH_CDR (subject bench.cdr; deleted before and after). Never part of the test run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql
from redis import Redis

from admin import catalog
from admin.catalog import RateRow
from admin.cdr_rating import COLUMNS, rate_event
from admin.migrate import migrate
from admin.queries import query
from admin.rater import Rater
from kemi import contract
from kemi.bus import BusError, CdrBus, JetStreamBus, RedisStreamBus
from kemi.cdr import event_line
from kemi.contract import RELAY_BATCH  # events per relay publish (500)

DATABASE_URL = "postgresql://akira:akira@127.0.0.1:5432/postgres"  # maintenance database
DATABASE = "akira_bench_ingest"
REDIS_URL = "redis://127.0.0.1:6379/13"
NATS_URL = "nats://127.0.0.1:4222"
NATS_STREAM, NATS_SUBJECT = "BENCH_CDR", "bench.cdr"
TARGET = 50_000  # CDRs/s per bus (the target)
T0 = 1_780_000_000_000  # 2026-05-28 00:00 UTC, epoch ms; calls spread over the next day
DAY_MS = 86_400_000
_PRICE, _ANSWERED = COLUMNS.index("customer_price"), COLUMNS.index("answered_at")

# Destinations: prefix, digits after it, share of calls, the customer's terms (rate/min,
# initial and next increment, connect fee, minimum duration), the three vendors' rates, the
# vendors' increments.
DESTINATIONS = (
    ("447", 9, 30, ("0.04", 30, 6, "0.001", 0), ("0.025", "0.027", "0.031"), (1, 1)),
    ("1", 10, 35, ("0.009", 6, 6, "0", 0), ("0.0052", "0.0049", "0.006"), (6, 6)),
    ("49", 10, 15, ("0.012", 1, 1, "0", 0), ("0.0081", "0.0075", "0.0093"), (1, 1)),
    ("336", 8, 10, ("0.055", 60, 60, "0", 0), ("0.041", "0.039", "0.044"), (30, 6)),
    ("91", 10, 10, ("0.018", 1, 1, "0", 30), ("0.0112", "0.0121", "0.0109"), (1, 1)),
)
FAILOVER_CODES = (503, 408, 500, 502, 480)  # the plan hunts on to the next vendor
STOP_CODES = (404, 486, 487)  # the plan's stop codes: the call ends there


@dataclass(frozen=True)
class Catalog:
    customer_tariff: int
    originators: list[tuple[int, str]]  # (originator id, its device address)
    vendors: list[tuple[int, int, str]]  # (terminator id, tariff id, gateway host)


def load_catalog(conn: psycopg.Connection) -> Catalog:
    """Two customers (one with two trunks), three vendors, their tariffs: what the CDRs
    reference and what the merge charges (originators -> companies -> ledger)."""
    with conn.transaction():
        rates = [
            RateRow(p, Decimal(c[0]), "", c[1], c[2], Decimal(c[3]), minimum_duration=c[4])
            for p, _, _, c, _, _ in DESTINATIONS
        ]
        tariff = catalog.tariff(conn, "bench customers", rates)
        originators = []
        for company_name, trunks in (("Bench Telecom", 2), ("Bench Wholesale", 1)):
            company = catalog.company(conn, company_name, customer=True)
            for trunk in range(trunks):
                address = f"10.0.{len(originators)}.{trunk + 1}"
                originator = catalog.originator(
                    conn, company, f"{company_name} {trunk}", tariff, None, [f"{address}/32"]
                )
                originators.append((originator, address))
        vendors = []
        for index in range(3):
            company = catalog.company(conn, f"Vendor {index}", vendor=True)
            rates = [RateRow(p, Decimal(v[index]), "", *inc) for p, _, _, _, v, inc in DESTINATIONS]
            vendor_tariff = catalog.tariff(conn, f"vendor {index}", rates)
            host = f"192.0.2.{index + 1}"
            terminator = catalog.terminator(
                conn, company, f"vendor {index}", vendor_tariff, [(host, 5060, "udp")]
            )
            vendors.append((terminator, vendor_tariff, host))
    return Catalog(tariff, originators, vendors)


def _event(call: tuple, attempt: int, target: tuple | None, outcome: tuple, terms: tuple) -> bytes:
    """One attempt's event line, the fields in kemi.context.CallContext.event's order."""
    call_id, node, originator, address, caller, called, dialed, started, customer, trace = call
    terminator, gateway = target or (None, None)
    code, reason, start, answered, ended = outcome
    ringing = None if answered is None else start + (answered - start) // 4  # rang, then answered
    return event_line(
        (call_id, attempt, node, 42, originator, terminator, gateway, address, caller, called,
         dialed, code, reason, started, start, answered, ringing, ended, "USD", *customer, *terms,
         trace)
    ).encode()  # fmt: skip


def make_events(n: int, seed: int, cat: Catalog, live_cps: int = 0) -> list[bytes]:
    """N events of calls as the engine reports them: one per attempt, vendors tried in
    least-cost order, ~2 % rejected before any vendor (attempt 0), failovers, stop codes,
    answered calls of exponential talk time (mean 90 s, max 2 h). ``live_cps`` 0: the calls
    start at random over a day, in no order (the rollups' worst case: a batch's CDRs fall in
    ~1,100 minutes); otherwise they start at that rate and the events come in the order the
    calls end, as a switch carrying that traffic emits them."""
    rng = random.Random(seed)
    weights = [d[2] for d in DESTINATIONS]
    events: list[tuple[int, bytes]] = []  # (ended_ms, line)
    calls = 0
    while len(events) < n:
        originator, address = rng.choice(cat.originators)
        destination = rng.choices(DESTINATIONS, weights)[0]
        prefix, digits, _, customer, vendor_rates, increments = destination
        called = prefix + str(rng.randrange(10 ** (digits - 1), 10**digits))
        started = T0 + (calls * 1000 // live_cps if live_cps else rng.randrange(DAY_MS))
        calls += 1
        call = (
            f"{rng.getrandbits(96):024x}@{address}",  # Call-ID
            rng.choice(("n1", "n2")),  # node
            originator,
            address,
            f"1555{rng.randrange(10**7):07d}",  # caller
            called,
            rng.choice(("+", "00", "")) + called,  # dialed
            started,
            (cat.customer_tariff, prefix, *customer),
            f"originator {originator} by address {address};customer {prefix}",
        )
        if rng.random() < 0.02:  # no vendor could take it: attempt 0, no vendor terms
            events.append((started + 1, _event(
                call, 0, None, (503, "no-vendor", started, None, started + 1), (None,) * 7
            )))  # fmt: skip
            continue
        at = started + rng.randrange(1, 20)
        order = sorted(range(3), key=lambda i: Decimal(vendor_rates[i]))  # least cost first
        for attempt, index in enumerate(order, 1):
            terminator, tariff, host = cat.vendors[index]
            target = (terminator, f"sip:{called}@{host}:5060")
            terms = (tariff, prefix, vendor_rates[index], *increments, "0", 0)
            ring = rng.randrange(100, 12_000)
            outcome = rng.random()
            if outcome < 0.6:  # answered
                talk = min(int(rng.expovariate(1 / 90) * 1000) + rng.randrange(1000), 7_200_000)
                reason = rng.choice(("caller-bye", "callee-bye"))
                if talk == 7_200_000:
                    reason = "max-duration"
                answer = (200, reason, at, at + ring, at + ring + talk)
                events.append((answer[4], _event(call, attempt, target, answer, terms)))
                break
            code = rng.choice(STOP_CODES if outcome < 0.8 else FAILOVER_CODES)
            reason = "caller-cancel" if code == 487 else "vendor-reply"
            failed = (code, reason, at, None, at + ring)
            events.append((failed[4], _event(call, attempt, target, failed, terms)))
            if code in STOP_CODES:
                break
            at += ring + rng.randrange(1, 5)
    if live_cps:
        events.sort(key=lambda item: item[0])  # stable: a call's attempts keep their order
    return [line for _, line in events[:n]]


@dataclass
class Phase:
    name: str
    events: int
    wall_s: float
    cpu_s: float
    backend_cpu_s: float | None = None
    publish_events_per_s: float | None = None
    bus_units: str = ""  # what the bus held after publishing (entries / messages)
    checks: dict[str, bool] = field(default_factory=dict)
    compact_s: float | None = None  # the compaction after the phase (wall)
    compact_backend_cpu_s: float | None = None

    @property
    def rate(self) -> float:
        return self.events / self.wall_s

    def per_event_us(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds / self.events * 1e6


class Backend:
    """CPU of this connection's PostgreSQL backend process (when the server is on this host)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.path = Path(f"/proc/{conn.info.backend_pid}/stat")
        host = conn.info.host
        local = host.startswith("/") or host in ("127.0.0.1", "localhost", "::1")
        self.usable = local and self.path.exists()

    def cpu(self) -> float | None:
        if not self.usable:
            return None
        fields = self.path.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def database_url(maintenance: str) -> str:
    return psycopg.conninfo.make_conninfo(maintenance, dbname=DATABASE)


def recreate_database(maintenance: str, drop_only: bool = False) -> None:
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    if not drop_only:
        with psycopg.connect(database_url(maintenance)) as conn:
            migrate(conn)


ROLLUP_TOTALS = (
    "sum(attempts), sum(answered), sum(talk_seconds), sum(pdd_ms), sum(revenue), sum(cost)"
)
CDR_TOTALS = (
    "count(*), count(answered_at), sum(duration), coalesce(sum(akira_post_dial_delay_ms("
    "terminator_id, sip_code, started_at, ringing_at, answered_at, ended_at)), 0), "
    "sum(customer_price), "
    "sum(vendor_cost)"
)
# How the rollups are kept: "minute" as since migration 0016 (the cdrs trigger writes the minute
# rollup, compaction feeds the others), "all" as 0010 had it (the trigger writes all five),
# "none" (the trigger disabled).
ROLLUP_WAYS = {"minute": "", "all": ", rollups as 0010", "none": ", no rollups"}
_SQL = Path(__file__).resolve().parent.parent / "sql"


def _function(path: Path, name: str) -> str:
    """A function as a file creates it, to be installed with CREATE OR REPLACE."""
    text = path.read_text()
    start = text.index(f"CREATE FUNCTION {name}()")
    end = text.index("END\n$$;", start) + len("END\n$$;")
    return text[start:end].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def keep_rollups(conn: psycopg.Connection, way: str) -> None:
    """Make the cdrs trigger and the compaction keep the rollups ``way`` (ROLLUP_WAYS)."""
    migration = "migrations/0010_rollups.sql" if way == "all" else "schema.sql"
    for function in ("akira_roll_up_cdrs", "akira_compact_rollups"):
        conn.execute(_function(_SQL / migration, function))
    state = "DISABLE" if way == "none" else "ENABLE"
    conn.execute(f"ALTER TABLE cdrs {state} TRIGGER cdrs_rolled_up_inserted")


def compact(conn: psycopg.Connection, phase: Phase) -> None:
    """The rater's minutely akira_compact_rollups, once, after the phase: timed apart."""
    backend = Backend(conn)
    wall, cpu = time.perf_counter(), backend.cpu()
    conn.execute(query("compact_rollups"))
    phase.compact_s = time.perf_counter() - wall
    phase.compact_backend_cpu_s = _delta(backend.cpu(), cpu)


def reset(conn: psycopg.Connection) -> None:
    rollups = [name for (name,) in conn.execute("SELECT name FROM akira_rollups()")]
    conn.execute(
        sql.SQL("TRUNCATE cdrs, ledger_entries, cdr_rejects, notification_outbox, {}").format(
            sql.SQL(", ").join(map(sql.Identifier, rollups))
        )
    )


def check(
    conn: psycopg.Connection, n: int, expected_price: Decimal, rollups: bool = True
) -> dict[str, bool]:
    count, priced = conn.execute("SELECT count(*), sum(customer_price) FROM cdrs").fetchone()
    duplicates = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM cdrs GROUP BY call_id, attempt HAVING count(*) > 1) d"
    ).fetchone()[0]
    charged = conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE kind = 'call_charge'"
    ).fetchone()[0]
    rejects = conn.execute("SELECT count(*) FROM cdr_rejects").fetchone()[0]
    checks = {
        f"cdrs = {n}": count == n,
        "no duplicate (call_id, attempt)": duplicates == 0,
        "prices = rate_event's": priced == expected_price,
        "ledger = -sum(customer_price)": charged == -priced,
        "no rejects": rejects == 0,
    }
    if rollups:  # the tables themselves, compacted (every rollup fed)
        totals = conn.execute(f"SELECT {CDR_TOTALS} FROM cdrs").fetchone()
        for (name,) in conn.execute("SELECT name FROM akira_rollups()").fetchall():
            rolled = conn.execute(f"SELECT {ROLLUP_TOTALS} FROM {name}").fetchone()
            checks[f"{name} totals = the CDRs'"] = tuple(rolled) == tuple(totals)
    return checks


def rate_only(payloads: list[bytes], precisions: dict[str, int]) -> tuple[Phase, Decimal, int]:
    """rate_event alone; also what the database must hold after: the sum of customer prices,
    and how many calls were answered (rows are not kept: 200,000 live tuples would slow the
    garbage collector and this baseline with it)."""
    price, answered = Decimal(0), 0
    wall, cpu = time.perf_counter(), time.process_time()
    for payload in payloads:
        row = rate_event(payload, precisions)
        price += row[_PRICE]
        answered += row[_ANSWERED] is not None
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Phase("rate_event only", len(payloads), wall, cpu), price, answered


def rate_and_store(url: str, redis: Redis, payloads: list[bytes], batch: int) -> Phase:
    """Rater.write without the bus: rate, COPY + ledger (or merge), settle; one transaction per
    batch of ``batch`` events."""
    with psycopg.connect(url, autocommit=True) as conn:
        rater = Rater(conn=conn, redis=redis, consumer="bench-direct", log=log)
        conn.execute(query("create_cdr_staging"))
        precisions, backend = rater.precisions(), Backend(conn)
        written = 0
        wall, cpu, backend_cpu = time.perf_counter(), time.process_time(), backend.cpu()
        for start in range(0, len(payloads), batch):
            rows = [rate_event(payload, precisions) for payload in payloads[start : start + batch]]
            with conn.transaction():
                written += rater.store(rows)
            rater.settle(rows)
        phase = Phase(
            "rate + store (no bus)",
            written,
            time.perf_counter() - wall,
            time.process_time() - cpu,
            _delta(backend.cpu(), backend_cpu),
        )
    return phase


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def open_bus(kind: str, redis: Redis, nats_url: str) -> CdrBus:
    if kind == "redis":
        redis.delete(contract.CDR_STREAM)
        return RedisStreamBus(redis, consumer="bench")
    stale = JetStreamBus(nats_url, stream=NATS_STREAM, subject=NATS_SUBJECT)
    stale.delete_stream()  # one left by an interrupted run (a bus that deleted its stream
    stale.close()  # would not create it again: it keeps its JetStream context)
    return JetStreamBus(nats_url, stream=NATS_STREAM, subject=NATS_SUBJECT)


def close_bus(bus: CdrBus, redis: Redis) -> None:
    if isinstance(bus, JetStreamBus):
        bus.delete_stream()
        bus.close()
    else:
        redis.delete(contract.CDR_STREAM)


def publish(bus: CdrBus, payloads: list[bytes], run: str) -> float:
    """As the node relays do: batches of 500, each with a key of its own. Events/s."""
    wall = time.perf_counter()
    for start in range(0, len(payloads), RELAY_BATCH):
        bus.publish(payloads[start : start + RELAY_BATCH], key=f"{run}:{start}")
    return len(payloads) / (time.perf_counter() - wall)


def bus_rater(conn: psycopg.Connection, redis: Redis, bus: CdrBus, batch_events: int) -> Rater:
    """Rater.batch_size counts events on both buses: batch_events / 500 relay batches a read."""
    rater = Rater(
        conn=conn, redis=redis, consumer="bench", bus=bus, batch_size=batch_events, log=log
    )
    rater.setup()
    return rater


def ingest(kind: str, url: str, redis: Redis, nats_url: str, payloads, batch_events) -> Phase:
    bus = open_bus(kind, redis, nats_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            rater = bus_rater(conn, redis, bus, batch_events)
            log(f"{kind}: publishing {len(payloads)} events in batches of {RELAY_BATCH}")
            published = publish(bus, payloads, f"bench-{kind}-{time.time_ns()}")
            held = bus.backlog()
            log(f"{kind}: the bus holds {held.undelivered} {held.unit}; rating")
            backend = Backend(conn)
            read = written = idle = 0
            wall, cpu, backend_cpu = time.perf_counter(), time.process_time(), backend.cpu()
            while written < len(payloads) and read < len(payloads):
                result = rater.run_once(block_ms=1000)
                read, written = read + result.read, written + result.written
                idle = 0 if result.read else idle + 1
                if idle >= 5:
                    raise SystemExit(f"{kind}: nothing more to read after {read} events")
            phase = Phase(
                f"{kind} bus → rater",
                written,
                time.perf_counter() - wall,
                time.process_time() - cpu,
                _delta(backend.cpu(), backend_cpu),
                published,
                f"{held.undelivered} {held.unit}",
            )
            phase.checks["bus empty"] = drained(bus)
    finally:
        close_bus(bus, redis)
    return phase


def drained(bus: CdrBus, seconds: float = 3.0) -> bool:
    """Nothing left undelivered or unacknowledged. JetStream removes acknowledged messages
    asynchronously, and JetStreamBus.backlog fails ("no message found") when they go between
    its stream_info and get_msg: asked again until it answers."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            left = bus.backlog()
            if (left.undelivered, left.unacknowledged) == (0, 0):
                return True
        except BusError as exc:
            log(f"{bus.kind}: backlog: {exc}; asking again")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


# Where one batch's time goes: (label, file, function, how): "all" its cumulative time, "own"
# the time in its own code, or (file, function): its cumulative time when called from there.
PROFILE_ROWS = (
    ("one batch (all)", "bench/cdr_ingest.py", "one_batch", "all"),
    ("bus read", "kemi/bus.py", "read", "all"),
    ("rate_event (all)", "admin/cdr_rating.py", "rate_event", "all"),
    ("  parse + validate (msgspec, all)", "admin/cdr_rating.py", "parse_event", "all"),
    ("    consistency (answered, terms)", "admin/cdr_rating.py", "_consistent", "all"),
    ("  pricing (_price → call_cost)", "admin/cdr_rating.py", "_price", "all"),
    ("  rate_event's own code (conversions, row)", "admin/cdr_rating.py", "rate_event", "own"),
    ("Rater.store (all)", "admin/rater.py", "store", "all"),
    ("  COPY: write_row", "psycopg/_copy.py", "write_row", ("admin/rater.py", "_copy")),
    ("  COPY: end (flush + server)", "contextlib.py", "__exit__", ("admin/rater.py", "_copy")),
    ("  ledger charge (execute)", "psycopg/cursor.py", "execute", ("admin/rater.py", "_charge")),
    ("commit", "psycopg/connection.py", "_commit_gen", "all"),
    ("settle (prepaid lookup)", "admin/rater.py", "settle", "all"),
    ("bus ack", "kemi/bus.py", "ack", "all"),
)


def profile(url: str, redis: Redis, payloads: list[bytes], batch_events: int) -> str:
    """cProfile of one batch on the Redis bus, in one thread: what Rater.run_once does with
    it, less the overlap (it rates the next batch while its writer thread writes this one)."""
    bus = open_bus("redis", redis, "")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            reset(conn)
            rater = bus_rater(conn, redis, bus, batch_events)
            precisions = rater.precisions()
            publish(bus, payloads[:batch_events], "bench-profile")

            def one_batch() -> int:
                deliveries = bus.read(batch_events, 1000)
                batch = rater.rate(deliveries, precisions)
                rater.write(batch)
                bus.ack(deliveries)
                return batch.events

            profiler = cProfile.Profile()
            profiler.enable()
            read = one_batch()
            profiler.disable()
    finally:
        close_bus(bus, redis)
    stats = pstats.Stats(profiler).stats  # (file, line, function) -> (cc, nc, tt, ct, callers)

    def seconds(path: str, function: str, how: str | tuple[str, str]) -> float:
        total = 0.0
        for (file, _, name), (_, _, tt, ct, callers) in stats.items():
            if not (file.endswith(path) and name == function):
                continue
            if how == "all":
                total += ct
            elif how == "own":
                total += tt
            else:
                total += sum(
                    c[3] for (f, _, n), c in callers.items() if f.endswith(how[0]) and n == how[1]
                )
        return total

    whole = seconds(*PROFILE_ROWS[0][1:])
    lines = [
        f"### Profile: one batch on the Redis bus ({read} events, cProfile, "
        f"wall time inflated by the profiler)",
        "",
        "| part | ms | µs/event | share |",
        "|---|---:|---:|---:|",
    ]
    for label, *where in PROFILE_ROWS:
        spent = seconds(*where)
        lines.append(
            f"| {label} | {spent * 1e3:.1f} | {spent / read * 1e6:.1f} | {spent / whole:.0%} |"
        )
    top = io.StringIO()
    pstats.Stats(profiler, stream=top).sort_stats("tottime").print_stats(12)
    body = top.getvalue()
    lines += [
        "",
        "Top functions by own time:",
        "",
        "```",
        body[body.find("   ncalls") :].rstrip(),
        "```",
    ]
    return "\n".join(lines)


def machine(url: str, redis: Redis) -> dict[str, str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    with psycopg.connect(url) as conn:
        version, commit = (
            conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("server_version", "synchronous_commit")
        )
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'cdrs'::regclass").fetchone()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "CPU": model,
        "load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "Python": platform.python_version(),
        "PostgreSQL": f"{version} (synchronous_commit={commit}, cdrs "
        f"{'partitioned' if kind[0] == 'p' else 'hypertable'})",
        "Redis": str(redis.info("server").get("redis_version", "?")),
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
    }


def report(phases: list[Phase], info: dict[str, str], args: argparse.Namespace) -> str:
    rated, stored = phases[0], phases[1]

    def us(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    def compacted(phase: Phase) -> str:
        if phase.compact_s is None:
            return "–"
        return f"{us(phase.per_event_us(phase.compact_backend_cpu_s))} ({phase.compact_s:.2f})"

    lines = [
        f"## CDR ingest: {args.events:,} events, one rater, batches of {args.batch_events} "
        f"events ({args.batch_events // RELAY_BATCH} relay batches of {RELAY_BATCH}: Redis "
        f"entries, NATS messages)",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [
        "",
        "| phase | CDRs/s (wall) | rater CPU µs/CDR | PostgreSQL backend CPU µs/CDR "
        "| + compaction after, PostgreSQL µs/CDR (s) "
        "| × rate + store | × rate_event only | publish events/s | checks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for phase in phases:
        publish_rate = (
            "–"
            if phase.publish_events_per_s is None
            else (f"{phase.publish_events_per_s:,.0f} ({phase.bus_units})")
        )
        checks = (
            "–"
            if not phase.checks
            else (
                "ok"
                if all(phase.checks.values())
                else "FAILED: " + ", ".join(k for k, ok in phase.checks.items() if not ok)
            )
        )
        lines.append(
            f"| {phase.name} | {phase.rate:,.0f} | {us(phase.per_event_us(phase.cpu_s))} "
            f"| {us(phase.per_event_us(phase.backend_cpu_s))} | {compacted(phase)} "
            f"| {phase.rate / stored.rate:.2f}× | {phase.rate / rated.rate:.2f}× "
            f"| {publish_rate} | {checks} |"
        )
    lines += ["", f"Target: ≥ {TARGET:,} CDRs/s per bus, one rater process."]
    for phase in (p for p in phases if " bus " in p.name):
        verdict = "met" if phase.rate >= TARGET else "NOT met"
        lines.append(
            f"- {phase.name}: {phase.rate:,.0f} CDRs/s: {verdict} "
            f"({phase.rate / TARGET:.2f}× the target)"
        )
    if rated.rate < TARGET:
        lines.append(
            f"- rate_event alone (no database, no bus) runs {rated.rate:,.0f} events/s: "
            "one rater process cannot meet the target with today's rating code."
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/cdr_ingest.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--events", type=int, default=200_000, help="CDR events (default 200000)")
    parser.add_argument(
        "--batch-events",
        type=int,
        default=2000,
        help="events per rater batch, a multiple of 500 (default 2000: Rater.batch_size 2000, "
        "4 relay batches on either bus, as many per transaction in the no-bus baseline)",
    )
    parser.add_argument("--buses", default="redis,nats", help="buses to run (default redis,nats)")
    parser.add_argument(
        "--rollup-baselines",
        default="all,none",
        help="no-bus phases besides the rollups as kept now (0016): all (the cdrs trigger "
        "writes all five, as migration 0010 had it), none (no rollups); default all,none; "
        "'' for neither",
    )
    parser.add_argument(
        "--bus-rollups",
        default="minute",
        help="how the bus phases keep the rollups: minute (as now, default), all (as 0010), "
        "or both (minute,all: each bus twice)",
    )
    parser.add_argument("--seed", type=int, default=42, help="event generator seed (default 42)")
    parser.add_argument(
        "--live-cps",
        type=int,
        default=0,
        help="0 (default): calls start at random over a day, the rollups' worst case; N: calls "
        "start at N per second and their events come in the order the calls end, as a switch "
        "carrying that traffic emits them",
    )
    parser.add_argument(
        "--database-url",
        default=DATABASE_URL,
        help=f"maintenance database URL "
        f"(default {DATABASE_URL}); the bench creates and drops {DATABASE}",
    )
    parser.add_argument("--redis-url", default=REDIS_URL, help=f"default {REDIS_URL}")
    parser.add_argument("--nats-url", default=NATS_URL, help=f"default {NATS_URL}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one batch (Redis bus): where it goes"
    )
    args = parser.parse_args(argv)
    args.buses = [b for b in args.buses.split(",") if b]
    args.rollup_baselines = [w for w in args.rollup_baselines.split(",") if w]
    args.bus_rollups = [w for w in args.bus_rollups.split(",") if w]
    if not set(args.rollup_baselines) <= {"all", "none"}:
        parser.error("--rollup-baselines: all and/or none")
    if not args.bus_rollups or not set(args.bus_rollups) <= {"minute", "all"}:
        parser.error("--bus-rollups: minute and/or all")
    if args.live_cps < 0:
        parser.error("--live-cps must be 0 or positive")
    if args.batch_events <= 0 or args.batch_events % RELAY_BATCH:
        parser.error(f"--batch-events must be a positive multiple of {RELAY_BATCH}")
    if not set(args.buses) <= {"redis", "nats"}:
        parser.error("--buses: redis and/or nats")
    return args


def traffic(live_cps: int) -> str:
    if live_cps:
        return f"live: calls start at {live_cps:,}/s, events in the order the calls end"
    return "calls start at random over a day, events in no order (the rollups' worst case)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    redis = Redis.from_url(args.redis_url)
    redis.ping()
    url = database_url(args.database_url)
    log(f"creating and migrating {DATABASE}")
    recreate_database(args.database_url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            cat = load_catalog(conn)
            precisions = dict(conn.execute(query("currency_precisions")).fetchall())
        info = machine(url, redis)
        log(f"generating {args.events} events (seed {args.seed}, {traffic(args.live_cps)})")
        payloads = make_events(args.events, args.seed, cat, args.live_cps)
        info["traffic"] = traffic(args.live_cps)
        rated, expected, answered = rate_only(payloads, precisions)
        info["events"] = (
            f"{len(payloads):,} ({answered / len(payloads):.0%} answered), "
            f"{sum(map(len, payloads)) / len(payloads):.0f} bytes each"
        )
        log(f"rate_event only: {rated.rate:,.0f} events/s")
        # one batch through the database path first, so the first timed phase does not pay
        # for cold caches and fresh WAL segments alone
        rate_and_store(url, redis, payloads[: args.batch_events], args.batch_events)
        with psycopg.connect(url, autocommit=True) as conn:
            reset(conn)
        phases = [rated]
        runs = [("store", "minute"), *(("store", way) for way in args.rollup_baselines)]
        runs += [(bus, way) for bus in args.buses for way in args.bus_rollups]
        for name, way in runs:
            with psycopg.connect(url, autocommit=True) as conn:
                keep_rollups(conn, way)
            if name == "store":
                phase = rate_and_store(url, redis, payloads, args.batch_events)
            else:
                phase = ingest(name, url, redis, args.nats_url, payloads, args.batch_events)
            phase.name += ROLLUP_WAYS[way]
            with psycopg.connect(url, autocommit=True) as conn:
                compact(conn, phase)
                phase.checks |= check(conn, len(payloads), expected, rollups=way != "none")
                keep_rollups(conn, "minute")
                reset(conn)
            log(
                f"{name}: {phase.rate:,.0f} CDRs/s, checks "
                f"{'ok' if all(phase.checks.values()) else phase.checks}"
            )
            phases.append(phase)
        profiled = profile(url, redis, payloads, args.batch_events) if args.profile else None
        info["load average at end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    finally:
        recreate_database(args.database_url, drop_only=True)
        redis.delete(contract.CDR_STREAM)
        redis.close()
    if args.json:
        document = {
            "machine": info,
            "events": args.events,
            "batch_events": args.batch_events,
            "target_cdrs_per_s": TARGET,
            "phases": [
                asdict(p)
                | {
                    "cdrs_per_s": p.rate,
                    "cpu_us_per_cdr": p.per_event_us(p.cpu_s),
                    "backend_cpu_us_per_cdr": p.per_event_us(p.backend_cpu_s),
                }
                for p in phases
            ],
            "target_met": {p.name: p.rate >= TARGET for p in phases if " bus " in p.name},
            "profile": profiled,
        }
        print(json.dumps(document, indent=2))
    else:
        print(report(phases, info, args))
        if profiled:
            print("\n" + profiled)
    return 0 if all(all(p.checks.values()) for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
