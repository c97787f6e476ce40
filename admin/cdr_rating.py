"""CDR events -> priced CDR rows (DESIGN §4, §5): validation and exact pricing, no I/O.

The event schema is a pydantic model derived from the one CDR declaration (kemi.cdr): strict
about what the engine promises (money as decimal strings, never JSON floats; positive
increments; times in epoch milliseconds), and its errors say which field is wrong, which is
what an operator reads in ``cdr_rejects``. Rows come out in ``kemi.cdr.COLUMNS`` order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from kemi import cdr
from kemi.contract import CDR_EVENT_FORMAT
from kemi.money import call_cost

COLUMNS = cdr.COLUMNS


class InvalidEvent(ValueError):
    """The event cannot become a CDR; it goes to cdr_rejects with this message."""


def _decimal_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("money must be a decimal string, not a JSON number")
    return value


Money = Annotated[Decimal, BeforeValidator(_decimal_text), Field(ge=0, allow_inf_nan=False)]
EpochMs = Annotated[int, Field(gt=0, strict=True)]
_KINDS: dict[str, Any] = {"text": str, "int": int, "money": Money, "epoch_ms": EpochMs}


class _EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="after")
    def _consistent(self) -> _EventBase:
        if self.answered_ms is not None and self.answered_ms > self.ended_ms:
            raise ValueError("answered_ms is after ended_ms")
        for side in ("customer", "vendor"):
            present = [getattr(self, f"{side}_{name}") is not None for name in cdr.TERMS]
            if any(present) and not all(present):
                raise ValueError(f"{side} terms are incomplete")
        return self


def _annotation(item: cdr.CdrField) -> Any:
    kind = Annotated[_KINDS[item.kind], Field(**item.checks)] if item.checks else _KINDS[item.kind]
    return (kind | None, ...) if item.nullable else (kind, ...)


# One call attempt as kemi.context.CallContext.event writes it.
CdrEvent = create_model(
    "CdrEvent",
    __base__=_EventBase,
    format=(Literal[CDR_EVENT_FORMAT], ...),
    **{item.name: _annotation(item) for item in cdr.EVENT_FIELDS},
)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _from_format_1(document: dict[str, Any]) -> dict[str, Any]:
    """Events the engine wrote before the CDR was declared flat (format 1: each side's terms
    nested), still in a journal or the stream during an upgrade."""
    upgraded = {k: v for k, v in document.items() if k not in ("customer", "vendor")}
    for side in ("customer", "vendor"):
        terms = document.get(side) or {}
        upgraded |= {f"{side}_{name}": terms.get(name) for name in cdr.TERMS}
    upgraded["format"] = 2
    upgraded["trace"] = ""
    return _from_format_2(upgraded)


def _from_format_2(document: dict[str, Any]) -> dict[str, Any]:
    """Events from before minimum durations (format 2): a side with terms had none (0)."""
    upgraded = dict(document, format=CDR_EVENT_FORMAT)
    for side in ("customer", "vendor"):
        present = document.get(f"{side}_rate") is not None
        upgraded[f"{side}_minimum_duration"] = 0 if present else None
    return upgraded


def parse_event(raw: str | bytes) -> Any:
    try:
        start = (raw if isinstance(raw, bytes) else raw.encode())[:12]
        if start == b'{"format":1,':
            return CdrEvent.model_validate(_from_format_1(json.loads(raw)))
        if start == b'{"format":2,':
            return CdrEvent.model_validate(_from_format_2(json.loads(raw)))
        return CdrEvent.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        if any(error["loc"] == ("format",) for error in exc.errors()):
            problems = f"format is not {CDR_EVENT_FORMAT}; {problems}"
        raise InvalidEvent(f"malformed event: {problems}") from exc
    except ValueError as exc:  # not JSON at all
        raise InvalidEvent(f"malformed event: {exc}") from exc


def _price(event: Any, side: str, answered: bool, duration: Decimal, precision: int):
    if getattr(event, f"{side}_rate") is None:
        return 0, Decimal(0)
    return call_cost(
        answered=answered,
        duration=duration,
        rate=getattr(event, f"{side}_rate"),
        initial_increment=getattr(event, f"{side}_initial_increment"),
        next_increment=getattr(event, f"{side}_next_increment"),
        connect_fee=getattr(event, f"{side}_connect_fee"),
        precision=precision,
        minimum_duration=getattr(event, f"{side}_minimum_duration"),
    )


def rate_event(raw: str | bytes, precisions: dict[str, int]) -> tuple[Any, ...]:
    """One CDR event (JSON) -> the row written to ``cdrs``, priced on both sides."""
    event = parse_event(raw)
    precision = precisions.get(event.currency)
    if precision is None:
        raise InvalidEvent(f"unknown currency {event.currency!r}")
    answered = event.answered_ms is not None
    # talk time in seconds, exact to the millisecond; 0 when not answered
    duration = Decimal(event.ended_ms - event.answered_ms) / 1000 if answered else Decimal(0)
    rated: dict[str, Any] = {"duration": duration}
    for side, priced in (("customer", "customer_price"), ("vendor", "vendor_cost")):
        rated[f"{side}_billed_seconds"], rated[priced] = _price(
            event, side, answered, duration, precision
        )
    row = []
    for item in cdr.FIELDS:
        if item.source == cdr.RATED:
            row.append(rated[item.name])
        else:
            value = getattr(event, item.name)
            row.append(_at(value) if item.kind == "epoch_ms" and value is not None else value)
    return tuple(row)
