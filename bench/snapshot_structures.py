#!/usr/bin/env python3
"""Which structure should hold the published snapshot on a node? (DESIGN §3)

For each structure of ``callbench.structures`` and each catalog scale (the shared 50k deck as
21 tariffs; 21 generated decks of 1M codes), measure:

- build time (the publisher's work: tariff rows in memory -> files) and file size;
- correctness: every decision equals the engine's own per-process dicts (``kemi.rates``);
- open time, in a fresh process (what a SIP worker pays when the snapshot version moves);
- memory when 8 processes map it (PSS sums the shared pages once);
- full-decision latency (customer longest-prefix match + the 20 vendors' matches with effective
  windows, margin filter, least-cost order) with ``perf_counter_ns``, in one process (several
  runs) and in 8 processes at once (on a 2-core machine they take turns: that is the p99 a node
  with 8 SIP workers sees under full load).

Numbers are uniform over the customer deck's codes, padded with random digits to a plausible
E.164 length; half the decisions are made during the decks' +7-day notice (old rates, Closed
codes still open), half after it.

Run from the project root with the project's virtualenv (``pip install -e '.[dev,bench]'``):

    .venv/bin/python bench/snapshot_structures.py --scale 50k            # ~3 min
    .venv/bin/python bench/snapshot_structures.py --scale 1m             # ~30 min, 21 decks
    .venv/bin/python bench/snapshot_structures.py --scale 1m --structures route-table digit-trie

Decks come from ``callbench.bigdeck`` (generated once, cached under /var/tmp/akira-bench).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from callbench import bigdeck, tariffdata  # noqa: E402
from callbench.structures import Structure, structures  # noqa: E402

WORK = bigdeck.CACHE / "structures"
ISSUE = datetime(*bigdeck.ISSUE_DATE.timetuple()[:3], tzinfo=UTC)
ATS = [
    (ISSUE + timedelta(days=3, hours=12)).timestamp(),  # during the notice: previous rates
    (ISSUE + timedelta(days=30)).timestamp(),  # after: new rates, Closed codes gone
]
MAX_E164 = 15


def country_codes() -> set[str]:
    with (bigdeck.SHARED_DATA / "e164_country_codes.csv").open(newline="") as f:
        return {row["country_code"] for row in csv.DictReader(f)}


def dialed(prefixes: list[str], count: int, seed: int, spread: str = "codes") -> list[str]:
    """``count`` numbers padded with random digits to the length of a number of its country
    (+1/+7: 11 digits, else country code + 9, at most 15), each under a uniformly chosen code of
    the customer's deck (``spread="codes"``: most land deep, in breakouts) or under a uniformly
    chosen country code (``"countries"``: most stop at short codes)."""
    codes = country_codes()
    rng = random.Random(seed)
    pool = prefixes if spread == "codes" else sorted(codes)
    out = []
    for code in rng.choices(pool, k=count):
        cc = next((code[:n] for n in (1, 2, 3) if code[:n] in codes), code[:3])
        length = min(MAX_E164, max(len(cc) + (10 if cc in ("1", "7") else 9), len(code) + 2))
        out.append(code + "".join(rng.choices("0123456789", k=length - len(code))))
    return out


def file_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def warm_page_cache(paths: list[Path]) -> None:
    """Read the files once: every structure is measured from the page cache, as on a node
    where the publisher has just written them."""
    for path in paths:
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass


def verify(
    structure: Structure, directory: Path, reference: tariffdata.Reference, numbers: list[str]
) -> int:
    """Decisions that differ from the reference's (0 expected)."""
    decider = structure.open(directory)
    wrong = 0
    for number in numbers:
        for at in ATS:
            got = tariffdata.explain(decider, number, decider.decide(number, at))
            if got != reference.decide(number, at):
                wrong += 1
                if wrong <= 3:
                    print(f"  MISMATCH {structure.name} {number} at {at}", file=sys.stderr)
    return wrong


