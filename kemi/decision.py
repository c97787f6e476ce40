"""One call's routing decision (DESIGN §2 steps 3-8) as a pure function of the snapshot.

Kamailio (kemi.routes) and ``akira simulate`` both call ``decide``; nothing here touches SIP or
Redis, so every rule is tested with tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kemi import normalize
from kemi.lcr import STRATEGIES, Candidate
from kemi.rates import Rate
from kemi.snapshot import Originator, Snapshot

# reason slug -> (SIP code, reason phrase). The slug travels in the X-Akira-Reason header.
REJECTIONS: dict[str, tuple[int, str]] = {
    "unknown-originator": (403, "Forbidden"),
    "originator-disabled": (403, "Forbidden"),
    "invalid-number": (484, "Address Incomplete"),
    "no-customer-rate": (404, "Not Found"),
    "no-routing-plan": (404, "Not Found"),
    "no-vendor": (503, "Service Unavailable"),
    "all-vendors-failed": (503, "Service Unavailable"),
    "no-snapshot": (503, "Service Unavailable"),
    "engine-fault": (500, "Server Internal Error"),
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
class Decision:
    reason: str | None  # None when the call is routed; else a REJECTIONS slug
    originator: Originator | None = None
    called: str = ""
    customer_rate: Rate | None = None
    currency: str = ""
    routes: list[Candidate] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    hunt_stop_codes: frozenset[int] = frozenset()

    @property
    def code(self) -> int:
        return 0 if self.reason is None else REJECTIONS[self.reason][0]

    def as_json(self) -> dict[str, Any]:
        """The explainable form printed by ``akira simulate`` and shown by the admin."""
        return {
            "routed": self.reason is None,
            "sip_code": self.code or None,
            "reason": self.reason,
            "originator": None
            if self.originator is None
            else {"id": self.originator.id, "name": self.originator.name},
            "called": self.called,
            "currency": self.currency or None,
            "customer_rate": None if self.customer_rate is None else self.customer_rate.terms(),
            "routes": [
                {
                    "terminator_id": c.terminator.id,
                    "terminator": c.terminator.name,
                    "vendor_rate": c.rate.terms(),
                    "gateways": [
                        g.uri(c.terminator.tech_prefix + self.called) for g in c.terminator.gateways
                    ],
                }
                for c in self.routes
            ],
            "dropped": [
                {
                    "terminator_id": d.terminator_id,
                    "terminator": d.name,
                    "reason": d.reason,
                    "vendor_rate": None if d.rate is None else d.rate.terms(),
                }
                for d in self.dropped
            ],
            "hunt_stop_codes": sorted(self.hunt_stop_codes),
        }


def identify(
    snapshot: Snapshot, ip: str, port: int, transport: str, user: str
) -> tuple[Originator | None, str]:
    """The originator of a request and the dialed user with its tech-prefix removed.

    Devices match by source IP (exact or CIDR), optional port and transport. Where several
    originators share a device, the longest tech-prefix the dialed user starts with wins
    (an empty tech-prefix matches everything); ties go to the lowest id.
    """
    best: Originator | None = None
    for device in snapshot.devices_for(ip, port, transport):
        originator = snapshot.originators.get(device.originator_id)
        if originator is None or not user.startswith(originator.tech_prefix):
            continue
        if best is None or (-len(originator.tech_prefix), originator.id) < (
            -len(best.tech_prefix),
            best.id,
        ):
            best = originator
    if best is None:
        return None, user
    return best, user[len(best.tech_prefix) :]


def decide(
    snapshot: Snapshot, *, ip: str, port: int, transport: str, user: str, at: float, call_id: str
) -> Decision:
    originator, dialed = identify(snapshot, ip, port, transport, user)
    if originator is None:
        return Decision("unknown-originator")
    if not originator.enabled:
        return Decision("originator-disabled", originator)

    called = normalize.called_number(dialed)
    if called is None:
        return Decision("invalid-number", originator, called=dialed)

    customer_tariff = snapshot.tariffs[originator.tariff_id]
    customer_rate = customer_tariff.match(called, at)
    decision = Decision(None, originator, called=called, currency=customer_tariff.currency)
    if customer_rate is None:
        decision.reason = "no-customer-rate"
        return decision
    decision.customer_rate = customer_rate

    plan = snapshot.routing_plans.get(originator.routing_plan_id or 0)
    if plan is None:
        decision.reason = "no-routing-plan"
        return decision
    decision.hunt_stop_codes = plan.hunt_stop_codes

    candidates = []
    for position, entry in enumerate(plan.entries):
        terminator = snapshot.terminators.get(entry.terminator_id)
        if terminator is None:
            decision.dropped.append(Dropped(entry.terminator_id, "?", DROP_UNKNOWN, None))
            continue
        vendor_tariff = snapshot.tariffs[terminator.tariff_id]
        vendor_rate = vendor_tariff.match(called, at)
        reason = None
        if not terminator.enabled:
            reason = DROP_DISABLED
        elif vendor_rate is None:
            reason = DROP_NO_RATE
        elif vendor_tariff.currency != customer_tariff.currency:
            reason = DROP_CURRENCY
        elif vendor_rate.rate > customer_rate.rate and not plan.allow_loss:
            reason = DROP_LOSS
        elif not terminator.gateways:
            reason = DROP_NO_GATEWAY
        if reason is None:
            candidates.append(Candidate(terminator, entry, position, vendor_rate))
        else:
            decision.dropped.append(Dropped(terminator.id, terminator.name, reason, vendor_rate))

    order = STRATEGIES.get(plan.strategy, STRATEGIES["least_cost"])
    decision.routes = order(candidates, call_id)
    if not decision.routes:
        decision.reason = "no-vendor"
    return decision
