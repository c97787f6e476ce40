"""The long-running processes of one benchmark: two Kamailio instances and the vendor UAS.

The native relay is started directly from bench/native-relay.cfg; Akira's engine runs the shipped
kamailio-cfg/kamailio.cfg and kemi/, through scripts/kamailio-run.sh or, for another shared-memory
allocator, through the same command line plus ``-x``. Both variants always get the same workers,
memory and allocator.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from callbench.processes import CLEAN_PATH, Supervisor, udp_port_in_use, wait_for

BENCH_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BENCH_DIR.parent
SCENARIOS = BENCH_DIR / "scenarios"
UAS_SCENARIO = SCENARIOS / "uas-answer.xml"
UAC_SCENARIO = SCENARIOS / "uac-inf-dialed-rr.xml"
NATIVE_CFG = BENCH_DIR / "native-relay.cfg"
KAMAILIO_RUN = PROJECT_DIR / "scripts" / "kamailio-run.sh"

HOST = "127.0.0.1"
NATIVE_PORT = 25060
AKIRA_PORT = 25062
UAC_PORT = 25070
VENDOR_PORTS = {"A": 25081, "B": 25082, "C": 25083}
SIPP_BUFFER = "4194304"
SHM_MB = 4096
PKG_MB = 32
SHIPPED_ALLOCATOR = "shipped"  # no -x: Debian's default shm allocator (q_malloc with debug)
ALLOCATORS = ("tlsf", SHIPPED_ALLOCATOR)

_SNAPSHOT_LOADED = re.compile(r"akira: snapshot (\d+) loaded in ([0-9.]+)s")


def media_port(sip_port: int) -> int:
    """SIPp binds four media ports from here (audio and video, RTP and RTCP)."""
    return 26000 + 4 * (sip_port - 25000)


def control_port(sip_port: int) -> int:
    return sip_port + 200


def all_ports() -> list[int]:
    """Every UDP port the benchmark binds (SIP, SIPp media and control ports)."""
    sip = [NATIVE_PORT, AKIRA_PORT, UAC_PORT, *VENDOR_PORTS.values()]
    sipp = [UAC_PORT, *VENDOR_PORTS.values()]
    media = [media_port(port) + offset for port in sipp for offset in range(4)]
    return sip + media + [control_port(port) for port in sipp]


def sipp_ports(sip_port: int) -> list[str]:
    """Own media and control ports, so SIPp never takes the defaults other SIPp runs use."""
    return ["-mp", str(media_port(sip_port)), "-cp", str(control_port(sip_port))]


@dataclass
class Kamailio:
    name: str  # "native" | "akira"
    port: int
    run_dir: Path
    process: subprocess.Popen
    log_offset: int = 0
    startup_loads: list[float] = field(default_factory=list)  # Akira: per-worker load, seconds

    @property
    def ctl(self) -> Path:
        return self.run_dir / "ctl"

    @property
    def log(self) -> Path:
        return self.run_dir.parent / f"kamailio-{self.name}.log"

    @property
    def pid(self) -> int:
        return self.process.pid

    def processes(self) -> list[tuple[int, str]]:
        """(pid, description) of each Kamailio process, from the ctl socket (core.psx)."""
        result = subprocess.run(
            ["kamcmd", "-s", f"unix:{self.ctl}", "core.psx"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        pids = [int(v) for v in re.findall(r"PID:\s*(\d+)", result.stdout)]
        descriptions = re.findall(r"DSC:\s*(.*)", result.stdout)
        return list(zip(pids, descriptions, strict=True))

    def transactions(self) -> int:
        """tm transactions still in memory, including those in tm's wait timer."""
        result = subprocess.run(
            ["kamcmd", "-s", f"unix:{self.ctl}", "tm.stats"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        found = re.search(r"current:\s*(\d+)", result.stdout)
        return int(found.group(1)) if found else 0

    def wait_drained(self, timeout: float) -> float:
        """Seconds until every transaction of the last run is freed (or ``timeout``)."""
        started = time.monotonic()
        while self.transactions() > 0 and time.monotonic() - started < timeout:
            time.sleep(0.5)
        return time.monotonic() - started

    def sip_workers(self) -> list[int]:
        return [pid for pid, description in self.processes() if "receiver" in description]

    def new_log_lines(self) -> list[str]:
        """Log lines written since the previous call: what one run made Kamailio say."""
        with self.log.open("rb") as log:
            log.seek(self.log_offset)
            chunk = log.read()
        self.log_offset += len(chunk)
        return chunk.decode(errors="replace").splitlines()


def _ctl_ready(kamailio: Kamailio) -> bool:
    if not kamailio.ctl.exists():
        return False
    try:
        return len(kamailio.sip_workers()) > 0
    except (subprocess.SubprocessError, ValueError):
        return False


def _allocator_args(allocator: str) -> list[str]:
    """``-x tlsf`` (the notes' load-test setting) or nothing (Debian's default, q_malloc)."""
    return [] if allocator == SHIPPED_ALLOCATOR else ["-x", allocator]


def start_native(supervisor: Supervisor, workers: int, allocator: str) -> Kamailio:
    run_dir = supervisor.run_dir / "kamailio-native"
    run_dir.mkdir()
    argv = [
        "env",
        "-i",
        f"PATH={CLEAN_PATH}",
        "kamailio",
        "-f",
        str(NATIVE_CFG),
        "-l",
        f"udp:{HOST}:{NATIVE_PORT}",
        "-Y",
        str(run_dir),
        "-P",
        str(run_dir / "kamailio.pid"),
        "-w",
        str(run_dir),
        "-A",
        f'CTL_SOCKET="unix:{run_dir / "ctl"}"',
        "-A",
        f'VENDOR_URI="sip:{HOST}:{VENDOR_PORTS["A"]}"',
        "-A",
        f"WORKERS={workers}",
        "-m",
        str(SHM_MB),
        "-M",
        str(PKG_MB),
        *_allocator_args(allocator),
        "-DD",
        "-E",
    ]
    kamailio = Kamailio("native", NATIVE_PORT, run_dir, supervisor.start("kamailio-native", argv))
    wait_for(lambda: _ctl_ready(kamailio), 30, "native Kamailio", kamailio.process, kamailio.log)
    return kamailio


def _akira_env(supervisor: Supervisor, run_dir: Path, workers: int, redis_url: str) -> dict:
    return {
        "PATH": CLEAN_PATH,
        "AKIRA_SIP_LISTEN": f"udp:{HOST}:{AKIRA_PORT}",
        "AKIRA_SIP_WORKERS": str(workers),
        "AKIRA_REDIS_URL": redis_url,
        "AKIRA_REDIS_TIMEOUT": "0.2",
        "AKIRA_SNAPSHOT_CHECK_INTERVAL": "1.0",
        "AKIRA_RUN_DIR": str(supervisor.run_dir),
        "AKIRA_KAMAILIO_DIR": str(run_dir),
        "AKIRA_SPOOL_DIR": str(supervisor.run_dir / "spool"),
        "AKIRA_SHM_MB": str(SHM_MB),
        "AKIRA_PKG_MB": str(PKG_MB),
        "AKIRA_NODE": "bench",
        "AKIRA_VENV": str(PROJECT_DIR / ".venv"),
    }


def _akira_argv(env: dict, allocator: str) -> list[str]:
    """scripts/kamailio-run.sh exactly as operators run it, with the allocator under test."""
    env["AKIRA_SHM_ALLOCATOR"] = "default" if allocator == SHIPPED_ALLOCATOR else allocator
    return ["bash", str(KAMAILIO_RUN)]


def start_akira(supervisor: Supervisor, workers: int, redis_url: str, allocator: str) -> Kamailio:
    run_dir = supervisor.run_dir / "kamailio-akira"
    run_dir.mkdir()
    env = _akira_env(supervisor, run_dir, workers, redis_url)
    process = supervisor.start("kamailio-akira", _akira_argv(env, allocator), env=env)
    kamailio = Kamailio("akira", AKIRA_PORT, run_dir, process)

    def loaded() -> bool:
        if not _ctl_ready(kamailio):
            return False
        found = _SNAPSHOT_LOADED.findall(kamailio.log.read_text(errors="replace"))
        kamailio.startup_loads = [float(seconds) for _, seconds in found]
        return len(found) >= workers

    wait_for(loaded, 120, "Akira Kamailio (snapshot load in every worker)", process, kamailio.log)
    return kamailio


def start_vendors(supervisor: Supervisor) -> dict[str, subprocess.Popen]:
    """One SIPp UAS per vendor, each answering every INVITE with 180 and 200."""
    vendors = {}
    for vendor, port in VENDOR_PORTS.items():
        argv = [
            "sipp",
            "-sf",
            str(UAS_SCENARIO),
            "-i",
            HOST,
            "-p",
            str(port),
            *sipp_ports(port),
            "-buff_size",
            SIPP_BUFFER,
            "-nostdin",
        ]
        process = supervisor.start(f"uas-{vendor}", argv)
        log = supervisor.run_dir / f"uas-{vendor}.log"
        wait_for(lambda p=port: udp_port_in_use(p), 10, f"vendor {vendor} UAS", process, log)
        vendors[vendor] = process
    return vendors
