"""One NOC test call through SIPp (Debian's ``sip-tester``), as a subprocess, and what it saw.

SIPp runs scenarios/noc-call.xml once and writes every message it sends and receives, with
times, to a trace file (``-trace_msg``); the result is read from that trace, so a rejected
call is a result like an answered one (SIPp's own verdict only says whether its script ran).
"""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

SCENARIO = Path(__file__).parent / "scenarios" / "noc-call.xml"
NOC_CALLER = "999000"  # the calling number of test calls
_BLOCK = re.compile(
    r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n\w+ message (sent|received)[^\n]*\n\n?",
    re.MULTILINE,
)
_STATUS = re.compile(r"^SIP/2\.0 (\d{3})")
_CSEQ = re.compile(r"^CSeq:\s*\d+\s+(\w+)", re.MULTILINE | re.IGNORECASE)
_CALL_ID = re.compile(r"^Call-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SippOutcome:
    """What the trace of one test call shows."""

    sip_code: int | None  # the final reply to the INVITE (None: no final reply came)
    reply_codes: list[int] = field(default_factory=list)  # every reply to it, in order, once
    pdd_ms: int | None = None  # INVITE to the first 180/183, or to the final reply without one
    duration_ms: int | None = None  # answered: 200 to the BYE
    call_id: str = ""


def parse_trace(text: str) -> SippOutcome:
    """The outcome of a SIPp ``-trace_msg`` file of one call."""
    marks = list(_BLOCK.finditer(text))
    invite_at = answered_at = ended_at = ringing_at = final_at = None
    codes: list[int] = []
    final = None
    call_id = ""
    for i, mark in enumerate(marks):
        body = text[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        at = datetime.fromisoformat(mark.group(1)).timestamp()
        first = body.lstrip().split("\n", 1)[0]
        cseq = _CSEQ.search(body)
        method = cseq.group(1).upper() if cseq else ""
        if mark.group(2) == "sent":
            if first.startswith("INVITE ") and invite_at is None:
                invite_at = at
                found = _CALL_ID.search(body)
                call_id = found.group(1) if found else ""
            elif first.startswith("BYE ") and ended_at is None:
                ended_at = at
            continue
        status = _STATUS.match(first)
        if status is None:
            if first.startswith("BYE ") and ended_at is None:  # the far end hung up
                ended_at = at
            continue
        code = int(status.group(1))
        if method != "INVITE":
            continue
        if code not in codes:
            codes.append(code)
        if code in (180, 183) and ringing_at is None:
            ringing_at = at
        if code >= 200 and final is None:
            final, final_at = code, at
            if code < 300:
                answered_at = at

    def ms(start: float | None, end: float | None) -> int | None:
        return None if start is None or end is None else max(0, round((end - start) * 1000))

    return SippOutcome(
        sip_code=final,
        reply_codes=codes,
        pdd_ms=ms(invite_at, ringing_at if ringing_at is not None else final_at),
        duration_ms=ms(answered_at, ended_at),
        call_id=call_id,
    )


def free_udp_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((ip, 0))
        return probe.getsockname()[1]


def command(
    *, proxy: str, sip_ip: str, number: str, terminator_id: int, hold_seconds: int, trace: Path
) -> list[str]:
    return [
        "sipp", "-sf", str(SCENARIO), "-s", number, "-i", sip_ip,
        "-p", str(free_udp_port(sip_ip)), "-m", "1", "-d", str(hold_seconds * 1000),
        "-key", "terminator", str(terminator_id), "-key", "caller", NOC_CALLER,
        "-timeout", f"{hold_seconds + 75}s", "-nostdin", "-trace_msg",
        "-message_file", str(trace), proxy,
    ]  # fmt: skip


def place(
    *, proxy: str, sip_ip: str, number: str, terminator_id: int, hold_seconds: int
) -> tuple[SippOutcome, str]:
    """Run the call; (its outcome, a line on what went wrong when SIPp itself failed)."""
    with tempfile.TemporaryDirectory(prefix="akira-noc-") as directory:
        trace = Path(directory) / "call.msg"
        started = time.monotonic()
        try:
            done = subprocess.run(
                command(
                    proxy=proxy, sip_ip=sip_ip, number=number, terminator_id=terminator_id,
                    hold_seconds=hold_seconds, trace=trace,
                ),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                timeout=hold_seconds + 90, check=False, cwd=directory,
            )  # fmt: skip
            problem = "" if done.returncode == 0 else _last_line(done.stderr)
        except subprocess.TimeoutExpired:
            problem = f"SIPp did not finish in {time.monotonic() - started:.0f} s"
        except FileNotFoundError:
            return SippOutcome(None), "sipp is not installed (Debian package sip-tester)"
        text = trace.read_text(errors="replace") if trace.exists() else ""
    return parse_trace(text), problem


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "SIPp failed"
