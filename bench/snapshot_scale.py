"""The production snapshot at 1M prefixes x 21 tariffs: publish, node sync, decisions, memory.

Measures the engine's own code (admin.publisher, kemi.snapshot_sync, kemi.store, kemi.pipeline)
on the catalog ``python -m callbench.bigdeck load-db`` puts in ``akira_bigdeck`` (one customer,
20 vendors of 1M codes each, one least-cost plan), against the issue's targets:

- publish of 21M prefixes <= 60 s (from scratch; then unchanged, and after one vendor changed)
- a node's fetch of the files, and a worker's switch to a new version <= 10 ms
- full decision p50 <= 40 us, p99 <= 100 us (uniform random numbers over the customer's codes),
  in one process and in 8 processes at once
- the snapshot once per node: <= 1.5 GB in all, <= 25 MB private per worker (8 processes)
- ``akira simulate`` <= 200 ms, ``akira simulate --numbers`` >= 10,000 numbers/s

Run from the project root: ``.venv/bin/python bench/snapshot_scale.py [--json OUT]``. It uses
Redis database 12 (flushed) and ``/var/tmp/akira-bench/scale`` (re-created).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from redis import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from admin.publisher import publish  # noqa: E402
from kemi.pipeline import decide  # noqa: E402
from kemi.request import CallRequest  # noqa: E402
from kemi.snapshot_sync import SnapshotSync  # noqa: E402
from kemi.store import SnapshotStore  # noqa: E402

DATABASE = "postgresql://akira:akira@127.0.0.1:5432/akira_bigdeck"
REDIS_URL = "redis://127.0.0.1:6379/12"
WORK = Path("/var/tmp/akira-bench/scale")
SOURCE = "127.0.0.1"  # the bigdeck customer's device


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def dialed_numbers(conn: psycopg.Connection, count: int, seed: int = 42) -> list[str]:
    """Numbers spread uniformly over the customer's codes, padded to 12 digits (at least one
    digit more than the code, so the longest prefix is found inside the number)."""
    tariff_id = conn.execute("SELECT tariff_id FROM originators LIMIT 1").fetchone()[0]
    codes = [
        row[0]
        for row in conn.execute(
            "SELECT prefix FROM rates WHERE tariff_id = %s AND effective_to IS NULL", (tariff_id,)
        )
    ]
    rng = random.Random(seed)
    numbers = []
    for code in rng.sample(codes, min(count, len(codes))):
        digits = max(12, len(code) + 1) - len(code)
        numbers.append(code + "".join(rng.choice("0123456789") for _ in range(digits)))
    return numbers


def time_decisions(directory: str, numbers: list[str], at_ms: int) -> list[float]:
    store = SnapshotStore(directory)
    store.refresh()
    snapshot = store.snapshot
    assert snapshot is not None
    requests = [
        CallRequest(f"c{i}", SOURCE, 5060, "udp", n, "15550001", "t", at_ms)
        for i, n in enumerate(numbers)
    ]
    for request in requests[:2000]:  # warm-up
        decide(snapshot, request)
    times = []
    for request in requests:
        started = time.perf_counter_ns()
        decide(snapshot, request)
        times.append((time.perf_counter_ns() - started) / 1000)
    return sorted(times)


def _worker(args: tuple[str, list[str], int, multiprocessing.Queue]) -> None:
    directory, numbers, at_ms, queue = args
    times = time_decisions(directory, numbers, at_ms)
    queue.put((times, private_mb(os.getpid()), pss_mb(os.getpid())))
    time.sleep(3)  # stay mapped while the parent reads every process's memory


def smaps(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as file:
        for line in file:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1])
    return values


def private_mb(pid: int) -> float:
    rollup = smaps(pid)
    return (rollup["Private_Clean"] + rollup["Private_Dirty"]) / 1024


def pss_mb(pid: int) -> float:
    return smaps(pid)["Pss"] / 1024


def concurrent(directory: str, numbers: list[str], at_ms: int, processes: int) -> dict:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    share = len(numbers) // processes
    workers = [
        multiprocessing.Process(
            target=_worker, args=((directory, numbers[i * share : (i + 1) * share], at_ms, queue),)
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    times = sorted(t for result in results for t in result[0])
    return {
        "processes": processes,
        "p50_us": percentile(times, 0.5),
        "p99_us": percentile(times, 0.99),
        "private_mb_per_process_max": max(r[1] for r in results),
        "pss_mb_all": sum(r[2] for r in results),
    }


def simulate_cli(directory: str, number: str, numbers_file: Path) -> dict:
    env = os.environ | {"AKIRA_SNAPSHOT_DIR": directory, "AKIRA_REDIS_URL": REDIS_URL}
    akira = str(ROOT / ".venv" / "bin" / "akira")
    walls = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(
            [akira, "simulate", "--src-ip", SOURCE, "--number", number],
            env=env,
            check=True,
            capture_output=True,
        )
        walls.append(time.perf_counter() - started)
    started = time.perf_counter()
    done = subprocess.run(
        [akira, "simulate", "--src-ip", SOURCE, "--numbers", str(numbers_file)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    rows = done.stdout.count("\n") - 1
    return {
        "simulate_ms_median": statistics.median(walls) * 1000,
        "numbers": rows,
        "numbers_wall_s": elapsed,
        "numbers_per_s_wall": rows / elapsed,
        "numbers_reported": done.stderr.strip(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--numbers", type=int, default=40_000)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()

    shutil.rmtree(WORK, ignore_errors=True)
    admin_dir, node_dir = str(WORK / "admin"), str(WORK / "node")
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    results["load_before"] = os.getloadavg()
    with psycopg.connect(DATABASE) as conn:
        numbers = dialed_numbers(conn, args.numbers)
        for label in ("publish_from_scratch", "publish_unchanged"):
            started = time.perf_counter()
            publication = publish(conn, redis, published_by="bench", snapshot_dir=admin_dir)
            results[label] = {
                "seconds": round(time.perf_counter() - started, 1),
                "rates": publication.rates,
                "compiled_files": publication.compiled_tariffs,
            }
        started = time.perf_counter()
        SnapshotSync(redis, node_dir, node="scale").poll()
        results["node_fetch_s"] = round(time.perf_counter() - started, 2)
        store = SnapshotStore(node_dir)
        started = time.perf_counter()
        store.refresh()
        results["first_map_ms"] = round((time.perf_counter() - started) * 1000, 2)
        files = Path(node_dir, "files")
        results["files_mb"] = round(sum(f.stat().st_size for f in files.iterdir()) / 1e6, 1)

        with conn.transaction():  # one vendor's 4420 breakouts up 1 %
            conn.execute(
                "UPDATE rates SET rate = rate * 1.01 WHERE prefix LIKE '4420%%' AND tariff_id = "
                "(SELECT tariff_id FROM terminators ORDER BY id LIMIT 1)"
            )
        started = time.perf_counter()
        publication = publish(conn, redis, published_by="bench", snapshot_dir=admin_dir)
        results["publish_one_vendor_changed"] = {
            "seconds": round(time.perf_counter() - started, 1),
            "compiled_files": publication.compiled_tariffs,
        }
        SnapshotSync(redis, node_dir, node="scale").poll()
        started = time.perf_counter()
        store.refresh()  # the worker's switch: the customer file is reused, the table mapped
        results["switch_ms"] = round((time.perf_counter() - started) * 1000, 2)

    at_ms = int(time.time() * 1000)
    single = time_decisions(node_dir, numbers, at_ms)
    results["decision_single"] = {
        "p50_us": percentile(single, 0.5),
        "p99_us": percentile(single, 0.99),
        "mean_us": statistics.fmean(single),
    }
    results["decision_concurrent"] = concurrent(node_dir, numbers, at_ms, args.processes)
    results["decision_two"] = concurrent(node_dir, numbers, at_ms, 2)
    numbers_file = WORK / "numbers.csv"
    numbers_file.write_text("number\n" + "\n".join(numbers[:20_000]) + "\n")
    results["simulate"] = simulate_cli(node_dir, numbers[0], numbers_file)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
