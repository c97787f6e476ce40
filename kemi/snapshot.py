"""The published snapshot: its records, its manifest encoding, and the engine's view of it.

The publisher builds these records from PostgreSQL and calls ``encode_manifest``; a node's
workers call ``decode_manifest`` on the same document with their mapped tariff files. The
records' fields are the document's fields, so the encoding is declared once, here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kemi.contract import SNAPSHOT_FORMAT
from kemi.number_rules import Rule
from kemi.quality import Thresholds
from kemi.rates import TariffFile
from kemi.route_table import RouteTable


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

    @property
    def key(self) -> str:
        """How vendor health names a gateway (kemi.health)."""
        return f"{self.host}:{self.port}:{self.transport}"


@dataclass(frozen=True, slots=True)
class Originator:
    id: int
    name: str
    company_id: int
    enabled: bool  # false when the trunk or its company is disabled
    tariff_id: int
    routing_plan_id: int | None
    tech_prefix: str
    max_call_duration: int  # seconds; becomes the dialog timeout
    match_header: str | None  # trunks behind one address told apart by this header's value
    match_value: str | None
    number_rules: tuple[Rule, ...]  # on the dialed number (kemi.number_rules)
    min_digits: int  # the called number after the rules, in E.164 digits
    max_digits: int
    cli_rules: tuple[Rule, ...]  # on the calling number
    cli_policy: str  # pass | reject | replace: what an empty or invalid caller number gets
    cli_replacement: str | None
    cps_limit: int | None  # cluster-wide, per second
    concurrent_limit: int | None  # cluster-wide calls in progress
    prepaid: bool = False  # credit-controlled: prepaid, or postpaid with a limit (kemi.limits)
    noc: bool = False  # the NOC's test trunk: may name its vendor (kemi.stages.route)


@dataclass(frozen=True, slots=True)
class Terminator:
    id: int
    name: str
    company_id: int
    enabled: bool
    tariff_id: int
    tech_prefix: str  # prepended to the number sent to the vendor, after its rules
    gateways: tuple[Gateway, ...]
    number_rules: tuple[Rule, ...]  # on the E.164 number sent to this vendor
    cps_limit: int | None
    concurrent_limit: int | None


@dataclass(frozen=True, slots=True)
class PlanEntry:
    terminator_id: int
    priority: int
    weight: int


@dataclass(frozen=True, slots=True)
class Override:
    prefix: str
    terminator_ids: tuple[int, ...]  # this order, whatever the strategy says


@dataclass(frozen=True, slots=True)
class RoutingPlan:
    id: int
    name: str
    strategy: str
    hunt_stop_codes: frozenset[int]
    allow_loss: bool
    entries: tuple[PlanEntry, ...]
    min_margin: int  # per minute, 1e-8 money units
    min_margin_percent: int | None  # of the customer rate, in 1/10000 of a percent
    max_attempts: int  # gateways tried at most, all vendors together
    ring_timeout: int  # seconds a vendor has for a provisional reply
    answer_timeout: int  # seconds a vendor has for a final reply
    overrides: tuple[Override, ...]
    blocked: frozenset[str]  # prefixes no call of this plan may reach
    # quality thresholds, read by the quality_then_cost strategy (kemi.quality.judge)
    quality_min_attempts: int = 20  # fewer attempts in the window: the vendor is not judged
    quality_min_asr: int | None = None  # 1/100 of a percent
    quality_min_acd: int | None = None  # seconds
    quality_max_pdd_ms: int | None = None
    quality_drop: bool = False  # a vendor under them is dropped, not just put last

    @property
    def quality_thresholds(self) -> Thresholds:
        return Thresholds(
            self.quality_min_attempts,
            self.quality_min_asr,
            self.quality_min_acd,
            self.quality_max_pdd_ms,
        )


@dataclass(frozen=True, slots=True)
class Device:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None
    transport: str | None
    originator_id: int
    username: str | None  # digest credentials instead of the address alone
    ha1: str | None  # md5(username:realm:password)


@dataclass(frozen=True, slots=True)
class Tariff:
    id: int
    currency: str
    rates: TariffFile | None  # customer tariffs only (vendor rates: the route tables)


@dataclass(slots=True)
class Snapshot:
    version: int
    published_at: float
    originators: dict[int, Originator]
    terminators: dict[int, Terminator]
    routing_plans: dict[int, RoutingPlan]
    tariffs: dict[int, Tariff]  # customer tariffs carry their rates; vendor ones a currency
    route_tables: dict[int, RouteTable]  # routing plan id -> its vendors' rates, compiled
    blocked: frozenset[str] = frozenset()  # prefixes no call of any plan may reach
    # exact source IP -> devices; CIDR devices (not /32 or /128) are scanned, longest first
    _hosts: dict[str, tuple[Device, ...]] = field(default_factory=dict)
    _networks: tuple[Device, ...] = ()
    _gateways: frozenset[str] = frozenset()  # vendors' gateway hosts (they send BYEs, pings)
    credentials: dict[str, Device] = field(default_factory=dict)  # digest username -> device
    match_headers: frozenset[str] = frozenset()  # lower-cased headers originators match on
    forces_terminators: bool = False  # some originator is a NOC trunk (kemi.request.NOC_HEADER)
    # plan id -> (entry, its terminator or None, that terminator's tariff currency) by position
    plan_members: dict[int, tuple[tuple[PlanEntry, Terminator | None, str], ...]] = field(
        default_factory=dict
    )

    def index_devices(self, devices: list[Device]) -> None:
        hosts: dict[str, list[Device]] = {}
        networks = []
        for device in devices:
            if device.username is not None:
                self.credentials[device.username] = device
            elif device.network.num_addresses == 1:
                hosts.setdefault(str(device.network.network_address), []).append(device)
            else:
                networks.append(device)
        self._hosts = {ip: tuple(found) for ip, found in hosts.items()}
        self._networks = tuple(sorted(networks, key=lambda d: -d.network.prefixlen))

    def devices_for(self, ip: str, port: int, transport: str) -> list[Device]:
        """Devices that accept a request from ip:port/transport, most specific first."""
        found = [d for d in self._hosts.get(ip, ()) if _port_ok(d, port, transport)]
        if self._networks:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return found
            found += [
                d for d in self._networks if address in d.network and _port_ok(d, port, transport)
            ]
        return found

    def admits(self, device: Device, ip: str) -> bool:
        """Whether a request from ``ip`` may use this (digest) device."""
        try:
            return ipaddress.ip_address(ip) in device.network
        except ValueError:
            return False

    def may_authenticate(self, ip: str) -> bool:
        """Whether some digest device may call from this address: such a source is challenged
        (407) instead of refused."""
        if not self.credentials:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in d.network for d in self.credentials.values())

    def knows_address(self, ip: str) -> bool:
        """Whether some device admits this address (on whatever port or transport), or a
        vendor's gateway has it: such a source is a partner's, told why it was refused and
        never treated as a scanner."""
        if ip in self._hosts or ip in self._gateways:
            return True
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in d.network for d in self._networks)


def _port_ok(device: Device, port: int, transport: str) -> bool:
    return (device.port is None or device.port == port) and (
        device.transport is None or device.transport == transport
    )


# --- the manifest: one JSON document per version ------------------------------------------


def encode_manifest(
    *,
    version: int,
    published_at: float,
    originators: list[Originator],
    terminators: list[Terminator],
    routing_plans: list[RoutingPlan],
    devices: list[Device],
    tariffs: Mapping[int, tuple[str | None, str]],  # tariff id -> (file digest, currency)
    route_tables: Mapping[int, str],  # routing plan id -> route table digest
    blocked: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Customer tariffs come with a file (digest); vendor tariffs only with their currency, as
    their rates live in the route tables of the plans that use them."""
    return {
        "format": SNAPSHOT_FORMAT,
        "version": version,
        "published_at": published_at,
        "tariffs": {
            str(tariff_id): {"digest": digest, "currency": currency}
            for tariff_id, (digest, currency) in tariffs.items()
        },
        "route_tables": {str(plan_id): digest for plan_id, digest in route_tables.items()},
        "originators": [_plain(o) for o in originators],
        "terminators": [_plain(t) for t in terminators],
        "routing_plans": [_plain(p) for p in routing_plans],
        "devices": [_plain(d) for d in devices],
        "blocked": sorted(blocked),
    }


