"""``akira noc``: the orchestrator service, test calls, audits and the NOC trunk."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from admin.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    noc = commands.add_parser("noc", help="NOC test calls through a chosen vendor; audits")
    actions = noc.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="run the orchestrator's HTTP API (AKIRA_NOC_*)")
    serve.add_argument("--host", help="default AKIRA_NOC_HOST (127.0.0.1)")
    serve.add_argument("--port", type=int, help="default AKIRA_NOC_PORT (8070)")
    serve.add_argument("--audits", action="store_true", help="also run the due audits (the job)")
    serve.set_defaults(run=cmd_serve)

    call = actions.add_parser("call", help="one test call now, through this terminator")
    call.add_argument("terminator_id", type=int)
    call.add_argument("number", help="E.164 digits, no +")
    call.add_argument("--hold", type=int, default=3, help="seconds to hold an answered call")
    call.add_argument("--expect", type=int, default=200, help="the final code that passes")
    call.add_argument("--by", default=getpass.getuser(), help="who asks, for the record")
    call.set_defaults(run=cmd_call)

    results = actions.add_parser("results", help="recent test calls, newest first (JSON lines)")
    results.add_argument("--terminator", type=int)
    results.add_argument("--limit", type=int, default=20)
    results.set_defaults(run=cmd_results)

    audit = actions.add_parser("audit", help="scheduled audits: create, list, run the due ones")
    audit_actions = audit.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    create = audit_actions.add_parser("create", help="test NUMBERs via a terminator every N min")
    create.add_argument("terminator_id", type=int)
    create.add_argument("numbers", nargs="*", metavar="NUMBER")
    create.add_argument("--top", type=int, help="also the vendor's N busiest destinations")
    create.add_argument("--every", type=int, default=60, help="minutes between runs")
    create.add_argument("--expect", type=int, default=200)
    create.add_argument("--hold", type=int, default=3)
    create.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    audit_actions.add_parser("list", help="the audits and their last outcome")
    audit_actions.add_parser("run", help="run the audits due now, once (for cron)")
    audit.set_defaults(run=cmd_audit)

    trunk = actions.add_parser(
        "trunk", help="make an originator the NOC's test trunk (then publish)"
    )
    trunk.add_argument("originator", help="id or name")
    trunk.add_argument("--off", action="store_true", help="no longer a NOC trunk")
    trunk.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    trunk.set_defaults(run=cmd_trunk)


def _connect(settings: Settings):
    import psycopg

    return psycopg.connect(settings.database_url)


def _redis(settings: Settings):
    from redis import Redis

    return Redis.from_url(settings.redis_url, socket_timeout=5)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from admin.noc.service import create_app
    from admin.noc.settings import NocSettings

    noc = NocSettings.from_env()
    app = create_app(settings.database_url, settings.redis_url, noc, audits=args.audits)
    uvicorn.run(app, host=args.host or noc.host, port=args.port or noc.port, log_level="info")
    return 0


def cmd_call(args: argparse.Namespace, settings: Settings) -> int:
    from admin.noc import runs
    from admin.noc.settings import NocSettings

    request = runs.TestCallRequest(args.terminator_id, args.number, args.hold, args.expect, args.by)
    with _connect(settings) as conn:
        try:
            result = runs.run_test_call(conn, _redis(settings), NocSettings.from_env(), request)
        except runs.TestCallRefused as exc:
            print(f"akira: {exc}", file=sys.stderr)
            return 1
    print(json.dumps(result))
    return 0 if result["outcome"] == "passed" else 2


def cmd_results(args: argparse.Namespace, settings: Settings) -> int:
    from admin.noc import runs

    with _connect(settings) as conn:
        for row in runs.test_calls(conn, args.terminator, limit=args.limit):
            print(json.dumps(row))
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from admin.noc import runs
    from admin.noc.settings import NocSettings

    with _connect(settings) as conn:
        if args.audit_action == "create":
            form = runs.AuditForm(
                args.terminator_id, args.numbers, args.every, args.expect, args.hold, args.top
            )
            try:
                print(f"audit {runs.create_audit(conn, form, args.by)} created")
            except runs.TestCallRefused as exc:
                print(f"akira: {exc}", file=sys.stderr)
                return 1
        elif args.audit_action == "list":
            for row in runs.audits(conn):
                print(json.dumps(row))
        else:
            results = runs.run_due_audits(conn, _redis(settings), NocSettings.from_env())
            for row in results:
                print(json.dumps(row))
            return 0 if all(r.get("outcome") == "passed" for r in results) else 2
    return 0


def cmd_trunk(args: argparse.Namespace, settings: Settings) -> int:
    from admin.noc import runs

    with _connect(settings) as conn:
        try:
            trunk = runs.set_trunk(conn, args.originator, not args.off, args.by)
        except runs.TestCallRefused as exc:
            print(f"akira: {exc}", file=sys.stderr)
            return 1
    state = "now the NOC trunk" if trunk["noc"] else "no longer a NOC trunk"
    print(f"originator {trunk['name']} is {state}; run akira publish to apply")
    return 0
