"""Vendor health on a node: which gateways its SIP OPTIONS probes find down.

The probe timer (kemi.prober) writes the gateways found down to ``{snapshot dir}/health.json``
(renamed into place) for the node's workers, which skip them, and to Redis (``akira:health``)
for ``akira simulate`` and ``akira status``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

from redis import Redis, RedisError

from kemi.snapshot_files import write_atomic

HEALTH_FILE = "health.json"
HEALTH_KEY = "akira:health"  # hash: node -> JSON {"down": [...], "at": epoch seconds}


def health_path(directory: str) -> str:
    return os.path.join(directory, HEALTH_FILE)


def write_down(directory: str, down: frozenset[str]) -> None:
    write_atomic(health_path(directory), [json.dumps(sorted(down)).encode()])


def read_down(directory: str) -> frozenset[str]:
    try:
        with open(health_path(directory), encoding="utf-8") as file:
            return frozenset(json.load(file))
    except (FileNotFoundError, ValueError):
        return frozenset()


def report_health(redis: Redis, node: str, down: frozenset[str]) -> None:
    """Best effort: the node's own file is what it routes by."""
    with contextlib.suppress(RedisError):
        redis.hset(HEALTH_KEY, node, json.dumps({"down": sorted(down), "at": time.time()}))


def cluster_down(redis: Redis) -> dict[str, list[str]]:
    """node -> gateways it finds down, as the nodes last reported."""
    return {
        (name.decode() if isinstance(name, bytes) else name): json.loads(raw)["down"]
        for name, raw in redis.hgetall(HEALTH_KEY).items()
    }
