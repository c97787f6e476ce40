"""The rate sheet a customer gets when its tariff changes, CSV and XLSX, in the notification
outbox (kind ``rate-sheet``; delivered like every alert, admin/alert_delivery.py).

One line per code: its rate from the effective date, the rate it had before, the date and
the change flag (Increase / Decrease / New / Closed / Unchanged). The columns are those of
the carriers' A-Z decks (Code, Destination, Rate, Previous Rate, Currency, Effective Date,
Change, Billing Increment, Connection Fee), so a customer's importer — Akira's too — reads it
with its meaning: the previous rate until the date, the new one after. The tariff's windows
are read through the importer's export (``windows``), money stays exact text.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

import psycopg

from admin.pricing.notices import Kind, NoticePeriod, kind_of
from admin.queries import query
from admin.ratedecks.diff import Category, CodeChange
from admin.ratedecks.export import windows
from admin.ratedecks.store import Tariff, money_text

COLUMNS = (
    "Code", "Destination", "Rate", "Previous Rate", "Currency", "Effective Date", "Change",
    "Billing Increment", "Connection Fee",
)  # fmt: skip
FLAGS = ("Increase", "Decrease", "New", "Closed", "Unchanged")
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

Line = tuple[str, ...]  # in COLUMNS order


def flag_of(change: CodeChange | None) -> str:
    if change is None:
        return "Unchanged"
    if change.category is Category.CLOSED:
        return "Closed"
    if change.category is Category.NEW:
        return "New"
    kind = kind_of(change)
    return {Kind.INCREASE: "Increase", Kind.DECREASE: "Decrease"}.get(kind, "Unchanged")  # type: ignore[arg-type]


def lines(
    windows: Iterable[tuple[str, ...]],
    changes: Mapping[str, CodeChange],
    currency: str,
) -> list[Line]:
    """The sheet from the tariff's windows in force or to come (canonical rows, in prefix
    then start order) and the changes just made (codes closed now have no window left)."""
    by_prefix: dict[str, list[tuple[str, ...]]] = {}
    for window in windows:
        by_prefix.setdefault(window[0], []).append(window)
    sheet: list[Line] = []
    for prefix in sorted(by_prefix.keys() | changes.keys()):
        change = changes.get(prefix)
        found = by_prefix.get(prefix, [])
        flag = flag_of(change)
        if found:
            _, destination, rate, initial, step, fee, start, _end = found[-1]
            previous = found[0][2] if len(found) > 1 else rate
        else:  # closed now: the terms it had
            assert change is not None and change.current is not None
            terms = change.current
            destination, rate = terms.destination, money_text(terms.rate)
            initial, step = str(terms.initial_increment), str(terms.next_increment)
            fee, start, previous = money_text(terms.connect_fee), "", rate
        if change is not None:
            previous = money_text(change.current.rate) if change.current else ""
            if change.effective is not None:
                start = _moment(change.effective)
            if flag == "Closed" and found:
                rate = found[0][2]  # priced at it until the closure
        sheet.append(
            (prefix, destination, rate, previous, currency, start, flag, f"{initial}/{step}", fee)
        )
    return sheet


def as_csv(sheet: Sequence[Line]) -> bytes:
    text = io.StringIO(newline="")
    out = csv.writer(text)
    out.writerow(COLUMNS)
    out.writerows(sheet)
    return text.getvalue().encode("utf-8")


def as_xlsx(sheet: Sequence[Line]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    rates = workbook.create_sheet("rates")
    rates.append(COLUMNS)
    for line in sheet:
        rates.append(line)  # text: money exact, never a float (decisions/0011)
    target = io.BytesIO()
    workbook.save(target)
    return target.getvalue()


def write_notices(
    conn: psycopg.Connection,
    tariff: Tariff,
    changes: Sequence[CodeChange],
    customers: Sequence[NoticePeriod],
    now: datetime,
) -> list[int]:
    """One rate sheet per customer company of ``tariff`` into the outbox, in the caller's
    transaction (the one that changed the tariff); returns the outbox ids."""
    if not changes or not customers:
        return []
    by_prefix = {change.prefix: change for change in changes}
    sheet = lines(canonical_rows(windows(conn, tariff.id, now)), by_prefix, tariff.currency)
    counts = Counter(line[6] for line in sheet)
    files = {"csv": as_csv(sheet), "xlsx": as_xlsx(sheet)}
    effective = [c.effective for c in changes if c.effective is not None]
    ids = []
    for customer in customers:
        stem = f"rate-sheet-{_slug(tariff.name)}-{_slug(customer.company)}-{now:%Y%m%dT%H%M%SZ}"
        detail = {
            "tariff_id": tariff.id,
            "tariff": tariff.name,
            "currency": tariff.currency,
            "at": _moment(now),
            "codes": len(sheet),
            "counts": {flag: counts.get(flag, 0) for flag in FLAGS},
            "first_effective": _moment(min(effective)) if effective else None,
            "notice_days": {kind.value: customer.days.get(kind, 0) for kind in Kind},
            "files": [
                _file(f"{stem}.csv", CSV_TYPE, files["csv"]),
                _file(f"{stem}.xlsx", XLSX_TYPE, files["xlsx"]),
            ],
        }
        row = conn.execute(
            query("pricing_rate_sheet_insert"),
            {"company_id": customer.company_id, "detail": json.dumps(detail)},
        ).fetchone()
        ids.append(row[0])
    return ids


def decoded(files: Iterable[Mapping[str, str]]) -> Iterator[tuple[str, bytes]]:
    """A rate sheet's files as the outbox holds them: (name, bytes)."""
    for item in files:
        yield item["name"], base64.b64decode(item["base64"])


def _file(name: str, content_type: str, content: bytes) -> dict[str, str]:
    return {
        "name": name,
        "content_type": content_type,
        "base64": base64.b64encode(content).decode("ascii"),
    }


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower() or "x"


def canonical_rows(found: Iterable[tuple]) -> Iterator[tuple[str, ...]]:
    """The export's windows as the canonical layout's cells (DESIGN §6), money exact text."""
    for prefix, destination, rate, initial, step, fee, _minimum, start, end in found:
        yield (
            prefix, destination, money_text(rate), str(initial), str(step), money_text(fee),
            _moment(start), _moment(end) if end else "",
        )  # fmt: skip


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
