"""Overload shedding: refuse new calls early and cheaply when the node cannot keep up.

A switch offered twice what it can carry must not try to carry it all: every INVITE then
waits longer in the socket queue than the caller's retransmission timer, the retransmissions
double the load and goodput collapses. The earliest honest signal is that queue: the bytes
waiting on the SIP socket, the kernel's receive-memory count of the socket itself, read with
one getsockopt(SO_MEMINFO) on the descriptor the timer process inherited from Kamailio (the
figure /proc/net/udp shows as rx_queue; reading that walks the whole UDP table, so it is
only the fallback). A timer process reads it every few milliseconds and sets a shed fraction
in Kamailio's shared memory; each worker then answers that fraction of new INVITEs with 503 +
Retry-After before any decision is made (kemi.routes), and in-dialog requests — the calls
already carried — are never shed.

The controller raises the fraction once the queue has stayed above ``high`` for ``patience``
ticks (a scheduling hiccup on a busy host is not overload), in proportion to how far above,
but only while the queue is still growing: a queue that drains is being worked off, and
raising further then only overshoots (the queue lags the fraction by the backlog's worth of
work). It lowers the fraction while the queue is below ``low``, so the queue hovers between
the two and the node recovers by itself when the offered load falls.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
from dataclasses import dataclass

PERMILLE = 1000
SO_MEMINFO = 55  # Linux >= 4.6: u32[9], SK_MEMINFO_RMEM_ALLOC first
_MEMINFO = struct.Struct("9I")


def listen_port(listen: str) -> int:
    """The port of a Kamailio listen spec like ``udp:127.0.0.1:5060``."""
    return int(listen.rsplit(":", 1)[1])


def queued_bytes(table: str, port: int) -> int:
    """Bytes in the receive queues of the UDP sockets bound to ``port`` (a /proc/net/udp
    or udp6 table)."""
    suffix = f":{port:04X}"
    total = 0
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 4 and fields[1].endswith(suffix):
            total += int(fields[4].split(":")[1], 16)
    return total


@dataclass(slots=True)
class SheddingController:
    high: int  # bytes
    low: int  # bytes
    patience: int = 3  # ticks above ``high`` before shedding starts
    raise_step: int = 30  # permille per tick at ``high``, more the further above
    ease_step: int = 20  # permille per tick below ``low``
    shed: int = 0  # permille of new INVITEs refused
    _above: int = 0
    _previous: int = 0

    def update(self, queued: int) -> int:
        growing, self._previous = queued >= self._previous, queued
        self._above = self._above + 1 if queued > self.high else 0
        if self._above >= self.patience or (self.shed and queued > self.high):
            if growing:
                self.shed = min(PERMILLE, self.shed + self.raise_step * queued // self.high)
        elif queued < self.low:
            self.shed = max(0, self.shed - self.ease_step)
        return self.shed


def inherited_udp_sockets(port: int) -> list[socket.socket]:
    """This process's UDP sockets bound to ``port`` (Kamailio binds them before it forks
    its timer processes), each once, as a duplicate descriptor: closing it leaves Kamailio's."""
    found: dict[int, socket.socket] = {}  # by the socket's inode
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError, ValueError):
            fd = int(name)
            status = os.fstat(fd)
            if not stat.S_ISSOCK(status.st_mode) or status.st_ino in found:
                continue  # (a duplicate made here can take the number of a listed one)
            candidate = socket.socket(fileno=os.dup(fd))  # family and type: the fd's own
            if (
                candidate.family in (socket.AF_INET, socket.AF_INET6)
                and candidate.type == socket.SOCK_DGRAM
                and candidate.getsockname()[1] == port
            ):
                found[status.st_ino] = candidate
            else:
                candidate.close()
    return list(found.values())


def socket_queued(sockets: list[socket.socket]) -> int:
    return sum(
        _MEMINFO.unpack(s.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size))[0]
        for s in sockets
    )


def proc_queued(port: int) -> int:
    queued = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as file:
                queued += queued_bytes(file.read(), port)
        except FileNotFoundError:
            continue
    return queued


class LoadMonitor:
    """Reads the SIP socket's queue and feeds the controller (one instance per node)."""

    def __init__(self, port: int, controller: SheddingController) -> None:
        self.port = port
        self.controller = controller
        self.queued = 0
        self.sockets: list[socket.socket] | None = None  # found at the first tick

    @property
    def source(self) -> str:
        if self.sockets:
            return f"of {len(self.sockets)} inherited socket(s)"
        return "from /proc/net/udp"

    def tick(self) -> int:
        if self.sockets is None:
            self.sockets = inherited_udp_sockets(self.port)
        queued = None
        if self.sockets:
            try:
                queued = socket_queued(self.sockets)
            except OSError:  # a kernel without SO_MEMINFO: /proc from now on
                self.sockets = []
        self.queued = proc_queued(self.port) if queued is None else queued
        return self.controller.update(self.queued)
