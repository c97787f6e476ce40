"""A worker's view of its node's snapshot directory (DESIGN §3, decisions/0006).

Workers never ask Redis for routing data: the node's sync process (kemi.snapshot_sync) puts
each version's files in the directory and renames ``current`` when it is live. A worker looks
at ``current`` at most once per ``check_interval`` and switches by mapping the new version's
tariff files — files it already maps (same digest) are reused, so a publish that changed one
deck costs one ``mmap``. The quality table (kemi.quality), installed beside the snapshot, is
mapped the same way when its digest changes. When the directory is empty or a version cannot
be loaded, the worker keeps routing from what it has. The node's vendor health (kemi.health)
is read at the same pace.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

from kemi import contract
from kemi.arrays_file import ArraysError
from kemi.health import read_down
from kemi.quality import QualityError, QualityTable
from kemi.rates import TariffError
from kemi.route_table import RouteTableError
from kemi.snapshot import Snapshot, SnapshotError, decode_manifest
from kemi.snapshot_files import installed_quality, installed_version


class SnapshotStore:
    def __init__(
        self,
        directory: str,
        *,
        check_interval: float = 1.0,
        on_event: Callable[[str], None] = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self._interval = check_interval
        self._on_event = on_event
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._files: dict[str, Any] = {}  # digest -> mapped file of the held version
        self._next_check = 0.0
        self._last_error = ""
        self.down: frozenset[str] = frozenset()  # gateways the node's probes find down
        self.quality: QualityTable | None = None  # vendors' quality by destination, if any

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def current(self) -> Snapshot | None:
        """The snapshot to route this call with; the directory is looked at once per interval
        (jittered, so a node's workers do not switch in lock-step)."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._interval * random.uniform(0.75, 1.25)
            self.refresh()
        return self._snapshot

    def refresh(self) -> None:
        self.down = read_down(self.directory)
        self.refresh_quality()
        try:
            version = installed_version(self.directory)
            if version is None:
                self._report(f"no snapshot installed in {self.directory} yet")
                return
            if self._snapshot is not None and self._snapshot.version == version:
                return
            started = time.perf_counter()
            self._snapshot = self.load(version)
            self._on_event(
                f"akira: snapshot {version} mapped in {time.perf_counter() - started:.4f}s"
            )
            self._last_error = ""
        except (
            OSError,
            ValueError,
            SnapshotError,
            TariffError,
            ArraysError,
            RouteTableError,
        ) as exc:
            held = self._snapshot.version if self._snapshot else None
            self._report(f"snapshot refresh failed, keeping version {held}: {exc!r}")

    def refresh_quality(self) -> None:
        """Map the quality table the node's sync installed, when it changed."""
        digest = installed_quality(self.directory)
        if digest is None or (self.quality is not None and self.quality.digest == digest):
            return
        try:
            self.quality = QualityTable(contract.quality_path(self.directory, digest), digest)
        except (OSError, ValueError, KeyError, ArraysError, QualityError) as exc:
            self._report(f"quality table {digest} not mapped, keeping the one held: {exc!r}")

    def load(self, version: int) -> Snapshot:
        try:
            with open(contract.manifest_path(self.directory, version), encoding="utf-8") as file:
                manifest = json.load(file)
        except FileNotFoundError as exc:
            raise SnapshotError(f"snapshot {version} is not in {self.directory}") from exc
        files: dict[str, Any] = {}

        def open_file(digest: str, kind: type) -> Any:
            mapped = files.get(digest) or self._files.get(digest)
            if mapped is None:
                mapped = kind(contract.file_path(self.directory, digest))
            files[digest] = mapped
            return mapped

        snapshot = decode_manifest(manifest, open_file)
        self._files = files  # files of older versions are unmapped with their last reference
        return snapshot

    def _report(self, message: str) -> None:
        if message != self._last_error:  # once per distinct problem, not per call
            self._last_error = message
            self._on_event(f"akira: {message}")
