"""The results as a terminal table and as docs/BENCHMARKS.md."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from callbench.loadpoint import LoadResult
from callbench.processes import CORES
from callbench.results import LABELS, VARIANTS, BenchResults, ratio

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
    if r.cdr is not None:
        line += f", CDR {r.cdr.events} events, {r.cdr.misrouted} misrouted"
    return line + ("" if r.clean else "  <- not clean")


def _share(r: LoadResult, cpu: float) -> str:
    """CPU as a share of all cores while SIPp was calling (clean-up after it is included)."""
    return f"{100 * cpu / (r.uac_seconds * CORES):.0f} %" if r.uac_seconds else "-"


def summary(results: BenchResults) -> list[tuple[str, str, str, str]]:
    """(metric, native, Akira, ratio) rows: the headline of both outputs."""
    plan = results.plan
    native, akira = results.mean_cpu_per_call("native"), results.mean_cpu_per_call("akira")
    ratios = results.round_ratios()
    spread = f" (rounds {min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
    best = results.max_cps
    memory = {v: results.worker_memory.get(v, []) for v in VARIANTS}
    rows = [
        (
            f"Kamailio CPU per call @ {plan.rate} CPS, mean of {plan.rounds} round(s)",
            _us(native),
            _us(akira),
            _x(ratio(native, akira)) + spread,
        ),
        (
            "max CPS with 0 failed calls (box limit, SIPp on the same cores)",
            _cps(best.get("native"), plan),
            _cps(best.get("akira"), plan),
            _x(ratio(best.get("native"), best.get("akira"))),
        ),
        (
            "redis-server CPU per call (shared instance)",
            _us(results.mean_of("native", "redis_cpu")),
            _us(results.mean_of("akira", "redis_cpu")),
            "",
        ),
        (
            "SIPp CPU per call (UAC + vendor UAS)",
            _us(results.mean_of("native", "sipp_cpu")),
            _us(results.mean_of("akira", "sipp_cpu")),
            "",
        ),
        (
            "private memory per Kamailio SIP worker (mean)",
            *(_mb(_mean(memory[v])) if memory[v] else "-" for v in VARIANTS),
            f"+{_mb(_mean(memory['akira']) - _mean(memory['native']))}"
            if all(memory.values())
            else "",
        ),
    ]
    return rows


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
    loads = sorted(results.snapshot_loads)
    startup = results.startup_loads
    tariff_prefixes = m["prefixes"]
    cdr = results.cdr
    per_call = cdr.events / results.cdr_calls if results.cdr_calls else 0
    return [
        (
            "decide() p50 / p99 / mean",
            f"{d.p50_us:.1f} / {d.p99_us:.1f} / {d.mean_us:.1f} µs over {d.samples} decisions "
            f"({len(d.routed)} numbers, {results.plan.decision_passes} pass(es))",
        ),
        ("numbers the engine would not route", _counter(d.unrouted) or "none"),
        (
            "other per-call Python work (p50)",
            f"call context + JSON {w.context_us:.1f} µs; one CDR event (JSON + XADD) "
            f"{w.emit_wall_us:.0f} µs wall, {w.emit_cpu_us:.0f} µs CPU ({w.calls} calls)",
        ),
        ("first vendor share (terminator id: numbers)", _counter(d.vendor_share)),
        (
            "snapshot load, in-process (SnapshotStore.refresh)",
            f"{loads[len(loads) // 2]:.2f} s median of {len(loads)}; cold process "
            f"{m['cold_load_s']:.2f} s",
        ),
        (
            "snapshot load in each Kamailio worker at start",
            f"{min(startup):.2f}–{max(startup):.2f} s ({len(startup)} workers loading at once)"
            if startup
            else "-",
        ),
        (
            "snapshot memory per process",
            f"RSS +{_mb(m['rss_delta_bytes'])}, tracemalloc {_mb(m['traced_bytes'])} "
            f"(peak {_mb(m['traced_peak_bytes'])}) for {m['tariffs']} tariffs, "
            f"{tariff_prefixes} prefixes = {m['rss_delta_bytes'] / tariff_prefixes:.0f} B "
            "RSS per prefix per tariff",
        ),
        (
            "CDR events (one XADD per attempt)",
            f"{cdr.events} events for {results.cdr_calls} calls ({per_call:.3f} per call), "
            f"{cdr.misrouted} misrouted, {cdr.failovers} failover attempts, "
            f"{cdr.spooled} spooled, codes {_counter(cdr.codes)}, "
            f"~{cdr.stream_bytes / cdr.events:.0f} B per event in Redis"
            if cdr.events
            else "none",
        ),
    ]


def _counter(counter: Counter) -> str:
    return ", ".join(f"{key}: {count}" for key, count in counter.most_common())


def md_table(header: tuple[str, ...], rows: Iterable[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def text(results: BenchResults) -> str:
    rows = summary(results)
    width = max(len(row[0]) for row in rows) + 2
    lines = [f"{'':<{width}}{LABELS['native']:>22}{LABELS['akira']:>22}   (b)/(a)"]
    lines += [f"{m:<{width}}{a:>22}{b:>22}   {r}" for m, a, b, r in rows]
    lines += ["", "Engine (Akira), in-process and from the run:"]
    lines += [f"  {name}: {value}" for name, value in engine_lines(results)]
    lines += ["", *problems(results)]
    return "\n".join(lines)


def run_rows(runs: Iterable[LoadResult]) -> list[tuple[str, ...]]:
    return [
        (
            r.variant,
            str(r.rate),
            f"{r.sipp.successful}",
            f"{r.sipp.failed}",
            f"{r.sipp.call_rate:.0f}",
            f"{r.sipp.retransmissions}",
            f"{r.sipp.response_ms:.1f}",
            _us(r.cpu_per_call_us),
            _share(r, r.kamailio_cpu),
            _share(r, r.sipp_cpu),
            _share(r, sum(cpu for _, cpu in r.foreign)),
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
    "clean",
)


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
    cdr = results.cdr
    if cdr.misrouted or cdr.spooled or cdr.unknown:
        lines.append(
            f"CDR check: {cdr.misrouted} misrouted, {cdr.unknown} for unexpected "
            f"numbers, {cdr.spooled} spooled (Redis did not answer in time)"
        )
    return lines or ["No failed calls, misroutes or Kamailio log errors seen."]
