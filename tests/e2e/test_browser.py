"""An operator's day in a real browser: headless Chromium (Debian's) driven by Playwright against
``akira serve``, on the same PostgreSQL database and Redis as this worker's Kamailio.

Through the pages only: log in; create a vendor, its terminator (on the catalog's "mid deck")
and a gateway pointing at a SIPp UAS of this test; a routing plan hunting that terminator; a
customer, its tariff and a rate, its originator (on that plan) and its device; publish from the
header; ask the simulator; then a real SIPp call from the device's address, rated, found in
/cdrs with its price. A full-page screenshot of each main page is kept (tests/e2e/browser.py
says where). Everything is clicked and typed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from admin.passwords import hash_password
from admin.web.table import money
from tests.conftest import REDIS_URL
from tests.e2e import catalog as c
from tests.e2e.browser import CHROMIUM, AdminServer, Screens, artifacts_dir, watched_page
from tests.e2e.ports import port
from tests.integration.web_conftest import INSERT_USER

pytestmark = pytest.mark.e2e

HTTP_PORT, VENDOR_PORT = port(79), port(78)
DEVICE_IP = "127.0.0.42"  # no other e2e test calls from it
NUMBER = c.UK_FIXED  # 441234567890: the customer's 44, the mid deck's
USERNAME, PASSWORD = "olga", "a browser's long password"
WAIT_MS = 15_000  # Playwright's waits; a publish may take a few seconds on a loaded machine
PAGES = (
    "dashboard", "companies", "tariff", "routing_plan", "originator", "simulator", "cdrs",
    "reports",
)  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test.sh, which installs Debian's chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def admin(platform, database_url) -> Iterator[AdminServer]:
    env = {
        "AKIRA_DATABASE_URL": database_url,
        "AKIRA_REDIS_URL": REDIS_URL,
        "AKIRA_SECRET_KEY": "browser-test-secret",
        "AKIRA_SNAPSHOT_DIR": str(platform.workdir / "admin-snapshot"),
        "AKIRA_SPOOL_DIR": str(platform.kamailio.run_dir / "spool"),
    }
    server = AdminServer(HTTP_PORT, env, platform.workdir / "admin.log")
    yield server
    server.stop()


@pytest.fixture
def page(browser, admin) -> Iterator[Page]:
    context = browser.new_context(base_url=admin.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = watched_page(context)
    yield page
    context.close()


def save_form(page: Page, screens: Screens, what: str) -> None:
    """Submit the record form and check it was taken (a refusal stays on the form, 400)."""
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    with screens.expecting(f"saving {what}"):
        expect(page.locator("form.record")).to_have_count(0)


def new_record(page: Page, screens: Screens, slug: str) -> None:
    """From the list page, as an operator would: its "New" button."""
    page.goto(f"/{slug}")
    page.get_by_role("link", name="New", exact=True).click()
    with screens.expecting(f"the new {slug} form"):
        expect(page).to_have_url(re.compile(rf"/{slug}/new$"))


def record_id(page: Page, slug: str) -> int:
    match = re.search(rf"/{slug}/(\d+)$", page.url)
    assert match, f"not on a {slug} page: {page.url}"
    return int(match.group(1))


def log_in(page: Page, screens: Screens) -> None:
    page.goto("/")
    with screens.expecting("the login page"):
        expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    with screens.expecting("logging in"):
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def create_customer(page: Page, screens: Screens) -> int:
    """Company, tariff with a rate, originator on the browser's plan with a device; its id."""
    new_record(page, screens, "companies")
    page.get_by_label("Name", exact=True).fill("Browser Telecom")
    page.get_by_label("Currency", exact=True).select_option("USD")
    page.get_by_label("Customer", exact=True).check()
    save_form(page, screens, "the customer company")

    new_record(page, screens, "tariffs")
    page.get_by_label("Name", exact=True).fill("Browser price list")
    page.get_by_label("Currency", exact=True).select_option("USD")
    save_form(page, screens, "the tariff")
    tariff_id = record_id(page, "tariffs")
    page.get_by_role("link", name="Add a rate").click()
    with screens.expecting("the rate form, its tariff chosen"):
        expect(page.get_by_label("Tariff", exact=True)).to_have_value(str(tariff_id))
    page.get_by_label("Prefix", exact=True).fill("44")
    page.get_by_label("Destination", exact=True).fill("United Kingdom")
    page.get_by_label("Rate per minute").fill("0.0150")
    page.get_by_label("Initial increment (s)").fill("60")
    page.get_by_label("Next increment (s)").fill("60")
    save_form(page, screens, "the rate")  # a rate lives on its tariff's page: back there
    with screens.expecting("the tariff's page showing its new rate"):
        expect(page).to_have_url(re.compile(rf"/tariffs/{tariff_id}$"))
        expect(page.locator("main table")).to_contain_text("United Kingdom")
        expect(page.locator("main table")).to_contain_text("0.0150")
    screens.shot("tariff")

    new_record(page, screens, "originators")
    page.get_by_label("Name", exact=True).fill("browser-in")
    page.get_by_label("Company", exact=True).select_option(label="Browser Telecom")
    page.get_by_label("Tariff", exact=True).select_option(label="Browser price list (USD)")
    page.get_by_label("Routing plan", exact=True).select_option(label="Browser plan")
    save_form(page, screens, "the originator")
    originator_id = record_id(page, "originators")
    page.get_by_role("link", name="Add a device").click()
    with screens.expecting("the device form, its originator chosen"):
        expect(page.get_by_label("Originator", exact=True)).to_have_value(str(originator_id))
    page.get_by_label("Network", exact=True).fill(f"{DEVICE_IP}/32")
    page.get_by_label("Description", exact=True).fill("browser test's SIPp")
    save_form(page, screens, "the device")
    page.locator("dl.summary").get_by_role("link", name="browser-in").click()  # its originator
    with screens.expecting("the originator's page showing its device"):
        expect(page.locator("main")).to_contain_text(f"{DEVICE_IP}/32")
    screens.shot("originator")
    return originator_id


