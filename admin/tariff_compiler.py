"""Compile a tariff's rates into the engine's memory-mapped file (layout: kemi.tariff_format).

Vectorised with numpy so that a 1M-prefix deck compiles in about a second: the trie is built
one depth at a time, every prefix of the deck moving one node down per step. The rows come
straight from PostgreSQL's binary COPY (``rows_from_copy``), fixed-width, so no Python object
is made per rate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kemi import tariff_format as fmt
from kemi.rates import money_units

# One rate row: the prefix NUL-padded (so "44" sorts before "440"), money in 1e-8 units,
# the effective window in epoch seconds ("to" = OPEN_END when open).
ROW = np.dtype(
    [
        ("prefix", f"S{fmt.MAX_PREFIX}"),
        ("rate", "<i8"),
        ("initial", "<u4"),
        ("next", "<u4"),
        ("fee", "<i8"),
        ("from", "<u4"),
        ("to", "<u4"),
        ("minimum", "<u4"),
    ]
)

# The same row as `COPY ... (FORMAT binary)` of sql/queries/publish.sql's publish_rates sends
# it: a field count, then each field's length and big-endian value.
_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("l0", ">i4"), ("prefix", f"S{fmt.MAX_PREFIX}"),
        ("l1", ">i4"), ("rate", ">i8"),
        ("l2", ">i4"), ("initial", ">i4"),
        ("l3", ">i4"), ("next", ">i4"),
        ("l4", ">i4"), ("fee", ">i8"),
        ("l5", ">i4"), ("from", ">i8"),
        ("l6", ">i4"), ("to", ">i8"),
        ("l7", ">i4"), ("minimum", ">i4"),
    ]
)  # fmt: skip
_COPY_HEADER = 19  # signature, flags, header extension length
_COPY_TRAILER = 2


class CompileError(ValueError):
    """The rates cannot become a tariff file (the message says which row and why)."""


def copy_row_count(buffer: bytes | memoryview) -> int:
    return (len(buffer) - _COPY_HEADER - _COPY_TRAILER) // _COPY_ROW.itemsize


def rows_from_copy(buffer: bytes | memoryview) -> np.ndarray:
    """Rows of a binary COPY of publish_rates (the prefix padded with 'x' to 20 bytes)."""
    body = memoryview(buffer)[_COPY_HEADER : len(buffer) - _COPY_TRAILER]
    if len(body) % _COPY_ROW.itemsize:
        raise CompileError("the COPY of the rates does not have the expected row layout")
    raw = np.frombuffer(body, dtype=_COPY_ROW)
    rows = np.empty(len(raw), dtype=ROW)
    prefixes = np.ascontiguousarray(raw["prefix"]).view(np.uint8).reshape(len(raw), -1).copy()
    prefixes[prefixes == ord("x")] = 0
    rows["prefix"] = prefixes.view(f"S{fmt.MAX_PREFIX}").ravel()
    for name in ("rate", "initial", "next", "fee", "from", "to", "minimum"):
        rows[name] = raw[name]
    return rows


def rows_from_rates(rates: Iterable[tuple]) -> np.ndarray:
    """Rows from (prefix, rate, initial, next, connect fee, from epoch s, to epoch s | None
    [, minimum duration s]), with money as Decimal or text; for tests and small tariffs."""
    items = list(rates)
    rows = np.empty(len(items), dtype=ROW)
    for index, (prefix, rate, initial, nxt, fee, start, end, *minimum) in enumerate(items):
        rows[index] = (
            prefix.encode(),
            money_units(rate),
            initial,
            nxt,
            money_units(fee),
            start,
            fmt.OPEN_END if end is None else end,
            minimum[0] if minimum else 0,
        )
    return rows


def digest(rows: np.ndarray) -> str:
    """Content address of a tariff file: the same rates give the same file name everywhere."""
    return hashlib.sha256(fmt.MAGIC + np.ascontiguousarray(rows).tobytes()).hexdigest()


@dataclass(slots=True)
class Trie:
    """A digit trie in breadth-first order: each level's nodes are in (parent, digit) order,
    so a node's children are contiguous and in digit order."""

    node_of: np.ndarray  # each entry's node
    parent: np.ndarray  # each node's parent (the root's: 0)
    digit: np.ndarray  # the digit that leads to each node
    levels: list[np.ndarray]  # node ids of each depth below the root
    size: int


