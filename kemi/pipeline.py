"""One call's decision as a pipeline of named, pure stages (DESIGN §2 steps 3-8).

After CGRateS' staged engine: identify -> validate -> normalize -> rate -> credit -> capacity ->
route. Each stage reads the snapshot and the call so far, fills in its part of the call, and
returns None to go on or a reject slug to stop. Nothing here touches SIP or Redis: Kamailio's
adapter (kemi.routes) and ``akira simulate`` run the same code, and every rule is tested with
tables. What happens after a vendor fails is a pure function too (``after_failure``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kemi import normalize
from kemi.context import CallContext, Side, Target
from kemi.lcr import STRATEGIES, Candidate
from kemi.rates import Rate, money_text
from kemi.request import CallRequest
from kemi.snapshot import Originator, RoutingPlan, Snapshot, Tariff


class Rejection(NamedTuple):
    code: int
    phrase: str
    retry_after: bool = False  # 503s tell the caller when to come back


# reason slug -> how the caller is answered. The slug travels in X-Akira-Reason (to known
# sources only, by default: docs/engine.md).
REJECTIONS: dict[str, Rejection] = {
    "unknown-originator": Rejection(403, "Forbidden"),
    "originator-disabled": Rejection(403, "Forbidden"),
    "missing-from-tag": Rejection(400, "Missing From Tag"),
    "invalid-call-id": Rejection(400, "Invalid Call-ID"),
    "invalid-number": Rejection(484, "Address Incomplete"),
    "no-customer-rate": Rejection(404, "Not Found"),
    "no-routing-plan": Rejection(404, "Not Found"),
    "no-vendor": Rejection(503, "Service Unavailable", True),
    "all-vendors-failed": Rejection(503, "Service Unavailable", True),
    "no-snapshot": Rejection(503, "Service Unavailable", True),
    "overload": Rejection(503, "Service Unavailable", True),
    "dialog-failed": Rejection(500, "Server Internal Error"),
    "engine-fault": Rejection(500, "Server Internal Error"),
}

# Why a terminator of the plan was not used for this call.
DROP_UNKNOWN = "unknown-terminator"
DROP_DISABLED = "disabled"
DROP_NO_RATE = "no-rate"
DROP_CURRENCY = "currency-mismatch"
DROP_LOSS = "dearer-than-customer-rate"
DROP_NO_GATEWAY = "no-gateway"


@dataclass(frozen=True, slots=True)
class Dropped:
    terminator_id: int
    name: str
    reason: str
    rate: Rate | None


@dataclass(slots=True)
class Call:
    """The call as the stages fill it in; ``reason`` is set by the stage that rejects it."""

    request: CallRequest
    reason: str | None = None
    stage: str = ""  # the stage that decided (rejected, or "route")
    originator: Originator | None = None
    tariff: Tariff | None = None  # the originator's (customer) tariff
    unprefixed: str = ""  # the R-URI user without the originator's tech-prefix
    called: str = ""  # E.164 digits
    caller: str = ""
    customer_rate: Rate | None = None
    plan: RoutingPlan | None = None
    routes: list[Candidate] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)

    @property
    def rejection(self) -> Rejection | None:
        return None if self.reason is None else REJECTIONS[self.reason]

    @property
    def currency(self) -> str:
        return "" if self.tariff is None else self.tariff.currency

    def context(self, snapshot_version: int) -> CallContext:
        """What the failure route and dialog events need; for a routed call, or a reject of a
        known originator (its CDR)."""
        request, originator = self.request, self.originator
        assert originator is not None and self.tariff is not None
        called = self.called or self.unprefixed
        targets = tuple(
            Target(
                c.terminator.id,
                gateway.uri(c.terminator.tech_prefix + self.called),
                Side.of(c.terminator.tariff_id, c.rate),
            )
            for c in self.routes
            for gateway in c.terminator.gateways
        )
        return CallContext(
            request.call_id, snapshot_version, originator.id, request.src_ip, self.caller,
            called, request.ruri_user, self.tariff.currency,
            None if self.customer_rate is None else Side.of(self.tariff.id, self.customer_rate),
            self.plan.hunt_stop_codes if self.plan else frozenset(), request.at_ms, targets,
        )  # fmt: skip


Stage = Callable[[Snapshot, Call], "str | None"]


def identify(snapshot: Snapshot, call: Call) -> str | None:
    """The originator: devices by source IP (exact or CIDR), port and transport; where several
    originators share a device, the longest tech-prefix the dialed user starts with wins (an
    empty one matches everything); ties go to the lowest id. The tech-prefix is stripped."""
    request = call.request
    user = request.ruri_user
    best: Originator | None = None
    for device in snapshot.devices_for(request.src_ip, request.src_port, request.transport):
        originator = snapshot.originators.get(device.originator_id)
        if originator is None or not user.startswith(originator.tech_prefix):
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
    call.caller = normalize.calling_number(request.from_user)
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


def normalize_numbers(snapshot: Snapshot, call: Call) -> str | None:
    called = normalize.called_number(call.unprefixed)
    if called is None:
        return "invalid-number"
    call.called = called
    return None


def rate(snapshot: Snapshot, call: Call) -> str | None:
    """The customer's rate: longest prefix of the called number effective at call time."""
    assert call.tariff is not None
    call.customer_rate = call.tariff.rates.match(call.called, call.request.at)
    return "no-customer-rate" if call.customer_rate is None else None


