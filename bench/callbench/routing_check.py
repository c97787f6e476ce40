"""Which vendor got each run's calls: the vendor UAS counters against the predicted vendors.

Every SIPp UAS writes its cumulative counters every second (-trace_stat -fd 1); the difference
of ``IncomingCall(C)`` across one run is the calls (new INVITEs) that vendor received. The UAC
reads the -inf file from its first line in every run, so the calls of a run are the first
``outgoing`` numbers of the file (cycling), and each number's vendor is known beforehand: vendor
A for the plain relay, the least-cost vendor (``kemi.pipeline.decide``, which the lcr tables
reproduce) for the three routing variants.

A vendor can count MORE calls than predicted, never fewer unless a call was misrouted: when two
Kamailio workers relay a call's ACK and BYE out of order (``-d 0`` sends them back to back),
the strict UAS scenario aborts the call on the early BYE (SIPp still answers it, the customer's
side completes) and the late ACK then opens a new "call" there, aborted at once (seen with
-trace_err and -trace_shortmsg: every Call-ID reached its vendor exactly once); a failover
sends a call to a second vendor too. ``SuccessfulCall(C)`` would undercount for the same
reordering.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path


def incoming_calls(path: Path) -> int:
    """The UAS's cumulative new calls (INVITEs) in its last statistics line; 0 before any."""
    if not path.exists():
        return 0
    with path.open(newline="") as stats:
        rows = list(csv.DictReader(stats, delimiter=";"))
    return int(rows[-1]["IncomingCall(C)"]) if rows else 0


def read_counts(stats: Mapping[str, Path]) -> dict[str, int]:
    return {vendor: incoming_calls(path) for vendor, path in stats.items()}


def same_counts(got: Mapping[str, int], expected: Mapping[str, int]) -> bool:
    """Equal per vendor, a vendor missing on one side counting as zero."""
    return all(got.get(v, 0) == expected.get(v, 0) for v in set(got) | set(expected))


def delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {vendor: after[vendor] - before.get(vendor, 0) for vendor in after}


def expected_counts(
    numbers: Sequence[str], vendor_of: Mapping[str, str], calls: int
) -> dict[str, int]:
    """Calls per vendor when the UAC dials the first ``calls`` numbers of the -inf file."""
    if not numbers:
        return {}
    laps, rest = divmod(calls, len(numbers))
    counts: Counter[str] = Counter()
    for index, number in enumerate(numbers):
        counts[vendor_of[number]] += laps + (1 if index < rest else 0)
    return dict(counts)
