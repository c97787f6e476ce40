"""The limits library (kemi.limits.LIBRARY) in the real Redis: CPS and concurrency counted per
trunk, vendors skipped in route order, failover slots, releases, and a dead node's slots purged
once its alive key expires. The e2e tests (tests/e2e/test_limits.py) drive it through Kamailio;
these pin each answer of the Lua down."""

from __future__ import annotations

import time

import pytest
from redis import Redis

from kemi import limits

ALIVE_MS = 10_000


@pytest.fixture
def redis(redis_client: Redis) -> Redis:
    redis_client.function_load(limits.LIBRARY, replace=True)
    return redis_client


def setup(redis: Redis, call: str, originator: str, *vendors: str, **options):
    """akira_setup; options: node, alive_ms, credit (a credit part, kemi.limits.credit_of)."""
    node, alive_ms = options.get("node", "node-a"), options.get("alive_ms", ALIVE_MS)
    member, credit = limits.member(call), options.get("credit", "")
    argument = limits.setup_argument(node, alive_ms, member, credit, originator, list(vendors))
    return limits.parse_setup(redis.fcall("akira_setup", 0, argument).decode())


def release(redis: Redis, call: str, *trunks: str, node="node-a") -> None:
    record = limits.release_record(node, limits.member(call), list(trunks))
    redis.fcall("akira_release", 0, record.removeprefix("R "))


def test_originator_concurrency_is_counted_and_released(redis):
    acme = limits.limits_of("o", 1, None, 2)
    assert setup(redis, "c1", acme).originator_over is None
    assert setup(redis, "c2", acme).originator_over is None
    assert setup(redis, "c3", acme).originator_over == "concurrency-limit"
    release(redis, "c1", "o1")
    release(redis, "c1", "o1")  # a repeated release is harmless
    assert setup(redis, "c4", acme).originator_over is None
    assert setup(redis, "c5", acme).originator_over == "concurrency-limit"


def test_cps_counts_calls_per_second_of_the_redis_clock(redis):
    acme = limits.limits_of("o", 1, 3, None)
    for _ in range(5):  # all within one Redis second, or try again in the next
        second = redis.time()[0]
        answers = [setup(redis, f"c{i}", acme).originator_over for i in range(4)]
        if redis.time()[0] == second:
            break
        time.sleep(0.1)
    assert answers == [None, None, None, "cps-limit"]
    while redis.time()[0] == second:
        time.sleep(0.05)
    assert setup(redis, "next-second", acme).originator_over is None


def test_a_refused_call_counts_nowhere(redis):
    """The originator over its CPS: no vendor slot is taken for the refused call."""
    acme = limits.limits_of("o", 1, 1, None)
    cheap = limits.limits_of("t", 7, None, 1)
    for _ in range(5):
        second = redis.time()[0]
        first, refused = setup(redis, "c1", acme, cheap), setup(redis, "c2", acme, cheap)
        if redis.time()[0] == second:
            break
        release(redis, "c1", "o1", "t7")
        time.sleep(0.1)
    assert (first.taken, refused.originator_over, refused.taken) == (7, "cps-limit", None)
    assert redis.scard("akira:slots:t7:node-a") == 1


def test_full_vendors_are_skipped_in_route_order(redis):
    cheap, mid = limits.limits_of("t", 7, None, 1), limits.limits_of("t", 8, None, 1)
    assert setup(redis, "c1", "", cheap, mid) == limits.SetupAnswer(None, 7, {})
    assert setup(redis, "c2", "", cheap, mid) == limits.SetupAnswer(
        None, 8, {7: "concurrency-limit"}
    )
    assert setup(redis, "c3", "", cheap, mid) == limits.SetupAnswer(
        None, None, {7: "concurrency-limit", 8: "concurrency-limit"}
    )


def test_an_unlimited_vendor_takes_the_call_without_counting(redis):
    cheap = limits.limits_of("t", 7, None, 1)
    setup(redis, "c1", "", cheap)
    # the next vendor has no limits (""): it takes the call, nothing more is counted
    assert setup(redis, "c2", "", cheap, "", cheap) == limits.SetupAnswer(
        None, None, {7: "concurrency-limit"}
    )
    assert redis.scard("akira:slots:t7:node-a") == 1


def test_a_failover_moves_the_slot_to_the_next_vendor(redis):
    cheap, mid = limits.limits_of("t", 7, None, 1), limits.limits_of("t", 8, None, 1)
    assert setup(redis, "c1", "", cheap, mid).taken == 7
    argument = limits.attempt_argument("node-a", ALIVE_MS, limits.member("c1"), "t7", mid)
    assert redis.fcall("akira_attempt", 0, argument) == b""
    assert redis.smembers("akira:slots:t7:node-a") == set()
    assert redis.smembers("akira:slots:t8:node-a") == {limits.member("c1").encode()}
    # mid is full now: the next failover there is refused with its reason
    argument = limits.attempt_argument("node-a", ALIVE_MS, limits.member("c2"), "", mid)
    assert redis.fcall("akira_attempt", 0, argument) == b"concurrency"


def test_a_dead_nodes_slots_are_purged_when_its_alive_key_expires(redis):
    acme = limits.limits_of("o", 1, None, 1)
    assert setup(redis, "c1", acme, node="doomed", alive_ms=300).originator_over is None
    assert setup(redis, "c2", acme, node="node-b").originator_over == "concurrency-limit"
    time.sleep(0.4)  # nobody renews doomed's key: it dies with its node
    assert setup(redis, "c3", acme, node="node-b").originator_over is None
    assert not redis.exists("akira:slots:o1:doomed")
    assert redis.smembers("akira:inc:o1") == {b"node-b"}


def test_a_living_node_keeps_its_slots_when_redis_lost_the_alive_key(redis):
    """A node that asks is alive: its own setup recreates its key, its slots stay counted."""
    acme = limits.limits_of("o", 1, None, 2)
    setup(redis, "c1", acme)
    redis.delete("akira:alive:node-a")
    assert setup(redis, "c2", acme).originator_over is None
    assert setup(redis, "c3", acme).originator_over == "concurrency-limit"
