from collections import Counter
from decimal import Decimal as D

from kemi.lcr import STRATEGIES, Candidate
from kemi.rates import Rate, money_units
from kemi.snapshot import PlanEntry, Terminator


def candidate(tid, rate, priority=100, weight=100, position=0):
    terminator = Terminator(tid, f"t{tid}", 1, True, 1, "", (), (), None, None)
    return Candidate(
        terminator,
        PlanEntry(tid, priority, weight),
        position,
        Rate("44", money_units(D(rate)), 1, 1, 0),
    )


def order(name, candidates, seed="call"):
    return [c.terminator.id for c in STRATEGIES[name](candidates, seed)]


def test_least_cost_breaks_ties_by_priority_then_id():
    candidates = [
        candidate(3, "0.01"),
        candidate(1, "0.02"),
        candidate(2, "0.01", priority=50),
        candidate(4, "0.01"),
    ]
    assert order("least_cost", candidates) == [2, 3, 4, 1]


def test_priority_then_cost_then_id():
    candidates = [
        candidate(1, "0.01", priority=20),
        candidate(2, "0.03", priority=10),
        candidate(3, "0.02", priority=10),
        candidate(4, "0.02", priority=10),
    ]
    assert order("priority", candidates) == [3, 4, 2, 1]


def test_static_keeps_the_plan_order():
    candidates = [
        candidate(1, "0.01", position=2),
        candidate(2, "0.03", position=0),
        candidate(3, "0.02", position=1),
    ]
    assert order("static", candidates) == [2, 3, 1]


def test_weight_is_stable_per_call_and_shares_calls_by_weight():
    candidates = [
        candidate(1, "0.01", weight=300),
        candidate(2, "0.01", weight=100),
        candidate(3, "0.01", weight=0),
    ]
    assert order("weight", candidates, "abc") == order("weight", candidates, "abc")
    firsts = Counter(order("weight", candidates, f"call-{n}")[0] for n in range(4000))
    assert firsts[3] == 0  # zero weight never comes first while others are left
    assert 2.6 < firsts[1] / firsts[2] < 3.4  # 3:1 by weight
    assert all(order("weight", candidates, f"c{n}")[-1] == 3 for n in range(50))


def test_every_strategy_is_deterministic_on_equal_candidates():
    candidates = [candidate(2, "0.01"), candidate(1, "0.01")]
    for name in STRATEGIES:
        assert order(name, candidates) == order(name, list(reversed(candidates)))
