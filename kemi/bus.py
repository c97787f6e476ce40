"""The CDR bus: the one interface between each node's relay and the rater, two implementations.

``AKIRA_BUS=redis`` (the default): the stream ``akira:cdr`` in AKIRA_REDIS_URL's Redis, one
entry per relay batch, read by the consumer group ``akira-rater``. ``AKIRA_BUS=nats``: the
JetStream stream ``AKIRA_CDR`` at AKIRA_NATS_URL (file storage, work-queue retention), one
message per relay batch, read by the durable pull consumer ``akira-rater``. A read asks for
events and takes whole batches (``read``). On both, delivery is at least once: the relay
deletes a journal segment only after the bus took it, the rater acknowledges only after its
commit, and the rater's merge is idempotent, so a replay counts nothing twice. Persistence of
each bus, and why batches: docs/decisions/0008-cdr-bus.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from redis import Redis, RedisError
from redis.exceptions import ResponseError

from kemi import contract

KINDS = ("redis", "nats")
# A delivery a crashed consumer took without acknowledging goes to another after this long.
REDELIVER_SECONDS = 15.0
# A relay batch larger than this goes as several entries (500 events of ~1 KB: ~0.5 MB).
REDIS_ENTRY_BYTES = 1 << 20


class BusError(Exception):
    """The bus did not take or give events now; the caller tries again later."""


@dataclass(frozen=True, slots=True)
class Delivery:
    token: Any  # what ``ack`` takes back
    # where it sits on the bus (stream id and batch key, stream sequence), for rejects and logs
    label: str
    events: list[bytes]  # a relay batch (an entry of before batches: one event)


@dataclass(frozen=True, slots=True)
class Backlog:
    """What the bus holds for the rater, for ``akira status`` and /healthz."""

    bus: str
    unit: str  # "batches": one Redis entry or NATS message per relay batch
    undelivered: int | None  # not yet read by any rater (None: the bus cannot tell)
    unacknowledged: int  # read by a rater that has not committed them yet
    oldest_age_seconds: float | None  # since the oldest of those was published

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CdrBus(Protocol):
    kind: str

    def publish(self, events: list[bytes], key: str) -> None:
        """All of ``events`` or an exception; ``key`` names the batch (same batch, same key).
        At most ``contract.RELAY_BATCH`` events: a read's bound counts on it."""

    def setup(self) -> None:
        """Create the stream and the rater's consumer if missing (idempotent)."""

    def read(self, count: int, block_ms: int) -> list[Delivery]:
        """Whole batches, fewer than ``count + contract.RELAY_BATCH`` events (``_read_events``);
        waits up to ``block_ms`` when there is none."""

    def ack(self, deliveries: list[Delivery]) -> None: ...

    def backlog(self) -> Backlog: ...

    def close(self) -> None: ...


