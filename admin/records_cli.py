"""``akira <entity> create|update|delete|show``: the entity services from the command line.

One command per service (admin/services), with ``FIELD=VALUE`` arguments validated by the
same form as the pages and the API; every write is audited as the CLI user (``--by``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from admin import services
from admin.queries import all_queries, query
from admin.services import Actor, Service, ServiceError
from admin.services.companies import COMPANIES
from admin.services.routing_plans import ROUTING_PLAN_ENTRIES, ROUTING_PLANS
from admin.services.tariffs import RATES, TARIFFS
from admin.services.trunks import DEVICES, GATEWAYS, ORIGINATORS, TERMINATORS
from admin.settings import Settings

SERVICES: dict[str, Service[Any]] = {
    "company": COMPANIES,
    "originator": ORIGINATORS,
    "device": DEVICES,
    "terminator": TERMINATORS,
    "gateway": GATEWAYS,
    "tariff": TARIFFS,
    "rate": RATES,
    "plan": ROUTING_PLANS,
    "plan-entry": ROUTING_PLAN_ENTRIES,
}
# commands that exist already with other actions (`akira originator set`, `akira device
# credentials`, `akira tariff derive`): cli.py adds these actions to them with add_actions
JOINED = ("originator", "terminator", "device", "plan", "tariff")


def add_commands(commands: argparse._SubParsersAction) -> None:
    for name in SERVICES:
        if name not in JOINED:
            parser = commands.add_parser(name, help=f"create, change, delete or show a {name}")
            add_actions(parser.add_subparsers(dest="action", required=True, metavar="ACTION"), name)


def add_actions(actions: argparse._SubParsersAction, name: str) -> None:
    """create / update / delete / show of one service, under ``akira <name>``."""
    fields = ", ".join(SERVICES[name].form.model_fields)
    create = actions.add_parser(
        "create", help=f"a new {name} from FIELD=VALUE", description=f"Fields: {fields}."
    )
    create.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    update = actions.add_parser(
        "update", help="change some fields; the others keep their value",
        description=f"Fields: {fields}.",
    )  # fmt: skip
    update.add_argument("target", metavar="ID_OR_NAME")
    update.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    delete = actions.add_parser("delete", help="delete it (refused while anything uses it)")
    delete.add_argument("target", metavar="ID_OR_NAME")
    show = actions.add_parser("show", help="the row as JSON")
    show.add_argument("target", metavar="ID_OR_NAME")
    for action in (create, update, delete):
        action.add_argument("--by", default=getpass.getuser(), help="who, for the audit log")
    for action in (create, update, delete, show):
        action.set_defaults(run=cmd_record, service=name)


def cmd_record(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    service = SERVICES[args.service]
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            result = _run(conn, service, args)
    except ServiceError as exc:
        print(f"akira: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"akira: cannot reach PostgreSQL at AKIRA_DATABASE_URL: {exc}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(services.jsonable(result)))
    return 0


def _run(conn, service: Service[Any], args: argparse.Namespace) -> dict[str, Any] | None:
    actor = Actor(getattr(args, "by", "cli"), request_id="cli")
    if args.action == "create":
        form = services.parse_form(service, _pairs(args.fields))
        return services.get(conn, service, services.create(conn, service, form, actor))
    row_id = _find(conn, service, args.target)
    if args.action == "show":
        return services.get(conn, service, row_id)
    if args.action == "delete":
        services.delete(conn, service, row_id, actor)
        print(f"{service.entity} {row_id} deleted", file=sys.stderr)
        return None
    current = services.get(conn, service, row_id)
    kept = {name: current[name] for name in service.form.model_fields if name in current}
    form = services.parse_form(service, kept | _pairs(args.fields))
    return services.update(conn, service, row_id, form, actor)


def _pairs(fields: list[str]) -> dict[str, str]:
    pairs = {}
    for item in fields:
        key, sep, value = item.partition("=")
        if not sep:
            raise ServiceError(f"{item!r} is not FIELD=VALUE")
        pairs[key.strip()] = value
    return pairs


def _find(conn, service: Service[Any], target: str) -> int:
    """An id, or a name when the entity has an ``<entity>_id_by_name`` query."""
    if target.isdigit():
        return int(target)
    by_name = f"{service.entity}_id_by_name"
    if by_name not in all_queries():
        raise ServiceError(f"give the {service.entity}'s id")
    row = conn.execute(query(by_name), {"name": target}).fetchone()
    if row is None:
        raise services.NotFound(f"no {service.entity} named {target!r}")
    return row[0]
