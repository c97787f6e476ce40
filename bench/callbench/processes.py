"""Child processes the benchmark owns, and the /proc readings that measure them.

Every process is started in its own session, so stopping one signals exactly the process group
the benchmark created (Kamailio and its forked workers) and nothing else on the shared machine.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Supervisor:
    """Starts processes with their output in ``run_dir`` and stops all of them on close."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._children: list[tuple[str, subprocess.Popen]] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen:
        log = (self.run_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.run_dir,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
        log.close()
        self._children.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 10.0) -> None:
        """SIGTERM to the process group we created (Kamailio stops its workers), then SIGKILL."""
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout)
        _signal_group(process.pid, signal.SIGKILL)  # stragglers of the group, if any
        self._children = [(n, p) for n, p in self._children if p is not process]

    def close(self) -> None:
        """Stop everything, newest first; a second Ctrl-C meanwhile must not leave orphans."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for _, process in reversed(list(self._children)):
                self.stop(process)
        finally:
            signal.signal(signal.SIGINT, previous)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- /proc readings --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    comm: str
    ticks: int  # utime + stime, in clock ticks


def read_processes() -> dict[int, ProcStat]:
    """Every process's CPU time; one pass over /proc, so one reading is one instant."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(entry)
        found[pid] = ProcStat(pid, int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return found


def descendants(processes: Mapping[int, ProcStat], root: int) -> set[int]:
    """``root`` and all its children, grandchildren…"""
    tree = {root}
    grew = True
    while grew:
        grew = False
        for stat in processes.values():
            if stat.ppid in tree and stat.pid not in tree:
                tree.add(stat.pid)
                grew = True
    return tree & processes.keys()


def busy_ticks() -> int:
    """CPU time of the whole machine spent outside idle and iowait, all cores."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return user + nice + system + irq + softirq + steal


def children_cpu_seconds() -> float:
    """CPU of reaped children: how the finished SIPp UAC's own CPU is measured."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def smaps_rollup(pid: int | str) -> dict[str, int]:
    """/proc/<pid>/smaps_rollup in bytes: Rss, Pss, Private_Clean, Anonymous..."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "kB":
            values[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return values


def private_memory_bytes(pid: int) -> int:
    """Pages only this process holds (heap, interpreter, file pages no other process maps);
    shm excluded."""
    rollup = smaps_rollup(pid)
    return rollup["Private_Clean"] + rollup["Private_Dirty"]


def pss_bytes(pid: int) -> int:
    """Proportional set size: private pages plus this process's share of shared ones.

    Summed over all processes of one Kamailio instance it counts its shared memory (tm, dialog,
    lcr rules...) once and every worker's private memory once: the instance's real footprint.
    """
    return smaps_rollup(pid).get("Pss", 0)


def udp_port_in_use(port: int, host_hex: str = "0100007F", table: str = "udp") -> bool:
    """Whether 127.0.0.1:port (or 0.0.0.0:port) is bound, from /proc/net/udp (or, for tcp,
    listened on: connections in TIME_WAIT do not count)."""
    for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        listening = table == "udp" or fields[3] == "0A"
        if int(port_hex, 16) == port and address in (host_hex, "00000000") and listening:
            return True
    return False


def tcp_port_in_use(port: int) -> bool:
    return udp_port_in_use(port, table="tcp")


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen, log: Path) -> None:
    """Poll until ``predicate()``; fail early, with the log, when the process died."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise RuntimeError(f"{what}: exited with {process.returncode}\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f} s\n{log_tail(log)}")
        time.sleep(0.2)
