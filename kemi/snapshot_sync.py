"""A node's snapshot sync: what the publisher put in Redis -> files its workers map.

Runs in one process per node (a Kamailio rtimer process, ``Router.ksr_timer_sync``; the admin
uses it too, for ``akira simulate``). Each poll it reports to ``akira:nodes`` what the node has,
fetches the files of the pending and the current version it lacks, and renames ``current``
into place once the Redis pointer names a version whose files are all here. The publisher
waits for every live node to have the pending version before it moves the pointer, so the
switch itself costs the workers only an ``mmap`` (contract: kemi.contract).

Files are written to a temporary name, fsynced and renamed, never rewritten: a worker that
maps one must never see it change (SIGBUS). Versions beyond the last ``SNAPSHOT_KEEP`` and the
tariff files only they use are removed; a worker still mapping one keeps its pages until it
switches (Linux frees an unlinked file's pages with the last mapping).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable, Iterable

from redis import Redis, RedisError

from kemi import contract
from kemi.snapshot import manifest_files
from kemi.snapshot_files import (
    install,
    install_quality,
    installed_quality,
    installed_version,
    write_atomic,
)


class SyncError(Exception):
    """A version cannot be fetched (missing in Redis, or a corrupt chunk)."""


class SnapshotSync:
    def __init__(
        self,
        redis: Redis,
        directory: str,
        *,
        node: str,
        keep: int = contract.SNAPSHOT_KEEP,
        on_event: Callable[[str], None] = lambda message: None,
        functions: str | None = None,
        rpc: str = "",
    ) -> None:
        self.redis = redis
        self.directory = directory
        self.node = node
        self.keep = keep
        self._on_event = on_event
        self._prepared: int | None = None
        self._last_error = ""
        self._functions = functions  # a Redis function library the node's calls need
        self._functions_checked = 0.0
        self.rpc = rpc  # where the admin reaches this node's JSON-RPC (live calls), if anywhere

    def poll(self) -> None:
        """One round: report, fetch what is missing, install the live version."""
        try:
            current, pending, quality = self.redis.mget(
                contract.SNAPSHOT_POINTER, contract.SNAPSHOT_PENDING, contract.QUALITY_POINTER
            )
            self._ensure_functions()
            for version in {int(v) for v in (pending, current) if v is not None}:
                self.prepare(version)
            if current is not None and installed_version(self.directory) != int(current):
                install(self.directory, int(current))
                self._on_event(f"akira: snapshot {int(current)} installed on {self.node}")
                self.remove_old_versions()
            self.report()
            self._last_error = ""
        except (RedisError, SyncError, OSError, ValueError) as exc:
            message = f"akira: snapshot sync on {self.node} failed: {exc!r}"
            if message != self._last_error:
                self._last_error = message
                self._on_event(message)
            return
        if quality is not None:  # after the snapshot: a quality table never holds it up
            try:
                self.sync_quality(quality.decode() if isinstance(quality, bytes) else quality)
            except (RedisError, SyncError, OSError, ValueError, zlib.error) as exc:
                message = f"akira: quality table sync on {self.node} failed: {exc!r}"
                if message != self._last_error:
                    self._last_error = message
                    self._on_event(message)

    def _ensure_functions(self) -> None:
        """Load the function library when Redis lacks it (first start, or a Redis that
        restarted without persistence); looked at every few seconds."""
        if self._functions is None or time.monotonic() < self._functions_checked:
            return
        self._functions_checked = time.monotonic() + 5.0
        name = self._functions.split("name=", 1)[1].split()[0]
        if not self.redis.function_list(library=name):
            self.redis.function_load(self._functions, replace=True)
            self._on_event(f"akira: Redis function library {name} loaded by {self.node}")

    def sync_current(self) -> int | None:
        """Fetch and install the live version now (for ``akira simulate``); its number."""
        current = self.redis.get(contract.SNAPSHOT_POINTER)
        if current is None:
            return None
        version = int(current)
        self.prepare(version)
        if installed_version(self.directory) != version:
            install(self.directory, version)
        return version

    def sync_quality(self, digest: str | None = None) -> str | None:
        """Have the quality table in force here (kemi.quality); its digest. Each file is
        checked against its digest, so a newer table published meanwhile is never installed
        under an older name."""
        if digest is None:
            raw = self.redis.get(contract.QUALITY_POINTER)
            if raw is None:
                return None
            digest = raw.decode() if isinstance(raw, bytes) else raw
        if installed_quality(self.directory) == digest:
            return digest
        blob = self.redis.get(contract.quality_key(digest))
        if blob is None:
            raise SyncError(f"quality table {digest} is not in Redis")
        data = zlib.decompress(blob)
        if hashlib.sha256(data).hexdigest() != digest:
            raise SyncError(f"quality table {digest}: its content has another digest")
        write_atomic(contract.quality_path(self.directory, digest), [data])
        install_quality(self.directory, digest)
        return digest

    def prepare(self, version: int) -> None:
        """Have every file of ``version`` here; the manifest is written last."""
        manifest_file = contract.manifest_path(self.directory, version)
        if os.path.exists(manifest_file):
            self._prepared = max(self._prepared or 0, version)
            return
        blob = self.redis.hget(contract.snapshot_key(version), "manifest")
        if blob is None:
            raise SyncError(f"snapshot {version} is not in Redis")
        manifest = json.loads(zlib.decompress(blob))
        started = time.perf_counter()
        fetched = 0
        for digest in sorted(manifest_files(manifest)):
            path = contract.file_path(self.directory, digest)
            if not os.path.exists(path):
                write_atomic(path, self._file_chunks(digest))
                fetched += 1
        write_atomic(manifest_file, [json.dumps(manifest).encode()])
        self._prepared = max(self._prepared or 0, version)
        self._on_event(
            f"akira: snapshot {version} prepared on {self.node}: {fetched} file(s) "
            f"fetched in {time.perf_counter() - started:.2f}s"
        )

    def _file_chunks(self, digest: str) -> Iterable[bytes]:
        key = contract.file_key(digest)
        meta_raw = self.redis.hget(key, "meta")
        if meta_raw is None:
            raise SyncError(f"snapshot file {digest} is not in Redis")
        meta = json.loads(meta_raw)
        size = 0
        for index in range(meta["chunks"]):
            blob = self.redis.hget(key, str(index))
            if blob is None:
                raise SyncError(f"snapshot file {digest} lacks chunk {index}")
            chunk = zlib.decompress(blob)
            size += len(chunk)
            yield chunk
        if size != meta["size"]:
            raise SyncError(f"snapshot file {digest}: {size} bytes, expected {meta['size']}")

    def report(self) -> None:
        self.redis.hset(
            contract.NODES,
            self.node,
            json.dumps(
                {
                    "prepared": self._prepared,
                    "installed": installed_version(self.directory),
                    "seen": time.time(),
                    **({"rpc": self.rpc} if self.rpc else {}),
                }
            ),
        )

    def remove_old_versions(self) -> None:
        versions = sorted(
            int(name[:-5])
            for name in os.listdir(os.path.join(self.directory, "versions"))
            if name.endswith(".json") and name[:-5].isdigit()
        )
        kept = set(versions[-self.keep :]) | {installed_version(self.directory)}
        kept &= set(versions)
        in_use: set[str] = set()
        for version in kept:
            with open(contract.manifest_path(self.directory, version), encoding="utf-8") as file:
                in_use.update(manifest_files(json.load(file)))
        for version in versions:
            if version not in kept:
                os.unlink(contract.manifest_path(self.directory, version))
        files = os.path.join(self.directory, "files")
        for name in os.listdir(files):
            if not name.startswith(".") and name not in in_use:
                os.unlink(os.path.join(files, name))
