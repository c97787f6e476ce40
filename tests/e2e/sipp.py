"""SIPp processes for end-to-end tests: one UAS per vendor, a UAC per customer call."""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

SCENARIOS = Path(__file__).parent / "scenarios"
PHRASES = {
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    500: "Server Internal Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    603: "Decline",
}


def free_udp_port(ip: str) -> int:
    """A port nobody uses on ``ip`` now. SIPp's default (5060, shared with SO_REUSEADDR) would
    let a concurrent SIPp on the same address receive our replies."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((ip, 0))
        return probe.getsockname()[1]


def render(template: str, workdir: Path, name: str, **values: object) -> Path:
    path = workdir / name
    path.write_text(Template((SCENARIOS / template).read_text()).substitute(values))
    return path


class Vendor:
    """A SIPp UAS standing in for one vendor gateway; answers, or rejects with a code."""

    def __init__(
        self,
        name: str,
        port: int,
        workdir: Path,
        reject: int | None = None,
        hangup: bool = False,
        ring_ms: int = 0,
    ) -> None:
        self.name, self.port, self.reject = name, port, reject
        self.messages = workdir / f"vendor-{name}-{port}.msg"
        if hangup:
            scenario = SCENARIOS / "uas-answer-then-bye.xml"
        elif ring_ms:  # 180, then ring_ms of ringing before the 200
            scenario = render(
                "uas-ring-answer.xml.tmpl", workdir, f"uas-ring-{ring_ms}.xml", ring_ms=ring_ms
            )
        elif reject is None:
            scenario = SCENARIOS / "uas-answer.xml"
        else:
            scenario = render(
                "uas-reject.xml.tmpl",
                workdir,
                f"uas-{reject}.xml",
                code=reject,
                phrase=PHRASES[reject],
            )
        command = ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port), "-nostdin"]
        command += ["-trace_msg", "-message_file", str(self.messages)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def invites(self) -> int:
        """INVITEs this vendor received (a retransmission would count: there should be none)."""
        if not self.messages.exists():
            return 0
        return sum(
            1 for line in self.messages.read_text().splitlines() if line.startswith("INVITE sip:")
        )

    def invited(self) -> list[str]:
        """The Request-URI users (called numbers) of the INVITEs received, in arrival order."""
        if not self.messages.exists():
            return []
        return [
            line.split()[1].removeprefix("sip:").partition("@")[0]
            for line in self.messages.read_text().splitlines()
            if line.startswith("INVITE sip:")
        ]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)  # SIPp's clean quit
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class CallResult:
    returncode: int
    messages: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def explain(self) -> str:
        return f"SIPp exit code {self.returncode}; messages:\n{self.messages[-4000:]}"


def call(
    number: str,
    *,
    src_ip: str,
    proxy: str,
    workdir: Path,
    expect: int = 200,
    reason: str | None = None,
    hold_ms: int = 1000,
    remote_hangup: bool = False,
    scenario_file: Path | None = None,
    sipp_args: Sequence[str] = (),
) -> CallResult:
    """One customer call from ``src_ip``; succeeds when the final reply is ``expect``
    (and carries ``X-Akira-Reason: reason`` when given). With ``remote_hangup`` the customer
    waits for the other side's BYE instead of hanging up after ``hold_ms``."""
    if scenario_file is not None:
        scenario = scenario_file
    elif remote_hangup:
        scenario = SCENARIOS / "uac-answered-remote-bye.xml"
    elif expect == 200:
        scenario = SCENARIOS / "uac-answered.xml"
    else:
        check = reference = ""
        if reason:
            reference = '<Reference variables="found"/>'
            check = (
                f'<action><ereg regexp="X-Akira-Reason: *{reason}" search_in="msg" '
                f'check_it="true" assign_to="found"/></action>'
            )
        scenario = render(
            "uac-rejected.xml.tmpl",
            workdir,
            f"uac-{expect}-{reason}.xml",
            code=expect,
            reason_check=check,
            reference=reference,
        )
    messages = workdir / f"uac-{number}-{src_ip}.msg"
    messages.unlink(missing_ok=True)
    port = str(free_udp_port(src_ip))
    command = ["sipp", "-sf", str(scenario), "-s", number, "-i", src_ip, "-p", port, "-m", "1"]
    command += ["-d", str(hold_ms), "-timeout", "30s", "-timeout_error", "-nostdin"]
    command += ["-trace_msg", "-message_file", str(messages), *sipp_args, proxy]
    completed = subprocess.run(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=60, check=False,
    )  # fmt: skip
    text = messages.read_text() if messages.exists() else completed.stderr.decode()
    return CallResult(completed.returncode, text)


class Load:
    """``calls`` customer calls at ``rate`` per second from one SIPp, in the background, so a
    test can break things while they run; ``wait`` gives SIPp's own counts."""

    def __init__(
        self, number: str, *, calls: int, rate: int, src_ip: str, proxy: str, workdir: Path
    ) -> None:
        self.stats = workdir / f"load-{number}-{src_ip}.csv"
        self.stats.unlink(missing_ok=True)
        command = ["sipp", "-sf", str(SCENARIOS / "uac-answered.xml"), "-s", number]
        command += ["-i", src_ip, "-p", str(free_udp_port(src_ip)), "-m", str(calls)]
        command += ["-r", str(rate), "-d", "0", "-timeout", "180s", "-nostdin"]
        command += ["-trace_stat", "-stf", str(self.stats), "-fd", "1", proxy]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def wait(self, timeout: float = 200) -> dict[str, int]:
        """{"created", "successful", "failed"}: SIPp's cumulative counters at its end."""
        self.process.wait(timeout=timeout)
        header, *rows = [line.split(";") for line in self.stats.read_text().splitlines()]
        last = dict(zip(header, rows[-1], strict=False))
        return {
            "created": int(last["TotalCallCreated"]),
            "successful": int(last["SuccessfulCall(C)"]),
            "failed": int(last["FailedCall(C)"]),
        }
