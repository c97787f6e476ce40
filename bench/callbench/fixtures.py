"""A fresh catalog for every run: the bench database is recreated, loaded and published.

Recreating (rather than deleting rows) keeps the benchmark working while others change the
schema: whatever ``akira migrate`` builds today is what gets loaded. It is published three
times: as loaded to Akira's Redis (c), then with CPS and concurrency limits on the customer and
every vendor to the Redis of Akira with limits (d), then with the customer's account made
prepaid and topped up through the ledger to the Redis of Akira with credit control (e).
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

from admin import catalog, ledger, routing_settings
from admin.catalog import RateRow
from admin.publisher import Publication, publish
from callbench.servers import HOST, PROJECT_DIR

BENCH_DATABASE_PREFIX = "akira_bench"
# (d)'s limits: far above any rate or number of calls in progress the bench reaches, so they
# never refuse a call, yet every call setup runs the limits function and every end a release.
CPS_LIMIT = 100_000
CONCURRENT_LIMIT = 1_000_000
# (e)'s top-up: buys every call of the longest run its full max duration (callbench.credit
# checks it), so credit never refuses a call nor shortens one; 10^15 units of 1e-8 stay exact
# in the Lua doubles of kemi.limits (below 2^53).
TOP_UP = 10_000_000
BENCH_USER = "bench/sipp_calls.py"


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
    customer: int  # its company id (the account (e) makes prepaid)
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
        customer=customer_id,
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


def make_prepaid(conn: psycopg.Connection, loaded: Catalog) -> ledger.Balance:
    """The customer's account prepaid and topped up, as ``akira account set --billing prepaid``
    and ``akira account topup`` do it (with their audit rows)."""
    with conn.transaction():
        ledger.set_billing(
            conn, loaded.customer, billing="prepaid", credit_limit=None, username=BENCH_USER
        )
        ledger.post(
            conn, loaded.customer, "topup", TOP_UP, note="bench: credit (e)", username=BENCH_USER
        )
    return ledger.balance(conn, loaded.customer)


def build_catalog(
    database_url: str,
    redis: Mapping[str, Redis],
    tariffs: Mapping[str, Sequence[RateRow]],
    vendor_ports: Mapping[str, int],
    snapshot_dir: Path,
) -> tuple[Catalog, dict[str, Publication]]:
    """The catalog published to ``redis["akira"]`` as loaded, then with limits on to
    ``redis["limits"]``, then with the customer prepaid to ``redis["credit"]`` (the publisher
    syncs its credit there; each with its own admin snapshot directory under ``snapshot_dir``).
    """
    recreate_database(database_url)
    with psycopg.connect(database_url) as conn:

        def publish_to(variant: str) -> Publication:
            return publish(
                conn,
                redis[variant],
                published_by=BENCH_USER,
                snapshot_dir=str(snapshot_dir / variant),
            )

        loaded = load_catalog(conn, tariffs, vendor_ports)
        publications = {"akira": publish_to("akira")}
        set_limits(conn, loaded)
        publications["limits"] = publish_to("limits")
        make_prepaid(conn, loaded)
        publications["credit"] = publish_to("credit")
    return loaded, publications
