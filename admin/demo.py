"""Demo data for the quick start: two customers, three vendors with overlapping prefixes.

Vendors' gateways are 127.0.0.1:5081-5083, where the README's SIPp vendor stand-ins listen;
the customers are recognised by source IP 127.0.0.2 (Acme) and 127.0.0.3 (Globex).
"""

from __future__ import annotations

from decimal import Decimal as D

import psycopg

from admin import catalog
from admin.catalog import RateRow as R

VENDORS = {
    # name: (gateway port, {prefix: rate per minute})
    "Alpha Carrier": (
        5081,
        {
            "1": "0.0050",
            "44": "0.0100",
            "447": "0.0300",
            "4420": "0.0080",
            "49": "0.0120",
            "4915": "0.0500",
        },
    ),
    "Bravo Networks": (
        5082,
        {
            "1": "0.0060",
            "33": "0.0150",
            "44": "0.0090",
            "447": "0.0280",
            "49": "0.0110",
            "4915": "0.0450",
        },
    ),
    "Charlie Telecom": (
        5083,
        {
            "1": "0.0040",
            "1212": "0.0035",
            "44": "0.0120",
            "447": "0.0250",
            "4420": "0.0090",
            "49": "0.0130",
        },
    ),
}
CUSTOMERS = {
    # name: (source IP, increments, {prefix: rate per minute})
    "Acme Telecom": (
        "127.0.0.2",
        (1, 1),
        {
            "1": "0.0080",
            "33": "0.0200",
            "44": "0.0150",
            "447": "0.0400",
            "49": "0.0180",
            "4915": "0.0600",
        },
    ),
    "Globex Voice": (
        "127.0.0.3",
        (30, 6),
        {"1": "0.0070", "44": "0.0130", "447": "0.0270", "49": "0.0125", "4915": "0.0550"},
    ),
}
DESTINATIONS = {
    "1": "USA/Canada",
    "1212": "USA - New York",
    "33": "France",
    "44": "United Kingdom",
    "447": "United Kingdom - Mobile",
    "4420": "United Kingdom - London",
    "49": "Germany",
    "4915": "Germany - Mobile",
}


def load(conn: psycopg.Connection) -> bool:
    """Insert the demo catalog in one transaction; False when it is already there."""
    with conn.transaction():
        if catalog.company_id(conn, "Acme Telecom") is not None:
            return False
        terminator_ids = []
        for name, (port, prices) in VENDORS.items():
            company_id = catalog.company(conn, name, vendor=True)
            tariff_id = catalog.tariff(
                conn,
                f"{name} USD",
                [R(prefix, D(rate), DESTINATIONS[prefix]) for prefix, rate in prices.items()],
                description="demo vendor deck",
            )
            terminator_ids.append(
                catalog.terminator(
                    conn,
                    company_id,
                    name.split()[0].lower(),
                    tariff_id,
                    [("127.0.0.1", port, "udp")],
                )
            )
        plan_id = catalog.routing_plan(conn, "Default LCR", terminator_ids)
        for name, (ip, (initial, following), prices) in CUSTOMERS.items():
            company_id = catalog.company(conn, name, customer=True, credit_limit=D(100))
            tariff_id = catalog.tariff(
                conn,
                f"{name} USD",
                [
                    R(prefix, D(rate), DESTINATIONS[prefix], initial, following)
                    for prefix, rate in prices.items()
                ],
                description="demo customer price list",
            )
            catalog.originator(
                conn, company_id, name.split()[0].lower(), tariff_id, plan_id, [f"{ip}/32"]
            )
        return True
