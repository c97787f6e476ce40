"""A file of named flat arrays plus a JSON header, mapped read-only (the route table's layout).

    magic (8 bytes) | header length (u32, little-endian) | header JSON | arrays, 64-byte aligned

The header names each array's typecode (``memoryview.cast`` codes), offset and length, and
carries the file's ``meta``. Opening parses the header only: the arrays are memoryviews over
the page cache, shared by every worker of a node. The writer (admin side) hands bytes in.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from collections.abc import Iterable
from typing import Any

MAGIC = b"AKARRAY1"
ALIGN = 64
_LENGTH = struct.Struct("<I")


class ArraysError(Exception):
    """Not a complete arrays file."""


def encode(arrays: Iterable[tuple[str, str, bytes]], meta: dict[str, Any]) -> list[bytes]:
    """(name, typecode, raw bytes) of each array -> the file's parts, in order."""
    directory, blobs, offset = {}, [], 0
    for name, code, raw in arrays:
        padding = -offset % ALIGN
        offset += padding
        directory[name] = [code, offset, len(raw) // struct.calcsize(code)]
        blobs += [b"\0" * padding, raw]
        offset += len(raw)
    header = json.dumps({"arrays": directory, "meta": meta}).encode()
    head = MAGIC + _LENGTH.pack(len(header)) + header
    return [head, b"\0" * (-len(head) % ALIGN), *blobs]


class ArraysFile:
    __slots__ = ("_map", "_view", "arrays", "meta", "size")

    def __init__(self, path: str) -> None:
        try:
            with open(path, "rb") as file:
                self.size = os.fstat(file.fileno()).st_size
                self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise ArraysError(f"cannot map {path}: {exc}") from exc
        if self.size < len(MAGIC) + 4 or self._map[: len(MAGIC)] != MAGIC:
            raise ArraysError(f"{path} is not an arrays file of format {MAGIC!r}")
        (length,) = _LENGTH.unpack_from(self._map, len(MAGIC))
        header = json.loads(self._map[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
        start = len(MAGIC) + 4 + length
        start += -start % ALIGN
        self._map.madvise(mmap.MADV_WILLNEED)
        self._view = memoryview(self._map)
        self.meta: dict[str, Any] = header["meta"]
        self.arrays: dict[str, memoryview] = {}
        for name, (code, offset, count) in header["arrays"].items():
            begin = start + offset
            end = begin + count * struct.calcsize(code)
            if end > self.size:
                raise ArraysError(f"{path} is truncated ({name})")
            self.arrays[name] = self._view[begin:end].cast(code)

    def __getitem__(self, name: str) -> memoryview:
        return self.arrays[name]
