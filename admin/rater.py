"""The CDR ingester/rater behind ``akira worker`` (DESIGN §5).

Reads the CDR stream as one consumer of a consumer group, prices each attempt, writes the batch
with COPY and one set-based merge in one transaction, and acknowledges only after the commit.
A crash between commit and ack replays the batch, which the merge skips (idempotent on
call_id, attempt). A malformed event is stored in ``cdr_rejects`` and acknowledged, so it can
neither block the stream nor be lost. PostgreSQL or Redis failures are retried with back-off;
the worker never crashes on them. Events reach the stream through each node's relay
(kemi.relay), which also ships what a node journaled while the bus was down.
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
from redis.exceptions import ResponseError

from admin import credit
from admin.cdr_rating import COLUMNS, InvalidEvent, rate_event
from admin.queries import query
from kemi import contract

# The merge of a batch, its column lists from the one CDR declaration (kemi.cdr).
MERGE = sql.SQL(query("merge_cdr_staging")).format(
    columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
)
COPY_IN = sql.SQL("COPY cdr_staging ({columns}) FROM STDIN").format(
    columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
)
# An entry another consumer took this long ago without acknowledging is taken over.
CLAIM_IDLE_MS = 60_000
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
    batch_size: int = 1000
    log: Callable[[str], None] = print
    _precisions: dict[str, int] = field(default_factory=dict)
    _partitions: set[tuple[int, int]] = field(default_factory=set)
    _pending_checked: bool = False
    _credit_synced_at: float = 0.0

    def setup(self) -> None:
        if not self.conn.autocommit:
            raise ValueError("the rater needs an autocommit connection (psycopg autocommit=True)")
        try:
            self.redis.xgroup_create(contract.CDR_STREAM, contract.CDR_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self.conn.execute(query("create_cdr_staging"))

    def run_once(self, block_ms: int = 1000) -> BatchResult:
        """Read and rate one batch: first our own unacknowledged entries, then stale ones of
        crashed consumers, then new ones."""
        result = BatchResult()
        entries = []
        if not self._pending_checked:
            entries = self._read("0", block_ms=None)  # ours, delivered before a restart
            self._pending_checked = not entries
        if not entries:
            _, claimed, *_ = self.redis.xautoclaim(
                contract.CDR_STREAM,
                contract.CDR_GROUP,
                self.consumer,
                min_idle_time=CLAIM_IDLE_MS,
                start_id="0-0",
                count=self.batch_size,
            )
            entries = [(entry_id, fields) for entry_id, fields in claimed if fields]
        if not entries:
            entries = self._read(">", block_ms=block_ms)
        if entries:
            self.process(entries, result)
        if time.monotonic() - self._credit_synced_at >= CREDIT_SYNC_SECONDS:
            credit.sync(self.conn, self.redis)  # top-ups, limits changed, a Redis that restarted
            self._credit_synced_at = time.monotonic()
        return result

    def _read(self, start: str, block_ms: int | None) -> list:
        response = self.redis.xreadgroup(
            contract.CDR_GROUP,
            self.consumer,
            {contract.CDR_STREAM: start},
            count=self.batch_size,
            block=block_ms,
        )
        return response[0][1] if response else []

    def process(self, entries: list, result: BatchResult) -> None:
        precisions = self.precisions()
        rows, rejects, ids = [], [], []
        for entry_id, fields in entries:
            ids.append(entry_id)
            payload = fields.get(contract.CDR_EVENT_FIELD.encode(), b"")
            try:
                rows.append(rate_event(payload, precisions))
            except InvalidEvent as exc:
                rejects.append((_text(entry_id), payload.decode("utf-8", "replace"), str(exc)))
        with self.conn.transaction():
            for started in {row[COLUMNS.index("started_at")] for row in rows}:
                self._ensure_partition(started)
            with self.conn.cursor() as cursor:
                with cursor.copy(COPY_IN) as copy:
                    for row in rows:
                        copy.write_row(row)
                result.written += cursor.execute(MERGE).fetchone()[0]
                for stream_id, payload, error in rejects:
                    cursor.execute(
                        query("insert_cdr_reject"),
                        {"stream_id": stream_id, "payload": payload, "error": error},
                    )
        self._settle(rows)
        # Only now, with the rows committed and credit settled, may Redis forget the events.
        self.redis.xack(contract.CDR_STREAM, contract.CDR_GROUP, *ids)
        result.read += len(entries)
        result.rejected += len(rejects)
        for stream_id, _, error in rejects:
            self.log(f"rejected CDR event {stream_id}: {error}")

    def _settle(self, rows: list[tuple]) -> None:
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
        except (psycopg.Error, RedisError, OSError) as exc:
            log(f"worker: {exc!r}; retrying in {backoff:.0f}s")
            if rater is not None:
                rater.conn.close()
            rater = None
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
