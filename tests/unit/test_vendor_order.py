"""The engine's vendor order against a brute-force reference, over random decks, routing plans,
vendor health and limits (issue: routing completeness, property tests).

The reference is written from the documented rules (docs/engine.md "Choosing vendors"), with
Decimal money and plain loops, not from the engine's code: each vendor's own longest prefix
gives its rate; disabled, unhealthy, loss-making or under-margin vendors are dropped; the
plan's strategy (or a prefix override, in its own order) sorts the rest; vendors over their
limits are skipped; at most max_attempts are tried.
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kemi.pipeline import apply_capacity, decide
from kemi.request import CallRequest
from kemi.snapshot import Override, PlanEntry
from tests.unit import snapshots as s

CUSTOMER = 1
VENDORS = range(1, 6)  # terminator t rates with tariff 10 + t
DIGITS = "123"  # a small alphabet, so prefixes of the decks and the numbers meet often

prefixes = st.text(DIGITS, min_size=1, max_size=4)
rates = st.decimals(D("0.0001"), D("0.0400"), places=4)


def deck(price=rates, base=0):
    """Mostly covering: rates for (at least ``base``) first digits, longer prefixes over them."""
    return st.builds(
        lambda first, more: first | more,
        st.dictionaries(st.sampled_from(DIGITS), price, min_size=base, max_size=3),
        st.dictionaries(prefixes, price, max_size=6),
    ).filter(bool)


@st.composite
def worlds(draw):
    vendors = draw(st.lists(st.sampled_from(VENDORS), min_size=2, max_size=5, unique=True))
    return {
        "customer": draw(deck(st.decimals(D("0.0100"), D("0.0600"), places=4), base=3)),
        "decks": {t: draw(deck()) for t in vendors},
        "entries": [(t, draw(st.integers(1, 3))) for t in vendors],  # (terminator, priority)
        "disabled": draw(st.sets(st.sampled_from(vendors), max_size=1)),
        "down": draw(st.sets(st.sampled_from(vendors), max_size=1)),
        "over": draw(st.dictionaries(st.sampled_from(vendors), limit_reasons, max_size=1)),
        "strategy": draw(st.sampled_from(["least_cost", "priority", "static"])),
        "allow_loss": draw(st.booleans()),
        "margin_percent": draw(st.none() | st.decimals(D("0"), D("50"), places=2)),
        "max_attempts": draw(st.integers(1, 8)),
        "override": draw(
            st.none() | st.tuples(prefixes, st.lists(st.sampled_from(VENDORS), unique=True))
        ),
        "blocked": draw(st.sets(st.text(DIGITS, min_size=3, max_size=4), max_size=1)),
        "number": draw(st.text(DIGITS, min_size=5, max_size=10)),
    }


limit_reasons = st.sampled_from(["cps-limit", "concurrency-limit"])


def gateway_key(terminator_id: int) -> str:
    return f"192.0.2.1:{5060 + terminator_id}:udp"


def engine(world) -> tuple[str | None, list[int]]:
    plan = s.plan(
        1,
        [],
        strategy=world["strategy"],
        entries=tuple(PlanEntry(t, priority, 100) for t, priority in world["entries"]),
        allow_loss=world["allow_loss"],
        min_margin_percent=None
        if world["margin_percent"] is None
        else int(world["margin_percent"] * 10_000),
        max_attempts=world["max_attempts"],
        overrides=() if world["override"] is None else (Override(*world["override"]),),
        blocked=frozenset(world["blocked"]),
    )
    snapshot = s.build(
        tariffs=[
            s.tariff(CUSTOMER, world["customer"]),
            *(s.tariff(10 + t, rates) for t, rates in world["decks"].items()),
        ],
        originators=[s.originator(1, CUSTOMER, min_digits=1)],
        terminators=[
            s.terminator(t, 10 + t, enabled=t not in world["disabled"]) for t in world["decks"]
        ],
        plans=[plan],
        devices=[("10.0.0.1/32", None, None, 1)],
    )
    request = CallRequest("c1", "10.0.0.1", 5060, "udp", world["number"], "caller", "tag", 0)
    down = frozenset(gateway_key(t) for t in world["down"])
    call = decide(snapshot, request, down)
    if call.reason is None:
        apply_capacity(call, None, world["over"])
    if call.reason is not None:
        return call.reason, []
    return None, [target.terminator_id for target in call.targets()]


def longest(rates: dict[str, D], number: str) -> D | None:
    matches = [prefix for prefix in rates if number.startswith(prefix)]
    return rates[max(matches, key=len)] if matches else None


def reference(world) -> tuple[str | None, list[int]]:
    number = world["number"]
    customer = longest(world["customer"], number)
    if customer is None:  # the rate stage comes before the route stage's blocked prefixes
        return "no-customer-rate", []
    if any(number.startswith(prefix) for prefix in world["blocked"]):
        return "blocked-destination", []
    order = [t for t, _ in world["entries"]]
    priority = dict(world["entries"])
    strategy = world["strategy"]
    override = world["override"]
    if override is not None and number.startswith(override[0]):
        order = [t for t in override[1] if t in priority]
        strategy = "static"
    kept = []
    for position, t in enumerate(order):
        rate = longest(world["decks"][t], number)
        if rate is None or t in world["disabled"] or t in world["down"]:
            continue
        margin = customer - rate
        if not world["allow_loss"]:
            if margin < 0:
                continue
            percent = world["margin_percent"]
            if percent is not None and margin * 100 < customer * percent:
                continue
        kept.append((t, rate, position))
    sort_key = {
        "least_cost": lambda k: (k[1], priority[k[0]], k[0]),
        "priority": lambda k: (priority[k[0]], k[1], k[0]),
        "static": lambda k: (k[2], k[0]),
    }[strategy]
    chosen = [t for t, _, _ in sorted(kept, key=sort_key) if t not in world["over"]]
    if not chosen:
        return "no-vendor", []
    return None, chosen[: world["max_attempts"]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_the_engine_orders_vendors_as_the_reference_does(world):
    assert engine(world) == reference(world)
