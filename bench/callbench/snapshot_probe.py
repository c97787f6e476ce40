"""Memory of one loaded snapshot, measured in a fresh interpreter.

Run by bench/sipp_calls.py as ``python -m callbench.snapshot_probe REDIS_URL`` (cwd bench/).
A fresh process, because the resident-size delta of a load is only meaningful when no earlier
load left freed arenas behind. Prints JSON: the resident delta of a first load (what one more
Kamailio worker pays), then tracemalloc's count of what a second load keeps allocated (Python
objects only, independent of allocator slack).
"""

from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

from redis import Redis

from kemi.store import SnapshotStore


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def load(redis: Redis) -> tuple[object, float]:
    store = SnapshotStore(redis)
    started = time.perf_counter()
    store.refresh()
    if store.snapshot is None:
        raise RuntimeError("no snapshot could be loaded")
    return store.snapshot, time.perf_counter() - started


def main(argv: list[str]) -> int:
    redis = Redis.from_url(argv[1], socket_timeout=30)
    redis.ping()  # connect before measuring, so the client's buffers are not counted
    gc.collect()
    before = resident_bytes()
    first, first_seconds = load(redis)
    gc.collect()
    resident_delta = resident_bytes() - before

    tracemalloc.start()
    second, _ = load(redis)
    gc.collect()
    traced, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    rates = sum(len(index) for index in second.tariffs.values())
    print(
        json.dumps(
            {
                "cold_load_s": first_seconds,
                "rss_delta_bytes": resident_delta,
                "traced_bytes": traced,
                "traced_peak_bytes": peak,
                "prefixes": rates,
                "tariffs": len(second.tariffs),
                "same_version": first.version == second.version,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
