"""Where CDR events go: the Redis stream, or a local spool file when Redis does not answer.

A CDR must never be lost because Redis blinked: the event is appended to
``{spool_dir}/cdr-{pid}.jsonl`` instead, and ``akira worker`` moves spooled events into the
stream later (idempotency on (call_id, attempt) makes a replay harmless). The file is opened per
event, so the drainer can rename it away at any time without losing a concurrent append.
After a failure the sink spools without asking Redis for ``retry_after`` seconds, so a dead
Redis costs each SIP worker one timeout per interval, not one per call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from redis import Redis, RedisError

from kemi import contract

SPOOL_GLOB = "cdr-*.jsonl"


class CdrSink:
    def __init__(
        self,
        redis: Redis,
        spool_dir: str,
        on_event: Callable[[str], None] = lambda message: None,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._spool_dir = spool_dir
        self._on_event = on_event
        self._retry_after = retry_after
        self._clock = clock
        self._redis_down_until = 0.0

    def emit(self, event_json: str) -> None:
        if self._clock() < self._redis_down_until:
            self.spool(event_json)
            return
        try:
            self._redis.xadd(contract.CDR_STREAM, {contract.CDR_EVENT_FIELD: event_json})
        except RedisError as exc:
            self._redis_down_until = self._clock() + self._retry_after
            self.spool(event_json)
            self._on_event(f"akira: CDR events spooled locally, Redis failed: {exc!r}")

    def spool(self, event_json: str) -> None:
        os.makedirs(self._spool_dir, exist_ok=True)
        path = os.path.join(self._spool_dir, f"cdr-{os.getpid()}.jsonl")
        with open(path, "a", encoding="utf-8") as spool:
            spool.write(event_json + "\n")
