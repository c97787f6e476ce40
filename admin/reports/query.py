"""A report request, checked, as one statement over the coarsest rollup that answers it.

A request names a dimension, a time range ``[since, until)`` taken to the minute, filters and
a sort; ``parse`` builds one from query parameters and refuses a bad one with the parameter's
name (the web layer answers 400). The source is a rollup of the coarsest grain the range and
the dimension fall on (day, else hour, else minute) and, of that grain, the narrowest that has
the keys the dimension and the filters read (``source_for``), a coarser one through its
``_live`` view (``Rollup.relation``: with the minute rows not yet fed into it); ``source="cdrs"``
reads the CDRs themselves, for checks and the benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row

from admin.queries import query
from admin.reports import dimensions, measures
from admin.reports.dimensions import GRAINS, Dimension

FILTERS: dict[str, type] = {
    "customer": int,  # a company id
    "vendor": int,  # a company id
    "originator": int,
    "terminator": int,
    "destination": str,  # a destination name, or a prefix
}
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
MAX_SPAN = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup as sql/schema.sql's akira_rollups() declares it (a test ties the two)."""

    name: str
    grain: str
    keys: tuple[str, ...]

    @property
    def relation(self) -> str:
        """What a report reads: the minute rollup itself (the cdrs trigger keeps it), a coarser
        one through its _live view (its rows and the minute rows not yet fed into it: 0016)."""
        return self.name if self.grain == "minute" else f"{self.name}_live"


_EVERY_KEY = ("originator_id", "terminator_id", "customer_tariff_id", "customer_prefix")
ROLLUPS = (
    *(Rollup(f"cdr_rollup_{grain}", grain, _EVERY_KEY) for grain in GRAINS),
    Rollup("cdr_rollup_trunks_day", "day", ("originator_id", "terminator_id")),
    Rollup("cdr_rollup_destinations_day", "day", ("customer_tariff_id", "customer_prefix")),
)
SOURCES = (*(rollup.name for rollup in ROLLUPS), "cdrs")
# The keys a filter reads (the report's WHERE, sql/queries/reports.sql).
FILTER_KEYS = {
    "customer": ("originator_id",),
    "vendor": ("terminator_id",),
    "originator": ("originator_id",),
    "terminator": ("terminator_id",),
    "destination": ("customer_tariff_id", "customer_prefix"),
}
_BIGINT = 2**63 - 1


class InvalidReport(ValueError):
    """A request that cannot be answered; ``parameter`` names what to fix."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class ReportRow:
    key: str | None  # the dimension's key (a company id, a destination, a bucket's ISO time)
    label: str | None
    currency: str
    attempts: int
    calls: int
    answered: int
    asr: str | None  # exact decimal text, None where undefined (no attempts)
    acd: str | None
    pdd: str | None
    ner: str | None
    minutes: str
    billed_minutes: str
    revenue: str
    cost: str
    margin: str


@dataclass(frozen=True, slots=True)
class ReportRequest:
    dimension: Dimension
    since: datetime
    until: datetime
    filters: Mapping[str, Any] = field(default_factory=dict)
    sort: str | None = None  # a measure or "label"; "-" before it: descending
    limit: int = DEFAULT_LIMIT

    @property
    def order(self) -> str:
        """The sort asked for, or the dimension's natural one: time ascending, else volume."""
        if self.sort:
            return self.sort
        return "label" if self.dimension.is_time else "-attempts"


@dataclass(frozen=True, slots=True)
class Report:
    request: ReportRequest
    rows: list[ReportRow]
    total: int  # rows before the limit
    source: str


SORT_KEYS = tuple(sort for name in ("label", *measures.NAMES) for sort in (name, f"-{name}"))


def minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def parse_time(parameter: str, text: str) -> datetime:
    """ISO 8601, a date or a time; without a zone, UTC (as CDRs count time)."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidReport(parameter, f"{text!r} is not an ISO 8601 date or time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        return minute(at)
    except OverflowError:
        raise InvalidReport(parameter, f"{text!r} is out of range") from None


def default_range(dimension: Dimension, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last 24 hours to the next whole hour; for a day dimension, the last 30 days."""
    now = now or datetime.now(UTC)
    if dimension.grain == "day":
        until = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return until - timedelta(days=30), until
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return until - timedelta(days=1), until


def parse(params: Mapping[str, str | None], now: datetime | None = None) -> ReportRequest:
    """A request from query parameters: dimension, since, until, sort, limit and the filters."""
    name = params.get("dimension") or "customer"
    dimension = dimensions.BY_NAME.get(name)
    if dimension is None:
        raise InvalidReport("dimension", f"must be one of: {', '.join(dimensions.NAMES)}")
    since, until = default_range(dimension, now)
    if params.get("since"):
        since = parse_time("since", params["since"])
    if params.get("until"):
        until = parse_time("until", params["until"])
    if until <= since:
        raise InvalidReport("until", "must be after since")
    if until - since > MAX_SPAN:
        raise InvalidReport("until", f"a report spans at most {MAX_SPAN.days} days")
    sort = params.get("sort") or None
    if sort is not None and sort not in SORT_KEYS:
        raise InvalidReport("sort", f"must be one of: {', '.join(SORT_KEYS)}")
    # a time series is whole by default; a ranking shows its top rows
    default_limit = MAX_LIMIT if dimension.is_time else DEFAULT_LIMIT
    limit = _integer("limit", params.get("limit"), default_limit, MAX_LIMIT)
    chosen: dict[str, Any] = {}
    for filter_name, kind in FILTERS.items():
        raw = params.get(filter_name)
        if raw in (None, ""):
            continue
        if kind is int:
            chosen[filter_name] = _integer(filter_name, raw, None, _BIGINT)
        elif "\x00" in raw or len(raw) > 200:
            raise InvalidReport(filter_name, "not a destination name")
        else:
            chosen[filter_name] = raw
    return ReportRequest(dimension, since, until, chosen, sort, limit)


