"""One call's decision as a pipeline of named, pure stages (DESIGN §2 steps 3-8).

After CGRateS' staged engine: identify -> validate -> normalize -> caller -> rate -> credit ->
route -> capacity (kemi.stages). Each stage fills in its part of the call and returns None to go
on or a reject slug to stop. Nothing here touches SIP or Redis: Kamailio's adapter
(kemi.routes) and ``akira simulate`` run the same code, and every rule is tested with tables.
Capacity is last because it is the one stage that needs cluster state (CPS and concurrent
calls, kemi.limits): the adapter fetches it in one Redis round trip for the originator and
the candidate vendors the other stages produced, then ``apply_capacity`` decides, purely.
What happens after a vendor fails is a pure function too (``after_failure``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from kemi import stages
from kemi.context import CallContext, Side, Target
from kemi.lcr import Candidate
from kemi.quality import QualityTable
from kemi.rates import Rate
from kemi.request import CallRequest
from kemi.snapshot import Originator, RoutingPlan, Snapshot, Tariff
from kemi.stages import Dropped


class Rejection(NamedTuple):
    code: int
    phrase: str
    retry_after: bool = False  # 503s tell the caller when to come back


# reason slug -> how the caller is answered. The slug travels in X-Akira-Reason (to known
# sources only, by default: docs/engine.md).
REJECTIONS: dict[str, Rejection] = {
    "unknown-originator": Rejection(403, "Forbidden"),
    "bad-credentials": Rejection(403, "Forbidden"),
    "originator-disabled": Rejection(403, "Forbidden"),
    "missing-from-tag": Rejection(400, "Missing From Tag"),
    "invalid-call-id": Rejection(400, "Invalid Call-ID"),
    "invalid-number": Rejection(484, "Address Incomplete"),
    "invalid-caller": Rejection(403, "Invalid Caller ID"),
    "no-customer-rate": Rejection(404, "Not Found"),
    "no-routing-plan": Rejection(404, "Not Found"),
    "blocked-destination": Rejection(403, "Forbidden"),
    "no-vendor": Rejection(503, "Service Unavailable", True),
    "no-credit": Rejection(402, "Payment Required"),
    "credit-unavailable": Rejection(503, "Service Unavailable", True),
    "cps-limit": Rejection(503, "Service Unavailable", True),
    "concurrency-limit": Rejection(503, "Service Unavailable", True),
    "all-vendors-failed": Rejection(503, "Service Unavailable", True),
    "no-snapshot": Rejection(503, "Service Unavailable", True),
    "overload": Rejection(503, "Service Unavailable", True),
    "dialog-failed": Rejection(500, "Server Internal Error"),
    "engine-fault": Rejection(500, "Server Internal Error"),
}


@dataclass(slots=True)
class Call:
    """The call as the stages fill it in; ``reason`` is set by the stage that rejects it."""

    request: CallRequest
    down: frozenset[str] = frozenset()  # gateways this node's health checks find down
    quality: QualityTable | None = None  # vendors' quality by destination (kemi.quality)
    reason: str | None = None
    stage: str = ""  # the stage that decided (rejected, or the last one)
    originator: Originator | None = None
    tariff: Tariff | None = None  # the originator's (customer) tariff
    unprefixed: str = ""  # the R-URI user without the originator's tech-prefix
    called: str = ""  # E.164 digits
    caller: str = ""
    caller_valid: bool = False  # a number (or the replacement): sent on as P-Asserted-Identity
    customer_rate: Rate | None = None
    plan: RoutingPlan | None = None
    routes: list[Candidate] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    cut: bool = False  # targets() has dropped the vendors beyond max_attempts

    @property
    def rejection(self) -> Rejection | None:
        return None if self.reason is None else REJECTIONS[self.reason]

    @property
    def currency(self) -> str:
        return "" if self.tariff is None else self.tariff.currency

    def drop(self, terminator_id: int, name: str, reason: str, rate: Rate | None = None) -> None:
        self.dropped.append(Dropped(terminator_id, name, reason, rate))

    def compact_trace(self) -> str:
        """The trace as the CDR keeps it: the stages' notes, then each dropped vendor."""
        return ";".join((*self.trace, *(f"-{d.terminator_id} {d.reason}" for d in self.dropped)))

    def targets(self) -> tuple[Target, ...]:
        """Attempts in order: each kept vendor's healthy gateways, at most the plan's
        max_attempts in all."""
        targets = []
        for candidate in self.routes:
            terminator = candidate.terminator
            number = stages.vendor_number(terminator, self.called)
            vendor = Side.of(terminator.tariff_id, candidate.rate)
            limited = terminator.cps_limit is not None or terminator.concurrent_limit is not None
            for gateway in terminator.gateways:
                if gateway.key not in self.down:
                    targets.append(Target(terminator.id, gateway.uri(number), vendor, limited))
        limit = self.plan.max_attempts if self.plan else len(targets)
        if len(targets) > limit and not self.cut:
            self.cut = True  # once: context() and explain() may both ask
            self.trace.append(f"attempts {limit} of {len(targets)}")
            tried = {target.terminator_id for target in targets[:limit]}
            for candidate in self.routes:
                terminator = candidate.terminator
                if terminator.id not in tried:
                    self.drop(terminator.id, terminator.name, stages.DROP_ATTEMPTS, candidate.rate)
        return tuple(targets[:limit])

    def context(self, snapshot_version: int) -> CallContext:
        """What the failure route and dialog events need; for a routed call, or a reject of a
        known originator (its CDR)."""
        request, originator, plan = self.request, self.originator, self.plan
        assert originator is not None and self.tariff is not None
        return CallContext(
            request.call_id, snapshot_version, originator.id, request.src_ip, self.caller,
            self.called or self.unprefixed, request.ruri_user, self.tariff.currency,
            None if self.customer_rate is None else Side.of(self.tariff.id, self.customer_rate),
            plan.hunt_stop_codes if plan else frozenset(), request.at_ms,
            self.targets() if self.reason is None else (),
            plan.ring_timeout if plan else 0, plan.answer_timeout if plan else 0,
            originator.cps_limit is not None or originator.concurrent_limit is not None,
            self.compact_trace(),
            originator.company_id if originator.prepaid else 0,
        )  # fmt: skip


