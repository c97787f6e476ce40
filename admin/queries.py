"""Named SQL queries, loaded from ``sql/queries/*.sql`` (after procrastinate's ``sql/``).

A file holds blocks that start with ``-- name: <query_name>``; Python refers to queries by name
only. A duplicate name is an error at load time; tests/unit/test_queries.py fails on a query
that no code uses.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from admin.settings import SQL_DIR

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse(text: str, source: str) -> dict[str, str]:
    queries: dict[str, str] = {}
    parts = _NAME.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"{source}: query {name!r} is defined twice")
        queries[name] = body.strip()
    return queries


@cache
def all_queries(directory: Path = SQL_DIR / "queries") -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        for name, body in parse(path.read_text(), path.name).items():
            if name in queries:
                raise ValueError(f"{path.name}: query {name!r} is already defined elsewhere")
            queries[name] = body
    return queries


def query(name: str) -> str:
    return all_queries()[name]
