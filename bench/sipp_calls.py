#!/usr/bin/env python3
"""Akira's SIPp benchmark: a native relay (a), a native class-4 kamailio.cfg (b), Akira (c),
Akira with CPS and concurrency limits on (d), (d) with real-time prepaid credit control (e),
and Akira offered more than it can carry.

Run from the project root with the project's virtualenv:

    .venv/bin/python bench/sipp_calls.py --quick          # a few seconds per point: does it work?
    .venv/bin/python bench/sipp_calls.py --write docs/BENCHMARKS.md   # the full run, ~20-25 min
    .venv/bin/python bench/sipp_calls.py --variants c,d,e --rounds 5  # what credit control costs

All variants run in ONE session, their order rotating from round to round, so load from other
work on the shared machine hits them alike. Never part of the test run: tests never time things
(shared/STYLE.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from callbench import class4, credit, deck, engine, fixtures, machine, report, servers, writeup
from callbench.class4 import CdrFiles, Class4Setup
from callbench.loadpoint import LoadResult, measure
from callbench.processes import (
    Supervisor,
    descendants,
    private_memory_bytes,
    pss_bytes,
    read_processes,
    tcp_port_in_use,
    udp_port_in_use,
)
from callbench.results import (
    AKIRA_VARIANTS,
    LETTERS,
    BenchResults,
    MemoryReading,
    Plan,
    variant_letters,
)
from callbench.routing_check import expected_counts
from redis import Redis

from admin.catalog import RateRow
from kemi.rates import money_units
from kemi.snapshot import Snapshot

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/akira_bench"
WARM_UP_RATE = 200
PROBE_RATE = 500  # the lcr timing probe: low, so queueing does not dominate per-call times
PROBE_CALLS = 5000
CLASS4_SHM_MODULES = ("lcr", "db_text", "dialog", "tm", "acc", "permissions")

# 1000 CPS for the CPU rounds: on the 2-core machine, with SIPp on the same cores, (d) sheds
# calls at 2000 (its setup waits for Redis), and CPU per call counts clean rounds only.
FULL = Plan(
    rate=1000,
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
    overload=(1, 1.5, 2, 3),
    overload_duration=10,
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
    overload=(1, 1.5, 2, 3),
    overload_duration=3,
)

AKIRA_PORTS = {
    "akira": servers.AKIRA_PORT,
    "limits": servers.LIMITS_PORT,
    "credit": servers.CREDIT_PORT,
}

HELP = f"""\
Measures, in one run, six Kamailio instances, all on the same machine, workers and allocator:
  (a) a plain native stateful relay (bench/native-relay.cfg: tm t_relay to one vendor UAS,
      record_route, loose_route; no Python, no dialog, no routing decision);
  (b) a native class-4 kamailio.cfg, what an integrator writes without Python
      (bench/native-class4.cfg): permissions (caller by source IP), Kamailio's C lcr module
      over db_text tables generated from the same tariffs (bench/callbench/lcr_tables.py:
      longest prefix, vendors by price, margin protection precomputed), next_gw() failover,
      the dialog module with the max call duration as timeout, and acc writing one CDR per
      answered call to a local file (db_flatstore);
  (c) Akira's engine (kamailio-cfg/kamailio.cfg + kemi/ through scripts/kamailio-run.sh);
  (d) the same with CPS and concurrency limits on the customer and every vendor, set far
      above anything the bench reaches: every call setup runs the limits function (one
      FCALL through ndb_redis), every call end journals a release the relay runs in batches;
  (e) (d) with real-time prepaid credit control: the customer's account made prepaid and
      topped up with {fixtures.TOP_UP:,} (admin.ledger), its credit synced to Redis by the
      publisher; the same FCALL then also reserves the credit of the call's max duration
      (kemi/limits.py), the release moves it to settling, and the bench settles it after each
      run as the rater would. The top-up never refuses nor shortens a call;
  (f) the KEMI floor: (a)'s route line for line in Python through app_python3 (bench/
      kemi-floor.cfg, kemi_floor_script.py) with the dialog module as Akira uses it (a dialog
      per call, a context-sized dialog variable, in-dialog requests only for known dialogs,
      the dialog events entering Python), to vendor A: what embedding Python costs before any
      of Akira's own work (bench/kemi_floor.py runs it against (a) alone).
