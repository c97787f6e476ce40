"""Report requests (admin/reports/query.py): checked parameters and the rollup each reads."""

from datetime import UTC, datetime

import pytest

from admin.reports import query

NOW = datetime(2026, 6, 10, 14, 37, 12, tzinfo=UTC)
MONTH = {"since": "2026-05-01", "until": "2026-06-01"}


def source(**params):
    return query.source_for(query.parse(params, now=NOW))


@pytest.mark.parametrize(
    ("params", "rollup"),
    [
        ({"dimension": "customer", **MONTH}, "cdr_rollup_trunks_day"),
        ({"dimension": "vendor", "customer": "3", **MONTH}, "cdr_rollup_trunks_day"),
        ({"dimension": "day", "customer": "3", **MONTH}, "cdr_rollup_trunks_day"),
        ({"dimension": "destination", **MONTH}, "cdr_rollup_destinations_day"),
        ({"dimension": "day", "destination": "France", **MONTH}, "cdr_rollup_destinations_day"),
        ({"dimension": "destination", "vendor": "2", **MONTH}, "cdr_rollup_day"),
        ({"dimension": "hour", **MONTH}, "cdr_rollup_hour"),
        ({"dimension": "customer", "since": "2026-05-01T10:00"}, "cdr_rollup_hour"),
        ({"dimension": "customer", "since": "2026-05-01T10:05Z"}, "cdr_rollup_minute"),
        ({"dimension": "minute", **MONTH}, "cdr_rollup_minute"),
    ],
)
def test_the_narrowest_coarsest_rollup_that_answers(params, rollup):
    assert source(**params) == rollup


def test_defaults_last_day_to_the_next_hour_or_30_days_by_day():
    request = query.parse({}, now=NOW)
    assert (request.dimension.name, request.order, request.limit) == ("customer", "-attempts", 100)
    assert request.since == datetime(2026, 6, 9, 15, tzinfo=UTC)
    assert request.until == datetime(2026, 6, 10, 15, tzinfo=UTC)
    by_day = query.parse({"dimension": "day"}, now=NOW)
    assert (by_day.since, by_day.until) == (
        datetime(2026, 5, 12, tzinfo=UTC),
        datetime(2026, 6, 11, tzinfo=UTC),
    )
    assert by_day.order == "label" and by_day.limit == query.MAX_LIMIT  # a whole series


def test_times_without_a_zone_are_utc_and_taken_to_the_minute():
    request = query.parse({"since": "2026-05-01T09:05:59", "until": "2026-05-01T12:00+02:00"})
    assert request.since == datetime(2026, 5, 1, 9, 5, tzinfo=UTC)
    assert request.until == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"dimension": "planet"}, "dimension"),
        ({"since": "soon"}, "since"),
        ({"since": "2026-05-02", "until": "2026-05-01"}, "until"),
        ({"since": "2024-01-01", "until": "2026-01-01"}, "until"),
        ({"sort": "-weight"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"customer": "-1"}, "customer"),
        ({"vendor": "99999999999999999999"}, "vendor"),
        ({"destination": "a\x00b"}, "destination"),
    ],
)
def test_a_bad_parameter_is_named(params, parameter):
    with pytest.raises(query.InvalidReport) as refused:
        query.parse(params, now=NOW)
    assert refused.value.parameter == parameter
    assert str(refused.value).startswith(f"{parameter}: ")
