"""Vendor health: SIP OPTIONS probes of every gateway, from a node's own timer process.

Each gateway of the installed snapshot gets an OPTIONS every ``interval`` seconds from a UDP
socket of its own (never a SIP worker's). Any reply marks it up; ``misses`` probes in a row
without one (each given ``timeout`` seconds) mark it down, and it is skipped until it answers
again. The result goes to the node's health file (kemi.health), which the workers read, and to
Redis for ``akira simulate`` / ``akira status``.

Why not Kamailio's keepalive module: adding destinations from a timer process deadlocked it
(5.6.3: the process stuck on a futex after its first additions), and we need them dynamic.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kemi.snapshot import Gateway


@dataclass(slots=True)
class GatewayState:
    gateway: Gateway
    next_probe: float = 0.0
    pending: str = ""  # branch of the probe awaiting a reply
    deadline: float = 0.0
    misses: int = 0
    up: bool = True  # until proven otherwise: a new gateway is not skipped before its probe


@dataclass
class Prober:
    source_ip: str
    interval: float = 10.0
    timeout: float = 2.0
    misses: int = 2
    clock: Callable[[], float] = time.monotonic
    states: dict[str, GatewayState] = field(default_factory=dict)
    _socket: socket.socket | None = None

    def track(self, gateways: Iterable[Gateway]) -> None:
        """The gateways to probe: new ones are added, gone ones forgotten."""
        wanted = {g.key: g for g in gateways if g.transport == "udp"}
        for key in self.states.keys() - wanted.keys():
            del self.states[key]
        now = self.clock()
        for key, gateway in wanted.items():
            if key not in self.states:  # spread first probes over the interval
                offset = (hash(key) % 1000) / 1000 * min(self.interval, 1.0)
                self.states[key] = GatewayState(gateway, next_probe=now + offset)

    def tick(self) -> frozenset[str]:
        """Read replies, time out probes, send those due; the gateways now down."""
        sock = self._sock()
        self._read_replies(sock)
        now = self.clock()
        for state in self.states.values():
            if state.pending and now >= state.deadline:
                state.pending = ""
                state.misses += 1
                if state.misses >= self.misses:
                    state.up = False
            if not state.pending and now >= state.next_probe:
                state.pending = "z9hG4bK-akp-" + uuid.uuid4().hex[:16]
                state.deadline = now + self.timeout
                state.next_probe = now + self.interval
                # unreachable: it times out like a silent one
                with contextlib.suppress(OSError):
                    sock.sendto(self._options(state), (state.gateway.host, state.gateway.port))
        return frozenset(key for key, state in self.states.items() if not state.up)

    def _read_replies(self, sock: socket.socket) -> None:
        by_branch = {s.pending: s for s in self.states.values() if s.pending}
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            for line in data.split(b"\r\n"):
                if line.lower().startswith((b"via:", b"v:")) and b"branch=" in line:
                    branch = line.split(b"branch=", 1)[1].split(b";", 1)[0].strip().decode()
                    state = by_branch.get(branch)
                    if state is not None:
                        state.pending, state.misses, state.up = "", 0, True
                    break

    def _sock(self) -> socket.socket:
        if self._socket is None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._socket.bind((self.source_ip, 0))
            self._socket.setblocking(False)
        return self._socket

    def _options(self, state: GatewayState) -> bytes:
        host, port = self._sock().getsockname()
        gateway = state.gateway
        call_id = f"{state.pending[12:]}@{host}"
        return (
            f"OPTIONS sip:{gateway.host}:{gateway.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{port};branch={state.pending};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:probe@{host}>;tag={os.getpid()}\r\n"
            f"To: <sip:{gateway.host}:{gateway.port}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: 1 OPTIONS\r\n"
            f"User-Agent: Akira probe\r\n"
            f"Content-Length: 0\r\n\r\n"
        ).encode()


def probe_source(listen: str) -> str:
    """The address probes leave from: the SIP listen address, or for a wildcard listen the
    one the kernel routes by (a connected UDP socket sends nothing)."""
    address = listen.split(":")[1] if listen.count(":") >= 2 else "0.0.0.0"
    if address not in ("0.0.0.0", "::", ""):
        return address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return probe.getsockname()[0]
