#!/usr/bin/env python3
"""Which CDR sink baseline (b) uses: acc's CDRs to a local file (db_flatstore) or to syslog.

Run from the project root with the project's virtualenv (never part of the test run):

    .venv/bin/python bench/cdr_sinks.py            # 3 rounds x 15 s at 2000 CPS, ~3 min

The same bench/native-class4.cfg runs three times side by side, differing only in the sink:
  flatstore  acc -> db_flatstore, one line per CDR appended to a file per process (the default);
  log-file   acc -> syslog API (-A CDR_SYSLOG) with -E: Kamailio's logger writes the line to
             stderr, a file; the client half of syslog without a daemon;
  syslog     acc -> syslog API (-A CDR_SYSLOG) without -E, the process in its own mount
             namespace whose /dev/log is a socat datagram receiver appending to a file: the
             cheapest possible syslog daemon (rsyslog parses and timestamps on top; this
             machine has none), whose CPU is counted per call too.
Reported per sink: Kamailio CPU per call, the receiver's CPU per call, and CDRs per call.
Uses the bench's ports: Kamailio on 127.0.0.1:25064-25066, vendor UAS 25081-25083, UAC 25070.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from callbench import deck, lcr_tables, servers
from callbench.class4 import CUSTOMER_NETWORKS
from callbench.loadpoint import measure
from callbench.processes import CLOCK_TICKS, Supervisor, read_processes, udp_port_in_use
from callbench.servers import CLASS4_CFG, HOST, UAC_PORT, VENDOR_PORTS, Kamailio

SINKS = ("flatstore", "log-file", "syslog")
PORTS = {"flatstore": 25064, "log-file": 25065, "syslog": 25066}

# In a private mount namespace: a fresh /dev with the usual nodes bound from the real one, and
# /dev/log bound to our receiver's socket. Nothing outside the namespace changes.
NAMESPACE_SETUP = """
set -e
sock="$1"; old="$2"; shift 2
mount --bind /dev "$old"
mount -t tmpfs -o mode=755 tmpfs /dev
for node in null zero full random urandom tty; do
    touch "/dev/$node"; mount --bind "$old/$node" "/dev/$node"
