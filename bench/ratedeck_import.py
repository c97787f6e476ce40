"""A 1M-row rate deck through the importer: parse + validate, diff against the previous 1M-row
version of the same vendor's deck, apply (one transaction), and optionally publish.

Issue 9's target: the whole import in <= 20 s and <= 1 GB peak RSS. The deck is
``gen_ratedeck.py --rows 1000000`` (deck 1 of ``callbench.bigdeck``, cached); its previous
version is derived from it the way the vendor's last deck looked: every code but the New ones,
at its Previous Rate, in force since a year before (so the new deck's Increase, Decrease, New
and Closed rows are real changes against it). Both go through ``admin.ratedecks``, the one
reader of decks, into a freshly migrated database of their own.

Run from ``bench/``: ``../.venv/bin/python ratedeck_import.py [--publish]`` (``--rows`` for a
smaller deck; ``--publish`` also compiles and publishes the snapshot into ``--redis-url``).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from callbench import bigdeck

from admin.ratedecks import store
from admin.ratedecks.diff import Omitted, OmittedMode
from admin.ratedecks.normalize import read_deck
from admin.services import Actor

DATABASE = "akira_ratedeck_bench"
DEFAULT_DATABASE = f"postgresql://akira:akira@127.0.0.1:5432/{DATABASE}"
ISSUE = datetime(*bigdeck.ISSUE_DATE.timetuple()[:3], tzinfo=UTC)  # the deck's changes to come
TARGET_SECONDS = 20.0
TARGET_MB = 1024.0


def cpu() -> float:
    """This process's CPU seconds (user + system): the part of a phase a loaded machine's
    other work does not inflate (PostgreSQL's own work is not in it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def previous_version(deck: Path, out: Path) -> None:
    """The vendor's last deck: the codes before this one's changes, at their previous rates."""
    with deck.open(newline="", encoding="utf-8") as source, out.open("w", newline="") as target:
        rows = csv.reader(source)
        header = next(rows)
        at = {name: i for i, name in enumerate(header)}
        write = csv.writer(target).writerow
        write(header)
        a_year_before = (bigdeck.ISSUE_DATE - timedelta(days=365)).isoformat()
        for row in rows:
            if row[at["Change"]] == "New":
                continue
            row[at["Rate"]] = row[at["Previous Rate"]] or row[at["Rate"]]
            row[at["Change"]] = "Unchanged"
            row[at["Effective Date"]] = a_year_before
            write(row)


@dataclass(frozen=True, slots=True)
class NodeCheck:
    fetch_seconds: float  # a node's sync fetches and installs the published version
    map_seconds: float  # a SIP worker maps it: from then on calls are routed with it
    file_bytes: int
    sampled: int
    agreed: int


def routes_with(conn, redis, node_dir: Path, tariff_id: int, sample: int = 10_000) -> NodeCheck:
    """What Kamailio does after a publish (kemi.snapshot_sync, then kemi.store, as in
    bench/callbench/engine.py), timed; then the mapped tariff's rate for sampled codes
    against the windows in force in the database now."""
    from callbench.engine import load_snapshot

    from kemi.rates import money_units

    snapshot, load = load_snapshot(redis, node_dir)
    rates = snapshot.tariffs[tariff_id].rates
    assert rates is not None
    now = datetime.now(UTC)
    rows = conn.execute(
        "SELECT prefix, rate FROM rates WHERE tariff_id = %s AND effective_from <= %s"
        " AND (effective_to IS NULL OR effective_to > %s) ORDER BY random() LIMIT %s",
        (tariff_id, now, now, sample),
    ).fetchall()
    at = int(now.timestamp())
    agreed = 0
    for prefix, rate in rows:
        found = rates.match(prefix, at)
        agreed += found is not None and found.prefix == prefix and found.rate == money_units(rate)
    return NodeCheck(load.fetch_seconds, load.map_seconds, load.file_bytes, len(rows), agreed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=bigdeck.ROWS)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--publish", action="store_true", help="then publish the snapshot")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/2")
    args = parser.parse_args()

    import psycopg

    from admin import catalog

    spec = bigdeck.DeckSpec(1, args.rows)
    bigdeck.generate_one(spec)
    work = Path(tempfile.mkdtemp(prefix="akira-ratedeck-"))  # removed at the end
    previous = work / "previous.csv"
    previous_version(spec.csv, previous)
    bigdeck.recreate_database(args.database_url, allowed=DATABASE)
    actor = Actor("bench", "bench")
    with psycopg.connect(args.database_url) as conn:
        tariff_id = catalog.tariff(conn, "Vendor V01 USD", [])
        # priced to a customer's trunk, so a publish compiles it into a tariff file (a vendor's
        # tariff is compiled only into the route tables of the plans it is in)
        customer = catalog.company(conn, "Customer V01", customer=True)
        catalog.originator(conn, customer, "customer-v01", tariff_id, None, ["127.0.0.1/32"])
        conn.commit()
        tariff = store.Tariff(tariff_id, "Vendor V01 USD", "USD")

        started = time.perf_counter()
        last_month = ISSUE - timedelta(days=30)  # the last deck was imported a month before
        base = store.apply(
            conn, tariff, read_deck(previous, currency="USD"), None, actor, now=last_month
        )
        first_load = time.perf_counter() - started
        print(f"previous version loaded: {len(base.inserts):,} windows in {first_load:.1f} s")
        del base
        baseline_mb = peak_mb()

        t0 = time.perf_counter()
        c0 = cpu()
        deck = read_deck(spec.csv, currency="USD")
        t1 = time.perf_counter()
        c1 = cpu()
        parse_mb = peak_mb()
        preview = store.preview(conn, tariff, deck, Omitted(OmittedMode.CLOSE), now=ISSUE)
        t2 = time.perf_counter()
        c2 = cpu()
        counts = dict(sorted((str(k), v) for k, v in preview.counts.items()))
        del preview
        applied = store.apply(conn, tariff, deck, Omitted(OmittedMode.CLOSE), actor, now=ISSUE)
        t3 = time.perf_counter()
        c3 = cpu()
        writes = (len(applied.delete_ids), len(applied.ends), len(applied.inserts))
        del applied
        publish_seconds = publish_cpu = None
        if args.publish:
            from redis import Redis

            from admin.publisher import publish

            snapshot_dir = work / "snapshots"
            snapshot_dir.mkdir()
            redis = Redis.from_url(args.redis_url)
            publish(conn, redis, published_by="bench",
                    snapshot_dir=str(snapshot_dir), node_wait=0)  # fmt: skip
            publish_seconds = time.perf_counter() - t3
            publish_cpu = cpu() - c3
            node = routes_with(conn, redis, work / "node", tariff_id)
        again = store.apply(conn, tariff, deck, Omitted(OmittedMode.CLOSE), actor, now=ISSUE)
        t4 = time.perf_counter()
        c4 = cpu()
    shutil.rmtree(work, ignore_errors=True)
    # what `akira import rates` costs: read + validate, then apply (which diffs in its
    # transaction); the preview is what a --dry-run adds before it
    total = (t1 - t0) + (t3 - t2) + (publish_seconds or 0)
    peak = peak_mb()
    print(f"deck {spec.csv.name}: {deck.rows:,} rows, {len(deck.rates):,} codes")
    print(f"diff against the previous version: {counts}")
    print(f"writes: {writes[0]:,} deleted, {writes[1]:,} ended, {writes[2]:,} inserted")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall s (our CPU s)")
    print(f"parse + validate  {t1 - t0:6.1f} s ({c1 - c0:5.1f})  peak RSS {parse_mb:6.0f} MB")
    print(f"diff (preview)    {t2 - t1:6.1f} s ({c2 - c1:5.1f})")
    print(f"apply             {t3 - t2:6.1f} s ({c3 - c2:5.1f})  (diffs again in its transaction)")
    if publish_seconds is not None:
        print(f"publish           {publish_seconds:6.1f} s ({publish_cpu:5.1f})")
        print(f"node: fetch {node.fetch_seconds:.2f} s, map {node.map_seconds * 1000:.1f} ms "
              f"({node.file_bytes / 1e6:.0f} MB of files); the engine's rate = the database's "
              f"for {node.agreed:,} of {node.sampled:,} sampled codes")  # fmt: skip
        total += node.fetch_seconds + node.map_seconds
    noop, noop_cpu = t4 - t3 - (publish_seconds or 0), c4 - c3 - (publish_cpu or 0)
    print(f"re-import (no-op) {noop:6.1f} s ({noop_cpu:5.1f}), {again.writes} writes")
    steps = "parse + apply" + (" + publish + a node routes with it" if args.publish else "")
    print(f"total ({steps}) {total:6.1f} s   peak RSS {peak:6.0f} MB")
    print(f"peak RSS after loading the previous version: {baseline_mb:.0f} MB")
    print(
        f"ratios: time / target {total / TARGET_SECONDS:.2f}, peak RSS / target "
        f"{peak / TARGET_MB:.2f}; apply / parse {(t3 - t2) / (t1 - t0):.2f}; "
        f"{deck.rows / total:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
