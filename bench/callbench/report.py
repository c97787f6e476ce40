"""The results as a terminal table and as docs/BENCHMARKS.md."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable

from callbench.class4 import CdrFileCheck
from callbench.engine import CdrCheck
from callbench.loadpoint import LoadResult, SippCounts
from callbench.processes import CORES
from callbench.results import (
    AKIRA_VARIANTS,
    LABELS,
    VARIANTS,
    BenchResults,
    ratio,
    ratio_label,
)
from kemi import limits

MB = 1024 * 1024
# Per-call details (pids, call ids, tags, pointers) removed, so one kind of line counts once.
_LOG_NOISE = (
    (re.compile(r"^\s*\d+\(\d+\)\s*|\{[^}]*\}\s*"), ""),
    (re.compile(r"'[^']*'"), "'…'"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\[\d+:\d+\]"), "[…]"),
)


def _log_kind(line: str) -> str:
    for pattern, replacement in _LOG_NOISE:
        line = pattern.sub(replacement, line)
    return line.strip()[:200]


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} µs"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}×"


def _mb(value: float) -> str:
    return f"{value / MB:.1f} MB"


def one_line(r: LoadResult) -> str:
    """Progress line printed after each run."""
    s = r.sipp
    line = (
        f"{r.variant:<6} {r.rate:>5} CPS: {s.successful} ok / {s.failed} failed of "
        f"{s.outgoing}, {s.call_rate:.0f} CPS achieved, {s.retransmissions} retrans, "
        f"Kamailio {_us(r.cpu_per_call_us)}/call, SIPp {_share(r, r.sipp_cpu)} of the cores"
    )
    if r.expected_calls:
        line += ", vendors " + ("as predicted" if r.vendor_counts_exact else _vendor_diff(r))
    if isinstance(r.cdr, CdrCheck):
        line += f", CDR {r.cdr.events} events, {r.cdr.misrouted} misrouted"
    elif isinstance(r.cdr, CdrFileCheck):
        line += f", CDR {r.cdr.records} records, {r.cdr.misrouted} misrouted"
    if r.credit is not None:
        c = r.credit
        line += (
            f", credit: {sum(c.granted.values())} reserved ({_counter(c.granted)} s), "
            f"{c.in_flight} left in flight, {c.settled} settled"
        )
    return line + ("" if r.clean else "  <- not clean")


def _vendor_diff(r: LoadResult) -> str:
    """``A 3310/3312, ...``: received / predicted, for the vendors that differ."""
    vendors = sorted(set(r.vendor_calls) | set(r.expected_calls))
    return ", ".join(
        f"{v} {r.vendor_calls.get(v, 0)}/{r.expected_calls.get(v, 0)}"
        for v in vendors
        if r.vendor_calls.get(v, 0) != r.expected_calls.get(v, 0)
    )


def _share(r: LoadResult, cpu: float) -> str:
    """CPU as a share of all cores while SIPp was calling (clean-up after it is included)."""
    return f"{100 * cpu / (r.uac_seconds * CORES):.0f} %" if r.uac_seconds else "-"


Row = tuple[str, ...]  # metric, one value per variant, one per ratio


def _unclean(results: BenchResults, variant: str) -> str:
    clean = len(results.clean_rounds(variant))
    total = sum(r.variant == variant for r in results.rounds)
    return "" if clean == total else f" ({clean} of {total} rounds clean)"


def _ratio_cells(
    results: BenchResults, values: dict[str, float | None], spread: bool = False
) -> list[str]:
    cells = []
    for numerator, denominator in results.plan.ratios():
        cell = _x(ratio(values.get(denominator), values.get(numerator)))
        if spread:
            per_round = results.round_ratios(numerator, denominator)
            if len(per_round) > 1:
                cell += f" ({min(per_round):.2f}–{max(per_round):.2f})"
        cells.append(cell)
    return cells


def _row(
    results: BenchResults, metric: str, texts: dict[str, str], ratios: list[str] | None = None
) -> Row:
    """One metric: a cell per variant that ran, then one per ratio (empty without ``ratios``)."""
    blank = [""] * len(results.plan.ratios())
    return (metric, *(texts.get(v, "-") for v in results.plan.variants), *(ratios or blank))


def summary(results: BenchResults) -> list[Row]:
    """The headline of both outputs: one value per variant and the ratios (RATIOS)."""
    plan = results.plan
    cpu = {v: results.mean_cpu_per_call(v) for v in VARIANTS}
    best = {v: results.max_cps.get(v) for v in VARIANTS}
    rows = [
        _row(
            results,
            f"Kamailio CPU per call @ {plan.rate} CPS, mean of the clean rounds of {plan.rounds}",
            {v: _us(cpu[v]) + _unclean(results, v) for v in VARIANTS},
            _ratio_cells(results, cpu, spread=True),
        ),
        _row(
            results,
            "max CPS with 0 failed calls (box limit, SIPp on the same cores)",
            {v: _cps(best[v], plan) for v in VARIANTS},
            _ratio_cells(results, best),
        ),
        _row(
            results,
            "redis-server CPU per call (the instance's own; (a), (b) have none)",
            {v: _us(results.mean_of(v, "redis_cpu")) for v in AKIRA_VARIANTS},
            _ratio_cells(results, {v: results.mean_of(v, "redis_cpu") for v in AKIRA_VARIANTS}),
        ),
        _row(
            results,
            "Redis commands executed per call (INFO commandstats, Lua's own included)",
            {v: commands_per_call(results, v) for v in AKIRA_VARIANTS},
        ),
        _row(
            results,
            "SIPp CPU per call (UAC + vendor UAS)",
            {v: _us(results.mean_of(v, "sipp_cpu")) for v in VARIANTS},
        ),
    ]
    for title, readings in (
        ("after the warm-up", results.memory_warm),
        ("after the CPU rounds", results.memory_loaded),
    ):
        if readings:
            totals = {v: float(readings[v].total_pss) for v in VARIANTS if v in readings}
            rows.append(
                _row(
                    results,
                    f"memory of all Kamailio processes (sum of PSS), {title}",
                    {
                        v: f"{_mb(r.total_pss)} ({r.processes} processes)"
                        for v, r in readings.items()
                    },
                    _ratio_cells(results, totals),
                )
            )
    if results.memory_loaded:
        rows.append(
            _row(
                results,
                "shared memory in use (core.shmmem real_used), after the CPU rounds",
                {v: _mb(r.shm_used) for v, r in results.memory_loaded.items()},
            )
        )
    if results.memory_warm:
        rows.append(
            _row(
                results,
                "private memory per Kamailio SIP worker (mean, after the warm-up)",
                {
                    v: _mb(_mean(r.worker_private)) if r.worker_private else "-"
                    for v, r in results.memory_warm.items()
                },
            )
        )
    rows += [
        _row(results, "routing decision p50 / p99", _decision_cells(results)),
        _row(
            results,
            "start to ready (all workers)",
            {v: f"{seconds:.2f} s" for v, seconds in results.startup_seconds.items()},
        ),
        _row(results, "calls per vendor UAS vs prediction (clean runs)", _routing_cells(results)),
        _row(results, "CDRs", _cdr_cells(results)),
    ]
    if "credit" in results.plan.variants:
        rows.append(_row(results, "prepaid credit control", {"credit": credit_cell(results)}))
    return rows


def credit_cell(results: BenchResults) -> str:
    """(e)'s proof that credit control ran on every call: reserved, released, settled."""
    checked, clean = results.credit_checks()
    cdr, calls = results.cdr["credit"], results.cdr_calls["credit"]
    return (
        f"every call reserved its max duration, left no reservation and settled one in "
        f"{checked} of {clean} clean runs; CDR traces: {_counter(cdr.credit_seconds) or 'none'}"
        f" (seconds bought: calls) for {calls} successful calls"
    )