done
mkdir /dev/shm /dev/pts
mount --bind "$old/shm" /dev/shm
mount --bind "$old/pts" /dev/pts
ln -s /proc/self/fd /dev/fd
touch /dev/log
mount --bind "$sock" /dev/log
exec "$@"
"""


def start_sink(supervisor: Supervisor, sink: str, db_dir: Path, workers: int) -> Kamailio:
    run_dir = supervisor.run_dir
    defines = [f'DB_URL="text://{db_dir}"', "DIALOG_TIMEOUT=7200"]
    wrapper: list[str] = []
    if sink == "flatstore":
        cdr_dir = run_dir / "cdr-flatstore"
        cdr_dir.mkdir()
        defines.append(f'CDR_URL="flatstore:{cdr_dir}"')
    else:
        defines.append("CDR_SYSLOG")
    if sink == "syslog":
        old_dev = run_dir / "real-dev"
        old_dev.mkdir()
        socket = run_dir / "syslog.sock"
        wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c", NAMESPACE_SETUP]
        wrapper += ["sh", str(socket), str(old_dev)]
    return servers.start_native_cfg(
        supervisor,
        f"sink-{sink}",
        CLASS4_CFG,
        PORTS[sink],
        workers,
        "tlsf",
        defines,
        wrapper=wrapper,
        log_to_stderr=sink != "syslog",
    )


def cdr_count(run_dir: Path, sink: str) -> int:
    if sink == "flatstore":
        return sum(
            len(path.read_bytes().splitlines()) for path in run_dir.glob("cdr-flatstore/*.log")
        )
    source = run_dir / ("syslog.log" if sink == "syslog" else "kamailio-sink-log-file.log")
    return source.read_text(errors="replace").count("callid=") if source.exists() else 0


@dataclass(frozen=True, slots=True)
class SinkRun:
    kamailio_us: float  # Kamailio CPU per successful call
    receiver_us: float  # the syslog receiver's CPU per successful call (0 for the others)
    calls: int
    cdrs: int


def run_once(
    supervisor: Supervisor,
    sink: str,
    target: Kamailio,
    vendors: list,
    receiver_pid: int,
    inf: Path,
    args: argparse.Namespace,
    tag: str,
) -> SinkRun:
    before, cdrs_before = read_processes(), cdr_count(supervisor.run_dir, sink)
    result = measure(supervisor, target, vendors, inf, args.rate, args.duration, 3, tag)
    after = read_processes()
    calls = max(1, result.sipp.successful)
    receiver = 0.0
    if sink == "syslog":
        receiver = (after[receiver_pid].ticks - before[receiver_pid].ticks) / CLOCK_TICKS
    return SinkRun(
        kamailio_us=result.kamailio_cpu / calls * 1e6,
        receiver_us=receiver / calls * 1e6,
        calls=result.sipp.successful,
        cdrs=cdr_count(supervisor.run_dir, sink) - cdrs_before,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/cdr_sinks.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--keep-run-dir", action="store_true")
    args = parser.parse_args(argv)
    busy = [p for p in [*PORTS.values(), *VENDOR_PORTS.values(), UAC_PORT] if udp_port_in_use(p)]
    if busy:
        raise SystemExit(f"UDP ports in use: {busy}")
    run_dir = Path(tempfile.mkdtemp(prefix="akira-sinks-"))
    rows = deck.read_deck(deck.DEFAULT_DECK)
    tables = lcr_tables.build(deck.tariffs(rows), VENDOR_PORTS, HOST, datetime.now(UTC))
    lcr_tables.write(run_dir / "db", tables, CUSTOMER_NETWORKS)
    inf = run_dir / "dialed.csv"
    deck.write_inf(inf, deck.dialed_numbers(rows, 5000))
    runs: dict[str, list[SinkRun]] = {sink: [] for sink in SINKS}
    load = [Path("/proc/loadavg").read_text().split()[0]]
    with Supervisor(run_dir) as supervisor:
        receiver = supervisor.start(
            "socat",
            [
                "socat",
                "-u",
                f"UNIX-RECV:{run_dir / 'syslog.sock'},unlink-early",
                f"OPEN:{run_dir / 'syslog.log'},creat,append",
            ],
        )
        vendors = list(servers.start_vendors(supervisor).values())
        targets = {
            sink: start_sink(supervisor, sink, run_dir / "db", args.workers) for sink in SINKS
        }
        for sink in SINKS:  # warm-up, discarded
            measure(supervisor, targets[sink], vendors, inf, 200, 2, 2, f"warmup-{sink}")
        for number in range(args.rounds):
            shift = number % len(SINKS)
            for sink in SINKS[shift:] + SINKS[:shift]:
                run = run_once(
                    supervisor,
                    sink,
                    targets[sink],
                    vendors,
                    receiver.pid,
                    inf,
                    args,
                    f"{sink}{number}",
                )
                runs[sink].append(run)
                print(
                    f"  {sink:<9} {run.calls} calls: Kamailio {run.kamailio_us:.0f} µs/call, "
                    f"receiver {run.receiver_us:.0f} µs/call, {run.cdrs} CDRs",
                    flush=True,
                )
    load.append(Path("/proc/loadavg").read_text().split()[0])
    print(f"\n{args.rounds} rounds at {args.rate} CPS; load average {' -> '.join(load)}")
    print(f"{'sink':<10} {'Kamailio':>9} {'receiver':>9} {'total':>7}  CDRs per call")
    for sink, done in runs.items():
        kamailio = statistics.fmean(r.kamailio_us for r in done)
        receiver_us = statistics.fmean(r.receiver_us for r in done)
        per_call = sum(r.cdrs for r in done) / max(1, sum(r.calls for r in done))
        print(
            f"{sink:<10} {kamailio:7.0f}µs {receiver_us:7.0f}µs {kamailio + receiver_us:5.0f}µs"
            f"  {per_call:.3f}"
        )
    if args.keep_run_dir:
        print(f"run directory kept: {run_dir}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
