"""Number rules: how a trunk's numbers are rewritten, in a documented order.

A rule list is applied top to bottom, each rule to the result of the one before:

- ``{"strip": N}``   drop the first N digits (fewer than N: the number becomes empty)
- ``{"prefix": P}``  put the digits P in front
- ``{"match": R, "replace": S}``  where the regular expression R matches at the start of the
  number (Python ``re``), replace that match by S (``\\1`` for groups); no match: unchanged

Rules are validated at publish (admin.publisher: ``parse_rules``), so the engine applies only
rules it understands; an unknown operation or a bad expression is refused there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class RuleError(ValueError):
    """A rule the engine would not understand (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # strip | prefix | match
    argument: str  # digits to strip (as text), the prefix, or the expression
    replacement: str = ""

    def apply(self, number: str) -> str:
        if self.kind == "strip":
            return number[int(self.argument) :]
        if self.kind == "prefix":
            return self.argument + number
        return re.sub(self.argument, self.replacement, number, count=1)

    def describe(self) -> str:
        if self.kind == "strip":
            return f"strip {self.argument}"
        if self.kind == "prefix":
            return f"prefix {self.argument}"
        return f"match {self.argument} -> {self.replacement}"


_GROUP_REFERENCE = re.compile(r"\\(?:(\d+)|g<([^>]*)>)")


def _check_expression(pattern: str, replacement: str, place: str) -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise RuleError(f"{place}: {exc}") from exc
    for number, name in _GROUP_REFERENCE.findall(replacement):
        group = number or name
        known = int(group) <= compiled.groups if group.isdigit() else group in compiled.groupindex
        if not known:
            raise RuleError(
                f"{place}: the replacement refers to group {group!r}, which {pattern!r} lacks"
            )


def apply_rules(rules: tuple[Rule, ...], number: str) -> str:
    for rule in rules:
        number = rule.apply(number)
    return number


def parse_rules(document: object, where: str) -> tuple[Rule, ...]:
    """The JSON list stored in PostgreSQL -> rules, or RuleError naming ``where``."""
    if not isinstance(document, list):
        raise RuleError(f"{where}: rules must be a list")
    rules = []
    for index, item in enumerate(document, start=1):
        place = f"{where}, rule {index}"
        if not isinstance(item, dict):
            raise RuleError(f"{place}: a rule is an object like {{'strip': 2}}")
        if set(item) == {"strip"}:
            digits = item["strip"]
            if not isinstance(digits, int) or isinstance(digits, bool) or not 0 < digits <= 32:
                raise RuleError(f"{place}: strip takes a number of digits from 1 to 32")
            rules.append(Rule("strip", str(digits)))
        elif set(item) == {"prefix"}:
            prefix = item["prefix"]
            if not isinstance(prefix, str) or not (prefix.isdigit() and prefix.isascii()):
                raise RuleError(f"{place}: prefix takes digits")
            rules.append(Rule("prefix", prefix))
        elif set(item) == {"match", "replace"}:
            pattern, replacement = item["match"], item["replace"]
            if not isinstance(pattern, str) or not isinstance(replacement, str):
                raise RuleError(f"{place}: match and replace take text")
            anchored = pattern if pattern.startswith("^") else "^" + pattern
            _check_expression(anchored, replacement, place)
            rules.append(Rule("match", anchored, replacement))
        else:
            raise RuleError(
                f"{place}: unknown rule {sorted(item)}; use strip, prefix or match+replace"
            )
    return tuple(rules)
