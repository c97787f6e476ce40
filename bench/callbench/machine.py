"""What the numbers were measured on: hardware, kernel and the versions of every moving part."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import psycopg
from redis import Redis


def _first_line(argv: list[str], containing: str = "") -> str:
    try:
        output = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    for line in output.splitlines():
        if containing in line and line.strip():
            return line.strip()
    return "?"


def _meminfo_gib() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def _package(name: str) -> str:
    return _first_line(["dpkg-query", "-W", "-f", "${Version}\n", name])


def machine_info(redis: Redis, database_url: str) -> dict[str, str]:
    with psycopg.connect(database_url) as conn:
        postgres = str(conn.execute("SHOW server_version").fetchone()[0])
    return {
        "CPU": _cpu_model(),
        "cores": str(os.cpu_count()),
        "RAM": _meminfo_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "Kamailio": f"{_first_line(['kamailio', '-v'], 'version')} "
        f"(package {_package('kamailio')})",
        "SIPp": f"{_first_line(['sipp', '-v'], 'SIPp')} (package {_package('sip-tester')})",
        "Python (bench, decision timing)": platform.python_version(),
        "Python (embedded by app_python3)": _first_line(["/usr/bin/python3", "-V"]),
        "Redis": str(redis.info("server").get("redis_version", "?")),
        "PostgreSQL": postgres,
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