def build_trie(digits: np.ndarray, lengths: np.ndarray) -> Trie:
    """The trie of lexicographically sorted digit strings (rows of ASCII ``digits``, NUL
    padded). At every depth the keys (node so far, next digit) of the entries still going
    down come sorted: new nodes are where the key changes, numbered in that order, which
    keeps the next depth sorted too. Up to MAX_PREFIX digits, no per-entry Python loop."""
    node_of = np.zeros(len(lengths), dtype=np.int64)  # each entry's node so far (root = 0)
    parents, child_digits = [np.zeros(1, np.int64)], [np.zeros(1, np.int64)]
    levels = []
    size = 1
    for depth in range(int(lengths.max(initial=0))):
        deeper = lengths > depth
        keys = node_of[deeper] * 10 + (digits[deeper, depth].astype(np.int64) - 48)
        new = _run_starts(keys)
        unique = keys[new]
        node_of[deeper] = size + np.cumsum(new) - 1
        parents.append(unique // 10)
        child_digits.append(unique % 10)
        levels.append(np.arange(size, size + len(unique)))
        size += len(unique)
    return Trie(node_of, np.concatenate(parents), np.concatenate(child_digits), levels, size)


def compile_tariff(rows: np.ndarray) -> bytes:
    """The tariff file's bytes. Rows may come in any order (sorted by prefix, newest window
    first, they need no sorting: publish_rates sends them so)."""
    rows = sorted_rows(rows)
    count = len(rows)
    prefixes = np.ascontiguousarray(rows["prefix"])
    digits = prefixes.view(np.uint8).reshape(count, fmt.MAX_PREFIX)
    lengths = np.count_nonzero(digits, axis=1)
    _validate(rows, digits, lengths)

    # one entry per distinct prefix; its windows are its rows, already newest "from" first
    starts = np.flatnonzero(_run_starts(prefixes))
    window_counts = np.diff(np.r_[starts, count])
    if count and window_counts.max() > fmt.MAX_WINDOWS:
        raise CompileError(f"a prefix has more than {fmt.MAX_WINDOWS} effective windows")
    entry_digits, entry_lengths = digits[starts], lengths[starts]
    n_entries = len(starts)

    trie = build_trie(entry_digits, entry_lengths)
    node_of, parent, digit, levels, n_nodes = (
        trie.node_of,
        trie.parent,
        trie.digit,
        trie.levels,
        trie.size,
    )
    entry_at = np.full(n_nodes, -1, dtype=np.int64)
    entry_at[node_of] = np.arange(n_entries)

    # nearest shorter prefix of each entry, a depth at a time (parents are one level up)
    above = np.full(n_nodes, -1, dtype=np.int64)  # nearest entry at or above each node
    for level in levels:
        above[level] = np.where(entry_at[level] >= 0, entry_at[level], above[parent[level]])
    parent_entry = above[parent[node_of]]

    # leaves become entries in their parent's slot; only nodes with children get a row
    has_children = np.zeros(n_nodes, dtype=bool)
    has_children[parent[1:]] = True
    has_children[0] = True
    row_of = np.cumsum(has_children) - 1
    table = np.zeros((int(has_children.sum()), fmt.NODE_WIDTH), dtype=np.uint32)
    children = np.arange(1, n_nodes)
    value = np.where(has_children[children], row_of[children] << 1, (entry_at[children] << 1) | 1)
    table[row_of[parent[children]], digit[children]] = value
    internal = np.flatnonzero(has_children)
    table[row_of[internal], fmt.OWN_ENTRY] = entry_at[internal] + 1

    entries = np.empty((n_entries, fmt.ENTRY_WIDTH), dtype=np.uint32)
    entries[:, 0] = starts
    entries[:, 1] = parent_entry + 1
    entries[:, 2] = (window_counts << 8) | entry_lengths

    # distinct terms (a third as many as rows in real decks), each stored once
    by_terms = np.lexsort(
        (rows["minimum"], rows["next"], rows["initial"], rows["fee"], rows["rate"])
    )
    ordered = rows[by_terms]
    new = _run_starts(*(ordered[name] for name in ("rate", "fee", "initial", "next", "minimum")))
    terms = ordered[new]
    terms_index = np.empty(count, dtype=np.int64)
    terms_index[by_terms] = np.cumsum(new) - 1
    windows = np.empty((count, fmt.WINDOW_WIDTH), dtype=np.uint32)
    windows[:, 0], windows[:, 1], windows[:, 2] = rows["from"], rows["to"], terms_index
    money = np.stack([terms["rate"], terms["fee"]], axis=1).astype("<i8")
    steps = np.stack([terms["initial"], terms["next"], terms["minimum"]], axis=1).astype("<u4")

    header = fmt.HEADER.pack(
        fmt.MAGIC, len(table), n_entries, count, len(terms), int(entry_lengths.max(initial=0))
    ).ljust(fmt.HEADER_SIZE, b"\0")
    return b"".join(
        [header, table.astype("<u4").tobytes(), entries.astype("<u4").tobytes(),
         windows.astype("<u4").tobytes(), money.tobytes(), steps.tobytes()]
    )  # fmt: skip


def _run_starts(*columns: np.ndarray) -> np.ndarray:
    """True where a run of equal values (over all columns) starts, in sorted columns."""
    starts = np.zeros(len(columns[0]), dtype=bool)
    starts[:1] = True
    for column in columns:
        starts[1:] |= column[1:] != column[:-1]
    return starts


def sorted_rows(rows: np.ndarray) -> np.ndarray:
    """By prefix, then newest "from" first; already sorted rows are only checked."""
    prefixes, starts = rows["prefix"], rows["from"]
    ordered = (prefixes[1:] > prefixes[:-1]) | (
        (prefixes[1:] == prefixes[:-1]) & (starts[1:] < starts[:-1])
    )
    if ordered.all():
        return rows
    return rows[np.lexsort((-starts.astype(np.int64), prefixes))]


def _validate(rows: np.ndarray, digits: np.ndarray, lengths: np.ndarray) -> None:
    """The database checks these too; a file the engine would misread is never written."""
    width = np.arange(fmt.MAX_PREFIX)
    padded = width[None, :] >= lengths[:, None]
    problems = [
        (lengths == 0, "empty prefix"),
        ((digits == 0) != padded, "a NUL inside the prefix"),
        (~padded & ((digits < 48) | (digits > 57)), "a prefix that is not digits only"),
        (rows["rate"] < 0, "a negative rate"),
        (rows["fee"] < 0, "a negative connect fee"),
        (rows["initial"] == 0, "an initial increment of 0"),
        (rows["next"] == 0, "a next increment of 0"),
        (rows["to"] <= rows["from"], "an effective window that ends before it starts"),
    ]
    for mask, what in problems:
        bad = np.flatnonzero(mask.any(axis=1) if mask.ndim == 2 else mask)
        if len(bad):
            prefix = rows["prefix"][bad[0]].decode(errors="replace")
            raise CompileError(f"prefix {prefix!r}: {what}")
    same = (rows["prefix"][1:] == rows["prefix"][:-1]) & (rows["from"][1:] == rows["from"][:-1])
    if same.any():
        prefix = rows["prefix"][1:][same][0].decode()
        raise CompileError(f"prefix {prefix!r}: two rates effective from the same time")
