"""The CDR ingester/rater behind ``akira worker`` (DESIGN §5).

Reads the CDR bus (kemi.bus: Redis Streams or NATS JetStream) as one consumer of the rater
group, prices each attempt, writes the batch in one transaction (binary COPY straight into
cdrs plus its call charges; a batch holding a CDR already stored goes through the staging
table and one set-based merge instead), and acknowledges only after the commit. While one
thread writes a batch, the next is read and rated, so Python and PostgreSQL work at the same
time (bench/cdr_ingest.py). A crash between commit and ack replays the batch, which the merge
skips (idempotent on call_id, attempt); the cdrs trigger adds exactly the rows a batch wrote
to the minute rollup in the same transaction, and ``run_once`` merges its partial rows every
minute, feeding the coarser rollups from them (docs/reports.md). An event that cannot be
rated is stored in ``cdr_rejects`` with the reason and acknowledged, so it can neither block
the bus nor be lost; ``akira cdr retry`` rates it again once the cause is fixed. PostgreSQL,
Redis or bus failures are retried with back-off, anything unexpected too (logged with its
traceback); the worker never crashes. Events
reach the bus through each node's relay (kemi.relay), which also ships what a node journaled
while the bus was down.
"""

from __future__ import annotations

import contextlib
import socket
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Inexact, localcontext

import psycopg
from psycopg import errors, postgres, sql
from psycopg.adapt import Dumper
from psycopg.pq import Format
from redis import Redis, RedisError

from admin import credit
from admin.cdr_rating import COLUMNS, InvalidEvent, rate_event
from admin.queries import query
from kemi import cdr
from kemi.bus import BusError, CdrBus, Delivery, RedisStreamBus

_COLUMN_LIST = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
# The merge of a batch, its column lists from the one CDR declaration (kemi.cdr).
MERGE = sql.SQL(query("merge_cdr_staging")).format(columns=_COLUMN_LIST)
# Binary COPY: a tenth of the text format's parsing on both sides. The types psycopg dumps
# each column as, from the declaration: a char(3) takes text's binary form, inet ours below.
_COPY_TYPES = [
    {"character": "text"}.get(name, name)
    for name in (item.sql.split("(")[0] for item in cdr.FIELDS)
]
COPY_INTO = {
    table: sql.SQL("COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)").format(
        table=sql.Identifier(table), columns=_COLUMN_LIST
    )
    for table in ("cdrs", "cdr_staging")
}
CREDIT_SYNC_SECONDS = 10.0  # every prepaid account's credit rewritten in Redis this often
# The minute rollup gets one partial row per key and batch (the cdrs trigger); this often they
# are merged and fed into the coarser rollups (sql/schema.sql akira_compact_rollups), by
# whichever rater gets there first. Reports and quality routing do not wait for it.
COMPACT_SECONDS = 60.0
# run_once goes on reading while the bus has more, at most this long: a batch is rated while
# the one before it is written (one writer thread), so PostgreSQL and Python overlap.
PIPELINE_SECONDS = 1.0
_ORIGINATOR, _CALL_ID, _ANSWERED, _STARTED, _CURRENCY, _PRICE = (
    COLUMNS.index(name)
    for name in (
        "originator_id",
        "call_id",
        "answered_at",
        "started_at",
        "currency",
        "customer_price",
    )
)


class _InetBinaryDumper(Dumper):
    """An address as text (the event's src_ip, checked by admin.cdr_rating) in inet's binary
    form: family, bits, is_cidr, length, address bytes."""

    format = Format.BINARY
    oid = postgres.types["inet"].oid

    def dump(self, obj: str) -> bytes:
        if ":" in obj:
            return b"\x03\x80\x00\x10" + socket.inet_pton(socket.AF_INET6, obj)
        return b"\x02\x20\x00\x04" + socket.inet_pton(socket.AF_INET, obj)


@dataclass(slots=True)
class BatchResult:
    read: int = 0
    written: int = 0  # new CDR rows (replays excluded)
    rejected: int = 0


