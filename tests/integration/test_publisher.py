"""Publisher -> Redis -> a node's snapshot sync -> the engine's store, on real PostgreSQL/Redis."""

import json
import os
import threading
import time
import zlib
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from admin import catalog, demo
from admin.catalog import RateRow
from admin.publisher import PublishError, publish
from kemi import contract
from kemi.rates import money_units
from kemi.snapshot import manifest_files
from kemi.snapshot_files import installed_version
from kemi.snapshot_sync import SnapshotSync
from kemi.store import SnapshotStore

pytestmark = pytest.mark.integration


@pytest.fixture
def dirs(tmp_path):
    """The admin's snapshot directory and a node's, apart, as on two hosts."""
    return str(tmp_path / "admin"), str(tmp_path / "node")


def publish_now(conn, redis_client, admin_dir, node_wait=0.0):
    """Tests that poll a node themselves, after the publish, cannot let it wait for that node."""
    return publish(
        conn, redis_client, published_by="test", snapshot_dir=admin_dir, node_wait=node_wait
    )


def test_publish_compiles_uploads_and_a_node_installs_it(conn, redis_client, dirs):
    admin_dir, node_dir = dirs
    demo.load(conn)
    publication = publish_now(conn, redis_client, admin_dir)
    assert int(redis_client.get(contract.SNAPSHOT_POINTER)) == publication.version
    assert (publication.originators, publication.terminators, publication.tariffs) == (2, 3, 5)
    assert publication.rates == 29
    # two customer tariff files and the route table of the one plan of the three vendors
    assert publication.compiled_tariffs == publication.uploaded_tariffs == 3
    assert installed_version(admin_dir) == publication.version  # `akira simulate` maps it here

    SnapshotSync(redis_client, node_dir, node="n1").poll()
    assert installed_version(node_dir) == publication.version
    snapshot = SnapshotStore(node_dir).current()
    assert snapshot.version == publication.version
    assert {o.name for o in snapshot.originators.values()} == {"acme", "globex"}
    recorded = conn.execute("SELECT version, published_by FROM snapshot_publications").fetchall()
    assert recorded == [(publication.version, "test")]


def test_unchanged_tariffs_are_neither_compiled_nor_fetched_nor_remapped(conn, redis_client, dirs):
    admin_dir, node_dir = dirs
    demo.load(conn)
    publish_now(conn, redis_client, admin_dir)
    sync = SnapshotSync(redis_client, node_dir, node="n1")
    sync.poll()
    store = SnapshotStore(node_dir, check_interval=0)
    first = store.current()

    with conn.transaction():  # change one vendor's deck only
        alpha = conn.execute("SELECT tariff_id FROM terminators WHERE name = 'alpha'").fetchone()[0]
        conn.execute(
            "UPDATE rates SET rate = 0.0001 WHERE tariff_id = %s AND prefix = '44'", (alpha,)
        )
    second_publication = publish_now(conn, redis_client, admin_dir)
    # the plan's route table is compiled again; the customers' tariff files are not
    assert (second_publication.compiled_tariffs, second_publication.uploaded_tariffs) == (1, 1)
    sync.poll()
    second = store.current()
    assert second.version == second_publication.version
    (plan_id,) = second.route_tables
    table = second.route_tables[plan_id]
    assert table is not first.route_tables[plan_id]
    cheapest = next(iter(table.entries(b"4410", 2_000_000_000).values()))
    assert table.rate("4410", *cheapest).rate == money_units(D("0.0001"))
    customers = [t for t, tariff in first.tariffs.items() if tariff.rates is not None]
    assert customers and all(second.tariffs[t].rates is first.tariffs[t].rates for t in customers)


def test_a_live_node_has_the_files_before_the_pointer_moves(conn, redis_client, dirs):
    admin_dir, node_dir = dirs
    demo.load(conn)
    sync = SnapshotSync(redis_client, node_dir, node="n1")
    seen_before_flip = []
    stop = threading.Event()

    def node():
        while not stop.is_set():
            sync.poll()
            pending = redis_client.get(contract.SNAPSHOT_PENDING)
            if pending and redis_client.get(contract.SNAPSHOT_POINTER) != pending:
                seen_before_flip.append(
                    os.path.exists(contract.manifest_path(node_dir, int(pending)))
                )
            time.sleep(0.02)

    thread = threading.Thread(target=node)
    thread.start()
    try:
        time.sleep(0.1)  # the node has reported once
        publication = publish_now(conn, redis_client, admin_dir, node_wait=10)
    finally:
        stop.set()
        thread.join()
    assert publication.lagging_nodes == []
    assert os.path.exists(contract.manifest_path(node_dir, publication.version))


