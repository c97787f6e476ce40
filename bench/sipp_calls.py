#!/usr/bin/env python3
"""Akira's first benchmark: SIPp calls through a native Kamailio relay and through Akira's engine.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/sipp_calls.py --quick          # a few seconds per point: does it work?
    .venv/bin/python bench/sipp_calls.py --write docs/BENCHMARKS.md   # the full run, < ~10 min

Both variants run in ONE session, alternating, so load from other work on the shared machine
hits both alike. Never part of the test run: tests never time things (shared/STYLE.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from callbench import deck, engine, fixtures, machine, report, servers, writeup
from callbench.loadpoint import LoadResult, measure
from callbench.processes import Supervisor, private_memory_bytes, udp_port_in_use
from callbench.results import BenchResults, Plan
from redis import Redis

from kemi import contract

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/akira_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
WARM_UP_RATE = 200

FULL = Plan(
    rate=2000,
    duration=20,
    rounds=3,
    step=1000,
    step_duration=10,
    max_rate=12000,
    settle=6,
    numbers=10000,
    decision_passes=5,
    workers=4,
    allocator="tlsf",
    quick=False,
)
QUICK = Plan(
    rate=1000,
    duration=3,
    rounds=1,
    step=1000,
    step_duration=3,
    max_rate=2000,
    settle=2,
    numbers=2000,
    decision_passes=1,
    workers=4,
    allocator="tlsf",
    quick=True,
)

HELP = f"""\
Measures, in one run, (a) a plain native kamailio.cfg stateful relay (bench/native-relay.cfg:
tm t_relay to one vendor UAS, record_route, loose_route; no Python) and (b) Akira's engine
(kamailio-cfg/kamailio.cfg + kemi/ through scripts/kamailio-run.sh) routing on the 50k-prefix
deck loaded as the customer tariff (vendor A x1.25) and three vendor tariffs (A as published,
B and C derived with exact Decimal factors 0.9 / 1.1 per code) in one least-cost routing plan.

Reported for both, and the ratio (b)/(a):
  * Kamailio CPU per call: user+sys of all Kamailio processes (/proc/<pid>/stat) over a
    fixed-rate run plus a settle pause, divided by successful calls; ROUNDS rounds, the order
    of the variants alternating (noise on this machine is about +-8 %).
  * max CPS with zero failed calls: RATE steps of STEP until a step fails, or SIPp no longer
    reaches 90 % of the asked rate, or MAX_RATE. SIPp (one UAC, three UAS) shares the cores
    with Kamailio, so on a small machine this is the box limit, not Kamailio's.
  * the Python decision: kemi.decision.decide timed in-process (p50/p99) over the dialed
    numbers on the snapshot loaded from Redis with kemi.store.SnapshotStore; the snapshot's
    load time and its memory per process (RSS delta and tracemalloc, in a fresh interpreter),
    and the private memory of each Kamailio SIP worker.
  * CDR events: Akira XADDs one event per call attempt; after each run the stream is counted,
    every event's vendor checked against the in-process decision, and the stream deleted.

Isolated resources: Kamailio on {servers.HOST}:{servers.NATIVE_PORT} (native) and
{servers.HOST}:{servers.AKIRA_PORT} (Akira), vendor UAS on {servers.HOST}:25081-25083, the UAC on
{servers.HOST}:{servers.UAC_PORT} (SIPp media ports 26000+4x(port-25000), control ports
port+200), Redis database 14
(flushed at start), PostgreSQL database akira_bench (dropped and re-created by
`akira migrate --create-database` at start). Every process started is stopped at the end, on
Ctrl-C and on errors. Logs and SIPp statistics go to a temporary run directory, removed at the
end unless --keep-run-dir or a failure.

