"""Publisher: PostgreSQL -> compiled snapshot files in Redis -> every node -> pointer flip.

DESIGN §3, decisions/0006. In one repeatable-read view of PostgreSQL the publisher builds the
routing records and, per tariff, the binary COPY of its rates; a tariff whose rows are
unchanged (same digest) is neither compiled nor uploaded again. The new version is written
to this host's snapshot directory and loaded with the engine's own code (a snapshot the engine
cannot load never goes live), uploaded, and announced as pending; once every live node has
fetched its files (or ``node_wait`` runs out), the pointer moves in one step, so the switch in
the workers is a matter of mapping files already on disk.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row
from redis import Redis

from admin import credit
from admin.queries import query
from admin.rates_reader import rates_reader
from admin.route_table import compile_route_table, valid_from
from admin.tariff_compiler import compile_tariff, digest
from kemi import contract, route_table
from kemi.lcr import STRATEGIES
from kemi.number_rules import Rule, RuleError, parse_rules
from kemi.snapshot import (
    Device,
    Gateway,
    Originator,
    Override,
    PlanEntry,
    RoutingPlan,
    Terminator,
    encode_manifest,
    manifest_files,
)
from kemi.snapshot_files import install, write_atomic
from kemi.store import SnapshotStore

# Serializes publishes, so versions go live in the order they were compiled.
PUBLISH_LOCK_ID = 0x616B697270  # "akirp"
NODE_WAIT_SECONDS = 30.0

# Moves the pointer only forward: a slow older publish never replaces a newer one.
_FLIP = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1])
    return 1
end
return 0
"""

# Next version, never at or below what PostgreSQL recorded: versions keep rising even when Redis
# lost its data, so no engine mistakes a new snapshot for the one it holds.
_NEXT_VERSION = """
local version = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[1])
if version <= floor then
    version = floor + 1
    redis.call('SET', KEYS[1], version)
end
return version
"""


class PublishError(ValueError):
    """The catalog cannot be published as it is (the message says what to fix)."""


@dataclass(frozen=True, slots=True)
class Publication:
    version: int
    originators: int
    terminators: int
    tariffs: int
    rates: int
    compiled_tariffs: int  # tariffs whose rates changed since an earlier publish
    uploaded_tariffs: int  # of those, the ones Redis did not hold yet
    duration_ms: int
    lagging_nodes: list[str] = field(default_factory=list)  # went live before these had it


@dataclass(slots=True)
class _Compiled:
    digests: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # id -> (file, cur.)
    route_tables: dict[int, str] = field(default_factory=dict)  # plan id -> digest
    rates: int = 0
    compiled: int = 0
    uploaded: int = 0


def compile_routing(conn: psycopg.Connection) -> dict[str, Any]:
    """The small part of the snapshot: trunks, devices, routing plans and blocked prefixes,
    as engine records; every rule and name the engine would not understand is refused here."""
    with conn.cursor(row_factory=dict_row) as cursor:
        originators = [
            Originator(
                **(
                    row
                    | {
                        "number_rules": _rules(row, "number_rules", "originator"),
                        "cli_rules": _rules(row, "cli_rules", "originator"),
                    }
                )
            )
            for row in cursor.execute(query("publish_originators"))
        ]
        terminators = [
            Terminator(
                **(
                    row
                    | {
                        "gateways": tuple(Gateway(**g) for g in row["gateways"]),
                        "number_rules": _rules(row, "number_rules", "terminator"),
                    }
                )
            )
            for row in cursor.execute(query("publish_terminators"))
        ]
        mismatches = cursor.execute(query("publish_currency_mismatches")).fetchall()
        if mismatches:
            raise PublishError(
                "customer tariffs must be in the company's currency (its ledger's): "
                + "; ".join(
                    f"originator {m['originator']!r} has a {m['tariff_currency']} tariff, "
                    f"its company keeps {m['company_currency']}"
                    for m in mismatches
                )
            )
        plans = [_plan(row) for row in cursor.execute(query("publish_routing_plans"))]
        devices = [
            Device(**(row | {"network": ipaddress.ip_network(row["network"], strict=False)}))
            for row in cursor.execute(query("publish_devices"))
        ]
        blocked = frozenset(
            row["prefix"] for row in cursor.execute(query("publish_global_blocked"))
        )
    return {
        "originators": originators,
        "terminators": terminators,
        "routing_plans": plans,
        "devices": devices,
        "blocked": blocked,
    }


