"""A rate deck into a tariff from the tariff's page: upload, watch it read, browse the diff,
apply it — all or nothing (docs/ratedecks.md, "The admin's import page").

The pages only take the operator's choices and show the job: the work, and its state in Redis
that any admin worker can answer a poll from, are ``admin.ratedecks.jobs``, which runs the
CLI's own reader, diff and ``store.apply``. While a job runs its page polls a fragment every
half second; once it is done HTMX reloads the page, which then shows the counts, the errors or
the diff (filtered by kind and prefix, paged, and as CSV).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
from pathlib import Path
from typing import Annotated, Any

import psycopg
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Response, Template
from litestar_htmx import ClientRefresh
from redis.exceptions import RedisError

from admin import services
from admin.queries import query
from admin.ratedecks import jobs, store
from admin.ratedecks.choices import AUTOMATIC, DIFF_COLUMNS, choose_layout, omitted_choice
from admin.ratedecks.diff import Category
from admin.ratedecks.jobs import JOB_TTL, Job, Phase
from admin.ratedecks.layout import PRESETS, LayoutError
from admin.ratedecks.sheets import SPREADSHEET_SUFFIXES
from admin.settings import Settings
from admin.web.crud import RowId, actor, found, in_thread, may_write
from admin.web.listing import PageNumber
from admin.web.permissions import CATALOG_WRITE, needs
from admin.web.views import is_htmx

MAX_UPLOAD = 200_000_000  # bytes: a 1M-row deck is 110 MB of CSV
PER_PAGE = 50
SUFFIXES = (".csv", ".txt", *SPREADSHEET_SUFFIXES)
CHANGE_KINDS = tuple(c.value for c in Category if c is not Category.UNCHANGED)
ChangeFilter = Annotated[str | None, QueryParameter(max_length=20, description="change kind")]
PrefixSearch = Annotated[str | None, QueryParameter(name="q", max_length=40)]


async def _redis_call(request: Request[Any, Any, Any], work, *args):
    """Redis work in a thread; an outage is a 503 saying so, never a traceback."""
    settings: Settings = request.app.state.settings
    try:
        return await asyncio.to_thread(work, jobs.client(settings.redis_url), *args)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailableException(
            f"Redis does not answer ({exc}): deck imports keep their jobs there; try again",
            headers={"Retry-After": "10"},
        ) from exc


def _form_context(conn: psycopg.Connection, tariff_id: int) -> dict[str, Any]:
    tariff = store.find_tariff(conn, str(tariff_id))
    saved = store.saved_layout(conn, tariff.id, None)
    automatic = f"mapping {saved[0]} (saved for this tariff or its terminator)" if saved else ""
    names = [row[0] for row in conn.execute(query("web_ratedeck_mapping_names"))]
    return {
        "tariff": tariff,
        "automatic": automatic or AUTOMATIC,
        "presets": list(PRESETS),
        "saved_mappings": names,
    }


async def _form_page(
    request: Request[Any, Any, Any],
    tariff_id: int,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Template:
    context = await found(request, lambda conn: _form_context(conn, tariff_id))
    context |= {"values": values or {}, "errors": errors or {}}
    return Template("ratedeck_import.html", context=context, status_code=status)


@get("/tariffs/{tariff_id:int}/deck-import", name="tariff-deck-import", include_in_schema=False)
async def import_form(request: Request[Any, Any, Any], tariff_id: RowId) -> Template:
    may_write(request)
    return await _form_page(request, tariff_id)


def _file_name(given: str) -> str:
    name = re.sub(r"[^\w.\- ]+", "_", Path(given.replace("\\", "/")).name).strip(" .")[:120]
    return name or "deck.csv"


@post(
    "/tariffs/{tariff_id:int}/deck-import",
    include_in_schema=False,
    opt=needs(CATALOG_WRITE),
    request_max_body_size=MAX_UPLOAD,
)
async def start_import(request: Request[Any, Any, Any], tariff_id: RowId) -> Redirect | Template:
    """Check the form, keep the file in Redis and start the job; the form again on a refusal."""
    may_write(request)
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("mapping", "omitted", "close_at")}
    errors: dict[str, str] = {}
    upload = form.get("deck")
    content, name = b"", ""
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["deck"] = "choose the deck's file (CSV or XLSX)"
    else:
        name, content = _file_name(upload.filename), await upload.read()
        if Path(name).suffix.lower() not in SUFFIXES:
            errors["deck"] = f"{name}: a deck is a CSV or a workbook ({', '.join(SUFFIXES)})"
        elif not content.strip():
            errors["deck"] = f"{name} is empty"
    try:
        omitted_choice(
            values["omitted"] or None,
            values["close_at"] or None,
            mode_name="omitted codes",
            close_at_name="close at",
        )
    except LayoutError as refused:
        errors["close_at" if values["close_at"] else "omitted"] = str(refused)

    def resolve(conn: psycopg.Connection):
        tariff = store.find_tariff(conn, str(tariff_id))
        try:
            return tariff, *choose_layout(conn, tariff.id, values["mapping"] or None), None
        except (services.NotFound, LayoutError) as refused:
            return tariff, None, "", str(refused)

    tariff, layout, source, refused = await found(request, resolve)
    if refused:
        errors["mapping"] = refused
    if errors:
        return await _form_page(request, tariff_id, values, errors, status=400)
    job = Job(
        id=secrets.token_hex(16),
        tariff_id=tariff.id,
        tariff=tariff.name,
        currency=tariff.currency,
        file_name=name,
        size=len(content),
        mapping=values["mapping"],
        source=source,
        layout=layout.as_json() if layout else None,
        omitted=values["omitted"],
        close_at=values["close_at"],
        by=actor(request).username,
        rows_total=None if name.lower().endswith(SPREADSHEET_SUFFIXES) else _lines(content),
    )

    await _redis_call(request, jobs.keep, job, content)
    jobs.start(jobs.run_diff, request.app.state.settings, job, content)
    return Redirect(path=_job_path(job), status_code=303)


def _lines(content: bytes) -> int:
    """A CSV's data rows, near enough for a progress bar (the header and blank lines count)."""
    return max(content.count(b"\n") + (not content.endswith(b"\n")) - 1, 1)


