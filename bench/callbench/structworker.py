"""One measuring process of ``snapshot_structures.py``: open a structure, decide, report.

Runs as a fresh interpreter (``python -m callbench.structworker CONFIG``), like a Kamailio SIP
worker that opens the published files after fork: it inherits none of the harness's memory, so
its RSS/PSS is what one worker would hold. Protocol on stdout/stdin, one JSON line each way:
it prints ``{"ready": ...}`` once opened and warmed, waits for a line (all workers start
together), measures, prints the results, and waits for another line before exiting, so that
the harness reads every worker's memory while all of them still map the files.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


def memory() -> dict[str, int]:
    """This process's /proc/self/smaps_rollup figures, in kB."""
    found = {}
    with open("/proc/self/smaps_rollup", encoding="ascii") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                found[name] = int(rest.split()[0])
    return {k: found.get(k, 0) for k in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Private_Dirty")}


def percentile(ordered: list[int], q: float) -> int:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(config: dict[str, Any]) -> None:
    from callbench.structures import structures

    structure = structures()[config["structure"]]
    for library in ("marisa_trie", "lmdb"):  # imported before the clock: open times the open
        __import__(library)
    before = memory()
    started = time.perf_counter_ns()
    decider = structure.open(Path(config["directory"]))
    open_ns = time.perf_counter_ns() - started
    if "numpy" in sys.modules:
        raise RuntimeError("a reader imported numpy: the engine cannot")
    numbers = Path(config["numbers"]).read_text().split()
    ats = config["ats"]
    decide = decider.decide
    for i, number in enumerate(numbers[: config["warmup"]]):
        decide(number, ats[i % len(ats)])
    print(json.dumps({"ready": True, "open_ns": open_ns}), flush=True)
    sys.stdin.readline()
    clock = time.perf_counter_ns
    latencies = []
    load_before = os.getloadavg()[0]
    wall = clock()
    for i, number in enumerate(numbers[config["warmup"] :]):
        at = ats[i % len(ats)]
        t = clock()
        decide(number, at)
        latencies.append(clock() - t)
    wall = clock() - wall
    # what the engine adds for the call it relays: Terms of the customer and first vendor
    with_terms = []
    for i, number in enumerate(numbers[config["warmup"] :][:5000]):
        at = ats[i % len(ats)]
        t = clock()
        decision = decide(number, at)
        if decision is not None:
            decider.customer_terms(decision[0][1])
            if decision[1]:
                decider.vendor_terms(decision[1][0][1], decision[1][0][2])
        with_terms.append(clock() - t)
    after = memory()
    latencies.sort()
    with_terms.sort()
    print(
        json.dumps(
            {
                "open_ns": open_ns,
                "decisions": len(latencies),
                "wall_ns": wall,
                "p50_ns": percentile(latencies, 0.50),
                "p99_ns": percentile(latencies, 0.99),
                "p999_ns": percentile(latencies, 0.999),
                "mean_ns": sum(latencies) // len(latencies),
                "with_terms_p50_ns": percentile(with_terms, 0.50),
                "with_terms_p99_ns": percentile(with_terms, 0.99),
                "latencies": latencies if config.get("raw") else [],
                "memory_before_kb": before,
                "memory_after_kb": after,
                "load": [load_before, os.getloadavg()[0]],
                "gc": gc.get_count(),
            }
        ),
        flush=True,
    )
    sys.stdin.readline()


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
