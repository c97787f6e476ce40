"""What an operator chooses for an import, read the same way by ``akira import rates`` and the
admin's import page: the layout (a preset, a saved mapping, the tariff's own, or detection),
what becomes of the codes the deck leaves out, and the diff's lines as the CSV writes them.

One place, so the page and the CLI cannot drift: a choice the CLI refuses, the page refuses with
the same words (the option's name aside).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from admin.ratedecks.diff import CodeChange, Omitted, OmittedMode
from admin.ratedecks.layout import PRESETS, Layout, LayoutError

DIFF_COLUMNS = (
    "prefix", "change", "row", "destination", "current_rate", "new_rate", "effective",
    "previous_rate_until_effective", "initial_increment", "next_increment", "connect_fee",
)  # fmt: skip
AUTOMATIC = "detected from the header"


def choose_layout(
    conn: psycopg.Connection,
    tariff_id: int,
    mapping: str | None,
    columns: Mapping[str, str | int] | None = None,
    reading: Mapping[str, Any] | None = None,
) -> tuple[Layout | None, str]:
    """The layout and where it came from: ``mapping`` (a preset or a saved mapping), else the
    mapping saved for the tariff or a terminator it prices, else None (detected from the
    header); ``columns`` and the reading settings (``header``, ``delimiter``…, None: unset)
    override any of them."""
    from admin.ratedecks import store
    from admin.services import NotFound

    layout: Layout | None = None
    source = AUTOMATIC
    if mapping and mapping in PRESETS:
        layout, source = PRESETS[mapping], f"preset {mapping}"
    elif mapping:
        found = store.saved_layout(conn, tariff_id, mapping)
        if found is None:
            raise NotFound(f"no mapping {mapping!r}")
        source, layout = f"mapping {found[0]}", found[1]
    else:
        found = store.saved_layout(conn, tariff_id, None)
        if found:
            source, layout = (
                f"mapping {found[0]} (saved for this tariff or its terminator)",
                found[1],
            )
    columns = dict(columns or {})
    chosen = {key: value for key, value in (reading or {}).items() if value is not None}
    if not columns and not chosen:
        return layout, source
    if layout is None:
        if not columns:
            raise LayoutError("reading flags without columns: give --column code=… --column rate=…")
        return Layout(columns, **chosen).checked(), "given columns"
    return replace(
        layout, columns={**layout.columns, **columns}, **chosen
    ).checked(), source + ", overridden"


def omitted_choice(
    mode: str | None,
    close_at: str | None,
    *,
    mode_name: str = "--omitted",
    close_at_name: str = "--close-at",
) -> Omitted | None:
    """What becomes of the tariff's codes the deck leaves out: None (not chosen: a deck that
    leaves any out is refused), kept, or closed at ``close_at`` (ISO 8601; none: now; a time
    without a zone is UTC). The names are the options' as the caller shows them."""
    if not mode:
        if close_at:
            raise LayoutError(f"{close_at_name} goes with {mode_name} close")
        return None
    try:
        chosen = OmittedMode(mode)
    except ValueError:
        modes = ", ".join(m.value for m in OmittedMode)
        raise LayoutError(f"{mode_name} {mode!r}: one of {modes}") from None
    at = None
    if close_at:
        if chosen is not OmittedMode.CLOSE:
            raise LayoutError(f"{close_at_name} goes with {mode_name} close")
        try:
            at = datetime.fromisoformat(close_at)
        except ValueError:
            raise LayoutError(f"{close_at_name} {close_at!r}: an ISO 8601 date or time") from None
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return Omitted(chosen, at)


def diff_row(change: CodeChange) -> tuple[str, ...]:
    """One line of the diff (``DIFF_COLUMNS``), money as exact text."""
    from admin.ratedecks.store import money_text

    shown = change.new or change.current
    return (
        change.prefix,
        change.category.value,
        str(change.row or ""),
        shown.destination if shown else "",
        money_text(change.current.rate) if change.current else "",
        money_text(change.new.rate) if change.new else "",
        change.effective.isoformat() if change.effective else "",
        money_text(change.previous.rate) if change.previous else "",
        str(shown.initial_increment) if shown else "",
        str(shown.next_increment) if shown else "",
        money_text(shown.connect_fee) if shown else "",
    )
