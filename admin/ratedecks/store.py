"""A deck into a tariff: the diff against its windows, and the writes, all in one transaction.

``preview`` reads and diffs (nothing written); ``apply`` locks the tariff, diffs again inside
the transaction (another import may have gone first) and writes: rows that had not started are
deleted, rows in force are ended (their past kept), new windows are COPYed in; then one audit
row. The ``rates`` triggers bump the tariff's and the catalog's revision, so the next
``akira publish --if-stale`` (or the admin's header) sees the catalog stale. A plan with no
write writes nothing, not even the audit row: importing the same deck again changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from admin import services
from admin.ledger import audit
from admin.queries import query
from admin.ratedecks.bulk import collector_paused
from admin.ratedecks.diff import Omitted, Plan, StoredWindow, Terms, plan
from admin.ratedecks.layout import Layout
from admin.ratedecks.normalize import Deck
from admin.services import Actor, ServiceError
from admin.services.tariffs import TARIFFS


@dataclass(frozen=True, slots=True)
class Tariff:
    id: int
    name: str
    currency: str


def find_tariff(conn: psycopg.Connection, name_or_id: str) -> Tariff:
    if name_or_id.isdigit():
        tariff_id = int(name_or_id)
    else:
        row = conn.execute(query("tariff_id_by_name"), {"name": name_or_id}).fetchone()
        if row is None:
            raise services.NotFound(f"no tariff named {name_or_id!r}")
        tariff_id = row[0]
    found = services.get(conn, TARIFFS, tariff_id)
    return Tariff(found["id"], found["name"], found["currency"])


def saved_layout(
    conn: psycopg.Connection, tariff_id: int, name: str | None
) -> tuple[str, Layout] | None:
    """The mapping named ``name``; without a name, the one saved for the tariff or for a
    terminator it prices (None: none saved)."""
    if name is not None:
        row = conn.execute(query("rate_deck_mapping_by_name"), {"name": name}).fetchone()
        if row is None:
            raise services.NotFound(f"no saved mapping named {name!r}")
    else:
        row = conn.execute(
            query("rate_deck_mapping_for_owner"), {"tariff_id": tariff_id}
        ).fetchone()
        if row is None:
            return None
    return row[0], Layout.from_json(row[1])


def current_windows(
    conn: psycopg.Connection, tariff_id: int, now: datetime
) -> dict[str, list[StoredWindow]]:
    """The tariff's windows in force at ``now`` or to come, by prefix, in start order.

    Read as COPY text, each distinct value parsed once: a million rows hold a few thousand
    rates and dates. (Callers pause the garbage collector: ``bulk``.)"""
    windows: dict[str, list[StoredWindow]] = {}
    texts: dict[str, object] = {}
    terms_of: dict[str, Terms] = {}  # the terms' columns as COPY wrote them

    def decimal(text: str) -> object:
        found = texts.get(text)
        if found is None:
            found = texts[text] = Decimal(text)
        return found

    def moment(text: str) -> object:
        found = texts.get(text)
        if found is None:
            found = texts[text] = None if text == "\\N" else datetime.fromisoformat(text)
        return found

    conn.execute("SET LOCAL TimeZone = 'UTC'")
    conn.execute("SET LOCAL DateStyle = 'ISO'")
    params = {"tariff_id": tariff_id, "now": now}
    with conn.cursor() as cursor, cursor.copy(query("rate_deck_current_copy"), params) as copy:
        pending = ""
        for block in copy:
            lines = (pending + bytes(block).decode()).split("\n")
            pending = lines.pop()
            for line in lines:
                row_id, prefix, rest = line.split("\t", 2)
                text, start, end = rest.rsplit("\t", 2)  # the terms' columns, then the window
                terms = terms_of.get(text)
                if terms is None:
                    destination, rate, initial, step, fee, minimum = text.split("\t")
                    terms = terms_of[text] = Terms(
                        _unescape(destination), decimal(rate), int(initial), int(step),  # type: ignore[arg-type]
                        decimal(fee), int(minimum),  # type: ignore[arg-type]
                    )  # fmt: skip
                window = StoredWindow(int(row_id), moment(start), moment(end), terms)  # type: ignore[arg-type]
                found = windows.get(prefix)
                if found is None:
                    windows[prefix] = [window]
                else:
                    found.append(window)
    for found in windows.values():
        if len(found) > 1:
            found.sort(key=lambda window: window.start)
    return windows


_COPY_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}
_COPY_ESCAPE = re.compile(r"\\(.)")


def _unescape(text: str) -> str:
    """COPY text's backslash escapes (a destination may hold a tab or a backslash)."""
    if "\\" not in text:
        return text
    return _COPY_ESCAPE.sub(lambda m: _COPY_ESCAPES.get(m.group(1), m.group(1)), text)


