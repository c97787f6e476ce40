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

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from callbench import snapfile
from callbench.bigdeck import ISSUE_DATE, Catalog
from callbench.structures import BELOW, DIGITS, DigitTrieLookup, Structure, write_digit_trie
from callbench.tariffdata import OPEN, Decider, Decision, compile_tariff
from kemi.rates import Terms

# the bench "publishes" on the decks' issue date: their +7-day changes are still ahead
DEFAULT_VALID_FROM = int(datetime(*ISSUE_DATE.timetuple()[:3], tzinfo=UTC).timestamp())


class RouteTable(Structure):
    name = "route-table"
    description = "compiled union trie of the plan's vendors: one walk, rows in LCR order"

    def __init__(self, valid_from: int = DEFAULT_VALID_FROM) -> None:
        self.valid_from = valid_from

    def build(self, catalog: Catalog, directory: Path) -> None:
        write_digit_trie(catalog.customer, directory / "customer.trie")
        build_route_table(
            [rows for _, rows in catalog.vendors], directory / "plan.route", self.valid_from
        )

    def open(self, directory: Path) -> Decider:
        return RouteTableDecider(
            DigitTrieLookup(snapfile.SnapFile(directory / "customer.trie")),
            snapfile.SnapFile(directory / "plan.route"),
        )


def build_route_table(vendors: list[Any], path: Path, valid_from: int) -> dict[str, Any]:
    """Compile the vendors' tariffs (in plan order) into ``path``; returns its meta."""
    import numpy as np

    from callbench import triebuild

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
        keys = triebuild.keys_of(compiled.prefixes)
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
    # 2. the union trie
    trie = triebuild.build(keys)
    node_of = trie.index(keys)
    nodes = trie.keys.size
    lengths = trie.lengths.astype(np.uint8)
    # 3. the epochs: every date from valid_from on where some window starts or ends
    w_from, w_to = g["from"][window_of], g["to"][window_of]
    dates = np.unique(np.concatenate([w_from, w_to]))
    epochs = np.concatenate([[valid_from], dates[(dates > valid_from) & (dates < OPEN)]])
    # 4. per epoch: each (node, vendor)'s window and matched length, inherited down the trie
    cell = node_of * vendor_count + vendor_of
    answers, depths = [], []
    for start in epochs:
        live = (w_from <= start) & (start < w_to)
        c, f, w = cell[live], w_from[live], window_of[live]
        order = np.lexsort((f, c))  # newest window of a cell last
        c, w = c[order], w[order]
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
    # 5. rows: distinct vendor vectors, hashed then checked, entries sorted by (rate, vendor)
    every = np.concatenate(answers)  # (epochs · nodes, vendors)
    mixer = np.random.default_rng(20250106).integers(1, 2**63, vendor_count, dtype=np.uint64) | 1
    with np.errstate(over="ignore"):
        hashed = ((every.astype(np.int64) + 1).astype(np.uint64) * mixer).sum(
            axis=1, dtype=np.uint64
        )
        hashed ^= hashed >> np.uint64(29)
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
    row_first = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.uint32)
    # 6. segments per node: an epoch starts a segment when the row or the lengths change
    row_at = row_of.reshape(len(epochs), nodes).T  # (nodes, epochs)
    depth_at = np.stack(depths, axis=1)  # (nodes, epochs, vendors)
    starts = np.ones(row_at.shape, dtype=bool)
    starts[:, 1:] = (row_at[:, 1:] != row_at[:, :-1]) | (depth_at[:, 1:] != depth_at[:, :-1]).any(
        axis=2
    )
    seg_first = np.concatenate([[0], np.cumsum(starts.sum(axis=1))]).astype(np.uint32)
    seg_start = np.broadcast_to(epochs, row_at.shape)[starts].astype(np.int64)
    seg_row = row_at[starts].astype(np.uint32)
    seg_depth = depth_at[starts].reshape(-1)  # vendor v of segment s at s · vendors + v
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
        "seg_start": seg_start,
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
    return meta


class RouteTableDecider:
    """Reader: stdlib only. Window ids are global to the table, so one ``terms`` serves all."""

    __slots__ = (
        "bitmap",
        "customer",
        "e_rate",
        "e_vendor",
        "e_window",
        "file",
        "first",
        "row_first",
        "seg_depth",
        "seg_first",
        "seg_row",
        "seg_start",
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
        seg_start = self.seg_start
        s = self.seg_first[node]
        last = self.seg_first[node + 1] - 1
        while s < last and seg_start[s + 1] <= at:
            s += 1
        row = self.seg_row[s]
        i, end = self.row_first[row], self.row_first[row + 1]
        e_rate, e_vendor, e_window, seg_depth = (
            self.e_rate,
            self.e_vendor,
            self.e_window,
            self.seg_depth,
        )
        base = s * self.vendors
        kept = []
        while i < end:
            rate = e_rate[i]
            if rate > limit:
                break
            vendor = e_vendor[i]
            kept.append((rate, vendor, e_window[i], seg_depth[base + vendor]))
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
