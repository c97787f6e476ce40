"""Markup rules: what a customer pays per minute for a code, given what the vendor costs.

A rules file is TOML (read with ``Decimal`` for every number: ``0.1`` is exactly a tenth).
Rules are tried in file order and the first whose selectors all match a code prices it, as
a firewall reads its rules: put the narrow ones first and a catch-all last. A code no rule
matches refuses the derivation, so nothing is priced by accident.

The price of a cost ``c``: ``c * (1 + percent / 100) + fixed``, at least ``c +
minimum_margin``, rounded to ``places`` with the rule's mode. The minimum margin holds after
rounding whatever the mode (a price rounded below it is rounded up instead).
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Decimal,
    localcontext,
)
from pathlib import Path

ROUNDING = {
    "up": ROUND_CEILING,  # never below the exact price: the default
    "half-up": ROUND_HALF_UP,
    "half-even": ROUND_HALF_EVEN,
    "down": ROUND_FLOOR,
}
MAX_PLACES = 8  # rates are numeric(18, 8)
HUNDRED = Decimal(100)
ZERO = Decimal(0)

_FILE_KEYS = {"rank", "places", "rounding", "rule"}
_RULE_KEYS = {
    "name", "prefix", "destination", "percent", "fixed", "minimum_margin", "places", "rounding",
    "rank", "increments", "connect_fee",
}  # fmt: skip


class RulesError(ValueError):
    """A rules file that cannot be used as written: the message names the rule and key."""


@dataclass(frozen=True, slots=True)
class PrefixRange:
    """``44``: every code starting with 44; ``4470-4479``: codes whose first four digits are
    4470 to 4479 (both ends the same length)."""

    low: str
    high: str

    @classmethod
    def parse(cls, text: str) -> PrefixRange:
        low, sep, high = text.strip().partition("-")
        low, high = low.strip(), (high.strip() if sep else low.strip())
        if not (low.isdigit() and high.isdigit()) or len(low) != len(high) or low > high:
            raise ValueError(
                f"{text!r} is not a prefix (digits) or a range of prefixes of one length "
                "(4470-4479)"
            )
        return cls(low, high)

    def matches(self, prefix: str) -> bool:
        head = prefix[: len(self.low)]
        return len(head) == len(self.low) and self.low <= head <= self.high

    def __str__(self) -> str:
        return self.low if self.low == self.high else f"{self.low}-{self.high}"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    prefixes: tuple[PrefixRange, ...] = ()  # any of them (none: every code)
    destination: str = ""  # a glob, case-insensitive ("" : every destination)
    percent: Decimal = ZERO
    fixed: Decimal = ZERO  # per minute
    minimum_margin: Decimal | None = None  # per minute
    places: int = 4
    rounding: str = "up"
    rank: int = 1  # 1: the cheapest vendor rate; 2: the second cheapest …
    increments: tuple[int, int] | None = None  # None: the vendor rate's
    connect_fee: Decimal | None = None  # None: the vendor rate's

    def matches(self, prefix: str, destination: str) -> bool:
        if self.prefixes and not any(r.matches(prefix) for r in self.prefixes):
            return False
        return not self.destination or fnmatch.fnmatchcase(
            destination.casefold(), self.destination.casefold()
        )

    def price(self, cost: Decimal) -> Decimal:
        """The customer's rate per minute for a vendor cost of ``cost`` per minute."""
        step = Decimal(1).scaleb(-self.places)
        with localcontext() as context:
            context.prec = 50  # exact for any numeric(18, 8) times any sane markup
            marked = cost * (1 + self.percent / HUNDRED) + self.fixed
            floor = None if self.minimum_margin is None else cost + self.minimum_margin
            if floor is not None and marked < floor:
                marked = floor
            price = marked.quantize(step, rounding=ROUNDING[self.rounding])
            if floor is not None and price < floor:
                price = floor.quantize(step, rounding=ROUND_CEILING)
        return price if price > 0 else ZERO.quantize(step)


@dataclass(frozen=True, slots=True)
class Rules:
    rules: tuple[Rule, ...]
    source: str = ""
    text: str = field(default="", repr=False)  # the file as read, for the audit log

    def first_match(self, prefix: str, destination: str) -> Rule | None:
        for rule in self.rules:
            if rule.matches(prefix, destination):
                return rule
        return None

    def with_rank(self, rank: int) -> Rules:
        """Every rule choosing the ``rank``-th cheapest vendor (the CLI's ``--rank``)."""
        return Rules(tuple(replace(r, rank=rank) for r in self.rules), self.source, self.text)


