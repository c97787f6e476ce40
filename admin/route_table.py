"""Compile a routing plan's vendor tariffs into one route table (reader: kemi.route_table).

The union trie of every prefix of every vendor of the plan. For each node the compiler knows,
for each vendor, the longest prefix of that vendor at or above the node that is in force — per
*epoch*: the answer only changes on the dates a window starts or ends, so from ``valid_from``
on, each such date starts an epoch. A node's epochs collapse into *segments* (a new one where
its answer changes), each pointing at a *row*: the vendors that rate the node then, with their
windows, in least-cost order (rate, then plan order). Rows repeat across nodes (vendors price
destinations, not prefixes), so they are stored once.

A decision is then one walk down the trie, the segment in force, and the row's entries: the
work per call no longer grows with the number of vendor tariffs (docs/decisions/0006). Built
with numpy at publish; after the algorithm measured by bench/snapshot_structures.py.
"""

from __future__ import annotations

import numpy as np

from admin.tariff_compiler import ROW, build_trie, sorted_rows
from kemi import arrays_file, tariff_format
from kemi import route_table as fmt


def valid_from(vendors: list[np.ndarray], now: int) -> int:
    """The latest window start at or before ``now``: the table's first epoch. Every earlier
    date is folded into it (a published table is never asked about the past), and it depends
    only on the rows, so the same rows give the same file (content addressing)."""
    starts = [rows["from"][rows["from"] <= now] for rows in vendors if len(rows)]
    starts = [s for s in starts if len(s)]
    return int(max(s.max() for s in starts)) if starts else 0


def compile_route_table(vendors: list[np.ndarray], start: int) -> list[bytes]:
    """The file's parts for the plan whose vendor tariffs are ``vendors`` (ROW arrays, in plan
    order) from epoch ``start`` on."""
    count = len(vendors)
    if count > fmt.MAX_VENDORS:
        raise ValueError(f"a route table holds at most {fmt.MAX_VENDORS} vendors")
    vendors = [sorted_rows(rows) for rows in vendors]
    rows = np.concatenate([np.empty(0, dtype=ROW), *vendors])
    vendor_of = np.concatenate(
        [np.empty(0, np.int64), *(np.full(len(r), v, np.int64) for v, r in enumerate(vendors))]
    )

    # the union trie over every vendor prefix
    prefixes = np.ascontiguousarray(rows["prefix"])
    unique, inverse = np.unique(prefixes, return_inverse=True)
    digits = unique.view(np.uint8).reshape(len(unique), tariff_format.MAX_PREFIX)
    trie = build_trie(digits, np.count_nonzero(digits, axis=1))
    nodes = trie.size
    length = np.zeros(nodes, dtype=np.uint8)
    for depth, level in enumerate(trie.levels, start=1):
        length[level] = depth
    node_of_row = trie.node_of[inverse.ravel()]

    # epochs: start, then every later date a window starts or ends
    dates = np.unique(np.concatenate([rows["from"], rows["to"]]).astype(np.int64))
    epochs = np.concatenate([[start], dates[(dates > start) & (dates < tariff_format.OPEN_END)]])

    # per epoch, each (node, vendor) cell's window in force (the newest one), inherited down
    cell = node_of_row * count + vendor_of
    order = np.lexsort((rows["from"], cell))
    cell, w_from, w_to = cell[order], rows["from"][order], rows["to"][order]
    window_of = order  # windows are the rows, numbered as in ``rows``
    answers, depths = [], []
    for epoch in epochs:
        live = (w_from <= epoch) & (epoch < w_to)
        c, w = cell[live], window_of[live]
        last = np.r_[c[1:] != c[:-1], True] if len(c) else np.zeros(0, bool)
        answer = np.full(nodes * count, -1, dtype=np.int64)
        answer[c[last]] = w[last]
        answer = answer.reshape(nodes, count)
        depth = np.where(answer >= 0, length[:, None], 0).astype(np.uint8)
        for level in trie.levels:
            up = trie.parent[level]
            missing = answer[level] < 0
            answer[level] = np.where(missing, answer[up], answer[level])
            depth[level] = np.where(missing, depth[up], depth[level])
        answers.append(answer)
        depths.append(depth)

    # rows: distinct vendor vectors, their entries in (rate, plan order)
    every = np.concatenate(answers) if answers else np.zeros((0, count), np.int64)
    distinct, first_of, row_of = np.unique(every, axis=0, return_index=True, return_inverse=True)
    row_of = row_of.ravel()
    big = np.iinfo(np.int64).max
    known = np.concatenate([rows["rate"], [big]])  # window -1: no rate, sorts last
    rates = np.where(distinct >= 0, known[distinct], big)
    by_rate = np.argsort(rates, axis=1, kind="stable")  # ties keep plan order
    windows = np.take_along_axis(distinct, by_rate, axis=1)
    present = windows >= 0
    row_first = np.concatenate([[0], np.cumsum(present.sum(axis=1))])

    # segments: per node, the epochs where its row or matched lengths change
    row_at = row_of.reshape(len(epochs), nodes).T
    depth_at = np.stack(depths, axis=1) if depths else np.zeros((nodes, 0, count), np.uint8)
    starts = np.ones(row_at.shape, dtype=bool)
    starts[:, 1:] = (row_at[:, 1:] != row_at[:, :-1]) | (depth_at[:, 1:] != depth_at[:, :-1]).any(
        axis=2
    )
    seg_first = np.concatenate([[0], np.cumsum(starts.sum(axis=1))])
    seg_epoch = np.broadcast_to(np.arange(len(epochs)), row_at.shape)[starts]

    # the trie as child bitmaps: child d of node n is first[n] + popcount(bitmap[n] below d)
    bitmap = np.zeros(nodes, dtype=np.uint32)
    np.bitwise_or.at(bitmap, trie.parent[1:], (1 << trie.digit[1:]).astype(np.uint32))
    first = np.searchsorted(trie.parent[1:], np.arange(nodes), side="left") + 1

    meta = {
        "format": fmt.FORMAT,
        "vendors": count,
        "valid_from": int(start),
        "epochs": [int(e) for e in epochs],
        "nodes": int(nodes),
        "rows": len(first_of),
        "segments": len(seg_epoch),
    }
    return arrays_file.encode(
        [
            ("bitmap", "I", bitmap.astype("<u4").tobytes()),
            ("first", "I", first.astype("<u4").tobytes()),
            ("seg_first", "I", seg_first.astype("<u4").tobytes()),
            ("seg_epoch", "I", seg_epoch.astype("<u4").tobytes()),
            ("seg_row", "I", row_at[starts].astype("<u4").tobytes()),
            ("seg_depth", "B", depth_at[starts].astype(np.uint8).tobytes()),
            ("row_first", "I", row_first.astype("<u4").tobytes()),
            ("e_vendor", "B", by_rate[present].astype(np.uint8).tobytes()),
            ("e_window", "I", windows[present].astype("<u4").tobytes()),
            ("w_rate", "q", rows["rate"].astype("<i8").tobytes()),
            ("w_fee", "q", rows["fee"].astype("<i8").tobytes()),
            ("w_initial", "I", rows["initial"].astype("<u4").tobytes()),
            ("w_next", "I", rows["next"].astype("<u4").tobytes()),
        ],
        meta,
    )
