"""The stages of a call's decision (kemi.pipeline runs them in order; docs/engine.md).

Each stage reads the snapshot and the call so far, fills in its part of the call, notes what it
did in the call's trace, and returns None to go on or a reject slug to stop. No I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from kemi import normalize
from kemi.lcr import STRATEGIES, Candidate
from kemi.number_rules import apply_rules
from kemi.quality import judge
from kemi.rates import Rate, money_text
from kemi.route_table import RouteTableError
from kemi.snapshot import Originator, RoutingPlan, Snapshot, Terminator

if TYPE_CHECKING:
    from kemi.pipeline import Call


class Dropped(NamedTuple):
    """A vendor of the plan not used for this call, and why (its rate, if it has one)."""

    terminator_id: int
    name: str
    reason: str
    rate: Rate | None


# Why a terminator of the plan was not used for this call.
DROP_UNKNOWN = "unknown-terminator"
DROP_DISABLED = "disabled"
DROP_NO_RATE = "no-rate"
DROP_CURRENCY = "currency-mismatch"
DROP_LOSS = "dearer-than-customer-rate"
DROP_MARGIN = "below-minimum-margin"
DROP_NO_GATEWAY = "no-gateway"
DROP_UNHEALTHY = "unhealthy"
DROP_CPS = "cps-limit"
DROP_CONCURRENCY = "concurrency-limit"
DROP_ATTEMPTS = "attempts-exhausted"
DROP_QUALITY = "below-quality"

QUALITY_STRATEGY = "quality_then_cost"  # the strategy that judges vendors by their quality


def identify(snapshot: Snapshot, call: Call) -> str | None:
    """The originator. A device matches by source IP (exact or CIDR), port and transport, or by
    digest credentials the adapter has verified (coming from the device's network). Where
    several originators share a device, those whose header rule the request does not meet are
    out; the longest tech-prefix the dialed user starts with wins (an empty one matches
    everything); ties go to the lowest id. The tech-prefix is stripped."""
    request = call.request
    if request.auth_user is not None:
        device = snapshot.credentials.get(request.auth_user)
        devices = [device] if device is not None else []
        how = f"digest {request.auth_user}"
    else:
        devices = snapshot.devices_for(request.src_ip, request.src_port, request.transport)
        how = f"address {request.src_ip}"
    user = request.ruri_user
    best: Originator | None = None
    for device in devices:
        originator = snapshot.originators.get(device.originator_id)
        if originator is None or not user.startswith(originator.tech_prefix):
            continue
        if originator.match_header is not None and (
            request.headers.get(originator.match_header.lower()) != originator.match_value
        ):
            continue
        if best is None or (-len(originator.tech_prefix), originator.id) < (
            -len(best.tech_prefix),
            best.id,
        ):
            best = originator
    if best is None:
        return "unknown-originator"
    call.originator = best
    call.tariff = snapshot.tariffs[best.tariff_id]
    call.unprefixed = user[len(best.tech_prefix) :]
    call.trace.append(f"originator {best.id} by {how}")
    if best.tech_prefix:
        call.trace.append(f"tech-prefix {best.tech_prefix}")
    if not best.enabled:
        return "originator-disabled"
    return None


def validate(snapshot: Snapshot, call: Call) -> str | None:
    """What a dialog and a CDR need: a From tag (the dialog module matches on it) and a
    Call-ID as RFC 3261 allows it."""
    if not call.request.from_tag:
        return "missing-from-tag"
    if not call.request.call_id_ok:
        return "invalid-call-id"
    return None


def normalize_number(snapshot: Snapshot, call: Call) -> str | None:
    """The called number as E.164 digits: ``+``/``00`` dropped, then the originator's rules,
    then its digit range (3-32 unless the trunk says otherwise)."""
    originator = call.originator
    assert originator is not None
    number = normalize.strip_international(call.unprefixed)
    if originator.number_rules:
        rewritten = apply_rules(originator.number_rules, number)
        call.trace.append(f"number {number} -> {rewritten}")
        number = rewritten
    if not normalize.is_number(number, originator.min_digits, originator.max_digits):
        return "invalid-number"
    call.called = number
    return None


def caller_id(snapshot: Snapshot, call: Call) -> str | None:
    """The calling number: P-Asserted-Identity's user, else the From user; ``+``/``00``
    dropped, the originator's CLI rules applied. Empty or not a number: the originator's
    policy passes it as sent, replaces it, or refuses the call."""
    originator = call.originator
    assert originator is not None
    request = call.request
    sent = request.pai_user or request.from_user
    number = apply_rules(originator.cli_rules, normalize.strip_international(sent))
    if normalize.is_number(number, 1, normalize.MAX_DIGITS):
        call.caller, call.caller_valid = number, True
    elif originator.cli_policy == "replace":
        assert originator.cli_replacement is not None
        call.caller, call.caller_valid = originator.cli_replacement, True
        call.trace.append(f"caller {sent!r} replaced")
    elif originator.cli_policy == "reject":
        call.caller = sent
        return "invalid-caller"
    else:
        call.caller = sent
    return None


def rate(snapshot: Snapshot, call: Call) -> str | None:
    """The customer's rate: longest prefix of the called number effective at call time."""
    assert call.tariff is not None
    call.customer_rate = call.tariff.rates.match(call.called, call.request.at)
    if call.customer_rate is None:
        return "no-customer-rate"
    call.trace.append(f"customer {call.customer_rate.prefix}@{money_text(call.customer_rate.rate)}")
    return None


def credit(snapshot: Snapshot, call: Call) -> str | None:
    """A pure pass: credit needs the cluster's reservations, so it is checked with the limits
    in the one Redis function call at setup (kemi/limits.py, docs/money.md "Credit control"),
    which the KSR adapter makes for a credit-controlled originator; 402 comes from there."""
    return None


def _blocked(number: str, prefixes: frozenset[str]) -> str | None:
    if prefixes:
        for length in range(len(number), 0, -1):
            if number[:length] in prefixes:
                return number[:length]
    return None


def _override(plan: RoutingPlan, number: str) -> tuple[int, ...] | None:
    """The terminators of the plan's longest override prefix of ``number``, in their order."""
    best = None
    for override in plan.overrides:
        if number.startswith(override.prefix) and (
            best is None or len(override.prefix) > len(best.prefix)
        ):
            best = override
    return None if best is None else best.terminator_ids


def route(snapshot: Snapshot, call: Call) -> str | None:
    """Vendors of the routing plan that rate the number, minus those that cannot or should not
    take it, ordered by the plan's strategy (or an override of its prefix). Each vendor's own
    longest prefix decides its rate; a blocked prefix (global or the plan's) ends the call."""
    assert call.originator is not None and call.tariff is not None
    assert call.customer_rate is not None
    plan = snapshot.routing_plans.get(call.originator.routing_plan_id or 0)
    if plan is None:
        return "no-routing-plan"
    call.plan = plan
    number = call.called
    blocked = _blocked(number, snapshot.blocked) or _blocked(number, plan.blocked)
    if blocked is not None:
        call.trace.append(f"blocked {blocked}")
        return "blocked-destination"
    forced = _forced(call)
    override = forced if forced is not None else _override(plan, number)
    positions: range | list[int] = range(len(plan.entries))  # table vendor = plan position
    if override is not None:
        position_of = {entry.terminator_id: i for i, entry in enumerate(plan.entries)}
        positions = [position_of[t] for t in override if t in position_of]
        if forced is None:
            call.trace.append(f"override {','.join(map(str, override))}")
    table = snapshot.route_tables.get(plan.id)
    digits = number.encode()
    found: dict[int, tuple[int, int]] = {}  # plan position -> (terms, matched length)
    if table is not None:
        try:
            found = table.entries(digits, call.request.at)
        except RouteTableError:
            call.trace.append(f"route table starts at {table.valid_from}")
            return "no-vendor"
    customer_rate = call.customer_rate.rate
    currency = call.tariff.currency
    members = snapshot.plan_members[plan.id]
    down = call.down
    # the common margin rule (vendor no dearer than the customer) without a function call
    plain_margin = plan.min_margin == 0 and plan.min_margin_percent is None
    candidates, dropped = [], call.dropped
    for rank, position in enumerate(positions):
        entry, terminator, vendor_currency = members[position]
        if terminator is None:
            dropped.append(Dropped(entry.terminator_id, "?", DROP_UNKNOWN, None))
            continue
        match = found.get(position)
        if match is None:
            dropped.append(Dropped(terminator.id, terminator.name, DROP_NO_RATE, None))
            continue
        assert table is not None
        vendor_rate = table.rate(number, *match)
        if not terminator.enabled:
            reason = DROP_DISABLED
        elif vendor_currency != currency:
            reason = DROP_CURRENCY
        elif not terminator.gateways:
            reason = DROP_NO_GATEWAY
        elif down and all(g.key in down for g in terminator.gateways):
            reason = DROP_UNHEALTHY
        elif plan.allow_loss:
            reason = None
        elif plain_margin:
            reason = DROP_LOSS if vendor_rate.rate > customer_rate else None
        else:
            reason = _margin(plan, customer_rate, vendor_rate.rate)
        if reason is None:
            # an override's order is its own: "static" then follows it, not the plan's
            order = rank if override is not None else position
            candidates.append(Candidate(terminator, entry, order, vendor_rate))
        else:
            dropped.append(Dropped(terminator.id, terminator.name, reason, vendor_rate))
    if override is None and plan.strategy == QUALITY_STRATEGY:
        candidates = _judge_quality(call, plan, candidates)
    order = STRATEGIES["static" if override is not None else plan.strategy]
    call.routes = order(candidates, call.request.call_id)
    return None if call.routes else "no-vendor"


def _judge_quality(call: Call, plan: RoutingPlan, candidates: list[Candidate]) -> list[Candidate]:
    """Each vendor's quality for the call's destination (the customer prefix it matched)
    against the plan's thresholds: one lookup per candidate in the mapped quality table. A
    vendor under them is demoted (the strategy puts it after the others) or, if the plan says
    so, dropped; why goes in the trace. No table, or an expired one (the job stopped): nobody
    is judged. An override or a NOC test call names its vendors itself: never judged."""
    table = call.quality
    if table is None or table.expires_at <= call.request.at:
        call.trace.append("quality not judged: no current quality table")
        return candidates
    assert call.customer_rate is not None
    thresholds, prefix = plan.quality_thresholds, call.customer_rate.prefix
    kept = []
    for candidate in candidates:
        terminator = candidate.terminator
        why = judge(thresholds, table.measured(terminator.id, prefix))
        if why is None:
            kept.append(candidate)
        elif plan.quality_drop:
            call.trace.append(f"quality drops {terminator.id} on {prefix}: {why}")
            call.drop(terminator.id, terminator.name, DROP_QUALITY, candidate.rate)
        else:
            call.trace.append(f"quality demotes {terminator.id} on {prefix}: {why}")
            kept.append(candidate._replace(demoted=True))
    return kept


def _forced(call: Call) -> tuple[int] | None:
    """The one vendor a NOC test call names, bypassing the plan's order and overrides. Only a
    NOC originator may, and only among its own plan's vendors: their rates, and every check
    (disabled, currency, margin, health, capacity), still apply. So the header opens no route
    a trunk did not have."""
    wanted = call.request.forced_terminator
    if wanted is None:
        return None
    assert call.originator is not None
    if not call.originator.noc:
        call.trace.append("terminator header ignored: not a NOC trunk")
        return None
    call.trace.append(f"noc forces terminator {wanted}")
    return (wanted,)


def _margin(plan: RoutingPlan, customer: int, vendor: int) -> str | None:
    """Why the margin (customer rate - vendor rate per minute) is not enough, if it is not."""
    margin = customer - vendor
    if margin < plan.min_margin:  # a negative minimum allows a loss down to it
        return DROP_LOSS if margin < 0 else DROP_MARGIN
    if plan.min_margin_percent is not None and margin * 1_000_000 < (
        plan.min_margin_percent * customer
    ):
        return DROP_MARGIN
    return None


def vendor_number(terminator: Terminator, called: str) -> str:
    """What the vendor is sent: its rules on the E.164 number, then its tech-prefix."""
    return terminator.tech_prefix + apply_rules(terminator.number_rules, called)
