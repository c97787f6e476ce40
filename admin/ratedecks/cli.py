"""``akira import rates FILE --tariff NAME``: a vendor's deck into a tariff, all or nothing.

The layout is, in order: ``--mapping NAME`` (a saved mapping, or a preset: syncswitch, ixc,
freeside, canonical), the mapping saved for the tariff or one of its terminators, or detected
from the header; ``--column FIELD=COLUMN`` and the reading flags override any of them.
``--dry-run`` writes nothing: it prints the summary and writes the diff as CSV.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from admin.ratedecks.choices import DIFF_COLUMNS, choose_layout, diff_row, omitted_choice
from admin.ratedecks.diff import Category, Omitted, OmittedMode, OmittedUnchosen, Plan
from admin.ratedecks.layout import DATE_FORMATS, FIELDS, PRESETS, Layout, LayoutError
from admin.ratedecks.normalize import Deck, DeckErrors, read_deck
from admin.ratedecks.sheets import SheetError
from admin.settings import Settings


def add_rate_deck_commands(commands: argparse._SubParsersAction) -> None:
    """``akira import rates`` and ``akira export rates`` (other kinds can join them)."""
    importer = commands.add_parser("import", help="import files: rates (a vendor's rate deck)")
    kinds = importer.add_subparsers(dest="kind", required=True, metavar="KIND")
    rates = kinds.add_parser(
        "rates",
        help="a rate deck (CSV or XLSX, any vendor layout) into a tariff, all or nothing",
        description=__doc__.split("\n", 2)[2] + " Semantics: docs/ratedecks.md.",
    )
    rates.add_argument("file", type=Path, metavar="FILE")
    rates.add_argument("--tariff", required=True, help="the tariff's name or id")
    rates.add_argument("--mapping", help=f"a saved mapping or a preset ({', '.join(PRESETS)})")
    rates.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="the column of a field (header text, or position from 1); fields: "
        + ", ".join(FIELDS),
    )
    rates.add_argument("--no-header", action="store_true", help="the deck has no header row")
    rates.add_argument("--delimiter", help="CSV separator (default: sniffed); 'tab' for a tab")
    rates.add_argument("--decimal", choices=[".", ","], help="decimal mark (default: detected)")
    rates.add_argument("--date-format", choices=list(DATE_FORMATS), help="default: detected")
    rates.add_argument("--default-increments", help="F/N when the deck has none (default 1/1)")
    rates.add_argument("--international-prefix", help="stripped from codes, e.g. 00 or 011")
    rates.add_argument("--sheet", help="the workbook's sheet (default: the first)")
    rates.add_argument(
        "--omitted",
        choices=[mode.value for mode in OmittedMode],
        help="what becomes of the tariff's codes the deck leaves out: close them (at "
        "--close-at, default now) or keep them; required when the deck leaves any out",
    )
    rates.add_argument("--close-at", help="with --omitted close: when (ISO 8601 date or time)")
    rates.add_argument("--dry-run", action="store_true", help="write nothing: summary and diff")
    rates.add_argument(
        "--diff", type=Path, metavar="CSV", help="where the diff goes (default FILE.diff.csv)"
    )
    rates.add_argument("--save-mapping", metavar="NAME", help="save the layout used under NAME")
    rates.add_argument(
        "--for-terminator",
        metavar="NAME",
        help="with --save-mapping: the terminator it is for (default: the tariff)",
    )
    rates.add_argument("--publish", action="store_true", help="publish the snapshot after it")
    rates.add_argument("--quiet", action="store_true", help="no progress bar")
    rates.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    rates.set_defaults(run=cmd_import_rates)

    exporter = commands.add_parser("export", help="export files: rates (a tariff as a deck)")
    out_kinds = exporter.add_subparsers(dest="kind", required=True, metavar="KIND")
    out = out_kinds.add_parser(
        "rates",
        help="a tariff's windows in force or to come, in the canonical layout (DESIGN §6)",
        description="Canonical columns: prefix,destination,rate,initial_increment,"
        "next_increment,connect_fee,effective_from,effective_to; or a vendor's layout with "
        "--mapping. The file imports back with the same --mapping.",
    )
    out.add_argument("--tariff", required=True, help="the tariff's name or id")
    out.add_argument("--out", type=Path, required=True, help="FILE.csv or FILE.xlsx")
    out.add_argument(
        "--mapping", help="a vendor's layout: a saved mapping or a preset (default canonical)"
    )
    out.set_defaults(run=cmd_export_rates)


def cmd_export_rates(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from admin.ratedecks import store
    from admin.ratedecks.export import export
    from admin.services import ServiceError

    try:
        with psycopg.connect(settings.database_url) as conn:
            tariff = store.find_tariff(conn, args.tariff)
            layout = PRESETS.get(args.mapping or "canonical")
            if layout is None:
                found = store.saved_layout(conn, tariff.id, args.mapping)
                layout = found[1] if found else None
            count = export(conn, tariff.id, args.out, layout=layout, currency=tariff.currency)
    except (ServiceError, LayoutError) as refused:
        print(f"akira export rates: {refused}", file=sys.stderr)
        return 1
    except (OSError, psycopg.OperationalError) as exc:
        print(f"akira export rates: {exc}", file=sys.stderr)
        return 1
    print(f"{count} rates of {tariff.name} written to {args.out}")
    return 0


def cmd_import_rates(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from admin.services import ServiceError

    try:
        with psycopg.connect(settings.database_url) as conn:
            return _import(conn, args, settings)
    except DeckErrors as refused:
        for error in refused.errors:
            print(f"akira import rates: {error}", file=sys.stderr)
        if refused.total > len(refused.errors):
            print(f"akira import rates: … {refused.total} errors in all", file=sys.stderr)
        print(f"akira import rates: {refused.total} error(s): nothing imported", file=sys.stderr)
        return 1
    except (LayoutError, SheetError, ServiceError, OmittedUnchosen, ValueError) as refused:
        print(f"akira import rates: {refused}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"akira import rates: cannot reach PostgreSQL: {exc}", file=sys.stderr)
        return 1


def _import(conn, args: argparse.Namespace, settings: Settings) -> int:
    from admin.ratedecks import store
    from admin.services import Actor

    tariff = store.find_tariff(conn, args.tariff)
    layout, source = _layout(conn, tariff.id, args)
    omitted = _omitted(args)
    with _progress(args.quiet) as progress:
        rows = progress("reading " + args.file.name)
        deck = read_deck(args.file, layout, currency=tariff.currency, progress=rows)
        progress("comparing with the tariff")
        if args.dry_run:
            plan = store.preview(conn, tariff, deck, omitted)
        else:
            progress("writing")
            plan = store.apply(
                conn, tariff, deck, omitted, Actor(args.by, "cli"), source=str(args.file)
            )
    print(summary(deck, source, tariff.name, tariff.currency, plan, dry_run=args.dry_run))
    if args.dry_run:
        target = args.diff or Path(args.file.name).with_suffix(".diff.csv")
        write_diff(target, plan)
        print(f"diff: {target} ({len(plan.changes)} changed codes)")
    if args.save_mapping:
        _save_mapping(conn, args, tariff.id, deck.layout)
    if args.publish and not args.dry_run and plan.writes:
        _publish(conn, args.by, settings)
    return 0


def _layout(conn, tariff_id: int, args: argparse.Namespace) -> tuple[Layout | None, str]:
    reading = {
        "header": False if args.no_header else None,
        "delimiter": "\t" if args.delimiter == "tab" else args.delimiter,
        "decimal": args.decimal,
        "date_format": args.date_format,
        "default_increments": args.default_increments,
        "international_prefix": args.international_prefix,
        "sheet": args.sheet,
    }
    return choose_layout(conn, tariff_id, args.mapping, _columns(args.column), reading)


def _columns(pairs: list[str]) -> dict[str, str | int]:
    columns: dict[str, str | int] = {}
    for pair in pairs:
        name, sep, column = pair.partition("=")
        if not sep or not column:
            raise LayoutError(f"--column {pair!r}: FIELD=COLUMN")
        columns[name.strip()] = int(column) if column.isdigit() else column
    return columns


def _omitted(args: argparse.Namespace) -> Omitted | None:
    return omitted_choice(args.omitted, args.close_at)


def summary(
    deck: Deck, source: str, tariff: str, currency: str, plan: Plan, *, dry_run: bool
) -> str:
    columns = ", ".join(f"{name}={column}" for name, column in deck.layout.columns.items())
    counts = ", ".join(f"{category.value} {plan.counts.get(category, 0)}" for category in Category)
    verb = "would" if dry_run else "did"
    lines = [
        f"deck {deck.name}: {deck.rows} rows, {len(deck.rates)} codes",
        f"layout ({source}): {columns}",
        f"tariff {tariff} ({currency}) at {plan.now:%Y-%m-%d %H:%M:%S}Z: {counts}",
        f"writes ({verb}): {len(plan.delete_ids)} windows deleted (not started), "
        f"{len(plan.ends)} ended, {len(plan.inserts)} inserted",
    ]
    if deck.unused_columns:
        lines.insert(2, f"columns not imported: {', '.join(deck.unused_columns)}")
    if not dry_run and not plan.writes:
        lines.append("nothing changed")
    return "\n".join(lines)


def write_diff(target: Path, plan: Plan) -> None:
    with target.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(DIFF_COLUMNS)
        out.writerows(diff_row(change) for change in plan.changes)


def _save_mapping(conn, args: argparse.Namespace, tariff_id: int, layout: Layout) -> None:
    from admin import services
    from admin.queries import query
    from admin.services import Actor
    from admin.services.rate_deck_mappings import RATE_DECK_MAPPINGS

    owner: dict[str, int | None] = {"tariff_id": tariff_id, "terminator_id": None}
    if args.for_terminator:
        row = conn.execute(query("terminator_id_by_name"), {"name": args.for_terminator}).fetchone()
        if row is None:
            raise services.NotFound(f"no terminator named {args.for_terminator!r}")
        owner = {"tariff_id": None, "terminator_id": row[0]}
    data = {"name": args.save_mapping, "layout": layout.as_json(), **owner}
    form = services.parse_form(RATE_DECK_MAPPINGS, data)
    actor = Actor(args.by, "cli")
    existing = conn.execute(
        query("rate_deck_mapping_id_by_name"), {"name": args.save_mapping}
    ).fetchone()
    if existing:
        services.update(conn, RATE_DECK_MAPPINGS, existing[0], form, actor)
    else:
        services.create(conn, RATE_DECK_MAPPINGS, form, actor)
    conn.commit()
    print(f"mapping {args.save_mapping} saved")


def _publish(conn, by: str, settings: Settings) -> None:
    import json

    from admin.cli import _redis
    from admin.publisher import publish

    publication = publish(
        conn, _redis(settings), published_by=by, snapshot_dir=settings.snapshot_dir
    )
    print(json.dumps({"published": publication.version}))


@contextmanager
def _progress(quiet: bool) -> Iterator:
    """``step(description)`` starts a phase and returns ``rows(n)`` for its row count."""
    if quiet or not sys.stderr.isatty():
        yield lambda description: lambda rows: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = None

        def step(description: str):
            nonlocal task
            if task is not None:
                bar.update(task, total=1, completed=1)
            task = bar.add_task(description, total=None)
            return lambda rows: bar.update(task, completed=rows)

        yield step
