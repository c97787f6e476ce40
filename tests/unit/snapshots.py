"""Build in-memory snapshots for table tests, through the engine's own decoder."""

from __future__ import annotations

from typing import Any

from kemi.contract import SNAPSHOT_FORMAT
from kemi.snapshot import Snapshot, decode_snapshot, decode_tariff


def tariff(tariff_id: int, rates: dict[str, str], currency: str = "USD") -> dict[str, Any]:
    return {
        "id": tariff_id,
        "currency": currency,
        "rates": [[prefix, rate, 1, 1, "0", 0.0, None] for prefix, rate in rates.items()],
    }


def originator(oid: int, tariff_id: int, plan_id: int | None = 1, **extra) -> dict[str, Any]:
    return {
        "id": oid,
        "name": f"orig{oid}",
        "company_id": 100 + oid,
        "enabled": True,
        "tariff_id": tariff_id,
        "routing_plan_id": plan_id,
        "tech_prefix": "",
        "max_call_duration": 3600,
        **extra,
    }


def terminator(tid: int, tariff_id: int, port: int | None = None, **extra) -> dict[str, Any]:
    return {
        "id": tid,
        "name": f"term{tid}",
        "company_id": 200 + tid,
        "enabled": True,
        "tariff_id": tariff_id,
        "tech_prefix": "",
        "gateways": [{"host": "192.0.2.1", "port": port or 5060 + tid, "transport": "udp"}],
        **extra,
    }


def plan(
    pid: int, terminator_ids: list[int], strategy: str = "least_cost", **extra
) -> dict[str, Any]:
    return {
        "id": pid,
        "name": f"plan{pid}",
        "strategy": strategy,
        "hunt_stop_codes": [404, 486, 487],
        "allow_loss": False,
        "entries": [{"terminator_id": t, "priority": 100, "weight": 100} for t in terminator_ids],
        **extra,
    }


def build(*, originators, terminators, plans, tariffs, devices, version: int = 1) -> Snapshot:
    meta = {"format": SNAPSHOT_FORMAT, "version": version, "published_at": 0.0}
    routing = {
        "originators": originators,
        "terminators": terminators,
        "routing_plans": plans,
        "devices": [
            {"network": network, "port": port, "transport": transport, "originator_id": oid}
            for network, port, transport, oid in devices
        ],
    }
    return decode_snapshot(meta, routing, {t["id"]: decode_tariff(t) for t in tariffs})
