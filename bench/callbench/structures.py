"""The snapshot structures under comparison, behind one small interface.

A ``Structure`` builds a routing decision's tariffs (``bigdeck.Catalog``: one customer tariff,
the plan's vendor tariffs in order) into files in a directory, and opens them again as a
``Decider``. Most structures index one tariff at a time: they subclass ``PerTariff`` and write
only ``build_tariff`` (rows -> files) and ``open_tariff`` (files -> ``match(number, at)``);
``tariffdata.TariffDecider`` makes the decision from those matches. A structure that answers the
whole vendor list at once (``routetable.RouteTable``) implements ``build``/``open`` itself.

Adding a structure = one class here (or in its own module) + one line in ``STRUCTURES``.

Every reader is stdlib Python (plus the library being measured: marisa-trie, lmdb): the engine
runs in Kamailio's embedded interpreter and cannot use numpy; builders may.
"""

from __future__ import annotations

import bisect
import shutil
import struct
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from callbench import snapfile
from callbench.bigdeck import Catalog, TariffRows
from callbench.dictindex import Terms
from callbench.tariffdata import (
    NONE,
    Decider,
    Match,
    TariffDecider,
    TariffLookup,
    Windows,
    compile_tariff,
)

# str.translate table: ASCII digit -> its value, so ``bytes`` iterate as 0..9
DIGITS = bytes.maketrans(b"0123456789", bytes(range(10)))
BELOW = tuple((1 << d) - 1 for d in range(10))  # bits of the digits below d
HAS_VALUE = 1 << 15  # a digit-trie bitmap's flag: this node is a prefix of the tariff


class Structure(ABC):
    """Files on disk from tariff rows; a decision function from the files."""

    name: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def build(self, catalog: Catalog, directory: Path) -> dict[str, Any] | None:
        """Write the structure's files into ``directory`` (empty, exists); optionally return
        figures about them for the report."""

    @abstractmethod
    def open(self, directory: Path) -> Decider:
        """Map the files and return the decision function (after fork, never before)."""

    def files(self, directory: Path) -> list[Path]:
        return sorted(p for p in directory.rglob("*") if p.is_file())


class PerTariff(Structure):
    """A structure that indexes each tariff on its own; the decision is ``TariffDecider``'s."""

    def build(self, catalog: Catalog, directory: Path) -> dict[str, Any] | None:
        tariffs = [catalog.customer, *(rows for _, rows in catalog.vendors)]
        for i, rows in enumerate(tariffs):
            self.build_tariff(rows, directory / f"t{i:02d}")
        return None

    def open(self, directory: Path) -> Decider:
        stems = sorted({p.name.split(".")[0] for p in directory.iterdir()})
        lookups = [self.open_tariff(directory / stem) for stem in stems]
        return TariffDecider(lookups[0], lookups[1:])

    @abstractmethod
    def build_tariff(self, rows: TariffRows, stem: Path) -> None:
        """Write one tariff's files, named ``stem`` + any suffix."""

    @abstractmethod
    def open_tariff(self, stem: Path) -> TariffLookup:
        """Open one tariff's files."""


# --- (a) flattened digit trie, one per tariff ----------------------------------------------


class DigitTrie(PerTariff):
    """Breadth-first digit trie: per node a 10-bit child bitmap, the first child's index and
    the node's value id; one mmap'd file per tariff (``snapfile``)."""

    name = "digit-trie"
    description = "flattened digit trie per tariff (bitmap + first child, mmap, memoryview)"

    def build_tariff(self, rows: TariffRows, stem: Path) -> None:
        write_digit_trie(rows, stem.with_suffix(".trie"))

    def open_tariff(self, stem: Path) -> TariffLookup:
        return DigitTrieLookup(snapfile.SnapFile(stem.with_suffix(".trie")))


def write_digit_trie(rows: TariffRows, path: Path) -> None:
    import numpy as np

    from callbench import triebuild  # numpy: build time only

    compiled = compile_tariff(rows)
    trie = triebuild.build(compiled.keys)
    value = np.full(trie.keys.size, NONE, dtype=np.uint32)
    terminal = trie.index(compiled.keys)
    value[terminal] = compiled.value_of
    bitmap = trie.bitmap.copy()
    bitmap[terminal] |= HAS_VALUE  # the walk reads the child's bitmap anyway: no value read
    arrays = {"bitmap": bitmap, "first": trie.first, "value": value, **compiled.arrays()}
    snapfile.write(path, arrays, {"structure": "digit-trie", "prefixes": len(compiled.prefixes)})


