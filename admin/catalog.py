"""Catalog writes: companies, tariffs and rates, trunks, routing plans.

Used by the demo loader, the tests and the benchmarks; each function is one statement (or one
COPY) inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from admin.queries import query

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RateRow:
    prefix: str
    rate: Decimal
    destination: str = ""
    initial_increment: int = 1
    next_increment: int = 1
    connect_fee: Decimal = Decimal(0)
    effective_from: datetime = EPOCH
    effective_to: datetime | None = None
    minimum_duration: int = 0  # seconds: an answered call shorter than this is billed this long


def _returning_id(conn: psycopg.Connection, name: str, params: dict) -> int:
    return conn.execute(query(name), params).fetchone()[0]


def company(
    conn: psycopg.Connection,
    name: str,
    *,
    customer: bool = False,
    vendor: bool = False,
    currency: str = "USD",
    credit_limit: Decimal = Decimal(0),
) -> int:
    return _returning_id(
        conn,
        "insert_company",
        {
            "name": name,
            "is_customer": customer,
            "is_vendor": vendor,
            "currency": currency,
            "credit_limit": credit_limit,
        },
    )


def tariff(
    conn: psycopg.Connection,
    name: str,
    rates: Iterable[RateRow],
    *,
    currency: str = "USD",
    description: str = "",
) -> int:
    tariff_id = _returning_id(
        conn, "insert_tariff", {"name": name, "currency": currency, "description": description}
    )
    copy_rates(conn, tariff_id, rates)
    return tariff_id


def copy_rates(conn: psycopg.Connection, tariff_id: int, rates: Iterable[RateRow]) -> None:
    with conn.cursor() as cursor, cursor.copy(query("copy_rates")) as copy:
        for r in rates:
            copy.write_row(
                (
                    tariff_id,
                    r.prefix,
                    r.destination,
                    r.rate,
                    r.initial_increment,
                    r.next_increment,
                    r.connect_fee,
                    r.effective_from,
                    r.effective_to,
                    r.minimum_duration,
                )
            )


def terminator(
    conn: psycopg.Connection,
    company_id: int,
    name: str,
    tariff_id: int,
    gateways: Sequence[tuple[str, int, str]],
    *,
    tech_prefix: str = "",
    enabled: bool = True,
) -> int:
    terminator_id = _returning_id(
        conn,
        "insert_terminator",
        {
            "company_id": company_id,
            "name": name,
            "tariff_id": tariff_id,
            "tech_prefix": tech_prefix,
            "enabled": enabled,
        },
    )
    for position, (host, port, transport) in enumerate(gateways):
        conn.execute(
            query("insert_gateway"),
            {
                "terminator_id": terminator_id,
                "host": host,
                "port": port,
                "transport": transport,
                "position": position,
            },
        )
    return terminator_id


def routing_plan(
    conn: psycopg.Connection,
    name: str,
    terminator_ids: Sequence[int],
    *,
    strategy: str = "least_cost",
    hunt_stop_codes: Sequence[int] = (404, 486, 487),
    allow_loss: bool = False,
    priorities: Sequence[int] | None = None,
) -> int:
    plan_id = _returning_id(
        conn,
        "insert_routing_plan",
        {
            "name": name,
            "strategy": strategy,
            "hunt_stop_codes": list(hunt_stop_codes),
            "allow_loss": allow_loss,
        },
    )
    for position, terminator_id in enumerate(terminator_ids):
        conn.execute(
            query("insert_routing_plan_entry"),
            {
                "routing_plan_id": plan_id,
                "terminator_id": terminator_id,
                "priority": priorities[position] if priorities else 100,
                "weight": 100,
                "position": position,
            },
        )
    return plan_id


def originator(
    conn: psycopg.Connection,
    company_id: int,
    name: str,
    tariff_id: int,
    routing_plan_id: int | None,
    networks: Sequence[str],
    *,
    tech_prefix: str = "",
    max_call_duration: int = 7200,
    enabled: bool = True,
) -> int:
    originator_id = _returning_id(
        conn,
        "insert_originator",
        {
            "company_id": company_id,
            "name": name,
            "tariff_id": tariff_id,
            "routing_plan_id": routing_plan_id,
            "tech_prefix": tech_prefix,
            "max_call_duration": max_call_duration,
            "enabled": enabled,
        },
    )
    for network in networks:
        conn.execute(
            query("insert_device"),
            {
                "originator_id": originator_id,
                "network": network,
                "port": None,
                "transport": None,
                "description": "",
            },
        )
    return originator_id


def company_id(conn: psycopg.Connection, name: str) -> int | None:
    row = conn.execute(query("company_id_by_name"), {"name": name}).fetchone()
    return None if row is None else row[0]
