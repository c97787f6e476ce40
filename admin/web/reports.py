"""Report pages and the reports API (issue 10): any measure by any dimension over a time range.

``/reports`` is the general report (dimension, range, filters, sortable columns, a chart of
the sorted measure, CSV/XLSX export); ``/reports/margin`` the destinations by margin, losses
first; ``/reports/customers/{id}`` and ``/reports/vendors/{id}`` one company's traffic over
time with its destinations and counterparts. ``GET /api/v1/reports`` answers the same
requests as JSON. All read the rollups through admin.reports; a malformed parameter is a 400
that names it. The action is ``reports.view`` (admin/web/permissions.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import QueryParameter
from litestar.response import Response, Template
from psycopg.rows import dict_row

from admin.queries import query
from admin.reports import charts, dimensions, measures
from admin.reports import query as reports
from admin.reports.measures import Unit
from admin.reports.query import Report, ReportRequest, ReportRow
from admin.web import crud
from admin.web.permissions import REPORTS_VIEW, needs
from admin.web.resources import Database
from admin.web.table import Cell, Column, Kind, money, render_rows

CHART_BARS = 15  # a bar chart shows the first rows of the table, as sorted
BREAKDOWN_ROWS = 20
_KINDS = {Unit.COUNT: Kind.NUMBER, Unit.MONEY: Kind.MONEY}
MEASURE_COLUMNS = tuple(
    Column(measure.name, measure.label, _KINDS.get(measure.unit, Kind.NUMBER))
    for measure in measures.MEASURES
)
TRAFFIC_LINKS = {"customer": "/reports/customers/{key}", "vendor": "/reports/vendors/{key}"}
_ID = {"ge": 1, "le": 2**63 - 1}


def report_parameters(
    dimension: Annotated[
        Literal[dimensions.NAMES] | None,  # type: ignore[valid-type]
        QueryParameter(description="what to count by (default: customer)"),
    ] = None,
    since: Annotated[
        str | None,
        QueryParameter(
            description="start, ISO 8601 date or time (UTC without a zone), taken to the minute",
            max_length=64,
        ),
    ] = None,
    until: Annotated[
        str | None, QueryParameter(description="end (excluded), like since", max_length=64)
    ] = None,
    sort: Annotated[
        Literal[reports.SORT_KEYS] | None,  # type: ignore[valid-type]
        QueryParameter(description="a measure or label; -name: descending"),
    ] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=reports.MAX_LIMIT)] = None,
    customer: Annotated[int | None, QueryParameter(description="a company id", **_ID)] = None,
    vendor: Annotated[int | None, QueryParameter(description="a company id", **_ID)] = None,
    originator: Annotated[int | None, QueryParameter(**_ID)] = None,
    terminator: Annotated[int | None, QueryParameter(**_ID)] = None,
    destination: Annotated[
        str | None, QueryParameter(description="a destination name or prefix", max_length=200)
    ] = None,
    chart: Annotated[
        Literal[measures.NAMES] | None,  # type: ignore[valid-type]
        QueryParameter(description="the measure charted (pages only)"),
    ] = None,
) -> dict[str, Any]:
    """The report's query parameters, as given; ``checked`` makes a request of them."""
    return {
        "dimension": dimension,
        "since": since,
        "until": until,
        "sort": sort,
        "limit": limit,
        "customer": customer,
        "vendor": vendor,
        "originator": originator,
        "terminator": terminator,
        "destination": destination,
        "chart": chart,
    }


PARAMETERS = {"params": Provide(report_parameters, sync_to_thread=False)}
Params = NamedDependency[dict[str, Any]]  # what report_parameters gave


def checked(params: dict[str, Any], **defaults: Any) -> ReportRequest:
    given = {name: value for name, value in params.items() if value not in (None, "")}
    try:
        return reports.parse({**defaults, **given})
    except reports.InvalidReport as exc:
        raise ValidationException(str(exc), extra=[{"key": exc.parameter}]) from exc


@dataclass(frozen=True, slots=True)
class ReportPage:
    dimension: str
    since: datetime
    until: datetime
    source: str  # the rollup read (akira_rollups())
    total: int  # rows before the limit
    rows: list[ReportRow]


