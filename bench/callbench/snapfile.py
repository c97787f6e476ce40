"""One file of named flat arrays, written atomically and read through mmap + memoryview casts.

The layout every mmap'd structure of the comparison shares: an 8-byte magic, a little-endian
u32 header length, a JSON header naming each array's typecode, offset and length, then the
arrays, each aligned to 64 bytes. The reader is stdlib-only (the engine cannot import numpy):
``memoryview(mmap).cast(typecode)`` indexes the page cache directly, so the 8 SIP workers of a
node share one copy and opening a version costs a header parse, not a decode.

Written as temp file, fsync, rename (DESIGN §3): a mapped file is never rewritten in place, so a
reader of the previous version never takes SIGBUS.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAGIC = b"AKSNAP01"
ALIGN = 64
_TYPECODES = {  # numpy dtype.str -> struct typecode for memoryview.cast
    "|u1": "B",
    "|i1": "b",
    "<u2": "H",
    "<i2": "h",
    "<u4": "I",
    "<i4": "i",
    "<u8": "Q",
    "<i8": "q",
}


def _as_bytes(array: Any) -> tuple[str, bytes | memoryview, int]:
    """(typecode, raw bytes, length) of a numpy array, array.array, or bytes (typecode B)."""
    if isinstance(array, bytes | bytearray):
        return "B", array, len(array)
    dtype = getattr(array, "dtype", None)
    if dtype is not None:  # numpy, imported only by the builders
        code = _TYPECODES[dtype.str]
        contiguous = array if array.flags["C_CONTIGUOUS"] else array.copy()
        return code, memoryview(contiguous).cast("B"), int(array.size)
    return array.typecode, memoryview(array).cast("B"), len(array)


def write(path: Path, arrays: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> int:
    """Write ``arrays`` (name -> array) and a JSON ``meta`` atomically; returns the file size."""
    directory: dict[str, list[Any]] = {}
    blobs = []
    offset = 0
    for name, array in arrays.items():
        code, raw, length = _as_bytes(array)
        offset = -(-offset // ALIGN) * ALIGN
        directory[name] = [code, offset, length]
        blobs.append((offset, raw))
        offset += len(raw)
    header = json.dumps({"arrays": directory, "meta": dict(meta or {})}).encode()
    start = -(-(len(MAGIC) + 4 + len(header)) // ALIGN) * ALIGN
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("wb") as f:
        f.write(MAGIC + struct.pack("<I", len(header)) + header)
        for position, raw in blobs:
            f.seek(start + position)
            f.write(raw)
        f.truncate(start + offset)
        f.flush()
        os.fsync(f.fileno())
    temp.replace(path)
    return start + offset


class SnapFile:
    """A mapped snapshot file: ``file[name]`` is a typed memoryview over the page cache."""

    __slots__ = ("_map", "arrays", "meta", "size")

    def __init__(self, path: Path, *, populate: bool = True) -> None:
        """``populate``: prefault the mapping (MAP_POPULATE) so the first calls after a switch
        do not pay page faults; it costs open time in proportion to the file's size."""
        with path.open("rb") as f:
            self.size = os.fstat(f.fileno()).st_size
            flags = mmap.MAP_SHARED | (mmap.MAP_POPULATE if populate else 0)
            self._map = mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
        if self._map[: len(MAGIC)] != MAGIC:
            raise ValueError(f"{path}: not a snapshot file")
        (length,) = struct.unpack_from("<I", self._map, len(MAGIC))
        header = json.loads(self._map[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
        start = -(-(len(MAGIC) + 4 + length) // ALIGN) * ALIGN
        whole = memoryview(self._map)
        self.meta: dict[str, Any] = header["meta"]
        self.arrays: dict[str, memoryview] = {}
        for name, (code, offset, count) in header["arrays"].items():
            width = struct.calcsize(code)
            view = whole[start + offset : start + offset + count * width]
            self.arrays[name] = view.cast(code) if code != "B" else view

    def __getitem__(self, name: str) -> memoryview:
        return self.arrays[name]
