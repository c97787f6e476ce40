"""Quality routing, purely: the thresholds' judge, the quality table's encoding and lookup,
the quality_then_cost strategy, and the route stage that demotes or drops a vendor with the
reason in the trace (docs/engine.md, Quality routing)."""

from __future__ import annotations

import os

import pytest

from kemi import contract, quality
from kemi.explain import explain
from kemi.lcr import STRATEGIES
from kemi.pipeline import decide
from kemi.quality import Measured, QualityRow, QualityTable, Thresholds, judge
from kemi.request import CallRequest
from kemi.snapshot import Override
from kemi.snapshot_files import install_quality, installed_quality, write_atomic
from kemi.stages import DROP_QUALITY
from tests.unit import snapshots as s
from tests.unit.test_decision import route, standard

NOW = 1_000  # the calls of test_decision.route are at epoch 1000 s


def table(tmp_path, rows, *, expires_at=NOW + 300.0) -> QualityTable:
    path = str(tmp_path / "quality")
    parts = quality.encode(rows, computed_at=NOW - 1.0, window_seconds=3600, expires_at=expires_at)
    write_atomic(path, parts)
    return QualityTable(path, "digest")


# --- the judge --------------------------------------------------------------------------------

ASR_50 = Thresholds(min_attempts=10, min_asr=5000, min_acd=None, max_pdd_ms=None)
ACD_30 = Thresholds(min_attempts=10, min_asr=None, min_acd=30, max_pdd_ms=None)
PDD_4 = Thresholds(min_attempts=10, min_asr=None, min_acd=None, max_pdd_ms=4000)


@pytest.mark.parametrize(
    ("thresholds", "measured", "verdict"),
    [
        (ASR_50, None, None),  # no traffic there: not judged
        (ASR_50, Measured(9, 0, 0, 0), None),  # too few attempts: not judged
        (ASR_50, Measured(10, 5, 600_000, 20_000), None),  # exactly 50 %: meets it
        (ASR_50, Measured(10, 4, 600_000, 20_000), "asr 40% < 50% over 10 attempts"),
        (ASR_50, Measured(30, 1, 60_000, 0), "asr 3.33% < 50% over 30 attempts"),
        (ACD_30, Measured(10, 10, 300_000, 0), None),  # 30 s average: meets it
        (ACD_30, Measured(10, 10, 299_999, 0), "acd 29s < 30s over 10 answered"),
        (ACD_30, Measured(10, 0, 0, 0), "acd 0s < 30s over 0 answered"),
        (PDD_4, Measured(10, 5, 0, 40_000), None),  # 4 s average: meets it
        (PDD_4, Measured(10, 5, 0, 45_500), "pdd 4.55s > 4s over 10 attempts"),
    ],
)
def test_judge_compares_sums_with_the_plans_thresholds(thresholds, measured, verdict):
    assert judge(thresholds, measured) == verdict


def test_judge_without_thresholds_passes_everyone():
    assert judge(Thresholds(1, None, None, None), Measured(100, 0, 0, 10**9)) is None


# --- the table ----------------------------------------------------------------------------------


def test_table_answers_one_vendor_and_prefix_exactly(tmp_path):
    rows = [
        QualityRow(12, "44", Measured(40, 4, 1000, 2000)),
        QualityRow(12, "4420", Measured(5, 5, 10, 20)),
        QualityRow(11, "44", Measured(30, 20, 3000, 4000)),
        QualityRow(11, "044", Measured(7, 1, 1, 1)),  # a leading zero is its own prefix
        QualityRow(13, "1" * 19, Measured(9, 9, 9, 9)),  # too long to hold: left out
        QualityRow(13, "33", Measured(0, 0, 0, 0)),  # no attempts: left out
    ]
    found = table(tmp_path, rows)
    assert found.measured(12, "44") == Measured(40, 4, 1000, 2000)
    assert found.measured(12, "4420") == Measured(5, 5, 10, 20)
    assert found.measured(11, "44") == Measured(30, 20, 3000, 4000)
    assert found.measured(11, "044") == Measured(7, 1, 1, 1)
    assert found.measured(11, "4420") is None  # another prefix is another destination
    assert found.measured(12, "442") is None
    assert found.measured(13, "33") is None
    assert found.measured(99, "44") is None
    assert found.measured(12, "4x") is None
    assert [(r.terminator_id, r.prefix) for r in found.rows()] == [
        (11, "44"),  # by code: "144" before "1044"
        (11, "044"),
        (12, "44"),
        (12, "4420"),
    ]
    assert (found.expires_at, found.window_seconds) == (NOW + 300.0, 3600)


