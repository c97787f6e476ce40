"""Calls in progress on every node, and dropping one (``akira calls``, the live calls page).

Each Kamailio node announces its JSON-RPC socket in ``akira:nodes`` (kemi.snapshot_sync); its
dialog list (``dlg.list``) carries, per call, the context the engine keeps in dialog variables
(kemi.context: originator, number, vendor attempts) and when the call was answered. So the list
needs no state of its own: the nodes are the truth, and PostgreSQL gives the names.

Dropping a call is ``dlg.end_dlg`` on its node: the dialog module sends BYE to both sides, and
those BYEs carry kemi.pipeline's OPERATOR_DROP_HEADER, so the engine's CDR says
``operator-drop``. The audit row is written in the same transaction, committed only when the
node accepted the drop.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from psycopg.rows import dict_row
from redis import Redis

from admin import kamailio_rpc
from admin.ledger import audit
from admin.publisher import live_nodes
from admin.queries import query
from kemi.context import CallContext
from kemi.pipeline import OPERATOR_DROP_HEADER

CONTEXT, ATTEMPT, ANSWERED = "akira_ctx", "akira_att", "akira_ans"  # kemi.routes' names
STATES = {1: "trying", 2: "ringing", 3: "answered", 4: "answered", 5: "ended"}
LIST_LIMIT = 25  # dialogs asked for in one dlg.list answer (one datagram); more: dump_file
_dumps = itertools.count(1)


class LiveCallError(Exception):
    """No such call (any more: ``missing``), a call not answered yet (``unanswered``: only an
    answered call has two legs to send BYE to), or its node does not answer."""

    def __init__(self, message: str, missing: bool = False, unanswered: bool = False) -> None:
        super().__init__(message)
        self.missing, self.unanswered = missing, unanswered


@dataclass(frozen=True, slots=True)
class LiveCall:
    id: str  # node:h_entry:h_id, what ``drop`` takes
    node: str
    call_id: str
    state: str
    src_ip: str
    caller: str
    called: str
    originator_id: int
    terminator_id: int | None  # the vendor of the attempt in flight
    gateway: str
    started_at: float  # epoch seconds: the INVITE
    answered_at: float | None
    duration: int  # seconds since the answer (0 until then)
    originator: str = ""
    customer: str = ""
    customer_id: int | None = None
    terminator: str = ""
    vendor: str = ""
    vendor_id: int | None = None

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NodeCalls:
    calls: list[LiveCall]
    unreachable: dict[str, str]  # node -> why it gave no list


def _variables(dialog: dict) -> dict[str, str]:
    """dlg.list gives a list of one-item objects; dlg.dump_file one object."""
    found = dialog.get("variables") or {}
    if isinstance(found, dict):
        return found
    variables: dict[str, str] = {}
    for item in found:
        variables.update(item)
    return variables


def from_dialog(node: str, dialog: dict, now: float) -> LiveCall | None:
    """One of the engine's calls from a dlg.list entry; None for a dialog that is not one."""
    variables = _variables(dialog)
    try:
        context = CallContext.decode(variables[CONTEXT])
        attempt = int(variables.get(ATTEMPT, "0").split(",")[0])
    except (KeyError, ValueError):
        return None
    target = context.targets[attempt - 1] if 0 < attempt <= len(context.targets) else None
    answered_ms = variables.get(ANSWERED)
    answered_at = int(answered_ms) / 1000 if answered_ms and answered_ms.isdigit() else None
    return LiveCall(
        id=f"{node}:{dialog['h_entry']}:{dialog['h_id']}",
        node=node,
        call_id=context.call_id,
        state=STATES.get(int(dialog.get("state", 0)), "unknown"),
        src_ip=context.src_ip,
        caller=context.caller,
        called=context.called,
        originator_id=context.originator_id,
        terminator_id=None if target is None else target.terminator_id,
        gateway="" if target is None else target.uri,
        started_at=context.call_started_ms / 1000,
        answered_at=answered_at,
        duration=0 if answered_at is None else max(0, int(now - answered_at)),
    )


def _dialogs(address: str) -> list[dict]:
    """The node's dialogs. jsonrpcs answers in one datagram (64 KB of send buffer, ~2 KB a
    dialog: measured, 120 calls did not fit), so a bigger table is dumped to a file beside
    the node's socket (dlg.dump_file, one JSON object a line) and read from there; a remote
    node (udp:) cannot do that and says how many calls it has instead."""
    active = (kamailio_rpc.call(address, "dlg.stats_active") or {}).get("all", 0)
    if active <= LIST_LIMIT:
        dialogs = kamailio_rpc.call(address, "dlg.list")
        return dialogs if isinstance(dialogs, list) else []  # an empty table answers {}
    if address.startswith("udp:"):
        raise kamailio_rpc.RpcError(
            f"{active} calls in progress on {address}: more than one datagram holds "
            f"(over {LIST_LIMIT}); give the node a unix socket on the admin's host"
        )
    socket_path = Path(address.removeprefix("unix:"))
    dump = socket_path.parent / f"akira-dialogs-{os.getpid()}-{next(_dumps)}.json"
    try:
        kamailio_rpc.call(address, "dlg.dump_file", str(dump), timeout=10.0)
        with dump.open(encoding="utf-8", errors="replace") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    except (OSError, ValueError) as exc:
        raise kamailio_rpc.RpcError(f"dlg.dump_file on {address}: {exc}") from exc
    finally:
        dump.unlink(missing_ok=True)


