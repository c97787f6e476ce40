"""``akira tariff derive`` and ``akira notices``: derived customer tariffs and their notices.

``akira tariff derive CUSTOMER_TARIFF --from VENDOR_TARIFF… --rules FILE [--at DATE]`` prices
every code of the vendor tariffs with the rules file and writes the customer tariff through
the rate-deck importer (one transaction, audited, history kept), refuses an increase or
closure sooner than a customer's notice period, and puts a rate sheet per customer in the
notification outbox. ``--dry-run`` writes nothing. docs/pricing.md has the rules format.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from admin.settings import Settings


def add_derive(actions: argparse._SubParsersAction) -> None:
    """``derive``, an action of ``akira tariff`` beside create / update / delete / show."""
    derive = actions.add_parser(
        "derive",
        help="price a customer tariff from vendor tariffs with markup rules (docs/pricing.md)",
        description=__doc__.split("\n\n", 2)[1].replace("\n", " ").replace("``", ""),
    )
    derive.add_argument("tariff", metavar="CUSTOMER_TARIFF", help="its name or id")
    derive.add_argument(
        "--from",
        dest="vendors",
        nargs="+",
        required=True,
        metavar="VENDOR_TARIFF",
        help="vendor tariffs (names or ids) whose costs it is priced from; ties go to the "
        "first given",
    )
    derive.add_argument(
        "--rules", type=Path, required=True, metavar="FILE", help="markup rules (TOML)"
    )
    derive.add_argument(
        "--at",
        metavar="DATE",
        help="the vendor rates in force at this date or time (ISO 8601, UTC unless a zone "
        "is given; default now); a future one is also when the derived rates take effect",
    )
    derive.add_argument(
        "--rank",
        type=int,
        metavar="N",
        help="price from the Nth cheapest vendor rate (default: each rule's rank, else 1)",
    )
    derive.add_argument("--dry-run", action="store_true", help="write nothing: summary and diff")
    derive.add_argument(
        "--diff", type=Path, metavar="CSV", help="with --dry-run: where the diff goes"
    )
    derive.add_argument(
        "--explain",
        type=Path,
        metavar="CSV",
        help="write each code's vendor, vendor prefix, cost, rule and price to this CSV",
    )
    derive.add_argument("--publish", action="store_true", help="publish the snapshot after it")
    derive.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    derive.set_defaults(run=cmd_derive)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """``akira notices``: notice periods and the rate sheets in the outbox."""
    notices = commands.add_parser(
        "notices",
        help="customers' notice periods and the rate sheets sent when their tariff changes",
        description="A customer company is owed days of notice per kind of change to its "
        "tariff (increase, closure, decrease, new); a derivation that breaks them is refused. "
        "Rate sheets wait in the notification outbox (akira alerts --deliver sends them).",
    )
    actions = notices.add_subparsers(dest="action", required=True, metavar="ACTION")
    setter = actions.add_parser(
        "set",
        help="a company's notice period in days (first set: 7 for increases and closures, "
        "0 for decreases and new codes, unless given)",
    )
    setter.add_argument("company")
    for kind in ("increase", "closure", "decrease", "new"):
        setter.add_argument(f"--{kind}-days", type=int, metavar="DAYS", help=f"{kind}s")
    setter.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    show = actions.add_parser("show", help="notice periods of every customer (or one), as JSON")
    show.add_argument("company", nargs="?")
    sheets = actions.add_parser(
        "sheets", help="rate-sheet notices in the outbox, newest first, as JSON (no files)"
    )
    sheets.add_argument("--company", help="only this company's")
    sheets.add_argument("--all", action="store_true", help="delivered ones too")
    sheets.add_argument("--limit", type=int, default=50, help="how many (default 50)")
    files = actions.add_parser("files", help="write a rate-sheet notice's CSV and XLSX")
    files.add_argument("notice_id", type=int, metavar="ID", help="as `akira notices sheets` shows")
    files.add_argument("--out", type=Path, default=Path("."), help="folder (default: here)")
    for parser in (setter, show, sheets, files):
        parser.set_defaults(run=cmd_notices)


def cmd_derive(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from admin.pricing.derivation import DerivationError
    from admin.pricing.rules import RulesError
    from admin.services import ServiceError

    try:
        at = moment(args.at) if args.at else None
        with psycopg.connect(settings.database_url) as conn:
            return _derive(conn, args, at, settings)
    except (RulesError, DerivationError, ServiceError, ValueError, OSError) as refused:
        print(f"akira tariff derive: {refused}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"akira tariff derive: cannot reach PostgreSQL: {exc}", file=sys.stderr)
        return 1


def _derive(conn, args: argparse.Namespace, at: datetime | None, settings: Settings) -> int:
    from admin.pricing.rules import read_rules
    from admin.pricing.service import derive_tariff
    from admin.ratedecks import store
    from admin.ratedecks.cli import write_diff
    from admin.ratedecks.diff import Category
    from admin.services import Actor

    rules = read_rules(args.rules)
    if args.rank is not None:
        if args.rank < 1:
            raise ValueError("--rank: 1 or more")
        rules = rules.with_rank(args.rank)
    target = store.find_tariff(conn, args.tariff)
    vendors = [store.find_tariff(conn, name) for name in args.vendors]
    outcome = derive_tariff(
        conn, target, vendors, rules, Actor(args.by, "cli"), at=at, dry_run=args.dry_run
    )
    conn.commit()
    plan = outcome.plan
    counts = ", ".join(f"{c.value} {plan.counts.get(c, 0)}" for c in Category)
    verb = "would" if args.dry_run else "did"
    print(
        f"tariff {target.name} ({target.currency}) derived from "
        f"{', '.join(v.name for v in vendors)} with {rules.source}: "
        f"{len(outcome.derivation.deck.rates)} codes, "
        f"effective {outcome.effective:%Y-%m-%d %H:%M:%S}Z"
    )
    print(f"at {plan.now:%Y-%m-%d %H:%M:%S}Z: {counts}")
    print(
        f"writes ({verb}): {len(plan.delete_ids)} windows deleted (not started), "
        f"{len(plan.ends)} ended, {len(plan.inserts)} inserted"
    )
    if args.explain:
        write_explanation(args.explain, outcome.derivation)
        print(f"explained: {args.explain}")
    if args.dry_run:
        target_file = args.diff or Path(f"{_file_name(target.name)}.derive.diff.csv")
        write_diff(target_file, plan)
        print(f"diff: {target_file} ({len(plan.changes)} changed codes)")
        if outcome.violations:
            from admin.pricing.notices import NoticeRefused

            refusal = str(NoticeRefused(target.name, outcome.violations))
            print(f"akira tariff derive: it would be {refusal}", file=sys.stderr)
            return 1
        return 0
    if not plan.writes:
        print("nothing changed")
    for customer, notice_id in zip(outcome.customers, outcome.notices, strict=False):
        print(f"rate sheet for {customer.company}: notice {notice_id} in the outbox")
    if args.publish and plan.writes:
        from admin.ratedecks.cli import _publish

        _publish(conn, args.by, settings)
    return 0


def write_explanation(target: Path, derivation) -> None:
    from admin.ratedecks.store import money_text

    with target.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(("prefix", "destination", "vendor", "vendor_prefix", "cost", "rule", "rate"))
        for prefix, source in derivation.sources.items():
            out.writerow(
                (
                    prefix,
                    derivation.deck.rates[prefix].destination,
                    source.vendor,
                    source.vendor_prefix,
                    money_text(source.cost),
                    source.rule,
                    money_text(source.price),
                )
            )


def cmd_notices(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from admin.services import ServiceError

    try:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            return _notices(conn, args)
    except ServiceError as refused:
        print(f"akira notices {args.action}: {refused}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"akira notices {args.action}: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"akira notices: cannot reach PostgreSQL: {exc}", file=sys.stderr)
        return 1


def _notices(conn, args: argparse.Namespace) -> int:
    from admin.pricing import notices
    from admin.pricing.notices import Kind
    from admin.pricing.rate_sheets import decoded
    from admin.queries import query
    from admin.services import Actor, NotFound

    if args.action == "set":
        days = {kind: getattr(args, f"{kind.value}_days") for kind in Kind}
        stored = notices.set_period(conn, args.company, days, Actor(args.by, "cli"))
        print(json.dumps(stored.as_json()))
    elif args.action == "show":
        for period in notices.periods(conn, args.company):
            print(json.dumps(period.as_json()))
    elif args.action == "sheets":
        rows = conn.execute(
            query("pricing_rate_sheets"),
            {"all": args.all, "company": args.company, "limit": args.limit},
        ).fetchall()
        for notice_id, at, company, delivered_at, detail in rows:
            print(
                json.dumps(
                    {
                        "id": notice_id,
                        "at": at.isoformat(),
                        "company": company,
                        "delivered_at": delivered_at.isoformat() if delivered_at else None,
                        **detail,
                    }
                )
            )
    else:
        row = conn.execute(query("pricing_rate_sheet_files"), {"id": args.notice_id}).fetchone()
        if row is None:
            raise NotFound(f"no rate-sheet notice {args.notice_id}")
        args.out.mkdir(parents=True, exist_ok=True)
        for name, content in decoded(row[0]):
            path = args.out / Path(name).name
            path.write_bytes(content)
            print(path)
    return 0


def moment(text: str) -> datetime:
    """ISO 8601; a date alone is midnight UTC, a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--at {text!r}: not an ISO 8601 date or time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)
