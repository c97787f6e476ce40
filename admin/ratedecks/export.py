"""A tariff out as a deck in the canonical layout (DESIGN §6), CSV or XLSX: every window in
force at ``now`` or to come, so a scheduled change goes out with its date. The file imports
back with the ``canonical`` preset to the same windows (money stays exact text, never a float,
as decisions/0011 has it for every spreadsheet the admin writes).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from admin.queries import query
from admin.ratedecks.store import money_text

CANONICAL_COLUMNS = (
    "prefix", "destination", "rate", "initial_increment", "next_increment", "connect_fee",
    "effective_from", "effective_to",
)  # fmt: skip


def canonical_rows(
    conn: psycopg.Connection, tariff_id: int, now: datetime | None = None
) -> Iterator[tuple[str, ...]]:
    moment = now or datetime.now(UTC)
    with conn.cursor(name="rate_deck_export") as cursor:
        cursor.itersize = 20_000
        cursor.execute(query("rate_deck_tariff_windows"), {"tariff_id": tariff_id, "now": moment})
        for prefix, destination, rate, initial, step, fee, start, end in cursor:
            yield (
                prefix,
                destination,
                money_text(rate),
                str(initial),
                str(step),
                money_text(fee),
                _moment(start),
                _moment(end) if end else "",
            )


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def export(
    conn: psycopg.Connection, tariff_id: int, target: Path, now: datetime | None = None
) -> int:
    """Write the tariff to ``target`` (``.xlsx``: a workbook, else CSV); returns the rows."""
    count = 0
    with conn.transaction():
        rows = canonical_rows(conn, tariff_id, now)
        if target.suffix.lower() == ".xlsx":
            from openpyxl import Workbook

            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("rates")
            sheet.append(CANONICAL_COLUMNS)
            for row in rows:
                sheet.append(row)
                count += 1
            workbook.save(target)
        else:
            with target.open("w", newline="", encoding="utf-8") as f:
                out = csv.writer(f)
                out.writerow(CANONICAL_COLUMNS)
                for row in rows:
                    out.writerow(row)
                    count += 1
    return count
