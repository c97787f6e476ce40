"""A decision, explained: what ``akira simulate`` prints and the admin's route simulator shows."""

from __future__ import annotations

from typing import Any

from kemi.pipeline import Call
from kemi.rates import Rate, money_text
from kemi.stages import vendor_number


def terms(rate: Rate | None) -> dict[str, Any] | None:
    if rate is None:
        return None
    return {
        "prefix": rate.prefix,
        "rate": money_text(rate.rate),
        "initial_increment": rate.initial_increment,
        "next_increment": rate.next_increment,
        "connect_fee": money_text(rate.connect_fee),
        "minimum_duration": rate.minimum_duration,
    }


def explain(call: Call) -> dict[str, Any]:
    rejection = call.rejection
    attempts = [t.uri for t in call.targets()] if call.reason is None else []
    return {
        "routed": call.reason is None,
        "sip_code": None if rejection is None else rejection.code,
        "reason": call.reason,
        "stage": call.stage,
        "originator": None
        if call.originator is None
        else {"id": call.originator.id, "name": call.originator.name},
        "called": call.called or call.unprefixed,
        "caller": call.caller,
        "currency": call.currency or None,
        "customer_rate": terms(call.customer_rate),
        "routes": [
            {
                "terminator_id": c.terminator.id,
                "terminator": c.terminator.name,
                "vendor_rate": terms(c.rate),
                "demoted": c.demoted,  # under the plan's quality thresholds (see the trace)
                "gateways": [
                    g.uri(vendor_number(c.terminator, call.called))
                    for g in c.terminator.gateways
                    if g.key not in call.down
                ],
            }
            for c in call.routes
        ],
        "attempts": attempts,  # in order, at most the plan's max_attempts
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
        "trace": call.trace,
    }
