"""Publisher -> Redis -> the engine's store, against the real PostgreSQL and Redis."""

import json
from decimal import Decimal as D

import pytest
from redis import Redis

from admin import catalog, demo
from admin.catalog import RateRow
from admin.publisher import publish
from kemi import contract
from kemi.store import SnapshotStore

pytestmark = pytest.mark.integration


def test_publish_makes_a_loadable_snapshot_and_flips_the_pointer(conn, redis_client):
    demo.load(conn)
    publication = publish(conn, redis_client, published_by="test")
    assert int(redis_client.get(contract.SNAPSHOT_POINTER)) == publication.version
    assert (publication.originators, publication.terminators, publication.tariffs) == (2, 3, 5)
    assert publication.rates == 29 and publication.uploaded_tariffs == 5

    store = SnapshotStore(redis_client)
    snapshot = store.current()
    assert snapshot.version == publication.version
    assert {o.name for o in snapshot.originators.values()} == {"acme", "globex"}
    recorded = conn.execute("SELECT version, published_by FROM snapshot_publications").fetchall()
    assert recorded == [(publication.version, "test")]


def test_unchanged_tariffs_are_neither_uploaded_nor_reparsed(conn, redis_client):
    demo.load(conn)
    publish(conn, redis_client, published_by="test")
    store = SnapshotStore(redis_client)
    first = store.current()

    # change one vendor's deck only
    with conn.transaction():
        alpha = conn.execute("SELECT tariff_id FROM terminators WHERE name = 'alpha'").fetchone()[0]
        conn.execute(
            "UPDATE rates SET rate = 0.0001 WHERE tariff_id = %s AND prefix = '44'", (alpha,)
        )
    second_publication = publish(conn, redis_client, published_by="test")
    assert second_publication.uploaded_tariffs == 1
    store.refresh()
    second = store.snapshot
    assert second.version == second_publication.version
    assert second.tariffs[alpha] is not first.tariffs[alpha]
    assert second.tariffs[alpha].match("4410", at=2e9).rate == D("0.0001")
    unchanged = [tid for tid in first.tariffs if tid != alpha]
    assert all(second.tariffs[tid] is first.tariffs[tid] for tid in unchanged)


def test_old_versions_and_unused_tariffs_are_removed(conn, redis_client):
    demo.load(conn)
    versions = []
    for n in range(contract.SNAPSHOT_KEEP + 2):
        with conn.transaction():
            conn.execute("UPDATE rates SET rate = %s WHERE prefix = '1'", (D("0.001") * (n + 1),))
        versions.append(publish(conn, redis_client, published_by="test").version)
    kept = sorted(int(v) for v in redis_client.zrange(contract.SNAPSHOT_VERSIONS, 0, -1))
    assert kept == versions[-contract.SNAPSHOT_KEEP :]
    assert not redis_client.exists(contract.snapshot_key(versions[0]))
    in_use = set()
    for version in kept:
        in_use |= set(
            json.loads(redis_client.hget(contract.snapshot_key(version), "meta"))[
                "tariffs"
            ].values()
        )
    stored = {d.decode() for d in redis_client.smembers(contract.TARIFF_DIGESTS)}
    assert stored == in_use
    assert all(redis_client.exists(contract.tariff_key(d)) for d in stored)


def test_versions_keep_rising_after_redis_lost_its_data(conn, redis_client):
    demo.load(conn)
    first = publish(conn, redis_client, published_by="test").version
    redis_client.delete(contract.SNAPSHOT_SEQ, contract.SNAPSHOT_POINTER)  # Redis restarted empty
    second = publish(conn, redis_client, published_by="test").version
    assert second > first


def test_pointer_never_moves_back(conn, redis_client):
    demo.load(conn)
    version = publish(conn, redis_client, published_by="test").version
    redis_client.set(contract.SNAPSHOT_POINTER, version + 100)  # a newer publish went live first
    publish(conn, redis_client, published_by="test")
    assert int(redis_client.get(contract.SNAPSHOT_POINTER)) == version + 100


def test_store_keeps_its_copy_when_redis_dies(conn, redis_client):
    demo.load(conn)
    publish(conn, redis_client, published_by="test")
    events = []
    store = SnapshotStore(redis_client, check_interval=0, on_event=events.append)
    held = store.current()
    # same store, Redis now unreachable: it must keep routing from the copy it holds, fast
    store._redis = Redis(host="127.0.0.1", port=1, socket_timeout=0.2, socket_connect_timeout=0.2)
    assert store.current() is held
    assert any("keeping version" in e for e in events)


def test_store_refuses_a_snapshot_of_another_format(conn, redis_client):
    demo.load(conn)
    version = publish(conn, redis_client, published_by="test").version
    key = contract.snapshot_key(version)
    meta = json.loads(redis_client.hget(key, "meta"))
    redis_client.hset(key, "meta", json.dumps(meta | {"format": 999}))
    events = []
    store = SnapshotStore(redis_client, on_event=events.append)
    assert store.current() is None
    assert any("format 999" in e for e in events)


def test_rates_closed_before_publish_are_not_shipped(conn, redis_client):
    from datetime import UTC, datetime

    with conn.transaction():
        tariff_id = catalog.tariff(
            conn,
            "t",
            [
                RateRow("44", D("0.01")),
                RateRow("447", D("0.02"), effective_to=datetime(2001, 1, 1, tzinfo=UTC)),
            ],
        )
        company_id = catalog.company(conn, "c", customer=True)
        catalog.originator(conn, company_id, "o", tariff_id, None, ["10.0.0.1/32"])
    publication = publish(conn, redis_client, published_by="test")
    assert publication.rates == 1
