"""``akira calls list|drop``: the calls in progress on every node, and ending one (audited)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time

from admin.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    calls = commands.add_parser("calls", help="calls in progress on every node; drop one")
    actions = calls.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="calls in progress, longest first")
    listing.add_argument("--customer", help="company id, or part of its or its trunk's name")
    listing.add_argument("--vendor", help="company id, or part of its or its trunk's name")
    listing.add_argument("--number", help="part of the calling or called number")
    listing.add_argument("--node", help="only this node's calls")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    listing.set_defaults(run=cmd_list)
    drop = actions.add_parser("drop", help="end a call: BYE to both sides, audited")
    drop.add_argument("call", metavar="ID", help="node:entry:id, as akira calls list shows it")
    drop.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    drop.set_defaults(run=cmd_drop)


def _clients(settings: Settings):
    import psycopg
    from redis import Redis

    conn = psycopg.connect(settings.database_url, autocommit=True)
    return conn, Redis.from_url(settings.redis_url, socket_timeout=5)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from admin.live_calls import CallFilter, list_calls

    conn, redis = _clients(settings)
    with conn:
        found = list_calls(
            conn, redis, CallFilter(args.customer, args.vendor, args.number, args.node)
        )
    if args.json:
        document = {
            "calls": [call.as_json() for call in found.calls],
            "unreachable": found.unreachable,
        }
        print(json.dumps(document, indent=2))
    else:
        print(
            f"{'ID':<24} {'STATE':<9} {'SECS':>6}  {'CUSTOMER':<16} {'VENDOR':<16} CALLER -> CALLED"
        )
        for call in found.calls:
            print(
                f"{call.id:<24} {call.state:<9} {call.duration:>6}  {call.customer:<16.16} "
                f"{call.vendor:<16.16} {call.caller} -> {call.called}"
            )
        print(f"{len(found.calls)} call(s) at {time.strftime('%H:%M:%S')}")
    for node, why in found.unreachable.items():
        print(f"akira: node {node} gave no list: {why}", file=sys.stderr)
    return 1 if found.unreachable else 0


def cmd_drop(args: argparse.Namespace, settings: Settings) -> int:
    from admin.live_calls import LiveCallError, drop

    conn, redis = _clients(settings)
    try:
        with conn:
            call = drop(conn, redis, args.call, args.by)
    except LiveCallError as exc:
        print(f"akira: {exc}", file=sys.stderr)
        return 1
    print(f"dropped {call.id}: {call.caller} -> {call.called} ({call.customer} via {call.vendor})")
    return 0
