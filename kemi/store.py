"""The engine's local copy of the published snapshot (DESIGN §3).

Each SIP worker holds the current snapshot in process memory and looks at the Redis pointer at
most about once per ``check_interval`` (jittered, so workers do not reload in lock-step). A
publish is picked up without restart; a call never sees half of one, because a version is
swapped in only once fully loaded. When Redis is down or the new version is broken, the worker
keeps routing from the copy it has. Tariff indexes are shared across versions by content digest,
so publishing one changed tariff re-parses only that tariff.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from redis import Redis, RedisError

from kemi import contract
from kemi.rates import RateIndex
from kemi.snapshot import Snapshot, SnapshotError, decode_snapshot, decode_tariff, unpack


class SnapshotStore:
    def __init__(
        self,
        redis: Redis,
        *,
        check_interval: float = 1.0,
        on_event: Callable[[str], None] = lambda message: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._interval = check_interval
        self._on_event = on_event
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._indexes: dict[str, RateIndex] = {}  # tariff digest -> parsed index
        self._next_check = 0.0
        self._last_error = ""

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    def current(self) -> Snapshot | None:
        """The snapshot to route this call with; refreshed at most once per interval."""
        now = self._clock()
        if now >= self._next_check:
            self._next_check = now + self._interval * random.uniform(0.75, 1.25)
            self.refresh()
        return self._snapshot

    def refresh(self) -> None:
        try:
            pointer = self._redis.get(contract.SNAPSHOT_POINTER)
            if pointer is None:
                self._report("no snapshot published yet")
                return
            version = int(pointer)
            if self._snapshot is not None and self._snapshot.version == version:
                return
            started = time.perf_counter()
            self._snapshot = self.load(version)
            self._on_event(
                f"akira: snapshot {version} loaded in {time.perf_counter() - started:.3f}s"
            )
            self._last_error = ""
        except (RedisError, SnapshotError, ValueError, KeyError, TypeError) as exc:
            self._report(
                f"snapshot refresh failed, keeping version "
                f"{self._snapshot.version if self._snapshot else None}: {exc!r}"
            )

    def load(self, version: int) -> Snapshot:
        meta_raw, routing_raw = self._redis.hmget(contract.snapshot_key(version), "meta", "routing")
        if meta_raw is None or routing_raw is None:
            raise SnapshotError(f"snapshot {version} is not in Redis")
        meta = json.loads(meta_raw)
        indexes: dict[str, RateIndex] = {}
        tariffs: dict[int, RateIndex] = {}
        for tariff_id, digest in meta["tariffs"].items():
            # "is None", not "or": an empty tariff is falsy and must not be re-parsed each time
            index = self._indexes.get(digest)
            if index is None:
                index = indexes.get(digest)
            if index is None:
                blob = self._redis.get(contract.tariff_key(digest))
                if blob is None:
                    raise SnapshotError(f"snapshot {version}: tariff blob {digest} is missing")
                index = decode_tariff(unpack(blob))
            indexes[digest] = index
            tariffs[int(tariff_id)] = index
        snapshot = decode_snapshot(meta, unpack(routing_raw), tariffs)
        self._indexes = indexes  # forget tariffs no longer published
        return snapshot

    def _report(self, message: str) -> None:
        if message != self._last_error:  # once per distinct problem, not per call
            self._last_error = message
            self._on_event(f"akira: {message}")
