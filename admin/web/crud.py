"""The generic create / detail / edit / delete / export pages and API routes, written once.

An entity that can be written declares an ``Editable``: its list (``Entity``), its service
(``admin.services``), the singular name, the form's select choices and the detail page's child
tables. The handlers below do the rest for every such entity, calling the service in a worker
thread on a short connection of its own, as ``akira`` does (the service is synchronous code
shared with the CLI). A refused form comes back with each error next to its field and the
operator's input kept; a refused delete lists what depends on the row.
"""

from __future__ import annotations

import asyncio
import csv
import io
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Annotated, Any

import psycopg
from litestar import Request, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, JSONBody, PathParameter
from litestar.response import Redirect, Response, Template
from litestar.status_codes import HTTP_409_CONFLICT
from psycopg.rows import dict_row
from pydantic import BaseModel

from admin import services
from admin.queries import query
from admin.services import Actor, Service, ServiceError
from admin.settings import Settings
from admin.web.listing import (
    Entity,
    Listing,
    Search,
    declare_filters,
    list_params,
    sorted_query,
)
from admin.web.permissions import CATALOG_WRITE, PERMISSION_OPT, require
from admin.web.table import Column, Kind, render_rows

# a row's id in a path: a bigint, so a larger number is a 400 before it reaches PostgreSQL
RowId = Annotated[int, PathParameter(ge=1, le=2**63 - 1, description="the row's id")]
FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
UploadData = Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)]
CSRF_FIELD = "_csrf_token"
EXPORT_LIMIT = 200_000  # rows in one export, built in memory: narrow a larger one with filters


@dataclass(frozen=True, slots=True)
class Child:
    """A table on the detail page: rows of a named query taking %(id)s."""

    label: str
    query: str
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Editable:
    entity: Entity[Any]
    service: Service[Any]
    singular: str  # "company"
    fields: tuple[Column, ...]  # the detail page's summary, from the service's get query
    choices: Mapping[str, str] = field(default_factory=dict)  # form field -> query of values
    children: tuple[Child, ...] = ()
    title: str = "name"
    # a child made from the detail page: (its slug, its field naming this row, link text)
    new_child: tuple[str, str, str] | None = None
    detail: bool = True  # False: the entity has a page of its own at /<slug>/{id}
    action: str = CATALOG_WRITE  # what its writes (and its forms) need
    private: bool = False  # its list and records are for those with ``action`` only
    # a row that lives on its parent's page (a tariff's rates): (field, parent's URL template)
    parent: tuple[str, str] | None = None
    panel: str | None = None  # a template the detail page includes after its summary

    def home(self, row: Mapping[str, Any]) -> str:
        """Where its rows are listed: its list, or its parent's page (when the row names it)."""
        if self.parent is None or not row.get(self.parent[0]):
            return f"/{self.entity.slug}"
        field, url = self.parent
        return url.format(row[field])


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    help: str
    widget: str  # text | checkbox | select
    value: Any
    error: str | None
    options: tuple[tuple[str, str], ...] = ()  # (value, label) of a select


def form_fields(
    editable: Editable,
    values: Mapping[str, Any],
    errors: Mapping[str, str],
    options: Mapping[str, tuple[tuple[str, str], ...]],
) -> list[FormField]:
    """The form's inputs, from its pydantic model: a bool is a checkbox, a choice a select."""
    result = []
    for name, info in editable.service.form.model_fields.items():
        widget = "checkbox" if info.annotation is bool else "text"
        if (info.json_schema_extra or {}).get("format") == "password":  # OpenAPI's own mark
            widget = "password"
        choices = options.get(name) or _literal_choices(info.annotation)
        if choices:
            widget = "select"
            if not info.is_required() and info.default is None:
                choices = (("", "—"), *choices)  # an optional reference: none chosen
        value = values.get(name, info.default if info.default is not None else "")
        if isinstance(value, list | tuple):
            value = ", ".join(str(item) for item in value)  # as the form takes it back
        if widget == "password":
            value = ""  # a password is never sent back to the browser
        label, help_text = info.title or name, info.description or ""
        result.append(FormField(name, label, help_text, widget, value, errors.get(name), choices))
    return result


