"""CDR events leave a SIP worker as appends to a local journal file, never over the network.

DESIGN §5, decisions/0007. Each worker process appends JSON lines to its own segment,
``{node}-{pid}-{random}-{n}.open`` (the random part keeps names unique across restarts
that reuse a pid: the bus drops a batch resent under the same name); every
``rotate_seconds`` (at its next event) it renames the segment to ``.jsonl`` and starts
another. The node's relay (kemi.relay, a Kamailio timer process) ships
``.jsonl`` segments to the bus in batches and deletes them once the bus has them. A worker
that falls silent leaves an ``.open`` segment behind: the relay takes it over once it is
``STALE_SECONDS`` old, by renaming it under an exclusive lock, and the worker, which checks
under a shared lock that its segment still has its name before each append, starts a new one
— so no append can land in a segment the relay has read. An append is a few system calls on a
local file, no network: it survives a crash of Kamailio or of the relay, and a bus that is
down only makes the journal longer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable

OPEN, READY, TAKEN = ".open", ".jsonl", ".taken"
STALE_SECONDS = 0.5  # an .open segment untouched this long is taken over by the relay


class Journal:
    def __init__(
        self,
        directory: str,
        node: str,
        *,
        rotate_seconds: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self._prefix = f"{node}-{os.getpid()}-{os.urandom(4).hex()}-"
        self._rotate_seconds = rotate_seconds
        self._clock = clock
        self._fd = -1
        self._path = ""
        self._inode = 0
        self._count = 0
        self._rotate_at = 0.0

    def append(self, line: str) -> None:
        data = (line + "\n").encode()
        if self._fd >= 0 and self._clock() >= self._rotate_at:
            self.rotate()
        if self._fd < 0:
            self._open()
        fcntl.flock(self._fd, fcntl.LOCK_SH)
        try:
            if not self._still_ours():  # taken over by the relay: start a new segment
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._open()
                fcntl.flock(self._fd, fcntl.LOCK_SH)
            os.write(self._fd, data)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def rotate(self) -> None:
        """Hand the current segment to the relay (if it has not taken it already)."""
        if self._fd < 0:
            return
        os.close(self._fd)
        self._fd = -1
        with contextlib.suppress(FileNotFoundError):  # taken over by the relay meanwhile
            os.rename(self._path, self._path[: -len(OPEN)] + READY)

    def _still_ours(self) -> bool:
        try:
            return os.stat(self._path).st_ino == self._inode
        except FileNotFoundError:
            return False

    def _open(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        self._count += 1
        self._path = os.path.join(self.directory, f"{self._prefix}{self._count}{OPEN}")
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._inode = os.fstat(self._fd).st_ino
        self._rotate_at = self._clock() + self._rotate_seconds