def manifest_files(manifest: dict[str, Any]) -> set[str]:
    """Digests of every file a version needs on a node."""
    files = {t["digest"] for t in manifest["tariffs"].values() if t["digest"]}
    return files | set(manifest["route_tables"].values())


def _plain(record: Any) -> dict[str, Any]:
    document = {}
    for item in dataclasses.fields(record):
        value = getattr(record, item.name)
        if isinstance(value, frozenset):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = [_plain(v) if dataclasses.is_dataclass(v) else v for v in value]
        elif isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
            value = str(value)
        document[item.name] = value
    return document


def _record(cls: type, document: dict[str, Any], **converted: Any) -> Any:
    names = [item.name for item in dataclasses.fields(cls)]
    if sorted(document) != sorted(names):
        raise SnapshotError(f"{cls.__name__} fields {sorted(document)}, engine reads {names}")
    return cls(**{name: converted.get(name, document[name]) for name in names})


def _rules(documents: list[dict[str, Any]]) -> tuple[Rule, ...]:
    return tuple(_record(Rule, d) for d in documents)


def decode_manifest(manifest: dict[str, Any], open_file: Callable[[str, type], Any]) -> Snapshot:
    """The engine's snapshot; ``open_file(digest, kind)`` maps a file of that kind."""
    if manifest.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(
            f"snapshot format {manifest.get('format')!r}, engine reads {SNAPSHOT_FORMAT}"
        )
    try:
        return _decode(manifest, open_file)
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"snapshot {manifest.get('version')} is malformed: {exc!r}") from exc