def create_vendor(page: Page, screens: Screens) -> int:
    """Company, terminator on the catalog's mid deck, a gateway to our SIPp UAS; its id."""
    new_record(page, screens, "companies")
    page.get_by_label("Name", exact=True).fill("Browser Carrier")
    page.get_by_label("Currency", exact=True).select_option("USD")
    page.get_by_label("Vendor", exact=True).check()
    save_form(page, screens, "the vendor company")

    new_record(page, screens, "terminators")
    page.get_by_label("Name", exact=True).fill("browser-out")
    page.get_by_label("Company", exact=True).select_option(label="Browser Carrier")
    page.get_by_label("Tariff", exact=True).select_option(label="mid deck (USD)")
    save_form(page, screens, "the terminator")
    terminator_id = record_id(page, "terminators")
    page.get_by_role("link", name="Add a gateway").click()
    page.get_by_label("Host", exact=True).fill("127.0.0.1")
    page.get_by_label("Port", exact=True).fill(str(VENDOR_PORT))
    page.get_by_label("Transport", exact=True).select_option("udp")
    save_form(page, screens, "the gateway")
    page.goto(f"/terminators/{terminator_id}")
    with screens.expecting("the terminator's page showing its gateway"):
        expect(page.locator("main table").first).to_contain_text(str(VENDOR_PORT))
    return terminator_id


def create_plan(page: Page, screens: Screens) -> int:
    """A least-cost routing plan hunting browser-out alone; its id."""
    new_record(page, screens, "routing_plans")
    page.get_by_label("Name", exact=True).fill("Browser plan")
    page.get_by_label("Strategy", exact=True).select_option("least_cost")
    page.get_by_label("Hunt-stop codes", exact=True).fill("404, 486, 487")
    save_form(page, screens, "the routing plan")
    plan_id = record_id(page, "routing_plans")
    page.get_by_role("link", name="Add a terminator").click()
    with screens.expecting("the plan entry form, its plan chosen"):
        expect(page.get_by_label("Routing plan", exact=True)).to_have_value(str(plan_id))
    page.get_by_label("Terminator", exact=True).select_option(label="browser-out")
    save_form(page, screens, "the plan entry")  # an entry lives on its plan's page: back there
    with screens.expecting("the plan's page listing its terminator"):
        expect(page).to_have_url(re.compile(rf"/routing_plans/{plan_id}$"))
        expect(page.locator("main table").first).to_contain_text("browser-out")
    screens.shot("routing_plan")
    return plan_id


def companies_list(page: Page, screens: Screens) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Companies").click()
    with screens.expecting("the companies list"):
        expect(page.locator("main table")).to_contain_text("Browser Telecom")
        expect(page.locator("main table")).to_contain_text("Browser Carrier")
    screens.shot("companies")


