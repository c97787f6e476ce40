"""CDR events -> priced CDR rows (DESIGN §4, §5): validation and exact pricing, no I/O.

The event schema is a msgspec Struct derived from the one CDR declaration (kemi.cdr): strict
about what the engine promises (money as decimal strings, never JSON numbers; positive
increments; times in epoch milliseconds; no unknown keys), and its errors say which field is
wrong, which is what an operator reads in ``cdr_rejects``. msgspec rather than pydantic because
this runs once per CDR: decoding and validating in one C pass costs a tenth of it (the rater's
budget, bench/cdr_ingest.py). Rows come out in ``kemi.cdr.COLUMNS`` order.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Annotated, Any, Literal

import msgspec

from kemi import cdr
from kemi.contract import CDR_EVENT_FORMAT
from kemi.money import call_cost

COLUMNS = cdr.COLUMNS


class InvalidEvent(ValueError):
    """The event cannot become a CDR; it goes to cdr_rejects with this message."""


# What the columns hold: a value outside would fail the whole batch's COPY, not the event.
_INT_BOUNDS = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}


def _meta(item: cdr.CdrField) -> msgspec.Meta | None:
    """The checks msgspec makes while decoding: types, bounds, lengths (patterns: _Checked)."""
    checks = {name: value for name, value in item.checks.items() if name != "pattern"}
    if item.sql in _INT_BOUNDS:
        checks["le"] = min(checks.get("le", _INT_BOUNDS[item.sql]), _INT_BOUNDS[item.sql])
        if "gt" not in checks:
            checks["ge"] = max(checks.get("ge", -_INT_BOUNDS[item.sql]), -_INT_BOUNDS[item.sql])
    if item.kind == "epoch_ms":
        checks["gt"] = 0
    return msgspec.Meta(**checks) if checks else None


class _Checked:
    """A field msgspec only decodes as text: money (-> Decimal), a pattern, an address. The
    check runs once per distinct value, which it then remembers: rates, fees, prefixes,
    currencies and trunk addresses repeat from one call to the next."""

    LIMIT = 10_000  # values remembered per field, then forgotten all at once

    def __init__(self, item: cdr.CdrField) -> None:
        self.name, self.item = item.name, item
        self.memo: dict[str, Any] = {}
        pattern = item.checks.get("pattern")
        # "$" would also match before a final newline in Python's re
        self.match = re.compile(re.sub(r"\$\Z", r"\\Z", pattern)).match if pattern else None
        if item.kind == "money":  # numeric(18,8): 10 digits before the point
            precision, scale = map(int, re.fullmatch(r"numeric\((\d+),(\d+)\)", item.sql).groups())
            self.digits = precision - scale

    def __call__(self, value: str) -> Any:
        checked = self._check(value)
        if len(self.memo) >= self.LIMIT:
            self.memo.clear()
        self.memo[value] = checked
        return checked

    def _check(self, value: str) -> Any:
        if self.match is not None and not self.match(value):
            raise InvalidEvent(
                f"malformed event: {self.name}: {value!r} does not match "
                f"{self.item.checks['pattern']}"
            )
        if self.item.sql == "inet":
            try:
                socket.inet_pton(socket.AF_INET6 if ":" in value else socket.AF_INET, value)
            except OSError:
                raise InvalidEvent(f"malformed event: {self.name}: not an IP address") from None
        if self.item.kind != "money":
            return value
        try:
            money = Decimal(value)
        except ArithmeticError:
            money = None
        if money is None or not money.is_finite() or money.is_signed():
            raise InvalidEvent(
                f"malformed event: {self.name}: money must be a decimal string >= 0, not {value!r}"
            )
        if money and money.adjusted() >= self.digits:
            raise InvalidEvent(
                f"malformed event: {self.name}: {value} has more than {self.digits} digits "
                f"before the point ({self.item.sql})"
            )
        return money


_KINDS: dict[str, Any] = {"text": str, "int": int, "money": str, "epoch_ms": int}


def _annotation(item: cdr.CdrField) -> Any:
    meta = _meta(item)
    kind = Annotated[_KINDS[item.kind], meta] if meta else _KINDS[item.kind]
    return kind | None if item.nullable else kind


def _field(item: cdr.CdrField) -> tuple:
    """Required, but for a field engines before it omit (absent_ok): None then."""
    kind = _annotation(item)
    return (item.name, kind, None) if item.absent_ok else (item.name, kind)


# One call attempt as kemi.context.CallContext.event writes it; every field required but the
# ones added since (kw_only: those may sit between required ones).
CdrEvent = msgspec.defstruct(
    "CdrEvent",
    [("format", Literal[CDR_EVENT_FORMAT])] + [_field(item) for item in cdr.EVENT_FIELDS],
    forbid_unknown_fields=True,
    frozen=True,
    gc=False,
    kw_only=True,
)
_decode = msgspec.json.Decoder(CdrEvent).decode
_MONEY = frozenset(item.name for item in cdr.FIELDS if item.kind == "money")


def _problem(exc: msgspec.ValidationError) -> str:
    """msgspec's "Expected `str`, got `float` - at `$.customer_rate`" as
    "customer_rate: ..."; the first problem only (msgspec stops there)."""
    message, _, path = str(exc).partition(" - at `$.")
    name = path.rstrip("`")
    if not name:
        unknown = re.fullmatch(r"Object contains unknown field `(.*)`", message)
        if unknown:
            return f"{unknown[1]}: unknown field (not in the CDR declaration, kemi/cdr.py)"
        missing = re.fullmatch(r"Object missing required field `(.*)`", message)
        if missing:
            return f"{missing[1]}: missing (every field is required, null when it has no value)"
        return f"event: {message}"
    if name in _MONEY and re.search(r"got `(int|float)`", message):
        message = "money must be a decimal string, not a JSON number"
    if name == "format":
        return f"format is not {CDR_EVENT_FORMAT}; format: {message}"
    return f"{name}: {message}"


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


_SIDES = tuple(
    attrgetter(*(f"{side}_{name}" for name in cdr.TERMS)) for side in ("customer", "vendor")
)


def _consistent(event: Any) -> None:
    if event.answered_ms is not None and event.answered_ms > event.ended_ms:
        raise InvalidEvent("malformed event: answered_ms is after ended_ms")
    if event.ringing_ms is not None and not event.started_ms <= event.ringing_ms <= event.ended_ms:
        raise InvalidEvent("malformed event: ringing_ms is outside the attempt")
    for side, terms in zip(("customer", "vendor"), _SIDES, strict=True):
        missing = terms(event).count(None)
        if missing and missing != len(cdr.TERMS):
            raise InvalidEvent(f"malformed event: {side} terms are incomplete")


def parse_event(raw: str | bytes) -> Any:
    raw = raw if isinstance(raw, bytes) else raw.encode()
    if b"\\u0000" in raw:
        raise InvalidEvent("malformed event: a text holds \\u0000, which PostgreSQL cannot store")
    try:
        start = raw[:12]
        if start == b'{"format":1,':
            event = msgspec.convert(_from_format_1(json.loads(raw)), CdrEvent)
        elif start == b'{"format":2,':
            event = msgspec.convert(_from_format_2(json.loads(raw)), CdrEvent)
        else:
            event = _decode(raw)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(f"malformed event: {_problem(exc)}") from exc
    except (msgspec.DecodeError, ValueError) as exc:  # not JSON at all
        raise InvalidEvent(f"malformed event: {exc}") from exc
    _consistent(event)
    return event


# The row is built in one pass: the event's values in FIELDS order (one attrgetter), the
# checked ones (money, patterns, addresses) and times converted by position, the rated values
# appended, then one itemgetter puts the rated ones in their columns.
_EVENT_VALUES = attrgetter(*(item.name for item in cdr.EVENT_FIELDS))
_CHECKED = tuple(
    (index, checked.memo, checked)
    for index, item in enumerate(cdr.EVENT_FIELDS)
    if item.kind == "money" or "pattern" in item.checks or item.sql == "inet"
    for checked in (_Checked(item),)
)
_AT_TIMES = tuple(i for i, item in enumerate(cdr.EVENT_FIELDS) if item.kind == "epoch_ms")
_RATED = ("duration", "customer_billed_seconds", "customer_price")
_RATED += ("vendor_billed_seconds", "vendor_cost")
if {item.name for item in cdr.FIELDS if item.source == cdr.RATED} != set(_RATED):
    raise RuntimeError("kemi.cdr declares rated fields rate_event does not compute")
_ROW = itemgetter(
    *(
        len(cdr.EVENT_FIELDS) + _RATED.index(item.name)
        if item.source == cdr.RATED
        else cdr.EVENT_FIELDS.index(item)
        for item in cdr.FIELDS
    )
)
_NAMES = tuple(item.name for item in cdr.EVENT_FIELDS)
_CUSTOMER, _VENDOR = (
    itemgetter(*(_NAMES.index(f"{side}_{name}") for name in cdr.TERMS[2:]))
    for side in ("customer", "vendor")
)
_ZERO = Decimal(0)
_PRICE = next(item for item in cdr.FIELDS if item.name == "customer_price")
_PRICE_DIGITS = _Checked(_PRICE).digits


@lru_cache(maxsize=1 << 16)
def _cost(
    answered: bool, seconds: int, rate: Decimal, initial: int, following: int, fee: Decimal,
    minimum: int, precision: int,
) -> tuple[int, Decimal]:  # fmt: skip
    """kemi.money.call_cost for a talk time of ``seconds`` whole seconds: it counts any started
    second as a whole one, so this is its price for every talk time in (seconds - 1, seconds];
    calls of one tariff row and length cost the same, and are priced once."""
    billed, cost = call_cost(
        answered=answered,
        duration=Decimal(seconds),
        rate=rate,
        initial_increment=initial,
        next_increment=following,
        connect_fee=fee,
        precision=precision,
        minimum_duration=minimum,
    )
    if cost.adjusted() >= _PRICE_DIGITS:  # would fail the whole batch's COPY
        raise InvalidEvent(f"a price of {cost} does not fit {_PRICE.sql} ({seconds} s at {rate})")
    return billed, cost


def rate_event(raw: str | bytes, precisions: dict[str, int]) -> tuple[Any, ...]:
    """One CDR event (JSON) -> the row written to ``cdrs``, priced on both sides."""
    event = parse_event(raw)
    values = list(_EVENT_VALUES(event))
    for index, memo, check in _CHECKED:
        value = values[index]
        if value is not None:
            try:
                values[index] = memo[value]
            except KeyError:
                values[index] = check(value)
    precision = precisions.get(event.currency)
    if precision is None:
        raise InvalidEvent(f"unknown currency {event.currency!r}")
    for index in _AT_TIMES:
        if values[index] is not None:
            values[index] = datetime.fromtimestamp(values[index] / 1000, UTC)
    answered = event.answered_ms is not None
    # talk time in seconds, exact to the millisecond; 0 when not answered
    talk_ms = event.ended_ms - event.answered_ms if answered else 0
    values.append(Decimal(talk_ms).scaleb(-3) if answered else _ZERO)
    seconds = -(-talk_ms // 1000)  # any started second counts (kemi.money.billable_seconds)
    for side in (_CUSTOMER(values), _VENDOR(values)):
        if side[0] is None:  # no terms on this side (no vendor was tried)
            values += (0, _ZERO)
        else:
            values += _cost(answered, seconds, *side, precision)
    return _ROW(values)
