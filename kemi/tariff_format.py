"""The compiled tariff file: the byte layout shared by its writer (admin) and reader (engine).

One file holds one tariff's rates as a flattened digit trie, so every Kamailio worker on a node
maps the same pages read-only instead of holding its own copy (DESIGN §3, decisions/0006).
Everything is little-endian ``uint32`` except the money of the terms (``int64``).

    header      HEADER (below), padded to HEADER_SIZE bytes
    nodes       n_nodes x NODE_WIDTH uint32: one row per internal trie node, root first.
                Slots 0-9 are the children by digit: 0 = none; odd = a leaf, whose entry is
                value >> 1; even = an internal node, whose row is value >> 1. Slot 10 is the
                node's own entry + 1 (0: the node's digits are not a prefix of the tariff).
    entries     n_entries x ENTRY_WIDTH uint32, one per prefix:
                [first window, parent entry + 1, (window count << 8) | prefix length].
                The parent is the longest shorter prefix of the tariff (0: none), so a prefix
                whose windows are all closed or in the future falls back to it in O(1).
    windows     n_windows x WINDOW_WIDTH uint32: [effective from, effective to, terms index];
                epoch seconds, "to" exclusive (OPEN_END: no end); an entry's windows are
                contiguous, newest "from" first, so the first effective one wins.
    terms_money n_terms x 2 int64: rate per minute and connect fee, in units of 1e-8
    terms_steps n_terms x 3 uint32: initial and next increment, minimum duration, seconds

Files are immutable and content-addressed: a new deck is a new file, never a rewrite (a mapped
file that changes under a reader kills it with SIGBUS).
"""

from __future__ import annotations

import struct

MAGIC = b"AKIRATF2"
HEADER = struct.Struct("<8s5I")  # magic, n_nodes, n_entries, n_windows, n_terms, max_prefix
HEADER_SIZE = 64
NODE_WIDTH = 11
ENTRY_WIDTH = 3
WINDOW_WIDTH = 3
OWN_ENTRY = 10  # slot of a node row holding the node's own entry + 1
OPEN_END = 0xFFFFFFFF
MAX_WINDOWS = 255
MAX_PREFIX = 20  # sql/schema.sql: rates.prefix is 1-20 digits
# Money is exact: NUMERIC(18, 8) in SQL, integers of 1e-8 here.
MONEY_SCALE = 100_000_000
MONEY_DECIMALS = 8


def section_sizes(n_nodes: int, n_entries: int, n_windows: int, n_terms: int) -> list[int]:
    """Byte sizes of the sections after the header, in file order."""
    return [
        n_nodes * NODE_WIDTH * 4,
        n_entries * ENTRY_WIDTH * 4,
        n_windows * WINDOW_WIDTH * 4,
        n_terms * 16,
        n_terms * 12,
    ]
