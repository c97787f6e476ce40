"""Accounts in the JSON API: a company's balance and ledger, and posting an entry to it.

Posting runs ``admin.ledger`` (the code ``akira account`` runs) in a worker thread on its own
short connection, so the API and the CLI share one implementation of the money rules. Every
role reads; posting needs ``accounts.post`` (finance and admins, admin/web/permissions.py),
checked by the login guard. Cookie sessions need the CSRF header on a POST; API tokens do not.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from litestar import Request, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import JSONBody, QueryParameter
from litestar.response import Redirect, Template
from redis import Redis, RedisError

from admin import credit, ledger
from admin.settings import Settings
from admin.web.auth import User
from admin.web.crud import FormData, RowId, detail_context, found
from admin.web.permissions import ACCOUNTS_POST, needs

# how many of the latest ledger entries: a bounded count, so no LIMIT PostgreSQL refuses
Entries = Annotated[int, QueryParameter(ge=0, le=1000, description="latest entries shown")]


@dataclass(frozen=True, slots=True)
class EntryForm:
    kind: str  # topup | adjustment | refund | invoice
    amount: str  # exact decimal, as text: JSON numbers would pass through float
    note: str = ""


def _account(database_url: str, company_id: int, limit: int) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        account = ledger.balance(conn, company_id).as_json()
        account["entries"] = ledger.entries(conn, company_id, limit)
        return account


def _post(settings: Settings, company_id: int, form: EntryForm, username: str) -> dict[str, Any]:
    with psycopg.connect(settings.database_url) as conn:
        with conn.transaction():
            entry = ledger.post(
                conn, company_id, form.kind, form.amount, note=form.note, username=username
            )
            account = ledger.balance(conn, company_id).as_json()
        with contextlib.suppress(RedisError, OSError):  # else the worker's sync, within 10 s
            credit.sync(conn, Redis.from_url(settings.redis_url, socket_timeout=2), [company_id])
    return {"entry": {"id": entry.id, "kind": entry.kind, "amount": str(entry.amount)}, **account}


@get(
    "/accounts/{company_id:int}",
    operation_id="get_account",
    summary="A company's balance, credit limit and latest ledger entries",
    tags=["Accounts"],
)
async def account(request: Request, company_id: RowId, entries: Entries = 20) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    try:
        return await asyncio.to_thread(_account, settings.database_url, company_id, entries)
    except ledger.LedgerError as exc:
        raise NotFoundException(str(exc)) from exc


@post(
    "/accounts/{company_id:int}/entries",
    operation_id="post_ledger_entry",
    summary="Post a top-up, adjustment, refund or invoice (amount as a decimal string)",
    tags=["Accounts"],
    opt=needs(ACCOUNTS_POST),
)
async def post_entry(
    request: Request, company_id: RowId, data: JSONBody[EntryForm]
) -> dict[str, Any]:
    user: User = request.state.user
    settings: Settings = request.app.state.settings
    try:
        return await asyncio.to_thread(_post, settings, company_id, data, user.username)
    except ledger.LedgerError as exc:
        if str(exc).startswith("no company"):
            raise NotFoundException(str(exc)) from exc
        raise ValidationException(str(exc)) from exc


@post(
    "/companies/{company_id:int}/entries",
    name="company-post-entry",
    include_in_schema=False,
    opt=needs(ACCOUNTS_POST),
)
async def post_entry_page(
    request: Request, company_id: RowId, data: FormData
) -> Redirect | Template:
    """The company page's form: the same posting, then back to the page (its ledger shows the
    entry); a refused entry comes back on the page with why, the input kept."""
    from admin.web.entities.companies import COMPANIES_EDITABLE

    user: User = request.state.user
    settings: Settings = request.app.state.settings
    form = EntryForm(data.get("kind", ""), data.get("amount", ""), data.get("note", "").strip())
    try:
        await asyncio.to_thread(_post, settings, company_id, form, user.username)
    except ledger.LedgerError as exc:
        if str(exc).startswith("no company"):
            raise NotFoundException(str(exc)) from exc
        page = COMPANIES_EDITABLE
        context = await found(request, lambda conn: detail_context(conn, page, company_id))
        context |= {"editable": page, "entry_error": str(exc), "entry": form}
        return Template("detail.html", context=context, status_code=400)
    return Redirect(path=f"/companies/{company_id}", status_code=303)
