"""The contract between the publisher (admin), the nodes' snapshot sync and the engine (kemi).

Every Redis key name, node-local file name and format version lives here, so every side
imports one definition.

Redis (``{v}`` is a snapshot version, an integer from ``SNAPSHOT_SEQ``):

- ``akira:snapshot:current``  -> ``{v}``: the version the engines route with (moves forward only)
- ``akira:snapshot:pending``  -> ``{v}``: published but not yet live; nodes fetch its files now
- ``akira:snapshot:{v}``      -> the manifest (zlib JSON): routing document + file digests
- ``akira:file:{sha256}``     -> hash of one compiled file (a customer tariff, or a routing
  plan's route table): ``meta`` (JSON: size, chunk count) and the zlib chunks ``0``, ``1``,
  ...; content-addressed, so an unchanged one is neither compiled, uploaded nor fetched again
- ``akira:nodes``             -> hash: node name -> JSON of what it has prepared and installed
- ``akira:cdr``               -> stream of CDR events (one per call attempt), one entry per
  relay batch: the events newline-joined in ``b``, the batch's key in ``k`` (an entry of
  before batches holds one event in ``e``, still read)
- ``akira:quality``           -> ``{sha256}`` of the quality table in force (kemi.quality),
  published beside the snapshot by ``akira quality publish``, every minute
- ``akira:quality:{sha256}``  -> that table's file, zlib; expires (a stopped job leaves none)

A node's snapshot directory (``AKIRA_SNAPSHOT_DIR``), written only by its sync process:

- ``files/{sha256}``          compiled tariffs (kemi.tariff_format) and route tables
                              (kemi.route_table), mapped by workers
- ``versions/{v}.json``       manifests, written after every tariff they name
- ``current``                 the version the node's workers route with (renamed into place)
- ``quality/{sha256}``        quality tables (kemi.quality), mapped by workers
- ``quality/current``         the digest of the one in force (renamed into place)
"""

from __future__ import annotations

import os

# Bump when the manifest or routing document changes; the engine refuses any other value.
SNAPSHOT_FORMAT = 4
# Bump when the CDR event fields change; the rater refuses unknown versions.
CDR_EVENT_FORMAT = 3

SNAPSHOT_POINTER = "akira:snapshot:current"
SNAPSHOT_PENDING = "akira:snapshot:pending"
SNAPSHOT_SEQ = "akira:snapshot:seq"
SNAPSHOT_VERSIONS = "akira:snapshot:versions"  # sorted set of published versions, for cleanup
SNAPSHOT_KEEP = 5  # versions kept, in Redis and on nodes: calls in flight may still use one
FILE_DIGESTS = "akira:file:digests"  # set of stored files, for cleanup
FILE_CHUNK = 32 << 20  # bytes of a file per Redis value, before compression
TARIFF_ROWS = "akira:tariff:rows"  # "id:revision@created:closed" -> its rows digest (cache)
NODES = "akira:nodes"
QUALITY_POINTER = "akira:quality"
QUALITY_KEEP_SECONDS = 3600  # a quality table's file stays in Redis this long
NODE_ALIVE_SECONDS = 3.0  # a node that has not reported for this long is not waited for

# The CDR bus (kemi.bus). Redis: the stream, its consumer group, an entry's fields.
CDR_STREAM = "akira:cdr"
CDR_GROUP = "akira-rater"  # also the name of the NATS durable consumer
CDR_BATCH_FIELD = "b"  # a relay batch: its events, newline-joined
CDR_KEY_FIELD = "k"  # the batch's key (journal segment:offset), for rejects and logs
CDR_EVENT_FIELD = "e"  # one event: entries written before batches (still read)
# Events per relay publish (kemi.relay): one Redis entry or NATS message holds at most this
# many, so a read of N events takes ceil(N / RELAY_BATCH) of them at a time (kemi.bus).
RELAY_BATCH = 500
NATS_STREAM = "AKIRA_CDR"
NATS_SUBJECT = "akira.cdr"


def snapshot_key(version: int) -> str:
    return f"akira:snapshot:{version}"


def file_key(digest: str) -> str:
    return f"akira:file:{digest}"


def file_path(directory: str, digest: str) -> str:
    return os.path.join(directory, "files", digest)


def manifest_path(directory: str, version: int) -> str:
    return os.path.join(directory, "versions", f"{version}.json")


def current_path(directory: str) -> str:
    return os.path.join(directory, "current")


def quality_key(digest: str) -> str:
    return f"akira:quality:{digest}"


def quality_path(directory: str, digest: str) -> str:
    return os.path.join(directory, "quality", digest)


def quality_current_path(directory: str) -> str:
    return os.path.join(directory, "quality", "current")
