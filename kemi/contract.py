"""The Redis contract between the publisher (admin) and the engine (kemi).

Every key name and encoding version lives here, so both sides import one definition.

Layout (``{v}`` is the snapshot version, an integer from ``SNAPSHOT_SEQ``):

- ``akira:snapshot:current``   -> ``{v}``; the one pointer the engine follows (flipped atomically)
- ``akira:snapshot:{v}``       -> hash: ``meta`` (JSON), ``routing`` (zlib JSON)
- ``akira:tariff:{sha256}``    -> zlib JSON of one tariff's rates; content-addressed, so an
  unchanged tariff is neither uploaded nor re-parsed when another one changes
- ``akira:cdr``                -> stream of CDR events, one per call attempt
"""

from __future__ import annotations

# Bump when the snapshot encoding changes; the engine refuses any other value rather than guess.
SNAPSHOT_FORMAT = 1
# Bump when the CDR event fields change; the ingester refuses unknown versions.
CDR_EVENT_FORMAT = 1

SNAPSHOT_POINTER = "akira:snapshot:current"
SNAPSHOT_SEQ = "akira:snapshot:seq"
SNAPSHOT_VERSIONS = "akira:snapshot:versions"  # sorted set of published versions, for cleanup
SNAPSHOT_KEEP = 5  # versions kept after a publish, so a worker mid-reload never loses its data
TARIFF_DIGESTS = "akira:tariff:digests"  # set of stored tariff blobs, for cleanup

CDR_STREAM = "akira:cdr"
CDR_GROUP = "akira-rater"
CDR_EVENT_FIELD = "e"


def snapshot_key(version: int) -> str:
    return f"akira:snapshot:{version}"


def tariff_key(digest: str) -> str:
    return f"akira:tariff:{digest}"
