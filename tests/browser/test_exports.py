"""The exports page in a real browser, on the demo cohort (issue 6, AT-12): ask, watch the job, download the ZIP."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser

#: An export takes seconds, more on a loaded CI machine: wait for the job longer than for a page.
JOB_TIMEOUT_MS = 180_000
#: Every format: several seconds of work on the demo cohort, so the job is still running when the page comes back.
FORMATS = ("Tidy data", "SDTM", "ADaM", "CDISC ODM", "Tables", "Plots", "Audit tables")


def test_AT12_a_demo_statistician_asks_for_an_export_watches_it_run_and_downloads_the_zip(
    page: Page, live_server: LiveServer
) -> None:
    refused_by_csp: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused_by_csp.append(message.text)

    page.on("console", note)
    account = live_server.logins[RoleCode.STATISTICIAN]
    login(page, live_server.base_url, account.email, account.password)
    page.locator("#shortcuts").get_by_role("link", name="Exports").click()  # the statistician's home page
    expect(page).to_have_url(re.compile(r"/exports/$"))
    expect(page.locator("#export-job-list")).to_contain_text("No export jobs yet.")
    expect(page.locator("#export-history")).to_contain_text("No exports yet.")
    expect(page.get_by_label("Identified data")).to_have_count(0)  # administrators only

    for name in FORMATS:
        page.get_by_label(re.compile(f"^{re.escape(name)}:")).check()
    page.get_by_label("Password", exact=True).fill(account.password)
    screenshot(page, "exports")
    with page.expect_navigation():
        page.get_by_role("button", name="Start the export").click()

    # Back on the page (POST/redirect/GET), the job is listed while the server works on it.
    expect(page).to_have_url(re.compile(r"/exports/$"))
    expect(page.get_by_text("Export asked for.")).to_be_visible()
    job = page.locator("#export-job-list tbody tr")
    expect(job).to_have_count(1)
    expect(job.locator(".export-job-state")).to_have_text(re.compile("^(Queued|Running)$"))
    expect(page.locator("#export-jobs-waiting")).to_be_visible()
    screenshot(page, "exports-running")

    # The list refreshes itself (no reload here) until the Download link appears.
    link = job.get_by_role("link", name="Download")
    expect(link).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(job.locator(".export-job-state")).to_have_text("Done")
    expect(page.locator("#export-jobs-waiting")).to_have_count(0)
    assert page.get_by_label("Password", exact=True).input_value() == "", "the page was not reloaded"
    screenshot(page, "exports-done")

    with page.expect_download() as started:
        link.click()
    download = started.value
    assert re.fullmatch(r"jk500_export_\d+\.zip", download.suggested_filename)
    path = download.path()
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    expect(job).to_contain_text(sha256)  # the page shows the ZIP's SHA-256: the file arrived whole
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["formats"] == ["tidy", "sdtm", "adam", "odm", "tables", "plots", "audit"]
        assert manifest["requested_by"] == account.full_name
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        assert "tidy/subject.csv" in archive.namelist()

    row = page.locator("#export-history tbody tr")  # refreshed with the jobs: no reload needed
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("tidy, sdtm, adam, odm, tables, plots, audit")
    expect(row.first).to_contain_text("live data")
    assert refused_by_csp == [], "the page's script runs under the Content-Security-Policy"
