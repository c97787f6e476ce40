"""The one CDR declaration (kemi/cdr.py) is the live ``cdrs`` table, column for column."""

import pytest

from kemi.cdr import FIELDS

pytestmark = pytest.mark.integration

FILLED_BY_THE_DATABASE = {"id", "ingested_at"}


def test_the_cdr_declaration_is_the_table(conn):
    table = conn.execute(
        """SELECT attname, format_type(atttypid, atttypmod), attnotnull
           FROM pg_attribute
           WHERE attrelid = 'cdrs'::regclass AND attnum > 0 AND NOT attisdropped
           ORDER BY attnum"""
    ).fetchall()
    columns = [(name, sql, not_null) for name, sql, not_null in table]
    declared = [(f.column, f.sql, not f.nullable) for f in FIELDS]
    # by name, not position: migrations can only append columns, and every statement names its
    # columns (the COPY and merge lists derive from the declaration)
    assert sorted(c for c in columns if c[0] not in FILLED_BY_THE_DATABASE) == sorted(declared)
