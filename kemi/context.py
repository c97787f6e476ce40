"""What a routed call carries through Kamailio: a typed, versioned record, compactly encoded.

The failure route and the dialog-end event may run in another Kamailio process than the one
that routed the INVITE, so everything they need travels with the dialog as one string (a
dialog variable), written once per call: who called what, the customer's terms and, for each
attempt, the gateway URI and the vendor's terms. The encoding is positional, separated by
ASCII unit/record separators, which no field may contain (the request reader replaces control
characters in caller numbers; everything else is digits, addresses or URIs).
"""

from __future__ import annotations

from dataclasses import dataclass

from kemi.cdr import event_line
from kemi.rates import Rate, money_text

CONTEXT_FORMAT = "3"
_FIELD, _RECORD, _ITEM = "\x1f", "\x1e", ","


@dataclass(frozen=True, slots=True)
class Side:
    """The rating terms of one side of the call (1e-8 money units)."""

    tariff_id: int
    prefix: str
    rate: int
    initial_increment: int
    next_increment: int
    connect_fee: int
    minimum_duration: int

    @classmethod
    def of(cls, tariff_id: int, rate: Rate) -> Side:
        return cls(tariff_id, *rate)

    def encode(self) -> str:
        return _ITEM.join(
            map(str, (
                self.tariff_id, self.prefix, self.rate, self.initial_increment,
                self.next_increment, self.connect_fee, self.minimum_duration,
            ))
        )  # fmt: skip

    @classmethod
    def decode(cls, text: str) -> Side:
        tariff_id, prefix, rate, initial, nxt, fee, minimum = text.split(_ITEM)
        return cls(
            int(tariff_id), prefix, int(rate), int(initial), int(nxt), int(fee), int(minimum)
        )

    def event_values(self) -> tuple[int | str, ...]:
        return (
            self.tariff_id, self.prefix, money_text(self.rate), self.initial_increment,
            self.next_increment, money_text(self.connect_fee), self.minimum_duration,
        )  # fmt: skip


NO_SIDE = (None,) * 7


@dataclass(frozen=True, slots=True)
class Target:
    """One attempt: a gateway of a vendor, with that vendor's terms for the number."""

    terminator_id: int
    uri: str
    vendor: Side
    limited: bool = False  # the vendor has CPS or concurrency limits: its slot is released


@dataclass(frozen=True, slots=True)
class CallContext:
    call_id: str
    snapshot_version: int
    originator_id: int
    src_ip: str
    caller: str
    called: str
    dialed: str
    currency: str
    customer: Side | None
    hunt_stop_codes: frozenset[int]
    call_started_ms: int
    targets: tuple[Target, ...]  # attempt N (1-based) is targets[N - 1]
    ring_timeout: int = 0  # seconds a vendor has for a provisional reply (0: tm's default)
    answer_timeout: int = 0  # seconds a vendor has for a final reply (0: tm's default)
    originator_limited: bool = False  # its slot is released when the call ends
    trace: str = ""  # how the call was decided, compactly (kept in the CDR)
    credit_company: int = 0  # the prepaid company whose credit the call holds (0: none)

    def encode(self) -> str:
        head = _FIELD.join(
            (
                CONTEXT_FORMAT, self.call_id, str(self.snapshot_version),
                str(self.originator_id), self.src_ip, self.caller, self.called, self.dialed,
                self.currency, "" if self.customer is None else self.customer.encode(),
                _ITEM.join(map(str, sorted(self.hunt_stop_codes))), str(self.call_started_ms),
                str(self.ring_timeout), str(self.answer_timeout),
                "1" if self.originator_limited else "", self.trace, str(self.credit_company),
            )
        )  # fmt: skip
        targets = (
            _FIELD.join((str(t.terminator_id), t.uri, t.vendor.encode(), "1" if t.limited else ""))
            for t in self.targets
        )
        return _RECORD.join((head, *targets))

    @classmethod
    def decode(cls, text: str) -> CallContext:
        head, *targets = text.split(_RECORD)
        (
            version, call_id, snapshot_version, originator_id, src_ip, caller, called, dialed,
            currency, customer, hunt_stop, started, ring, answer, limited, trace, company,
        ) = head.split(_FIELD)  # fmt: skip
        if version != CONTEXT_FORMAT:
            raise ValueError(f"call context format {version!r}, engine reads {CONTEXT_FORMAT}")
        return cls(
            call_id, int(snapshot_version), int(originator_id), src_ip, caller, called, dialed,
            currency, Side.decode(customer) if customer else None,
            frozenset(int(code) for code in hunt_stop.split(_ITEM) if code), int(started),
            tuple(_target(t) for t in targets), int(ring), int(answer), bool(limited), trace,
            int(company),
        )  # fmt: skip

    def event(
        self,
        attempt: int,
        *,
        node: str,
        sip_code: int,
        reason: str,
        started_ms: int,
        answered_ms: int | None,
        ended_ms: int,
    ) -> str:
        """The CDR event of attempt N (1-based; 0: rejected before any relay)."""
        target = self.targets[attempt - 1] if attempt > 0 else None
        return event_line(
            (
                self.call_id, attempt, node, self.snapshot_version, self.originator_id,
                None if target is None else target.terminator_id,
                None if target is None else target.uri,
                self.src_ip, self.caller, self.called, self.dialed, sip_code, reason,
                self.call_started_ms, started_ms, answered_ms, ended_ms, self.currency,
                *(NO_SIDE if self.customer is None else self.customer.event_values()),
                *(NO_SIDE if target is None else target.vendor.event_values()),
                self.trace,
            )
        )  # fmt: skip


def _target(text: str) -> Target:
    terminator_id, uri, vendor, limited = text.split(_FIELD)
    return Target(int(terminator_id), uri, Side.decode(vendor), bool(limited))