def _decision_cells(results: BenchResults) -> dict[str, str]:
    cells = {"native": "none (fixed vendor)", "floor": "none (fixed vendor)"}
    probe = results.lcr_probe
    if probe is not None and probe.load_gws_us:
        cells["class4"] = (
            f"{probe.percentile(0.5):.0f} / {probe.percentile(0.99):.0f} µs "
            "(C load_gws, in Kamailio)"
        )
    d = results.decision
    cells["akira"] = f"{d.p50_us:.1f} / {d.p99_us:.1f} µs (decide, in-process)"
    cells["limits"] = "decide as (c), then the limits FCALL (inside its CPU per call)"
    cells["credit"] = "decide as (c), then one FCALL for limits and credit (as (d))"
    return cells


# Commands the engine's Lua functions run (kemi.limits); FCALL and XADD come from the node
# (the setup on the SIP path, the relay's release batches and pipelined CDR events).
LUA_COMMANDS = frozenset(re.findall(r"redis\.call\('(\w+)'", limits.LIBRARY.lower()))
NODE_COMMANDS = ("fcall", "xadd")


def commands_per_call(results: BenchResults, variant: str) -> str:
    per_call = results.redis_per_call(variant)
    if not per_call:
        return "-"
    node = ", ".join(f"{name} {per_call[name]:.2f}" for name in NODE_COMMANDS)
    lua = sum(count for name, count in per_call.items() if name in LUA_COMMANDS)
    return f"{sum(per_call.values()):.1f} ({node} from the node; {lua:.1f} inside Lua)"