Full run: {FULL.rounds} rounds x {FULL.duration:.0f} s at {FULL.rate} CPS, steps of
{FULL.step} CPS x {FULL.step_duration:.0f} s; about 8-10 minutes.
--quick: {QUICK.rounds} round x {QUICK.duration:.0f} s at {QUICK.rate} CPS, steps up to
{QUICK.max_rate} CPS x {QUICK.step_duration:.0f} s; about 2 minutes.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/sipp_calls.py",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a short run (seconds per point) to check that everything works",
    )
    parser.add_argument(
        "--write",
        metavar="PATH",
        type=Path,
        help="also write the report as Markdown, e.g. docs/BENCHMARKS.md",
    )
    parser.add_argument(
        "--note",
        action="append",
        default=[],
        metavar="TEXT",
        help="a remark for the report (repeatable), e.g. about machine load",
    )
    parser.add_argument("--rate", type=int, help="CPS of the CPU-per-call rounds")
    parser.add_argument("--duration", type=float, help="seconds per CPU-per-call round")
    parser.add_argument("--rounds", type=int, help="CPU-per-call rounds per variant")
    parser.add_argument("--step", type=int, help="CPS step of the max-CPS search")
    parser.add_argument("--step-duration", type=float, help="seconds per max-CPS step")
    parser.add_argument("--max-rate", type=int, help="highest CPS tried (0: skip the search)")
    parser.add_argument("--numbers", type=int, help="distinct dialed numbers drawn from the deck")
    parser.add_argument("--workers", type=int, help="Kamailio UDP workers of both variants")
    parser.add_argument(
        "--allocator",
        choices=servers.ALLOCATORS,
        help="Kamailio shared-memory allocator of both variants: tlsf (default; -x tlsf, also "
        "scripts/kamailio-run.sh's default) or shipped (Debian's default q_malloc with "
        "debugging; AKIRA_SHM_ALLOCATOR=default for the script)",
    )
    parser.add_argument(
        "--deck",
        type=Path,
        default=deck.DEFAULT_DECK,
        help="vendor A's deck (default: %(default)s)",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE,
        help="bench database, dropped and re-created (default: %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS,
        help="bench Redis database, flushed (default: %(default)s)",
    )
    parser.add_argument(
        "--keep-run-dir",
        action="store_true",
        help="keep logs and SIPp statistics (the path is printed)",
    )
    return parser.parse_args(argv)


def plan_from(args: argparse.Namespace) -> Plan:
    base = QUICK if args.quick else FULL
    overrides = {
        name: getattr(args, name)
        for name in (
            "rate",
            "duration",
            "rounds",
            "step",
            "step_duration",
            "max_rate",
            "numbers",
            "workers",
            "allocator",
        )
        if getattr(args, name) is not None
    }
    return dataclasses.replace(base, **overrides)


