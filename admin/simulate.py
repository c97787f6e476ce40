"""Route simulation: what the engine decides for a call, explained (DESIGN §2 last paragraph).

Runs the very functions Kamailio runs (kemi.store, kemi.decision) on the published snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from redis import Redis

from kemi.decision import REJECTIONS, decide
from kemi.store import SnapshotStore


def simulate(
    redis: Redis,
    *,
    src_ip: str,
    number: str,
    src_port: int = 5060,
    transport: str = "udp",
    at: datetime | None = None,
    call_id: str = "simulated-call",
) -> dict[str, Any]:
    at = at or datetime.now(UTC)
    store = SnapshotStore(redis)
    store.refresh()
    snapshot = store.snapshot
    if snapshot is None:
        return {
            "routed": False,
            "sip_code": REJECTIONS["no-snapshot"][0],
            "reason": "no-snapshot",
            "snapshot_version": None,
            "at": at.isoformat(),
        }
    decision = decide(
        snapshot,
        ip=src_ip,
        port=src_port,
        transport=transport,
        user=number,
        at=at.timestamp(),
        call_id=call_id,
    )
    return {"snapshot_version": snapshot.version, "at": at.isoformat(), **decision.as_json()}
