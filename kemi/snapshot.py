"""The published snapshot as the engine holds it in memory (DESIGN §3).

``encode_*`` are used by the publisher, ``decode_*`` and ``Snapshot`` by the engine and the
simulator. The routing document is small (trunks, devices, plans); tariffs are large and
content-addressed, so an unchanged tariff keeps its parsed index across versions.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kemi.contract import SNAPSHOT_FORMAT
from kemi.rates import RateIndex, Terms


class SnapshotError(Exception):
    """The snapshot is missing, of another format, or inconsistent: refuse to route from it."""


@dataclass(frozen=True, slots=True)
class Gateway:
    host: str
    port: int
    transport: str  # udp | tcp

    def uri(self, user: str) -> str:
        suffix = "" if self.transport == "udp" else f";transport={self.transport}"
        return f"sip:{user}@{self.host}:{self.port}{suffix}"


@dataclass(frozen=True, slots=True)
class Originator:
    id: int
    name: str
    company_id: int
    enabled: bool
    tariff_id: int
    routing_plan_id: int | None
    tech_prefix: str
    max_call_duration: int  # seconds; becomes the dialog timeout


@dataclass(frozen=True, slots=True)
class Terminator:
    id: int
    name: str
    company_id: int
    enabled: bool
    tariff_id: int
    tech_prefix: str  # prepended to the E.164 number sent to the vendor
    gateways: tuple[Gateway, ...]


@dataclass(frozen=True, slots=True)
class PlanEntry:
    terminator_id: int
    priority: int
    weight: int


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    id: int
    name: str
    strategy: str
    hunt_stop_codes: frozenset[int]
    allow_loss: bool
    entries: tuple[PlanEntry, ...]


@dataclass(frozen=True, slots=True)
class Device:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None
    transport: str | None
    originator_id: int


@dataclass(slots=True)
class Snapshot:
    version: int
    published_at: float
    originators: dict[int, Originator]
    terminators: dict[int, Terminator]
    routing_plans: dict[int, RoutingPlan]
    tariffs: dict[int, RateIndex]
    # exact source IP -> devices; CIDR devices (not /32 or /128) are scanned, longest first
    _hosts: dict[str, tuple[Device, ...]] = field(default_factory=dict)
    _networks: tuple[Device, ...] = ()

    def index_devices(self, devices: list[Device]) -> None:
        hosts: dict[str, list[Device]] = {}
        networks = []
        for device in devices:
            if device.network.num_addresses == 1:
                hosts.setdefault(str(device.network.network_address), []).append(device)
            else:
                networks.append(device)
        self._hosts = {ip: tuple(found) for ip, found in hosts.items()}
        self._networks = tuple(sorted(networks, key=lambda d: -d.network.prefixlen))

    def devices_for(self, ip: str, port: int, transport: str) -> list[Device]:
        """Devices that accept a request from ip:port/transport, most specific first."""
        found = [d for d in self._hosts.get(ip, ()) if _port_ok(d, port, transport)]
        if self._networks:
            address = ipaddress.ip_address(ip)
            found += [
                d for d in self._networks if address in d.network and _port_ok(d, port, transport)
            ]
        return found


def _port_ok(device: Device, port: int, transport: str) -> bool:
    return (device.port is None or device.port == port) and (
        device.transport is None or device.transport == transport
    )


# --- encoding (publisher side) -------------------------------------------------------------


def pack(document: dict[str, Any]) -> bytes:
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode(), 6)


def unpack(blob: bytes) -> dict[str, Any]:
    try:
        return json.loads(zlib.decompress(blob))
    except (zlib.error, ValueError) as exc:
        raise SnapshotError(f"undecodable snapshot blob: {exc}") from exc


# --- decoding (engine side) ----------------------------------------------------------------


def decode_tariff(document: dict[str, Any]) -> RateIndex:
    """A tariff blob -> its index. Rows with equal terms (a third as many as rows in real
    decks) are decoded once and shared, which saves both load time and memory."""
    decoded: dict[tuple, Terms] = {}

    def terms_of(rate: str, initial: int, nxt: int, fee: str, start: float, end: float | None):
        key = (rate, initial, nxt, fee, start, end)
        terms = decoded.get(key)
        if terms is None:
            terms = decoded[key] = Terms(
                Decimal(rate), int(initial), int(nxt), Decimal(fee), float(start),
                None if end is None else float(end),
            )  # fmt: skip
        return terms

    return RateIndex(
        int(document["id"]),
        document["currency"],
        # interned: the same prefix in every tariff of the snapshot is one string object
        ((sys.intern(row[0]), terms_of(*row[1:])) for row in document["rates"]),
    )


def decode_snapshot(meta: dict[str, Any], routing: dict[str, Any], tariffs: dict[int, RateIndex]):
    if meta.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(
            f"snapshot format {meta.get('format')!r}, engine reads {SNAPSHOT_FORMAT}"
        )
    originators = {
        o["id"]: Originator(
            o["id"],
            o["name"],
            o["company_id"],
            o["enabled"],
            o["tariff_id"],
            o["routing_plan_id"],
            o["tech_prefix"] or "",
            o["max_call_duration"],
        )
        for o in routing["originators"]
    }
    terminators = {
        t["id"]: Terminator(
            t["id"],
            t["name"],
            t["company_id"],
            t["enabled"],
            t["tariff_id"],
            t["tech_prefix"] or "",
            tuple(Gateway(g["host"], g["port"], g["transport"]) for g in t["gateways"]),
        )
        for t in routing["terminators"]
    }
    plans = {
        p["id"]: RoutingPlan(
            p["id"],
            p["name"],
            p["strategy"],
            frozenset(p["hunt_stop_codes"]),
            p["allow_loss"],
            tuple(PlanEntry(e["terminator_id"], e["priority"], e["weight"]) for e in p["entries"]),
        )
        for p in routing["routing_plans"]
    }
    needed = {o.tariff_id for o in originators.values()} | {
        t.tariff_id for t in terminators.values()
    }
    missing = needed - tariffs.keys()
    if missing:
        raise SnapshotError(f"snapshot {meta['version']} lacks tariffs {sorted(missing)}")
    snapshot = Snapshot(
        int(meta["version"]), float(meta["published_at"]), originators, terminators, plans, tariffs
    )
    snapshot.index_devices(
        [
            Device(
                ipaddress.ip_network(d["network"], strict=False),
                d["port"],
                d["transport"],
                d["originator_id"],
            )
            for d in routing["devices"]
        ]
    )
    return snapshot
