"""The generic list pages: seeded rows, search, filters, HTMX fragments, pagination, tariffs."""

from __future__ import annotations

import re
from decimal import Decimal

import psycopg
import pytest
from litestar.testing import TestClient

from admin import catalog
from admin.catalog import RateRow

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("demo_catalog")]

HTMX = {"HX-Request": "true"}
_ROW_NAME = re.compile(r"<tr>\s*<td>(?:<a [^>]*>)?([^<]+)")


def first_cells(html: str) -> list[str]:
    """The first cell of each body row: the names, in the order shown."""
    return _ROW_NAME.findall(html.split("<tbody>", 1)[1])


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/originators", ["acme", "globex"]),
        ("/terminators", ["alpha", "bravo", "charlie"]),
        (
            "/tariffs",
            [
                "Acme Telecom USD",
                "Alpha Carrier USD",
                "Bravo Networks USD",
                "Charlie Telecom USD",
                "Globex Voice USD",
            ],
        ),
    ],
)
def test_lists_show_the_seeded_rows(logged_in: TestClient, path: str, names: list[str]) -> None:
    response = logged_in.get(path)
    assert response.status_code == 200
    assert "<html" in response.text
    assert first_cells(response.text) == names
    assert f"1–{len(names)} of {len(names)}" in response.text


def test_list_rows_show_related_names_and_links(logged_in: TestClient) -> None:
    originators = logged_in.get("/originators").text
    assert "Acme Telecom" in originators
    assert "127.0.0.2/32" in originators
    assert "Default LCR" in originators
    assert re.search(r'<a href="/tariffs/\d+">Acme Telecom USD</a>', originators)
    assert "127.0.0.1:5081/udp" in logged_in.get("/terminators").text


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("/originators?q=GLOB", ["globex"]),  # name, any case
        ("/originators?q=127.0.0.2", ["acme"]),  # device network
        ("/terminators?q=networks", ["bravo"]),  # company
        ("/tariffs?q=customer", ["Acme Telecom USD", "Globex Voice USD"]),  # description
        ("/tariffs?q=%25", []),  # a literal "%", not a wildcard
        ("/tariffs?q=no+such+thing", []),
    ],
)
def test_search_narrows_the_list(logged_in: TestClient, path: str, names: list[str]) -> None:
    html = logged_in.get(path).text
    assert first_cells(html) == names
    assert ("match the search" in html) == (not names)


def test_choice_filter_narrows_the_list(logged_in: TestClient, conn: psycopg.Connection) -> None:
    conn.execute("UPDATE terminators SET enabled = false WHERE name = 'bravo'")
    conn.commit()
    assert first_cells(logged_in.get("/terminators?enabled=no").text) == ["bravo"]
    assert first_cells(logged_in.get("/terminators?enabled=yes").text) == ["alpha", "charlie"]
    assert len(first_cells(logged_in.get("/terminators?enabled=any").text)) == 3
    assert logged_in.get("/terminators?enabled=maybe").status_code == 400


def test_htmx_request_gets_the_table_fragment_only(logged_in: TestClient) -> None:
    response = logged_in.get("/terminators?q=alpha", headers=HTMX)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert '<form class="filters"' not in response.text
    assert response.text.lstrip().startswith('<section id="terminators-listing"')
    assert first_cells(response.text) == ["alpha"]
    assert response.headers["vary"] == "HX-Request"


def test_htmx_history_restore_gets_the_whole_page(logged_in: TestClient) -> None:
    headers = {**HTMX, "HX-History-Restore-Request": "true"}
    assert "<html" in logged_in.get("/terminators", headers=headers).text