(b) to (e) route on the 50k-prefix deck loaded as the customer tariff (vendor A x1.25) and
three vendor tariffs (A as published, B and C derived with exact Decimal factors 0.9 / 1.1
per code) in one least-cost plan; every call must reach the same vendor in all of them. (c),
(d) and (e) each have a redis-server of their own, started by the bench. --variants c,d,e
runs only those (the snapshots are published and checked all the same).

Reported for each, with the ratios (c)/(a), (c)/(b), (b)/(a), (d)/(c), (d)/(a), (e)/(d),
(e)/(c), (f)/(a), (f)/(b), (c)/(f) (those whose variants ran):
  * Kamailio CPU per call: user+sys of all Kamailio processes (/proc/<pid>/stat) over a
    fixed-rate run plus a settle pause, divided by successful calls; ROUNDS rounds, the order
    of the variants rotating (noise on this machine is about +-8 %); also the CPU of SIPp and
    of the instance's own redis-server per call, and the commands that redis-server executed
    per call (INFO commandstats, by command; Lua's own commands included).
  * max CPS with zero failed calls: RATE steps of STEP until a step fails, or SIPp no longer
    reaches 90 % of the asked rate, or MAX_RATE. SIPp (one UAC, three UAS) shares the cores
    with Kamailio, so on a small machine this is the box limit, not Kamailio's.
  * overload of (c): offered OVERLOAD multiples of its max clean CPS: goodput, 503s (the
    engine's shedding, kemi/overload.py), other failures, retransmissions, INVITE->200 time.
  * memory: the sum of PSS of all processes of each instance (/proc/<pid>/smaps_rollup),
    after the warm-up and after the CPU rounds, and each SIP worker's private memory.
  * the decision: Akira's kemi.pipeline.decide timed in-process (p50/p99) on the snapshot
    fetched with kemi.snapshot_sync and mapped with kemi.store, as a node does; lcr's
    load_gws() timed inside Kamailio by a separate probe instance of (b) (benchmark module),
    which also times lcr's load and lcr.reload.
  * routing: before any SIP, the lcr tables' first vendor against decide() for one number per
    open code; in every run, the INVITEs each vendor UAS received against the prediction.
  * CDRs: (c), (d) and (e) journal one event per call attempt, which the node's relay ships to
    the akira:cdr stream of their Redis; after each run the stream is counted and each event's
    vendor checked against decide(), then deleted; (b)'s acc records are counted (one per
    answered call expected) and their vendor field checked the same way.
  * credit (e): before any SIP, its snapshot marks the customer prepaid and routes as (c), and
    its Redis holds the account's credit (akira:credit:{{company}}); after each run, every CDR's
    trace says the credit bought the full max duration, no reservation is left in flight, and
    one per answered call waits in settling (then settled, its redis-server CPU timed apart).

Isolated resources: Kamailio on {servers.HOST}:{servers.NATIVE_PORT} (a),
{servers.HOST}:{servers.CLASS4_PORT} (b), {servers.HOST}:{servers.AKIRA_PORT} (c),
{servers.HOST}:{servers.LIMITS_PORT} (d) and {servers.HOST}:{servers.CREDIT_PORT} (e), their
redis-servers on TCP {servers.HOST}:{servers.REDIS_PORTS["akira"]},
{servers.REDIS_PORTS["limits"]} and {servers.REDIS_PORTS["credit"]} (no persistence), vendor
UAS on {servers.HOST}:25081-25083, the UAC on {servers.HOST}:{servers.UAC_PORT} (SIPp media
ports 26000+4x(port-25000), control ports port+200), PostgreSQL database akira_bench (dropped
and re-created by `akira migrate --create-database` at start). Every process started is
stopped at the end, on Ctrl-C and on errors. Logs, SIPp statistics, snapshot directories,
(b)'s tables and CDR files go to a temporary run directory, removed at the end unless
--keep-run-dir or a failure.

Full run: {FULL.rounds} rounds x {FULL.duration:.0f} s at {FULL.rate} CPS, steps of
{FULL.step} CPS x {FULL.step_duration:.0f} s, overload {FULL.overload_duration:.0f} s per point;
about 25-30 minutes with all six variants. --quick: {QUICK.rounds} round x
{QUICK.duration:.0f} s at {QUICK.rate} CPS, steps up to {QUICK.max_rate} CPS x
{QUICK.step_duration:.0f} s; about 4-5 minutes.
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
    parser.add_argument(
        "--variants",
        type=_variants,
        metavar="LETTERS",
        help="the variants to run, e.g. c,d,e (letters a-f or names; default: all)",
    )
    parser.add_argument("--rate", type=int, help="CPS of the CPU-per-call rounds")
    parser.add_argument("--duration", type=float, help="seconds per CPU-per-call round")
    parser.add_argument("--rounds", type=int, help="CPU-per-call rounds per variant")
    parser.add_argument("--step", type=int, help="CPS step of the max-CPS search")
    parser.add_argument("--step-duration", type=float, help="seconds per max-CPS step")
    parser.add_argument("--max-rate", type=int, help="highest CPS tried (0: skip the search)")
    parser.add_argument(
        "--overload",
        type=lambda text: tuple(float(x) for x in text.split(",") if x),
        metavar="X,Y,...",
        help="multiples of (c)'s max clean CPS offered to it (default 1,1.5,2,3; '' skips)",
    )
    parser.add_argument("--overload-duration", type=float, help="seconds per overload point")
    parser.add_argument("--numbers", type=int, help="distinct dialed numbers drawn from the deck")
    parser.add_argument("--workers", type=int, help="Kamailio UDP workers of every variant")
    parser.add_argument(
        "--allocator",
        choices=servers.ALLOCATORS,
        help="Kamailio shared-memory allocator of every variant: tlsf (default; -x tlsf, also "
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
        "--keep-run-dir",
        action="store_true",
        help="keep logs and SIPp statistics (the path is printed)",
    )
    return parser.parse_args(argv)


def _variants(text: str) -> tuple[str, ...]:
    try:
        return variant_letters(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


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
            "overload",
            "overload_duration",
            "numbers",
            "workers",
            "allocator",
            "variants",
        )
        if getattr(args, name) is not None
    }
    return dataclasses.replace(base, **overrides)


