"""Tariffs' rates out of PostgreSQL for the publisher: binary COPY, several at a time, one view.

Reading a 1M-row tariff costs the server about a second and a half whatever the query does, so
the publisher reads tariffs on ``workers`` connections at once. Every connection imports the
snapshot of the publisher's repeatable-read transaction (``pg_export_snapshot``), so all of
them see the same catalog the routing records came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

import numpy as np
import psycopg
from psycopg import sql

from admin.queries import query
from admin.tariff_compiler import rows_from_copy, sorted_rows

WORKERS = 2


def copy_rates(conn: psycopg.Connection, tariff_id: int, now: datetime) -> np.ndarray:
    """One tariff's rates effective now or later, sorted as the compilers want them."""
    buffer = bytearray()
    with (
        conn.cursor() as cursor,
        cursor.copy(query("publish_rates_copy"), {"tariff_id": tariff_id, "now": now}) as copy,
    ):
        for data in copy:
            buffer += data
    return sorted_rows(rows_from_copy(buffer))


@contextmanager
def rates_reader(conn: psycopg.Connection, now: datetime, workers: int = WORKERS) -> Iterator:
    """A function reading many tariffs in parallel within ``conn``'s open repeatable-read
    transaction; yields ``read(tariff_ids) -> {tariff id: rows}``."""
    snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
    info = conn.info
    dsn = psycopg.conninfo.make_conninfo(info.dsn, password=info.password or None)
    helpers = []
    try:
        for _ in range(max(workers - 1, 0)):
            helper = psycopg.connect(dsn)
            helper.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            helper.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            helpers.append(helper)
        connections = [conn, *helpers]

        def read(tariff_ids: Iterable[int]) -> dict[int, np.ndarray]:
            ids = list(tariff_ids)
            if len(connections) == 1 or len(ids) < 2:
                return {t: copy_rates(conn, t, now) for t in ids}
            shares = [ids[i :: len(connections)] for i in range(len(connections))]
            with ThreadPoolExecutor(len(connections)) as pool:
                parts = pool.map(
                    lambda pair: {t: copy_rates(pair[0], t, now) for t in pair[1]},
                    zip(connections, shares, strict=True),
                )
                return {t: rows for part in parts for t, rows in part.items()}

        yield read
    finally:
        for helper in helpers:
            helper.close()
