"""Schema migrations: numbered, forward-only files in ``sql/migrations``.

A database with no ``schema_migrations`` table is new: it gets ``sql/schema.sql`` (the whole
current schema, which records the migrations it contains). Otherwise each migration not yet
recorded is applied in order, each in its own transaction with its version row.
tests/integration/test_migrations.py proves both paths give the same schema.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg

from admin.settings import SQL_DIR

MIGRATIONS_DIR = SQL_DIR / "migrations"
SCHEMA_FILE = SQL_DIR / "schema.sql"
# Serializes concurrent `akira migrate` runs against one database.
LOCK_ID = 0x616B697261  # "akira"


def migrations() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        version = path.name.split("_", 1)[0]
        if not version.isdigit():
            raise ValueError(f"migration {path.name} must start with its number, e.g. 0002_x.sql")
        found.append((version, path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a number: {versions}")
    return found


def applied(conn: psycopg.Connection) -> set[str] | None:
    """Versions recorded in the database, or None when it has no schema yet."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    return {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}


def migrate(
    conn: psycopg.Connection,
    *,
    from_schema: bool = True,
    progress: Callable[[str], None] = lambda message: None,
) -> list[str]:
    """Bring the database up to date; returns what was applied."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        done = applied(conn)
        if done is None and from_schema:
            conn.execute(SCHEMA_FILE.read_text())
            progress("loaded sql/schema.sql into an empty database")
            return ["schema.sql"]
        if done is None:
            conn.execute(
                "CREATE TABLE schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = set()
        result = []
        for version, path in migrations():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            progress(f"applied {path.name}")
            result.append(path.name)
        return result