def restrict_private(editables: Iterable[Editable], handlers: Iterable[Any]) -> list[Any]:
    """Every route under a private entity's path (its list, export, records, API) needs the
    entity's action, reads included: a read-only user does not see the users page."""
    private = {e.entity.slug: e.action for e in editables if e.private}
    result = []
    for handler in handlers:
        for path in handler.paths:
            slug = path.strip("/").split("/")[0].split(".")[0]
            if slug in private:
                handler.opt[PERMISSION_OPT] = private[slug]
        result.append(handler)
    return result


def _literal_choices(annotation: Any) -> tuple[tuple[str, str], ...]:
    """A ``Literal`` field (or an optional one) is a select of its values."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(candidate) is typing.Literal:
            return tuple((str(v), str(v)) for v in typing.get_args(candidate))
    return ()


def may_write(request: Request[Any, Any, Any], action: str = CATALOG_WRITE) -> None:
    """The forms' pages are GETs (reads to the login guard), yet only a writer should get them;
    the writes themselves are declared with the entity's action where the app mounts them."""
    require(request.state.user, action)


def actor(request: Request[Any, Any, Any]) -> Actor:
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
    return Actor(request.state.user.username, request_id[:64])


def _settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


async def in_thread(request: Request[Any, Any, Any], work: Callable[[psycopg.Connection], Any]):
    """Run service code on a connection of its own (autocommit: the service's transaction)."""

    def run() -> Any:
        with psycopg.connect(_settings(request).database_url, autocommit=True) as conn:
            return work(conn)

    return await asyncio.to_thread(run)


def _posted(editable: Editable, data: Mapping[str, str]) -> dict[str, Any]:
    """A browser form as the service's input: an unticked checkbox is not sent, so it is off."""
    values: dict[str, Any] = {k: v for k, v in data.items() if k != CSRF_FIELD}
    for name, info in editable.service.form.model_fields.items():
        if info.annotation is bool:
            values[name] = name in values and values[name] not in ("", "off", "false")
        elif values.get(name) == "" and not info.is_required():
            del values[name]  # an emptied optional field: its default (none)
    return values


