"""CDR events -> priced CDR rows (DESIGN §4, §5): validation and exact pricing, no I/O.

The event schema is a pydantic model: strict about what the engine promises (money as decimal
strings, never JSON floats; positive increments; times in epoch milliseconds), and its errors
say which field is wrong, which is what an operator reads in ``cdr_rejects``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from kemi.contract import CDR_EVENT_FORMAT
from kemi.money import call_cost

# Column order of the COPY into cdr_staging; rate_event() returns rows in this order.
COLUMNS = (
    "call_id", "attempt", "node", "snapshot_version", "originator_id", "terminator_id", "gateway",
    "src_ip", "caller", "called", "dialed", "sip_code", "reason", "call_started_at", "started_at",
    "answered_at", "ended_at", "duration", "currency",
    "customer_tariff_id", "customer_prefix", "customer_rate", "customer_initial_increment",
    "customer_next_increment", "customer_connect_fee", "customer_billed_seconds", "customer_price",
    "vendor_tariff_id", "vendor_prefix", "vendor_rate", "vendor_initial_increment",
    "vendor_next_increment", "vendor_connect_fee", "vendor_billed_seconds", "vendor_cost",
)  # fmt: skip


class InvalidEvent(ValueError):
    """The event cannot become a CDR; it goes to cdr_rejects with this message."""


def _decimal_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("money must be a decimal string, not a JSON number")
    return value


Money = Annotated[Decimal, BeforeValidator(_decimal_text), Field(ge=0, allow_inf_nan=False)]
EpochMs = Annotated[int, Field(gt=0, strict=True)]


class Terms(BaseModel):
    """The rating terms the engine routed on, for one side of the call."""

    model_config = ConfigDict(frozen=True)

    tariff_id: int
    prefix: str = Field(pattern=r"^[0-9]{1,20}$")
    rate: Money
    initial_increment: int = Field(gt=0)
    next_increment: int = Field(gt=0)
    connect_fee: Money

    def price(self, answered: bool, duration: Decimal, precision: int) -> tuple[int, Decimal]:
        return call_cost(
            answered=answered,
            duration=duration,
            rate=self.rate,
            initial_increment=self.initial_increment,
            next_increment=self.next_increment,
            connect_fee=self.connect_fee,
            precision=precision,
        )

    def columns(self) -> tuple[Any, ...]:
        return (
            self.tariff_id, self.prefix, self.rate, self.initial_increment, self.next_increment,
            self.connect_fee,
        )  # fmt: skip


class CdrEvent(BaseModel):
    """One call attempt as ``kemi.cdr_event.attempt_event`` writes it."""

    format: Literal[1]
    call_id: str = Field(min_length=1)
    attempt: int = Field(ge=0)
    node: str
    snapshot_version: int
    originator_id: int
    src_ip: str
    caller: str
    called: str
    dialed: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    customer: Terms | None
    terminator_id: int | None
    gateway: str | None
    vendor: Terms | None
    sip_code: int = Field(ge=100, le=699)
    reason: str
    call_started_ms: EpochMs
    started_ms: EpochMs
    answered_ms: EpochMs | None
    ended_ms: EpochMs

    @model_validator(mode="after")
    def _answer_within_the_attempt(self) -> CdrEvent:
        if self.answered_ms is not None and self.answered_ms > self.ended_ms:
            raise ValueError("answered_ms is after ended_ms")
        return self

    @property
    def duration(self) -> Decimal:
        """Talk time in seconds, exact to the millisecond; 0 when not answered."""
        if self.answered_ms is None:
            return Decimal(0)
        return Decimal(self.ended_ms - self.answered_ms) / 1000


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def parse_event(raw: str | bytes) -> CdrEvent:
    try:
        return CdrEvent.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        if any(error["loc"] == ("format",) for error in exc.errors()):
            problems = f"format is not {CDR_EVENT_FORMAT}; {problems}"
        raise InvalidEvent(f"malformed event: {problems}") from exc


def rate_event(raw: str | bytes, precisions: dict[str, int]) -> tuple[Any, ...]:
    """One CDR event (JSON) -> the row written to ``cdrs``, priced on both sides."""
    event = parse_event(raw)
    precision = precisions.get(event.currency)
    if precision is None:
        raise InvalidEvent(f"unknown currency {event.currency!r}")
    answered = event.answered_ms is not None
    duration = event.duration
    none_side = (None,) * 6
    customer_billed, customer_price = (
        event.customer.price(answered, duration, precision) if event.customer else (0, Decimal(0))
    )
    vendor_billed, vendor_cost = (
        event.vendor.price(answered, duration, precision) if event.vendor else (0, Decimal(0))
    )
    return (
        event.call_id, event.attempt, event.node, event.snapshot_version, event.originator_id,
        event.terminator_id, event.gateway, event.src_ip, event.caller, event.called,
        event.dialed, event.sip_code, event.reason, _at(event.call_started_ms),
        _at(event.started_ms), _at(event.answered_ms) if answered else None, _at(event.ended_ms),
        duration, event.currency,
        *(event.customer.columns() if event.customer else none_side),
        customer_billed, customer_price,
        *(event.vendor.columns() if event.vendor else none_side),
        vendor_billed, vendor_cost,
    )  # fmt: skip
