"""The admin's rate-deck import (admin/web/ratedeck_import.py, admin/ratedecks/jobs.py): upload a
deck on a tariff's page, poll the job, browse and download the diff, apply it through the CLI's
``store.apply`` — through the real app, PostgreSQL, Redis, sessions and CSRF."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from dataclasses import asdict
from decimal import Decimal

import httpx
import psycopg
import pytest
from litestar.testing import TestClient

from admin.ratedecks import jobs
from admin.ratedecks.choices import DIFF_COLUMNS
from admin.staleness import staleness
from tests.integration.web_conftest import create_user, csrf_token, log_in

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("demo_catalog")]

# Alpha Carrier USD (demo): 1 0.0050, 44 0.0100, 447 0.0300, 4420 0.0080, 49 0.0120, 4915 0.0500
ALPHA_DECK = (
    b"prefix,destination,rate\n"
    b"1,USA/Canada,0.0050\n"
    b"44,United Kingdom,0.0110\n"
    b"447,United Kingdom - Mobile,0.0250\n"
    b"4420,United Kingdom - London,0.0080\n"
    b"49,Germany,0.0120\n"
    b"33,France,0.0140\n"
)  # 4915 left out


def tariff_id(conn: psycopg.Connection, name: str) -> int:
    return conn.execute("SELECT id FROM tariffs WHERE name = %s", (name,)).fetchone()[0]


def upload(
    client: TestClient, tariff: int, content: bytes, name: str = "deck.csv", **fields: str
) -> httpx.Response:
    form = f"/tariffs/{tariff}/deck-import"
    return client.post(
        form,
        data={"_csrf_token": csrf_token(client, form), **fields},
        files={"deck": (name, content, "text/csv")},
        follow_redirects=False,
    )


def started(client: TestClient, tariff: int, content: bytes, **fields: str) -> str:
    """The job's page, once its diff is done (or it failed)."""
    response = upload(client, tariff, content, **fields)
    assert response.status_code == 303, response.text
    job = response.headers["location"]
    assert re.fullmatch(rf"/tariffs/{tariff}/deck-import/[0-9a-f]{{32}}", job)
    wait(client, job)
    return job