Stage = Callable[[Snapshot, Call], "str | None"]

STAGES: tuple[tuple[str, Stage], ...] = (
    ("identify", stages.identify),
    ("validate", stages.validate),
    ("normalize", stages.normalize_number),
    ("caller", stages.caller_id),
    ("rate", stages.rate),
    ("credit", stages.credit),
    ("route", stages.route),
)


def decide(
    snapshot: Snapshot,
    request: CallRequest,
    down: frozenset[str] = frozenset(),
    quality: QualityTable | None = None,
) -> Call:
    """Every stage but capacity (``apply_capacity``, once the cluster state is known)."""
    call = Call(request, down, quality)
    for name, stage in STAGES:
        call.stage = name
        reason = stage(snapshot, call)
        if reason is not None:
            call.reason = reason
            break
    return call


def apply_capacity(
    call: Call, originator_over: str | None, terminators_over: dict[int, str]
) -> None:
    """The capacity stage: the originator over its CPS or concurrency limit refuses the call
    (503); a vendor over its limit is skipped with that reason."""
    call.stage = "capacity"
    if originator_over is not None:
        call.reason = originator_over
        call.trace.append(f"originator {originator_over}")
        return
    kept = []
    for candidate in call.routes:
        over = terminators_over.get(candidate.terminator.id)
        if over is None:
            kept.append(candidate)
        else:
            call.drop(candidate.terminator.id, candidate.terminator.name, over, candidate.rate)
    call.routes = kept
    if not kept:
        call.reason = "no-vendor"


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


# An operator ending a call (akira calls drop: the dialog module's dlg.end_dlg over the node's
# JSON-RPC) sends both sides a BYE with this header (RFC 3326, normal clearing).
OPERATOR_DROP = "operator-drop"
OPERATOR_DROP_HEADER = f'Reason: Q.850;cause=16;text="{OPERATOR_DROP}"'


def end_reason(by_bye: bool, from_caller: bool, before_timeout: bool = False) -> str:
    """Why an answered call ended: a BYE from either side, the dialog timeout, or - neither a
    BYE nor the timeout yet - the node's RPC ending it (an operator's drop)."""
    if not by_bye:
        return OPERATOR_DROP if before_timeout else "max-duration"
    return "caller-bye" if from_caller else "callee-bye"
