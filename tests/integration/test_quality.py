"""Quality routing's table, computed from the CDR rollups (issue 10 part 5): CDR events go
through the real rater (rollups by the cdrs trigger), ``akira quality publish``'s function sums
the minute rollup of the window per terminator and customer prefix, and a node's snapshot sync
installs the table its workers map and judge vendors with."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from admin import catalog, services
from admin import routing_settings as rs
from admin.publisher import compile_routing
from admin.quality import publish_quality
from admin.rater import Rater
from admin.services.routing_plans import ROUTING_PLANS
from kemi import contract
from kemi.bus import RedisStreamBus
from kemi.quality import Measured, Thresholds, judge
from kemi.snapshot_files import installed_quality
from kemi.snapshot_sync import SnapshotSync
from kemi.store import SnapshotStore
from tests.integration.test_rater import T0, event, run_until, send

pytestmark = pytest.mark.integration

MINUTE = 60_000
NOW = datetime.fromtimestamp((T0 + 5 * MINUTE) / 1000, UTC)


def attempt(call_id, terminator_id, code, *, at=T0, prefix="447", talk_ms=61_500):
    """One vendor attempt starting at ``at`` + 10 ms: answered after 1.99 s (code 200) or
    failed with ``code`` after 490 ms."""
    answered = at + 2_000 if code == 200 else None
    ended = answered + talk_ms if answered else at + 500
    return event(
        call_id=call_id, code=code, answered=answered, ended=ended, call_started_ms=at,
        started_ms=at + 10, terminator_id=terminator_id, customer_prefix=prefix,
        reason="caller-cancel" if code == 487 else "vendor-reply",
    )  # fmt: skip


@pytest.fixture
def rated(autocommit_conn, redis_client):
    bus = RedisStreamBus(redis_client, consumer="quality-test")
    rater = Rater(autocommit_conn, redis_client, "quality-test", bus=bus, log=lambda m: None)
    rater.setup()

    def rate(*events):
        send(bus, *events)
        assert run_until(rater, len(events)) == len(events)

    return rate


def test_quality_is_summed_from_the_rollups_per_vendor_and_destination(
    rated, conn, redis_client, tmp_path
):
    rated(
        # vendor 3 to 447: 2 answered, 7 refused (503), 1 cancelled by the caller (not judged)
        *(attempt(f"a{i}", 3, 200) for i in range(2)),
        *(attempt(f"f{i}", 3, 503) for i in range(7)),
        attempt("cancel", 3, 487),
        # vendor 3 to 44, a destination of its own; vendor 4 to 447, in a later minute
        attempt("uk", 3, 200, prefix="44"),
        *(attempt(f"b{i}", 4, 200, at=T0 + 2 * MINUTE) for i in range(3)),
        # before the window (60 minutes to NOW's minute): not counted
        attempt("old", 3, 200, at=T0 - 90 * MINUTE),
    )
    publication = publish_quality(
        conn, redis_client, window_minutes=60, interval_seconds=60, now=NOW
    )
    assert (publication.entries, publication.terminators) == (3, 2)
    assert publication.expires_at == NOW.timestamp() + 300

    node_dir = str(tmp_path / "node")
    SnapshotSync(redis_client, node_dir, node="n1").poll()  # as the node's timer does
    assert installed_quality(node_dir) == publication.digest
    store = SnapshotStore(node_dir)
    store.refresh()
    table = store.quality
    assert table is not None and table.digest == publication.digest
    assert table.measured(3, "447") == Measured(
        attempts=9, answered=2, talk_ms=2 * 61_500, pdd_ms=2 * 1_990 + 7 * 490
    )
    assert table.measured(3, "44") == Measured(1, 1, 61_500, 1_990)
    assert table.measured(4, "447") == Measured(3, 3, 3 * 61_500, 3 * 1_990)
    assert table.measured(4, "44") is None

    # what a plan asking for 50 % ASR over at least 5 attempts makes of them
    thresholds = Thresholds(min_attempts=5, min_asr=5000, min_acd=None, max_pdd_ms=None)
    assert judge(thresholds, table.measured(3, "447")) == "asr 22.22% < 50% over 9 attempts"
    assert judge(thresholds, table.measured(4, "447")) is None  # 3 attempts: not judged


def test_a_new_table_replaces_the_one_in_force_without_a_snapshot_publish(
    rated, conn, redis_client, tmp_path
):
    node_dir = str(tmp_path / "node")
    sync = SnapshotSync(redis_client, node_dir, node="n1")
    rated(attempt("first", 3, 503))
    first = publish_quality(conn, redis_client, window_minutes=60, interval_seconds=60, now=NOW)
    sync.poll()
    rated(attempt("second", 3, 200))
    second = publish_quality(conn, redis_client, window_minutes=60, interval_seconds=60, now=NOW)
    assert second.digest != first.digest
    sync.poll()
    store = SnapshotStore(node_dir)
    store.refresh()
    assert store.quality.measured(3, "447") == Measured(2, 1, 61_500, 490 + 1_990)
    assert redis_client.get(contract.SNAPSHOT_POINTER) is None  # no catalog was published
    assert 0 < redis_client.ttl(contract.quality_key(second.digest)) <= 3600


def test_a_plans_thresholds_reach_the_engine_as_integers(conn):
    with conn.transaction():
        plan_id = catalog.routing_plan(conn, "Quality", [])
        rs.update(
            conn,
            "routing_plans",
            plan_id,
            {
                "strategy": "quality_then_cost",
                "quality_min_attempts": "15",
                "quality_min_asr": "37.5",
                "quality_max_pdd": "4.25",
                "quality_drop": "yes",
            },
        )
    (plan,) = compile_routing(conn)["routing_plans"]
    assert plan.strategy == "quality_then_cost"
    assert plan.quality_thresholds == Thresholds(15, 3750, None, 4250)
    assert plan.quality_drop
    with pytest.raises(rs.SettingError):
        rs.update(conn, "routing_plans", plan_id, {"quality_min_asr": "100.5"})
    with pytest.raises(rs.SettingError):
        rs.update(conn, "routing_plans", plan_id, {"quality_max_pdd": "1.0005"})


def test_the_admins_plan_form_writes_the_thresholds(conn):
    actor = services.Actor("olga", request_id="req-q")
    fields = {"name": "Q", "strategy": "quality_then_cost", "hunt_stop_codes": "404,486"}
    fields |= {"quality_min_asr": "40", "quality_max_pdd": "3.5", "quality_drop": "on"}
    plan_id = services.create(
        conn, ROUTING_PLANS, services.parse_form(ROUTING_PLANS, fields), actor
    )
    row = services.get(conn, ROUTING_PLANS, plan_id)
    assert (row["quality_min_attempts"], row["quality_min_asr"], row["quality_min_acd"]) == (
        20,
        D("40.00"),
        None,
    )
    assert (row["quality_max_pdd"], row["quality_drop"]) == (D("3.500"), True)
    with pytest.raises(services.ServiceError, match="quality_min_asr"):
        services.parse_form(ROUTING_PLANS, fields | {"quality_min_asr": "101"})


def test_a_missing_quality_file_never_holds_up_the_snapshot_sync(redis_client, tmp_path):
    redis_client.set(contract.QUALITY_POINTER, "f" * 64)  # its file expired, say
    events: list[str] = []
    sync = SnapshotSync(redis_client, str(tmp_path), node="n1", on_event=events.append)
    sync.poll()
    assert redis_client.hexists(contract.NODES, "n1")  # the node still reported
    (event,) = events
    assert event.startswith("akira: quality table sync on n1 failed: SyncError('quality table f")
    assert installed_quality(str(tmp_path)) is None
