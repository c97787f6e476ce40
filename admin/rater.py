"""The CDR ingester/rater behind ``akira worker`` (DESIGN §5).

Reads the CDR bus (kemi.bus: Redis Streams or NATS JetStream) as one consumer of the rater
group, prices each attempt, writes the batch with COPY and one set-based merge in one
transaction, and acknowledges only after the commit. A crash between commit and ack replays
the batch, which the merge skips (idempotent on call_id, attempt). An event that cannot be
rated is stored in ``cdr_rejects`` with the reason and acknowledged, so it can neither block
the bus nor be lost; ``akira cdr retry`` rates it again once the cause is fixed. PostgreSQL,
Redis or bus failures are retried with back-off; the worker never crashes on them. Events
reach the bus through each node's relay (kemi.relay), which also ships what a node journaled
while the bus was down.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from psycopg import sql
from redis import Redis, RedisError

from admin import credit
from admin.cdr_rating import COLUMNS, InvalidEvent, rate_event
from admin.queries import query
from kemi.bus import BusError, CdrBus, Delivery, RedisStreamBus

# The merge of a batch, its column lists from the one CDR declaration (kemi.cdr).
MERGE = sql.SQL(query("merge_cdr_staging")).format(
    columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
)
COPY_IN = sql.SQL("COPY cdr_staging ({columns}) FROM STDIN").format(
    columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
)
CREDIT_SYNC_SECONDS = 10.0  # every prepaid account's credit rewritten in Redis this often
_ORIGINATOR, _CALL_ID, _ANSWERED = (
    COLUMNS.index(name) for name in ("originator_id", "call_id", "answered_at")
)


@dataclass(slots=True)
class BatchResult:
    read: int = 0
    written: int = 0  # new CDR rows (replays excluded)
    rejected: int = 0


@dataclass
class Rater:
    # An autocommit connection: each batch is one explicit transaction, and nothing else
    # (a lookup of currencies, say) may leave a transaction open around it.
    conn: psycopg.Connection
    redis: Redis
    consumer: str
    bus: CdrBus | None = None  # default: the Redis stream in ``redis``
    batch_size: int = 1000  # deliveries per read (events on Redis, relay batches on NATS)
    log: Callable[[str], None] = print
    _precisions: dict[str, int] = field(default_factory=dict)
    _partitions: set[tuple[int, int]] = field(default_factory=set)
    _credit_synced_at: float = 0.0

    def __post_init__(self) -> None:
        if self.bus is None:
            self.bus = RedisStreamBus(self.redis, self.consumer)

    def setup(self) -> None:
        if not self.conn.autocommit:
            raise ValueError("the rater needs an autocommit connection (psycopg autocommit=True)")
        self.bus.setup()
        self.conn.execute(query("create_cdr_staging"))

    def run_once(self, block_ms: int = 1000) -> BatchResult:
        """Read, rate, commit and acknowledge one batch."""
        result = BatchResult()
        deliveries = self.bus.read(self.batch_size, block_ms)
        if deliveries:
            self.process(deliveries, result)
        if time.monotonic() - self._credit_synced_at >= CREDIT_SYNC_SECONDS:
            credit.sync(self.conn, self.redis)  # top-ups, limits changed, a Redis that restarted
            self._credit_synced_at = time.monotonic()
        return result

    def process(self, deliveries: list[Delivery], result: BatchResult) -> None:
        precisions = self.precisions()
        rows, rejects = [], []
        for delivery in deliveries:
            for index, payload in enumerate(delivery.events):
                try:
                    rows.append(rate_event(payload, precisions))
                except InvalidEvent as exc:
                    label = delivery.label
                    if len(delivery.events) > 1:  # a NATS batch: which event in it
                        label = f"{label}#{index}"
                    rejects.append((label, payload.decode("utf-8", "replace"), str(exc)))
        with self.conn.transaction():
            result.written += self.store(rows)
            with self.conn.cursor() as cursor:
                for bus_id, payload, error in rejects:
                    cursor.execute(
                        query("insert_cdr_reject"),
                        {"stream_id": bus_id, "payload": payload, "error": error},
                    )
        self.settle(rows)
        # Only now, with the rows committed and credit settled, may the bus forget the events.
        self.bus.ack(deliveries)
        result.read += sum(len(delivery.events) for delivery in deliveries)
        result.rejected += len(rejects)
        for bus_id, _, error in rejects:
            self.log(f"rejected CDR event {bus_id}: {error}")

    def store(self, rows: list[tuple]) -> int:
        """COPY rated rows and merge them, inside the caller's transaction; the new CDRs."""
        for started in {row[COLUMNS.index("started_at")] for row in rows}:
            self._ensure_partition(started)
        with self.conn.cursor() as cursor:
            with cursor.copy(COPY_IN) as copy:
                for row in rows:
                    copy.write_row(row)
            return cursor.execute(MERGE).fetchone()[0]

    def settle(self, rows: list[tuple]) -> None:
        """Prepaid calls of the batch are charged now (or were, for a replay): their accounts'
        credit is rewritten from the ledger first, then their reservations stop counting, so
        for a moment both count (never neither)."""
        prepaid = credit.prepaid_companies(self.conn, {row[_ORIGINATOR] for row in rows})
        if not prepaid:
            return
        calls: dict[int, list[str]] = defaultdict(list)
        for row in rows:
            company = prepaid.get(row[_ORIGINATOR])
            if company is not None and row[_ANSWERED] is not None:
                calls[company].append(row[_CALL_ID])
        credit.sync(self.conn, self.redis, prepaid.values())
        credit.settled(self.redis, calls)

    def precisions(self) -> dict[str, int]:
        if not self._precisions:
            self._precisions = dict(self.conn.execute(query("currency_precisions")).fetchall())
        return self._precisions

    def _ensure_partition(self, at: datetime) -> None:
        month = (at.year, at.month)
        if month not in self._partitions:
            self.conn.execute(query("ensure_cdr_partition"), {"at": at})
            self._partitions.add(month)


def run_forever(make_rater: Callable[[], Rater], log: Callable[[str], None]) -> None:
    """The worker loop: reconnect and back off on PostgreSQL or Redis failures, never crash."""
    backoff = 1.0
    rater = None
    while True:
        try:
            if rater is None:
                rater = make_rater()
                rater.setup()
                log(f"worker {rater.consumer} ready")
            result = rater.run_once()
            if result.read:
                log(
                    f"rated {result.read} events: {result.written} new CDRs, "
                    f"{result.rejected} rejected"
                )
            backoff = 1.0
        except (psycopg.Error, RedisError, BusError, OSError) as exc:
            log(f"worker: {exc!r}; retrying in {backoff:.0f}s")
            if rater is not None:
                rater.conn.close()
                rater.bus.close()
            rater = None
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
