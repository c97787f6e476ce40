"""The KEMI floor: what routing in Python through app_python3 costs Kamailio before any of
Akira's own work, against the plain native relay (a) in the same run.

Three instances, same workers, allocator, vendor UAS and SIPp customer as bench/sipp_calls.py:
  (a)  bench/native-relay.cfg: the native stateful relay to vendor A;
  (f)  bench/kemi-floor.cfg: the same request_route, line for line, in Python
       (bench/kemi_floor_script.py, cfgengine "python");
  (f+) (f) with the dialog module as Akira uses it: a dialog per call (dlg_manage), a
       600-byte dialog variable (Akira's call context is about that), in-dialog requests
       relayed only for known dialogs, and the dialog events entering Python.
Rounds rotate the order; reported: Kamailio CPU per call (all its processes), the ratios
(f)/(a) and (f+)/(a), and the mean of the clean rounds. Issue 5's targets for Akira (c) are
<= 2.0 x (a) and <= 1.25 x the native class-4 cfg (b): what (f+) costs over (a) is spent before
Akira identifies, rates, routes or writes a CDR.

Run: ``.venv/bin/python bench/kemi_floor.py [--rate 1000] [--duration 20] [--rounds 3]``
(uses bench/sipp_calls.py's ports 25060-25083: not while it runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from callbench import servers
from callbench.loadpoint import measure
from callbench.processes import Supervisor

PORTS = {"native": servers.NATIVE_PORT, "kemi": 25065, "kemi+dialog": 25066}
LABELS = {
    "native": "native relay (a)",
    "kemi": "KEMI floor (f)",
    "kemi+dialog": "KEMI + dialog (f+)",
}


def numbers(count: int = 2000) -> list[str]:
    """Any numbers do: every instance relays to vendor A whatever is dialed."""
    return [f"4420{7946 + i % 50}{i:05d}" for i in range(count)]


def start(supervisor: Supervisor, name: str, workers: int, allocator: str) -> servers.Kamailio:
    if name == "native":
        return servers.start_native(supervisor, workers, allocator)
    dialog = name == "kemi+dialog"
    return servers.start_floor(
        supervisor, workers, allocator, name=name.replace("+", "-"), port=PORTS[name], dialog=dialog
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="calls per second")
    parser.add_argument("--duration", type=float, default=20, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--allocator", default="tlsf", choices=servers.ALLOCATORS)
    args = parser.parse_args()

    run_dir = Path(tempfile.mkdtemp(prefix="akira-kemi-floor-"))
    inf = run_dir / "dialed.csv"
    from callbench.deck import write_inf

    write_inf(inf, numbers())
    print(f"run dir {run_dir}; load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, list[float]] = {name: [] for name in PORTS}
    unclean: dict[str, int] = dict.fromkeys(PORTS, 0)
    with Supervisor(run_dir) as supervisor:
        vendors = servers.start_vendors(supervisor)
        instances = {name: start(supervisor, name, args.workers, args.allocator) for name in PORTS}
        for name, kamailio in instances.items():  # warm-up, discarded
            measure(supervisor, kamailio, vendors.values(), inf, 200, 3, 2, f"warm-{name}")
        order = list(PORTS)
        for round_number in range(args.rounds):
            for name in order:
                result = measure(
                    supervisor, instances[name], vendors.values(), inf, args.rate,
                    args.duration, 6, f"round{round_number}-{name}",
                )  # fmt: skip
                per_call = result.cpu_per_call_us
                state = "clean" if result.clean else "NOT clean"
                print(f"round {round_number + 1} {LABELS[name]:22} "
                      f"{per_call or 0:7.1f} µs/call  ok {result.sipp.successful} "
                      f"failed {result.sipp.failed}  {state}", flush=True)  # fmt: skip
                if result.clean and per_call is not None:
                    results[name].append(per_call)
                else:
                    unclean[name] += 1
            order = order[1:] + order[:1]
            time.sleep(1)
    native = statistics.mean(results["native"]) if results["native"] else None
    print(f"\n{args.rate} CPS, {args.duration:.0f} s rounds, {args.workers} workers, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    for name, values in results.items():
        if not values:
            print(f"{LABELS[name]:22} no clean round")
            continue
        mean = statistics.mean(values)
        ratio = f"  {mean / native:.2f}x (a)" if native else ""
        spread = ", ".join(f"{v:.0f}" for v in values)
        print(f"{LABELS[name]:22} {mean:7.1f} µs/call ({spread}){ratio}"
              f"{f'  unclean rounds: {unclean[name]}' if unclean[name] else ''}")  # fmt: skip


if __name__ == "__main__":
    main()
