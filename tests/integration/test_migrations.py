"""sql/schema.sql and the numbered migrations must give one and the same schema."""

import subprocess

import psycopg
import pytest

from admin.migrate import migrate, migrations
from tests.conftest import create_database, database_url_for, drop_database

pytestmark = pytest.mark.integration


def dump_schema(url: str) -> str:
    result = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", url],
        check=True,
        capture_output=True,
        text=True,
    )
    # pg_dump names the dumped database nowhere in the body, but its \restrict token differs per run
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith("\\"))


# What pg_dump cannot tell: which tables are partitioned or hypertables, how, and TimescaleDB's
# continuous aggregates and their policies (its catalog's rows are data, not schema).
PARTITIONING = """
SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'p' AND n.nspname = 'public' ORDER BY 1
"""
TIMESCALEDB_CATALOG = (
    "SELECT hypertable_name, column_name, dimension_type, time_interval::text"
    " FROM timescaledb_information.dimensions ORDER BY 1, 2",
    "SELECT view_name, materialized_only, view_definition"
    " FROM timescaledb_information.continuous_aggregates ORDER BY 1",
    "SELECT proc_name, hypertable_name, schedule_interval::text, config::text"
    " FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY 2, 1",
)


def partitioning(url: str) -> list[list[tuple]]:
    with psycopg.connect(url) as conn:
        described = [conn.execute(PARTITIONING).fetchall()]
        if conn.execute("SELECT akira_timescaledb_usable()").fetchone()[0]:
            described += [conn.execute(catalog).fetchall() for catalog in TIMESCALEDB_CATALOG]
        return described


def test_schema_file_equals_all_migrations(template_database):
    names = ["akira_test_from_schema", "akira_test_from_migrations"]
    try:
        for name in names:
            create_database(name)
        with psycopg.connect(database_url_for(names[0])) as conn:
            assert migrate(conn) == ["schema.sql"]
        with psycopg.connect(database_url_for(names[1])) as conn:
            applied = migrate(conn, from_schema=False)
            assert applied == [path.name for _, path in migrations()]
        dumps = [dump_schema(database_url_for(name)) for name in names]
        assert dumps[0] == dumps[1]
        assert partitioning(database_url_for(names[0])) == partitioning(database_url_for(names[1]))
        versions = []
        for name in names:
            with psycopg.connect(database_url_for(name)) as conn:
                versions.append(
                    conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
                )
                assert conn.execute("SELECT count(*) FROM currencies").fetchone()[0] == 3
        assert versions[0] == versions[1]
    finally:
        for name in names:
            drop_database(name)


def test_migrate_twice_is_a_no_op(conn):
    assert migrate(conn) == []


def test_cdrs_are_partitioned_without_timescaledb(conn):
    # This machine has no TimescaleDB: the natively partitioned branch must be the one taken.
    assert conn.execute("SELECT akira_timescaledb_usable()").fetchone()[0] is False
    assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'cdrs'").fetchone()[0] == "p"
    conn.execute("SELECT akira_ensure_cdr_partition('2026-02-14T10:00:00Z')")
    conn.execute("SELECT akira_ensure_cdr_partition('2026-02-28T23:59:59Z')")  # same month: no-op
    partitions = conn.execute(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'cdrs'::regclass"
    ).fetchall()
    assert len(partitions) == 1
    assert "2026-02-01" in partitions[0][0] and "2026-03-01" in partitions[0][0]


def test_a_tariff_keeps_its_rate_count_through_every_kind_of_write(conn):
    """tariffs.rate_count (0014) follows inserts, moves, deletes, a cascade and a truncate."""

    def counts() -> dict[str, int]:
        rows = conn.execute("SELECT name, rate_count FROM tariffs ORDER BY name").fetchall()
        assert all(
            count == conn.execute(
                "SELECT count(*) FROM rates r JOIN tariffs t ON t.id = r.tariff_id "
                "WHERE t.name = %s", (name,)).fetchone()[0]
            for name, count in rows
        )  # fmt: skip
        return dict(rows)

    a, b = (
        conn.execute("INSERT INTO tariffs (name, currency) VALUES (%s, 'USD') RETURNING id",
                     (name,)).fetchone()[0]
        for name in ("A", "B")
    )  # fmt: skip
    conn.execute(
        "INSERT INTO rates (tariff_id, prefix, rate, effective_from) "
        "SELECT %s, g::text, 0.01, now() FROM generate_series(10, 29) g",
        (a,),
    )
    assert counts() == {"A": 20, "B": 0}
    conn.execute("UPDATE rates SET tariff_id = %s WHERE prefix < '15'", (b,))
    assert counts() == {"A": 15, "B": 5}
    conn.execute("DELETE FROM rates WHERE prefix >= '25'")
    assert counts() == {"A": 10, "B": 5}
    conn.execute("DELETE FROM tariffs WHERE id = %s", (b,))  # its rates go with it
    assert counts() == {"A": 10}
    conn.execute("TRUNCATE rates")
    assert counts() == {"A": 0}
