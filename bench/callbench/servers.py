"""The long-running processes of one benchmark: five Kamailio instances, their Redis servers
and the vendor UAS.

The native relay (a) and the native class-4 (b) are started directly from bench/native-relay.cfg
and bench/native-class4.cfg; Akira's engine, without limits (c) and with limits (d), runs the
shipped kamailio-cfg/kamailio.cfg and kemi/ through scripts/kamailio-run.sh (so does (e), with
limits and prepaid credit), with
``AKIRA_SHM_ALLOCATOR`` for the allocator under test. Each Akira instance has a redis-server of
its own (no persistence), so the commands and CPU of Redis per call are that instance's alone.
All variants always get the same workers, memory and allocator.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from redis import Redis, RedisError

from callbench.processes import CLEAN_PATH, Supervisor, udp_port_in_use, wait_for
from kemi.snapshot_files import installed_version

BENCH_DIR = Path(__file__).resolve().parent.parent
PROJECT_DIR = BENCH_DIR.parent
SCENARIOS = BENCH_DIR / "scenarios"
UAS_SCENARIO = SCENARIOS / "uas-answer.xml"
UAC_SCENARIO = SCENARIOS / "uac-inf-dialed-rr.xml"
NATIVE_CFG = BENCH_DIR / "native-relay.cfg"
CLASS4_CFG = BENCH_DIR / "native-class4.cfg"
FLOOR_CFG = BENCH_DIR / "kemi-floor.cfg"  # the KEMI floor (f): bench/kemi_floor.py
FLOOR_SCRIPT = BENCH_DIR / "kemi_floor_script.py"
AKIRA_ENTRY = PROJECT_DIR / "kemi" / "boot" / "akira_kemi.py"
KAMAILIO_RUN = PROJECT_DIR / "scripts" / "kamailio-run.sh"

HOST = "127.0.0.1"
NATIVE_PORT = 25060
AKIRA_PORT = 25062
LIMITS_PORT = 25063  # Akira with limits (d)
CLASS4_PORT = 25064
CREDIT_PORT = 25067  # Akira with limits and credit (e); 25065-25066: cdr_sinks.py
FLOOR_PORT = 25068  # the KEMI floor with the dialog module (f)
UAC_PORT = 25070
VENDOR_PORTS = {"A": 25081, "B": 25082, "C": 25083}
REDIS_PORTS = {
    "akira": 25390,
    "limits": 25391,
    "credit": 25392,
}  # TCP: each Akira instance's own redis-server
SIPP_BUFFER = "4194304"
SHM_MB = 4096
PKG_MB = 32
SHIPPED_ALLOCATOR = "shipped"  # no -x: Debian's default shm allocator (q_malloc with debug)
ALLOCATORS = ("tlsf", SHIPPED_ALLOCATOR)

_SNAPSHOT_MAPPED = re.compile(r"akira: snapshot (\d+) mapped in ([0-9.]+)s")


def media_port(sip_port: int) -> int:
    """SIPp binds four media ports from here (audio and video, RTP and RTCP)."""
    return 26000 + 4 * (sip_port - 25000)


def control_port(sip_port: int) -> int:
    return sip_port + 200


def all_ports() -> list[int]:
    """Every UDP port the benchmark binds (SIP, SIPp media and control ports)."""
    sip = [NATIVE_PORT, AKIRA_PORT, LIMITS_PORT, CLASS4_PORT, CREDIT_PORT, FLOOR_PORT, UAC_PORT]
    sip += VENDOR_PORTS.values()
    sipp = [UAC_PORT, *VENDOR_PORTS.values()]
    media = [media_port(port) + offset for port in sipp for offset in range(4)]
    return sip + media + [control_port(port) for port in sipp]


def sipp_ports(sip_port: int) -> list[str]:
    """Own media and control ports, so SIPp never takes the defaults other SIPp runs use."""
    return ["-mp", str(media_port(sip_port)), "-cp", str(control_port(sip_port))]


@dataclass
class Kamailio:
    name: str  # "native" | "class4" | "akira" | "limits" | "credit"
    port: int
    run_dir: Path
    process: subprocess.Popen
    log_offset: int = 0
    startup_seconds: float = 0.0  # from the start command until it is ready to route
    redis: Redis | None = None  # Akira: its own Redis (snapshots, limits, credit, CDR stream)
    redis_pid: int | None = None

    @property
    def snapshot_dir(self) -> Path:
        """Akira: the node's snapshot files (AKIRA_SNAPSHOT_DIR), written by its sync timer."""
        return self.run_dir / "snapshot"

    @property
    def journal_dir(self) -> Path:
        """Akira: the CDR journal the SIP workers append to and the relay timer ships."""
        return self.run_dir / "spool" / "journal"

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

    def shm_used(self) -> int:
        """Shared memory in use, allocator overhead included (core.shmmem real_used)."""
        found = re.search(r"real_used:\s*(\d+)", self.rpc("core.shmmem"))
        return int(found.group(1)) if found else 0

    def module_shm(self, module: str) -> int:
        """Shared memory one module holds (mod.mem_stats; Kamailio's memory debugging)."""
        found = re.search(r"Total:\s*(\d+)", self.rpc("mod.mem_stats", module, "shm"))
        return int(found.group(1)) if found else 0

    def sip_workers(self) -> list[int]:
        return [pid for pid, description in self.processes() if "receiver" in description]

    def rpc(self, *command: str, timeout: float = 30) -> str:
        """One kamcmd command on this instance's ctl socket; its output."""
        result = subprocess.run(
            ["kamcmd", "-s", f"unix:{self.ctl}", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout

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


def start_native_cfg(
    supervisor: Supervisor,
    name: str,
    cfg: Path,
    port: int,
    workers: int,
    allocator: str,
    defines: list[str],
    *,
    wrapper: list[str] | None = None,
    log_to_stderr: bool = True,
) -> Kamailio:
    """A native cfg (no Python) in a clean environment, as the notes recommend.

    ``wrapper`` is put before the command (bench/cdr_sinks.py runs one instance in its own
    mount namespace); without ``log_to_stderr`` Kamailio logs to syslog.
    """
    run_dir = supervisor.run_dir / f"kamailio-{name}"
    run_dir.mkdir()
    argv = [
        *(wrapper or []),
        "env",
        "-i",
        f"PATH={CLEAN_PATH}",
        "kamailio",
        "-f",
        str(cfg),
        "-l",
        f"udp:{HOST}:{port}",
        "-Y",
        str(run_dir),
        "-P",
        str(run_dir / "kamailio.pid"),
        "-w",
        str(run_dir),
        "-A",
        f'CTL_SOCKET="unix:{run_dir / "ctl"}"',
        "-A",
        f"WORKERS={workers}",
        *(arg for define in defines for arg in ("-A", define)),
        "-m",
        str(SHM_MB),
        "-M",
        str(PKG_MB),
        *_allocator_args(allocator),
        "-DD",
        *(["-E"] if log_to_stderr else []),
    ]
    started = time.monotonic()
    kamailio = Kamailio(name, port, run_dir, supervisor.start(f"kamailio-{name}", argv))
    wait_for(lambda: _ctl_ready(kamailio), 60, f"{name} Kamailio", kamailio.process, kamailio.log)
    kamailio.startup_seconds = time.monotonic() - started
    return kamailio


def start_native(supervisor: Supervisor, workers: int, allocator: str) -> Kamailio:
    """Baseline (a): the plain relay to vendor A."""
    defines = [f'VENDOR_URI="sip:{HOST}:{VENDOR_PORTS["A"]}"']
    return start_native_cfg(
        supervisor, "native", NATIVE_CFG, NATIVE_PORT, workers, allocator, defines
    )


def start_floor(
    supervisor: Supervisor,
    workers: int,
    allocator: str,
    *,
    name: str = "floor",
    port: int = FLOOR_PORT,
    dialog: bool = True,
) -> Kamailio:
    """The KEMI floor (f): the plain relay's route in Python (bench/kemi_floor_script.py),
    with the dialog module as Akira uses it unless ``dialog`` is False; to vendor A."""
    defines = [
        f'VENDOR_URI="sip:{HOST}:{VENDOR_PORTS["A"]}"',
        f'KEMI_SCRIPT="{FLOOR_SCRIPT}"',
        *(["WITH_DIALOG"] if dialog else []),
    ]
    return start_native_cfg(supervisor, name, FLOOR_CFG, port, workers, allocator, defines)


def start_class4(
    supervisor: Supervisor,
    workers: int,
    allocator: str,
    *,
    db_dir: Path,
    cdr_dir: Path,
    dialog_timeout: int,
    name: str = "class4",
    lcr_timing: bool = False,
) -> Kamailio:
    """Baseline (b): lcr over the db_text tables in ``db_dir``, CDRs into ``cdr_dir``.

    ``lcr_timing`` starts the probe variant that logs each load_gws() duration (never measured
    for CPU per call).
    """
    cdr_dir.mkdir(parents=True, exist_ok=True)
    defines = [
        f'DB_URL="text://{db_dir}"',
        f'CDR_URL="flatstore:{cdr_dir}"',
        f"DIALOG_TIMEOUT={dialog_timeout}",
        *(["LCR_TIMING"] if lcr_timing else []),
    ]
    return start_native_cfg(supervisor, name, CLASS4_CFG, CLASS4_PORT, workers, allocator, defines)


def start_redis(supervisor: Supervisor, name: str) -> tuple[Redis, int]:
    """A private redis-server on 127.0.0.1:REDIS_PORTS[name], no persistence: a client, its pid."""
    port = REDIS_PORTS[name]
    argv = ["redis-server", "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", "no"]
    process = supervisor.start(f"redis-{name}", argv)
    client = Redis(host=HOST, port=port, socket_timeout=30)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except RedisError:
            return False

    wait_for(answers, 10, f"redis-server {name}", process, supervisor.run_dir / f"redis-{name}.log")
    return client, process.pid


def _akira_env(run_dir: Path, name: str, port: int, workers: int, redis_port: int) -> dict:
    """What scripts/kamailio-run.sh and kemi/settings.py read; the rest are their defaults."""
    return {
        "PATH": CLEAN_PATH,
        "AKIRA_SIP_LISTEN": f"udp:{HOST}:{port}",
        "AKIRA_SIP_WORKERS": str(workers),
        "AKIRA_REDIS_URL": f"redis://{HOST}:{redis_port}/0",
        "AKIRA_RUN_DIR": str(run_dir),
        "AKIRA_KAMAILIO_DIR": str(run_dir),
        "AKIRA_SNAPSHOT_DIR": str(run_dir / "snapshot"),
        "AKIRA_SPOOL_DIR": str(run_dir / "spool"),
        "AKIRA_SHM_MB": str(SHM_MB),
        "AKIRA_PKG_MB": str(PKG_MB),
        "AKIRA_NODE": f"bench-{name}",
        # The vendor stand-ins are SIPp UAS that would count each OPTIONS probe as a call
        # (and not answer it, so every gateway would be marked down): no probes (0: off).
        "AKIRA_PROBE_SECONDS": "0",
        "AKIRA_VENV": str(PROJECT_DIR / ".venv"),
    }


def _akira_argv(env: dict, allocator: str) -> list[str]:
    """scripts/kamailio-run.sh exactly as operators run it, with the allocator under test."""
    env["AKIRA_SHM_ALLOCATOR"] = "default" if allocator == SHIPPED_ALLOCATOR else allocator
    return ["bash", str(KAMAILIO_RUN)]


def start_akira(
    supervisor: Supervisor,
    name: str,
    port: int,
    workers: int,
    allocator: str,
    redis: tuple[Redis, int],
    version: int,
) -> Kamailio:
    """Akira on ``port`` with its own Redis (``start_redis(supervisor, name)``); ready once
    its sync timer has fetched and installed snapshot ``version`` (its workers map it at their
    next call)."""
    run_dir = supervisor.run_dir / f"kamailio-{name}"
    run_dir.mkdir()
    client, redis_pid = redis
    env = _akira_env(run_dir, name, port, workers, REDIS_PORTS[name])
    started = time.monotonic()
    process = supervisor.start(f"kamailio-{name}", _akira_argv(env, allocator), env=env)
    kamailio = Kamailio(name, port, run_dir, process, redis=client, redis_pid=redis_pid)

    def ready() -> bool:
        return _ctl_ready(kamailio) and installed_version(str(kamailio.snapshot_dir)) == version

    wait_for(
        ready, 120, f"Akira Kamailio {name} (snapshot {version} installed)", process, kamailio.log
    )
    kamailio.startup_seconds = time.monotonic() - started
    check_akira_code(kamailio)
    return kamailio


def snapshot_maps(kamailio: Kamailio) -> list[float]:
    """Seconds each Akira process took to map the snapshot, from its log (one line each)."""
    found = _SNAPSHOT_MAPPED.findall(kamailio.log.read_text(errors="replace"))
    return [float(seconds) for _, seconds in found]


def check_akira_code(kamailio: Kamailio) -> str:
    """Fail unless the running Akira loads this checkout's kemi/ and virtualenv.

    The bench may run from a git worktree while another checkout has other engine changes:
    Kamailio's command line names the KEMI entry script, its environment the virtualenv.
    """
    proc = Path(f"/proc/{kamailio.pid}")
    argv = proc.joinpath("cmdline").read_bytes().split(b"\0")
    environ = dict(
        entry.split(b"=", 1)
        for entry in proc.joinpath("environ").read_bytes().split(b"\0")
        if entry
    )
    entry = f'KEMI_SCRIPT="{AKIRA_ENTRY}"'.encode()
    venv = environ.get(b"AKIRA_VENV", b"").decode()
    if entry not in argv or Path(venv) != PROJECT_DIR / ".venv":
        raise RuntimeError(
            f"Akira Kamailio does not run this checkout ({PROJECT_DIR}): "
            f"argv {argv!r}, AKIRA_VENV {venv!r}"
        )
    return f"{AKIRA_ENTRY} with {venv}"


def vendor_stats(supervisor: Supervisor, vendor: str) -> Path:
    """The UAS's -trace_stat file: cumulative counts, rewritten every second (-fd 1)."""
    return supervisor.run_dir / f"uas-{vendor}.csv"


def start_vendors(supervisor: Supervisor) -> dict[str, subprocess.Popen]:
    """One SIPp UAS per vendor, each answering every INVITE with 180 and 200.

    Each writes its call counts every second, so every run can check which vendor got how many
    calls (callbench.routing_check).
    """
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
            "-trace_stat",
            "-stf",
            str(vendor_stats(supervisor, vendor)),
            "-fd",
            "1",
            "-nostdin",
        ]
        process = supervisor.start(f"uas-{vendor}", argv)
        log = supervisor.run_dir / f"uas-{vendor}.log"
        wait_for(lambda p=port: udp_port_in_use(p), 10, f"vendor {vendor} UAS", process, log)
        vendors[vendor] = process
    return vendors