def _options(
    conn: psycopg.Connection, editable: Editable
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Each select's (value, label) pairs: a query of one column labels a value by itself."""
    return {
        name: tuple((str(row[0]), str(row[-1])) for row in conn.execute(query(name_query)))
        for name, name_query in editable.choices.items()
    }


def detail_context(conn: psycopg.Connection, editable: Editable, row_id: int) -> dict[str, Any]:
    row = services.get(conn, editable.service, row_id)
    children = []
    with conn.cursor(row_factory=dict_row) as cursor:
        for child in (*editable.children, AUDIT_CHILD):
            params = {"id": row_id, "entity": editable.service.entity}
            rows = [SimpleNamespace(**r) for r in cursor.execute(query(child.query), params)]
            children.append((child, render_rows(child.columns, rows)))
    summary = render_rows(editable.fields, [SimpleNamespace(**row)])[0]
    return {
        "row": row,
        "home": editable.home(row),
        "summary": list(zip(editable.fields, summary, strict=True)),
        "children": children,
        "dependents": services.dependents(conn, editable.service, row_id),
    }


AUDIT_CHILD = Child(
    "Changes",
    "web_audit_for_object",
    (
        Column("at", "When", Kind.DATETIME),
        Column("username", "Who"),
        Column("action", "What"),
        Column("changed", "Fields", Kind.LIST),
        Column("request_id", "Request"),
    ),
)


def pages(editable: Editable) -> list[HTTPRouteHandler]:
    """The entity's pages: new, detail, edit, delete, import."""
    slug = editable.entity.slug
    base = f"/{slug}"

    def form_page(request, title, action, values, errors=None, options=None, status=200):
        context = {
            "editable": editable,
            "home": editable.home(values),
            "title": title,
            "action": action,
            "fields": form_fields(editable, values, errors or {}, options or {}),
            "errors": errors or {},
        }
        return Template("form.html", context=context, status_code=status)

    async def new_form(request: Request) -> Template:
        may_write(request, editable.action)
        options = await in_thread(request, lambda conn: _options(conn, editable))
        fields = editable.service.form.model_fields
        given = {k: v for k, v in request.query_params.items() if k in fields}  # ?parent_id=
        title = f"New {editable.singular}"
        return form_page(request, title, f"{base}/new", given, options=options)

    async def create_row(request: Request, data: FormData) -> Redirect | Template:
        may_write(request, editable.action)
        values = _posted(editable, data)

        def work(conn: psycopg.Connection) -> int:
            form = services.parse_form(editable.service, values)
            return services.create(conn, editable.service, form, actor(request))

        try:
            row_id = await in_thread(request, work)
        except ServiceError as refused:
            options = await in_thread(request, lambda conn: _options(conn, editable))
            title = f"New {editable.singular}"
            return form_page(
                request, title, f"{base}/new", values, refused.fields or {"form": str(refused)},
                options, status=400,
            )  # fmt: skip
        return Redirect(path=await _shown_at(request, editable, row_id), status_code=303)

    async def detail_page(request: Request, row_id: RowId) -> Template:
        context = await found(request, lambda conn: detail_context(conn, editable, row_id))
        return Template("detail.html", context={"editable": editable, **context})

    async def edit_form(request: Request, row_id: RowId) -> Template:
        may_write(request, editable.action)

        def work(conn):
            return services.get(conn, editable.service, row_id), _options(conn, editable)

        row, options = await found(request, work)
        title = f"Edit {editable.singular} {row[editable.title]}"
        return form_page(request, title, f"{base}/{row_id}/edit", row, options=options)

    async def update_row(request: Request, row_id: RowId, data: FormData) -> Redirect | Template:
        may_write(request, editable.action)
        values = _posted(editable, data)

        def work(conn: psycopg.Connection) -> None:
            form = services.parse_form(editable.service, values)
            services.update(conn, editable.service, row_id, form, actor(request))

        try:
            await found(request, work)
        except ServiceError as refused:
            options = await in_thread(request, lambda conn: _options(conn, editable))
            return form_page(
                request, f"Edit {editable.singular}", f"{base}/{row_id}/edit", values,
                refused.fields or {"form": str(refused)}, options, status=400,
            )  # fmt: skip
        return Redirect(path=await _shown_at(request, editable, row_id), status_code=303)

    async def delete_form(request: Request, row_id: RowId) -> Template:
        may_write(request, editable.action)
        context = await found(request, lambda conn: detail_context(conn, editable, row_id))
        return Template("confirm_delete.html", context={"editable": editable, **context})

    async def delete_row(request: Request, row_id: RowId, data: FormData) -> Redirect | Template:
        may_write(request, editable.action)
        who = actor(request)

        def work(conn: psycopg.Connection) -> str:
            home = editable.home(services.get(conn, editable.service, row_id))
            services.delete(conn, editable.service, row_id, who)
            return home

        try:
            home = await found(request, work)
        except ServiceError as refused:
            context = await found(request, lambda conn: detail_context(conn, editable, row_id))
            context = {"editable": editable, "refused": str(refused), **context}
            return Template("confirm_delete.html", context=context, status_code=409)
        return Redirect(path=home, status_code=303)

    async def import_form(request: Request) -> Template:
        may_write(request, editable.action)
        return _import_page(editable, {"fixed": _fixed(editable, request.query_params)})

    async def import_file(request: Request, data: UploadData) -> Redirect | Template:
        may_write(request, editable.action)
        who = actor(request)
        form = await request.form()
        fixed = _fixed(editable, {k: v for k, v in form.items() if isinstance(v, str)})
        try:
            rows = [row | fixed for row in _csv_rows(await data.read())]
            created = await in_thread(
                request, lambda conn: services.import_rows(conn, editable.service, rows, who)
            )
        except ServiceError as refused:
            return _import_page(editable, {"error": str(refused), "fixed": fixed}, status=400)
        return _import_page(editable, {"imported": len(created), "fixed": fixed})

    options = {"include_in_schema": False}
    return [
        get(f"{base}/new", name=f"{slug}-new", **options)(new_form),
        post(f"{base}/new", **options)(create_row),
        *(
            [get(f"{base}/{{row_id:int}}", name=f"{slug}-detail", **options)(detail_page)]
            if editable.detail
            else []
        ),
        get(f"{base}/{{row_id:int}}/edit", name=f"{slug}-edit", **options)(edit_form),
        post(f"{base}/{{row_id:int}}/edit", **options)(update_row),
        get(f"{base}/{{row_id:int}}/delete", name=f"{slug}-delete", **options)(delete_form),
        post(f"{base}/{{row_id:int}}/delete", **options)(delete_row),
        get(f"{base}/import", name=f"{slug}-import", **options)(import_form),
        post(f"{base}/import", **options)(import_file),
    ]


def export_route(entity: Entity[Any]) -> HTTPRouteHandler:
    """``GET /<slug>.csv`` and ``.xlsx``: any list, with its search and filters, as a file."""
    slug = entity.slug

    async def export(request: Request, search: Search = None, **chosen: str | None) -> Response:
        listing = Listing.from_request(entity, chosen, search, 1, 1)
        rows = await in_thread(request, lambda conn: _export_rows(conn, entity, listing))
        kind = request.url.path.rsplit(".", 1)[1]
        columns = listing.shown(entity)
        body, media_type = (as_csv if kind == "csv" else as_xlsx)(entity, columns, rows)
        return Response(
            body,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="{slug}.{kind}"'},
        )

    declare_filters(export, entity)
    return get([f"/{slug}.csv", f"/{slug}.xlsx"], name=f"{slug}-export", include_in_schema=False)(
        export
    )


async def _shown_at(request: Request[Any, Any, Any], editable: Editable, row_id: int) -> str:
    """Where a row is seen after a save: its parent's page (a tariff's rate), or its own."""
    if editable.parent is None:
        return f"/{editable.entity.slug}/{row_id}"
    row = await in_thread(request, lambda conn: services.get(conn, editable.service, row_id))
    return editable.home(row)


async def found(request: Request[Any, Any, Any], work: Callable[[psycopg.Connection], Any]):
    try:
        return await in_thread(request, work)
    except services.NotFound as exc:
        raise NotFoundException(str(exc)) from exc


def _export_rows(conn: psycopg.Connection, entity: Entity[Any], listing: Listing) -> list:
    """The list as the page has it (search, filters, sort), up to EXPORT_LIMIT rows."""
    params = list_params(entity, listing, limit=EXPORT_LIMIT)
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(sorted_query(entity, listing.sort), params).fetchall()
    return [SimpleNamespace(**{k: v for k, v in row.items() if k != "total_count"}) for row in rows]


def as_csv(entity: Entity[Any], columns: tuple[Column, ...], rows: list) -> tuple[str, str]:
    """The list's columns as the page shows them, one row per line (RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([column.label for column in columns])
    for cells in render_rows(columns, rows):
        writer.writerow([cell.text for cell in cells])
    return out.getvalue(), "text/csv; charset=utf-8"


def as_xlsx(entity: Entity[Any], columns: tuple[Column, ...], rows: list) -> tuple[bytes, str]:
    """The same as a spreadsheet; money stays text, so no cell passes through a float."""
    from openpyxl import Workbook  # only exports need it

    book = Workbook(write_only=True)
    sheet = book.create_sheet(entity.label[:31])
    sheet.append([column.label for column in columns])
    for cells in render_rows(columns, rows):
        sheet.append([cell.text for cell in cells])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), XLSX


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    """An import file: UTF-8 CSV (a BOM allowed), a header of the form's field names."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ServiceError(
            f"not UTF-8 text (byte {exc.start}): save the file as CSV UTF-8"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ServiceError("the file is empty: its first line names the columns")
    rows = []
    for row in reader:
        if None in row:
            raise ServiceError(f"row {reader.line_num}: more cells than the header has columns")
        rows.append({k.strip(): v for k, v in row.items() if v not in (None, "")})
    return rows


def _fixed(editable: Editable, given: Mapping[str, Any]) -> dict[str, str]:
    """Fields an import takes from the page, not the file: ``/rates/import?tariff_id=7``."""
    fields = editable.service.form.model_fields
    return {k: str(v) for k, v in given.items() if k in fields and k != CSRF_FIELD}


def _import_page(editable: Editable, result: Mapping[str, Any], status: int = 200) -> Template:
    fixed = result.get("fixed", {})
    columns = [name for name in editable.service.form.model_fields if name not in fixed]
    context = {"editable": editable, "columns": columns, "home": editable.home(fixed), **result}
    return Template("import.html", context=context, status_code=status)


def api_routes(editable: Editable) -> list[HTTPRouteHandler]:
    """``POST /api/v1/<slug>``, ``GET|PUT|DELETE /api/v1/<slug>/{id}``: the same services."""
    slug, service = editable.entity.slug, editable.service
    form_type: type[BaseModel] = service.form
    tags = [editable.entity.label]

    async def create_json(request: Request, data: Any) -> Response:
        may_write(request, editable.action)

        def work(conn):
            row_id = services.create(conn, service, data, actor(request))
            return services.jsonable(services.get(conn, service, row_id))

        return Response(await _api(request, work), status_code=201)

    async def read_json(request: Request, row_id: RowId) -> dict[str, Any]:
        return await _api(
            request, lambda conn: services.jsonable(services.get(conn, service, row_id))
        )

    async def update_json(request: Request, row_id: RowId, data: Any) -> dict[str, Any]:
        may_write(request, editable.action)

        def work(conn):
            return services.jsonable(services.update(conn, service, row_id, data, actor(request)))

        return await _api(request, work)

    async def delete_json(request: Request, row_id: RowId) -> None:
        may_write(request, editable.action)
        await _api(request, lambda conn: services.delete(conn, service, row_id, actor(request)))

    # The body is the service's form model: Litestar validates it and the schema documents it.
    create_json.__annotations__["data"] = JSONBody[form_type]  # type: ignore[valid-type]
    update_json.__annotations__["data"] = JSONBody[form_type]  # type: ignore[valid-type]
    item = f"/{slug}/{{row_id:int}}"
    return [
        post(f"/{slug}", operation_id=f"create_{editable.singular}", tags=tags,
             summary=f"Create a {editable.singular}")(create_json),
        get(item, operation_id=f"get_{editable.singular}", tags=tags,
            summary=f"One {editable.singular}")(read_json),
        put(item, operation_id=f"update_{editable.singular}", tags=tags,
            summary=f"Change a {editable.singular} (every field)")(update_json),
        delete(item, operation_id=f"delete_{editable.singular}", tags=tags, status_code=204,
               summary=f"Delete a {editable.singular} nothing depends on",
               responses=IN_USE)(delete_json),
    ]  # fmt: skip


IN_USE = {
    409: ResponseSpec(
        data_container=dict[str, Any],
        description="Other rows still refer to this one (the detail says which)",
        generate_examples=False,
    )
}


async def _api(request: Request[Any, Any, Any], work: Callable[[psycopg.Connection], Any]):
    """Service refusals as the API answers them: 404, 409 (in use), 400 with each field."""
    try:
        return await in_thread(request, work)
    except services.NotFound as exc:
        raise NotFoundException(str(exc)) from exc
    except ServiceError as exc:
        if isinstance(exc, services.InUse):
            raise ClientException(str(exc), status_code=HTTP_409_CONFLICT) from exc
        raise ClientException(str(exc), extra={"fields": exc.fields}) from exc