def preflight() -> None:
    """Fail before touching anything when a tool is missing or one of our ports is taken."""
    for tool in ("kamailio", "kamcmd", "sipp", "redis-server"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (see shared/notes/kamailio-kemi.md)")
    busy = [port for port in servers.all_ports() if udp_port_in_use(port)]
    busy += [port for port in servers.REDIS_PORTS.values() if tcp_port_in_use(port)]
    if busy:
        raise SystemExit(
            f"ports already in use on {servers.HOST}: {busy}; is another benchmark running?"
        )


def command_line() -> str:
    """How this run was started, as one would type it from the project root."""
    python = Path(sys.executable)
    if python.is_relative_to(servers.PROJECT_DIR):
        python = python.relative_to(servers.PROJECT_DIR)
    return shlex.join([str(python), "bench/sipp_calls.py", *sys.argv[1:]])


def prepare(
    plan: Plan, args: argparse.Namespace, redis: Mapping[str, Redis], run_dir: Path
) -> BenchResults:
    """Catalog, snapshots and the in-process engine probes: everything before any SIP."""
    print(f"reading {args.deck} ...", flush=True)
    rows = deck.read_deck(args.deck)
    tariffs = deck.tariffs(rows)
    print("re-creating akira_bench, loading 4 x 50k rates, publishing 3 times ...", flush=True)
    catalog, publications = fixtures.build_catalog(
        args.database_url, redis, tariffs, servers.VENDOR_PORTS, run_dir / "admin-snapshot"
    )
    print(
        f"published snapshot {publications['akira'].version} (c), "
        f"{publications['limits'].version} with limits (d) and "
        f"{publications['credit'].version} with prepaid credit (e); timing snapshot fetches, "
        "maps and decisions ...",
        flush=True,
    )
    node_dir = run_dir / "node-probe"
    loads = []
    for _ in range(3):
        snapshot, load = engine.load_snapshot(redis["akira"], node_dir)
        loads.append(load)
    numbers = deck.dialed_numbers(rows, plan.numbers)
    decision = engine.time_decisions(snapshot, numbers, plan.decision_passes)
    limited, _ = engine.load_snapshot(redis["limits"], run_dir / "node-probe-limits")
    check_limits(limited, decision.first_terminator, "(d)")
    del limited
    available, max_duration = check_credit(
        redis["credit"], run_dir / "node-probe-credit", decision, catalog.customer, plan
    )
    call_work = engine.time_call_work(snapshot, numbers[:2000], run_dir / "journal-probe")
    setup = prepare_class4(tariffs, rows, snapshot, catalog, run_dir)
    del snapshot
    print("measuring the snapshot's memory in a fresh interpreter ...", flush=True)
    memory = engine.snapshot_memory(node_dir, numbers)
    return BenchResults(
        plan=plan,
        command=command_line(),
        started=datetime.now(UTC),
        machine=machine.machine_info(redis["akira"], args.database_url),
        deck=str(args.deck),
        deck_rows=len(rows),
        catalog=catalog,
        publications=publications,
        decision=decision,
        snapshot_loads=loads,
        memory=memory,
        call_work=call_work,
        class4=setup,
        load_average=[machine.load_average()],
        notes=list(args.note),
        credit_company=catalog.customer,
        credit_available=available,
        credit_max_duration=max_duration,
    )


def check_limits(snapshot: Snapshot, first_terminator: Mapping[str, int], which: str) -> None:
    """(d)'s or (e)'s snapshot: limits on the customer and every vendor, and the same first
    vendor as (c) for every dialed number (the limits are never reached: they change no route).
    """
    trunks = [*snapshot.originators.values(), *snapshot.terminators.values()]
    unlimited = [t.name for t in trunks if t.cps_limit is None or t.concurrent_limit is None]
    if unlimited:
        raise SystemExit(f"{which}'s snapshot has no limits on {unlimited}")
    differing = [
        number
        for number, terminator in first_terminator.items()
        if engine.first_vendor(snapshot, number) != terminator
    ]
    if differing:
        raise SystemExit(f"{which}'s decide() routes differently from (c): {differing[:5]}")


def most_calls(plan: Plan) -> int:
    """Calls of the longest run of (e): the credit settles between runs, not during one."""
    return max(
        WARM_UP_RATE * 2,
        round(plan.rate * plan.duration),
        plan.max_rate * round(plan.step_duration),
    )


def check_credit(
    redis: Redis,
    node_dir: Path,
    decision: engine.DecisionTiming,
    company: int,
    plan: Plan,
) -> tuple[int, int]:
    """(e)'s snapshot: the customer prepaid, with (d)'s limits and (c)'s routes; its Redis
    holds the account's top-up, enough for the longest run's reservations. The credit in 1e-8
    units and the max call duration a call reserves."""
    snapshot, _ = engine.load_snapshot(redis, node_dir)
    check_limits(snapshot, decision.first_terminator, "(e)")
    (originator,) = snapshot.originators.values()  # the bench has one customer
    if not originator.prepaid or originator.company_id != company:
        raise SystemExit(f"(e)'s snapshot does not mark company {company} prepaid: {originator}")
    available = credit.available(redis, company)
    if available != money_units(Decimal(fixtures.TOP_UP)):
        raise SystemExit(
            f"(e)'s Redis holds {available} (1e-8 units) in {credit.credit_key(company)}, "
            f"not the top-up of {fixtures.TOP_UP}"
        )
    needed = credit.mean_reservation(snapshot, decision.routed) * most_calls(plan)
    if needed > available:
        raise SystemExit(
            f"the top-up of {fixtures.TOP_UP} does not buy the longest run of (e) its max "
            f"durations ({needed / 1e8:.0f} needed): calls would be refused or shortened"
        )
    return available, originator.max_call_duration


def prepare_class4(
    tariffs: Mapping[str, Sequence[RateRow]],
    rows: Sequence[deck.DeckRow],
    snapshot: Snapshot,
    catalog: fixtures.Catalog,
    run_dir: Path,
) -> Class4Setup:
    """Baseline (b)'s lcr tables from the same tariffs, checked against Akira's decision.

    A baseline that routes calls elsewhere than Akira would compare different work: the run
    stops here unless lcr's first vendor equals decide()'s for one number per open code.
    """
    db_dir, cdr_dir = run_dir / "class4-db", run_dir / "class4-cdr"
    print("generating the lcr tables of (b) and checking them against decide() ...", flush=True)
    tables, build_seconds, write_seconds = class4.build_tables(
        tariffs, servers.VENDOR_PORTS, db_dir
    )
    vendor_of_terminator = {tid: vendor for vendor, tid in catalog.terminators.items()}
    every_code = deck.dialed_numbers(rows, len(rows))
    agreement = class4.check_agreement(tables, snapshot, every_code, vendor_of_terminator)
    if not agreement.all_agree:
        raise SystemExit(
            f"lcr tables disagree with Akira's decision on {agreement.checked - agreement.agreed}"
            f" of {agreement.checked} numbers, e.g. {agreement.examples}"
        )
    (originator,) = snapshot.originators.values()  # the bench has one customer
    return Class4Setup(
        tables=tables,
        db_dir=db_dir,
        cdr_dir=cdr_dir,
        build_seconds=build_seconds,
        write_seconds=write_seconds,
        table_bytes=sum(path.stat().st_size for path in db_dir.iterdir()),
        dialog_timeout=originator.max_call_duration,
        agreement=agreement,
    )


class Session:
    """The SIP part: the Kamailio instances of the variants, the vendors, and the runs against
    them."""

    def __init__(
        self, supervisor: Supervisor, results: BenchResults, redis: Mapping[str, tuple[Redis, int]]
    ) -> None:
        self.supervisor = supervisor
        self.results = results
        self.redis = redis  # Akira variant -> its redis-server (client, pid)
        self.variants = results.plan.variants
        self.numbers = results.decision.routed
        self.inf = supervisor.run_dir / "dialed.csv"
        deck.write_inf(self.inf, self.numbers)
        vendor_of_terminator = {tid: v for v, tid in results.catalog.terminators.items()}
        least_cost = {
            number: vendor_of_terminator[results.decision.first_terminator[number]]
            for number in self.numbers
        }
        # The vendor each dialed number must reach: A for the plain relay, the least-cost
        # vendor for (b) to (e).
        self.vendor_of = {
            "native": dict.fromkeys(self.numbers, "A"),
            "floor": dict.fromkeys(self.numbers, "A"),
            "class4": least_cost,
            "akira": least_cost,
            "limits": least_cost,
            "credit": least_cost,
        }
        setup = results.class4
        assert setup is not None
        self.class4_cdrs = CdrFiles(setup.cdr_dir, least_cost)
        self.vendor_stats = {
            vendor: servers.vendor_stats(supervisor, vendor) for vendor in servers.VENDOR_PORTS
        }

    def start(self) -> None:
        plan = self.results.plan
        workers = plan.workers
        setup = self.results.class4
        assert setup is not None
        print("starting vendor UAS x3 ...", flush=True)
        self.vendors = servers.start_vendors(self.supervisor)
        if "class4" in self.variants:
            print("timing lcr in a probe instance of (b) ...", flush=True)
            self.results.lcr_probe = class4.run_probe(
                self.supervisor,
                setup,
                workers,
                plan.allocator,
                self.inf,
                min(PROBE_CALLS, len(self.numbers)),
                PROBE_RATE,
            )
        print(
            "starting Kamailio " + ", ".join(f"({LETTERS[v]})" for v in self.variants) + " ...",
            flush=True,
        )
        starters = {
            "native": lambda: servers.start_native(self.supervisor, workers, plan.allocator),
            "floor": lambda: servers.start_floor(self.supervisor, workers, plan.allocator),
            "class4": lambda: servers.start_class4(
                self.supervisor,
                workers,
                plan.allocator,
                db_dir=setup.db_dir,
                cdr_dir=setup.cdr_dir,
                dialog_timeout=setup.dialog_timeout,
            ),
        }
        for variant, port in AKIRA_PORTS.items():
            starters[variant] = lambda variant=variant, port=port: servers.start_akira(
                self.supervisor,
                variant,
                port,
                workers,
                plan.allocator,
                self.redis[variant],
                self.results.publications[variant].version,
            )
        self.targets = {variant: starters[variant]() for variant in self.variants}
        self.results.startup_seconds = {v: t.startup_seconds for v, t in self.targets.items()}
        engines = [self.targets[v] for v in AKIRA_VARIANTS if v in self.targets]
        if engines:
            self.results.akira_code = servers.check_akira_code(engines[0])

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
            self.vendor_stats,
        )
        result.expected_calls = expected_counts(
            self.numbers, self.vendor_of[variant], result.sipp.outgoing
        )
        if variant in AKIRA_VARIANTS:
            target = self.targets[variant]
            assert target.redis is not None
            result.cdr = engine.drain_cdr_stream(
                target.redis, target.journal_dir, self.results.decision.first_terminator
            )
            self.results.cdr[variant].add(result.cdr)
            if variant == "credit":  # the journal is shipped: every release has run
                assert target.redis_pid is not None
                result.credit = credit.check_run(
                    target.redis,
                    target.redis_pid,
                    self.results.credit_company,
                    result.cdr.credit_seconds,
                    self.results.credit_max_duration,
                )
            self.results.cdr_calls[variant] += result.sipp.successful
        elif variant == "class4":
            result.cdr = self.class4_cdrs.drain()
            self.results.class4_cdr.add(result.cdr)
            self.results.class4_answered += result.sipp.successful
        print(f"  {report.one_line(result)}", flush=True)
        return result

    def memory(self) -> dict[str, MemoryReading]:
        """Every process of every instance: PSS summed, and each SIP worker's private pages."""
        processes = read_processes()
        readings = {}
        for variant, target in self.targets.items():
            pids = descendants(processes, target.pid)
            readings[variant] = MemoryReading(
                processes=len(pids),
                total_pss=sum(pss_bytes(pid) for pid in pids),
                worker_private=[private_memory_bytes(pid) for pid in target.sip_workers()],
                shm_used=target.shm_used(),
            )
        return readings

    def warm_up(self) -> None:
        print("warm-up (discarded):", flush=True)
        for variant in self.variants:
            self.run(variant, WARM_UP_RATE, 2, f"warmup-{variant}")
        self.results.memory_warm = self.memory()
        if "akira" in self.targets:
            self.results.startup_loads = servers.snapshot_maps(self.targets["akira"])

    def cpu_rounds(self) -> None:
        plan = self.results.plan
        print(
            f"CPU per call: {plan.rounds} round(s) x {plan.duration:.0f} s at {plan.rate} CPS",
            flush=True,
        )
        for number in range(plan.rounds):
            for variant in rotated(self.variants, number):
                self.results.rounds.append(
                    self.run(variant, plan.rate, plan.duration, f"round{number + 1}-{variant}")
                )
        self.results.memory_loaded = self.memory()
        if "class4" in self.targets:
            self.results.class4_module_shm = {
                module: self.targets["class4"].module_shm(module) for module in CLASS4_SHM_MODULES
            }

    def max_cps(self) -> None:
        """All variants step up together, each until its first unclean step."""
        plan = self.results.plan
        if plan.max_rate <= 0:
            return
        print(f"max CPS: steps of {plan.step} CPS x {plan.step_duration:.0f} s", flush=True)
        active = list(self.variants)
        best: dict[str, int | None] = dict.fromkeys(self.variants)
        for index, rate in enumerate(range(plan.step, plan.max_rate + 1, plan.step)):
            for variant in rotated([v for v in self.variants if v in active], index):
                result = self.run(variant, rate, plan.step_duration, f"step{rate}-{variant}")
                self.results.steps.append(result)
                if result.clean:
                    best[variant] = rate
                else:
                    active.remove(variant)
            if not active:
                break
        self.results.max_cps = best

    def overload(self) -> None:
        """(c) offered multiples of its max clean CPS: what its shedding (kemi/overload.py)
        keeps of the goodput. Last, since calls that failed may leave dialogs behind."""
        plan = self.results.plan
        capacity = self.results.max_cps.get("akira")
        if not plan.overload or capacity is None:
            return
        self.results.overload_capacity = capacity
        print(
            f"overload of (c): x{', x'.join(f'{m:g}' for m in plan.overload)} of {capacity} CPS, "
            f"{plan.overload_duration:.0f} s each",
            flush=True,
        )
        for multiple in plan.overload:
            rate = round(capacity * multiple)
            self.results.overload.append(
                self.run("akira", rate, plan.overload_duration, f"overload{multiple:g}-akira")
            )


