"""The exports page in a real browser, on the demo cohort (issue 6, AT-12)."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser

#: An export takes seconds, more on a loaded CI machine: wait for the download longer than for a page.
DOWNLOAD_TIMEOUT_MS = 120_000


def test_AT12_a_demo_statistician_downloads_tidy_data_as_a_zip(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.STATISTICIAN]
    login(page, live_server.base_url, account.email, account.password)
    page.locator("#shortcuts").get_by_role("link", name="Exports").click()  # the statistician's home page
    expect(page).to_have_url(re.compile(r"/exports/$"))
    expect(page.locator("#export-history")).to_contain_text("No exports yet.")
    expect(page.get_by_label("Identified data")).to_have_count(0)  # administrators only

    page.get_by_label(re.compile("^Tidy data")).check()
    page.get_by_label("Password", exact=True).fill(account.password)
    screenshot(page, "exports")
    with page.expect_download(timeout=DOWNLOAD_TIMEOUT_MS) as started:
        page.get_by_role("button", name="Export and download").click()
    download = started.value
    assert re.fullmatch(r"jk500_export_\d+\.zip", download.suggested_filename)

    with zipfile.ZipFile(download.path()) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["formats"] == ["tidy"] and manifest["requested_by"] == account.full_name
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        assert "tidy/subject.csv" in archive.namelist()

    page.reload()
    row = page.locator("#export-history tbody tr")
    expect(row).to_have_count(1)
    expect(row.first).to_contain_text("tidy")
    expect(row.first).to_contain_text("live data")