def _commands_by_name(results: BenchResults, variant: str) -> str:
    per_call = results.redis_per_call(variant)
    return ", ".join(f"{name} {count:.3f}" for name, count in per_call.most_common()) or "-"


def _routing_cells(results: BenchResults) -> dict[str, str]:
    cells = {}
    for variant in VARIANTS:
        routed, exact, checked, extra, calls = results.routing_checks(variant)
        cells[variant] = (
            f"no shortfall in {routed} of {checked} runs ({exact} exact); "
            f"{extra} extra (late ACKs) for {calls} calls"
            if checked
            else "-"
        )
    return cells


def _cdr_cells(results: BenchResults) -> dict[str, str]:
    cells = {"native": "none", "floor": "none"}
    files = results.class4_cdr
    if results.class4_answered:
        exact, clean = results.cdr_checks("class4")
        cells["class4"] = (
            f"{files.records} acc records for {results.class4_answered} successful calls "
            f"({files.records / results.class4_answered:.3f} per call); one per call in "
            f"{exact} of {clean} clean runs"
        )
    for variant in AKIRA_VARIANTS:
        cdr, calls = results.cdr[variant], results.cdr_calls[variant]
        if calls:
            exact, clean = results.cdr_checks(variant)
            cells[variant] = (
                f"{cdr.events} events for {calls} successful calls ({cdr.events / calls:.3f} "
                f"per call); one per call in {exact} of {clean} clean runs; "
                f"{cdr.misrouted} misrouted"
            )
    return cells


def _mean(values: list[int]) -> float:
    return sum(values) / len(values)


def _cps(value: int | None, plan) -> str:
    if plan.max_rate <= 0:
        return "not measured"
    if value is None:
        return f"< {plan.step}"
    return f"{value}" + (" (= max tried)" if value >= plan.max_rate else "")


def engine_lines(results: BenchResults) -> list[tuple[str, str]]:
    d, m, w = results.decision, results.memory, results.call_work
    loads = results.snapshot_loads
    startup = results.startup_loads
    lines = [
        ("code under test", results.akira_code or "-"),
        (
            "decide() p50 / p99 / mean",
            f"{d.p50_us:.1f} / {d.p99_us:.1f} / {d.mean_us:.1f} µs over {d.samples} decisions "
            f"({len(d.routed)} numbers, {results.plan.decision_passes} pass(es))",
        ),
        ("numbers the engine would not route", _counter(d.unrouted) or "none"),
        (
            "other per-call Python work (p50)",
            f"call context + encode {w.context_us:.1f} µs; at the end, decode + CDR event "
            f"{w.end_us:.1f} µs, journal append {w.append_wall_us:.1f} µs wall, "
            f"{w.append_cpu_us:.1f} µs CPU ({w.calls} calls)",
        ),
        ("first vendor share (terminator id: numbers)", _counter(d.vendor_share)),
        (
            "snapshot, in-process: a node's fetch from Redis / a worker's map",
            f"{statistics.median(load.fetch_seconds for load in loads):.3f} s / "
            f"{statistics.median(load.map_seconds for load in loads) * 1000:.2f} ms, median of "
            f"{len(loads)}; "
            f"{loads[0].file_bytes / MB:.1f} MB of files on the node",
        ),
        (
            "snapshot map in each Kamailio process of (c) (at its first call)",
            f"{min(startup) * 1000:.2f}–{max(startup) * 1000:.2f} ms ({len(startup)} processes)"
            if startup
            else "-",
        ),
        (
            "snapshot memory per process (fresh interpreter)",
            f"mapped: RSS +{_mb(m['map_rss_bytes'])}, anonymous +{_mb(m['map_anon_bytes'])} "
            f"(manifest objects {_mb(m['manifest_traced_bytes'])}); after {m['decided']} "
            f"decisions: RSS +{_mb(m['decided_rss_bytes'])}, anonymous "
            f"+{_mb(m['decided_anon_bytes'])} ({m['tariffs']} tariffs, "
            f"{m['route_tables']} route table; RSS beyond anonymous is file pages, shared by "
            "the node's workers)",
        ),
    ]
    engines = [v for v in AKIRA_VARIANTS if v in results.plan.variants]
    for variant in engines:
        lines.append(
            (
                f"Redis commands per call of {LABELS[variant]}, by name (clean rounds)",
                _commands_by_name(results, variant),
            )
        )
    for variant in engines:
        cdr, calls = results.cdr[variant], results.cdr_calls[variant]
        lines.append(
            (
                f"CDR events of {LABELS[variant]} (journal -> relay -> akira:cdr)",
                f"{cdr.events} events for {calls} successful calls ({cdr.events / calls:.3f} "
                f"per call), {cdr.misrouted} misrouted, {cdr.failovers} failover attempts, "
                f"{cdr.unknown} for numbers not dialed, {cdr.stuck} journal lines not shipped, "
                f"codes {_counter(cdr.codes)}, ~{cdr.stream_bytes / cdr.events:.0f} B per event "
                "in the stream"
                if cdr.events and calls
                else "none",
            )
        )
    if "credit" in engines:
        lines += credit_lines(results)
    return lines