def preview(
    conn: psycopg.Connection,
    tariff: Tariff,
    deck: Deck,
    omitted: Omitted | None,
    now: datetime | None = None,
) -> Plan:
    moment = now or _now()
    with collector_paused(), conn.transaction():
        return plan(
            deck.rates, current_windows(conn, tariff.id, moment), moment, omitted, deck.later
        )


def apply(
    conn: psycopg.Connection,
    tariff: Tariff,
    deck: Deck,
    omitted: Omitted | None,
    actor: Actor,
    *,
    now: datetime | None = None,
    source: str = "",
    notice: bool = True,
) -> Plan:
    """Import ``deck`` into ``tariff``, all or nothing; returns what changed.

    A customer tariff's changes must respect the notice periods of the companies it prices
    (``admin.pricing.notices``): a violation raises ``NoticeRefused`` inside the transaction,
    so nothing is written. ``notice=False``: the caller enforces them itself (a derivation)."""
    moment = now or _now()
    with collector_paused(), conn.transaction():
        conn.execute(query("rate_deck_tariff_lock"), {"tariff_id": tariff.id})
        current = current_windows(conn, tariff.id, moment)
        result = plan(deck.rates, current, moment, omitted, deck.later)
        if not result.writes:
            return result
        if notice:
            from admin.pricing import notices  # it imports this module

            notices.enforce(
                conn, tariff.id, tariff.name, result.changes, moment, notices.IMPORT_ADVICE
            )
        params = {"tariff_id": tariff.id}
        if result.delete_ids:
            conn.execute(query("rate_deck_delete_windows"), {**params, "ids": result.delete_ids})
        by_end: dict[datetime | None, list[int]] = {}
        for row_id, end in result.ends:
            by_end.setdefault(end, []).append(row_id)
        for end, ids in by_end.items():
            conn.execute(query("rate_deck_end_windows"), {**params, "end": end, "ids": ids})
        if result.inserts:
            try:
                _copy_windows(conn, tariff.id, result)
            except psycopg.errors.UniqueViolation as exc:  # a window the plan did not see
                raise ServiceError(f"the tariff changed during the import: {exc}") from None
        audit(
            conn,
            actor.username,
            "tariff",
            tariff.id,
            "import_rates",
            before={"windows": sum(len(w) for w in current.values()), "codes": len(current)},
            after={
                "source": source or deck.name,
                "rows": deck.rows,
                "codes": len(deck.rates),
                "omitted": None if omitted is None else omitted.mode.value,
                "omitted_at": omitted.at.isoformat() if omitted and omitted.at else None,
                "counts": {str(k): v for k, v in sorted(result.counts.items())},
                "deleted": len(result.delete_ids),
                "ended": len(result.ends),
                "inserted": len(result.inserts),
                "at": moment.isoformat(),
            },
            request_id=actor.request_id,
        )
    return result


def _copy_windows(conn: psycopg.Connection, tariff_id: int, result: Plan) -> None:
    """The new windows by COPY (``copy_rates``' columns), tuples straight from the plan."""
    with conn.cursor() as cursor, cursor.copy(query("copy_rates")) as copy:
        write = copy.write_row
        for prefix, (start, end, terms) in result.inserts:
            destination, rate, initial, step, fee, minimum = terms
            write((tariff_id, prefix, destination, rate, initial, step, fee, start, end, minimum))


def _now() -> datetime:
    """Whole seconds: the windows an import writes read well and publish exactly."""
    return datetime.now(UTC).replace(microsecond=0)


def money_text(value: Decimal | None) -> str:
    """A rate as the deck would write it: no trailing zeros beyond the cents, never ``0E-8``."""
    if value is None:
        return ""
    text = f"{value.normalize():f}"
    return text