def test_pagination_walks_the_list(logged_in: TestClient) -> None:
    pages = [logged_in.get(f"/tariffs?per_page=2&page={n}").text for n in (1, 2, 3)]
    assert [first_cells(page) for page in pages] == [
        ["Acme Telecom USD", "Alpha Carrier USD"],
        ["Bravo Networks USD", "Charlie Telecom USD"],
        ["Globex Voice USD"],
    ]
    assert "3–4 of 5" in pages[1]
    assert "Page 2 of 3" in pages[1]
    assert 'href="/tariffs?per_page=2&amp;page=1" ' in pages[1]
    assert 'href="/tariffs?per_page=2&amp;page=3" ' in pages[1]
    assert 'rel="prev"' not in pages[0]
    assert 'rel="next"' not in pages[2]


def test_pager_links_keep_the_search_and_filters(logged_in: TestClient) -> None:
    html = logged_in.get("/tariffs?q=usd&per_page=2").text
    assert 'href="/tariffs?q=usd&amp;per_page=2&amp;page=2"' in html


def test_a_page_past_the_end_is_empty_but_tells_the_total(logged_in: TestClient) -> None:
    html = logged_in.get("/tariffs?per_page=2&page=9").text
    assert first_cells(html) == []
    assert "none of 5" in html


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=1000", "page=x"])
def test_bad_paging_is_a_400_page(logged_in: TestClient, query: str) -> None:
    response = logged_in.get(f"/tariffs?{query}")
    assert response.status_code == 400
    assert "<html" in response.text


def tariff_id(conn: psycopg.Connection, name: str) -> int:
    return conn.execute("SELECT id FROM tariffs WHERE name = %s", (name,)).fetchone()[0]


def test_tariff_page_shows_its_rates(logged_in: TestClient, conn: psycopg.Connection) -> None:
    html = logged_in.get(f"/tariffs/{tariff_id(conn, 'Alpha Carrier USD')}").text
    assert "<h1>Alpha Carrier USD</h1>" in html
    assert first_cells(html) == ["1", "44", "4420", "447", "49", "4915"]
    assert '<td class="num">0.0050</td>' in html  # numeric(18,8) 0.00500000, trimmed
    assert "2000-01-01 00:00 UTC" in html


def test_tariff_rates_search_by_prefix_and_page(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    tariff = tariff_id(conn, "Alpha Carrier USD")
    assert first_cells(logged_in.get(f"/tariffs/{tariff}?q=44").text) == ["44", "4420", "447"]
    assert first_cells(logged_in.get(f"/tariffs/{tariff}?q=mobile").text) == ["447", "4915"]
    fragment = logged_in.get(f"/tariffs/{tariff}?per_page=4&page=2", headers=HTMX).text
    assert "<html" not in fragment
    assert first_cells(fragment) == ["49", "4915"]
    assert "5–6 of 6" in fragment


def test_rates_keep_every_decimal_place(logged_in: TestClient, conn: psycopg.Connection) -> None:
    company = catalog.company(conn, "Precise Ltd", vendor=True)
    tariff = catalog.tariff(conn, "Precise", [RateRow("1", Decimal("0.00000001"))])
    catalog.terminator(conn, company, "precise", tariff, [("127.0.0.1", 5090, "udp")])
    conn.commit()
    assert '<td class="num">0.00000001</td>' in logged_in.get(f"/tariffs/{tariff}").text


def test_unknown_tariff_is_a_404_page(logged_in: TestClient) -> None:
    response = logged_in.get("/tariffs/999999")
    assert response.status_code == 404
    assert "no tariff 999999" in response.text


@pytest.mark.usefixtures("demo_catalog")
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["alpha", "bravo", "charlie"]),
        ("-name", ["charlie", "bravo", "alpha"]),
        ("-company", ["charlie", "bravo", "alpha"]),
    ],
)
def test_any_column_sorts_the_list_both_ways(logged_in, sort, expected):
    items = logged_in.get(f"/api/v1/terminators?sort={sort}").json()["items"]
    assert [item["name"] for item in items] == expected