def _rules(row: dict[str, Any], column: str, kind: str) -> tuple[Rule, ...]:
    try:
        return parse_rules(row[column], f"{kind} {row['name']!r}, {column}")
    except RuleError as exc:
        raise PublishError(str(exc)) from exc


def _plan(row: dict[str, Any]) -> RoutingPlan:
    if row["strategy"] not in STRATEGIES:
        raise PublishError(
            f"routing plan {row['name']!r}: unknown strategy {row['strategy']!r} "
            f"(known: {', '.join(sorted(STRATEGIES))})"
        )
    return RoutingPlan(
        **(
            row
            | {
                "hunt_stop_codes": frozenset(row["hunt_stop_codes"]),
                "entries": tuple(PlanEntry(**e) for e in row["entries"]),
                "overrides": tuple(
                    Override(o["prefix"], tuple(o["terminator_ids"])) for o in row["overrides"]
                ),
                "blocked": frozenset(row["blocked"]),
            }
        )
    )


def upload_file(redis: Redis, digest: str, data: bytes) -> None:
    step = contract.FILE_CHUNK
    chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    mapping: dict[str, bytes | str] = {
        str(index): zlib.compress(chunk, 1) for index, chunk in enumerate(chunks)
    }
    mapping["meta"] = json.dumps({"size": len(data), "chunks": len(chunks)})
    pipe = redis.pipeline(transaction=True)
    pipe.hset(contract.file_key(digest), mapping=mapping)
    pipe.sadd(contract.FILE_DIGESTS, digest)
    pipe.execute()


def _ensure_file(
    redis: Redis, snapshot_dir: str, digest: str, make: Callable[[], bytes], done: _Compiled
) -> None:
    """The file ``digest`` in this host's directory and in Redis, compiled only if neither
    has it."""
    path = contract.file_path(snapshot_dir, digest)
    in_redis = redis.hexists(contract.file_key(digest), "meta")
    if in_redis and os.path.exists(path):
        return
    if os.path.exists(path):
        with open(path, "rb") as existing:
            data = existing.read()
    else:
        data = make()
        write_atomic(path, [data])
        done.compiled += 1
    if not in_redis:
        upload_file(redis, digest, data)
        done.uploaded += 1


class RowsCache:
    """This host's copy of the vendor rows it read, by digest: rebuilding a plan's route table
    after one vendor changed reads that one from PostgreSQL, the others from here."""

    def __init__(self, snapshot_dir: str) -> None:
        self.directory = os.path.join(snapshot_dir, "rows")

    def _path(self, digest: str) -> str:
        return os.path.join(self.directory, f"{digest}.npy")

    def get(self, digest: str) -> np.ndarray | None:
        try:
            return np.load(self._path(digest), allow_pickle=False)
        except (FileNotFoundError, ValueError):
            return None

    def put(self, digest: str, rows: np.ndarray) -> None:
        if not os.path.exists(self._path(digest)):
            buffer = io.BytesIO()
            np.save(buffer, rows, allow_pickle=False)
            write_atomic(self._path(digest), [buffer.getvalue()])

    def keep(self, digests: set[str]) -> None:
        for name in os.listdir(self.directory) if os.path.isdir(self.directory) else ():
            if name.endswith(".npy") and name[:-4] not in digests:
                os.unlink(os.path.join(self.directory, name))


