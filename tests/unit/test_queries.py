"""Named SQL queries: no duplicate names, none unused (STYLE.md, SQL)."""

import importlib
import re
from pathlib import Path

import pytest

from admin.queries import all_queries, parse
from admin.services import QUERY_ACTIONS, Service

ADMIN = Path(__file__).resolve().parents[2] / "admin"


def service_queries() -> set[str]:
    """The queries entity services name by convention (admin/services: ``<entity>_<action>``)."""
    names = set()
    for path in (ADMIN / "services").glob("*.py"):
        module = importlib.import_module(f"admin.services.{path.stem}".removesuffix(".__init__"))
        for value in vars(module).values():
            if isinstance(value, Service):
                names |= {value.query_name(action) for action in QUERY_ACTIONS}
                names.add(f"{value.entity}_id_by_name")  # the CLI's, when there is one
    return names


def test_every_query_is_used_by_the_admin_code():
    code = "\n".join(path.read_text() for path in ADMIN.rglob("*.py"))
    used = set(re.findall(r"""["']([a-z_][a-z0-9_]*)["']""", code)) | service_queries()
    unused = sorted(set(all_queries()) - used)
    assert not unused, f"queries no code refers to: {unused}"


def test_a_duplicate_name_is_refused():
    with pytest.raises(ValueError, match="defined twice"):
        parse("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n", "x.sql")


def test_blocks_are_split_by_name():
    assert parse("-- name: one\nSELECT 1;\n\n-- name: two\nSELECT 2;\n", "x.sql") == {
        "one": "SELECT 1;",
        "two": "SELECT 2;",
    }
