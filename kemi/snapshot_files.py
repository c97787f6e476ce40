"""A node's snapshot directory on disk (layout: kemi.contract): atomic writes and the pointer.

Shared by the sync process that writes the directory and the workers that read it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

from kemi import contract


def write_atomic(path: str, chunks: Iterable[bytes]) -> None:
    """Write ``path`` so that readers see no file or the whole file, never part of one."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".incoming-")
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def installed_version(directory: str) -> int | None:
    """The version the node's workers route with; None before the first install."""
    try:
        with open(contract.current_path(directory), encoding="ascii") as pointer:
            return int(pointer.read())
    except (FileNotFoundError, ValueError):
        return None


def install(directory: str, version: int) -> None:
    """Make ``version`` (whose files are all here) the one the node's workers route with."""
    write_atomic(contract.current_path(directory), [f"{version}\n".encode()])


def installed_quality(directory: str) -> str | None:
    """The digest of the quality table the node's workers judge vendors by, if any."""
    try:
        with open(contract.quality_current_path(directory), encoding="ascii") as pointer:
            return pointer.read().strip() or None
    except FileNotFoundError:
        return None


def install_quality(directory: str, digest: str, keep: int = 2) -> None:
    """Make the quality table ``digest`` (its file already here) the one in force; older
    tables but the last ``keep`` are removed (a worker mapping one keeps its pages)."""
    write_atomic(contract.quality_current_path(directory), [f"{digest}\n".encode()])
    folder = os.path.dirname(contract.quality_current_path(directory))
    tables = [
        entry
        for entry in os.scandir(folder)
        if entry.is_file() and not entry.name.startswith(".") and entry.name != "current"
    ]
    tables.sort(key=lambda entry: entry.stat().st_mtime, reverse=True)
    for entry in tables[keep:]:
        if entry.name != digest:
            os.unlink(entry.path)
