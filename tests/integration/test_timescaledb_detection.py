"""TimescaleDB is detected without reading superuser-only settings (issue 10): ``akira
migrate`` by an ordinary role used to fail wherever the extension was installed, on
``current_setting('shared_preload_libraries')``. This machine has no TimescaleDB, so the
fallback is shown with an extension that is available but that the role may not create, which
is what an un-preloaded or untrusted TimescaleDB looks like to ``akira_try_create_extension``."""

from collections.abc import Iterator

import psycopg
import pytest

pytestmark = pytest.mark.integration

UNTRUSTED = "file_fdw"  # in PostgreSQL's contrib: available, creatable by superusers only


@pytest.fixture
def ordinary(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The test's session as a role that is not superuser (the tests' own, or one made here)."""
    if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
        conn.execute("CREATE ROLE akira_test_ordinary NOSUPERUSER")
        conn.execute("GRANT CREATE ON DATABASE " + conn.info.dbname + " TO akira_test_ordinary")
        conn.execute("SET ROLE akira_test_ordinary")
        yield conn
        conn.execute("RESET ROLE")
        conn.execute("DROP OWNED BY akira_test_ordinary")
        conn.execute("DROP ROLE akira_test_ordinary")
    else:
        yield conn


def test_the_role_cannot_read_the_setting_the_old_check_read(ordinary):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        ordinary.execute("SELECT current_setting('shared_preload_libraries')")


def test_an_extension_the_role_may_not_create_falls_back_cleanly(ordinary):
    notices = []
    ordinary.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary))
    available = ordinary.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = %s", (UNTRUSTED,)
    ).fetchone()[0]
    assert available == 1, f"{UNTRUSTED} (PostgreSQL contrib) must be installed for this test"
    with ordinary.transaction():  # and the transaction goes on: the failure was contained
        assert (
            ordinary.execute("SELECT akira_try_create_extension(%s)", (UNTRUSTED,)).fetchone()[0]
            is False
        )
        assert ordinary.execute("SELECT 1").fetchone()[0] == 1
    assert any("was not created" in notice and UNTRUSTED in notice for notice in notices)
    assert (
        ordinary.execute("SELECT akira_try_create_extension('no_such_extension')").fetchone()[0]
        is False
    )
    assert ordinary.execute("SELECT akira_timescaledb_usable()").fetchone()[0] is False


def test_an_extension_already_created_is_used(ordinary):
    ordinary.execute("CREATE EXTENSION pgcrypto")  # trusted: a database owner may
    assert ordinary.execute("SELECT akira_try_create_extension('pgcrypto')").fetchone()[0] is True
