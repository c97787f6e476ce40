"""A deck against the tariff's current windows: what changes for each code, and the writes that
make the tariff say what the deck says from ``now`` on — never before (pure; docs/ratedecks.md).

A code's *timeline* is its windows from now on: ``[(start, end, terms)]``, the first starting
now at the earliest. The deck's timeline for a code:

- a date in the past (or none): the rate from now on;
- a future date with a previous rate: the previous rate until that date, the new one after;
- a future date without one: the tariff's current terms until that date (nothing, for a new
  code), the new rate after;
- Closed, or an end date: the rate until then, nothing after (Closed in the past: nothing).

Codes of the tariff the deck leaves out follow an explicit ``Omitted`` choice: closed at a
date, or kept. A code whose timelines agree is unchanged and costs no write, so importing the
same deck twice changes nothing. Windows that ended before now are never touched: a CDR can
always be priced again with the rate in force at its time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from admin.ratedecks.normalize import DeckRate
from admin.ratedecks.values import Change


class Terms(NamedTuple):
    """What a window prices a call with (and names its destination)."""

    destination: str
    rate: Decimal
    initial_increment: int
    next_increment: int
    connect_fee: Decimal
    minimum_duration: int


class Window(NamedTuple):
    start: datetime
    end: datetime | None  # None: open
    terms: Terms


class StoredWindow(NamedTuple):
    """A row of ``rates`` still in force or to come."""

    id: int
    start: datetime
    end: datetime | None
    terms: Terms


class Category(StrEnum):
    NEW = "new"  # the tariff has no window for the code now or later
    INCREASED = "increased"
    DECREASED = "decreased"
    CHANGED = "changed"  # same rate; increments, fee, destination name or dates differ
    UNCHANGED = "unchanged"
    CLOSED = "closed"  # stops matching (Closed, an end date, or omitted and closed)


class OmittedMode(StrEnum):
    CLOSE = "close"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Omitted:
    """What becomes of the tariff's codes the deck leaves out."""

    mode: OmittedMode
    at: datetime | None = None  # CLOSE: when (None: now)


class OmittedUnchosen(Exception):
    """The deck leaves codes out and nobody said what becomes of them."""

    def __init__(self, count: int, examples: list[str]) -> None:
        self.count = count
        super().__init__(
            f"the deck leaves out {count} code(s) the tariff has ({', '.join(examples)}…): "
            "choose what becomes of them: close them (at a date) or keep them"
        )


@dataclass(frozen=True, slots=True)
class CodeChange:
    prefix: str
    category: Category
    row: int | None  # the deck's row (None: omitted)
    current: Terms | None  # in force now
    new: Terms | None  # the deck's terms (its last window's), None when closed
    effective: datetime | None  # when the change takes effect
    previous: Terms | None = None  # the deck's own previous rate, kept until ``effective``


@dataclass(slots=True)
class Plan:
    """The changes, and the writes: delete rows, end rows at a time, insert windows."""

    now: datetime
    changes: list[CodeChange] = field(default_factory=list)  # unchanged codes left out
    counts: Counter = field(default_factory=Counter)  # Category -> codes
    delete_ids: list[int] = field(default_factory=list)
    ends: list[tuple[int, datetime | None]] = field(default_factory=list)  # (id, new end)
    inserts: list[tuple[str, Window]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.delete_ids) + len(self.ends) + len(self.inserts)


def terms_of(rate: DeckRate, value: Decimal | None = None) -> Terms:
    return Terms(
        rate.destination,
        rate.rate if value is None else value,
        rate.initial_increment,
        rate.next_increment,
        rate.connect_fee,
        rate.minimum_duration,
    )


def timeline_of(rate: DeckRate, now: datetime, current: Terms | None) -> list[Window]:
    """The windows from ``now`` on that the deck's row asks for."""
    start = rate.effective_from if rate.effective_from and rate.effective_from > now else now
    end = rate.effective_to
    if rate.change is Change.CLOSED:
        end = min(end, start) if end else start  # Closed at its date
        start = now
    if end is not None and end <= now:
        return []
    windows: list[Window] = []
    if start > now and rate.change is not Change.CLOSED:
        if rate.previous_rate is not None and rate.change is not Change.NEW:
            windows.append(Window(now, start, terms_of(rate, rate.previous_rate)))
        elif current is not None:
            windows.append(Window(now, start, current))
    new = terms_of(rate)
    if windows and windows[0].terms == new:  # "until then" the same terms: one window
        return [Window(now, end, new)]
    windows.append(Window(start, end, new))
    return windows


def timeline_of_rows(rows: list[DeckRate], now: datetime, current: Terms | None) -> list[Window]:
    """A code on several rows, in start order: each row's window ends where the next starts
    (unless it ends earlier); only the first may keep a previous rate before its date."""
    if len(rows) == 1:
        return timeline_of(rows[0], now, current)
    windows: list[Window] = []
    for index, row in enumerate(rows):
        if index + 1 < len(rows):
            following = rows[index + 1].effective_from
            row = row._replace(effective_to=min(row.effective_to or following, following))  # type: ignore[type-var]
        if index:
            row = row._replace(previous_rate=None)
        windows += timeline_of(row, now, current if index == 0 else None)
    return windows