def node_calls(redis: Redis) -> NodeCalls:
    """Every live node's calls (unnamed), and the nodes that did not answer."""
    calls, unreachable = [], {}
    now = time.time()
    for node, state in sorted(live_nodes(redis).items()):
        address = state.get("rpc")
        if not address:
            continue  # an admin's own sync (akira simulate), not a proxy
        try:
            dialogs = _dialogs(address)
        except kamailio_rpc.RpcError as exc:
            unreachable[node] = str(exc)
            continue
        calls += [c for d in dialogs if (c := from_dialog(node, d, now)) is not None]
    return NodeCalls(calls, unreachable)


def _names(conn: psycopg.Connection, name: str, ids: Iterable[int]) -> dict[int, dict]:
    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(query(name), {"ids": sorted(set(ids))}).fetchall()
    return {row["id"]: row for row in rows}


def named(conn: psycopg.Connection, calls: list[LiveCall]) -> list[LiveCall]:
    """The calls with their originator, customer, terminator and vendor names."""
    originators = _names(conn, "live_call_originators", (c.originator_id for c in calls))
    terminators = _names(
        conn, "live_call_terminators", (c.terminator_id for c in calls if c.terminator_id)
    )
    result = []
    for call in calls:
        o = originators.get(call.originator_id, {})
        t = terminators.get(call.terminator_id or 0, {})
        result.append(
            LiveCall(
                **{
                    **asdict(call),
                    "originator": o.get("name", ""),
                    "customer": o.get("company", ""),
                    "customer_id": o.get("company_id"),
                    "terminator": t.get("name", ""),
                    "vendor": t.get("company", ""),
                    "vendor_id": t.get("company_id"),
                }
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class CallFilter:
    """Narrowing the list: a customer or vendor (company id, or part of its or its trunk's
    name), a number (part of the caller or the called number), a node."""

    customer: str | None = None
    vendor: str | None = None
    number: str | None = None
    node: str | None = None

    def admits(self, call: LiveCall) -> bool:
        return (
            _party(self.customer, call.customer_id, call.customer, call.originator)
            and _party(self.vendor, call.vendor_id, call.vendor, call.terminator)
            and (not self.number or self.number in call.caller or self.number in call.called)
            and (not self.node or self.node == call.node)
        )


def _party(wanted: str | None, company_id: int | None, *names: str) -> bool:
    if not wanted:
        return True
    if wanted.isdigit():
        return company_id == int(wanted)
    return any(wanted.lower() in name.lower() for name in names)


def list_calls(
    conn: psycopg.Connection, redis: Redis, chosen: CallFilter = CallFilter()
) -> NodeCalls:
    """The calls in progress, longest first, with names; and the nodes that did not answer."""
    found = node_calls(redis)
    calls = [c for c in named(conn, found.calls) if chosen.admits(c)]
    calls.sort(key=lambda c: (c.started_at, c.id))
    return NodeCalls(calls, found.unreachable)


def drop(
    conn: psycopg.Connection, redis: Redis, call_ref: str, username: str, request_id: str = ""
) -> LiveCall:
    """End the call ``node:h_entry:h_id``: BYE to both sides, one audit row."""
    parts = call_ref.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise LiveCallError(
            f"{call_ref!r} is no call id (node:entry:id, from akira calls list)", missing=True
        )
    node, entry, dialog_id = parts[0], int(parts[1]), int(parts[2])
    address = live_nodes(redis).get(node, {}).get("rpc")
    if not address:
        raise LiveCallError(f"node {node!r} is not live (or has no RPC socket)", missing=True)
    try:
        dialogs = _dialogs(address)
    except kamailio_rpc.RpcError as exc:
        raise LiveCallError(str(exc)) from exc
    now = time.time()
    found = [
        call
        for d in dialogs
        if d.get("h_entry") == entry and d.get("h_id") == dialog_id
        if (call := from_dialog(node, d, now)) is not None
    ]
    if not found:
        raise LiveCallError(f"no call {call_ref} in progress", missing=True)
    if found[0].state != "answered":
        raise LiveCallError(f"call {call_ref} is {found[0].state}, not answered", unanswered=True)
    with conn.transaction():
        (call,) = named(conn, found)
        audit(
            conn, username, "live_call", call_ref, "drop", before=call.as_json(),
            request_id=request_id,
        )  # fmt: skip
        try:
            kamailio_rpc.call(
                address, "dlg.end_dlg", entry, dialog_id, OPERATOR_DROP_HEADER + "\r\n"
            )
        except kamailio_rpc.RpcError as exc:
            raise LiveCallError(str(exc)) from exc  # the audit row goes with the transaction
    return call