def rotated(variants: Iterable[str], shift: int) -> list[str]:
    """The variants in round-robin order: each runs first, middle and last in turn."""
    items = list(variants)
    if not items:
        return items
    shift %= len(items)
    return items[shift:] + items[:shift]


def run(plan: Plan, args: argparse.Namespace, run_dir: Path) -> BenchResults:
    with Supervisor(run_dir) as supervisor:
        redis = {variant: servers.start_redis(supervisor, variant) for variant in AKIRA_VARIANTS}
        results = prepare(plan, args, {v: client for v, (client, _) in redis.items()}, run_dir)
        session = Session(supervisor, results, redis)
        session.start()
        session.warm_up()
        session.cpu_rounds()
        session.max_cps()
        session.overload()
    results.load_average.append(machine.load_average())
    results.finished = datetime.now(UTC)
    return results


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
    # The measurements outlive a fault in the report code: re-render them with
    # report.text(pickle.load(...)) instead of re-running the benchmark.
    saved = run_dir / "results.pickle"
    saved.write_bytes(pickle.dumps(results))
    try:
        print()
        print(report.text(results))
        if args.write:
            previous = args.write.read_text() if args.write.exists() else ""
            args.write.write_text(writeup.with_kept_notes(writeup.document(results), previous))
            print(f"\nwrote {args.write}")
    except Exception:
        print(f"\nreport failed; the results are kept in {saved}", file=sys.stderr)
        raise
    if keep:
        print(f"run directory kept: {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
