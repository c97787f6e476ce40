"""Generic lists: an entity declares its row type, list query, columns and filters; this module
pages and filters it for both the HTML views and the JSON API.

A list query (``sql/queries/web_*.sql``) takes ``%(search)s`` (LIKE-escaped text or NULL), one
parameter per declared filter (NULL when not chosen), the entity's scope parameters (a tariff's
rates take ``%(tariff_id)s``), ``%(limit)s`` and ``%(offset)s``; it returns the row's fields plus
``total_count`` (``count(*) OVER ()``), so one statement and one WHERE clause give both the page
and the total.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from admin.queries import query
from admin.web.table import Column

RowT = TypeVar("RowT")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
PER_PAGE_CHOICES = (25, 50, 100, 200)

Search = Annotated[str | None, QueryParameter(name="q", description="text search", max_length=100)]
MAX_PAGE = 1_000_000  # far past any list; a larger one would overflow the query's offset
PageNumber = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="page number, from 1")]
PerPage = Annotated[int, QueryParameter(ge=1, le=MAX_PER_PAGE, description="rows per page")]


@dataclass(frozen=True, slots=True)
class Choice:
    value: str  # as written in the query string
    label: str
    sql_value: object  # as passed to the list query


ANY = "any"  # the choice of every filter that filters nothing (a select box must send a value)
RESERVED = frozenset({"q", "page", "per_page", "sort", "columns"})
SORT = "sort"  # ?sort=name, ?sort=-name: any column, ascending or descending
COLUMNS = "columns"  # ?columns=name,company: the columns shown (pages, exports); none: all


@dataclass(frozen=True, slots=True)
class ChoiceFilter:
    """A select box in the UI and a query parameter in the API, both named ``name``."""

    name: str
    label: str
    choices: tuple[Choice, ...]

    def __post_init__(self) -> None:
        if self.name in RESERVED:
            raise ValueError(f"a filter cannot be named {self.name!r}: the list itself uses it")

    @property
    def values(self) -> tuple[str, ...]:
        return (ANY, *(choice.value for choice in self.choices))

    def sql_value(self, raw: str | None) -> object:
        if raw is None or raw == ANY:
            return None
        for choice in self.choices:
            if choice.value == raw:
                return choice.sql_value
        allowed = ", ".join(self.values)
        raise ValidationException(f"{self.name} must be one of: {allowed}")


ENABLED_FILTER = ChoiceFilter(
    "enabled", "Status", (Choice("yes", "Enabled", True), Choice("no", "Disabled", False))
)


COUNT_CAP = 10_000  # rows a list of millions counts before it says "10000+"


@dataclass(frozen=True, slots=True)
class Entity(Generic[RowT]):
    slug: str  # URL segment of the page and the API: /originators, /api/v1/originators
    label: str  # plural, for navigation and titles
    row: type[RowT]  # dataclass of one list row; also the API's schema
    list_query: str
    columns: tuple[Column, ...]
    search_hint: str  # what the text search looks at, shown as the placeholder
    filters: tuple[ChoiceFilter, ...] = ()
    scope: tuple[str, ...] = ()  # parameters fixed by a parent page, e.g. ("tariff_id",)
    key: tuple[str, ...] = ("id",)  # the row's unique columns: a sort's tie-break, stable pages
    # a list of millions (CDRs, a deck's rates) counts at most this many rows and says "N+":
    # its query then has no total_count column, so a page costs its rows, not the table
    count_cap: int | None = None
    nav: bool = True  # a link in the top bar; False: reached from its parents' pages

    @property
    def sort_keys(self) -> tuple[str, ...]:
        """What ``?sort=`` takes: each column, and ``-column`` for descending."""
        names = tuple(column.attribute for column in self.columns)
        return (*names, *(f"-{name}" for name in names))


@dataclass(frozen=True, slots=True)
class Listing:
    """What the user asked for: the search, the chosen filters and the page."""

    search: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    chosen: Mapping[str, str] = field(default_factory=dict)  # filter name -> choice value
    sort: str | None = None  # a column, "-" before it for descending; None: the query's order
    columns: tuple[str, ...] = ()  # the columns chosen, in the entity's order; (): all

    def shown(self, entity: Entity[Any]) -> tuple[Column, ...]:
        if not self.columns:
            return entity.columns
        return tuple(c for c in entity.columns if c.attribute in self.columns)

    @classmethod
    def from_request(
        cls,
        entity: Entity[Any],
        chosen: Mapping[str, str | None],
        search: str | None,
        page: int,
        per_page: int,
    ) -> Listing:
        """From a generic handler's arguments; ``chosen`` are the filters it took as **kwargs."""
        for choice_filter in entity.filters:
            choice_filter.sql_value(chosen.get(choice_filter.name))  # refuses unknown values
        if search and "\x00" in search:  # PostgreSQL text cannot hold it
            raise ValidationException("q: a NUL character cannot be searched for")
        columns = _chosen_columns(entity, chosen.get(COLUMNS))
        sort = chosen.get(SORT)
        if sort is not None and sort not in entity.sort_keys:
            raise ValidationException(f"sort must be one of: {', '.join(entity.sort_keys)}")
        filtering = {
            name: value
            for name, value in chosen.items()
            if value not in (None, ANY) and name not in (SORT, COLUMNS)
        }
        return cls((search or "").strip() or None, page, per_page, filtering, sort, columns)

    def query_string(self, page: int | None = None) -> str:
        """The query string of this listing at another page, for pager links."""
        params: dict[str, str | int] = {}
        if self.search:
            params["q"] = self.search
        params.update(self.chosen)
        if self.sort:
            params[SORT] = self.sort
        if self.columns:
            params[COLUMNS] = ",".join(self.columns)
        if self.per_page != DEFAULT_PER_PAGE:
            params["per_page"] = self.per_page
        params["page"] = self.page if page is None else page
        return "?" + urlencode(params)