def publish_from_header(page: Page, screens: Screens) -> int:
    """The header's Publish button (shown while the catalog changed since): the live version."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    status = page.locator("#snapshot-status")
    with screens.expecting("the header's Publish button"):
        expect(status).to_contain_text("catalog changed since")
    status.get_by_role("button", name="Publish").click()
    with screens.expecting("publishing from the header"):
        expect(status).to_contain_text(re.compile(r"v\d+ is live"))
    return int(re.search(r"v(\d+) is live", status.inner_text()).group(1))


def simulate(page: Page, screens: Screens, version: int) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Simulator").click()
    page.get_by_label("Source IP").fill(DEVICE_IP)
    page.get_by_label("Number").fill(NUMBER)
    page.get_by_role("button", name="Simulate").click()
    summary, vendors = page.locator("dl.summary"), page.locator("main table tbody tr")
    with screens.expecting("the simulator's answer"):
        expect(summary).to_contain_text("routed")
        expect(summary).to_contain_text("browser-in")
        expect(summary).to_contain_text(f"v{version}")
        expect(summary).to_contain_text("44 @ 0.015")
        expect(vendors).to_have_count(1)
        expect(vendors.first).to_contain_text("browser-out")
        expect(vendors.first).to_contain_text(f"127.0.0.1:{VENDOR_PORT}")
    screens.shot("simulator")


def report(page: Page, screens: Screens) -> None:
    """The reports page by customer (the default), from the rollups the call's CDR fed: the
    customer's row and the server-rendered SVG chart."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    with screens.expecting("the customer report and its chart"):
        expect(page.locator("main table")).to_contain_text("Browser Telecom")
        expect(page.locator("figure.chart svg")).to_have_count(1)
    screens.shot("reports")


def find_cdr(page: Page, screens: Screens, cdr: dict) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="CDRs").click()
    # typed before htmx has bound the box (a busy machine), the search would never run
    page.wait_for_url(re.compile(r"/cdrs$"))
    page.wait_for_load_state("load")
    page.get_by_role("searchbox").fill(NUMBER)  # HTMX runs the search as one types
    row = page.locator("main table tbody tr", has_text=cdr["call_id"])
    with screens.expecting("the call in the CDRs"):
        expect(page).to_have_url(re.compile(rf"q={NUMBER}"))  # the search ran and was pushed
        expect(row).to_have_count(1)
        for text in ("browser-in", "browser-out", NUMBER, "200", money(cdr["customer_price"])):
            expect(row).to_contain_text(text)
    screens.shot("cdrs")


def test_an_operator_sets_up_a_customer_and_a_vendor_publishes_and_finds_the_call(
    platform, admin, page
):
    conn = platform.conn
    c.load(conn)  # the e2e catalog: its LCR plan, the vendors' decks
    conn.execute(
        INSERT_USER,
        {"username": USERNAME, "password_hash": hash_password(PASSWORD), "role": "operator"},
    )
    vendor = platform.vendor("browser", VENDOR_PORT)
    shots = artifacts_dir()
    for name in (*PAGES, "failure"):
        (shots / f"{name}.png").unlink(missing_ok=True)
    screens = Screens(page, shots)

    log_in(page, screens)
    terminator_id = create_vendor(page, screens)
    create_plan(page, screens)
    originator_id = create_customer(page, screens)
    companies_list(page, screens)

    version = publish_from_header(page, screens)
    platform.kamailio.wait_installed(version)  # this worker's Kamailio routes with it now
    page.reload()
    with screens.expecting("the dashboard after the publication"):
        expect(page.locator("#snapshot")).to_contain_text(f"v{version}")
        expect(page.locator("#live")).not_to_contain_text("Loading")
        expect(page.locator("main")).to_contain_text(USERNAME)  # in the recent publications
    screens.shot("dashboard")

    simulate(page, screens, version)

    result = platform.call(NUMBER, DEVICE_IP, hold_ms=500)
    assert result.ok, result.explain()
    assert vendor.invites() == 1, f"the call did not reach browser-out\n{result.explain()}"
    (cdr,) = platform.rate_cdrs(expected=1)
    assert (cdr["originator_id"], cdr["terminator_id"]) == (originator_id, terminator_id), cdr
    assert cdr["customer_price"] == Decimal("0.0150"), cdr  # one 60 s block at 0.0150 a minute
    find_cdr(page, screens, cdr)
    report(page, screens)

    for name in PAGES:
        path = shots / f"{name}.png"
        assert path.is_file() and path.stat().st_size > 0, f"no screenshot {path}"
    assert not page.problems, "the pages had script or CSP errors:\n" + "\n".join(page.problems)