def _decode(manifest: dict[str, Any], open_file: Callable[[str, type], Any]) -> Snapshot:
    originators = {
        o["id"]: _record(
            Originator, o, number_rules=_rules(o["number_rules"]), cli_rules=_rules(o["cli_rules"])
        )
        for o in manifest["originators"]
    }
    terminators = {
        t["id"]: _record(
            Terminator,
            t,
            gateways=tuple(_record(Gateway, g) for g in t["gateways"]),
            number_rules=_rules(t["number_rules"]),
        )
        for t in manifest["terminators"]
    }
    plans = {
        p["id"]: _record(
            RoutingPlan,
            p,
            hunt_stop_codes=frozenset(p["hunt_stop_codes"]),
            entries=tuple(_record(PlanEntry, e) for e in p["entries"]),
            overrides=tuple(
                _record(Override, o, terminator_ids=tuple(o["terminator_ids"]))
                for o in p["overrides"]
            ),
            blocked=frozenset(p["blocked"]),
        )
        for p in manifest["routing_plans"]
    }
    tariffs = {
        int(tariff_id): Tariff(
            int(tariff_id),
            item["currency"],
            None if item["digest"] is None else open_file(item["digest"], TariffFile),
        )
        for tariff_id, item in manifest["tariffs"].items()
    }
    route_tables = {
        int(plan_id): open_file(digest, RouteTable)
        for plan_id, digest in manifest["route_tables"].items()
    }
    missing = {o.tariff_id for o in originators.values()} - {
        t for t, tariff in tariffs.items() if tariff.rates is not None
    }
    missing |= {t.tariff_id for t in terminators.values()} - tariffs.keys()
    missing_tables = {p.id for p in plans.values() if p.entries and p.id not in route_tables}
    if missing or missing_tables:
        raise SnapshotError(
            f"snapshot {manifest['version']} lacks tariffs {sorted(missing)} "
            f"or route tables of plans {sorted(missing_tables)}"
        )
    snapshot = Snapshot(
        int(manifest["version"]),
        float(manifest["published_at"]),
        originators,
        terminators,
        plans,
        tariffs,
        route_tables,
        frozenset(manifest["blocked"]),
    )
    snapshot._gateways = frozenset(g.host for t in terminators.values() for g in t.gateways)
    for plan in plans.values():
        members = []
        for entry in plan.entries:
            terminator = terminators.get(entry.terminator_id)
            currency = tariffs[terminator.tariff_id].currency if terminator else ""
            members.append((entry, terminator, currency))
        snapshot.plan_members[plan.id] = tuple(members)
    snapshot.forces_terminators = any(o.noc for o in originators.values())
    snapshot.match_headers = frozenset(
        o.match_header.lower() for o in originators.values() if o.match_header
    )
    snapshot.index_devices(
        [
            _record(Device, d, network=ipaddress.ip_network(d["network"], strict=False))
            for d in manifest["devices"]
        ]
    )
    return snapshot
