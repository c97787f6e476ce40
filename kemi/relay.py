"""The node's CDR relay: journal segments (kemi.journal) -> the bus (kemi.bus), in batches.

Runs in a Kamailio timer process (``Router.ksr_timer_relay``), or as ``akira cdr-relay`` for a
node whose Kamailio is gone. A segment is deleted only after the bus has taken all of its
events; if the bus fails halfway, the whole segment is sent again later, which the rater's
merge makes harmless (idempotent on Call-ID and attempt). So a CDR is lost only with the disk.
Spool files of the engine before the journal (``cdr-*.jsonl``) are shipped the same way.

The journal also carries limit releases (``R ...`` lines, kemi.limits): the relay runs them in
one ``akira_release`` call per segment, and keeps this node's incarnation alive, so the slots
of a node that dies expire with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import time
from collections.abc import Callable

from redis import Redis, RedisError

from kemi import limits
from kemi.bus import BusError, CdrBus
from kemi.contract import RELAY_BATCH
from kemi.journal import OPEN, READY, STALE_SECONDS, TAKEN


class RedisLimits:
    """Where limit releases go, and this node's liveness for its slots (kemi.limits)."""

    def __init__(self, redis: Redis, incarnation: str, alive_ms: int = limits.ALIVE_MS) -> None:
        self.redis = redis
        self.incarnation = incarnation
        self.alive_ms = alive_ms
        self._renew_at = 0.0

    def release(self, records: list[bytes]) -> None:
        self.redis.fcall("akira_release", 0, *records)

    def keep_alive(self) -> None:
        """Renewed several times per life of the key (``alive_ms``)."""
        now = time.monotonic()
        if now >= self._renew_at:
            self.redis.set(f"akira:alive:{self.incarnation}", 1, px=self.alive_ms)
            self._renew_at = now + min(1.0, self.alive_ms / 4000)


class Relay:
    def __init__(
        self,
        journal_dir: str,
        bus: CdrBus,
        *,
        node_limits: RedisLimits | None = None,
        legacy_spool_dir: str | None = None,
        on_event: Callable[[str], None] = lambda message: None,
        clock: Callable[[], float] = time.time,
        retry_after: float = 1.0,
    ) -> None:
        self.journal_dir = journal_dir
        self.bus = bus
        self.limits = node_limits
        self.legacy_spool_dir = legacy_spool_dir
        self._on_event = on_event
        self._clock = clock
        self._retry_after = retry_after
        self._bus_down_until = 0.0

    def run_once(self) -> int:
        """Ship what is ready; the number of events the bus took."""
        if self._clock() < self._bus_down_until:
            return 0
        self._take_over_stale()
        shipped = 0
        try:
            if self.limits is not None:
                self.limits.keep_alive()
            for path in self._ready():
                shipped += self._ship(path)
        except (BusError, RedisError, OSError) as exc:
            self._bus_down_until = self._clock() + self._retry_after
            self._on_event(f"akira: CDR relay waits, the bus failed: {exc!r}")
        return shipped

    def backlog(self) -> tuple[int, float | None]:
        return journal_backlog(self.journal_dir, self._clock())

    def _take_over_stale(self) -> None:
        now = self._clock()
        stale = glob.glob(os.path.join(self.journal_dir, f"*{OPEN}"))
        if self.legacy_spool_dir:
            stale += glob.glob(os.path.join(self.legacy_spool_dir, "cdr-*.jsonl"))
        for path in stale:
            try:
                if now - os.path.getmtime(path) >= STALE_SECONDS:
                    self._take_over(path)
            except FileNotFoundError:
                pass  # rotated by its writer meanwhile

    def _take_over(self, path: str) -> None:
        """Rename a segment while no append is in flight (its writer appends under a shared
        lock and checks the name first)."""
        name = os.path.basename(path).rsplit(".", 1)[0]
        descriptor = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.rename(path, os.path.join(self.journal_dir, f"{name}{TAKEN}"))
        finally:
            os.close(descriptor)

    def _ready(self) -> list[str]:
        ready = glob.glob(os.path.join(self.journal_dir, f"*{READY}"))
        ready += glob.glob(os.path.join(self.journal_dir, f"*{TAKEN}"))
        return sorted(ready, key=os.path.getmtime)

    def _ship(self, path: str) -> int:
        with open(path, "rb") as segment:
            lines = [line.rstrip(b"\n") for line in segment if line.strip()]
        releases = [line[2:] for line in lines if line.startswith(b"R ")]
        if releases and self.limits is not None:
            self.limits.release(releases)
        lines = [line for line in lines if not line.startswith(b"R ")]
        name = os.path.basename(path).rsplit(".", 1)[0]  # the same across renames
        for start in range(0, len(lines), RELAY_BATCH):  # one round trip each
            self.bus.publish(lines[start : start + RELAY_BATCH], f"{name}:{start}")
        os.unlink(path)  # a crash before this sends the segment again; the rater dedups
        return len(lines)


def journal_backlog(directory: str, now: float) -> tuple[int, float | None]:
    """(segments not shipped yet, age in seconds of the oldest) — for status and health."""
    ages = []
    for path in glob.glob(os.path.join(directory, "*")):
        if not _temporary(path):
            with contextlib.suppress(FileNotFoundError):  # shipped meanwhile
                ages.append(now - os.path.getmtime(path))
    return len(ages), max(ages, default=None)


def _temporary(path: str) -> bool:
    return os.path.basename(path).startswith(".")