@get(
    "/reports",
    operation_id="get_report",
    summary="Measures (attempts, ASR, ACD, PDD, NER, minutes, revenue, cost, margin) by a "
    "dimension over a time range",
    description="Read from the rollups. Ratios and money are exact decimal text; a ratio "
    "without a denominator is null. One row per dimension value and currency.",
    tags=["Reports"],
    dependencies=PARAMETERS,
    opt=needs(REPORTS_VIEW),
)
async def report_api(db: Database, params: Params) -> ReportPage:
    report = await reports.run_async(db, checked(params))
    request = report.request
    return ReportPage(
        request.dimension.name, request.since, request.until, report.source, report.total,
        report.rows,
    )  # fmt: skip


def columns_for(dimension: dimensions.Dimension) -> tuple[Column, ...]:
    link = TRAFFIC_LINKS.get(dimension.name)
    return (
        Column("label", dimension.label, link=link),
        Column("currency", "Currency"),
        *MEASURE_COLUMNS,
    )


def rendered(columns: tuple[Column, ...], rows: list[ReportRow]) -> list[list[Cell]]:
    """The table's cells; a row without a key (no vendor tried) links nowhere."""
    cells = render_rows(columns, rows)
    for row, line in zip(rows, cells, strict=True):
        if row.key is None and line[0].href:
            line[0] = replace(line[0], href=None)
    return cells


def chart_for(report: Report, measure_name: str) -> Any:
    measure = measures.BY_NAME[measure_name]
    title = f"{measure.label} by {report.request.dimension.label.lower()}"
    if report.request.dimension.is_time:
        return charts.line_chart(title, time_series(report, measure))
    points = [
        charts.Point(f"{row.label or dimensions.UNRATED} {row.currency}", _shown(row, measure))
        for row in report.rows[:CHART_BARS]
    ]
    return charts.bar_chart(title, points)


