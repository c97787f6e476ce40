"""Build time only (numpy): digit tries in breadth-first order, as flat arrays.

A node is the digit string of its path. Encoded as ``length · 10**15 + int(digits)`` (E.164 has
at most 15 digits), nodes sort by (length, digits): breadth-first, each level in digit order, so
the children of a node are contiguous and in digit order. A node then needs only a 10-bit
``bitmap`` of its children and the index of its ``first`` child: child ``d`` is
``first + popcount(bitmap & ((1 << d) - 1))``. The reader walks that with ``int.bit_count``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

LEVEL = 10**15


def keys_of(prefixes: Iterable[str]) -> np.ndarray:
    """The node keys of digit strings (parsed in C: a Python loop costs ~0.5 s per 1M)."""
    text = np.array(list(prefixes))
    return np.strings.str_len(text).astype(np.int64) * LEVEL + text.astype(np.int64)


def unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (numpy 2's hash-based ``np.unique`` is ~10x slower on these)."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


@dataclass(slots=True)
class Trie:
    keys: np.ndarray  # int64, sorted: node i's key; node 0 is the root (key 0)
    parent: np.ndarray  # int64 index of each node's parent (the root's is 0)
    bitmap: np.ndarray  # uint16
    first: np.ndarray  # uint32
    level_start: np.ndarray  # int64: nodes of length L are level_start[L]:level_start[L + 1]

    def index(self, keys: np.ndarray) -> np.ndarray:
        """Node index of each key (every key must be a node)."""
        found = np.searchsorted(self.keys, keys)
        if not np.array_equal(self.keys[found], keys):
            raise ValueError("a key is not a node of this trie")
        return found

    @property
    def lengths(self) -> np.ndarray:
        return self.keys // LEVEL


def build(terminal_keys: np.ndarray) -> Trie:
    """The trie holding ``terminal_keys`` and every prefix of them (its inner nodes)."""
    levels = [np.zeros(1, dtype=np.int64), unique(terminal_keys)]
    current = levels[-1]
    while current.size:
        length = current // LEVEL
        current = current[length > 1]
        current = unique((current // LEVEL - 1) * LEVEL + (current % LEVEL) // 10)
        levels.append(current)
    keys = unique(np.concatenate(levels))
    length = keys // LEVEL
    parent_keys = np.where(length > 0, (length - 1) * LEVEL + (keys % LEVEL) // 10, 0)
    parent = np.searchsorted(keys, parent_keys)
    digit = (keys % LEVEL) % 10
    bitmap = np.zeros(keys.size, dtype=np.uint16)
    np.bitwise_or.at(bitmap, parent[1:], (1 << digit[1:]).astype(np.uint16))
    # the children of node n are the non-root nodes whose parent is n: contiguous, in order
    first = (np.searchsorted(parent[1:], np.arange(keys.size), side="left") + 1).astype(np.uint32)
    max_length = int(length.max())
    level_start = np.searchsorted(length, np.arange(max_length + 2))
    return Trie(keys, parent, bitmap, first, level_start)