@pytest.mark.usefixtures("demo_catalog")
def test_sorting_pages_stably_and_refuses_unknown_columns(logged_in):
    both = [logged_in.get(f"/api/v1/tariffs?sort=-currency&per_page=2&page={n}").json()
            for n in (1, 2, 3)]  # fmt: skip
    names = [item["name"] for page in both for item in page["items"]]
    assert len(names) == len(set(names)) == both[0]["total"]  # no row twice, none lost
    refused = logged_in.get("/api/v1/tariffs?sort=password_hash")
    assert refused.status_code == 400
    page = logged_in.get("/terminators?sort=-name").text
    assert "Name ▼" in page and 'href="/terminators?sort=name&amp;page=1"' in page


def test_a_list_of_millions_counts_to_its_cap_and_pages_on_past_it(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    """A tariff's rates count up to COUNT_CAP (the page costs its rows, not the deck) and
    say "N+"; the pages past the cap still come, each with a next link while rows remain."""
    from admin.web.listing import COUNT_CAP

    tariff = conn.execute("SELECT min(id) FROM tariffs").fetchone()[0]
    conn.execute(
        "INSERT INTO rates (tariff_id, prefix, rate, effective_from) "
        "SELECT %s, (9000000 + g)::text, 0.01, now() FROM generate_series(1, %s) g",
        (tariff, COUNT_CAP + 150),
    )
    first = logged_in.get(f"/api/v1/tariffs/{tariff}/rates?per_page=200").json()
    assert (first["total"], first["capped"]) == (COUNT_CAP, True)
    beyond = COUNT_CAP // 200 + 1  # the rows past the cap (and the demo's own)
    past = logged_in.get(f"/api/v1/tariffs/{tariff}/rates?per_page=200&page={beyond}").json()
    rows = conn.execute("SELECT count(*) FROM rates WHERE tariff_id = %s", (tariff,)).fetchone()[0]
    assert len(past["items"]) == rows - COUNT_CAP and past["capped"] is True
    html = logged_in.get(f"/tariffs/{tariff}?per_page=200&page={beyond - 1}").text  # the cap's
    assert f"of {COUNT_CAP}+" in html and 'rel="next"' in html
    small = conn.execute("SELECT max(id) FROM tariffs").fetchone()[0]
    exact = logged_in.get(f"/api/v1/tariffs/{small}/rates").json()
    assert exact["capped"] is False
    assert (
        exact["total"]
        == conn.execute("SELECT count(*) FROM rates WHERE tariff_id = %s", (small,)).fetchone()[0]
    )


def test_the_operator_chooses_the_columns_of_a_list_and_its_export(logged_in: TestClient) -> None:
    html = logged_in.get("/terminators?columns=name&columns=tariff").text
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert "Name" in head and "Tariff" in head and "Gateways" not in head
    assert 'value="gateways">' in html and 'value="name" checked' in html  # the chooser
    assert "columns=name%2Ctariff" in html  # kept by the sort and pager links
    exported = logged_in.get("/terminators.csv?columns=tariff,name").text.splitlines()
    assert exported[0] == "Name,Tariff"  # the entity's order, whatever the request's
    refused = logged_in.get("/terminators?columns=name,password_hash")
    assert refused.status_code == 400 and "columns: no column password_hash" in refused.text


def test_the_pager_links_the_first_last_and_nearby_pages(
    logged_in: TestClient, conn: psycopg.Connection
) -> None:
    tariff = conn.execute("SELECT min(id) FROM tariffs").fetchone()[0]
    conn.execute(
        "INSERT INTO rates (tariff_id, prefix, rate, effective_from) "
        "SELECT %s, (8000000 + g)::text, 0.01, now() FROM generate_series(1, 500) g",
        (tariff,),
    )
    html = logged_in.get(f"/tariffs/{tariff}?per_page=25&page=10").text
    pager = html.split('class="pages"', 1)[1].split("<span>Page", 1)[0]
    numbers = re.findall(r">(\d+)</a>", pager)
    rates = conn.execute("SELECT count(*) FROM rates WHERE tariff_id = %s", (tariff,))
    total = -(-rates.fetchone()[0] // 25)
    assert numbers == ["1", "8", "9", "10", "11", "12", str(total)]
    assert pager.count("…") == 2 and 'aria-current="page">10<' in pager
