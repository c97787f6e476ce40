"""How many test calls a vendor gets: at most N at once and M per minute, cluster-wide (Redis),
whichever orchestrator or audit places them. A test that would exceed either is refused, not
queued: the caller (an operator, or the next audit period) tries again."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from redis import Redis

BUSY = "akira:noc:busy:{terminator_id}"  # test calls in progress
STARTED = "akira:noc:started:{terminator_id}:{minute}"  # test calls started in that minute
SAFETY_SECONDS = 300  # a crashed orchestrator's slots are gone after this at the latest

# busy + 1 unless over max_concurrent; then started + 1 unless over max_per_minute.
_TAKE = """
local busy = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if busy > tonumber(ARGV[1]) then
    redis.call('DECR', KEYS[1])
    return 'concurrency'
end
local started = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 120)
if started > tonumber(ARGV[2]) then
    redis.call('DECR', KEYS[1])
    return 'rate'
end
return ''
"""


class VendorBusy(Exception):
    """The vendor has its test calls' share already."""


@contextlib.contextmanager
def slot(
    redis: Redis, terminator_id: int, max_concurrent: int, max_per_minute: int
) -> Iterator[None]:
    busy = BUSY.format(terminator_id=terminator_id)
    started = STARTED.format(terminator_id=terminator_id, minute=int(time.time() // 60))
    refused = redis.eval(_TAKE, 2, busy, started, max_concurrent, max_per_minute, SAFETY_SECONDS)
    if refused:
        refused = refused.decode() if isinstance(refused, bytes) else refused
        limit = (
            f"{max_concurrent} at once"
            if refused == "concurrency"
            else f"{max_per_minute} a minute"
        )
        raise VendorBusy(f"terminator {terminator_id} has its test calls already ({limit})")
    try:
        yield
    finally:
        redis.decr(busy)
