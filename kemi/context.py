"""What a routed call carries through Kamailio: a typed, versioned record, compactly encoded.

The failure route and the dialog-end event may run in another Kamailio process than the one
that routed the INVITE, so everything they need travels with the dialog as one string (a
dialog variable), written once per call: who called what, the customer's terms and, for each
attempt, the gateway URI and the vendor's terms. The records are msgspec Structs encoded as
JSON arrays (positional, no keys), the format tag first; decoding checks every type, so a
context of another format or a damaged one is refused, never half read (decisions/0017).
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from kemi.cdr import event_line
from kemi.rates import Rate, money_text

CONTEXT_FORMAT = "4"  # the tag the encoding starts with; bump it when a field changes

# A deck has few distinct rates and fees: their texts are made once per worker, not per CDR.
_money = lru_cache(maxsize=1 << 14)(money_text)


class Side(msgspec.Struct, frozen=True, array_like=True):
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

    def event_values(self) -> tuple[int | str, ...]:
        return (
            self.tariff_id, self.prefix, _money(self.rate), self.initial_increment,
            self.next_increment, _money(self.connect_fee), self.minimum_duration,
        )  # fmt: skip


NO_SIDE = (None,) * 7


class Target(msgspec.Struct, frozen=True, array_like=True):
    """One attempt: a gateway of a vendor, with that vendor's terms for the number."""

    terminator_id: int
    uri: str
    vendor: Side
    limited: bool = False  # the vendor has CPS or concurrency limits: its slot is released


class CallContext(msgspec.Struct, frozen=True, array_like=True, tag=CONTEXT_FORMAT):
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
        return _encode(self).decode()

    @classmethod
    def decode(cls, text: str) -> CallContext:
        """The context ``encode`` wrote; ValueError for any other text (another format
        included), so callers need to catch one error."""
        try:
            return _decode(text)
        except msgspec.DecodeError as error:  # ValidationError is one too
            raise ValueError(f"call context (format {CONTEXT_FORMAT}): {error}") from None

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
        ringing_ms: int | None = None,
    ) -> str:
        """The CDR event of attempt N (1-based; 0: rejected before any relay)."""
        target = self.targets[attempt - 1] if attempt > 0 else None
        return event_line(
            (
                self.call_id, attempt, node, self.snapshot_version, self.originator_id,
                None if target is None else target.terminator_id,
                None if target is None else target.uri,
                self.src_ip, self.caller, self.called, self.dialed, sip_code, reason,
                self.call_started_ms, started_ms, answered_ms, ringing_ms, ended_ms,
                self.currency,
                *(NO_SIDE if self.customer is None else self.customer.event_values()),
                *(NO_SIDE if target is None else target.vendor.event_values()),
                self.trace,
            )
        )  # fmt: skip


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(CallContext).decode
