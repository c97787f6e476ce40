"""The rate-deck import page in a real browser: headless Chromium (Debian's) driven by Playwright
against ``akira serve`` (tests/e2e/browser.py), on this test's database with the demo catalog.

Through the page only: from the tariff's page, "Import a rate deck"; choose the file and what
becomes of the codes it leaves out; the job page's progress fragment, polled by HTMX, reloads
the page once the diff is ready; filter the diff; apply; the applied rate is on the tariff's
page. No Kamailio is needed: nothing is published or called.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from admin import demo
from admin.passwords import hash_password
from tests.conftest import REDIS_URL
from tests.e2e.browser import CHROMIUM, AdminServer, Screens, artifacts_dir, watched_page
from tests.e2e.ports import port
from tests.integration.web_conftest import INSERT_USER

pytestmark = pytest.mark.e2e

HTTP_PORT = port(74)
USERNAME, PASSWORD = "olga", "a browser's long password"
WAIT_MS = 15_000
DECK = (
    "prefix,destination,rate\n"
    "44,United Kingdom,0.0110\n"  # 0.0100 in the demo: increased
    "447,United Kingdom - Mobile,0.0250\n"  # 0.0300: decreased
    "33,France,0.0140\n"  # new
)


@pytest.fixture
def admin(conn: psycopg.Connection, database_url: str, redis_client, tmp_path) -> Iterator[str]:
    assert demo.load(conn)
    conn.execute(
        INSERT_USER,
        {"username": USERNAME, "password_hash": hash_password(PASSWORD), "role": "operator"},
    )
    conn.commit()
    env = {
        "AKIRA_DATABASE_URL": database_url,
        "AKIRA_REDIS_URL": REDIS_URL,
        "AKIRA_SECRET_KEY": "browser-test-secret",
        "AKIRA_SNAPSHOT_DIR": str(tmp_path / "snapshot"),
        "AKIRA_SPOOL_DIR": str(tmp_path / "spool"),
    }
    server = AdminServer(HTTP_PORT, env, tmp_path / "admin.log")
    yield server.url
    server.stop()


@pytest.fixture
def page(admin: str) -> Iterator[Page]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test.sh, which installs Debian's chromium")
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(base_url=admin, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_MS)
        page = watched_page(context)
        yield page
        context.close()
        browser.close()


def test_an_operator_imports_a_deck_from_the_tariff_page(page: Page, conn, tmp_path: Path):
    screens = Screens(page, artifacts_dir())
    deck = tmp_path / "alpha-2026-12.csv"
    deck.write_text(DECK)
    alpha = conn.execute("SELECT id FROM tariffs WHERE name = 'Alpha Carrier USD'").fetchone()[0]

    page.goto("/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    with screens.expecting("logging in"):
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.goto(f"/tariffs/{alpha}")
    page.get_by_role("link", name="Import a rate deck").click()
    with screens.expecting("the import form"):
        expect(page.get_by_role("heading", name=re.compile("Import a rate deck"))).to_be_visible()
    page.get_by_label("Deck file").set_input_files(str(deck))
    page.get_by_label("Codes the deck leaves out").select_option("keep")
    screens.shot("ratedeck_import_form")
    page.get_by_role("button", name="Read the deck and show the diff").click()

    with screens.expecting("the job page, reloaded by its poll once the diff is ready"):
        expect(page).to_have_url(re.compile(rf"/tariffs/{alpha}/deck-import/[0-9a-f]{{32}}$"))
        expect(page.locator("#deck-status")).to_have_attribute("data-phase", "ready")
        expect(page.get_by_role("button", name="Apply the deck")).to_be_visible()
    cards = page.locator("[data-count]")
    with screens.expecting("the counts"):
        expect(page.locator('[data-count="increased"] .figure')).to_have_text("1")
        expect(page.locator('[data-count="decreased"] .figure')).to_have_text("1")
        expect(page.locator('[data-count="new"] .figure')).to_have_text("1")
        expect(cards).to_have_count(6)
    rows = page.locator("#deck-changes tbody tr")
    with screens.expecting("the diff, then filtered by kind (HTMX swaps the table)"):
        expect(rows).to_have_count(3)
        page.get_by_label("Change").select_option("increased")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("44")
    screens.shot("ratedeck_import_diff")

    page.get_by_role("button", name="Apply the deck").click()
    with screens.expecting("applied, the page reloaded by its poll"):
        expect(page.locator("#deck-status")).to_have_attribute("data-phase", "applied")
        expect(page.get_by_text(re.compile("Applied at"))).to_be_visible()
    screens.shot("ratedeck_import_applied")
    page.get_by_role("link", name="Alpha Carrier USD").click()
    with screens.expecting("the new rate on the tariff's page"):
        expect(page.get_by_role("cell", name="France", exact=True)).to_be_visible()
    assert page.problems == []