def start_worker(config: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "callbench.structworker", json.dumps(config)],
        cwd=BENCH,
        env={**os.environ, "PYTHONPATH": str(BENCH)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def measure(
    name: str, directory: Path, numbers: list[Path], warmup: int, workers: int
) -> list[dict[str, Any]]:
    """``workers`` processes opened together, started together; their results."""
    procs = [
        start_worker(
            {
                "structure": name,
                "directory": str(directory),
                "numbers": str(numbers[i % len(numbers)]),
                "ats": ATS,
                "warmup": warmup,
                "raw": workers > 1,
            }
        )
        for i in range(workers)
    ]
    try:
        ready = [json.loads(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
        for p in procs:
            p.stdin.write("go\n")  # type: ignore[union-attr]
            p.stdin.flush()  # type: ignore[union-attr]
        results = [json.loads(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
        for r, first in zip(results, ready, strict=True):
            r["ready_open_ns"] = first["open_ns"]
    finally:
        for p in procs:
            try:
                p.stdin.write("bye\n")  # type: ignore[union-attr]
                p.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            p.wait(timeout=60)
    return results


def pooled(results: list[dict[str, Any]]) -> dict[str, float]:
    every = sorted(x for r in results for x in r["latencies"])
    wall = max(r["wall_ns"] for r in results) / 1e9

    def q(p: float) -> float:
        return every[min(len(every) - 1, int(p * len(every)))] / 1000

    return {"p50_us": q(0.5), "p99_us": q(0.99), "p999_us": q(0.999), "per_s": len(every) / wall}


def run_scale(args: argparse.Namespace, scale: str) -> dict[str, Any]:
    started = time.perf_counter()
    catalog = bigdeck.small_catalog() if scale == "50k" else bigdeck.big_catalog()
    if args.vendors is not None:
        catalog = bigdeck.Catalog(catalog.customer, catalog.vendors[: args.vendors])
    catalog_s = time.perf_counter() - started
    prefix_rows = len(catalog.customer) + sum(len(rows) for _, rows in catalog.vendors)
    print(f"[{scale}] catalog: {prefix_rows:,} rows in {catalog_s:.1f} s", file=sys.stderr)
    work = WORK / scale
    work.mkdir(parents=True, exist_ok=True)
    prefixes = sorted({p for p, _ in catalog.customer})
    per_worker = args.warmup + args.numbers
    number_files = []
    for i in range(args.workers):
        path = work / f"numbers-{i}.txt"
        numbers = dialed(prefixes, per_worker, seed=1000 + i, spread=args.dial)
        path.write_text("\n".join(numbers) + "\n")
        number_files.append(path)
    reference = None
    if args.verify:
        started = time.perf_counter()
        reference = tariffdata.Reference(catalog.customer, [rows for _, rows in catalog.vendors])
        print(
            f"[{scale}] reference dicts in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
    checks = dialed(prefixes, args.verify, seed=7)
    checks += ["".join(random.Random(i).choices("0123456789", k=12)) for i in range(200)]
    report: dict[str, Any] = {
        "scale": scale,
        "dial": args.dial,
        "prefix_rows": prefix_rows,
        "tariffs": 1 + len(catalog.vendors),
        "catalog_load_s": catalog_s,
        "structures": {},
    }
    chosen = structures()
    for name in args.structures or list(chosen):
        structure = chosen[name]
        directory = work / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        cpu = time.process_time()
        info = structure.build(catalog, directory)
        build_s = time.perf_counter() - started
        build_cpu = time.process_time() - cpu
        files = structure.files(directory)
        size = file_bytes(files)
        print(f"[{scale}] {name}: built in {build_s:.1f} s, {size / 1e6:.1f} MB", file=sys.stderr)
        wrong = verify(structure, directory, reference, checks) if reference else None
        warm_page_cache(files)
        singles = [
            measure(name, directory, number_files, args.warmup, 1)[0] for _ in range(args.runs)
        ]
        many = measure(name, directory, number_files, args.warmup, args.workers)
        cores = [
            {"workers": n, **pooled(measure(name, directory, number_files, args.warmup, n))}
            for n in args.also_workers
        ]
        entry = {
            "description": structure.description,
            "info": info,
            "build_s": build_s,
            "build_cpu_s": build_cpu,
            "build_load": load,
            "files": len(files),
            "bytes": size,
            "verified": len(checks) * len(ATS) if reference else 0,
            "wrong": wrong,
            "single": [{k: v for k, v in s.items() if k != "latencies"} for s in singles],
            "concurrent": {
                "workers": args.workers,
                **pooled(many),
                "open_ms": [r["open_ns"] / 1e6 for r in many],
                "pss_total_kb": sum(r["memory_after_kb"]["Pss"] for r in many),
                "pss_added_kb": sum(
                    r["memory_after_kb"]["Pss"] - r["memory_before_kb"]["Pss"] for r in many
                ),
                "pss_file_kb": sum(r["memory_after_kb"]["Pss_File"] for r in many),
                "rss_kb": [r["memory_after_kb"]["Rss"] for r in many],
                "private_added_kb": [
                    r["memory_after_kb"]["Private_Dirty"] - r["memory_before_kb"]["Private_Dirty"]
                    for r in many
                ],
                "load": [r["load"] for r in many],
            },
            "also": cores,
        }
        report["structures"][name] = entry
        print(f"[{scale}] {name}: {summary_line(entry)}", file=sys.stderr)
        if not args.keep_files:
            shutil.rmtree(directory, ignore_errors=True)
    return report


def summary_line(entry: dict[str, Any]) -> str:
    singles = entry["single"]
    many = entry["concurrent"]
    p50 = "/".join(f"{s['p50_ns'] / 1000:.1f}" for s in singles)
    p99 = "/".join(f"{s['p99_ns'] / 1000:.1f}" for s in singles)
    opens = sorted(s["open_ns"] / 1e6 for s in singles)
    return (
        f"open {opens[len(opens) // 2]:.2f} ms, single p50 {p50} µs p99 {p99} µs, "
        f"{many['workers']} procs p50 {many['p50_us']:.1f} p99 {many['p99_us']:.1f} µs, "
        f"PSS(8) +{many['pss_added_kb'] / 1024:.0f} MB, wrong {entry['wrong']}"
    )


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"### {report['scale']}: {report['tariffs']} tariffs, {report['prefix_rows']:,} "
        f"(prefix, window) rows, numbers uniform over {report['dial']}",
        "",
        "| structure | build s | files MB | open ms | PSS 8 procs MB (added) | RSS/proc MB "
        "| single p50 µs | single p99 µs | 8-proc p50 µs | 8-proc p99 µs | decisions/s (8) "
        "| fewer procs: p50 / p99 µs | checked |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in report["structures"].items():
        many = e["concurrent"]
        opens = sorted(s["open_ns"] / 1e6 for s in e["single"])
        lines.append(
            f"| {name} | {e['build_s']:.1f} | {e['bytes'] / 1e6:.1f} | "
            f"{opens[len(opens) // 2]:.2f} | {many['pss_total_kb'] / 1024:.0f} "
            f"({many['pss_added_kb'] / 1024:.0f}) | "
            f"{max(many['rss_kb']) / 1024:.0f} | "
            + " / ".join(f"{s['p50_ns'] / 1000:.1f}" for s in e["single"])
            + " | "
            + " / ".join(f"{s['p99_ns'] / 1000:.1f}" for s in e["single"])
            + f" | {many['p50_us']:.1f} | {many['p99_us']:.1f} | {many['per_s']:,.0f} | "
            + ", ".join(
                f"{a['workers']}: {a['p50_us']:.1f} / {a['p99_us']:.1f}" for a in e.get("also", [])
            )
            + f" | {e['verified'] - (e['wrong'] or 0)}/{e['verified']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=("50k", "1m"), action="append")
    parser.add_argument("--structures", nargs="*", help=f"default: all of {list(structures())}")
    parser.add_argument("--numbers", type=int, default=30_000, help="timed decisions per process")
    parser.add_argument("--warmup", type=int, default=3_000)
    parser.add_argument("--runs", type=int, default=3, help="single-process runs")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--also-workers",
        type=int,
        nargs="*",
        default=[2],
        help="further concurrent runs, latency only (default 2: one process per core)",
    )
    parser.add_argument(
        "--dial", choices=("codes", "countries"), default="codes", help="see dialed()"
    )
    parser.add_argument("--verify", type=int, default=2_000, help="numbers checked (0: none)")
    parser.add_argument("--keep-files", action="store_true")
    parser.add_argument("--vendors", type=int, help="only the plan's first N vendors (default 20)")
    parser.add_argument("--out", type=Path, help="append the JSON results here")
    parser.add_argument("--render", type=Path, help="only print the tables of a results file")
    args = parser.parse_args()
    if args.render:
        for line in args.render.read_text().splitlines():
            print(markdown(json.loads(line)))
        return
    for scale in args.scale or ["50k", "1m"]:
        if scale == "1m":
            bigdeck.generate(bigdeck.specs())
        report = run_scale(args, scale)
        report["when"] = datetime.now(UTC).isoformat(timespec="seconds")
        report["cpus"] = os.cpu_count()
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(report) + "\n")
        print(markdown(report))


if __name__ == "__main__":
    main()