def _chosen_columns(entity: Entity[Any], raw: Any) -> tuple[str, ...]:
    """``?columns=a,b`` (or repeated, as checkboxes send it) as the entity's column names."""
    if not raw:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    names = {name.strip() for item in items for name in item.split(",")} - {""}
    known = [column.attribute for column in entity.columns]
    unknown = sorted(names - set(known))
    if unknown:
        raise ValidationException(
            f"columns: no column {', '.join(unknown)}; the columns are {', '.join(known)}"
        )
    return tuple(name for name in known if name in names)


@dataclass(frozen=True, slots=True)
class Page(Generic[RowT]):
    items: list[RowT]
    total: int  # rows in all; with ``capped``, at least this many
    page: int
    per_page: int
    capped: bool = False  # more rows than the entity counts (its count_cap): "total+"

    @property
    def pages(self) -> int:
        counted = max(1, -(-self.total // self.per_page))
        if self.capped and len(self.items) == self.per_page:
            return max(counted, self.page + 1)  # not counted to the end: one more at least
        return max(counted, self.page) if self.capped else counted

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)


def declare_filters(handler: Callable[..., Any], entity: Entity[Any]) -> None:
    """Make an entity's filters real query parameters of a generic handler taking ``**chosen``.

    The generic handler cannot name them in its code; declared in its signature, Litestar
    refuses an unknown choice with a 400 and the OpenAPI schema lists each filter's choices.
    """
    signature = inspect.signature(handler)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    declared = [
        inspect.Parameter(
            choice_filter.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                Literal[choice_filter.values] | None,  # type: ignore[valid-type]
                QueryParameter(description=f"{choice_filter.label}; {ANY} filters nothing"),
            ],
        )
        for choice_filter in entity.filters
    ]
    declared.append(
        inspect.Parameter(
            SORT,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                Literal[entity.sort_keys] | None,  # type: ignore[valid-type]
                QueryParameter(description="a column to sort by; -column: descending"),
            ],
        )
    )
    declared.append(
        inspect.Parameter(
            COLUMNS,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                list[str] | None,
                QueryParameter(
                    max_length=40,
                    description="the columns shown (pages and exports), comma separated or "
                    "repeated; none: all",
                ),
            ],
        )
    )
    handler.__signature__ = signature.replace(parameters=[*fixed, *declared])  # type: ignore[attr-defined]
    handler.__annotations__.update({p.name: p.annotation for p in declared})