def test_a_node_that_does_not_fetch_in_time_is_named(conn, redis_client, dirs):
    admin_dir, _ = dirs
    demo.load(conn)
    state = {"prepared": None, "installed": None, "seen": time.time()}
    redis_client.hset(contract.NODES, "stuck", json.dumps(state))
    started = time.monotonic()
    publication = publish_now(conn, redis_client, admin_dir, node_wait=0.3)
    assert publication.lagging_nodes == ["stuck"]
    assert time.monotonic() - started < 5
    assert int(redis_client.get(contract.SNAPSHOT_POINTER)) == publication.version


def test_old_versions_and_unused_tariffs_are_removed(conn, redis_client, dirs):
    admin_dir, node_dir = dirs
    demo.load(conn)
    sync = SnapshotSync(redis_client, node_dir, node="n1")
    versions = []
    for n in range(contract.SNAPSHOT_KEEP + 2):
        with conn.transaction():
            conn.execute("UPDATE rates SET rate = %s WHERE prefix = '1'", (D("0.001") * (n + 1),))
        versions.append(publish_now(conn, redis_client, admin_dir).version)
        sync.poll()
    kept = sorted(int(v) for v in redis_client.zrange(contract.SNAPSHOT_VERSIONS, 0, -1))
    assert kept == versions[-contract.SNAPSHOT_KEEP :]
    assert not redis_client.exists(contract.snapshot_key(versions[0]))
    in_use = set()
    for version in kept:
        manifest = json.loads(
            zlib.decompress(redis_client.hget(contract.snapshot_key(version), "manifest"))
        )
        in_use |= manifest_files(manifest)
    stored = {d.decode() for d in redis_client.smembers(contract.FILE_DIGESTS)}
    assert stored == in_use
    on_node = set(os.listdir(os.path.join(node_dir, "files")))
    assert on_node == in_use
    assert sorted(int(n[:-5]) for n in os.listdir(os.path.join(node_dir, "versions"))) == kept


def test_versions_keep_rising_after_redis_lost_its_data(conn, redis_client, dirs):
    admin_dir, _ = dirs
    demo.load(conn)
    first = publish_now(conn, redis_client, admin_dir).version
    redis_client.delete(contract.SNAPSHOT_SEQ, contract.SNAPSHOT_POINTER)  # Redis restarted empty
    second = publish_now(conn, redis_client, admin_dir).version
    assert second > first


def test_pointer_never_moves_back(conn, redis_client, dirs):
    admin_dir, _ = dirs
    demo.load(conn)
    version = publish_now(conn, redis_client, admin_dir).version
    redis_client.set(contract.SNAPSHOT_POINTER, version + 100)  # a newer publish went live first
    publish_now(conn, redis_client, admin_dir)
    assert int(redis_client.get(contract.SNAPSHOT_POINTER)) == version + 100


def test_a_node_keeps_routing_from_its_files_when_redis_dies(conn, redis_client, dirs):
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    admin_dir, node_dir = dirs
    demo.load(conn)
    publish_now(conn, redis_client, admin_dir)
    events = []
    SnapshotSync(redis_client, node_dir, node="n1").poll()
    store = SnapshotStore(node_dir, check_interval=0, on_event=events.append)
    held = store.current()
    dead = Redis(host="127.0.0.1", port=1, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
    SnapshotSync(dead, node_dir, node="n1", on_event=events.append).poll()
    assert store.current() is held
    assert any("snapshot sync on n1 failed" in e for e in events)


def test_store_refuses_a_snapshot_of_another_format(conn, redis_client, dirs):
    admin_dir, _ = dirs
    demo.load(conn)
    version = publish_now(conn, redis_client, admin_dir).version
    path = contract.manifest_path(admin_dir, version)
    with open(path) as file:
        manifest = json.load(file)
    with open(path, "w") as file:
        json.dump(manifest | {"format": 999}, file)
    events = []
    store = SnapshotStore(admin_dir, on_event=events.append)
    assert store.current() is None
    assert any("format 999" in e for e in events)


def test_rates_closed_before_publish_are_not_shipped(conn, redis_client, dirs):
    admin_dir, _ = dirs
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
    publication = publish_now(conn, redis_client, admin_dir)
    assert publication.rates == 1


def test_an_unknown_strategy_is_refused_at_publish(conn, redis_client, dirs):
    admin_dir, _ = dirs
    demo.load(conn)
    conn.execute("ALTER TABLE routing_plans DROP CONSTRAINT routing_plans_strategy_check")
    conn.execute("UPDATE routing_plans SET strategy = 'cheapest_please'")
    with pytest.raises(PublishError, match="unknown strategy 'cheapest_please'"):
        publish_now(conn, redis_client, admin_dir)
    assert redis_client.get(contract.SNAPSHOT_POINTER) is None