def credit_lines(results: BenchResults) -> list[tuple[str, str]]:
    """(e): the account, what its calls left in Redis, and the rater's settle of them."""
    runs = [r for r in [*results.rounds, *results.steps] if r.credit is not None and r.clean]
    calls = sum(r.sipp.successful for r in runs)
    settle_cpu = sum(r.credit.settle_cpu for r in runs if r.credit is not None)
    commands: Counter[str] = Counter()
    for r in runs:
        if r.credit is not None:
            commands.update(r.credit.settle_commands)
    in_flight = sum(r.credit.in_flight for r in runs if r.credit is not None)
    cut = sum(r.credit.cut_short for r in runs if r.credit is not None)
    return [
        (
            f"credit of {LABELS['credit']} (akira:credit:{results.credit_company})",
            f"available {results.credit_available / 1e8:,.2f} before any call (the ledger's "
            f"top-up, synced by the publisher); each call reserved the price of "
            f"{results.credit_max_duration} s; {cut} calls granted less (cut short), "
            f"{in_flight} reservations left in flight after the runs",
        ),
        (
            "settle after each run (akira_credit_settled, the rater's part; not in CPU per call)",
            f"{_us(settle_cpu / calls * 1e6) if calls else '-'} of redis-server per call; "
            + ", ".join(f"{name} {n / calls:.2f}" for name, n in commands.most_common())
            + " commands per call"
            if calls
            else "-",
        ),
    ]


def class4_lines(results: BenchResults) -> list[tuple[str, str]]:
    """Baseline (b): its tables, their agreement with Akira, lcr's own timings, its CDRs."""
    setup, probe = results.class4, results.lcr_probe
    if setup is None or "class4" not in results.plan.variants:
        return []
    tables, agreement = setup.tables, setup.agreement
    lines = [
        (
            "lcr tables (db_text)",
            f"{len(tables.rules)} rules (one stopper rule per prefix in effect), "
            f"{tables.targets} rule targets, {len(tables.gateways)} gateways; "
            f"{tables.dropped_for_margin} vendor offers dropped as dearer than the customer, "
            f"{tables.without_customer_rate} prefixes without a customer rate; "
            f"{setup.table_bytes / MB:.1f} MB of files, built in {setup.build_seconds:.2f} s "
            f"and written in {setup.write_seconds:.2f} s (Python)",
        ),
        (
            "lcr first vendor = Akira's decide() first vendor",
            f"{agreement.agreed} of {agreement.checked} numbers (one per open code)"
            + (f"; differing: {'; '.join(agreement.examples)}" if agreement.examples else ""),
        ),
        ("dialog timeout (max call duration)", f"{setup.dialog_timeout} s"),
    ]
    if results.class4_module_shm:
        lines.append(
            (
                "shared memory by module after the CPU rounds (mod.mem_stats)",
                ", ".join(f"{m} {_mb(b)}" for m, b in results.class4_module_shm.items()),
            )
        )
    if probe is not None:
        reloads = sorted(probe.reload_seconds)
        lines += [
            (
                "lcr load at start (db_text parse + lcr build, probe instance)",
                f"{probe.startup_seconds:.2f} s from start to ready "
                f"(plain relay (a): {results.startup_seconds.get('native', 0):.2f} s)",
            ),
            (
                "lcr.reload (kamcmd, idle)",
                f"{reloads[len(reloads) // 2]:.2f} s median of {len(reloads)} "
                f"({', '.join(f'{r:.2f}' for r in probe.reload_seconds)} s)",
            ),
            (
                "load_gws() per call (benchmark module, µs resolution)",
                f"p50 {probe.percentile(0.5):.0f} / p99 {probe.percentile(0.99):.0f} / mean "
                f"{probe.mean_us:.1f} µs over {len(probe.load_gws_us)} calls "
                "(wall time inside a SIP worker during a low-rate probe run)"
                if probe.load_gws_us
                else "not measured",
            ),
        ]
    files = results.class4_cdr
    lines.append(
        (
            "CDRs (acc CDR mode, db_flatstore)",
            f"{files.records} records for {results.class4_answered} successful calls (an "
            "unclean run also bills calls answered whose BYE then failed at SIPp), "
            f"{files.misrouted} answered at first attempt by another vendor than predicted, "
            f"{files.failovers} answered after a failover, {files.unknown} for "
            f"numbers not dialed, {files.malformed} malformed; vendors "
            f"{_counter(files.vendors)}; {files.files} files, "
            + (f"~{files.bytes / files.records:.0f} B per record" if files.records else "-"),
        )
    )
    return lines


