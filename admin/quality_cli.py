"""``akira quality publish|show``: the vendors' quality table that quality routing reads."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from admin.settings import Settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    quality = commands.add_parser(
        "quality", help="vendors' quality per destination, for quality_then_cost routing plans"
    )
    actions = quality.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = actions.add_parser(
        "publish",
        help="sum the recent minute rollups per terminator and destination and make that the "
        "engine's quality table (no catalog publish)",
    )
    publish.add_argument(
        "--window",
        type=int,
        metavar="MINUTES",
        help="minutes of traffic judged (default AKIRA_QUALITY_WINDOW_MINUTES, 60)",
    )
    publish.add_argument(
        "--every",
        type=float,
        nargs="?",
        const=-1.0,
        metavar="SECONDS",
        help="keep publishing at this interval (default AKIRA_QUALITY_SECONDS, 60); "
        "without it, once",
    )
    publish.set_defaults(run=cmd_publish)
    show = actions.add_parser("show", help="the table in force, as the engine reads it (JSON)")
    show.add_argument("--terminator", type=int, help="only this terminator id")
    show.set_defaults(run=cmd_show)


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg
    from redis import Redis

    from admin.quality import publish_quality, run_every

    window = args.window or settings.quality_window_minutes
    if window < 1:
        sys.exit("akira quality publish: --window must be at least 1 minute")
    interval = settings.quality_interval if args.every in (None, -1.0) else args.every
    if interval <= 0:
        sys.exit("akira quality publish: --every must be a positive number of seconds")
    conn = psycopg.connect(settings.database_url, autocommit=True)
    redis = Redis.from_url(settings.redis_url, socket_timeout=5)

    def publish_once():
        return publish_quality(conn, redis, window_minutes=window, interval_seconds=interval)

    with conn:
        if args.every is None:
            print(json.dumps(dataclasses.asdict(publish_once())))
            return 0
        run_every(interval, publish_once, lambda message: print(message, file=sys.stderr))
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    from redis import Redis

    from admin.simulate import live_quality
    from kemi.snapshot_sync import SnapshotSync, SyncError

    redis = Redis.from_url(settings.redis_url, socket_timeout=5)
    try:
        SnapshotSync(redis, settings.snapshot_dir, node="quality-show").sync_quality()
    except SyncError as exc:
        print(f"akira quality show: {exc}; showing the one installed here", file=sys.stderr)
    table = live_quality(settings.snapshot_dir)
    if table is None:
        sys.exit("akira quality show: no quality table published (akira quality publish)")
    entries = [
        {"terminator_id": row.terminator_id, "prefix": row.prefix, **row.measured._asdict()}
        for row in table.rows()
        if args.terminator is None or row.terminator_id == args.terminator
    ]
    document = {
        "digest": table.digest,
        "computed_at": table.computed_at,
        "expires_at": table.expires_at,
        "window_seconds": table.window_seconds,
        "entries": entries,
    }
    print(json.dumps(document, indent=2))
    return 0