def _job_path(job: Job) -> str:
    return f"/tariffs/{job.tariff_id}/deck-import/{job.id}"


async def _job(request: Request[Any, Any, Any], tariff_id: int, job_id: str) -> Job:
    job = None
    if re.fullmatch(r"[0-9a-f]{32}", job_id):
        job = await _redis_call(request, jobs.load, job_id)
    if job is None or job.tariff_id != tariff_id:
        raise NotFoundException(
            f"no deck import {job_id} for tariff {tariff_id} (jobs are kept {JOB_TTL // 3600} h)"
        )
    return job


def _filtered(lines: list[list[str]], change: str | None, search: str | None) -> list[list[str]]:
    prefix = re.sub(r"[\s+]", "", search or "")
    return [
        line
        for line in lines
        if (not change or line[1] == change) and (not prefix or line[0].startswith(prefix))
    ]


def _chosen(change: str | None) -> str:
    return change if change in CHANGE_KINDS else ""


JOB_ROUTE = "/tariffs/{tariff_id:int}/deck-import/{job_id:str}"


@get(JOB_ROUTE, name="tariff-deck-import-job", include_in_schema=False)
async def job_page(
    request: Request[Any, Any, Any],
    tariff_id: RowId,
    job_id: FromPath[str],
    change: ChangeFilter = None,
    search: PrefixSearch = None,
    page: PageNumber = 1,
) -> Template:
    """The job: its progress while it runs, then its counts, errors or the diff to browse."""
    job = await _job(request, tariff_id, job_id)
    chosen = _chosen(change)
    context: dict[str, Any] = {"job": job, "change": chosen, "search": search or ""}
    context |= {"kinds": CHANGE_KINDS, "path": _job_path(job), "page": page, "pages": 1}
    if job.changes and job.phase in (Phase.READY, Phase.APPLIED):
        lines = _filtered(await _redis_call(request, jobs.changes, job.id), chosen, search)
        pages = max(1, -(-len(lines) // PER_PAGE))
        page = min(page, pages)
        shown = lines[(page - 1) * PER_PAGE : page * PER_PAGE]
        context |= {"lines": shown, "matching": len(lines), "page": page, "pages": pages}
    headers = {"Vary": "HX-Request"}
    if is_htmx(request) and request.headers.get("hx-target") == "deck-changes":
        return Template("_ratedeck_job_changes.html", context=context, headers=headers)
    return Template("ratedeck_import_job.html", context=context, headers=headers)


@get(JOB_ROUTE + "/status", name="tariff-deck-import-status", include_in_schema=False)
async def job_status(
    request: Request[Any, Any, Any], tariff_id: RowId, job_id: FromPath[str]
) -> Template | Response:
    """The progress bar the job page polls; once the job is done, HTMX reloads the page."""
    job = await _job(request, tariff_id, job_id)
    if is_htmx(request) and not job.running:
        return ClientRefresh()
    return Template("_ratedeck_job_status.html", context={"job": job, "path": _job_path(job)})


@get(JOB_ROUTE + "/diff.csv", name="tariff-deck-import-diff", include_in_schema=False)
async def job_diff(
    request: Request[Any, Any, Any],
    tariff_id: RowId,
    job_id: FromPath[str],
    change: ChangeFilter = None,
    search: PrefixSearch = None,
) -> Response:
    """The diff as ``akira import rates --dry-run`` writes it, with the page's filters."""
    job = await _job(request, tariff_id, job_id)
    lines = _filtered(await _redis_call(request, jobs.changes, job.id), _chosen(change), search)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(DIFF_COLUMNS)
    writer.writerows(lines)
    name = Path(job.file_name).stem + ".diff.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@post(JOB_ROUTE + "/apply", include_in_schema=False, opt=needs(CATALOG_WRITE))
async def apply_import(
    request: Request[Any, Any, Any], tariff_id: RowId, job_id: FromPath[str]
) -> Redirect:
    """Apply the diff shown, in the background; the job page shows how it went."""
    may_write(request)
    job = await _job(request, tariff_id, job_id)
    who = actor(request)

    if await _redis_call(request, jobs.claim, job, who.username):
        jobs.start(jobs.run_apply, request.app.state.settings, job, who)
    return Redirect(path=_job_path(job), status_code=303)


@post(JOB_ROUTE + "/rerun", include_in_schema=False, opt=needs(CATALOG_WRITE))
async def rerun_import(
    request: Request[Any, Any, Any], tariff_id: RowId, job_id: FromPath[str]
) -> Redirect:
    """The same file and choices again, diffed against the tariff as it is now."""
    may_write(request)
    job = await _job(request, tariff_id, job_id)
    content = await _redis_call(request, jobs.upload, job.id)
    if content is None:
        return Redirect(path=f"/tariffs/{tariff_id}/deck-import", status_code=303)

    def resolve(conn: psycopg.Connection):
        return choose_layout(conn, tariff_id, job.mapping or None)

    try:
        layout, source = await in_thread(request, resolve)
    except (services.NotFound, LayoutError):  # the mapping went: the form, to choose again
        return Redirect(path=f"/tariffs/{tariff_id}/deck-import", status_code=303)
    again = Job(
        id=secrets.token_hex(16),
        tariff_id=job.tariff_id,
        tariff=job.tariff,
        currency=job.currency,
        file_name=job.file_name,
        size=job.size,
        mapping=job.mapping,
        source=source,
        layout=layout.as_json() if layout else None,
        omitted=job.omitted,
        close_at=job.close_at,
        by=actor(request).username,
        rows_total=job.rows_total,
    )

    await _redis_call(request, jobs.keep, again, content)
    jobs.start(jobs.run_diff, request.app.state.settings, again, content)
    return Redirect(path=_job_path(again), status_code=303)


PAGES = (
    import_form,
    start_import,
    job_page,
    job_status,
    job_diff,
    apply_import,
    rerun_import,
)
