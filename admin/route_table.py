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

import time

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


def _terms_hash(rows: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (
            rows["rate"].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            ^ rows["fee"].astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ (rows["initial"].astype(np.uint64) << np.uint64(32))
            ^ rows["next"].astype(np.uint64)
            ^ rows["minimum"].astype(np.uint64) * np.uint64(0x165667B19E3779F9)
        )


def _distinct(keys: np.ndarray, rows: np.ndarray, fields: tuple[str, ...]):
    """(index of each row's distinct value, the distinct rows) by ``keys``, which must order
    equal ``fields`` together; a key shared by different fields (a hash collision) is refused."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    new = np.ones(len(keys), dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    index = np.empty(len(keys), dtype=np.int64)
    index[order] = np.cumsum(new) - 1
    distinct = rows[order[new]]
    for name in fields:
        if not np.array_equal(distinct[name][index], rows[name]):
            raise RuntimeError(f"two different {name} values share a key")
    return index, distinct


def compile_route_table(
    vendors: list[np.ndarray], start: int, timings: dict[str, float] | None = None
) -> list[bytes]:
    """The file's parts for the plan whose vendor tariffs are ``vendors`` (ROW arrays, in plan
    order) from epoch ``start`` on. ``timings`` gets the seconds of each step."""
    clock = [time.perf_counter()]

    def step(name: str) -> None:
        now = time.perf_counter()
        if timings is not None:
            timings[name] = round(now - clock[0], 3)
        clock[0] = now

    count = len(vendors)
    if count > fmt.MAX_VENDORS:
        raise ValueError(f"a route table holds at most {fmt.MAX_VENDORS} vendors")
    vendors = [sorted_rows(rows) for rows in vendors]
    rows = np.concatenate([np.empty(0, dtype=ROW), *vendors])
    vendor_of = np.concatenate(
        [np.empty(0, np.int64), *(np.full(len(r), v, np.int64) for v, r in enumerate(vendors))]
    )
    # distinct terms over all vendors (a row entry names terms, so equal rows share): hashed,
    # radix-sorted, then checked field by field
    terms_of, terms = _distinct(
        _terms_hash(rows), rows, ("rate", "fee", "initial", "next", "minimum")
    )
    step("terms")

    # the union trie over every vendor prefix; the vendors' prefixes come as sorted runs, which
    # a stable (merge) sort joins fast
    prefixes = np.ascontiguousarray(rows["prefix"])
    prefix_of, unique = _distinct(prefixes, rows, ("prefix",))
    digits = np.ascontiguousarray(unique["prefix"]).view(np.uint8)
    digits = digits.reshape(len(unique), tariff_format.MAX_PREFIX)
    trie = build_trie(digits, np.count_nonzero(digits, axis=1))
    nodes = trie.size
    length = np.zeros(nodes, dtype=np.uint8)
    for depth, level in enumerate(trie.levels, start=1):
        length[level] = depth
    cell = trie.node_of[prefix_of] * count + vendor_of
    step("union trie")

    # epochs: start, then every later date a window starts or ends
    dates = np.unique(np.concatenate([rows["from"], rows["to"]]).astype(np.int64))
    epochs = np.concatenate([[start], dates[(dates > start) & (dates < tariff_format.OPEN_END)]])

    # per epoch, each (node, vendor) cell's terms in force (its newest window), inherited down
    order = np.argsort((cell << 32) | rows["from"].astype(np.int64), kind="stable")
    cell, w_from, w_to, w_terms = (
        cell[order],
        rows["from"][order],
        rows["to"][order],
        terms_of[order],
    )
    answers, depths = [], []
    for epoch in epochs:
        live = (w_from <= epoch) & (epoch < w_to)
        c, t = cell[live], w_terms[live]
        last = np.ones(len(c), dtype=bool)
        last[:-1] = c[1:] != c[:-1]
        answer = np.full(nodes * count, -1, dtype=np.int32)
        answer[c[last]] = t[last]
        answer = answer.reshape(nodes, count)
        depth = np.where(answer >= 0, length[:, None], 0).astype(np.uint8)
        for level in trie.levels:
            up = trie.parent[level]
            missing = answer[level] < 0
            answer[level] = np.where(missing, answer[up], answer[level])
            depth[level] = np.where(missing, depth[up], depth[level])
        answers.append(answer)
        depths.append(depth)
    step("answers per epoch")

    # rows: distinct vendor vectors (hashed, then checked), their entries in (rate, plan order)
    every = np.concatenate(answers)
    hashed = np.zeros(len(every), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for vendor in range(count):
            hashed = hashed * np.uint64(0x9E3779B97F4A7C15) + every[:, vendor].astype(np.uint64)
    _, first_of, row_of = np.unique(hashed, return_index=True, return_inverse=True)
    row_of = row_of.ravel()
    distinct = every[first_of]
    if not np.array_equal(distinct[row_of], every):
        raise RuntimeError("two different vendor rows share a hash: compile again with another")
    step("rows")
    big = np.iinfo(np.int64).max
    known = np.concatenate([terms["rate"], [big]])  # terms -1: no rate, sorts last
    by_rate = np.argsort(np.where(distinct >= 0, known[distinct], big), axis=1, kind="stable")
    entries = np.take_along_axis(distinct, by_rate, axis=1)
    present = entries >= 0
    row_first = np.concatenate([[0], np.cumsum(present.sum(axis=1))])

    # segments: per node, the epochs where its row or matched lengths change
    row_at = row_of.reshape(len(epochs), nodes).T
    depth_at = np.stack(depths, axis=1)
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
    step("segments")

    meta = {
        "format": fmt.FORMAT,
        "vendors": count,
        "valid_from": int(start),
        "epochs": [int(e) for e in epochs],
        "nodes": int(nodes),
        "rows": len(first_of),
        "segments": len(seg_epoch),
        "terms": len(terms),
    }
    parts = arrays_file.encode(
        [
            ("bitmap", "I", bitmap.astype("<u4").tobytes()),
            ("first", "I", first.astype("<u4").tobytes()),
            ("seg_first", "I", seg_first.astype("<u4").tobytes()),
            ("seg_epoch", "I", seg_epoch.astype("<u4").tobytes()),
            ("seg_row", "I", row_at[starts].astype("<u4").tobytes()),
            ("seg_depth", "B", depth_at[starts].astype(np.uint8).tobytes()),
            ("row_first", "I", row_first.astype("<u4").tobytes()),
            ("e_vendor", "B", by_rate[present].astype(np.uint8).tobytes()),
            ("e_terms", "I", entries[present].astype("<u4").tobytes()),
            ("t_rate", "q", terms["rate"].astype("<i8").tobytes()),
            ("t_fee", "q", terms["fee"].astype("<i8").tobytes()),
            ("t_initial", "I", terms["initial"].astype("<u4").tobytes()),
            ("t_next", "I", terms["next"].astype("<u4").tobytes()),
            ("t_minimum", "I", terms["minimum"].astype("<u4").tobytes()),
        ],
        meta,
    )
    step("encode")
    return parts