class DigitTrieLookup:
    __slots__ = ("bitmap", "file", "first", "terms", "value", "windows")

    def __init__(self, file: snapfile.SnapFile) -> None:
        self.file = file
        self.bitmap, self.first, self.value = file["bitmap"], file["first"], file["value"]
        self.windows = Windows(file.arrays)
        self.terms = self.windows.terms

    def match(self, number: str, at: float) -> Match | None:
        bitmap, first = self.bitmap, self.first
        node = 0
        b = bitmap[0]
        hits = []
        for depth, d in enumerate(number.encode().translate(DIGITS), 1):
            if not b >> d & 1:
                break
            node = first[node] + (b & BELOW[d]).bit_count()
            b = bitmap[node]
            if b & HAS_VALUE:
                hits.append((node, depth))
        effective, value = self.windows.effective, self.value
        for node, length in reversed(hits):
            w = effective(value[node], at)
            if w >= 0:
                return self.windows.w_rate[w], w, length
        return None


# --- (b) sorted arrays + binary search ------------------------------------------------------

WIDTH = 15  # E.164 digits at most
POW = tuple(10 ** (WIDTH - n) for n in range(WIDTH + 1))


class SortedArrays(PerTariff):
    """Prefixes as ``int(prefix padded to 15 digits) · 16 + length``, sorted: that is their
    lexicographic order, a prefix before its extensions. One C bisect finds the last prefix not
    after the number; the longest matching prefix is it or one of its ancestors (``parent``)."""

    name = "sorted-arrays"
    description = "mmap'd sorted int64 keys, bisect + parent links, per tariff"

    def build_tariff(self, rows: TariffRows, stem: Path) -> None:
        import numpy as np

        compiled = compile_tariff(rows)
        prefixes = compiled.prefixes
        keys = np.fromiter(
            (int(p.ljust(WIDTH, "0")) * 16 + len(p) for p in prefixes), dtype=np.int64
        )
        order = np.argsort(keys, kind="stable")
        position = {prefixes[j]: i for i, j in enumerate(order.tolist())}
        parent = np.full(len(prefixes), -1, dtype=np.int32)
        for i, j in enumerate(order.tolist()):
            p = prefixes[j]
            for n in range(len(p) - 1, 0, -1):
                up = position.get(p[:n])
                if up is not None:
                    parent[i] = up
                    break
        value = np.asarray(compiled.value_of, dtype=np.uint32)[order]
        arrays = {"keys": keys[order], "parent": parent, "value": value, **compiled.arrays()}
        snapfile.write(stem.with_suffix(".sorted"), arrays, {"structure": self.name})

    def open_tariff(self, stem: Path) -> TariffLookup:
        return SortedLookup(snapfile.SnapFile(stem.with_suffix(".sorted")))


class SortedLookup:
    __slots__ = ("file", "keys", "parent", "terms", "value", "windows")

    def __init__(self, file: snapfile.SnapFile) -> None:
        self.file = file
        self.keys, self.parent, self.value = file["keys"], file["parent"], file["value"]
        self.windows = Windows(file.arrays)
        self.terms = self.windows.terms

    def match(self, number: str, at: float) -> Match | None:
        padded = int(number[:WIDTH].ljust(WIDTH, "0"))
        keys, parent = self.keys, self.parent
        i = bisect.bisect_right(keys, padded * 16 + 15) - 1
        while i >= 0:
            key = keys[i]
            length = key & 15
            if (key >> 4) // POW[length] == padded // POW[length]:
                w = self.windows.effective(self.value[i], at)
                if w >= 0:
                    return self.windows.w_rate[w], w, length
            i = parent[i]
        return None


# --- (c) marisa-trie ------------------------------------------------------------------------


class Marisa(PerTariff):
    """marisa-trie's succinct trie (mmap'd), ``iter_prefixes_with_ids`` for the candidates;
    key id -> value id in a mmap'd array beside it."""

    name = "marisa-trie"
    description = "marisa_trie.Trie per tariff (mmap), key id -> value in a mmap'd array"

    def build_tariff(self, rows: TariffRows, stem: Path) -> None:
        from array import array

        import marisa_trie

        compiled = compile_tariff(rows)
        trie = marisa_trie.Trie(compiled.prefixes)
        trie.save(str(stem.with_suffix(".marisa")))
        value = array("I", bytes(4 * len(compiled.prefixes)))
        for prefix, v in zip(compiled.prefixes, compiled.value_of.tolist(), strict=True):
            value[trie[prefix]] = v
        snapfile.write(stem.with_suffix(".values"), {"value": value, **compiled.arrays()})

    def open_tariff(self, stem: Path) -> TariffLookup:
        import marisa_trie

        trie = marisa_trie.Trie().mmap(str(stem.with_suffix(".marisa")))
        return MarisaLookup(trie, snapfile.SnapFile(stem.with_suffix(".values")))


