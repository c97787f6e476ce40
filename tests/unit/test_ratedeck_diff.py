"""The deck against a tariff's windows (admin/ratedecks/diff.py): what each code becomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from admin.ratedecks.diff import (
    Category,
    Omitted,
    OmittedMode,
    OmittedUnchosen,
    StoredWindow,
    Terms,
    Window,
    plan,
    timeline_of,
)
from admin.ratedecks.normalize import DeckRate
from admin.ratedecks.values import Change

NOW = datetime(2025, 1, 6, tzinfo=UTC)
LATER = NOW + timedelta(days=7)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def rate(prefix="93", value="0.05", **fields) -> DeckRate:
    return DeckRate(row=2, prefix=prefix, destination="Afghanistan", rate=D(value),
                    initial_increment=60, next_increment=60, **fields)  # fmt: skip


def terms(value="0.05") -> Terms:
    return Terms("Afghanistan", D(value), 60, 60, D(0), 0)


def stored(value="0.05", start=LONG_AGO, end=None, row_id=1) -> StoredWindow:
    return StoredWindow(row_id, start, end, terms(value))


def test_a_past_date_prices_from_now_never_before():
    assert timeline_of(rate(effective_from=LONG_AGO), NOW, None) == [Window(NOW, None, terms())]


def test_a_scheduled_increase_keeps_the_previous_rate_until_its_date():
    row = rate(value="0.07", previous_rate=D("0.05"), change=Change.INCREASE, effective_from=LATER)
    assert timeline_of(row, NOW, None) == [
        Window(NOW, LATER, terms("0.05")),
        Window(LATER, None, terms("0.07")),
    ]
    result = plan({"93": row}, {"93": [stored("0.05")]}, NOW, None)
    assert result.counts == {Category.INCREASED: 1}
    # the window in force keeps its row and its past, and ends at the date; the new one starts
    assert result.ends == [(1, LATER)] and result.delete_ids == []
    assert result.inserts == [("93", Window(LATER, None, terms("0.07")))]
    (change,) = result.changes
    assert (change.current, change.new, change.effective) == (terms("0.05"), terms("0.07"), LATER)


def test_a_future_date_without_a_previous_rate_keeps_the_tariffs():
    row = rate(value="0.04", effective_from=LATER)
    assert timeline_of(row, NOW, terms("0.05")) == [
        Window(NOW, LATER, terms("0.05")),
        Window(LATER, None, terms("0.04")),
    ]
    assert timeline_of(row, NOW, None) == [Window(LATER, None, terms("0.04"))]  # a new code


def test_new_starts_at_its_date_and_closed_stops_at_its():
    new = rate(prefix="9321", change=Change.NEW, effective_from=LATER, previous_rate=D("0.01"))
    closed = rate(prefix="9399", change=Change.CLOSED, effective_from=LATER)
    result = plan({"9321": new, "9399": closed}, {"9399": [stored(row_id=7)]}, NOW, None)
    assert result.counts == {Category.NEW: 1, Category.CLOSED: 1}
    assert result.inserts == [("9321", Window(LATER, None, terms()))]
    assert result.ends == [(7, LATER)]
    closed_now = rate(prefix="9399", change=Change.CLOSED, effective_from=LONG_AGO)
    assert plan({"9399": closed_now}, {"9399": [stored(row_id=7)]}, NOW, None).ends == [(7, NOW)]


def test_the_same_deck_again_changes_nothing():
    deck = {
        "93": rate(value="0.07", previous_rate=D("0.05"), effective_from=LATER),
        "9320": rate(prefix="9320", effective_from=LONG_AGO),
    }
    first = plan(deck, {}, NOW, None)
    assert first.counts == {Category.NEW: 2}
    current: dict[str, list[StoredWindow]] = {}
    for number, (prefix, window) in enumerate(first.inserts):
        current.setdefault(prefix, []).append(StoredWindow(number, *window))
    for moment in (NOW, NOW + timedelta(hours=1)):
        again = plan(deck, current, moment, None)
        assert again.writes == 0 and again.counts == {Category.UNCHANGED: 2}


def test_a_rate_change_ends_the_window_in_force_and_replaces_windows_to_come():
    current = {"93": [stored("0.05", row_id=1), stored("0.09", start=LATER, row_id=2)]}
    result = plan({"93": rate(value="0.04")}, current, NOW, None)
    assert result.counts == {Category.DECREASED: 1}
    assert result.ends == [(1, NOW)] and result.delete_ids == [2]
    assert result.inserts == [("93", Window(NOW, None, terms("0.04")))]
    other = rate(value="0.05")
    other = other._replace(next_increment=6)
    assert plan({"93": other}, {"93": [stored()]}, NOW, None).counts == {Category.CHANGED: 1}


def test_omitted_codes_need_an_explicit_choice():
    current = {"93": [stored(row_id=1)], "94": [stored(row_id=2)]}
    deck = {"93": rate()}
    with pytest.raises(OmittedUnchosen, match="leaves out 1 code"):
        plan(deck, current, NOW, None)
    kept = plan(deck, current, NOW, Omitted(OmittedMode.KEEP))
    assert kept.writes == 0 and kept.counts == {Category.UNCHANGED: 2}
    closed = plan(deck, current, NOW, Omitted(OmittedMode.CLOSE, LATER))
    assert closed.counts == {Category.UNCHANGED: 1, Category.CLOSED: 1}
    assert closed.ends == [(2, LATER)]
    # closing at a date already past closes now; a window starting after it goes
    current["94"].append(stored("0.2", start=LATER + timedelta(days=1), row_id=3))
    at_once = plan(deck, current, NOW, Omitted(OmittedMode.CLOSE, LONG_AGO))
    assert at_once.ends == [(2, NOW)] and at_once.delete_ids == [3]


def test_past_windows_are_never_touched():
    # the plan only ever sees windows ending after now (the query's filter); one in force
    # that started before now keeps its start: its row is ended, never rewritten
    result = plan({"93": rate(value="0.06")}, {"93": [stored("0.05", row_id=1)]}, NOW, None)
    assert result.ends == [(1, NOW)] and not result.delete_ids


def test_a_code_on_several_rows_is_one_timeline():
    first = rate(value="0.05", effective_from=LONG_AGO)
    second = rate(value="0.07", effective_from=LATER)
    result = plan({"93": first}, {"93": [stored("0.05")]}, NOW, None, {"93": [second]})
    assert result.counts == {Category.INCREASED: 1}
    assert result.ends == [(1, LATER)]
    assert result.inserts == [("93", Window(LATER, None, terms("0.07")))]


def test_a_future_date_with_the_same_rate_before_is_one_window():
    row = rate(previous_rate=D("0.05"), change=Change.UNCHANGED, effective_from=LATER)
    assert timeline_of(row, NOW, None) == [Window(NOW, None, terms())]
    assert plan({"93": row}, {"93": [stored()]}, NOW, None).writes == 0