@dataclass(slots=True)
class RatedBatch:
    """Deliveries rated, not yet written: rows for cdrs, rejects for cdr_rejects."""

    deliveries: list[Delivery]
    rows: list[tuple]
    rejects: list[tuple[str, str, str]]  # (bus label, payload, reason)
    events: int


@dataclass
class Rater:
    # An autocommit connection: each batch is one explicit transaction, and nothing else
    # (a lookup of currencies, say) may leave a transaction open around it.
    conn: psycopg.Connection
    redis: Redis
    consumer: str
    bus: CdrBus | None = None  # default: the Redis stream in ``redis``
    # Events per read, so per transaction, on either bus: whole relay batches, fewer than
    # batch_size + contract.RELAY_BATCH (kemi.bus read); fewer when the bus has fewer.
    batch_size: int = 1000
    log: Callable[[str], None] = print
    _precisions: dict[str, int] = field(default_factory=dict)
    _partitions: set[tuple[int, int]] = field(default_factory=set)
    _credit_synced_at: float = 0.0
    _compacted_at: float = field(default_factory=time.monotonic)
    _writer: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        if self.bus is None:
            self.bus = RedisStreamBus(self.redis, self.consumer)

    def setup(self) -> None:
        if not self.conn.autocommit:
            raise ValueError("the rater needs an autocommit connection (psycopg autocommit=True)")
        self.bus.setup()
        self.conn.execute(query("create_cdr_staging"))

    def run_once(self, block_ms: int = 1000) -> BatchResult:
        """Read, rate, commit and acknowledge batches while the bus has more (at most
        PIPELINE_SECONDS): batch N+1 is read and rated while batch N is written by the writer
        thread, and N is acknowledged once its transaction committed and its credit settled.
        On return everything read was acknowledged, or an exception says why not (what was
        not acknowledged is delivered again, and the merge skips what was committed)."""
        result = BatchResult()
        deadline = time.monotonic() + PIPELINE_SECONDS
        writing: tuple[RatedBatch, Future[int]] | None = None
        try:
            deliveries = self.bus.read(self.batch_size, block_ms)
            precisions = self.precisions() if deliveries else {}  # the connection is free
            while deliveries:
                batch = self.rate(deliveries, precisions)
                if writing is not None:
                    written, writing = writing, None
                    self._acknowledge(*written, result)
                writing = batch, self._start_writing(batch)
                if time.monotonic() >= deadline:
                    break
                deliveries = self.bus.read(self.batch_size, 1)
        finally:
            if writing is not None:  # also when reading failed: never leave the writer running
                self._acknowledge(*writing, result)
        if time.monotonic() - self._credit_synced_at >= CREDIT_SYNC_SECONDS:
            credit.sync(self.conn, self.redis)  # top-ups, limits changed, a Redis that restarted
            self._credit_synced_at = time.monotonic()
        if time.monotonic() - self._compacted_at >= COMPACT_SECONDS:
            self.compact_rollups()
        return result

    def compact_rollups(self) -> int:
        """Merge the rollups' partial rows; the rows merged away."""
        merged = self.conn.execute(query("compact_rollups")).fetchone()[0]
        self._compacted_at = time.monotonic()
        return merged

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=False)
        self.conn.close()
        self.bus.close()

    def rate(self, deliveries: list[Delivery], precisions: dict[str, int]) -> RatedBatch:
        """No I/O: runs while the writer thread has the connection."""
        batch = RatedBatch(deliveries, [], [], 0)
        append = batch.rows.append
        for delivery in deliveries:
            batch.events += len(delivery.events)
            for index, payload in enumerate(delivery.events):
                try:
                    append(rate_event(payload, precisions))
                except InvalidEvent as exc:
                    label = delivery.label
                    if len(delivery.events) > 1:  # a relay batch: which event in it
                        label = f"{label}#{index}"
                    batch.rejects.append((label, payload.decode("utf-8", "replace"), str(exc)))
        return batch

    def write(self, batch: RatedBatch) -> int:
        """One transaction: the rows and the rejects; then credit settled. The new CDRs."""
        with self.conn.transaction():
            written = self.store(batch.rows)
            if batch.rejects:
                with self.conn.cursor() as cursor:
                    cursor.executemany(
                        query("insert_cdr_reject"),
                        [
                            {"stream_id": label, "payload": payload, "error": error}
                            for label, payload, error in batch.rejects
                        ],
                    )
        self.settle(batch.rows)
        return written

    def _start_writing(self, batch: RatedBatch) -> Future[int]:
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"rater-{self.consumer}")
        return self._writer.submit(self.write, batch)

    def _acknowledge(self, batch: RatedBatch, writing: Future[int], result: BatchResult) -> None:
        written = writing.result()  # the writer's exception, if any, is raised here
        # Only now, with the rows committed and credit settled, may the bus forget the events.
        self.bus.ack(batch.deliveries)
        self._count(batch, written, result)

    def _count(self, batch: RatedBatch, written: int, result: BatchResult) -> None:
        result.read += batch.events
        result.written += written
        result.rejected += len(batch.rejects)
        for bus_id, _, error in batch.rejects:
            self.log(f"rejected CDR event {bus_id}: {error}")

    def store(self, rows: list[tuple]) -> int:
        """Write rated rows and charge them, inside the caller's transaction; the new CDRs.

        Straight into cdrs by COPY, the call charges summed here; a row already stored (a
        replay) fails that COPY, undone to its savepoint, and the batch takes the merge
        instead: COPY into the staging table, one statement inserts what is new and charges
        only that."""
        if not rows:
            return 0
        months = {(row[_STARTED].year, row[_STARTED].month): row[_STARTED] for row in rows}
        for started in months.values():
            self._ensure_partition(started)
        try:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                self._copy(cursor, "cdrs", rows)
                self._charge(cursor, rows)
                return len(rows)
        except errors.UniqueViolation:
            pass
        with self.conn.cursor() as cursor:
            cursor.execute(query("create_cdr_staging"))  # a no-op but on a fresh connection
            self._copy(cursor, "cdr_staging", rows)
            return cursor.execute(MERGE).fetchone()[0]

    def _copy(self, cursor: psycopg.Cursor, table: str, rows: list[tuple]) -> None:
        cursor.adapters.register_dumper(None, _InetBinaryDumper)
        with cursor.copy(COPY_INTO[table]) as copy:
            copy.set_types(_COPY_TYPES)
            write_row = copy.write_row
            for row in rows:
                write_row(row)

    @staticmethod
    def _charge(cursor: psycopg.Cursor, rows: list[tuple]) -> None:
        """The ledger entries merge_cdr_staging would post for these rows, all of them new."""
        charges: dict[tuple[int, str], list] = {}
        with localcontext() as context:
            context.traps[Inexact] = True  # a sum that does not fit is an error, not rounded
            context.prec = 60
            for row in rows:
                price = row[_PRICE]
                if price > 0:
                    charge = charges.setdefault((row[_ORIGINATOR], row[_CURRENCY]), [0, 0])
                    charge[0] += price
                    charge[1] += 1
        if charges:
            (originators, currencies), (prices, calls) = (
                zip(*charges.keys(), strict=True),
                zip(*charges.values(), strict=True),
            )
            cursor.execute(
                query("charge_cdr_batch"),
                {
                    "originator_ids": list(originators),
                    "currencies": list(currencies),
                    "prices": list(prices),
                    "calls": list(calls),
                },
            )

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
        except Exception as exc:  # any: a worker that dies rates nothing more
            expected = isinstance(exc, psycopg.Error | RedisError | BusError | OSError)
            detail = repr(exc) if expected else traceback.format_exc().rstrip()
            log(f"worker: {detail}; retrying in {backoff:.0f}s")
            if rater is not None:
                with contextlib.suppress(Exception):  # closing a broken connection may fail
                    rater.close()
            rater = None
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