def time_series(report: Report, measure: measures.Measure) -> list[charts.Point]:
    """Every bucket of the range, in order: one without traffic counts 0 (its ratios are
    undefined). Of the currencies, the one with the most attempts (amounts never add up
    across currencies)."""
    request = report.request
    step = dimensions.GRAINS[request.dimension.grain or "day"]
    attempts: dict[str, int] = {}
    for row in report.rows:
        attempts[row.currency] = attempts.get(row.currency, 0) + row.attempts
    currency = max(attempts, key=attempts.__getitem__) if attempts else None
    by_bucket = {row.key: row for row in report.rows if row.currency == currency}
    empty = "0" if measure.unit in (Unit.COUNT, Unit.MINUTES, Unit.MONEY) else None
    start = datetime(2000, 1, 1, tzinfo=UTC)  # on a whole day, hour and minute
    points, at = [], start + (request.since - start) // step * step
    while at < request.until and len(points) < reports.MAX_LIMIT:
        row = by_bucket.get(at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        label = at.strftime("%Y-%m-%d" if step >= timedelta(days=1) else "%Y-%m-%d %H:%M")
        points.append(charts.Point(label, _shown(row, measure) if row else empty))
        at += step
    return points


def _shown(row: ReportRow, measure: measures.Measure) -> str | None:
    value = getattr(row, measure.name)
    if value is None:
        return None
    return money(value) if measure.unit is Unit.MONEY else str(value)


def _query_string(params: dict[str, Any], **changes: Any) -> str:
    chosen = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return "?" + urlencode(chosen)


def _context(path: str, params: dict[str, Any], report: Report, chart: str) -> dict[str, Any]:
    request = report.request
    columns = columns_for(request.dimension)
    current = request.order
    sort_links = {}
    for column in columns:
        if column.attribute == "currency":
            continue
        name = column.attribute
        # counts and money read best largest first; a second click turns the order
        first = name if name == "label" or request.dimension.is_time else f"-{name}"
        following = name if current == f"-{name}" else f"-{name}"
        target = following if current in (name, f"-{name}") else first
        mark = {name: " ▲", f"-{name}": " ▼"}.get(current, "")
        sort_links[name] = (path + _query_string(params, sort=target), mark)
    shown = {**params, "since": _iso(request.since), "until": _iso(request.until)}
    return {
        "report": report,
        "params": params,
        "request_shown": shown,
        "columns": columns,
        "rows": rendered(columns, report.rows),
        "sort_links": sort_links,
        "chart": chart_for(report, chart),
        "chart_measure": chart,
        "dimensions": dimensions.DIMENSIONS,
        "measures": measures.MEASURES,
        "export_query": _query_string(params),
        "path": path,
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M")


def _chart_measure(params: dict[str, Any], request: ReportRequest) -> str:
    """The measure asked for, else the one sorted by, else attempts."""
    sorted_by = request.order.removeprefix("-")
    return params.get("chart") or (sorted_by if sorted_by in measures.BY_NAME else "attempts")


async def _companies(db: Database) -> list[dict[str, Any]]:
    async with db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(query("report_companies"))
        return await cursor.fetchall()


async def _report_page(
    request: Request, db: Database, params: dict[str, Any], title: str, **defaults: Any
) -> Template:
    report = await reports.run_async(db, checked(params, **defaults))
    context = _context(request.url.path, params, report, _chart_measure(params, report.request))
    return Template(
        "reports.html",
        context={**context, "title": title, "companies": await _companies(db)},
    )


@get(
    "/reports",
    name="reports",
    dependencies=PARAMETERS,
    opt=needs(REPORTS_VIEW),
    include_in_schema=False,
)
async def report_page(request: Request, db: Database, params: Params) -> Template:
    return await _report_page(request, db, params, "Reports")


@get(
    "/reports/margin",
    name="reports-margin",
    dependencies=PARAMETERS,
    opt=needs(REPORTS_VIEW),
    include_in_schema=False,
)
async def margin_page(request: Request, db: Database, params: Params) -> Template:
    """Destinations by margin, the loss-making ones first."""
    return await _report_page(request, db, params, "Margin", dimension="destination", sort="margin")


@get(
    ["/reports.csv", "/reports.xlsx"],
    name="reports-export",
    dependencies=PARAMETERS,
    opt=needs(REPORTS_VIEW),
    include_in_schema=False,
)
async def report_export(request: Request, db: Database, params: Params) -> Response:
    """The report as shown, as a file: money and ratios stay exact text."""
    checked_request = replace(checked(params), limit=reports.MAX_LIMIT)
    report = await reports.run_async(db, checked_request)
    sheet = Sheet("Report", columns_for(checked_request.dimension))
    kind = request.url.path.rsplit(".", 1)[1]
    write = crud.as_csv if kind == "csv" else crud.as_xlsx
    body, media_type = write(sheet, sheet.columns, report.rows)
    name = f"report-{checked_request.dimension.name}.{kind}"
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@dataclass(frozen=True, slots=True)
class Sheet:
    """What admin.web.crud's CSV and XLSX writers read of a list: its label and columns."""

    label: str
    columns: tuple[Column, ...]


TRAFFIC_SIDES = {
    "customers": ("customer", "is_customer", ("destination", "vendor")),
    "vendors": ("vendor", "is_vendor", ("destination", "customer")),
}


def _traffic_handler(side: str) -> Any:
    filter_name, flag, breakdowns = TRAFFIC_SIDES[side]

    async def traffic_page(
        request: Request, db: Database, company_id: crud.RowId, params: Params
    ) -> Template:
        async with db.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query("report_company"), {"id": company_id})
            company = await cursor.fetchone()
        if company is None or not company[flag]:
            raise NotFoundException(f"no {filter_name} with id {company_id}")
        time_dimension = params.get("dimension") or "hour"
        if not dimensions.BY_NAME[time_dimension].is_time:
            raise ValidationException("dimension: a traffic page is by minute, hour or day")
        fixed = {**params, filter_name: company_id, "dimension": time_dimension}
        series = await reports.run_async(db, checked(fixed))
        tables = []
        for name in breakdowns:
            by = replace(
                series.request, dimension=dimensions.BY_NAME[name], sort=None,
                limit=BREAKDOWN_ROWS,
            )  # fmt: skip
            report = await reports.run_async(db, by)
            columns = columns_for(by.dimension)
            tables.append((by.dimension.label, columns, rendered(columns, report.rows)))
        chart = params.get("chart") or "attempts"
        context = _context(request.url.path, fixed, series, chart)
        return Template(
            "traffic.html",
            context={**context, "company": company, "side": filter_name, "tables": tables},
        )

    return get(
        f"/reports/{side}/{{company_id:int}}",
        name=f"reports-{side}",
        dependencies=PARAMETERS,
        opt=needs(REPORTS_VIEW),
        include_in_schema=False,
    )(traffic_page)


PAGES = (
    report_page,
    margin_page,
    report_export,
    _traffic_handler("customers"),
    _traffic_handler("vendors"),
)
API = (report_api,)