def compile_files(
    conn: psycopg.Connection,
    redis: Redis,
    snapshot_dir: str,
    now: datetime,
    plans: list[RoutingPlan],
    terminators: list[Terminator],
) -> _Compiled:
    """Customer tariffs as tariff files; each routing plan's vendor tariffs as one route table;
    in ``snapshot_dir`` and in Redis. A tariff whose revision and closed windows are as at an
    earlier publish is not read again (its digest is remembered in Redis); rates are read only
    for files that must be compiled, several tariffs at a time."""
    done = _Compiled()
    tariff_of = {t.id: t.tariff_id for t in terminators}
    plan_tariffs = {p.id: [tariff_of[e.terminator_id] for e in p.entries] for p in plans}
    vendor_tariffs = {t for ids in plan_tariffs.values() for t in ids}
    tariffs = conn.execute(query("publish_tariffs"), {"now": now}).fetchall()
    needed = [row for row in tariffs if row[2] or row[0] in vendor_tariffs]
    keys = {row[0]: f"{row[0]}:{row[3]}:{row[4]}" for row in needed}  # id:revision@made:closed
    known = dict(
        zip(
            keys,
            redis.hmget(contract.TARIFF_ROWS, list(keys.values())) if keys else [],
            strict=True,
        )
    )
    with rates_reader(conn, now) as read:
        rows: dict[int, Any] = read(t for t, cached in known.items() if cached is None)
        infos: dict[int, dict[str, Any]] = {}
        for tariff_id, cached in known.items():
            if cached is not None:
                infos[tariff_id] = json.loads(cached)
                continue
            tariff_rows = rows[tariff_id]
            infos[tariff_id] = {
                "digest": digest(tariff_rows),
                "valid_from": valid_from([tariff_rows], int(now.timestamp())),
                "rows": len(tariff_rows),
            }
            redis.hset(contract.TARIFF_ROWS, keys[tariff_id], json.dumps(infos[tariff_id]))

        cache = RowsCache(snapshot_dir)
        for tariff_id, tariff_rows in rows.items():
            cache.put(infos[tariff_id]["digest"], tariff_rows)

        def rows_of(ids: list[int]) -> list[Any]:
            for t in set(ids) - rows.keys():
                cached_rows = cache.get(infos[t]["digest"])
                if cached_rows is not None:
                    rows[t] = cached_rows
            fetched = read(t for t in set(ids) if t not in rows)
            for t, tariff_rows in fetched.items():
                cache.put(infos[t]["digest"], tariff_rows)
            rows.update(fetched)
            return [rows[t] for t in ids]

        for tariff_id, currency, customer, *_ in tariffs:
            info = infos.get(tariff_id)
            done.rates += info["rows"] if info else 0
            file = info["digest"] if customer and info else None
            if file is not None:
                _ensure_file(
                    redis,
                    snapshot_dir,
                    file,
                    lambda t=tariff_id: compile_tariff(rows_of([t])[0]),
                    done,
                )
            done.digests[tariff_id] = (file, currency)
        for plan in plans:
            ids = plan_tariffs[plan.id]
            start = max((infos[t]["valid_from"] for t in ids), default=0)
            key = f"route table {route_table.FORMAT} {start} " + " ".join(
                infos[t]["digest"] for t in ids
            )
            table = hashlib.sha256(key.encode()).hexdigest()

            def make(ids: list[int] = ids, start: int = start) -> bytes:
                return b"".join(compile_route_table(rows_of(ids), start))

            _ensure_file(redis, snapshot_dir, table, make, done)
            done.route_tables[plan.id] = table
        cache.keep({info["digest"] for info in infos.values()})
    return done