def clipped(stored: Iterable[StoredWindow], now: datetime) -> list[Window]:
    return [Window(max(w.start, now), w.end, w.terms) for w in stored]


def in_force(stored: list[StoredWindow], now: datetime) -> Terms | None:
    for window in stored:
        if window.start <= now and (window.end is None or window.end > now):
            return window.terms
    return None


def plan(
    deck: Mapping[str, DeckRate],
    current: Mapping[str, list[StoredWindow]],
    now: datetime,
    omitted: Omitted | None,
    later: Mapping[str, list[DeckRate]] | None = None,
) -> Plan:
    """What importing ``deck`` (a code's first row; ``later``: its further rows, in start
    order) into a tariff whose windows (ending after ``now``, sorted by start) are ``current``
    changes; raises ``OmittedUnchosen`` when it matters."""
    later = later or {}
    result = Plan(now)
    left_out = [prefix for prefix in current if prefix not in deck]
    if left_out and omitted is None:
        raise OmittedUnchosen(len(left_out), left_out[:5])
    unchanged = 0
    for prefix, rate in deck.items():
        stored = current.get(prefix, [])
        if len(stored) == 1 and prefix not in later and _still_in_force(rate, stored[0], now):
            unchanged += 1  # most codes of a deck: one window, in force, the same terms
            continue
        now_terms = in_force(stored, now)
        more = later.get(prefix)
        wanted = (
            timeline_of_rows([rate, *more], now, now_terms)
            if more
            else timeline_of(rate, now, now_terms)
        )
        category = _category(stored, wanted, now_terms, now)
        result.counts[category] += 1
        if category is Category.UNCHANGED:
            continue
        last = wanted[-1] if wanted else None
        previous = wanted[0].terms if len(wanted) > 1 else None
        result.changes.append(
            CodeChange(
                prefix,
                category,
                rate.row,
                now_terms,
                None if category is Category.CLOSED or last is None else last.terms,
                (last.end if category is Category.CLOSED else last.start) if last else now,
                previous,
            )
        )
        _rewrite(result, prefix, stored, wanted, now)
    if unchanged:
        result.counts[Category.UNCHANGED] += unchanged
    if omitted is not None and omitted.mode is OmittedMode.CLOSE:
        at = max(omitted.at or now, now)
        for prefix in left_out:
            stored = current[prefix]
            wanted = _closed_at(clipped(stored, now), at)
            if wanted == clipped(stored, now):
                result.counts[Category.UNCHANGED] += 1
                continue
            result.counts[Category.CLOSED] += 1
            result.changes.append(
                CodeChange(prefix, Category.CLOSED, None, in_force(stored, now), None, at)
            )
            _rewrite(result, prefix, stored, wanted, now)
    elif left_out:
        result.counts[Category.UNCHANGED] += len(left_out)
    return result


def _still_in_force(rate: DeckRate, window: StoredWindow, now: datetime) -> bool:
    """The row asks for what the one stored window already says: from now on, open."""
    return (
        window.end is None
        and window.start <= now
        and rate.effective_to is None
        and rate.change is not Change.CLOSED
        and (rate.effective_from is None or rate.effective_from <= now)
        and window.terms == terms_of(rate)
    )


def _closed_at(windows: list[Window], at: datetime) -> list[Window]:
    kept = []
    for window in windows:
        if window.start >= at:
            continue
        end = at if window.end is None or window.end > at else window.end
        kept.append(Window(window.start, end, window.terms))
    return kept


def _category(
    stored: list[StoredWindow], wanted: list[Window], now_terms: Terms | None, now: datetime
) -> Category:
    if clipped(stored, now) == wanted:
        return Category.UNCHANGED
    if not wanted or wanted[-1].end is not None:
        return Category.CLOSED
    if not stored:
        return Category.NEW
    before = now_terms or stored[0].terms
    after = wanted[-1].terms
    if after.rate > before.rate:
        return Category.INCREASED
    if after.rate < before.rate:
        return Category.DECREASED
    return Category.CHANGED


def _rewrite(
    result: Plan, prefix: str, stored: list[StoredWindow], wanted: list[Window], now: datetime
) -> None:
    """The writes from ``stored`` to ``wanted``: a window in force keeps its row (and its start,
    the history) when its terms go on, else ends now; rows not started yet are replaced."""
    remaining = list(wanted)
    for window in stored:
        if window.start < now:  # started: its past stays as it was
            if remaining and remaining[0].start == now and remaining[0].terms == window.terms:
                end = remaining.pop(0).end
            else:
                end = now
            if end != window.end:
                result.ends.append((window.id, end))
        elif remaining and Window(window.start, window.end, window.terms) == remaining[0]:
            remaining.pop(0)
        else:
            result.delete_ids.append(window.id)
    result.inserts.extend((prefix, window) for window in remaining)
