"""Quality table: one lookup per candidate vendor, mapped file vs a per-process dict.

    .venv/bin/python bench/quality_lookup.py [ENTRIES] [TERMINATORS]

Prints the per-lookup cost of the mapped table (kemi.quality) and of a dict holding the same
entries, each one's load time, and the dict's memory (what every Kamailio worker would hold).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
import tracemalloc

from kemi import quality
from kemi.quality import Measured, QualityRow, QualityTable
from kemi.snapshot_files import write_atomic


def main() -> None:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    terminators = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    rng = random.Random(7)
    rows = {}
    while len(rows) < entries:
        key = (rng.randrange(terminators), str(rng.randrange(10, 10 ** rng.randrange(3, 9))))
        rows[key] = QualityRow(*key, Measured(rng.randrange(1, 500), 10, 100_000, 50_000))
    path = tempfile.mkdtemp() + "/quality"
    write_atomic(path, quality.encode(rows.values(), computed_at=0, window_seconds=3600,
                                      expires_at=1e12))  # fmt: skip
    keys = [rng.choice(list(rows)) for _ in range(20_000)]

    started = time.perf_counter()
    table = QualityTable(path)
    mapped_open = time.perf_counter() - started
    started = time.perf_counter()
    for terminator_id, prefix in keys:
        table.measured(terminator_id, prefix)
    mapped = (time.perf_counter() - started) / len(keys)

    tracemalloc.start()
    started = time.perf_counter()
    held = {(r.terminator_id, r.prefix): r.measured for r in table.rows()}
    dict_load = time.perf_counter() - started
    dict_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    started = time.perf_counter()
    for key in keys:
        held.get(key)
    in_dict = (time.perf_counter() - started) / len(keys)

    print(f"{entries} entries, {terminators} terminators")
    print(f"mapped: open {mapped_open * 1e3:.2f} ms, lookup {mapped * 1e6:.2f} us")
    print(f"dict:   load {dict_load * 1e3:.0f} ms, lookup {in_dict * 1e6:.2f} us, "
          f"{dict_bytes / 2**20:.0f} MiB per process")  # fmt: skip
    print(f"lookup ratio mapped/dict {mapped / in_dict:.1f}x")


if __name__ == "__main__":
    main()