def like_escaped(search: str | None) -> str | None:
    """The search text as a LIKE operand matching itself only: ``50%`` is not a wildcard."""
    if search is None:
        return None
    return search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_params(
    entity: Entity[Any],
    listing: Listing,
    scope: Mapping[str, object] | None = None,
    *,
    limit: int | None = None,
) -> dict[str, object]:
    """The list query's parameters: the search, each filter, the parent's scope and the page
    (or the first ``limit`` rows, for an export)."""
    scope = dict(scope or {})
    if set(scope) != set(entity.scope):
        raise ValueError(f"{entity.slug} is scoped by {entity.scope}, given {tuple(scope)}")
    return {
        "search": like_escaped(listing.search),
        **{f.name: f.sql_value(listing.chosen.get(f.name)) for f in entity.filters},
        **scope,
        "limit": listing.per_page if limit is None else limit,
        "offset": 0 if limit is not None else (listing.page - 1) * listing.per_page,
    }


async def fetch_page(
    db: AsyncConnection,
    entity: Entity[RowT],
    listing: Listing,
    scope: Mapping[str, object] | None = None,
) -> Page[RowT]:
    params = list_params(entity, listing, scope)
    statement = sorted_query(entity, listing.sort)
    if entity.count_cap is not None:
        rows = await _rows(db, statement, params)
        total = await _capped_count(db, entity, params)
        capped = total > entity.count_cap
        items = [entity.row(**row) for row in rows]
        return Page(items, min(total, entity.count_cap), listing.page, listing.per_page, capped)
    rows, total = await _fetch(db, statement, params)
    if not rows and listing.page > 1:
        # Past the last page: ask for the first row only, to still tell the total.
        _, total = await _fetch(db, statement, {**params, "limit": 1, "offset": 0})
    return Page([entity.row(**row) for row in rows], total, listing.page, listing.per_page)


async def _capped_count(db: AsyncConnection, entity: Entity[Any], params: dict[str, object]) -> int:
    """The matching rows, counted up to one past the entity's cap: the query stops there."""
    assert entity.count_cap is not None
    inner = query(entity.list_query).rstrip().rstrip(";")
    statement = f"SELECT count(*) FROM ({inner}) AS counted"
    async with db.cursor() as cursor:
        await cursor.execute(statement, {**params, "limit": entity.count_cap + 1, "offset": 0})
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def _rows(
    db: AsyncConnection, statement: str | sql.Composed, params: dict[str, object]
) -> list[dict[str, Any]]:
    async with db.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(statement, params)
        return await cursor.fetchall()


def sorted_query(entity: Entity[Any], sort: str | None) -> str | sql.Composed:
    """The entity's list query, or it re-ordered by a column: the query runs unpaged inside
    (its LIMIT ALL, OFFSET 0) and the page is cut after the sort, ties broken by the key."""
    if sort is None:
        return query(entity.list_query)
    column, descending = sort.removeprefix("-"), sort.startswith("-")
    inner = query(entity.list_query).rstrip().rstrip(";")
    inner = inner.replace("%(limit)s", "ALL").replace("%(offset)s", "0")
    return sql.SQL(
        "SELECT * FROM (" + inner.replace("{", "{{").replace("}", "}}") + ") AS listed"
        " ORDER BY {column} {direction} NULLS LAST, {key} LIMIT %(limit)s OFFSET %(offset)s"
    ).format(
        column=sql.Identifier(column),
        direction=sql.SQL("DESC" if descending else "ASC"),
        key=sql.SQL(", ").join(map(sql.Identifier, entity.key)),
    )


async def _fetch(
    db: AsyncConnection, statement: str | sql.Composed, params: dict[str, object]
) -> tuple[list[dict[str, Any]], int]:
    """The rows without their ``total_count`` column, and that count."""
    rows = await _rows(db, statement, params)
    total = int(rows[0]["total_count"]) if rows else 0
    for row in rows:
        del row["total_count"]
    return rows, total