def _integer(parameter: str, raw: str | None, default: int | None, maximum: int) -> int:
    if raw in (None, ""):
        if default is None:
            raise InvalidReport(parameter, "missing")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidReport(parameter, f"{raw!r} is not a whole number") from None
    if not 1 <= value <= maximum:
        raise InvalidReport(parameter, f"must be between 1 and {maximum}")
    return value


def source_for(request: ReportRequest) -> str:
    """The rollup to read: the coarsest grain the range and the dimension fall on, and at it
    the one with the fewest keys that still has every key the dimension and filters read."""
    finest = GRAINS[request.dimension.grain or "day"]
    needed = {key for key in request.dimension.keys if key != "bucket"}
    needed.update(key for name in request.filters for key in FILTER_KEYS[name])
    for grain in ("day", "hour", "minute"):
        step = GRAINS[grain]
        if step <= finest and all(_aligned(at, step) for at in (request.since, request.until)):
            fitting = [r for r in ROLLUPS if r.grain == grain and needed <= set(r.keys)]
            return min(fitting, key=lambda rollup: len(rollup.keys)).name
    return "cdr_rollup_minute"


def _source(name: str) -> sql.Composable:
    """The rows a report sums, every key a column: a narrow rollup's absent keys are NULL
    (the filters that would read them never choose it)."""
    if name == "cdrs":
        return sql.SQL("({})").format(sql.SQL(query("report_cdr_facts")))
    rollup = next(rollup for rollup in ROLLUPS if rollup.name == name)
    if rollup.keys == _EVERY_KEY:
        return sql.Identifier(rollup.relation)
    columns = [
        sql.Identifier(key)
        if key in rollup.keys
        else sql.SQL("NULL::{} AS {}").format(
            sql.SQL("text" if key == "customer_prefix" else "bigint"), sql.Identifier(key)
        )
        for key in _EVERY_KEY
    ]
    return sql.SQL("(SELECT bucket, {}, currency, {} FROM {})").format(
        sql.SQL(", ").join(columns),
        sql.SQL(", ").join(map(sql.Identifier, measures.SUMMED)),
        sql.Identifier(rollup.relation),
    )


def _aligned(at: datetime, step: timedelta) -> bool:
    return (at - datetime(2000, 1, 1, tzinfo=UTC)) % step == timedelta(0)


def statement(request: ReportRequest, source: str | None = None) -> tuple[sql.Composed, dict]:
    source = source or source_for(request)
    if source not in SOURCES:
        raise ValueError(f"unknown report source {source!r}; known: {', '.join(SOURCES)}")
    dimension = request.dimension
    keys = [
        sql.SQL("date_trunc({grain}, s.bucket, 'UTC') AS bucket").format(
            grain=sql.Literal(dimension.grain)
        )
        if key == "bucket"
        else sql.SQL("s.{key}").format(key=sql.Identifier(key))
        for key in dimension.keys
    ]
    chosen = [
        sql.SQL("({sql}){cast} AS {name}").format(
            sql=sql.SQL(measure.sql),
            cast=sql.SQL("::text" if measure.numeric_text else "::bigint"),
            name=sql.Identifier(measure.name),
        )
        for measure in measures.MEASURES
    ]
    order = request.order
    column, descending = order.removeprefix("-"), order.startswith("-")
    sort_sql = "t.label" if column == "label" else measures.BY_NAME[column].sql
    direction = " DESC NULLS LAST" if descending else " ASC NULLS LAST"
    composed = sql.SQL(query("report_rows")).format(
        source=_source(source),
        keys=sql.SQL(", ").join(keys),
        key_positions=sql.SQL(", ").join(sql.Literal(n + 1) for n in range(len(keys))),
        key=sql.SQL(dimension.key_sql),
        label=sql.SQL(dimension.label_sql),
        joins=sql.SQL(dimension.joins),
        measures=sql.SQL(", ").join(chosen),
        order=sql.SQL(sort_sql + direction + ", t.label, t.key, t.currency"),
    )
    params = {
        "since": request.since,
        "until": request.until,
        "limit": request.limit,
        **{name: request.filters.get(name) for name in FILTERS},
    }
    return composed, params


_ROW_FIELDS = tuple(f.name for f in fields(ReportRow))


def _report(request: ReportRequest, source: str, rows: list[dict[str, Any]]) -> Report:
    total = int(rows[0]["total_count"]) if rows else 0
    return Report(
        request, [ReportRow(**{name: row[name] for name in _ROW_FIELDS}) for row in rows], total,
        source,
    )  # fmt: skip


def run(conn: Connection, request: ReportRequest, source: str | None = None) -> Report:
    composed, params = statement(request, source)
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(composed, params).fetchall()
    return _report(request, source or source_for(request), rows)


async def run_async(
    db: AsyncConnection, request: ReportRequest, source: str | None = None
) -> Report:
    composed, params = statement(request, source)
    async with db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(composed, params)
        rows = await cursor.fetchall()
    return _report(request, source or source_for(request), rows)