def preflight() -> None:
    """Fail before touching anything when a tool is missing or one of our ports is taken."""
    for tool in ("kamailio", "kamcmd", "sipp"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (see shared/notes/kamailio-kemi.md)")
    busy = [port for port in servers.all_ports() if udp_port_in_use(port)]
    if busy:
        raise SystemExit(
            f"UDP ports already in use on {servers.HOST}: {busy}; is another benchmark running?"
        )


def command_line() -> str:
    """How this run was started, as one would type it from the project root."""
    python = Path(sys.executable)
    if python.is_relative_to(servers.PROJECT_DIR):
        python = python.relative_to(servers.PROJECT_DIR)
    return shlex.join([str(python), "bench/sipp_calls.py", *sys.argv[1:]])


def prepare(plan: Plan, args: argparse.Namespace, redis: Redis, run_dir: Path) -> BenchResults:
    """Catalog, snapshot and the in-process engine probes: everything before any SIP."""
    print(f"reading {args.deck} ...", flush=True)
    rows = deck.read_deck(args.deck)
    tariffs = deck.tariffs(rows)
    print("re-creating akira_bench, loading 4 x 50k rates, publishing ...", flush=True)
    catalog, publication = fixtures.build_catalog(
        args.database_url, redis, tariffs, servers.VENDOR_PORTS
    )
    print(
        f"published snapshot {publication.version}; timing snapshot loads and decisions ...",
        flush=True,
    )
    loads = []
    for _ in range(3):
        snapshot, seconds = engine.load_snapshot(redis)
        loads.append(seconds)
    numbers = deck.dialed_numbers(rows, plan.numbers)
    decision = engine.time_decisions(snapshot, numbers, plan.decision_passes)
    call_work = engine.time_call_work(snapshot, numbers[:2000], redis, run_dir / "spool")
    del snapshot
    print("measuring the snapshot's memory in a fresh interpreter ...", flush=True)
    memory = engine.snapshot_memory(args.redis_url)
    return BenchResults(
        plan=plan,
        command=command_line(),
        started=datetime.now(UTC),
        machine=machine.machine_info(redis, args.database_url),
        deck=str(args.deck),
        deck_rows=len(rows),
        catalog=catalog,
        publication=publication,
        decision=decision,
        snapshot_loads=loads,
        memory=memory,
        call_work=call_work,
        load_average=[machine.load_average()],
        notes=list(args.note),
    )


class Session:
    """The SIP part: both Kamailio instances, the vendors, and the runs against them."""

    def __init__(self, supervisor: Supervisor, results: BenchResults, redis: Redis) -> None:
        self.supervisor = supervisor
        self.results = results
        self.redis = redis
        self.inf = supervisor.run_dir / "dialed.csv"
        deck.write_inf(self.inf, results.decision.routed)

    def start(self, redis_url: str) -> None:
        plan = self.results.plan
        workers = plan.workers
        print("starting vendor UAS x3, native Kamailio, Akira Kamailio ...", flush=True)
        self.vendors = servers.start_vendors(self.supervisor)
        self.targets = {
            "native": servers.start_native(self.supervisor, workers, plan.allocator),
            "akira": servers.start_akira(self.supervisor, workers, redis_url, plan.allocator),
        }
        self.results.startup_loads = self.targets["akira"].startup_loads

    def run(self, variant: str, rate: int, seconds: float, tag: str) -> LoadResult:
        result = measure(
            self.supervisor,
            self.targets[variant],
            self.vendors.values(),
            self.inf,
            rate,
            seconds,
            self.results.plan.settle,
            tag,
        )
        if variant == "akira":
            result.cdr = engine.drain_cdr_stream(
                self.redis,
                self.results.decision.first_terminator,
                self.supervisor.run_dir / "spool",
            )
            self.results.cdr.add(result.cdr)
            self.results.cdr_calls += result.sipp.outgoing
        print(f"  {report.one_line(result)}", flush=True)
        return result

    def warm_up(self) -> None:
        print("warm-up (discarded):", flush=True)
        for variant in ("native", "akira"):
            self.run(variant, WARM_UP_RATE, 2, f"warmup-{variant}")
        for variant, target in self.targets.items():
            self.results.worker_memory[variant] = [
                private_memory_bytes(pid) for pid in target.sip_workers()
            ]

    def cpu_rounds(self) -> None:
        plan = self.results.plan
        print(
            f"CPU per call: {plan.rounds} round(s) x {plan.duration:.0f} s at {plan.rate} CPS",
            flush=True,
        )
        for number in range(plan.rounds):
            order = ("native", "akira") if number % 2 == 0 else ("akira", "native")
            for variant in order:
                self.results.rounds.append(
                    self.run(variant, plan.rate, plan.duration, f"round{number + 1}-{variant}")
                )

    def max_cps(self) -> None:
        """Both variants step up together, each until its first unclean step."""
        plan = self.results.plan
        if plan.max_rate <= 0:
            return
        print(f"max CPS: steps of {plan.step} CPS x {plan.step_duration:.0f} s", flush=True)
        active = ["native", "akira"]
        best: dict[str, int | None] = {"native": None, "akira": None}
        for rate in range(plan.step, plan.max_rate + 1, plan.step):
            for variant in list(active):
                result = self.run(variant, rate, plan.step_duration, f"step{rate}-{variant}")
                self.results.steps.append(result)
                if result.clean:
                    best[variant] = rate
                else:
                    active.remove(variant)
            if not active:
                break
        self.results.max_cps = best


def run(plan: Plan, args: argparse.Namespace, run_dir: Path) -> BenchResults:
    redis = Redis.from_url(args.redis_url, socket_timeout=30)
    try:
        results = prepare(plan, args, redis, run_dir)
        with Supervisor(run_dir) as supervisor:
            session = Session(supervisor, results, redis)
            session.start(args.redis_url)
            session.warm_up()
            session.cpu_rounds()
            session.max_cps()
        results.load_average.append(machine.load_average())
        results.finished = datetime.now(UTC)
        return results
    finally:
        redis.delete(contract.CDR_STREAM)  # never leave call events behind in the shared Redis


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the processes the same way Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = plan_from(args)
    preflight()
    signal.signal(signal.SIGTERM, _interrupt)
    run_dir = Path(tempfile.mkdtemp(prefix="akira-bench-"))
    keep = args.keep_run_dir
    try:
        results = run(plan, args, run_dir)
    except KeyboardInterrupt:
        print(f"\ninterrupted; every process started was stopped; logs in {run_dir}")
        return 130
    except BaseException:
        print(f"\nfailed; every process started was stopped; logs in {run_dir}", file=sys.stderr)
        raise
    print()
    print(report.text(results))
    if args.write:
        previous = args.write.read_text() if args.write.exists() else ""
        args.write.write_text(writeup.with_kept_notes(writeup.document(results), previous))
        print(f"\nwrote {args.write}")
    if keep:
        print(f"run directory kept: {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
