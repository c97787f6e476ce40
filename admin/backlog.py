"""What waits for the rater: the CDR bus's backlog and this host's node journal.

One function for ``akira status`` and ``/healthz``; the bus is opened from the settings
(AKIRA_BUS, AKIRA_REDIS_URL, AKIRA_NATS_URL) exactly as the worker opens it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from redis import Redis

from admin.settings import Settings
from kemi.bus import BusError, CdrBus, open_bus
from kemi.relay import journal_backlog

BUS_TIMEOUT = 2.0  # seconds a status or health check waits on the bus


def open_cdr_bus(settings: Settings, consumer: str) -> CdrBus:
    redis = None
    if settings.bus == "redis":
        redis = Redis.from_url(
            settings.redis_url, socket_timeout=10, socket_connect_timeout=BUS_TIMEOUT
        )
    return open_bus(settings.bus, redis=redis, nats_url=settings.nats_url, consumer=consumer)


def cdr_backlog(settings: Settings) -> dict[str, Any]:
    """{"bus": kind, "status": "ok"|"error", backlog fields or "error": why, "journal": ...}."""
    report: dict[str, Any] = {"bus": settings.bus}
    try:
        bus = open_cdr_bus(settings, consumer="status")
    except ValueError as exc:  # AKIRA_BUS names no bus
        return report | {"status": "error", "error": str(exc)}
    try:
        report |= {"status": "ok"} | bus.backlog().as_dict()
    except BusError as exc:
        report |= {"status": "error", "error": str(exc)}
    finally:
        bus.close()
    segments, oldest = journal_backlog(os.path.join(settings.spool_dir, "journal"), time.time())
    report["journal"] = {
        "segments": segments,
        "oldest_age_seconds": None if oldest is None else round(oldest, 3),
    }
    return report
