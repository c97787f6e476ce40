"""A fresh catalog for every run: the bench database is recreated, loaded and published.

Recreating (rather than deleting rows) keeps the benchmark working while others change the
schema: whatever ``akira migrate`` builds today is what gets loaded.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from redis import Redis

from admin import catalog
from admin.catalog import RateRow
from admin.publisher import Publication, publish
from callbench.servers import HOST, PROJECT_DIR

BENCH_DATABASE_PREFIX = "akira_bench"


def recreate_database(database_url: str) -> None:
    """Drop and re-create the bench database with the project's own migrate command."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    name = str(info.get("dbname", ""))
    if not name.startswith(BENCH_DATABASE_PREFIX):
        raise SystemExit(
            f"refusing to drop database {name!r}: its name must start with "
            f"{BENCH_DATABASE_PREFIX!r}"
        )
    maintenance = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(drop.format(sql.Identifier(name)))
    subprocess.run(
        [str(PROJECT_DIR / ".venv" / "bin" / "akira"), "migrate", "--create-database"],
        env={"AKIRA_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    )


def reset_redis(redis: Redis) -> None:
    """Empty the bench's own Redis database; never database 0, which others use."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    if int(database) == 0:
        raise SystemExit("refusing to flush Redis database 0: give the bench its own database")
    redis.flushdb()


@dataclass(frozen=True, slots=True)
class Catalog:
    terminators: dict[str, int]  # vendor name -> terminator id
    rates: int
    load_seconds: float


def load_catalog(
    conn: psycopg.Connection,
    tariffs: Mapping[str, Sequence[RateRow]],
    vendor_ports: Mapping[str, int],
) -> Catalog:
    """One customer (source 127.0.0.1) and three vendors in one least-cost routing plan."""
    started = time.perf_counter()
    with conn.transaction():
        terminators = {}
        for vendor, port in vendor_ports.items():
            company_id = catalog.company(conn, f"Vendor {vendor}", vendor=True)
            tariff_id = catalog.tariff(
                conn, f"Vendor {vendor} USD", tariffs[vendor], description="bench: 50k deck"
            )
            terminators[vendor] = catalog.terminator(
                conn, company_id, f"vendor-{vendor.lower()}", tariff_id, [(HOST, port, "udp")]
            )
        plan_id = catalog.routing_plan(conn, "Bench LCR", list(terminators.values()))
        customer_id = catalog.company(conn, "Bench Customer", customer=True)
        tariff_id = catalog.tariff(
            conn, "Bench customer USD", tariffs["customer"], description="bench: vendor A x1.25"
        )
        catalog.originator(conn, customer_id, "bench-customer", tariff_id, plan_id, [f"{HOST}/32"])
    return Catalog(
        terminators=terminators,
        rates=sum(len(rows) for rows in tariffs.values()),
        load_seconds=time.perf_counter() - started,
    )


def build_catalog(
    database_url: str,
    redis: Redis,
    tariffs: Mapping[str, Sequence[RateRow]],
    vendor_ports: Mapping[str, int],
) -> tuple[Catalog, Publication]:
    recreate_database(database_url)
    reset_redis(redis)
    with psycopg.connect(database_url) as conn:
        loaded = load_catalog(conn, tariffs, vendor_ports)
        publication = publish(conn, redis, published_by="bench/sipp_calls.py")
    return loaded, publication
