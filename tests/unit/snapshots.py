"""Build snapshots for table tests through the real path: compiled tariff files on disk, a
manifest from the publisher's encoder, mapped by the engine's store."""

from __future__ import annotations

import atexit
import ipaddress
import json
import shutil
import tempfile
from decimal import Decimal
from typing import Any

from admin.route_table import compile_route_table, valid_from
from admin.tariff_compiler import compile_tariff, digest, rows_from_rates
from kemi import contract
from kemi.snapshot import (
    Device,
    Gateway,
    Originator,
    PlanEntry,
    RoutingPlan,
    Snapshot,
    Terminator,
    encode_manifest,
)
from kemi.snapshot_files import write_atomic
from kemi.store import SnapshotStore

_DIRECTORIES: list[str] = []
atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _DIRECTORIES])


def tariff(
    tariff_id: int, rates: dict[str, str], currency: str = "USD", **terms: Any
) -> dict[str, Any]:
    """``rates``: prefix -> rate per minute; ``terms``: initial, next, fee, start, end."""
    rows = [
        (
            prefix,
            Decimal(rate),
            terms.get("initial", 1),
            terms.get("next", 1),
            Decimal(terms.get("fee", "0")),
            terms.get("start", 0),
            terms.get("end"),
        )
        for prefix, rate in rates.items()
    ]
    return {"id": tariff_id, "currency": currency, "rows": rows}


def originator(oid: int, tariff_id: int, plan_id: int | None = 1, **extra) -> Originator:
    fields = {
        "id": oid,
        "name": f"orig{oid}",
        "company_id": 100 + oid,
        "enabled": True,
        "tariff_id": tariff_id,
        "routing_plan_id": plan_id,
        "tech_prefix": "",
        "max_call_duration": 3600,
        "match_header": None,
        "match_value": None,
        "number_rules": (),
        "min_digits": 3,
        "max_digits": 32,
        "cli_rules": (),
        "cli_policy": "pass",
        "cli_replacement": None,
        "cps_limit": None,
        "concurrent_limit": None,
    }
    return Originator(**(fields | extra))


def terminator(tid: int, tariff_id: int, port: int | None = None, **extra) -> Terminator:
    fields = {
        "id": tid,
        "name": f"term{tid}",
        "company_id": 200 + tid,
        "enabled": True,
        "tariff_id": tariff_id,
        "tech_prefix": "",
        "gateways": (Gateway("192.0.2.1", port or 5060 + tid, "udp"),),
        "number_rules": (),
        "cps_limit": None,
        "concurrent_limit": None,
    }
    return Terminator(**(fields | extra))


def plan(pid: int, terminator_ids: list[int], strategy: str = "least_cost", **extra) -> RoutingPlan:
    fields = {
        "id": pid,
        "name": f"plan{pid}",
        "strategy": strategy,
        "hunt_stop_codes": frozenset({404, 486, 487}),
        "allow_loss": False,
        "entries": tuple(PlanEntry(t, 100, 100) for t in terminator_ids),
        "min_margin": 0,
        "min_margin_percent": None,
        "max_attempts": 10,
        "ring_timeout": 3,
        "answer_timeout": 60,
        "overrides": (),
        "blocked": frozenset(),
    }
    return RoutingPlan(**(fields | extra))


def build(
    *, originators, terminators, plans, tariffs, devices, version: int = 1, blocked=frozenset()
) -> Snapshot:
    directory = tempfile.mkdtemp(prefix="akira-snapshot-")
    _DIRECTORIES.append(directory)
    digests, rows_of = {}, {}
    for item in tariffs:
        rows = rows_of[item["id"]] = rows_from_rates(item["rows"])
        name = digest(rows)
        write_atomic(contract.file_path(directory, name), [compile_tariff(rows)])
        digests[item["id"]] = (name, item["currency"])
    tariff_of = {t.id: t.tariff_id for t in terminators}
    tables = {}
    for plan_ in plans:
        # vendor index = plan position: an unknown terminator or tariff rates nothing
        vendors = [
            rows_of.get(tariff_of.get(e.terminator_id), rows_from_rates([])) for e in plan_.entries
        ]
        name = f"table-{plan_.id}-v{version}"
        start = valid_from(vendors, 0)
        write_atomic(contract.file_path(directory, name), compile_route_table(vendors, start))
        tables[plan_.id] = name
    manifest = encode_manifest(
        version=version,
        published_at=0.0,
        originators=list(originators),
        terminators=list(terminators),
        routing_plans=list(plans),
        devices=[
            Device(ipaddress.ip_network(network), port, transport, oid, *credentials)
            for network, port, transport, oid, *credentials in (
                (*d, None, None) if len(d) == 4 else d for d in devices
            )
        ],
        tariffs=digests,
        route_tables=tables,
        blocked=frozenset(blocked),
    )
    write_atomic(contract.manifest_path(directory, version), [json.dumps(manifest).encode()])
    return SnapshotStore(directory).load(version)
