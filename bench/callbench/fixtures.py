"""A fresh catalog for every run: the bench database is recreated, loaded and published.

Recreating (rather than deleting rows) keeps the benchmark working while others change the
schema: whatever ``akira migrate`` builds today is what gets loaded. It is published twice:
as loaded to Akira's Redis (c), then with CPS and concurrency limits on the customer and every
vendor to the Redis of Akira with limits (d).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from redis import Redis

from admin import catalog, routing_settings
from admin.catalog import RateRow
from admin.publisher import Publication, publish
from callbench.servers import HOST, PROJECT_DIR

BENCH_DATABASE_PREFIX = "akira_bench"
# (d)'s limits: far above any rate or number of calls in progress the bench reaches, so they
# never refuse a call, yet every call setup runs the limits function and every end a release.
CPS_LIMIT = 100_000
CONCURRENT_LIMIT = 1_000_000


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


@dataclass(frozen=True, slots=True)
class Catalog:
    terminators: dict[str, int]  # vendor name -> terminator id
    originator: int  # the bench customer's originator id
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
        originator = catalog.originator(
            conn, customer_id, "bench-customer", tariff_id, plan_id, [f"{HOST}/32"]
        )
    return Catalog(
        terminators=terminators,
        originator=originator,
        rates=sum(len(rows) for rows in tariffs.values()),
        load_seconds=time.perf_counter() - started,
    )


def set_limits(conn: psycopg.Connection, loaded: Catalog) -> None:
    """CPS and concurrency limits on the customer and every vendor, written as
    ``akira originator set`` / ``akira terminator set`` write them."""
    limits = {"cps_limit": CPS_LIMIT, "concurrent_limit": CONCURRENT_LIMIT}
    with conn.transaction():
        routing_settings.update(conn, "originators", loaded.originator, limits)
        for terminator_id in loaded.terminators.values():
            routing_settings.update(conn, "terminators", terminator_id, limits)


def build_catalog(
    database_url: str,
    redis: Mapping[str, Redis],
    tariffs: Mapping[str, Sequence[RateRow]],
    vendor_ports: Mapping[str, int],
    snapshot_dir: Path,
) -> tuple[Catalog, dict[str, Publication]]:
    """The catalog published to ``redis["akira"]`` as loaded, then with limits on to
    ``redis["limits"]`` (each with its own admin snapshot directory under ``snapshot_dir``)."""
    recreate_database(database_url)
    with psycopg.connect(database_url) as conn:

        def publish_to(variant: str) -> Publication:
            return publish(
                conn,
                redis[variant],
                published_by="bench/sipp_calls.py",
                snapshot_dir=str(snapshot_dir / variant),
            )

        loaded = load_catalog(conn, tariffs, vendor_ports)
        publications = {"akira": publish_to("akira")}
        set_limits(conn, loaded)
        publications["limits"] = publish_to("limits")
    return loaded, publications
