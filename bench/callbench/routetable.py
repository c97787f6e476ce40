"""A publish-time compiled route table: one trie walk answers a routing plan's whole vendor list.

The union trie of the plan's vendor tariffs (every prefix of any vendor, and their inner
nodes). For every node, the publisher has already computed, for each vendor, the longest prefix
of that vendor at or above the node that is in force — and, since the answer changes only on a
few dates (an increase's or a closure's effective date), it does so per *segment* of time from
the table's ``valid_from`` on. A segment points at a *row*: the vendors that rate the node in
that segment with their windows, **already in least-cost order** (rate, then plan order). Rows
repeat across nodes (rates are per destination), so they are stored once.

A decision is then: the customer's own lookup (a per-tariff digit trie, since a plan serves many
customers), one walk to the deepest node of the number, the segment in force, and the leading
entries of the row whose rate does not exceed the customer's (the margin filter is a prefix of a
sorted row). Per-call work no longer grows with the number of vendors.

The table answers only from ``valid_from`` (the publish time) on: segments before it are cut, as
a published snapshot is never asked about the past (a simulation ``--at`` in the past reads the
per-tariff structures). Built with numpy; read with ``mmap`` + ``memoryview`` only.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from callbench import snapfile
from callbench.bigdeck import ISSUE_DATE, Catalog
from callbench.dictindex import Terms
from callbench.structures import BELOW, DIGITS, DigitTrieLookup, Structure, write_digit_trie
from callbench.tariffdata import OPEN, Decider, Decision, compile_tariff

# the bench "publishes" on the decks' issue date: their +7-day changes are still ahead
DEFAULT_VALID_FROM = int(datetime(*ISSUE_DATE.timetuple()[:3], tzinfo=UTC).timestamp())


class RouteTable(Structure):
    name = "route-table"
    description = "compiled union trie of the plan's vendors: one walk, rows in LCR order"

    def __init__(self, valid_from: int = DEFAULT_VALID_FROM) -> None:
        self.valid_from = valid_from

    def build(self, catalog: Catalog, directory: Path) -> dict[str, Any] | None:
        started = time.perf_counter()
        write_digit_trie(catalog.customer, directory / "customer.trie")
        customer_s = time.perf_counter() - started
        meta = build_route_table(
            [rows for _, rows in catalog.vendors], directory / "plan.route", self.valid_from
        )
        meta["seconds"]["customer digit trie"] = round(customer_s, 3)
        meta["bytes"] = {
            name: (directory / name).stat().st_size for name in ("customer.trie", "plan.route")
        }
        return meta

    def open(self, directory: Path) -> Decider:
        return RouteTableDecider(
            DigitTrieLookup(snapfile.SnapFile(directory / "customer.trie")),
            snapfile.SnapFile(directory / "plan.route"),
        )


def build_route_table(vendors: list[Any], path: Path, valid_from: int) -> dict[str, Any]:
    """Compile the vendors' tariffs (in plan order) into ``path``; returns its meta."""
    import numpy as np

    from callbench import triebuild

    seconds: dict[str, float] = {}
    clock = [time.perf_counter()]

    def mark(step: str) -> None:  # where publish time goes, in the meta
        now = time.perf_counter()
        seconds[step] = round(now - clock[0], 3)
        clock[0] = now

    vendor_count = len(vendors)
    if vendor_count > 255:
        raise ValueError("a row stores vendor indexes as bytes")
    # 1. every vendor's windows into one global window table; each (prefix, window) as arrays
    tables: dict[str, list[np.ndarray]] = {
        k: [] for k in ("from", "to", "rate", "init", "next", "fee")
    }
    row_keys, row_vendor, row_window = [], [], []
    offset = 0
    for vendor, rows in enumerate(vendors):
        compiled = compile_tariff(rows)
        for name, values in (
            ("from", compiled.w_from),
            ("to", compiled.w_to),
            ("rate", compiled.w_rate),
            ("init", compiled.w_init),
            ("next", compiled.w_next),
            ("fee", compiled.w_fee),
        ):
            tables[name].append(np.asarray(values, dtype=np.int64))
        keys = compiled.keys
        value_of = np.asarray(compiled.value_of, dtype=np.int64)
        v_first = np.asarray(compiled.v_first, dtype=np.int64)
        v_windows = np.asarray(compiled.v_windows, dtype=np.int64)
        counts = (v_first[1:] - v_first[:-1])[value_of]
        starts = np.repeat(v_first[value_of], counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        row_keys.append(np.repeat(keys, counts))
        row_window.append(v_windows[starts + within] + offset)
        row_vendor.append(np.full(int(counts.sum()), vendor, dtype=np.int64))
        offset += len(compiled.w_from)
    g = {name: np.concatenate(parts) for name, parts in tables.items()}
    keys = np.concatenate(row_keys)
    vendor_of = np.concatenate(row_vendor)
    window_of = np.concatenate(row_window)
    mark("compile tariffs")
    # 2. the union trie
    trie = triebuild.build(keys)
    node_of = trie.index(keys)
    nodes = trie.keys.size
    lengths = trie.lengths.astype(np.uint8)
    mark("union trie")
    # 3. the epochs: every date from valid_from on where some window starts or ends
    w_from, w_to = g["from"][window_of], g["to"][window_of]
    dates = triebuild.unique(np.concatenate([w_from, w_to]))
    epochs = np.concatenate([[valid_from], dates[(dates > valid_from) & (dates < OPEN)]])
    # 4. per epoch: each (node, vendor)'s window and matched length, inherited down the trie
    order = np.lexsort((w_from, node_of * vendor_count + vendor_of))  # a cell's newest last
    cell = (node_of * vendor_count + vendor_of)[order]
    w_from, w_to, window_of = w_from[order], w_to[order], window_of[order]
    answers, depths = [], []
    for start in epochs:
        live = (w_from <= start) & (start < w_to)
        c, w = cell[live], window_of[live]
        last = np.r_[c[1:] != c[:-1], True]
        answer = np.full(nodes * vendor_count, -1, dtype=np.int32)
        answer[c[last]] = w[last]
        answer = answer.reshape(nodes, vendor_count)
        depth = np.where(answer >= 0, lengths[:, None], 0).astype(np.uint8)
        for level in range(1, len(trie.level_start) - 1):
            lo, hi = trie.level_start[level], trie.level_start[level + 1]
            if lo == hi:
                continue
            up = trie.parent[lo:hi]
            missing = answer[lo:hi] < 0
            answer[lo:hi][missing] = answer[up][missing]
            depth[lo:hi][missing] = depth[up][missing]
        answers.append(answer)
        depths.append(depth)
    mark("answers per epoch")
    # 5. rows: distinct vendor vectors, hashed then checked, entries sorted by (rate, vendor)
    every = np.concatenate(answers)  # (epochs · nodes, vendors)
    hashed = np.zeros(len(every), dtype=np.uint64)
    with np.errstate(over="ignore"):  # a polynomial hash, column by column: no big temporaries
        for v in range(vendor_count):
            hashed *= np.uint64(0x9E3779B97F4A7C15)
            hashed += every[:, v].astype(np.uint64)
    _, first_of, row_of = np.unique(hashed, return_index=True, return_inverse=True)
    unique_rows = every[first_of]
    if not np.array_equal(unique_rows[row_of], every):
        raise RuntimeError("row hash collision: two different vendor vectors share a hash")
    rates = np.where(
        unique_rows >= 0, g["rate"][np.maximum(unique_rows, 0)], np.iinfo(np.int64).max
    )
    order = np.argsort(rates, axis=1, kind="stable")  # ties keep plan (column) order
    sorted_windows = np.take_along_axis(unique_rows, order, axis=1)
    present = sorted_windows >= 0
    e_vendor = order[present].astype(np.uint8)
    e_window = sorted_windows[present].astype(np.uint32)
    e_rate = np.take_along_axis(rates, order, axis=1)[present]
    if e_rate.size and e_rate.max() < 1 << 32:  # rates below 42.9 per minute: 4 bytes do
        e_rate = e_rate.astype(np.uint32)
    row_first = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.uint32)
    mark("rows")
    # 6. segments per node: an epoch starts a segment when the row or the lengths change
    row_at = row_of.reshape(len(epochs), nodes).T  # (nodes, epochs)
    depth_at = np.stack(depths, axis=1)  # (nodes, epochs, vendors)
    starts = np.ones(row_at.shape, dtype=bool)
    starts[:, 1:] = (row_at[:, 1:] != row_at[:, :-1]) | (depth_at[:, 1:] != depth_at[:, :-1]).any(
        axis=2
    )
    seg_first = np.concatenate([[0], np.cumsum(starts.sum(axis=1))]).astype(np.uint32)
    seg_epoch = np.broadcast_to(np.arange(len(epochs)), row_at.shape)[starts]
    seg_epoch = seg_epoch.astype(np.uint8 if len(epochs) < 256 else np.uint32)
    seg_row = row_at[starts].astype(np.uint32)
    # matched prefix lengths (<= 15) as nibbles: vendor v of segment s in byte s * half + v // 2
    lengths_at = depth_at[starts]
    if vendor_count % 2:
        lengths_at = np.concatenate([lengths_at, np.zeros((len(lengths_at), 1), np.uint8)], 1)
    seg_depth = (lengths_at[:, 0::2] | (lengths_at[:, 1::2] << 4)).reshape(-1)
    mark("segments")
    meta = {
        "structure": "route-table",
        "vendors": vendor_count,
        "valid_from": int(valid_from),
        "nodes": int(nodes),
        "epochs": [int(e) for e in epochs],
        "rows": len(first_of),
        "entries": int(e_vendor.size),
        "segments": int(seg_row.size),
        "prefix_rows": int(keys.size),
    }
    arrays = {
        "bitmap": trie.bitmap,
        "first": trie.first,
        "seg_first": seg_first,
        "seg_epoch": seg_epoch,
        "seg_row": seg_row,
        "seg_depth": seg_depth,
        "row_first": row_first,
        "e_rate": e_rate,
        "e_vendor": e_vendor,
        "e_window": e_window,
        "w_from": g["from"],
        "w_to": g["to"],
        "w_rate": g["rate"],
        "w_init": g["init"].astype(np.uint32),
        "w_next": g["next"].astype(np.uint32),
        "w_fee": g["fee"],
    }
    snapfile.write(path, arrays, meta)
    mark("write")
    meta["seconds"] = seconds
    return meta


