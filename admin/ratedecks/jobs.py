"""A rate-deck import run in the background for the admin's import page, its state in Redis.

The work is the CLI's (``read_deck``, ``store.preview``, ``store.apply``, the choices of
``admin.ratedecks.choices``), in a thread of the admin process: a deck of a million rows takes
longer than a request should wait. The job's state (phase, rows read, counts, errors) is JSON in
Redis under a key with a TTL, the uploaded file and the diff's lines beside it, so whichever
admin worker a poll reaches answers it, and any worker applies: applying reads the file again
from Redis and ``store.apply`` diffs it again inside its transaction. The tariff's revision,
read before the diff and checked again under the tariff's lock, refuses an apply when the tariff
changed since the diff the operator saw (as does a plan that is not the one shown): the
operator re-runs the import and sees the new diff first. Nothing here knows about HTTP.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from redis import Redis
from redis.exceptions import RedisError

from admin.queries import query
from admin.ratedecks import store
from admin.ratedecks.choices import diff_row, omitted_choice
from admin.ratedecks.cli import summary
from admin.ratedecks.deck import Deck
from admin.ratedecks.diff import Category, Omitted, OmittedUnchosen, Plan
from admin.ratedecks.layout import Layout, LayoutError
from admin.ratedecks.normalize import DeckErrors, read_deck
from admin.ratedecks.sheets import SheetError
from admin.services import Actor, ServiceError
from admin.settings import Settings
from admin.staleness import staleness

logger = logging.getLogger(__name__)

KEY_PREFIX = "akira:admin:deck-import:"  # + job id; ":file", ":changes", ":applying" beside it
JOB_TTL = 2 * 3600  # seconds a job (its file, its diff) is kept after its last change
STALLED_AFTER = 600  # seconds without news from a running job: its process has gone
REDIS_TIMEOUT = 5.0
STALE = (
    "the tariff changed since this diff was made (another import or an edit): nothing was "
    "written; re-run the import to see the diff against the tariff as it is now"
)
REFUSALS = (LayoutError, SheetError, ServiceError, OmittedUnchosen, ValueError)


class Phase(StrEnum):
    READING = "reading"
    VALIDATING = "validating"
    DIFFING = "diffing"
    READY = "ready"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"


RUNNING = frozenset({Phase.READING, Phase.VALIDATING, Phase.DIFFING, Phase.APPLYING})
PHASE_TEXT = {
    Phase.READING: "Reading the file",
    Phase.VALIDATING: "Reading and checking every row",
    Phase.DIFFING: "Comparing with the tariff",
    Phase.READY: "Diff ready",
    Phase.APPLYING: "Applying: reading the deck again, then writing in one transaction",
    Phase.APPLIED: "Applied",
    Phase.FAILED: "Failed",
}


@dataclass(slots=True)
class Job:
    """One import's state, as JSON in Redis."""

    id: str
    tariff_id: int
    tariff: str
    currency: str
    file_name: str
    size: int
    mapping: str  # the choice made ("": automatic)
    source: str  # where the layout came from
    layout: dict[str, Any] | None  # the layout chosen (None: detected), what apply reads with
    omitted: str  # "", close or keep
    close_at: str
    by: str
    phase: str = Phase.READING
    rows_done: int = 0
    rows_total: int | None = None  # a CSV's lines; None for a workbook (not known ahead)
    counts: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)  # deleted, ended, inserted
    changes: int = 0  # lines of the diff
    errors: list[str] = field(default_factory=list)  # row N, column: message
    error_total: int = 0
    message: str = ""  # why the job failed
    refused: str = ""  # why applying was refused (nothing written)
    stale: bool = False  # the tariff moved on: only a re-run helps
    revision: int | None = None  # the tariff's, before the diff
    summary: str = ""  # the CLI's summary of the diff
    catalog_stale: bool = False  # after applying: the snapshot is behind the catalog
    applied_at: str = ""
    updated_at: float = 0.0

    @property
    def running(self) -> bool:
        return self.phase in RUNNING and not self.lost

    @property
    def lost(self) -> bool:
        """A running job nobody has heard from: the admin process running it stopped."""
        return self.phase in RUNNING and time.time() - self.updated_at > STALLED_AFTER

    @property
    def write_count(self) -> int:
        return sum(self.writes.values())

    @property
    def percent(self) -> int | None:
        if not self.rows_total:
            return None
        return min(100, self.rows_done * 100 // self.rows_total)

    @property
    def phase_text(self) -> str:
        return PHASE_TEXT[Phase(self.phase)]

    @property
    def appliable(self) -> bool:
        return self.phase == Phase.READY and not self.stale and self.write_count > 0


# ---- the job's state in Redis ------------------------------------------------------------------

_clients: dict[str, Redis] = {}


def client(url: str) -> Redis:
    """One client per Redis URL for the jobs' threads and the handlers' (bytes, thread-safe)."""
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
    return client


def save(redis: Redis, job: Job) -> None:
    job.updated_at = time.time()
    redis.set(KEY_PREFIX + job.id, json.dumps(asdict(job)), ex=JOB_TTL)


def load(redis: Redis, job_id: str) -> Job | None:
    raw = redis.get(KEY_PREFIX + job_id)
    if raw is None:
        return None
    data = json.loads(raw)
    known = {f.name for f in fields(Job)}
    return Job(**{k: v for k, v in data.items() if k in known})


def changes(redis: Redis, job_id: str) -> list[list[str]]:
    raw = redis.get(KEY_PREFIX + job_id + ":changes")
    return json.loads(zlib.decompress(raw)) if raw else []


# ---- the work, in a thread ---------------------------------------------------------------------


@contextmanager
def _deck_file(name: str, content: bytes) -> Iterator[Path]:
    """The upload as a file named as the operator's (errors and the audit name it)."""
    with tempfile.TemporaryDirectory(prefix="akira-deck-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        yield path


def _read(redis: Redis, job: Job, content: bytes) -> Deck:
    """The deck, read and checked row by row, its progress in the job."""
    layout = Layout.from_json(job.layout) if job.layout else None

    def progress(rows: int) -> None:
        job.rows_done = rows
        save(redis, job)

    with _deck_file(job.file_name, content) as path:
        return read_deck(path, layout, currency=job.currency, progress=progress)


def _counts(plan: Plan) -> tuple[dict[str, int], dict[str, int]]:
    counts = {category.value: plan.counts.get(category, 0) for category in Category}
    writes = {
        "deleted": len(plan.delete_ids),
        "ended": len(plan.ends),
        "inserted": len(plan.inserts),
    }
    return counts, writes


def _omitted(job: Job) -> Omitted | None:
    return omitted_choice(job.omitted or None, job.close_at or None)


def run_diff(settings: Settings, job: Job, content: bytes) -> None:
    """Read, check and diff the deck; the diff's lines go to Redis for the page."""
    redis = client(settings.redis_url)
    try:
        job.phase = Phase.VALIDATING
        save(redis, job)
        deck = _read(redis, job, content)
        job.phase = Phase.DIFFING
        save(redis, job)
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            tariff = store.find_tariff(conn, str(job.tariff_id))
            params = {"tariff_id": tariff.id}
            job.revision = conn.execute(query("web_ratedeck_tariff_revision"), params).fetchone()[0]
            plan = store.preview(conn, tariff, deck, _omitted(job))
        lines = [list(diff_row(change)) for change in plan.changes]
        packed = zlib.compress(json.dumps(lines).encode(), 1)
        redis.set(KEY_PREFIX + job.id + ":changes", packed, ex=JOB_TTL)
        job.counts, job.writes = _counts(plan)
        job.changes = len(lines)
        job.summary = summary(deck, job.source, tariff.name, tariff.currency, plan, dry_run=True)
        job.phase = Phase.READY
    except DeckErrors as refused:
        job.errors = [str(error) for error in refused.errors]
        job.error_total = refused.total
        job.phase, job.message = Phase.FAILED, f"{refused.total} error(s): nothing can be applied"
    except REFUSALS as refused:
        job.phase, job.message = Phase.FAILED, str(refused)
    except Exception as exc:  # a bug: said on the page and logged, never a silent dead job
        logger.exception("deck import %s failed", job.id)
        job.phase, job.message = Phase.FAILED, f"the import failed unexpectedly: {exc!r}"
    finally:
        _finish(redis, job)


class _Stale(Exception):
    """The diff shown is not what applying would do: nothing is written, re-run."""

    def __init__(self, message: str = STALE) -> None:
        super().__init__(message)


def run_apply(settings: Settings, job: Job, who: Actor) -> None:
    """Read the deck again and apply it through ``store.apply``, all or nothing."""
    redis = client(settings.redis_url)
    try:
        content = redis.get(KEY_PREFIX + job.id + ":file")
        if content is None:
            raise _Stale("the uploaded file has expired: import the deck again")
        deck = _read(redis, job, content)
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            tariff = store.find_tariff(conn, str(job.tariff_id))
            with conn.transaction():  # store.apply's is a savepoint in it
                params = {"tariff_id": tariff.id}
                revision = conn.execute(query("web_ratedeck_tariff_revision_lock"), params)
                if revision.fetchone()[0] != job.revision:
                    raise _Stale
                plan = store.apply(conn, tariff, deck, _omitted(job), who, source=job.file_name)
                if _counts(plan) != (job.counts, job.writes):  # time moved a window: re-diff
                    raise _Stale
            job.catalog_stale = staleness(conn).stale
        job.phase, job.applied_at = Phase.APPLIED, plan.now.isoformat()
    except _Stale as refused:
        job.phase, job.stale, job.refused = Phase.READY, True, str(refused)
    except (*REFUSALS, DeckErrors) as refused:  # a notice period, most often
        job.phase, job.refused = Phase.READY, str(refused)
    except Exception as exc:
        logger.exception("deck import %s: applying failed", job.id)
        job.phase, job.refused = Phase.READY, f"applying failed, nothing written: {exc!r}"
    finally:
        _finish(redis, job)
        with suppress(RedisError, OSError):  # else it expires
            redis.delete(KEY_PREFIX + job.id + ":applying")


def _finish(redis: Redis, job: Job) -> None:
    try:
        save(redis, job)
        redis.expire(KEY_PREFIX + job.id + ":file", JOB_TTL)  # kept as long as the job
        redis.expire(KEY_PREFIX + job.id + ":changes", JOB_TTL)
    except (RedisError, OSError):
        logger.exception("deck import %s: its state could not be saved", job.id)


def start(target: Callable[..., None], *args: Any) -> None:
    threading.Thread(target=target, args=args, daemon=True, name="deck-import").start()


def keep(redis: Redis, job: Job, content: bytes) -> None:
    """A new job's file and state, before its thread starts."""
    redis.set(KEY_PREFIX + job.id + ":file", content, ex=JOB_TTL)
    save(redis, job)


def upload(redis: Redis, job_id: str) -> bytes | None:
    return redis.get(KEY_PREFIX + job_id + ":file")


def claim(redis: Redis, job: Job, username: str) -> bool:
    """Mark the job applying, once: a second click, or a second worker, gets False."""
    if not job.appliable:
        return False
    if not redis.set(KEY_PREFIX + job.id + ":applying", username, nx=True, ex=JOB_TTL):
        return False
    job.phase, job.refused, job.rows_done = Phase.APPLYING, "", 0
    save(redis, job)
    return True