def wait(client: TestClient, job: str, timeout: float = 60) -> str:
    """Poll the progress fragment as the page does until the job is no longer running."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(job + "/status")
        assert status.status_code == 200, status.text
        phase = re.search(r'data-phase="(\w+)"', status.text).group(1)
        if phase not in ("reading", "validating", "diffing", "applying"):
            return phase
        assert time.monotonic() < deadline, f"job still {phase}"
        time.sleep(0.1)


def phase_of(client: TestClient, job: str) -> str:
    return re.search(r'data-phase="(\w+)"', client.get(job + "/status").text).group(1)


def counts(page: str) -> dict[str, int]:
    found = re.findall(r'data-count="(\w+)"><span class="figure">(\d+)</span>', page)
    return {kind: int(n) for kind, n in found}


def shown_prefixes(page: str) -> list[str]:
    section = page[page.index('id="deck-changes"') :]
    return re.findall(r"<tr>\s*<td>(\d+)</td>", section)


def apply(client: TestClient, job: str) -> httpx.Response:
    token = csrf_token(client, job)
    return client.post(job + "/apply", data={"_csrf_token": token}, follow_redirects=False)


def rates_now(conn: psycopg.Connection, tariff: int) -> dict[str, Decimal]:
    rows = conn.execute(
        "SELECT prefix, rate FROM rates WHERE tariff_id = %s AND effective_from <= now()"
        " AND (effective_to IS NULL OR effective_to > now())",
        (tariff,),
    ).fetchall()
    return {prefix: rate for prefix, rate in rows}


def import_audits(conn: psycopg.Connection, tariff: int) -> list[tuple]:
    return conn.execute(
        "SELECT username, request_id <> '', after->'counts' FROM audit_log"
        " WHERE entity = 'tariff' AND entity_id = %s AND action = 'import_rates' ORDER BY id",
        (str(tariff),),
    ).fetchall()


def test_a_deck_is_diffed_filtered_applied_and_then_unchanged(logged_in, conn):
    alpha = tariff_id(conn, "Alpha Carrier USD")
    page = logged_in.get(f"/tariffs/{alpha}").text
    assert f'href="/tariffs/{alpha}/deck-import"' in page and "Import a rate deck" in page
    form = logged_in.get(f"/tariffs/{alpha}/deck-import").text
    assert 'name="omitted"' in form and 'value="close"' in form and 'value="keep"' in form
    assert 'value="syncswitch"' in form  # the presets are choices
    revision = staleness(conn).revision

    job = started(logged_in, alpha, ALPHA_DECK, omitted="close")
    assert phase_of(logged_in, job) == "ready"
    page = logged_in.get(job).text
    assert counts(page) == {
        "new": 1, "increased": 1, "decreased": 1, "changed": 0, "unchanged": 3, "closed": 1,
    }  # fmt: skip
    assert sorted(shown_prefixes(page)) == ["33", "44", "447", "4915"]
    assert "Apply the deck" in page
    # the filters, as the page's HTMX form sends them: the fragment only
    fragment = logged_in.get(
        job,
        params={"change": "increased"},
        headers={"HX-Request": "true", "HX-Target": "deck-changes"},
    ).text
    assert fragment.lstrip().startswith("<section") and "<html" not in fragment
    assert shown_prefixes(fragment) == ["44"]
    assert sorted(shown_prefixes(logged_in.get(job, params={"q": "44"}).text)) == ["44", "447"]
    assert shown_prefixes(logged_in.get(job, params={"change": "closed", "q": "49"}).text) == [
        "4915"
    ]
    diff = logged_in.get(job + "/diff.csv")
    assert diff.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(diff.text)))
    assert tuple(lines[0]) == DIFF_COLUMNS
    by_prefix = {line[0]: line for line in lines[1:]}
    assert by_prefix["44"][1:2] + by_prefix["44"][4:6] == ["increased", "0.01", "0.011"]
    assert by_prefix["4915"][1] == "closed" and set(by_prefix) == {"33", "44", "447", "4915"}
    assert rates_now(conn, alpha)["44"] == Decimal("0.01")  # nothing written yet
    assert import_audits(conn, alpha) == []

    applied = apply(logged_in, job)
    assert (applied.status_code, applied.headers["location"]) == (303, job)
    assert wait(logged_in, job) == "applied"
    page = logged_in.get(job).text
    assert "Applied at" in page and "publish it" in page and "Apply the deck" not in page
    now = rates_now(conn, alpha)
    assert now["44"] == Decimal("0.011") and now["447"] == Decimal("0.025")
    assert now["33"] == Decimal("0.014") and "4915" not in now and now["1"] == Decimal("0.005")
    [(who, with_request, audited)] = import_audits(conn, alpha)
    assert (who, with_request) == ("olga", True)
    assert audited == {"new": 1, "closed": 1, "increased": 1, "decreased": 1, "unchanged": 3}
    state = staleness(conn)
    assert state.stale and state.revision > revision
    assert apply(logged_in, job).status_code == 303  # applying twice does nothing more
    assert len(import_audits(conn, alpha)) == 1

    again = started(logged_in, alpha, ALPHA_DECK, omitted="close")
    page = logged_in.get(again).text
    assert counts(page)["unchanged"] == 6 and sum(counts(page).values()) == 6
    assert "Nothing to apply" in page and "Apply the deck" not in page


def test_the_progress_fragment_polls_while_running_and_reloads_when_done(logged_in, conn):
    alpha = tariff_id(conn, "Alpha Carrier USD")
    job = jobs.Job(
        id="0" * 32, tariff_id=alpha, tariff="Alpha Carrier USD", currency="USD",
        file_name="big.csv", size=10, mapping="", source="detected from the header",
        layout=None, omitted="", close_at="", by="olga", phase="validating",
        rows_done=20_000, rows_total=80_000,
    )  # fmt: skip
    redis = jobs.client(logged_in.app.state.settings.redis_url)
    jobs.save(redis, job)
    path = f"/tariffs/{alpha}/deck-import/{job.id}"
    status = logged_in.get(path + "/status", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 500ms"' in status.text and f'hx-get="{path}/status"' in status.text
    assert '<progress max="100" value="25">' in status.text and "20,000" in status.text
    assert 'hx-trigger="every 500ms"' in logged_in.get(path).text  # the page starts polling
    key = jobs.KEY_PREFIX + job.id  # a job nobody has heard from for long: its process went
    redis.set(key, json.dumps(asdict(job) | {"updated_at": time.time() - 3600}))
    gone = logged_in.get(path + "/status", headers={"HX-Request": "true"})
    assert gone.headers.get("hx-refresh") == "true"
    assert "no news from this job" in logged_in.get(path).text
    job.phase = "failed"
    job.message = "done"
    jobs.save(redis, job)
    done = logged_in.get(path + "/status", headers={"HX-Request": "true"})
    assert done.headers.get("hx-refresh") == "true"  # the page reloads to show the outcome
    assert "every 500ms" not in logged_in.get(path).text
    assert logged_in.get(f"/tariffs/{alpha + 1}/deck-import/{job.id}").status_code == 404
    assert logged_in.get(f"/tariffs/{alpha}/deck-import/nope").status_code == 404


def test_a_deck_with_row_errors_shows_them_and_writes_nothing(logged_in, conn):
    alpha = tariff_id(conn, "Alpha Carrier USD")
    before = rates_now(conn, alpha)
    broken = b"prefix,destination,rate\n44,United Kingdom,0.0110\n4x9,Germany,0.0120\n1,USA,abc\n"
    job = started(logged_in, alpha, broken, omitted="keep")
    assert phase_of(logged_in, job) == "failed"
    page = logged_in.get(job).text
    assert "2 error(s): nothing can be applied" in page
    assert "row 3, prefix: " in page and "row 4, rate: " in page
    assert "Apply the deck" not in page and "/apply" not in page
    assert rates_now(conn, alpha) == before and import_audits(conn, alpha) == []
    refused = apply(logged_in, job)  # nothing to apply: back to the page, nothing written
    assert refused.status_code == 303 and import_audits(conn, alpha) == []


def test_a_deck_leaving_codes_out_needs_the_choice(logged_in, conn):
    alpha = tariff_id(conn, "Alpha Carrier USD")
    job = started(logged_in, alpha, ALPHA_DECK)
    assert phase_of(logged_in, job) == "failed"
    assert "choose what becomes of them" in logged_in.get(job).text


def test_a_bad_upload_is_the_form_again_with_the_reason(logged_in, conn):
    alpha = tariff_id(conn, "Alpha Carrier USD")
    form = f"/tariffs/{alpha}/deck-import"
    token = csrf_token(logged_in, form)
    no_file = logged_in.post(form, data={"_csrf_token": token, "omitted": "keep"})
    assert no_file.status_code == 400 and "choose the deck" in no_file.text
    assert 'value="keep" selected' in no_file.text  # the choices kept
    pdf = upload(logged_in, alpha, b"%PDF-1.4", name="deck.pdf")
    assert pdf.status_code == 400 and "a deck is a CSV or a workbook" in pdf.text
    empty = upload(logged_in, alpha, b"", name="deck.csv")
    assert empty.status_code == 400 and "deck.csv is empty" in empty.text
    keep_at = upload(logged_in, alpha, ALPHA_DECK, omitted="keep", close_at="2030-01-01")
    assert keep_at.status_code == 400 and "close at goes with omitted codes close" in keep_at.text
    bad_at = upload(logged_in, alpha, ALPHA_DECK, omitted="close", close_at="soon")
    assert bad_at.status_code == 400 and "an ISO 8601 date or time" in bad_at.text
    mapping = upload(logged_in, alpha, ALPHA_DECK, mapping="nobody-saved-this")
    assert mapping.status_code == 400 and "no saved mapping named" in mapping.text
    assert logged_in.get("/tariffs/999999/deck-import").status_code == 404


def test_a_notice_period_refusal_is_shown_and_nothing_is_written(logged_in, conn):
    acme = tariff_id(conn, "Acme Telecom USD")  # a customer's, Acme owed 7 days for increases
    conn.execute(
        "INSERT INTO company_notice_periods (company_id, increase_days)"
        " SELECT id, 7 FROM companies WHERE name = 'Acme Telecom'"
    )
    conn.commit()
    before = rates_now(conn, acme)
    deck = b"prefix,destination,rate\n44,United Kingdom,0.0200\n"
    job = started(logged_in, acme, deck, omitted="keep")
    assert phase_of(logged_in, job) == "ready"
    assert counts(logged_in.get(job).text)["increased"] == 1
    assert apply(logged_in, job).status_code == 303
    assert wait(logged_in, job) == "ready"
    page = logged_in.get(job).text
    assert "Not applied:" in page and "notice" in page and "effective date of" in page
    assert rates_now(conn, acme) == before and import_audits(conn, acme) == []


def test_a_job_whose_tariff_changed_refuses_and_re_runs(logged_in, conn):
    alpha = tariff_id(conn, "Alpha Carrier USD")
    job = started(logged_in, alpha, ALPHA_DECK, omitted="keep")
    conn.execute("UPDATE rates SET rate = 0.0101 WHERE tariff_id = %s AND prefix = '44'", (alpha,))
    conn.commit()  # someone else changed the tariff after the diff was made
    assert apply(logged_in, job).status_code == 303
    assert wait(logged_in, job) == "ready"
    page = logged_in.get(job).text
    assert "the tariff changed since this diff" in page and "re-run" in page
    assert "Apply the deck" not in page and "Re-run the import" in page
    assert rates_now(conn, alpha)["44"] == Decimal("0.0101") and import_audits(conn, alpha) == []
    rerun = logged_in.post(
        job + "/rerun", data={"_csrf_token": csrf_token(logged_in, job)}, follow_redirects=False
    )
    assert rerun.status_code == 303 and rerun.headers["location"] != job
    again = rerun.headers["location"]
    assert wait(logged_in, again) == "ready"
    assert "Apply the deck" in logged_in.get(again).text
    assert apply(logged_in, again).status_code == 303 and wait(logged_in, again) == "applied"
    assert rates_now(conn, alpha)["44"] == Decimal("0.011")


def test_read_only_users_see_no_button_and_are_refused(web_client, conn):
    alpha = tariff_id(conn, "Alpha Carrier USD")
    create_user(conn, "olga", role="operator")
    assert log_in(web_client, "olga").status_code == 303
    job = started(web_client, alpha, ALPHA_DECK, omitted="keep")
    web_client.post("/logout", data={"_csrf_token": csrf_token(web_client, "/")})
    web_client.cookies.clear()
    assert log_in(web_client, create_user(conn, "rita", role="read-only")).status_code == 303
    page = web_client.get(f"/tariffs/{alpha}").text
    assert "Import a rate deck" not in page
    assert web_client.get(f"/tariffs/{alpha}/deck-import").status_code == 403
    token = csrf_token(web_client, "/")
    posted = web_client.post(
        f"/tariffs/{alpha}/deck-import",
        data={"_csrf_token": token},
        files={"deck": ("deck.csv", ALPHA_DECK, "text/csv")},
    )
    assert posted.status_code == 403
    seen = web_client.get(job)  # reading the diff is a read
    assert seen.status_code == 200 and "Apply the deck" not in seen.text
    for action in ("apply", "rerun"):
        refused = web_client.post(f"{job}/{action}", data={"_csrf_token": token})
        assert refused.status_code == 403, action
        assert "catalog.write is not allowed for the role read-only" in refused.text
    assert import_audits(conn, alpha) == []
    web_client.cookies.clear()
    anonymous = web_client.get(job, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_a_workbook_deck_is_read_like_the_cli_reads_it(logged_in, conn):
    from openpyxl import Workbook

    alpha = tariff_id(conn, "Alpha Carrier USD")
    book = Workbook()
    sheet = book.active
    sheet.append(["Dial Codes", "Destination", "Price"])
    sheet.append(["44", "United Kingdom", 0.0095])
    sheet.append(["3531", "Ireland - Dublin", "0.0075"])
    out = io.BytesIO()
    book.save(out)
    response = upload(logged_in, alpha, out.getvalue(), name="vendor deck.xlsx", omitted="keep")
    assert response.status_code == 303
    job = response.headers["location"]
    assert wait(logged_in, job) == "ready"
    page = logged_in.get(job).text
    assert counts(page)["decreased"] == 1 and counts(page)["new"] == 1
    assert "vendor deck.xlsx" in page and "detected from the header" in page
    assert apply(logged_in, job).status_code == 303 and wait(logged_in, job) == "applied"
    now = rates_now(conn, alpha)
    assert now["44"] == Decimal("0.0095") and now["3531"] == Decimal("0.0075")
    assert now["447"] == Decimal("0.03")  # kept