def credit(snapshot: Snapshot, call: Call) -> str | None:
    """Prepaid balance and reservations: not yet (the money issue); every call passes."""
    return None


def capacity(snapshot: Snapshot, call: Call) -> str | None:
    """CPS and concurrent-call limits: not yet (the routing issue); every call passes."""
    return None


def route(snapshot: Snapshot, call: Call) -> str | None:
    """Vendors of the routing plan that rate the number, minus those that cannot take it,
    ordered by the plan's strategy. Each vendor's own longest prefix decides its rate."""
    assert call.originator is not None and call.tariff is not None
    assert call.customer_rate is not None
    plan = snapshot.routing_plans.get(call.originator.routing_plan_id or 0)
    if plan is None:
        return "no-routing-plan"
    call.plan = plan
    digits = call.called.encode()
    at = call.request.at
    customer_rate = call.customer_rate.rate
    currency = call.tariff.currency
    candidates = []
    for position, entry in enumerate(plan.entries):
        terminator = snapshot.terminators.get(entry.terminator_id)
        if terminator is None:
            call.dropped.append(Dropped(entry.terminator_id, "?", DROP_UNKNOWN, None))
            continue
        tariff = snapshot.tariffs[terminator.tariff_id]
        found = tariff.rates.find(digits, at)
        vendor_rate = None if found < 0 else tariff.rates.rate(digits, found)
        reason = None
        if not terminator.enabled:
            reason = DROP_DISABLED
        elif vendor_rate is None:
            reason = DROP_NO_RATE
        elif tariff.currency != currency:
            reason = DROP_CURRENCY
        elif vendor_rate.rate > customer_rate and not plan.allow_loss:
            reason = DROP_LOSS
        elif not terminator.gateways:
            reason = DROP_NO_GATEWAY
        if reason is None:
            assert vendor_rate is not None
            candidates.append(Candidate(terminator, entry, position, vendor_rate))
        else:
            call.dropped.append(Dropped(terminator.id, terminator.name, reason, vendor_rate))
    call.routes = STRATEGIES[plan.strategy](candidates, call.request.call_id)
    return None if call.routes else "no-vendor"


STAGES: tuple[tuple[str, Stage], ...] = (
    ("identify", identify),
    ("validate", validate),
    ("normalize", normalize_numbers),
    ("rate", rate),
    ("credit", credit),
    ("capacity", capacity),
    ("route", route),
)


def decide(snapshot: Snapshot, request: CallRequest) -> Call:
    call = Call(request)
    for name, stage in STAGES:
        call.stage = name
        reason = stage(snapshot, call)
        if reason is not None:
            call.reason = reason
            break
    return call


# --- after a vendor failed ------------------------------------------------------------------

STOP = 0  # the customer gets the vendor's reply; no other vendor is tried
EXHAUSTED = -1  # no attempt left: the customer gets 503 all-vendors-failed


def after_failure(context: CallContext, attempt: int, code: int, canceled: bool) -> int:
    """The attempt to try next (1-based), STOP, or EXHAUSTED, after attempt ``attempt``
    failed with ``code``. A customer CANCEL, a 6xx and the plan's hunt-stop codes end the
    hunt; anything else (5xx, 408 from the timers, other 4xx) moves on."""
    if canceled or code >= 600 or code in context.hunt_stop_codes:
        return STOP
    return attempt + 1 if attempt < len(context.targets) else EXHAUSTED


def end_reason(by_bye: bool, from_caller: bool) -> str:
    """Why an answered call ended: a BYE from either side, or the dialog timeout."""
    if not by_bye:
        return "max-duration"
    return "caller-bye" if from_caller else "callee-bye"


# --- explained, for akira simulate and the admin's route simulator ---------------------------


def explain(call: Call) -> dict[str, Any]:
    def terms(rate: Rate | None) -> dict[str, Any] | None:
        if rate is None:
            return None
        return {
            "prefix": rate.prefix,
            "rate": money_text(rate.rate),
            "initial_increment": rate.initial_increment,
            "next_increment": rate.next_increment,
            "connect_fee": money_text(rate.connect_fee),
        }

    rejection = call.rejection
    return {
        "routed": call.reason is None,
        "sip_code": None if rejection is None else rejection.code,
        "reason": call.reason,
        "stage": call.stage,
        "originator": None
        if call.originator is None
        else {"id": call.originator.id, "name": call.originator.name},
        "called": call.called or call.unprefixed,
        "currency": call.currency or None,
        "customer_rate": terms(call.customer_rate),
        "routes": [
            {
                "terminator_id": c.terminator.id,
                "terminator": c.terminator.name,
                "vendor_rate": terms(c.rate),
                "gateways": [
                    g.uri(c.terminator.tech_prefix + call.called) for g in c.terminator.gateways
                ],
            }
            for c in call.routes
        ],
        "dropped": [
            {
                "terminator_id": d.terminator_id,
                "terminator": d.name,
                "reason": d.reason,
                "vendor_rate": terms(d.rate),
            }
            for d in call.dropped
        ],
        "hunt_stop_codes": sorted(call.plan.hunt_stop_codes) if call.plan else [],
    }