def publish(
    conn: psycopg.Connection,
    redis: Redis,
    *,
    published_by: str,
    snapshot_dir: str,
    node_wait: float = NODE_WAIT_SECONDS,
) -> Publication:
    started = time.perf_counter()
    conn.execute("SELECT pg_advisory_lock(%s)", (PUBLISH_LOCK_ID,))
    conn.commit()  # the session lock stays; the compile gets a fresh transaction
    try:
        with conn.transaction():
            # One consistent view of PostgreSQL for the whole compile.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            now = datetime.now(UTC)
            routing = compile_routing(conn)
            tariffs = compile_files(
                conn, redis, snapshot_dir, now, routing["routing_plans"], routing["terminators"]
            )
            last_version = conn.execute(query("last_published_version")).fetchone()[0]
            revision = conn.execute(query("catalog_revision")).fetchone()[0]  # what we compiled

        version = int(redis.eval(_NEXT_VERSION, 1, contract.SNAPSHOT_SEQ, last_version))
        manifest = encode_manifest(
            version=version,
            published_at=time.time(),
            tariffs=tariffs.digests,
            route_tables=tariffs.route_tables,
            **routing,
        )
        write_atomic(contract.manifest_path(snapshot_dir, version), [json.dumps(manifest).encode()])
        # The check: the engine's own loader must accept it before it goes live.
        SnapshotStore(snapshot_dir).load(version)
        pipe = redis.pipeline(transaction=True)
        pipe.hset(
            contract.snapshot_key(version),
            "manifest",
            zlib.compress(json.dumps(manifest).encode(), 6),
        )
        pipe.zadd(contract.SNAPSHOT_VERSIONS, {str(version): version})
        pipe.set(contract.SNAPSHOT_PENDING, version)
        pipe.execute()
        credit.sync(conn, redis)  # a prepaid customer's calls need its credit in Redis
        lagging = wait_for_nodes(redis, version, node_wait)
        redis.eval(_FLIP, 1, contract.SNAPSHOT_POINTER, version)
        install(snapshot_dir, version)
        remove_old_versions(redis)

        publication = Publication(
            version=version,
            originators=len(routing["originators"]),
            terminators=len(routing["terminators"]),
            tariffs=len(tariffs.digests),
            rates=tariffs.rates,
            compiled_tariffs=tariffs.compiled,
            uploaded_tariffs=tariffs.uploaded,
            duration_ms=int((time.perf_counter() - started) * 1000),
            lagging_nodes=lagging,
        )
        if not conn.autocommit:
            # credit.sync's reads opened a transaction: committed now, the record below is a
            # transaction of its own, not a savepoint the rollback in ``finally`` would undo
            # (it was, for `akira publish`: its publications were never recorded)
            conn.commit()
        with conn.transaction():
            conn.execute(
                query("record_publication"),
                {
                    "version": publication.version,
                    "published_by": published_by,
                    "originators": publication.originators,
                    "terminators": publication.terminators,
                    "tariffs": publication.tariffs,
                    "rates": publication.rates,
                    "duration_ms": publication.duration_ms,
                    "catalog_revision": revision,
                },
            )
        return publication
    finally:
        conn.rollback()  # leave no failed transaction behind the unlock
        conn.execute("SELECT pg_advisory_unlock(%s)", (PUBLISH_LOCK_ID,))
        conn.commit()


def live_nodes(redis: Redis) -> dict[str, dict[str, Any]]:
    """Nodes that reported within NODE_ALIVE_SECONDS, with what they hold."""
    now = time.time()
    nodes = {}
    for name, raw in redis.hgetall(contract.NODES).items():
        state = json.loads(raw)
        if now - state["seen"] <= contract.NODE_ALIVE_SECONDS:
            nodes[name.decode() if isinstance(name, bytes) else name] = state
    return nodes


def wait_for_nodes(redis: Redis, version: int, timeout: float) -> list[str]:
    """Wait until every live node has ``version``'s files; the names of those that did not."""
    deadline = time.monotonic() + timeout
    while True:
        lagging = sorted(
            name
            for name, state in live_nodes(redis).items()
            if (state.get("prepared") or 0) < version
        )
        if not lagging or time.monotonic() >= deadline:
            return lagging
        time.sleep(0.05)


def remove_old_versions(redis: Redis, keep: int = contract.SNAPSHOT_KEEP) -> None:
    """Drop all but the newest ``keep`` versions, and tariff files none of those use."""
    versions = [int(v) for v in redis.zrange(contract.SNAPSHOT_VERSIONS, 0, -1)]
    old, kept = versions[:-keep], versions[-keep:]
    if not old:
        return
    in_use: set[str] = set()
    for version in kept:
        blob = redis.hget(contract.snapshot_key(version), "manifest")
        if blob is not None:
            in_use.update(manifest_files(json.loads(zlib.decompress(blob))))
    for version in old:
        redis.delete(contract.snapshot_key(version))
        redis.zrem(contract.SNAPSHOT_VERSIONS, str(version))
    for raw in redis.smembers(contract.FILE_DIGESTS):
        digest = raw.decode() if isinstance(raw, bytes) else raw
        if digest not in in_use:
            redis.delete(contract.file_key(digest))
            redis.srem(contract.FILE_DIGESTS, digest)
