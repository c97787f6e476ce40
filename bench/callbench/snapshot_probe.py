"""Memory of one mapped snapshot, measured in a fresh interpreter.

Run by bench/sipp_calls.py as ``python -m callbench.snapshot_probe SNAPSHOT_DIR NUMBERS``
(cwd bench/; NUMBERS a file of dialed numbers, one a line). A fresh process, because memory
deltas are only meaningful when nothing earlier left freed arenas or mapped pages behind.
Prints JSON: what mapping the node's installed snapshot costs the process (resident and
anonymous memory), the same after ``decide`` for every number, and tracemalloc's count of the
Python objects a second map makes (the decoded manifest). Resident memory includes the tariff
pages the lookups touched: file pages, shared by every worker of the node; anonymous memory
(heap) is what one more Kamailio worker pays.
"""

from __future__ import annotations

import gc
import json
import sys
import tracemalloc
from pathlib import Path

from callbench.engine import request
from callbench.processes import smaps_rollup
from kemi.pipeline import decide
from kemi.store import SnapshotStore


def memory() -> tuple[int, int]:
    """(resident, anonymous) bytes of this process."""
    rollup = smaps_rollup("self")
    return rollup["Rss"], rollup["Anonymous"]


def main(argv: list[str]) -> int:
    directory, numbers = argv[1], Path(argv[2]).read_text().split()
    gc.collect()
    rss, anonymous = memory()
    store = SnapshotStore(directory)
    store.refresh()
    snapshot = store.snapshot
    if snapshot is None:
        raise RuntimeError(f"no snapshot installed in {directory}")
    gc.collect()
    mapped_rss, mapped_anonymous = memory()
    for index, number in enumerate(numbers):
        decide(snapshot, request(number, f"probe-{index}"))
    gc.collect()
    decided_rss, decided_anonymous = memory()
    tracemalloc.start()  # a second map of the same version, for its Python objects alone
    again = SnapshotStore(directory)
    again.refresh()
    gc.collect()
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "map_rss_bytes": mapped_rss - rss,
                "map_anon_bytes": mapped_anonymous - anonymous,
                "manifest_traced_bytes": traced,
                "decided": len(numbers),
                "decided_rss_bytes": decided_rss - rss,
                "decided_anon_bytes": decided_anonymous - anonymous,
                "tariffs": len(snapshot.tariffs),
                "route_tables": len(snapshot.route_tables),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