class RedisStreamBus:
    """Redis Streams: durable as far as the server's append-only file is (decisions/0008)."""

    kind = "redis"

    def __init__(self, redis: Redis, consumer: str = "relay") -> None:
        self.redis = redis
        self.consumer = consumer
        self._pending_from: str | None = "0"  # where our own pending entries go on; None: done
        self._claiming = True  # within one read: until XAUTOCLAIM finds nothing
        self._last_read = "0-0"

    def publish(self, events: list[bytes], key: str = "") -> None:
        """One entry per batch: one XADD for redis-server, one field for the rater to split,
        instead of one of each per event (decisions/0008)."""
        batches = _split(events, REDIS_ENTRY_BYTES) if events else []
        pipe = self.redis.pipeline(transaction=False)
        for index, batch in enumerate(batches):
            part = f"{key}#{index}" if len(batches) > 1 else key
            fields = {contract.CDR_BATCH_FIELD: b"\n".join(batch), contract.CDR_KEY_FIELD: part}
            pipe.xadd(contract.CDR_STREAM, fields)
        self._guard(pipe.execute)

    def setup(self) -> None:
        try:
            self.redis.xgroup_create(contract.CDR_STREAM, contract.CDR_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise BusError(_why(exc)) from exc
        except RedisError as exc:
            raise BusError(_why(exc)) from exc

    def read(self, count: int, block_ms: int) -> list[Delivery]:
        """Our own unacknowledged entries first (delivered before a restart), then those a
        crashed consumer left for REDELIVER_SECONDS, then new ones."""
        self._claiming = True
        return self._guard(_read_events, self._read, count, block_ms)

    def _read(self, count: int, block_ms: int | None) -> list[Delivery]:
        """Up to ``count`` entries."""
        entries = []
        if self._pending_from is not None:
            entries = self._read_group(self._pending_from, count, None)
            # on from the last one: the entries read are still pending while they are written
            self._pending_from = _text(entries[-1][0]) if entries else None
        if not entries and self._claiming:
            _, claimed, *_ = self.redis.xautoclaim(
                contract.CDR_STREAM,
                contract.CDR_GROUP,
                self.consumer,
                min_idle_time=int(REDELIVER_SECONDS * 1000),
                start_id="0-0",
                count=count,
            )
            entries = [(entry_id, fields) for entry_id, fields in claimed if fields]
            self._claiming = bool(claimed)  # the read's next rounds go to new entries at once
        if not entries:
            entries = self._read_group(">", count, block_ms)
        deliveries = []
        for entry_id, fields in entries:
            stream_id = _text(entry_id)
            key = fields.get(_KEY_FIELD)
            label = f"{stream_id}/{_text(key)}" if key else stream_id
            deliveries.append(Delivery(entry_id, label, entry_events(fields)))
            if _stream_id(stream_id) > _stream_id(self._last_read):
                self._last_read = stream_id
        return deliveries

    def _read_group(self, start: str, count: int, block_ms: int | None) -> list:
        response = self.redis.xreadgroup(
            contract.CDR_GROUP,
            self.consumer,
            {contract.CDR_STREAM: start},
            count=count,
            block=block_ms,
        )
        return response[0][1] if response else []

    def ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge, then trim what every consumer has acknowledged: entries older than
        the oldest still pending, or than the last one we read when none is."""
        if not deliveries:
            return
        self._guard(
            self.redis.xack, contract.CDR_STREAM, contract.CDR_GROUP, *(d.token for d in deliveries)
        )
        pending = self._guard(self.redis.xpending, contract.CDR_STREAM, contract.CDR_GROUP)
        floor = _text(pending["min"]) if pending["pending"] else self._last_read
        self._guard(self.redis.xtrim, contract.CDR_STREAM, minid=floor, approximate=False)

    def backlog(self) -> Backlog:
        return self._guard(self._backlog)

    def _backlog(self) -> Backlog:
        now_ms = time.time() * 1000
        try:
            groups = self.redis.xinfo_groups(contract.CDR_STREAM)
        except ResponseError:  # no stream yet: nothing was ever published
            return Backlog(self.kind, "batches", 0, 0, None)
        group = next((g for g in groups if _text(g["name"]) == contract.CDR_GROUP), None)
        if group is None:  # no rater ever started: everything is undelivered
            first = self.redis.xrange(contract.CDR_STREAM, count=1)
            oldest = _stream_id(_text(first[0][0]))[0] if first else None
            length = self.redis.xlen(contract.CDR_STREAM)
            return Backlog(self.kind, "batches", length, 0, _age(now_ms, oldest))
        pending = int(group["pending"])
        lag = group.get("lag")
        oldest = None
        if pending:
            summary = self.redis.xpending(contract.CDR_STREAM, contract.CDR_GROUP)
            oldest = _stream_id(_text(summary["min"]))[0]
        else:
            after = "(" + _text(group["last-delivered-id"])
            first = self.redis.xrange(contract.CDR_STREAM, min=after, count=1)
            oldest = _stream_id(_text(first[0][0]))[0] if first else None
        return Backlog(
            self.kind,
            "batches",
            None if lag is None else int(lag),
            pending,
            _age(now_ms, oldest),
        )

    def close(self) -> None:
        self.redis.close()

    @staticmethod
    def _guard(function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except RedisError as exc:
            raise BusError(_why(exc)) from exc


class JetStreamBus:
    """NATS JetStream through nats-py, driven synchronously on a private event loop (the relay
    runs in a Kamailio timer process, the rater in a plain loop). No background reconnection:
    a failed call drops the connection and the next one connects again."""

    kind = "nats"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,  # a JetStream write waits for its file store
        stream: str = contract.NATS_STREAM,
        subject: str = contract.NATS_SUBJECT,
        redeliver_seconds: float = REDELIVER_SECONDS,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.stream, self.subject = stream, subject  # other names: tests side by side
        self.redeliver_seconds = redeliver_seconds
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._js: Any = None
        self._subscription: Any = None

    def publish(self, events: list[bytes], key: str) -> None:
        self._run(self._publish(events, key))

    def setup(self) -> None:
        self._run(self._jetstream())

    def read(self, count: int, block_ms: int) -> list[Delivery]:
        return _read_events(self._fetch, count, block_ms)

    def _fetch(self, count: int, block_ms: int | None) -> list[Delivery]:
        """Up to ``count`` messages."""
        wait_ms = max(block_ms or 0, 50)  # nats-py waits this long for the first of them
        return self._run(self._read(count, wait_ms), extra=wait_ms / 1000)

    def ack(self, deliveries: list[Delivery]) -> None:
        if deliveries:
            self._run(self._ack(deliveries))

    def backlog(self) -> Backlog:
        return self._run(self._backlog())

    def close(self) -> None:
        if self._nc is not None:
            self._loop.run_until_complete(self._drop())
        self._abandon()

    def delete_stream(self) -> None:
        """Drop the stream and its consumer (tests clean up with it)."""
        self._run(self._delete_stream())

    async def _delete_stream(self) -> None:
        from nats.js.errors import NotFoundError

        js = await self._jetstream()
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(self.stream)
        await self._drop()  # the next call connects again and makes the stream anew

    def _run(self, coroutine, extra: float = 0.0):
        """Run one call on our loop, never longer than the timeout: on expiry the call is
        cancelled and, should nats-py not let go of it, the loop and connection abandoned."""
        import nats.errors

        task = self._loop.create_task(coroutine)
        done, _ = self._loop.run_until_complete(asyncio.wait({task}, timeout=self.timeout + extra))
        if not done:
            task.cancel()
            self._loop.run_until_complete(asyncio.wait({task}, timeout=1.0))
            self._abandon()
            raise BusError(f"TimeoutError: NATS did not answer in {self.timeout + extra:.1f} s")
        try:
            return task.result()
        except (nats.errors.Error, TimeoutError, OSError, asyncio.CancelledError) as exc:
            # CancelledError: nats-py cancels what waits on a connection the server closed
            self._abandon()
            raise BusError(_why(exc)) from exc

    def _abandon(self) -> None:
        """Forget the connection (closing it could wait on a dead server) and start a new loop,
        so nothing the old connection left scheduled runs with the next call."""
        self._nc, self._js, self._subscription = None, None, None
        old, self._loop = self._loop, asyncio.new_event_loop()
        left = asyncio.all_tasks(old)
        for task in left:
            task.cancel()
        if left:
            with contextlib.suppress(Exception):  # let the cancellations run
                old.run_until_complete(asyncio.wait(left, timeout=1.0))
        old.close()

    async def _drop(self) -> None:
        nc, self._nc, self._js, self._subscription = self._nc, None, None, None
        if nc is not None and not nc.is_closed:
            closing = asyncio.ensure_future(nc.close())
            await asyncio.wait({closing}, timeout=self.timeout)

    async def _jetstream(self):
        import nats
        from nats.js import api
        from nats.js.errors import NotFoundError

        if self._js is not None and self._nc.is_connected:
            return self._js
        if self._nc is not None:
            await self._drop()
        self._nc = await nats.connect(
            self.url,
            allow_reconnect=False,
            connect_timeout=self.timeout,
            max_reconnect_attempts=0,
            error_cb=_ignore,  # not printed: every failure reaches the caller as a BusError
        )
        self._js = self._nc.jetstream(timeout=self.timeout)
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(
                name=self.stream,
                subjects=[self.subject],
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.WORK_QUEUE,  # an acknowledged batch is deleted
                duplicate_window=120.0,  # a relay resending a batch (same key) is dropped
            )
        return self._js

    async def _publish(self, events: list[bytes], key: str) -> None:
        js = await self._jetstream()
        batches = _split(events, self._nc.max_payload // 2)
        for index, batch in enumerate(batches):
            await js.publish(
                self.subject,
                b"\n".join(batch),
                headers={"Nats-Msg-Id": f"{key}#{index}" if len(batches) > 1 else key},
            )

    async def _consumer(self):
        from nats.js import api

        js = await self._jetstream()
        if self._subscription is None:
            self._subscription = await js.pull_subscribe(
                self.subject,
                durable=contract.CDR_GROUP,
                stream=self.stream,
                config=api.ConsumerConfig(
                    ack_policy=api.AckPolicy.EXPLICIT,
                    ack_wait=self.redeliver_seconds,
                    max_deliver=-1,  # never given up on: a CDR is kept until it is rated
                ),
            )
        return self._subscription

    async def _read(self, count: int, block_ms: int) -> list[Delivery]:
        subscription = await self._consumer()
        try:
            messages = await subscription.fetch(count, timeout=block_ms / 1000)
        except TimeoutError:  # nothing arrived (nats-py raises its own or asyncio's)
            return []
        return [
            Delivery(m, str(m.metadata.sequence.stream), [e for e in m.data.split(b"\n") if e])
            for m in messages
        ]

    async def _ack(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await delivery.token.ack()
        await self._nc.flush(timeout=self.timeout)

    async def _backlog(self) -> Backlog:
        from nats.js.errors import NotFoundError

        js = await self._jetstream()
        oldest = None
        for _ in range(3):  # the first message can be acknowledged (deleted) as we look
            state = (await js.stream_info(self.stream)).state
            if not state.messages:
                break
            with contextlib.suppress(NotFoundError):
                first = await js.get_msg(self.stream, seq=state.first_seq, next=True)
                oldest = None if first.time is None else first.time.timestamp() * 1000
                break
        try:
            info = await js.consumer_info(self.stream, contract.CDR_GROUP)
            undelivered, unacknowledged = info.num_pending, info.num_ack_pending
        except NotFoundError:  # no rater ever started
            undelivered, unacknowledged = state.messages, 0
        return Backlog(
            self.kind, "batches", undelivered, unacknowledged, _age(time.time() * 1000, oldest)
        )


def open_bus(kind: str, *, redis: Redis | None, nats_url: str, consumer: str = "relay") -> CdrBus:
    if kind == "redis":
        if redis is None:
            raise ValueError("the Redis bus needs a Redis client")
        return RedisStreamBus(redis, consumer)
    if kind == "nats":
        return JetStreamBus(nats_url)
    raise ValueError(f"AKIRA_BUS must be one of {', '.join(KINDS)}, not {kind!r}")


def entry_events(fields: dict[bytes, bytes]) -> list[bytes]:
    """The events of one stream entry: a relay batch, or the one event of an entry written
    before batches (an entry with neither is one empty event, which the rater rejects)."""
    batch = fields.get(_BATCH_FIELD)
    if batch is None:
        return [fields.get(_EVENT_FIELD, b"")]
    return [event for event in batch.split(b"\n") if event]


_BATCH_FIELD, _KEY_FIELD, _EVENT_FIELD = (
    name.encode()
    for name in (contract.CDR_BATCH_FIELD, contract.CDR_KEY_FIELD, contract.CDR_EVENT_FIELD)
)


def _read_events(
    take: Callable[[int, int | None], list[Delivery]], count: int, block_ms: int
) -> list[Delivery]:
    """Deliveries of fewer than ``count + RELAY_BATCH`` events: ``take(n, block_ms)`` gives up
    to n entries or messages, each at most a relay batch, so asking for ceil(left / RELAY_BATCH)
    of them at a time never overshoots by a batch; it asks again while the bus had all it was
    asked for (small batches: a relay ships each journal segment, 0.25 s of one worker, apart).
    Only the first ``take`` waits (``block_ms``), the others take what is there."""
    deliveries: list[Delivery] = []
    events = 0
    while events < count:
        wanted = -(-(count - events) // contract.RELAY_BATCH)
        taken = take(wanted, None if deliveries else block_ms)
        deliveries += taken
        events += sum(len(delivery.events) for delivery in taken)
        if len(taken) < wanted:
            break
    return deliveries


def _split(events: list[bytes], limit: int) -> list[list[bytes]]:
    """Batches of at most ``limit`` bytes (a single larger event still goes alone)."""
    batches: list[list[bytes]] = [[]]
    size = 0
    for event in events:
        if batches[-1] and size + len(event) + 1 > limit:
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += len(event) + 1
    return batches


async def _ignore(exc: Exception) -> None:
    pass


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stream_id(text: str) -> tuple[int, int]:
    milliseconds, _, sequence = text.partition("-")
    return int(milliseconds), int(sequence or 0)


def _age(now_ms: float, oldest_ms: float | None) -> float | None:
    return None if oldest_ms is None else max(0.0, (now_ms - oldest_ms) / 1000)