class RouteTableDecider:
    """Reader: stdlib only. Window ids are global to the table, so one ``terms`` serves all."""

    __slots__ = (
        "bitmap",
        "customer",
        "e_rate",
        "e_vendor",
        "e_window",
        "epochs",
        "file",
        "first",
        "half",
        "row_first",
        "seg_depth",
        "seg_epoch",
        "seg_first",
        "seg_row",
        "valid_from",
        "vendors",
        "w",
    )

    def __init__(self, customer: DigitTrieLookup, file: snapfile.SnapFile) -> None:
        self.customer, self.file = customer, file
        for name in self.__slots__:
            if name in file.arrays:
                setattr(self, name, file[name])
        self.vendors = int(file.meta["vendors"])
        self.half = (self.vendors + 1) // 2
        self.epochs = tuple(file.meta["epochs"])
        self.valid_from = int(file.meta["valid_from"])
        self.w = file.arrays

    def decide(self, number: str, at: float) -> Decision | None:
        if at < self.valid_from:
            raise ValueError("the route table answers only from its valid_from on")
        found = self.customer.match(number, at)
        if found is None:
            return None
        limit = found[0]
        bitmap, first = self.bitmap, self.first
        node = 0
        for d in number.encode().translate(DIGITS):
            b = bitmap[node]
            if not b >> d & 1:
                break
            node = first[node] + (b & BELOW[d]).bit_count()
        seg_epoch, epochs = self.seg_epoch, self.epochs
        s = self.seg_first[node]
        last = self.seg_first[node + 1] - 1
        while s < last and epochs[seg_epoch[s + 1]] <= at:
            s += 1
        row = self.seg_row[s]
        i, end = self.row_first[row], self.row_first[row + 1]
        e_rate, e_vendor, e_window, seg_depth = (
            self.e_rate,
            self.e_vendor,
            self.e_window,
            self.seg_depth,
        )
        base = s * self.half
        kept = []
        while i < end:
            rate = e_rate[i]
            if rate > limit:
                break
            vendor = e_vendor[i]
            packed = seg_depth[base + (vendor >> 1)]
            kept.append((rate, vendor, e_window[i], packed >> 4 if vendor & 1 else packed & 15))
            i += 1
        return found, kept

    def customer_terms(self, window: int) -> Terms:
        return self.customer.terms(window)

    def vendor_terms(self, vendor: int, window: int) -> Terms:
        w = self.w
        end = w["w_to"][window]
        return Terms(
            Decimal(w["w_rate"][window]).scaleb(-8),
            w["w_init"][window],
            w["w_next"][window],
            Decimal(w["w_fee"][window]).scaleb(-8),
            float(w["w_from"][window]),
            None if end == OPEN else float(end),
        )
