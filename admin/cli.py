"""``akira``: the command line of the admin plane. Every command has ``--help``."""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import getpass
import json
import os
import signal
import socket
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

from admin.settings import Settings

TABLES = {"originator": "originators", "terminator": "terminators", "plan": "routing_plans"}

if TYPE_CHECKING:  # imported where used: `akira simulate` must start fast
    import psycopg
    from redis import Redis


def _connect(settings: Settings) -> psycopg.Connection:
    import psycopg

    try:
        return psycopg.connect(settings.database_url)
    except psycopg.OperationalError as exc:
        sys.exit(
            f"akira: cannot reach PostgreSQL at AKIRA_DATABASE_URL "
            f"({settings.database_url}): {exc}".strip()
        )


def _redis(settings: Settings) -> Redis:
    from redis import Redis

    client = Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        client.ping()
    except Exception as exc:
        sys.exit(f"akira: cannot reach Redis at AKIRA_REDIS_URL ({settings.redis_url}): {exc}")
    return client


def create_database(url: str) -> bool:
    """Create the database named in ``url`` if it does not exist (needs CREATEDB)."""
    import psycopg
    from psycopg import sql

    info = psycopg.conninfo.conninfo_to_dict(url)
    name = info.get("dbname")
    maintenance = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from admin.migrate import migrate

    if args.create_database and create_database(settings.database_url):
        print("created the database")
    with _connect(settings) as conn:
        done = migrate(conn, progress=print)
    if not done:
        print("schema is up to date")
    elif done != ["schema.sql"]:
        print(f"{len(done)} migration(s) applied")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from admin import demo

    with _connect(settings) as conn:
        print("demo data loaded" if demo.load(conn) else "demo data already present")
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from admin.publisher import publish
    from admin.staleness import staleness

    with _connect(settings) as conn:
        state = staleness(conn)
        conn.commit()
        if args.if_stale and not state.stale:
            print(f"akira publish: snapshot {state.version} is up to date", file=sys.stderr)
            return 0
        publication = publish(
            conn,
            _redis(settings),
            published_by=args.by,
            snapshot_dir=settings.snapshot_dir,
            node_wait=args.node_wait,
        )
    print(json.dumps(dataclasses.asdict(publication)))
    if publication.lagging_nodes:
        print(
            f"akira publish: went live before these nodes had it: "
            f"{', '.join(publication.lagging_nodes)}",
            file=sys.stderr,
        )
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from admin import simulate

    at = datetime.fromisoformat(args.at) if args.at else None
    if at is not None and at.tzinfo is None:
        sys.exit("akira: --at needs a time zone, e.g. 2026-01-31T12:00:00+00:00")
    if (args.number is None) == (args.numbers is None):
        sys.exit("akira simulate: give --number or --numbers FILE (one of them)")
    request_args = {
        "src_ip": args.src_ip,
        "src_port": args.src_port,
        "transport": args.transport,
        "at": at,
    }
    redis = None if args.offline else _redis(settings)
    try:
        snapshot = simulate.live_snapshot(redis, settings.snapshot_dir)
        simulate.check_time(snapshot, at)
        down = simulate.gateways_down(redis, args.node)
    except simulate.BeforeSnapshot as exc:
        sys.exit(f"akira simulate: {exc}")
    except simulate.NoSnapshot:
        if args.numbers:
            sys.exit("akira simulate: nothing is published yet (akira publish)")
        print(json.dumps(simulate.no_snapshot_answer(at), indent=2))
        return 0
    quality = simulate.live_quality(settings.snapshot_dir)
    if args.numbers:
        started = time.perf_counter()
        with open(args.numbers, encoding="utf-8-sig") as numbers:
            count = simulate.simulate_numbers(
                snapshot, simulate.numbers_in(numbers), sys.stdout, down, quality, **request_args
            )
        elapsed = time.perf_counter() - started
        print(
            f"akira simulate: {count} numbers in {elapsed:.2f}s "
            f"({count / elapsed if elapsed else 0:,.0f}/s), snapshot {snapshot.version}",
            file=sys.stderr,
        )
        return 0
    call_request = simulate.request(
        args.number, call_id=args.call_id, forced_terminator=args.terminator, **request_args
    )
    print(json.dumps(simulate.simulate(snapshot, call_request, down, quality), indent=2))
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg
    import structlog
    from redis import Redis

    from admin.rater import Rater, run_forever

    log = structlog.get_logger("akira.worker").info
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: every thread's stack to stderr

    from admin.backlog import open_cdr_bus

    def make_rater() -> Rater:
        return Rater(
            conn=psycopg.connect(settings.database_url, autocommit=True),
            redis=Redis.from_url(settings.redis_url, socket_timeout=10),
            consumer=args.consumer,
            bus=open_cdr_bus(settings, args.consumer),
            log=log,
        )

    if args.once:
        rater = make_rater()
        rater.setup()
        result = rater.run_once(block_ms=100)
        print(json.dumps(dataclasses.asdict(result)))
        return 0
    run_forever(make_rater, log=log)
    return 0


