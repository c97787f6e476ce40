"""The e2e catalog: one customer, three vendors with overlapping prefixes and prices.

Customer Acme (source IP 127.0.0.2) buys 44 at 0.0150 and 447 at 0.0400 per minute (60/60),
33 at 0.0200. Globex (127.0.0.3) is recognised by its tech-prefix 0707 and buys the same.

            44        4420      447       (vendors bill 1/1)
  cheap   0.0080    0.0200    0.0500      port base+81
  mid     0.0100      -       0.0300      port base+82
  dear    0.0120      -       0.0350      port base+83

So for 44...: cheap, mid, dear. For 4420...: cheap's longer prefix (0.0200) beats its own 44 and
is dearer than the customer's 0.0150, so only mid, dear. For 447...: cheap (0.05) is dearer than
0.0400: mid, dear. Nobody sells 33: no vendor. Nobody buys 86: not routable.
"""

from __future__ import annotations

from decimal import Decimal as D

import psycopg

from admin import catalog
from admin.catalog import RateRow
from tests.e2e.ports import port

ACME_IP, GLOBEX_IP, UNKNOWN_IP = "127.0.0.2", "127.0.0.3", "127.0.0.9"
PORTS = {"cheap": port(81), "mid": port(82), "dear": port(83)}
VENDOR_RATES = {
    "cheap": {"44": "0.0080", "4420": "0.0200", "447": "0.0500"},
    "mid": {"44": "0.0100", "447": "0.0300"},
    "dear": {"44": "0.0120", "447": "0.0350"},
}
CUSTOMER_RATES = {"44": "0.0150", "447": "0.0400", "33": "0.0200"}
UK_FIXED, LONDON, UK_MOBILE, FRANCE, CHINA = (
    "441234567890",
    "442071234567",
    "447700900123",
    "33123456789",
    "861012345678",
)


def load(conn: psycopg.Connection) -> dict[str, int]:
    """Create the catalog; returns terminator ids by vendor name (and tariff ids as 'tariff:x')."""
    ids: dict[str, int] = {}
    with conn.transaction():
        terminators = []
        for name, rates in VENDOR_RATES.items():
            company_id = catalog.company(conn, f"Vendor {name}", vendor=True)
            tariff_id = catalog.tariff(
                conn, f"{name} deck", [RateRow(p, D(r)) for p, r in rates.items()]
            )
            ids[name] = catalog.terminator(
                conn, company_id, name, tariff_id, [("127.0.0.1", PORTS[name], "udp")]
            )
            ids[f"tariff:{name}"] = tariff_id
            terminators.append(ids[name])
        plan_id = catalog.routing_plan(conn, "LCR", terminators)
        customer_tariff = catalog.tariff(
            conn,
            "Acme price list",
            [
                RateRow(p, D(r), initial_increment=60, next_increment=60)
                for p, r in CUSTOMER_RATES.items()
            ],
        )
        for name, ip, tech_prefix in (("acme", ACME_IP, ""), ("globex", GLOBEX_IP, "0707")):
            company_id = catalog.company(conn, name.title(), customer=True)
            ids[name] = catalog.originator(
                conn,
                company_id,
                name,
                customer_tariff,
                plan_id,
                [f"{ip}/32"],
                tech_prefix=tech_prefix,
            )
        ids["tariff:customer"] = customer_tariff
    return ids