def _counter(counter: Counter) -> str:
    return ", ".join(f"{key}: {count}" for key, count in counter.most_common())


def md_table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def header(results: BenchResults) -> tuple[str, ...]:
    plan = results.plan
    return ("", *(LABELS[v] for v in plan.variants), *(ratio_label(n, d) for n, d in plan.ratios()))


def _aligned(names: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [names, *rows]) for i in range(len(names))]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in [names, *rows]
    ]


def text(results: BenchResults) -> str:
    lines = _aligned(header(results), summary(results))
    if native_class4 := class4_lines(results):
        lines += ["", "Native class-4 (b):"]
        lines += [f"  {name}: {value}" for name, value in native_class4]
    lines += ["", "Engine (Akira, c to e), in-process and from the runs:"]
    lines += [f"  {name}: {value}" for name, value in engine_lines(results)]
    if results.overload:
        lines += ["", overload_title(results), *_aligned(OVERLOAD_HEADER, overload_rows(results))]
    lines += ["", *problems(results)]
    return "\n".join(lines)


OVERLOAD_HEADER = (
    "offered",
    "CPS asked",
    "CPS achieved (SIPp)",
    "ok",
    "503",
    "other failed",
    "goodput (ok per offered second)",
    "retrans",
    "INVITE→200 ms",
    "Kamailio CPU/call",
    "Kamailio % of cores",
    "others % of cores",
)


def overload_title(results: BenchResults) -> str:
    return (
        f"Overload of {LABELS['akira']}: offered multiples of its max clean CPS "
        f"({results.overload_capacity}), {results.plan.overload_duration:.0f} s each"
    )


def rejected_503(counts: SippCounts) -> int:
    """Calls SIPp saw refused with 503 (shed by the overload monitor, in this bench)."""
    return sum(n for reason, n in counts.unexpected.items() if reason.startswith("503 "))


def overload_rows(results: BenchResults) -> list[tuple[str, ...]]:
    capacity = results.overload_capacity or 1
    rows = []
    for r in results.overload:
        s, rejected = r.sipp, rejected_503(r.sipp)
        rows.append(
            (
                f"{r.rate / capacity:.3g}×",
                str(r.rate),
                f"{s.call_rate:.0f}",
                str(s.successful),
                str(rejected),
                str(s.failed - rejected),
                f"{s.successful * r.rate / max(1, s.outgoing):.0f}",
                str(s.retransmissions),
                f"{s.response_ms:.1f}",
                _us(r.cpu_per_call_us),
                _share(r, r.kamailio_cpu),
                f"{100 * r.foreign_share:.0f} %",
            )
        )
    return rows


