"""What a report counts by. A dimension names the rollup keys it needs (grouped first, while
the rows are many) and how those keys read once joined to the catalog (grouped again, on few
rows): a destination is the customer tariff's name for the matched prefix, a customer the
company behind the originator, a vendor the one behind the terminator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

GRAINS: dict[str, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
NO_VENDOR = "(no vendor tried)"
UNRATED = "(unrated)"


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    label: str
    keys: tuple[str, ...]  # rollup columns grouped on first (``bucket`` is truncated by grain)
    key_sql: str  # the row's key, text, over the grouped keys ``b`` and the joins
    label_sql: str  # how it reads
    joins: str = ""  # the catalog rows the key and label read
    grain: str | None = None  # a time dimension: its bucket
    filter_name: str | None = None  # the filter that takes this dimension's key

    @property
    def is_time(self) -> bool:
        return self.grain is not None


# The catalog joined to the grouped keys ``b``, as each dimension needs it.
ORIGINATOR_JOIN = "LEFT JOIN originators o ON o.id = b.originator_id"
CUSTOMER_JOIN = ORIGINATOR_JOIN + "\nLEFT JOIN companies customer ON customer.id = o.company_id"
TERMINATOR_JOIN = "LEFT JOIN terminators tr ON tr.id = b.terminator_id"
VENDOR_JOIN = TERMINATOR_JOIN + "\nLEFT JOIN companies vendor ON vendor.id = tr.company_id"
# The destination's name as the customer tariff calls the matched prefix (its latest rate).
DESTINATION_JOIN = """
LEFT JOIN LATERAL (
    SELECT nullif(r.destination, '') AS name FROM rates r
    WHERE r.tariff_id = b.customer_tariff_id AND r.prefix = b.customer_prefix
    ORDER BY r.effective_from DESC LIMIT 1
) destination ON true
"""

DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        "customer",
        "Customer",
        ("originator_id",),
        "o.company_id::text",
        "customer.name",
        CUSTOMER_JOIN,
        filter_name="customer",
    ),
    Dimension(
        "vendor",
        "Vendor",
        ("terminator_id",),
        "tr.company_id::text",
        f"coalesce(vendor.name, '{NO_VENDOR}')",
        VENDOR_JOIN,
        filter_name="vendor",
    ),
    Dimension(
        "destination",
        "Destination",
        ("customer_tariff_id", "customer_prefix"),
        f"coalesce(destination.name, b.customer_prefix, '{UNRATED}')",
        f"coalesce(destination.name, b.customer_prefix, '{UNRATED}')",
        DESTINATION_JOIN,
        filter_name="destination",
    ),
    Dimension(
        "prefix",
        "Prefix",
        ("customer_prefix",),
        "b.customer_prefix",
        f"coalesce(b.customer_prefix, '{UNRATED}')",
    ),
    Dimension(
        "originator",
        "Originator",
        ("originator_id",),
        "b.originator_id::text",
        "o.name",
        ORIGINATOR_JOIN,
        filter_name="originator",
    ),
    Dimension(
        "terminator",
        "Terminator",
        ("terminator_id",),
        "b.terminator_id::text",
        f"coalesce(tr.name, '{NO_VENDOR}')",
        TERMINATOR_JOIN,
        filter_name="terminator",
    ),
    *(
        Dimension(
            grain,
            grain.capitalize(),
            ("bucket",),
            "to_char(b.bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            "to_char(b.bucket AT TIME ZONE 'UTC', "
            + {"minute": "'YYYY-MM-DD HH24:MI'", "hour": "'YYYY-MM-DD HH24:00'"}.get(
                grain, "'YYYY-MM-DD'"
            )
            + ")",
            grain=grain,
        )
        for grain in GRAINS
    ),
)
BY_NAME = {dimension.name: dimension for dimension in DIMENSIONS}
NAMES = tuple(BY_NAME)
