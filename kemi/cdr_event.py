"""Per-call context and CDR events (DESIGN §2 step 10, §5).

The context is what the failure route and the dialog-end event need to know about a call that
another Kamailio process routed: it travels as JSON in a transaction AVP and a dialog variable,
never in Python globals. A CDR event is one call attempt, carrying the exact rating terms the
engine routed on, so the ingester prices what was decided even if tariffs change meanwhile.
"""

from __future__ import annotations

import json
from typing import Any

from kemi.contract import CDR_EVENT_FORMAT
from kemi.decision import Decision


def call_context(
    decision: Decision,
    *,
    call_id: str,
    src_ip: str,
    caller: str,
    dialed: str,
    version: int,
    started_ms: int,
) -> dict[str, Any]:
    """The routed call as the failure route and dialog events see it.

    ``attempts`` expands each kept vendor into its gateways, in order: attempt N (0-based)
    is one relay to one gateway.
    """
    originator = decision.originator
    customer = decision.customer_rate
    assert originator is not None
    context: dict[str, Any] = {
        "call_id": call_id,
        "snapshot_version": version,
        "originator_id": originator.id,
        "src_ip": src_ip,
        "caller": caller,
        "called": decision.called,
        "dialed": dialed,
        "currency": decision.currency,
        "customer": None
        if customer is None
        else {"tariff_id": originator.tariff_id, **customer.terms()},
        "hunt_stop_codes": sorted(decision.hunt_stop_codes),
        "call_started_ms": started_ms,
        "attempts": [],
    }
    for candidate in decision.routes:
        terminator = candidate.terminator
        vendor = {"tariff_id": terminator.tariff_id, **candidate.rate.terms()}
        user = terminator.tech_prefix + decision.called
        for gateway in terminator.gateways:
            context["attempts"].append(
                {"terminator_id": terminator.id, "uri": gateway.uri(user), "vendor": vendor}
            )
    return context


def attempt_event(
    context: dict[str, Any],
    attempt: int,
    *,
    node: str,
    sip_code: int,
    reason: str,
    started_ms: int,
    answered_ms: int | None,
    ended_ms: int,
) -> dict[str, Any]:
    """One CDR event. ``attempt`` is 1-based; 0 marks a call rejected before any relay."""
    routed = context["attempts"][attempt - 1] if attempt > 0 else None
    return {
        "format": CDR_EVENT_FORMAT,
        "call_id": context["call_id"],
        "attempt": attempt,
        "node": node,
        "snapshot_version": context["snapshot_version"],
        "originator_id": context["originator_id"],
        "src_ip": context["src_ip"],
        "caller": context["caller"],
        "called": context["called"],
        "dialed": context["dialed"],
        "currency": context["currency"],
        "customer": context["customer"],
        "terminator_id": None if routed is None else routed["terminator_id"],
        "gateway": None if routed is None else routed["uri"],
        "vendor": None if routed is None else routed["vendor"],
        "sip_code": sip_code,
        "reason": reason,
        "call_started_ms": context["call_started_ms"],
        "started_ms": started_ms,
        "answered_ms": answered_ms,
        "ended_ms": ended_ms,
    }


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))
