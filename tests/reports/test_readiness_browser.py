"""The readiness report in headless Chromium: a compliance officer opens it from the admin,
follows a gap to its record, prints the export to PDF and downloads the signed JSON, which
verifies offline."""

import json
import re

import pytest

from ledger import verify
from ledger.keys import signer
from tests.browser import ARTIFACTS
from tests.erasure.test_admin_browser import sign_in, staff
from tests.reports.test_readiness import seeded  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_officer_reads_prints_and_downloads_the_signed_report(
    seeded,  # noqa: F811
    live_server,
    browser,
):
    context, page = sign_in(browser, live_server, staff("compliance_officer"))
    page.click("#lup-readiness")  # from the dashboard
    page.wait_for_selector("#section-strictest_market")
    summary = page.locator("table.readiness-summary").inner_text()
    assert "Evaluations in the users' languages\t1" in summary
    gap = page.locator("#section-evaluations li[data-code='eval_language_gap']")
    assert "KH" in gap.inner_text() and "km" in gap.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "readiness-admin.png", full_page=True)

    # A gap's link opens the record it names.
    page.locator("#section-data li[data-code='no_location'] a").click()
    page.wait_for_selector("#content")
    assert f"/admin/lineage/datasetversion/{seeded.unplaced.pk}/change/" in page.url

    page.goto(f"{live_server.url}/admin/readiness/")
    page.click("#print-link")
    page.wait_for_selector("h1")
    assert page.locator("section.readiness-section").count() == 7
    page.screenshot(path=ARTIFACTS / "readiness-print.png", full_page=True)
    pdf = page.pdf(path=str(ARTIFACTS / "readiness.pdf"), format="A4")
    assert pdf.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) >= 2  # seven sections, A4

    page.goto(f"{live_server.url}/admin/readiness/")
    with page.expect_download() as download:
        page.click("#signed-link")
    envelope = json.loads(download.value.path().read_text())
    key = verify.parse_verifier_key(signer().verifier_key)
    report = verify.verify_document(envelope, key, "report")["report"]
    assert report["gaps"]["evaluations"] == 1
    assert not [email for email in seeded.emails if email.lower() in json.dumps(report).lower()]
    context.close()
