"""Route-ordering strategies: a name -> function registry (after CGRateS' route sorters).

Each strategy orders the kept candidates of one call. Every key ends with the terminator id, so
equal candidates always come out in the same order (deterministic tie-break). A routing plan
naming a strategy that is not here is refused at publish (admin.publisher), never replaced.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import NamedTuple

from kemi.rates import Rate
from kemi.snapshot import PlanEntry, Terminator


class Candidate(NamedTuple):  # a tuple: made for every vendor of every call
    terminator: Terminator
    entry: PlanEntry
    position: int  # order of the entry in the routing plan
    rate: Rate  # the vendor's rate for this number (money in 1e-8 units)
    demoted: bool = False  # its quality is under the plan's thresholds (kemi.quality.judge)


Strategy = Callable[[list[Candidate], str], list[Candidate]]
STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str) -> Callable[[Strategy], Strategy]:
    def register(function: Strategy) -> Strategy:
        STRATEGIES[name] = function
        return function

    return register


@strategy("least_cost")
def least_cost(candidates: list[Candidate], seed: str) -> list[Candidate]:
    """Cheapest vendor rate first; then plan priority (lower first); then terminator id."""
    return sorted(candidates, key=lambda c: (c.rate.rate, c.entry.priority, c.terminator.id))


@strategy("priority")
def by_priority(candidates: list[Candidate], seed: str) -> list[Candidate]:
    """Plan priority first (lower first); equal priorities by cost; then terminator id."""
    return sorted(candidates, key=lambda c: (c.entry.priority, c.rate.rate, c.terminator.id))


@strategy("static")
def static(candidates: list[Candidate], seed: str) -> list[Candidate]:
    """Exactly the order of the routing plan."""
    return sorted(candidates, key=lambda c: (c.position, c.terminator.id))


@strategy("weight")
def by_weight(candidates: list[Candidate], seed: str) -> list[Candidate]:
    """Weighted share of calls, stable per call: weighted rendezvous hashing on the Call-ID.

    A terminator with twice the weight comes first for twice as many calls; the same Call-ID
    always gives the same order, so a retransmitted or simulated call is routed identically.
    Zero-weight entries go last, by id.
    """

    def score(candidate: Candidate) -> float:
        if candidate.entry.weight <= 0:
            return 0.0
        digest = hashlib.blake2b(
            f"{seed}:{candidate.terminator.id}".encode(), digest_size=8
        ).digest()
        uniform = (int.from_bytes(digest, "big") + 1) / (2**64 + 2)  # strictly inside (0, 1)
        return candidate.entry.weight / -math.log(uniform)

    return sorted(candidates, key=lambda c: (-score(c), c.terminator.id))


@strategy("quality_then_cost")
def quality_then_cost(candidates: list[Candidate], seed: str) -> list[Candidate]:
    """Vendors whose quality meets the plan's thresholds (or that have too few attempts to be
    judged) first, those under them after; each group cheapest first, then plan priority, then
    terminator id. The route stage judges (kemi.stages); only this strategy asks it to."""
    return sorted(
        candidates, key=lambda c: (c.demoted, c.rate.rate, c.entry.priority, c.terminator.id)
    )
