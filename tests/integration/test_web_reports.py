"""Report pages and API with CDRs rated by the real rater: the right ASR, ACD and margin by
customer, vendor and destination, the loss-making destination first on the margin page, charts
that are SVG, exports, and a 400 naming the parameter for bad input (issue 10)."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from decimal import Decimal as D

import pytest

from admin.rater import Rater
from admin.web.crud import XLSX
from tests.integration.test_rater import T0, event, send

pytestmark = pytest.mark.integration

DAY = "since=2026-05-28&until=2026-05-29"  # T0 is 2026-05-28 20:26:40 UTC
SVG = "{http://www.w3.org/2000/svg}"


def _id(conn, statement, params):
    return conn.execute(statement + " RETURNING id", params).fetchone()[0]


@pytest.fixture
def traffic(conn, autocommit_conn, redis_client):
    """Acme calls UK Mobile (447, at a profit) through Alpha and Bravo, and France (33, at a
    loss) through Bravo: answered, busy, failed over, as the rater prices them."""
    company = (
        "INSERT INTO companies (name, is_customer, is_vendor, currency) VALUES (%s, %s, %s, 'USD')"
    )
    tariff = "INSERT INTO tariffs (name, currency) VALUES (%s, 'USD')"
    rate = (
        "INSERT INTO rates (tariff_id, prefix, destination, rate, effective_from)"
        " VALUES (%s, %s, %s, %s, '2026-01-01')"
    )
    trunk = "INSERT INTO {} (company_id, name, tariff_id) VALUES (%s, %s, %s)"
    acme = _id(conn, company, ("Acme", True, False))
    alpha = _id(conn, company, ("Alpha", False, True))
    bravo = _id(conn, company, ("Bravo", False, True))
    selling = _id(conn, tariff, ("Acme USD",))
    buying = _id(conn, tariff, ("Vendors USD",))
    conn.execute(rate, (selling, "447", "UK Mobile", "0.04"))
    conn.execute(rate, (selling, "33", "France", "0.01"))
    conn.execute(rate, (buying, "447", "UK Mobile", "0.025"))
    originator = _id(conn, trunk.format("originators"), (acme, "acme-1", selling))
    to_alpha = _id(conn, trunk.format("terminators"), (alpha, "alpha-1", buying))
    to_bravo = _id(conn, trunk.format("terminators"), (bravo, "bravo-1", buying))

    def call(call_id, attempt, code, answered, ended, terminator, **extra):
        return event(
            call_id, attempt, code, answered, ended, originator_id=originator,
            terminator_id=terminator, customer_tariff_id=selling, vendor_tariff_id=buying,
            **extra,
        )  # fmt: skip

    france = {
        "customer_prefix": "33", "customer_rate": "0.0100", "customer_initial_increment": 1,
        "customer_next_increment": 1, "customer_connect_fee": "0", "vendor_prefix": "33",
        "vendor_rate": "0.0200",
    }  # fmt: skip
    rater = Rater(conn=autocommit_conn, redis=redis_client, consumer="r", log=lambda m: None)
    rater.setup()
    send(
        rater.bus,
        call("u1", 1, 200, T0 + 2_000, T0 + 63_500, to_alpha),  # 61.5 s: 0.045 / 0.025833
        call("u2", 1, 486, None, T0 + 3_000, to_alpha),
        call("u3", 1, 503, None, T0 + 800, to_bravo),
        call("u3", 2, 200, T0 + 2_000, T0 + 32_000, to_alpha),  # 30 s: 0.021 / 0.0125
        call("f1", 1, 200, T0 + 2_000, T0 + 62_000, to_bravo, **france),  # 60 s: 0.01 / 0.02
    )
    assert rater.run_once(block_ms=100).written == 5
    return {"acme": acme, "alpha": alpha, "bravo": bravo}


def rows_by_label(client, query):
    response = client.get(f"/api/v1/reports?{query}&{DAY}")
    assert response.status_code == 200, response.text
    return {row["label"]: row for row in response.json()["rows"]}


def test_the_api_gives_asr_acd_and_margin_by_customer_vendor_and_destination(logged_in, traffic):
    acme = rows_by_label(logged_in, "dimension=customer")["Acme"]
    assert (acme["attempts"], acme["calls"], acme["answered"]) == (5, 4, 3)
    assert (acme["asr"], acme["acd"], acme["ner"]) == ("60.00", "50.5", "80.00")
    assert D(acme["revenue"]) == D("0.076") and D(acme["cost"]) == D("0.058333")
    assert D(acme["margin"]) == D("0.017667")
    assert acme["key"] == str(traffic["acme"])

    vendors = rows_by_label(logged_in, "dimension=vendor")
    assert (vendors["Alpha"]["attempts"], vendors["Alpha"]["asr"]) == (3, "66.67")
    assert vendors["Alpha"]["acd"] == "45.8"  # (61.5 + 30) / 2
    assert vendors["Alpha"]["pdd"] == "2.323"  # (1.99 + 2.99 + 1.99) / 3, to the final reply
    assert (vendors["Bravo"]["asr"], vendors["Bravo"]["acd"]) == ("50.00", "60.0")

    destinations = rows_by_label(logged_in, "dimension=destination&sort=margin")
    assert list(destinations) == ["France", "UK Mobile"]  # the loss first
    assert D(destinations["France"]["margin"]) == D("-0.01")
    assert D(destinations["UK Mobile"]["margin"]) == D("0.027667")

    only_alpha = rows_by_label(logged_in, f"dimension=destination&vendor={traffic['alpha']}")
    assert list(only_alpha) == ["UK Mobile"] and only_alpha["UK Mobile"]["attempts"] == 3

    hours = logged_in.get(f"/api/v1/reports?dimension=hour&{DAY}").json()
    assert [row["key"] for row in hours["rows"]] == ["2026-05-28T20:00:00Z"]
    assert hours["source"] == "cdr_rollup_hour" and hours["total"] == 1


def svg_of(html: str) -> ET.Element:
    match = re.search(r"<svg .*?</svg>", html, re.DOTALL)
    assert match, "no chart on the page"
    return ET.fromstring(match.group(0))


def test_the_margin_page_shows_the_losses_first_with_a_bar_chart(logged_in, traffic):
    response = logged_in.get(f"/reports/margin?{DAY}")
    assert response.status_code == 200, response.text
    html = response.text
    assert html.index("France") < html.index("UK Mobile")
    assert "-0.0100" in html
    chart = svg_of(html)
    bars = chart.findall(f"{SVG}rect")
    assert len(bars) == 2
    assert bars[0].get("fill") == "#c0392b"  # the loss, in red, left of the zero line
    assert "Margin by destination" in chart.find(f"{SVG}title").text


def test_traffic_pages_per_customer_and_vendor_chart_time(logged_in, traffic):
    page = logged_in.get(f"/reports/customers/{traffic['acme']}?dimension=hour&{DAY}")
    assert page.status_code == 200, page.text
    assert "Traffic of Acme" in page.text and "UK Mobile" in page.text and "Alpha" in page.text
    chart = svg_of(page.text)
    assert chart.findall(f"{SVG}circle") or chart.findall(f"{SVG}polyline")
    vendor = logged_in.get(f"/reports/vendors/{traffic['alpha']}?chart=asr&{DAY}")
    assert vendor.status_code == 200 and "Traffic of Alpha" in vendor.text
    assert "66.67" in vendor.text
    assert logged_in.get(f"/reports/customers/{traffic['alpha']}").status_code == 404
    assert logged_in.get("/reports/vendors/999999").status_code == 404


def test_the_report_page_sorts_and_exports(logged_in, traffic):
    page = logged_in.get(f"/reports?dimension=vendor&sort=-asr&{DAY}")
    assert page.status_code == 200, page.text
    assert page.text.index("Alpha") < page.text.index("Bravo")
    assert "sort=asr" in page.text  # the header link turns the order
    exported = logged_in.get(f"/reports.csv?dimension=vendor&sort=-asr&{DAY}")
    assert exported.status_code == 200
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0][:3] == ["Vendor", "Currency", "Attempts"]
    assert [row[0] for row in table[1:]] == ["Alpha", "Bravo"]
    sheet = logged_in.get(f"/reports.xlsx?dimension=customer&{DAY}")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith(XLSX)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("since=yesterday", "since"),
        ("since=2026-05-29&until=2026-05-28", "until"),
        ("since=2020-01-01&until=2026-01-01", "until"),
        ("dimension=planet", "dimension"),
        ("sort=weight", "sort"),
        ("limit=0", "limit"),
        ("customer=acme", "customer"),
        ("until=99999-01-01", "until"),
    ],
)
def test_a_malformed_parameter_is_a_400_naming_it(logged_in, query, parameter):
    for path in ("/api/v1/reports", "/reports", "/reports.csv"):
        response = logged_in.get(f"{path}?{query}")
        assert response.status_code == 400, (path, response.text)
        assert parameter in response.text, (path, response.text)
