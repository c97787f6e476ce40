"""Publisher: PostgreSQL -> a new versioned routing snapshot in Redis -> atomic pointer flip.

DESIGN §3. The snapshot is written under a new version, read back and decoded with the engine's
own code (a snapshot the engine cannot load is never made current), then the pointer moves in
one step. Tariff blobs are content-addressed: an unchanged tariff is not uploaded again.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from redis import Redis

from admin.queries import query
from kemi import contract
from kemi.snapshot import pack
from kemi.store import SnapshotStore

# Serializes publishes, so versions go live in the order they were compiled.
PUBLISH_LOCK_ID = 0x616B697270  # "akirp"

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


@dataclass(frozen=True, slots=True)
class Publication:
    version: int
    originators: int
    terminators: int
    tariffs: int
    rates: int
    uploaded_tariffs: int  # tariffs whose content changed since an earlier publish
    duration_ms: int


def compile_routing(conn: psycopg.Connection) -> dict[str, Any]:
    """The small part of the snapshot: trunks, devices and routing plans."""
    with conn.cursor(row_factory=dict_row) as cursor:
        return {
            "originators": cursor.execute(query("publish_originators")).fetchall(),
            "devices": cursor.execute(query("publish_devices")).fetchall(),
            "terminators": cursor.execute(query("publish_terminators")).fetchall(),
            "routing_plans": cursor.execute(query("publish_routing_plans")).fetchall(),
        }


def compile_tariffs(conn: psycopg.Connection, now: datetime) -> list[tuple[int, bytes, int]]:
    """(tariff id, canonical JSON, number of rates) for every tariff a trunk uses."""
    compiled = []
    with conn.cursor(row_factory=tuple_row) as cursor:
        tariffs = cursor.execute(query("publish_tariffs")).fetchall()
        for tariff_id, currency in tariffs:
            rates = cursor.execute(
                query("publish_rates"), {"tariff_id": tariff_id, "now": now}
            ).fetchall()
            document = {"id": tariff_id, "currency": currency, "rates": rates}
            compiled.append(
                (tariff_id, json.dumps(document, separators=(",", ":")).encode(), len(rates))
            )
    return compiled


def publish(conn: psycopg.Connection, redis: Redis, *, published_by: str) -> Publication:
    started = time.perf_counter()
    conn.execute("SELECT pg_advisory_lock(%s)", (PUBLISH_LOCK_ID,))
    conn.commit()  # the session lock stays; the compile gets a fresh transaction
    try:
        with conn.transaction():
            # One consistent view of PostgreSQL for the whole compile.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            now = datetime.now(UTC)
            routing = compile_routing(conn)
            tariffs = compile_tariffs(conn, now)
            last_version = conn.execute(query("last_published_version")).fetchone()[0]

        version = int(redis.eval(_NEXT_VERSION, 1, contract.SNAPSHOT_SEQ, last_version))
        digests: dict[str, str] = {}
        uploaded = 0
        for tariff_id, document, _ in tariffs:
            digest = hashlib.sha256(document).hexdigest()
            digests[str(tariff_id)] = digest
            if redis.set(contract.tariff_key(digest), zlib.compress(document, 6), nx=True):
                uploaded += 1
            redis.sadd(contract.TARIFF_DIGESTS, digest)
        meta = {
            "format": contract.SNAPSHOT_FORMAT,
            "version": version,
            "published_at": time.time(),
            "tariffs": digests,
        }
        redis.hset(
            contract.snapshot_key(version),
            mapping={"meta": json.dumps(meta), "routing": pack(routing)},
        )
        # The check: the engine's own loader must accept it before it goes live.
        SnapshotStore(redis).load(version)
        redis.zadd(contract.SNAPSHOT_VERSIONS, {str(version): version})
        redis.eval(_FLIP, 1, contract.SNAPSHOT_POINTER, version)
        remove_old_versions(redis)

        publication = Publication(
            version=version,
            originators=len(routing["originators"]),
            terminators=len(routing["terminators"]),
            tariffs=len(tariffs),
            rates=sum(count for _, _, count in tariffs),
            uploaded_tariffs=uploaded,
            duration_ms=int((time.perf_counter() - started) * 1000),
        )
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
                },
            )
        return publication
    finally:
        conn.rollback()  # leave no failed transaction behind the unlock
        conn.execute("SELECT pg_advisory_unlock(%s)", (PUBLISH_LOCK_ID,))
        conn.commit()


def remove_old_versions(redis: Redis, keep: int = contract.SNAPSHOT_KEEP) -> None:
    """Drop all but the newest ``keep`` versions, and tariff blobs none of those use."""
    versions = [int(v) for v in redis.zrange(contract.SNAPSHOT_VERSIONS, 0, -1)]
    old, kept = versions[:-keep], versions[-keep:]
    if not old:
        return
    in_use: set[str] = set()
    for version in kept:
        meta = redis.hget(contract.snapshot_key(version), "meta")
        if meta is not None:
            in_use.update(json.loads(meta)["tariffs"].values())
    for version in old:
        redis.delete(contract.snapshot_key(version))
        redis.zrem(contract.SNAPSHOT_VERSIONS, str(version))
    for raw in redis.smembers(contract.TARIFF_DIGESTS):
        digest = raw.decode() if isinstance(raw, bytes) else raw
        if digest not in in_use:
            redis.delete(contract.tariff_key(digest))
            redis.srem(contract.TARIFF_DIGESTS, digest)