def test_an_empty_table_answers_nothing(tmp_path):
    assert table(tmp_path, []).measured(1, "44") is None


# --- the strategy -------------------------------------------------------------------------------


def test_quality_then_cost_puts_demoted_vendors_after_the_others_each_by_cost():
    snapshot = standard()
    candidates = route(snapshot, "441234567890").routes  # B 0.0090, A 0.0100, C 0.0120
    demoted = [c._replace(demoted=c.terminator.id in (2, 3)) for c in candidates]
    ordered = STRATEGIES["quality_then_cost"](demoted, "seed")
    assert [(c.terminator.id, c.demoted) for c in ordered] == [(1, False), (2, True), (3, True)]


# --- the route stage ----------------------------------------------------------------------------

BAD_B = [
    QualityRow(2, "44", Measured(40, 4, 240_000, 80_000)),  # B: ASR 10 %
    QualityRow(1, "44", Measured(40, 30, 2_400_000, 80_000)),  # A: ASR 75 %
]


def quality_plan(**thresholds):
    settings = {"quality_min_attempts": 10, "quality_min_asr": 5000} | thresholds
    return standard(plans=[s.plan(1, [1, 2, 3], "quality_then_cost", **settings)])


def test_a_vendor_under_the_thresholds_is_demoted_with_the_reason_in_the_trace(tmp_path):
    call = route_with(quality_plan(), table(tmp_path, BAD_B))
    assert [c.terminator.id for c in call.routes] == [1, 3, 2]  # B, the cheapest, goes last
    assert "quality demotes 2 on 44: asr 10% < 50% over 40 attempts" in call.trace
    assert call.dropped == []
    answer = explain(call)
    assert [(r["terminator_id"], r["demoted"]) for r in answer["routes"]] == [
        (1, False),
        (3, False),  # C has no traffic there: not judged, kept in cost order
        (2, True),
    ]
    assert "quality demotes 2" in call.compact_trace()


def test_a_plan_may_drop_a_vendor_under_the_thresholds_instead(tmp_path):
    call = route_with(quality_plan(quality_drop=True), table(tmp_path, BAD_B))
    assert [c.terminator.id for c in call.routes] == [1, 3]
    assert [(d.terminator_id, d.reason) for d in call.dropped] == [(2, DROP_QUALITY)]
    assert "quality drops 2 on 44: asr 10% < 50% over 40 attempts" in call.trace


def test_too_few_attempts_are_not_judged(tmp_path):
    call = route_with(quality_plan(quality_min_attempts=41), table(tmp_path, BAD_B))
    assert [c.terminator.id for c in call.routes] == [2, 1, 3]  # least cost
    assert not any(line.startswith("quality") for line in call.trace)


@pytest.mark.parametrize("expires_at", [None, NOW])
def test_without_a_current_table_nobody_is_judged(tmp_path, expires_at):
    found = None if expires_at is None else table(tmp_path, BAD_B, expires_at=expires_at)
    call = route_with(quality_plan(), found)
    assert [c.terminator.id for c in call.routes] == [2, 1, 3]
    assert "quality not judged: no current quality table" in call.trace


def test_other_strategies_and_overrides_never_read_quality(tmp_path):
    found = table(tmp_path, BAD_B)
    least_cost = standard(plans=[s.plan(1, [1, 2, 3], quality_min_asr=5000)])
    call = route_with(least_cost, found)
    assert [c.terminator.id for c in call.routes] == [2, 1, 3]
    assert not any(line.startswith("quality") for line in call.trace)
    overridden = quality_plan(overrides=(Override("44", (2, 1)),))
    call = route_with(overridden, found)
    assert [c.terminator.id for c in call.routes] == [2, 1]
    assert not any(line.startswith("quality") for line in call.trace)


def route_with(snapshot, found):
    request = CallRequest(
        "c1", "10.0.0.1", 5060, "udp", "441234567890", "caller", "tag", NOW * 1000
    )
    return decide(snapshot, request, frozenset(), found)


def test_a_node_keeps_the_table_in_force_and_the_one_before(tmp_path):
    directory = str(tmp_path)
    for number, digest in enumerate(("a" * 64, "b" * 64, "c" * 64)):
        path = contract.quality_path(directory, digest)
        write_atomic(path, [b"table"])
        os.utime(path, (number, number))  # in publication order
        install_quality(directory, digest)
    assert installed_quality(directory) == "c" * 64
    assert sorted(os.listdir(tmp_path / "quality")) == ["b" * 64, "c" * 64, "current"]
