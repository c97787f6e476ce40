"""CDR events -> priced CDR rows (DESIGN §4, §5): validation and exact pricing, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kemi.contract import CDR_EVENT_FORMAT
from kemi.money import call_cost

# Column order of the COPY into cdr_staging; CdrRow.values() follows it.
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


@dataclass(frozen=True, slots=True)
class Terms:
    tariff_id: int
    prefix: str
    rate: Decimal
    initial_increment: int
    next_increment: int
    connect_fee: Decimal


def _terms(raw: Any, side: str) -> Terms | None:
    if raw is None:
        return None
    try:
        terms = Terms(
            int(raw["tariff_id"]),
            str(raw["prefix"]),
            Decimal(raw["rate"]),
            int(raw["initial_increment"]),
            int(raw["next_increment"]),
            Decimal(raw["connect_fee"]),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise InvalidEvent(f"{side} terms: {exc!r}") from exc
    if terms.initial_increment <= 0 or terms.next_increment <= 0 or not terms.rate.is_finite():
        raise InvalidEvent(f"{side} terms out of range: {raw}")
    return terms


def _time(ms: Any, field: str) -> datetime:
    if not isinstance(ms, int) or ms <= 0:
        raise InvalidEvent(f"{field}: expected epoch milliseconds, got {ms!r}")
    return datetime.fromtimestamp(ms / 1000, UTC)


def rate_event(raw: str | bytes, precisions: dict[str, int]) -> tuple[Any, ...]:
    """One CDR event (JSON) -> the row written to ``cdrs``, priced on both sides."""
    try:
        event = json.loads(raw)
        if not isinstance(event, dict):
            raise InvalidEvent("event is not a JSON object")
        if event.get("format") != CDR_EVENT_FORMAT:
            raise InvalidEvent(f"format {event.get('format')!r}, rater reads {CDR_EVENT_FORMAT}")
        currency = event["currency"]
        if currency not in precisions:
            raise InvalidEvent(f"unknown currency {currency!r}")
        precision = precisions[currency]
        customer = _terms(event["customer"], "customer")
        vendor = _terms(event["vendor"], "vendor")
        started = _time(event["started_ms"], "started_ms")
        ended = _time(event["ended_ms"], "ended_ms")
        answered_ms = event["answered_ms"]
        answered = answered_ms is not None
        duration = Decimal(0)
        if answered:
            if not isinstance(answered_ms, int) or answered_ms > event["ended_ms"]:
                raise InvalidEvent(f"answered_ms {answered_ms!r} after ended_ms")
            duration = Decimal(event["ended_ms"] - answered_ms) / 1000

        def priced(terms: Terms | None) -> tuple[int, Decimal]:
            if terms is None:
                return 0, Decimal(0)
            return call_cost(
                answered=answered,
                duration=duration,
                rate=terms.rate,
                initial_increment=terms.initial_increment,
                next_increment=terms.next_increment,
                connect_fee=terms.connect_fee,
                precision=precision,
            )

        customer_billed, customer_price = priced(customer)
        vendor_billed, vendor_cost = priced(vendor)
        return (
            str(event["call_id"]), int(event["attempt"]), str(event["node"]),
            int(event["snapshot_version"]), int(event["originator_id"]),
            event["terminator_id"], event["gateway"], str(event["src_ip"]),
            str(event["caller"]), str(event["called"]), str(event["dialed"]),
            int(event["sip_code"]), str(event["reason"]),
            _time(event["call_started_ms"], "call_started_ms"), started,
            _time(answered_ms, "answered_ms") if answered else None, ended, duration, currency,
            *_side(customer), customer_billed, customer_price,
            *_side(vendor), vendor_billed, vendor_cost,
        )  # fmt: skip
    except InvalidEvent:
        raise
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise InvalidEvent(f"malformed event: {exc!r}") from exc


def _side(terms: Terms | None) -> tuple[Any, ...]:
    if terms is None:
        return (None,) * 6
    return (
        terms.tariff_id,
        terms.prefix,
        terms.rate,
        terms.initial_increment,
        terms.next_increment,
        terms.connect_fee,
    )
