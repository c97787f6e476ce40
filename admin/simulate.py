"""Route simulation: what the engine decides for a call, explained (DESIGN §2 last paragraph).

Runs the very code Kamailio runs (kemi.store, kemi.pipeline) on the live snapshot, mapped from
this host's snapshot directory; the snapshot sync fetches the live version's files first if
they are not here yet, so only a version seen for the first time costs a download.
"""

from __future__ import annotations

import contextlib
import csv
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from redis import Redis

from kemi.explain import explain
from kemi.health import cluster_down
from kemi.pipeline import REJECTIONS, Call, decide
from kemi.quality import QualityTable
from kemi.rates import money_text
from kemi.request import CallRequest
from kemi.snapshot import Snapshot
from kemi.snapshot_sync import SnapshotSync, SyncError
from kemi.store import SnapshotStore


class NoSnapshot(Exception):
    """Nothing has been published yet."""


class BeforeSnapshot(Exception):
    """The time asked about is before the snapshot's publication: rates that ended between
    then and the publication are not in it, so its answer could be wrong."""


def check_time(snapshot: Snapshot, at: datetime | None) -> None:
    if at is not None and at.timestamp() < snapshot.published_at:
        published = datetime.fromtimestamp(snapshot.published_at, UTC).isoformat(timespec="seconds")
        raise BeforeSnapshot(
            f"{at.isoformat()} is before snapshot {snapshot.version} was published ({published}): "
            "a snapshot holds only the rates in force from its publication on, so it cannot "
            "say how a call at that time was routed or priced. A past call's terms are in its "
            "CDR; the rates' history is in PostgreSQL (the rates table's effective windows)."
        )


def live_snapshot(redis: Redis | None, snapshot_dir: str) -> Snapshot:
    """The live snapshot, mapped; without Redis, the one installed here. The quality table
    in force is fetched too (``live_quality`` maps it)."""
    if redis is not None:
        sync = SnapshotSync(redis, snapshot_dir, node="simulate")
        sync.sync_current()
        with contextlib.suppress(SyncError):  # expired in Redis: the one installed here
            sync.sync_quality()
    store = SnapshotStore(snapshot_dir)
    store.refresh()
    if store.snapshot is None:
        raise NoSnapshot(f"no snapshot published (nor installed in {snapshot_dir})")
    return store.snapshot


def live_quality(snapshot_dir: str) -> QualityTable | None:
    """The vendors' quality table installed here (what the engine judges vendors by)."""
    store = SnapshotStore(snapshot_dir)
    store.refresh_quality()
    return store.quality


def gateways_down(redis: Redis | None, node: str | None = None) -> frozenset[str]:
    """The gateways the nodes' probes find down, as the engine skips them: one node's view
    with ``node``, else any node's (a gateway one node cannot reach is reported); none offline."""
    if redis is None:
        return frozenset()
    by_node = cluster_down(redis)
    views = [by_node.get(node, [])] if node else by_node.values()
    return frozenset(gateway for view in views for gateway in view)


def request(
    number: str,
    *,
    src_ip: str,
    src_port: int = 5060,
    transport: str = "udp",
    at: datetime | None = None,
    call_id: str = "simulated-call",
    forced_terminator: int | None = None,  # a NOC test call's X-Akira-Terminator
) -> CallRequest:
    at_ms = int((at or datetime.now(UTC)).timestamp() * 1000)
    return CallRequest(
        call_id=call_id,
        src_ip=src_ip,
        src_port=src_port,
        transport=transport,
        ruri_user=number,
        from_user="simulator",
        from_tag="simulated",
        at_ms=at_ms,
        forced_terminator=forced_terminator,
    )


def simulate(
    snapshot: Snapshot,
    call_request: CallRequest,
    down: frozenset[str] = frozenset(),
    quality: QualityTable | None = None,
) -> dict[str, Any]:
    call = decide(snapshot, call_request, down, quality)
    at = datetime.fromtimestamp(call_request.at_ms / 1000, UTC)
    return {
        "snapshot_version": snapshot.version,
        "at": at.isoformat(),
        "gateways_down": sorted(down),
        **explain(call),
    }


def no_snapshot_answer(at: datetime | None = None) -> dict[str, Any]:
    return {
        "routed": False,
        "sip_code": REJECTIONS["no-snapshot"].code,
        "reason": "no-snapshot",
        "snapshot_version": None,
        "at": (at or datetime.now(UTC)).isoformat(),
    }


CSV_HEADER = ("number", "sip_code", "reason", "customer_prefix", "customer_rate", "routes")


def _row(number: str, call: Call) -> tuple[str, ...]:
    rejection = call.rejection
    customer = call.customer_rate
    routes = " ".join(
        f"{c.terminator.name}@{c.rate.prefix}:{money_text(c.rate.rate)}" for c in call.routes
    )
    return (
        number,
        "" if rejection is None else str(rejection.code),
        call.reason or "",
        "" if customer is None else customer.prefix,
        "" if customer is None else money_text(customer.rate),
        routes,
    )


def numbers_in(lines: Iterable[str]) -> Iterator[str]:
    """Dialed numbers of a CSV: the first column, a header row ("number") skipped."""
    for index, row in enumerate(csv.reader(lines)):
        if not row or not row[0].strip():
            continue
        if index == 0 and not row[0].strip().lstrip("+").isdigit():
            continue
        yield row[0].strip()


def simulate_numbers(
    snapshot: Snapshot,
    numbers: Iterable[str],
    out: TextIO = sys.stdout,
    down: frozenset[str] = frozenset(),
    quality: QualityTable | None = None,
    **request_args: Any,
) -> int:
    """One CSV row per number: the decision, the vendor order and each vendor's rate."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for number in numbers:
        call = decide(snapshot, request(number, **request_args), down, quality)
        writer.writerow(_row(number, call))
        count += 1
    return count
