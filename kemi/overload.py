"""Overload shedding: refuse new calls early and cheaply when the node cannot keep up.

A switch offered twice what it can carry must not try to carry it all: every INVITE then
waits longer in the socket queue than the caller's retransmission timer, the retransmissions
double the load and goodput collapses. The earliest honest signal is that queue: the bytes
waiting on the SIP socket, which the kernel shows in /proc/net/udp. A timer process reads it
every few milliseconds and sets a shed fraction in Kamailio's shared memory; each worker then
answers that fraction of new INVITEs with 503 + Retry-After before any decision is made
(kemi.routes), and in-dialog requests — the calls already carried — are never shed.

The controller raises the fraction once the queue has stayed above ``high`` for ``patience``
ticks (a scheduling hiccup on a busy host is not overload), in proportion to how far above,
but only while the queue is still growing: a queue that drains is being worked off, and
raising further then only overshoots (the queue lags the fraction by the backlog's worth of
work). It lowers the fraction while the queue is below ``low``, so the queue hovers between
the two and the node recovers by itself when the offered load falls.
"""

from __future__ import annotations

from dataclasses import dataclass

PERMILLE = 1000


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


class LoadMonitor:
    """Reads the SIP socket's queue and feeds the controller (one instance per node)."""

    def __init__(self, port: int, controller: SheddingController) -> None:
        self.port = port
        self.controller = controller
        self.queued = 0

    def tick(self) -> int:
        queued = 0
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            try:
                with open(table, encoding="ascii") as file:
                    queued += queued_bytes(file.read(), self.port)
            except FileNotFoundError:
                continue
        self.queued = queued
        return self.controller.update(queued)