class MarisaLookup:
    __slots__ = ("file", "prefixes", "terms", "trie", "value", "windows")

    def __init__(self, trie: object, file: snapfile.SnapFile) -> None:
        self.trie, self.file = trie, file
        self.prefixes = trie.iter_prefixes_with_ids  # type: ignore[attr-defined]
        self.value = file["value"]
        self.windows = Windows(file.arrays)
        self.terms = self.windows.terms

    def match(self, number: str, at: float) -> Match | None:
        found = list(self.prefixes(number))
        value, effective = self.value, self.windows.effective
        for prefix, key_id in reversed(found):
            w = effective(value[key_id], at)
            if w >= 0:
                return self.windows.w_rate[w], w, len(prefix)
        return None


# --- (d) LMDB -------------------------------------------------------------------------------

_ANCESTOR = struct.Struct("<BI")  # length, value id


class Lmdb(PerTariff):
    """One LMDB environment, one named database per tariff; key = prefix, value = the value ids
    of the prefix and of its ancestors in the tariff (longest first). A lookup is one cursor
    ``set_range`` + ``prev``: the last prefix not after the number, whose ancestors hold the
    answer (the same argument as sorted arrays)."""

    name = "lmdb"
    description = "py-lmdb, one env, a named db per tariff, cursor set_range + ancestors"

    def build(self, catalog: Catalog, directory: Path) -> dict[str, Any] | None:
        import lmdb

        tariffs = [catalog.customer, *(rows for _, rows in catalog.vendors)]
        size = sum(len(rows) for rows in tariffs) * 64 + (1 << 26)
        env = lmdb.open(str(directory / "env"), map_size=size, max_dbs=len(tariffs) + 1, sync=False)
        for i, rows in enumerate(tariffs):
            compiled = compile_tariff(rows)
            value_of = dict(zip(compiled.prefixes, compiled.value_of.tolist(), strict=True))
            items = []
            for prefix in sorted(value_of):
                chain = b"".join(
                    _ANCESTOR.pack(n, value_of[prefix[:n]])
                    for n in range(len(prefix), 0, -1)
                    if prefix[:n] in value_of
                )
                items.append((prefix.encode(), chain))
            db = env.open_db(f"t{i:02d}".encode())
            with env.begin(write=True, db=db) as txn:
                txn.cursor().putmulti(items, append=True)
            snapfile.write(directory / f"t{i:02d}.windows", compiled.arrays())
        env.sync(True)
        env.close()
        return None

    def build_tariff(self, rows: TariffRows, stem: Path) -> None:  # pragma: no cover
        raise NotImplementedError("one environment for all tariffs: see build()")

    def open(self, directory: Path) -> Decider:
        import lmdb

        env = lmdb.open(
            str(directory / "env"), readonly=True, lock=False, max_dbs=64, readahead=False
        )
        txn = env.begin()  # one read transaction per opened version: it pins that version
        stems = sorted(p.stem for p in directory.glob("t*.windows"))
        lookups = [
            LmdbLookup(
                txn.cursor(env.open_db(stem.encode(), txn=txn, create=False)),
                snapfile.SnapFile(directory / f"{stem}.windows"),
                keep=(env, txn),
            )
            for stem in stems
        ]
        return TariffDecider(lookups[0], lookups[1:])

    def open_tariff(self, stem: Path) -> TariffLookup:  # pragma: no cover
        raise NotImplementedError


class LmdbLookup:
    __slots__ = ("cursor", "file", "keep", "terms", "windows")

    def __init__(self, cursor: object, file: snapfile.SnapFile, keep: object) -> None:
        self.cursor, self.file, self.keep = cursor, file, keep
        self.windows = Windows(file.arrays)
        self.terms = self.windows.terms

    def match(self, number: str, at: float) -> Match | None:
        cursor = self.cursor
        wanted = number.encode()
        found = cursor.set_range(wanted)  # type: ignore[attr-defined]
        exact = found and cursor.key() == wanted  # type: ignore[attr-defined]
        if not exact and not (cursor.prev() if found else cursor.last()):  # type: ignore[attr-defined]
            return None
        key = cursor.key()  # type: ignore[attr-defined]
        effective = self.windows.effective
        for length, value in _ANCESTOR.iter_unpack(cursor.value()):  # type: ignore[attr-defined]
            if key[:length] == wanted[:length]:
                w = effective(value, at)
                if w >= 0:
                    return self.windows.w_rate[w], w, length
        return None


def remove_tree(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def structures() -> dict[str, Structure]:
    """Every structure by name; the order is the report's."""
    from callbench.routetable import RouteTable

    found: Sequence[Structure] = (DigitTrie(), SortedArrays(), Marisa(), Lmdb(), RouteTable())
    return {s.name: s for s in found}


__all__ = ["Structure", "Terms", "structures"]