def read_rules(path: Path) -> Rules:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: {exc.strerror}") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str = "rules") -> Rules:
    try:
        document = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: {exc}") from None
    unknown = sorted(set(document) - _FILE_KEYS)
    if unknown:
        raise RulesError(f"{source}: unknown key(s) {', '.join(unknown)} (known: "
                         f"{', '.join(sorted(_FILE_KEYS))})")  # fmt: skip
    defaults = {key: document[key] for key in ("rank", "places", "rounding") if key in document}
    raw_rules = document.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RulesError(f"{source}: no [[rule]]: give at least one (a last one without "
                         "prefix or destination prices every code)")  # fmt: skip
    rules = []
    for number, raw in enumerate(raw_rules, start=1):
        label = f"{source}: rule {number}"
        if isinstance(raw, Mapping) and raw.get("name"):
            label += f" ({raw['name']})"
        try:
            rules.append(_rule(number, {**defaults, **raw}))
        except (ValueError, TypeError) as exc:
            raise RulesError(f"{label}: {exc}") from None
    return Rules(tuple(rules), source, text)


def _rule(number: int, raw: Mapping[str, object]) -> Rule:
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        known = ", ".join(sorted(_RULE_KEYS))
        raise ValueError(f"unknown key(s) {', '.join(unknown)} (known: {known})")
    prefixes = raw.get("prefix", [])
    if isinstance(prefixes, str | int):
        prefixes = [prefixes]
    if not isinstance(prefixes, list):
        raise ValueError("prefix: a prefix, a range (4470-4479) or a list of them")
    destination = raw.get("destination", "")
    if not isinstance(destination, str):
        raise ValueError("destination: a name or a glob such as '*Mobile*'")
    rounding = raw.get("rounding", "up")
    if rounding not in ROUNDING:
        raise ValueError(f"rounding: {rounding!r} is not one of {', '.join(ROUNDING)}")
    places = _whole(raw.get("places", 4), "places", 0, MAX_PLACES)
    rank = _whole(raw.get("rank", 1), "rank", 1, 100)
    increments = raw.get("increments")
    return Rule(
        name=str(raw.get("name") or f"rule {number}"),
        prefixes=tuple(PrefixRange.parse(str(p)) for p in prefixes),
        destination=destination,
        percent=_decimal(raw.get("percent", 0), "percent", negative=True),
        fixed=_decimal(raw.get("fixed", 0), "fixed", negative=True),
        minimum_margin=None
        if raw.get("minimum_margin") is None
        else _decimal(raw["minimum_margin"], "minimum_margin"),
        places=places,
        rounding=str(rounding),
        rank=rank,
        increments=None if increments is None else _increments(increments),
        connect_fee=None
        if raw.get("connect_fee") is None
        else _decimal(raw["connect_fee"], "connect_fee"),
    )


def _decimal(value: object, key: str, *, negative: bool = False) -> Decimal:
    """Exact: a TOML number read as Decimal, an integer, or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"{key}: {value!r} is not a decimal number")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except ArithmeticError:
        raise ValueError(f"{key}: {value!r} is not a decimal number") from None
    if not number.is_finite() or (number < 0 and not negative):
        raise ValueError(f"{key}: {value} must be a finite decimal of 0 or more")
    if -number.as_tuple().exponent > MAX_PLACES:  # type: ignore[operator]
        raise ValueError(f"{key}: {value} has more than {MAX_PLACES} decimal places")
    return number


def _whole(value: object, key: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key}: {value!r} must be a whole number from {low} to {high}")
    return value


def _increments(value: object) -> tuple[int, int]:
    first, sep, step = str(value).partition("/")
    if not (sep and first.strip().isdigit() and step.strip().isdigit()):
        raise ValueError(f"increments: {value!r} is not F/N (e.g. 60/60, 30/6, 1/1)")
    initial, following = int(first), int(step)
    if not (1 <= initial <= 3600 and 1 <= following <= 3600):
        raise ValueError(f"increments: {value!r}: whole seconds from 1 to 3600")
    return initial, following