def run_rows(runs: Iterable[LoadResult]) -> list[tuple[str, ...]]:
    return [
        (
            LABELS[r.variant],
            str(r.rate),
            f"{r.sipp.successful}",
            f"{r.sipp.failed}",
            f"{r.sipp.call_rate:.0f}",
            f"{r.sipp.retransmissions}",
            f"{r.sipp.response_ms:.1f}",
            _us(r.cpu_per_call_us),
            _share(r, r.kamailio_cpu),
            _share(r, r.sipp_cpu),
            f"{100 * r.foreign_share:.0f} %",
            _vendor_cell(r),
            "yes" if r.clean else "**no**",
        )
        for r in runs
    ]


RUN_HEADER = (
    "variant",
    "CPS asked",
    "ok",
    "failed",
    "CPS achieved",
    "retrans",
    "INVITE→200 ms (SIPp, 1 ms ticks)",
    "Kamailio CPU/call",
    "Kamailio % of cores",
    "SIPp % of cores",
    "others % of cores",
    "vendors as predicted",
    "clean",
)


def _vendor_cell(r: LoadResult) -> str:
    if not r.expected_calls:
        return "-"
    if r.vendor_counts_exact:
        return "yes"
    return ("yes + extras: " if r.routed_as_predicted else "**no**: ") + _vendor_diff(r)


def problems(results: BenchResults) -> list[str]:
    """What went wrong under load, from SIPp's counters, the CDR check and Kamailio's log."""
    lines = []
    for variant in VARIANTS:
        failure = results.first_failure(variant)
        if failure is not None:
            s = failure.sipp
            lines.append(
                f"{LABELS[variant]}: first unclean step {failure.rate} CPS: {s.failed} failed "
                f"({_counter(Counter(s.failures)) or 'no failure class'}), "
                f"{s.call_rate:.0f} CPS achieved, {s.retransmissions} retransmissions"
            )
            for reason, count in list(s.unexpected.items())[:3]:
                lines.append(
                    f"{LABELS[variant]} at {failure.rate} CPS, SIPp aborted {count} "
                    f"call(s) on: {reason}"
                )
        log = Counter(
            _log_kind(line)
            for r in [*results.rounds, *results.steps]
            if r.variant == variant
            for line in r.log_problems
        )
        for message, count in log.most_common(5):
            lines.append(f"{LABELS[variant]} log ({count}x): {message}")
    for variant in VARIANTS:
        for r in [*results.rounds, *results.steps]:
            if r.variant == variant and r.clean and r.expected_calls and not r.routed_as_predicted:
                lines.append(
                    f"{LABELS[variant]} at {r.rate} CPS: a vendor UAS got fewer calls than "
                    f"predicted (got / predicted {_vendor_diff(r)})"
                )
    files = results.class4_cdr
    if files.misrouted or files.unknown or files.malformed:
        lines.append(
            f"CDR check (b): {files.misrouted} misrouted, {files.unknown} for unexpected "
            f"numbers, {files.malformed} malformed lines"
        )
    for r in results.rounds + results.steps:
        if isinstance(r.cdr, CdrFileCheck) and r.clean and r.cdr.records != r.sipp.successful:
            lines.append(
                f"CDR check (b) at {r.rate} CPS: {r.cdr.records} acc records for "
                f"{r.sipp.successful} successful calls (one each expected)"
            )
        if isinstance(r.cdr, CdrCheck) and r.clean and r.cdr.events != r.sipp.successful:
            lines.append(
                f"CDR check {LABELS[r.variant]} at {r.rate} CPS: {r.cdr.events} events for "
                f"{r.sipp.successful} successful calls (one each expected)"
            )
    for r in results.rounds + results.steps:
        if r.credit is not None and r.clean and not r.credit.every_call(r.sipp.successful):
            c = r.credit
            lines.append(
                f"credit check (e) at {r.rate} CPS ({r.tag}): {r.sipp.successful} calls, "
                f"{sum(c.granted.values())} reserved ({_counter(c.granted)} s), {c.in_flight} "
                f"left in flight ({c.in_flight_units} units), {c.settling_calls} in settling, "
                f"{c.settled} settled, {c.settling_after} units settling after"
            )
    for variant in AKIRA_VARIANTS:
        cdr = results.cdr[variant]
        if cdr.misrouted or cdr.stuck or cdr.unknown:
            lines.append(
                f"CDR check {LABELS[variant]}: {cdr.misrouted} misrouted, {cdr.unknown} for "
                f"unexpected numbers, {cdr.stuck} journal lines the relay had not shipped"
            )
    return lines or ["No failed calls, misroutes or Kamailio log errors seen."]