def cmd_cdr_relay(args: argparse.Namespace, settings: Settings) -> int:
    from admin.backlog import open_cdr_bus
    from kemi.relay import Relay

    relay = Relay(
        os.path.join(settings.spool_dir, "journal"),
        open_cdr_bus(settings, "relay"),
        legacy_spool_dir=settings.spool_dir,
        on_event=lambda message: print(message, file=sys.stderr),
    )
    while True:
        shipped = relay.run_once()
        if shipped:
            print(f"shipped {shipped} CDR events")
        if args.once:
            waiting, oldest = relay.backlog()
            if waiting:
                print(f"{waiting} journal segment(s) left (oldest {oldest:.0f}s): run again")
            return 0
        time.sleep(0.2)


def cmd_cdr(args: argparse.Namespace, settings: Settings) -> int:
    """akira cdr rejects | retry: the events the rater could not rate, and another try."""
    import psycopg

    from admin import rejects

    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if args.action == "rejects":
            for row in rejects.listed(conn, args.limit):
                print(json.dumps(row, default=str))
            return 0
        result = rejects.retry(conn, _redis(settings), ids=args.id)
    print(json.dumps(dataclasses.asdict(result)))
    if result.still_rejected:
        print(
            f"akira: {result.still_rejected} event(s) still cannot be rated; "
            "see `akira cdr rejects` for why, fix the cause and run `akira cdr retry` again",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_set(args: argparse.Namespace, settings: Settings) -> int:
    """akira originator|terminator|plan set NAME key=value ...: one transaction."""
    from admin import routing_settings as rs

    changes = {}
    for pair in args.settings:
        name, sep, value = pair.partition("=")
        if not sep:
            sys.exit(f"akira {args.kind} set: {pair!r} is not key=value")
        changes[name.replace("-", "_")] = value
    with _connect(settings) as conn:
        try:
            with conn.transaction():
                row_id = rs.id_by_name(conn, TABLES[args.kind], args.name)
                written = rs.update(conn, TABLES[args.kind], row_id, changes, by=args.by)
        except rs.SettingError as exc:
            sys.exit(f"akira {args.kind} set: {exc}")
    print(json.dumps({"updated": args.name, **{k: str(v) for k, v in written.items()}}))
    print("publish to make it live: akira publish", file=sys.stderr)
    return 0


def cmd_override(args: argparse.Namespace, settings: Settings) -> int:
    from admin import routing_settings as rs

    with _connect(settings) as conn:
        try:
            with conn.transaction():
                plan_id = rs.id_by_name(conn, "routing_plans", args.plan)
                ids = [rs.id_by_name(conn, "terminators", t) for t in args.terminators]
                chosen = None if args.remove else ids
                rs.set_override(conn, plan_id, args.prefix, chosen, by=args.by)
        except (rs.SettingError, psycopg_errors()) as exc:
            sys.exit(f"akira plan override: {exc}")
    target = "(removed)" if args.remove else ", ".join(args.terminators)
    print(f"{args.plan}: {args.prefix} -> {target}")
    return 0


def cmd_block(args: argparse.Namespace, settings: Settings) -> int:
    from admin import routing_settings as rs

    with _connect(settings) as conn:
        try:
            with conn.transaction():
                plan_id = rs.id_by_name(conn, "routing_plans", args.plan) if args.plan else None
                rs.block_prefix(
                    conn, args.prefix, plan_id, args.reason, blocked=not args.remove, by=args.by
                )
        except (rs.SettingError, psycopg_errors()) as exc:
            sys.exit(f"akira block: {exc}")
    where = f"plan {args.plan}" if args.plan else "every plan"
    print(f"{args.prefix}: {'unblocked' if args.remove else 'blocked'} for {where}")
    return 0


def cmd_credentials(args: argparse.Namespace, settings: Settings) -> int:
    from admin import routing_settings as rs

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    if len(password) < 8:
        sys.exit("akira device credentials: the password needs at least 8 characters")
    ha1 = rs.digest_ha1(args.username, settings.auth_realm, password)
    with _connect(settings) as conn:
        try:
            with conn.transaction():
                originator_id = rs.id_by_name(conn, "originators", args.originator)
                rs.add_credentials(
                    conn, originator_id, args.username, ha1, args.network, by=args.by
                )
        except (rs.SettingError, psycopg_errors()) as exc:
            sys.exit(f"akira device credentials: {exc}")
    print(f"{args.username} authenticates as {args.originator} from {args.network}")
    return 0


def psycopg_errors() -> type[Exception]:
    import psycopg

    return psycopg.errors.IntegrityError


def cmd_account(args: argparse.Namespace, settings: Settings) -> int:
    """akira account show|topup|adjust|refund|invoice|set COMPANY ...: one transaction each."""
    from admin import ledger

    with _connect(settings) as conn:
        try:
            with conn.transaction():
                company_id = ledger.company_by_name(conn, args.company)
                if args.action == "set":
                    ledger.set_billing(
                        conn,
                        company_id,
                        billing=args.billing,
                        credit_limit=args.credit_limit,
                        username=args.by,
                        low_balance=args.low_balance,
                    )
                elif args.action != "show":
                    entry = ledger.post(
                        conn, company_id, args.action, args.amount, note=args.note, username=args.by
                    )
                    print(f"posted {entry.kind} #{entry.id}: {entry.amount}", file=sys.stderr)
                account = ledger.balance(conn, company_id).as_json()
                if args.action == "show":
                    account["entries"] = ledger.entries(conn, company_id, args.entries)
        except ledger.LedgerError as exc:
            sys.exit(f"akira account {args.action}: {exc}")
        if args.action != "show":
            _sync_credit(conn, settings, company_id)
    print(json.dumps(account, indent=2))
    return 0


def _sync_credit(conn: psycopg.Connection, settings: Settings, company_id: int) -> None:
    """The engine's view of a prepaid account, at once; else the worker's next sync (10 s)."""
    from redis import Redis, RedisError

    from admin import credit

    try:
        credit.sync(conn, Redis.from_url(settings.redis_url, socket_timeout=2), [company_id])
    except (RedisError, OSError) as exc:
        print(
            f"akira: Redis not updated ({exc}); the worker syncs credit within 10 s",
            file=sys.stderr,
        )


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    """The notification outbox: what e-mail, Telegram or webhook delivery reads."""
    from admin import ledger

    if args.deliver:
        return _deliver_alerts(args, settings)
    with _connect(settings) as conn:
        if args.ack:
            with conn.transaction():
                marked = ledger.mark_delivered(conn, args.ack)
            print(f"{marked} alert(s) marked delivered", file=sys.stderr)
            return 0
        for alert in ledger.undelivered_alerts(conn):
            print(json.dumps(alert))
    return 0


def _deliver_alerts(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from admin import alert_delivery

    url, secret = settings.alert_webhook_url, settings.alert_webhook_secret
    if not url.startswith(("http://", "https://")):
        print("akira: set AKIRA_ALERT_WEBHOOK_URL to the receiver's http(s) URL", file=sys.stderr)
        return 2
    if args.once:
        with _connect(settings) as conn:
            result = alert_delivery.deliver(conn, url, secret)
        print(f"{result.delivered} alert(s) delivered to {url}", file=sys.stderr)
        if result.error:
            print(f"akira: {result.error}; the rest waits for the next pass", file=sys.stderr)
        return 1 if result.error else 0
    alert_delivery.run_forever(
        lambda: psycopg.connect(settings.database_url, autocommit=True),
        url,
        secret,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    return 0


def cmd_rerate(args: argparse.Namespace, settings: Settings) -> int:
    """akira rerate --from --to [--company]: one transaction for the window."""
    from admin import ledger, rerate

    since, until = (_aware(args.since, "--from"), _aware(args.until, "--to"))
    if until <= since:
        sys.exit("akira rerate: --to must be after --from")
    with _connect(settings) as conn:
        try:
            with conn.transaction():
                company_id = ledger.company_by_name(conn, args.company) if args.company else None
                result = rerate.rerate(
                    conn,
                    since,
                    until,
                    company_id=company_id,
                    username=args.by,
                    progress=lambda done: print(f"  {done:,} CDRs checked", file=sys.stderr),
                )
        except ledger.LedgerError as exc:
            sys.exit(f"akira rerate: {exc}")
    print(
        json.dumps(
            {
                "checked": result.checked,
                "repriced": result.repriced,
                "sides_without_a_rate_now": result.no_rate,
                "posted": {str(k): str(v) for k, v in result.posted.items()},
            },
            indent=2,
        )
    )
    return 0


def _aware(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        sys.exit(f"akira: {option} {text!r} is not an ISO 8601 time (e.g. 2026-11-01T00:00+00:00)")
    if moment.tzinfo is None:
        sys.exit(f"akira: {option} needs a time zone, e.g. 2026-11-01T00:00:00+00:00")
    return moment


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Nodes, their snapshot versions, the gateways they find down, the CDR backlog."""
    from admin.backlog import cdr_backlog
    from admin.publisher import live_nodes
    from kemi import contract
    from kemi.health import cluster_down

    redis = _redis(settings)
    current = redis.get(contract.SNAPSHOT_POINTER)
    status = {
        "snapshot": None if current is None else int(current),
        "pending": None
        if redis.get(contract.SNAPSHOT_PENDING) is None
        else int(redis.get(contract.SNAPSHOT_PENDING)),
        "nodes": live_nodes(redis),
        "gateways_down": cluster_down(redis),
        "cdr_backlog": cdr_backlog(settings),
    }
    print(json.dumps(status, indent=2))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(
        "admin.web.app:create_app",
        factory=True,
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        log_level="info",
    )
    return 0


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    from admin.queries import query
    from admin.services import Actor, ServiceError, parse_form, users

    with _connect(settings) as conn:
        if args.action == "list":
            for row in conn.execute(query("list_users")).fetchall():
                print(f"{row[1]:<24} {row[2]:<10} {'enabled' if row[3] else 'disabled'}")
            return 0
        if not args.username:
            sys.exit(f"akira users {args.action}: give a USERNAME")
        actor = Actor(args.by, request_id="cli")
        if args.action in ("disable", "logout"):
            found = conn.execute(query("user_id_by_name"), {"name": args.username}).fetchone()
            if found is None:
                sys.exit(f"akira users {args.action}: no user {args.username!r}")
            ended = users.end_sessions(conn, found[0], actor, disable=args.action == "disable")
            done = "disabled, " if args.action == "disable" else ""
            print(f"user {args.username} {done}{ended} session(s) ended")
            return 0
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.username}: ")
        fields = {"username": args.username, "role": args.role, "password": password}
        try:
            users.save(conn, parse_form(users.USERS, fields), actor)
        except ServiceError as refused:
            sys.exit(f"akira users create: {refused}")
        print(f"user {args.username} ({args.role}) saved")
    return 0


def cmd_tokens(args: argparse.Namespace, settings: Settings) -> int:
    from admin.web import tokens

    with _connect(settings) as conn:
        if args.action == "list":
            for token in tokens.listed(conn):
                used = (
                    token["last_used_at"].isoformat(timespec="seconds")
                    if token["last_used_at"]
                    else "never"
                )
                print(
                    f"{token['id']:<6} {token['name']:<24} {token['username']:<16} "
                    f"{token['role']:<10} {token['state']:<8} "
                    f"expires {token['expires_at'].isoformat(timespec='seconds')}  used {used}"
                )
            return 0
        try:
            if args.action == "revoke":
                revoked = tokens.revoke(conn, args.token_id, by=args.by)
                print(f"token {revoked['id']} ({revoked['name']} of {revoked['user']}) revoked")
                return 0
            text, record = tokens.create(
                conn, args.username, args.name, role=args.role, days=args.days, by=args.by
            )
        except tokens.TokenError as refused:
            sys.exit(f"akira tokens {args.action}: {refused}")
    print(
        f"token {record['id']} for {record['user']} ({record['role']}), expires "
        f"{record['expires_at']}; it is shown only now:",
        file=sys.stderr,
    )
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="akira",
        description="Akira wholesale VoIP platform. Settings come from AKIRA_* environment "
        "variables (docs/configuration.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from admin import records_cli

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.add_argument(
        "--create-database",
        action="store_true",
        help="create the database of AKIRA_DATABASE_URL first if missing",
    )
    migrate.set_defaults(run=cmd_migrate)

    demo = commands.add_parser("demo", help="load the demo catalog (two customers, three vendors)")
    demo.set_defaults(run=cmd_demo)

    publish = commands.add_parser(
        "publish", help="compile PostgreSQL into a new routing snapshot and make it live"
    )
    publish.add_argument(
        "--by",
        default=os.environ.get("USER", "cli"),
        help="who publishes, for the record (default: $USER)",
    )
    publish.add_argument(
        "--node-wait",
        type=float,
        default=30.0,
        help="seconds to wait for every live node to fetch the new files before it goes "
        "live (default 30)",
    )
    publish.add_argument(
        "--if-stale",
        action="store_true",
        help="only when the catalog changed since the last publication (for a cron job)",
    )
    publish.set_defaults(run=cmd_publish)

    simulate = commands.add_parser(
        "simulate",
        help="show how the engine would route a call (JSON), or a CSV of numbers (CSV)",
    )
    simulate.add_argument("--src-ip", required=True, help="the caller's source IP")
    simulate.add_argument(
        "--number", help="the dialed number as sent in the R-URI (tech-prefix included)"
    )
    simulate.add_argument(
        "--numbers",
        metavar="FILE",
        help="a CSV whose first column holds dialed numbers: one output row each "
        "(decision, vendor order, each vendor's rate)",
    )
    simulate.add_argument("--at", help="call time, ISO 8601 with zone (default: now)")
    simulate.add_argument("--src-port", type=int, default=5060, help="source port (default 5060)")
    simulate.add_argument("--transport", default="udp", choices=["udp", "tcp"])
    simulate.add_argument(
        "--terminator",
        type=int,
        help="as a NOC test call naming this terminator (X-Akira-Terminator; honoured from a "
        "NOC trunk only)",
    )
    simulate.add_argument(
        "--call-id",
        default="simulated-call",
        help="Call-ID; the weight strategy orders vendors by it",
    )
    simulate.add_argument(
        "--offline",
        action="store_true",
        help="use the snapshot installed in AKIRA_SNAPSHOT_DIR without asking Redis "
        "(and without vendor health)",
    )
    simulate.add_argument(
        "--node",
        help="skip the gateways this node finds down (default: those any node finds down)",
    )
    simulate.set_defaults(run=cmd_simulate)

    worker = commands.add_parser(
        "worker", help="rate CDR events from the bus (AKIRA_BUS) into PostgreSQL"
    )
    worker.add_argument(
        "--consumer",
        default=f"{socket.gethostname()}-rater",
        help="consumer name in the Redis group; keep it stable across restarts",
    )
    worker.add_argument("--once", action="store_true", help="rate one batch and exit")
    worker.set_defaults(run=cmd_worker)

    relay = commands.add_parser(
        "cdr-relay",
        help="ship this node's CDR journal to the bus (Kamailio's timer process does this; "
        "use it when Kamailio is down)",
    )
    relay.add_argument("--once", action="store_true", help="ship what is there and exit")
    relay.set_defaults(run=cmd_cdr_relay)

    cdr = commands.add_parser(
        "cdr",
        help="CDR events the rater could not rate: list them, or rate them again",
        description="rejects lists the events kept aside with the reason (JSON lines); retry "
        "rates them again (after the cause is fixed, e.g. a currency added), stores those "
        "that now rate and charges them once, and keeps the others with the new reason. "
        "Exit status 1 while some still cannot be rated.",
    )
    cdr.add_argument("action", choices=["rejects", "retry"])
    cdr.add_argument("--id", type=int, nargs="+", metavar="ID", help="retry only these")
    cdr.add_argument("--limit", type=int, default=100, help="rejects listed (default 100)")
    cdr.set_defaults(run=cmd_cdr)

    for kind, what in (
        ("originator", "a customer trunk"),
        ("terminator", "a vendor trunk"),
        ("plan", "a routing plan"),
    ):
        entity = commands.add_parser(kind, help=f"change the routing settings of {what}")
        actions = entity.add_subparsers(dest="action", required=True, metavar="ACTION")
        setter = actions.add_parser(
            "set",
            help=f"set key=value settings of {what} (docs/engine.md lists them)",
            description="Settings: "
            + ", ".join(
                __import__("admin.routing_settings", fromlist=["SETTINGS"]).SETTINGS[
                    {
                        "originator": "originators",
                        "terminator": "terminators",
                        "plan": "routing_plans",
                    }[kind]
                ]
            )
            + '. Rules are JSON lists, e.g. number_rules=\'[{"strip": 1}, {"prefix": "44"}]\'.',
        )
        setter.add_argument("name", help=f"the name of {what}")
        setter.add_argument("settings", nargs="+", metavar="KEY=VALUE")
        setter.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
        setter.set_defaults(run=cmd_set, kind=kind)
        if kind in records_cli.JOINED:
            records_cli.add_actions(actions, kind)  # create / update / delete / show
        if kind == "plan":
            override = actions.add_parser(
                "override", help="this prefix always goes to these terminators, in this order"
            )
            override.add_argument("plan")
            override.add_argument("prefix")
            override.add_argument("terminators", nargs="*", metavar="TERMINATOR")
            override.add_argument("--remove", action="store_true", help="drop the override")
            override.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
            override.set_defaults(run=cmd_override)

    block = commands.add_parser("block", help="block calls to a prefix (one plan or every plan)")
    block.add_argument("prefix")
    block.add_argument("--plan", help="only this routing plan (default: every plan)")
    block.add_argument("--reason", default="", help="why, for the record")
    block.add_argument("--remove", action="store_true", help="unblock it")
    block.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    block.set_defaults(run=cmd_block)

    device = commands.add_parser("device", help="devices of customer trunks")
    device_actions = device.add_subparsers(dest="action", required=True, metavar="ACTION")
    records_cli.add_actions(device_actions, "device")
    credentials = device_actions.add_parser(
        "credentials", help="digest credentials of a device (HA1 stored, never the password)"
    )
    credentials.add_argument("originator")
    credentials.add_argument("username")
    credentials.add_argument(
        "--network", default="0.0.0.0/0", help="where the device may call from (CIDR)"
    )
    credentials.add_argument("--password-stdin", action="store_true")
    credentials.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    credentials.set_defaults(run=cmd_credentials)

    account = commands.add_parser(
        "account", help="balances and the ledger: top-ups, adjustments, refunds, invoices"
    )
    account_actions = account.add_subparsers(dest="action", required=True, metavar="ACTION")
    who = {"default": os.environ.get("USER", "cli"), "help": "who, for the record (default $USER)"}
    shown = account_actions.add_parser("show", help="balance, credit limit and recent entries")
    shown.add_argument("company")
    shown.add_argument("--entries", type=int, default=20, help="how many entries (default 20)")
    shown.set_defaults(run=cmd_account)
    for kind, meaning in (
        ("topup", "money received: a positive amount"),
        ("adjustment", "a correction either way: a signed amount and a --note saying why"),
        ("refund", "money given back to the account: a positive amount"),
        ("invoice", "an invoice debited: a negative amount"),
    ):
        poster = account_actions.add_parser(kind, help=meaning)
        poster.add_argument("company")
        poster.add_argument("amount", help="exact decimal, in the company's currency")
        poster.add_argument("--note", default="", help="why, for the ledger and the audit log")
        poster.add_argument("--by", **who)
        poster.set_defaults(run=cmd_account)
    setter = account_actions.add_parser("set", help="prepaid or postpaid, and the credit limit")
    setter.add_argument("company")
    setter.add_argument("--billing", choices=["prepaid", "postpaid"])
    setter.add_argument("--credit-limit", help="exact decimal, 0 or more")
    setter.add_argument(
        "--low-balance",
        help="alert once when the balance falls below this (exact decimal; 'none' clears it)",
    )
    setter.add_argument("--by", **who)
    setter.set_defaults(run=cmd_account)

    alerts = commands.add_parser(
        "alerts",
        help="low-balance and credit-limit alerts not delivered yet (JSON lines); --ack marks them",
    )
    alerts.add_argument("--ack", type=int, nargs="+", metavar="ID", help="mark these delivered")
    alerts.add_argument(
        "--deliver",
        action="store_true",
        help="POST each alert as JSON to AKIRA_ALERT_WEBHOOK_URL (signed with "
        "AKIRA_ALERT_WEBHOOK_SECRET), every 5 s until stopped",
    )
    alerts.add_argument("--once", action="store_true", help="with --deliver: one pass, then exit")
    alerts.set_defaults(run=cmd_alerts)

    rerate = commands.add_parser(
        "rerate",
        help="re-price stored CDRs after a rate correction; post the differences to the ledger",
        description="Answered CDRs whose call started in [--from, --to) are priced again with "
        "the rate in force at their start (PostgreSQL's rate history); changed prices are "
        "rewritten and each company's difference is posted once. Running it again posts "
        "nothing more.",
    )
    rerate.add_argument("--from", dest="since", required=True, help="ISO 8601 with zone")
    rerate.add_argument("--to", dest="until", required=True, help="ISO 8601 with zone")
    rerate.add_argument("--company", help="only this customer's calls")
    rerate.add_argument("--by", **who)
    rerate.set_defaults(run=cmd_rerate)

    status = commands.add_parser(
        "status", help="nodes, snapshot versions, gateways found down, CDR backlog"
    )
    status.set_defaults(run=cmd_status)

    serve = commands.add_parser("serve", help="run the admin web app and JSON API")
    serve.add_argument("--host", help="bind address (default AKIRA_HTTP_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default AKIRA_HTTP_PORT or 8000)")
    serve.set_defaults(run=cmd_serve)

    records_cli.add_commands(commands)  # akira company|gateway …: the entity services
    from admin.pricing import cli as pricing_cli

    tariff = commands.add_parser("tariff", help="create, change, delete, show or derive a tariff")
    tariff_actions = tariff.add_subparsers(dest="action", required=True, metavar="ACTION")
    records_cli.add_actions(tariff_actions, "tariff")  # create / update / delete / show
    pricing_cli.add_derive(tariff_actions)  # akira tariff derive: priced from vendor costs
    pricing_cli.add_commands(commands)  # akira notices set|show|sheets|files

    from admin.ratedecks.cli import add_rate_deck_commands

    add_rate_deck_commands(commands)  # akira import|export rates: rate decks
    from admin import calls_cli

    calls_cli.add_commands(commands)  # akira calls list|drop
    from admin import quality_cli

    quality_cli.add_commands(commands)  # akira quality publish|show
    from admin.noc import cli as noc_cli

    noc_cli.add_commands(commands)  # akira noc serve|call|results|audit|trunk

    from admin.web.permissions import role_names

    recorded_by = {"default": os.environ.get("USER", "cli"), "help": "who, for the audit log"}
    users = commands.add_parser(
        "users",
        help="manage the admin's operators",
        description="create (or reset the password and role of) a user; list them; disable one "
        "(no more logins, sessions or API tokens; their open sessions end now); logout one "
        "(end their sessions now). Roles: docs/admin.md, Access.",
    )
    users.add_argument("action", choices=["create", "list", "disable", "logout"])
    users.add_argument("username", nargs="?", help="login name (create, disable, logout)")
    users.add_argument("--role", default="admin", choices=role_names())
    users.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    users.add_argument("--by", **recorded_by)
    users.set_defaults(run=cmd_users)

    api_tokens = commands.add_parser(
        "tokens", help="API tokens for scripts and other systems: create, list, revoke"
    )
    token_actions = api_tokens.add_subparsers(dest="action", required=True, metavar="ACTION")
    token_create = token_actions.add_parser(
        "create",
        help="a new token for USER, printed once (send it as Authorization: Bearer <token>)",
        description="The token acts with --role (default: the owner's role, never more than "
        "it) until it expires or is revoked; only its hash is stored.",
    )
    token_create.add_argument("username", metavar="USER", help="the owner, an enabled user")
    token_create.add_argument("--name", required=True, help="what uses it, e.g. billing-sync")
    token_create.add_argument("--role", choices=role_names(), help="default: the owner's role")
    token_create.add_argument(
        "--days", type=int, default=90, help="days until it expires (default 90, at most 366)"
    )
    token_create.add_argument("--by", **recorded_by)
    token_list = token_actions.add_parser(
        "list", help="every token: owner, role, active / expired / revoked, last use"
    )
    token_revoke = token_actions.add_parser("revoke", help="end a token now")
    token_revoke.add_argument("token_id", type=int, metavar="ID", help="as `tokens list` shows")
    token_revoke.add_argument("--by", **recorded_by)
    for token_parser in (token_create, token_list, token_revoke):
        token_parser.set_defaults(run=cmd_tokens)
    return parser


# Long-running services keep Python's SIGPIPE handling (a write to a closed socket is an
# error they log and retry): with the default action, a bus, Redis or PostgreSQL dying under a
# write would end them silently (seen: the rater vanishing at a NATS restart).
SERVICES = (cmd_worker, cmd_cdr_relay, cmd_serve)


def is_service(args: argparse.Namespace) -> bool:
    return args.run in SERVICES or (args.run is cmd_alerts and args.deliver)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not is_service(args):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `akira simulate ... | head` ends quietly
    return args.run(args, Settings.from_env())


if __name__ == "__main__":
    sys.exit(main())
