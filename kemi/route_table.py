"""A routing plan's compiled route table, mapped read-only (compiler: admin.route_table).

One walk down the union trie of the plan's vendor prefixes finds the deepest node of the
number; its segment in force at the call time names a row: every vendor that rates the number
then, with its window (terms) and the length of its matched prefix, in least-cost order. So the
route stage costs one walk plus a few reads per vendor, whatever the size of the tariffs.
"""

from __future__ import annotations

from kemi.arrays_file import ArraysFile
from kemi.rates import Rate

FORMAT = 2
MAX_VENDORS = 255  # vendor indexes are bytes
BELOW = tuple((1 << d) - 1 for d in range(10))  # bits of the digits below d


class RouteTableError(Exception):
    """A route table of another format, or asked about a time before it starts."""


class RouteTable:
    __slots__ = (
        "_file", "bitmap", "e_terms", "e_vendor", "epochs", "first", "row_first", "seg_depth",
        "seg_epoch", "seg_first", "seg_row", "t_fee", "t_initial", "t_minimum", "t_next", "t_rate",
        "valid_from", "vendors",
    )  # fmt: skip

    def __init__(self, path: str) -> None:
        self._file = ArraysFile(path)
        meta = self._file.meta
        if meta.get("format") != FORMAT:
            raise RouteTableError(f"{path}: route table format {meta.get('format')}, not {FORMAT}")
        for name in self.__slots__[1:]:
            if name in self._file.arrays:
                setattr(self, name, self._file[name])
        self.vendors = int(meta["vendors"])
        self.valid_from = int(meta["valid_from"])
        self.epochs = tuple(meta["epochs"])

    def entries(self, digits: bytes, at: int) -> dict[int, tuple[int, int]]:
        """vendor index -> (terms, matched prefix length), for every vendor that rates the
        number at ``at`` (epoch seconds); in least-cost order (rate, then plan order)."""
        if at < self.valid_from:
            raise RouteTableError(f"the route table answers from {self.valid_from} on, not {at}")
        bitmap, first = self.bitmap, self.first
        node = 0
        for digit in digits:
            bits = bitmap[node]
            d = digit - 48
            if not bits >> d & 1:
                break
            node = first[node] + (bits & BELOW[d]).bit_count()
        segment, last = self.seg_first[node], self.seg_first[node + 1] - 1
        seg_epoch, epochs = self.seg_epoch, self.epochs
        while segment < last and epochs[seg_epoch[segment + 1]] <= at:
            segment += 1
        row = self.seg_row[segment]
        e_vendor, e_terms, seg_depth = self.e_vendor, self.e_terms, self.seg_depth
        base = segment * self.vendors
        found = {}
        for i in range(self.row_first[row], self.row_first[row + 1]):
            vendor = e_vendor[i]
            found[vendor] = (e_terms[i], seg_depth[base + vendor])
        return found

    def rate(self, number: str, terms: int, length: int) -> Rate:
        return Rate(
            number[:length],
            self.t_rate[terms],
            self.t_initial[terms],
            self.t_next[terms],
            self.t_fee[terms],
            self.t_minimum[terms],
        )
