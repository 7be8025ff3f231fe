"""The safety dashboard in a real browser, on the demo cohort (issue 5)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser


def test_a_demo_investigator_opens_the_safety_dashboard_on_the_demo_cohort(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.INVESTIGATOR]
    login(page, live_server.base_url, account.email, account.password)
    page.locator(".navbar").get_by_role("link", name="Safety", exact=True).click()  # from the menu, as a person would
    expect(page).to_have_url(re.compile(r"/safety/$"))
    expect(page.get_by_role("heading", name="Safety", exact=True)).to_be_visible()

    # The demo cohort: 12 subjects, 2 screen failures, 10 enrolled (one has since died, one withdrew).
    expect(page.locator("#enrolment-summary")).to_have_text(re.compile(r"10\s+enrolled of\s+12\s+planned"))
    expect(page.locator("#enrolment th:text-is('Follow up') + td")).to_have_text("8")
    # Its three SAEs, all reported to the sponsor: one late (01-009), none overdue now.
    saes = page.locator("#saes tbody tr")
    expect(saes).to_have_count(3)
    expect(saes.filter(has_text="01-009")).to_contain_text("submitted late")
    expect(page.locator("#saes tr.table-danger")).to_have_count(0)
    expect(page.locator("#saes-summary")).to_contain_text("No SAE has a report still to send.")
    # Six DLT candidates, none decided yet: their six subjects are listed, windows long closed; the other four
    # infused children have nothing left to decide and are only counted.
    expect(page.locator("#dlt-windows").get_by_text("awaiting confirmation")).to_have_count(6)
    expect(page.locator("#dlt-windows tbody tr")).to_have_count(6)
    expect(page.locator("#dlt-closed")).to_contain_text("Not listed: 4 infused subjects")
    # Twelve children are far from the cap of 50: every severe AE is shown, with no "showing 50 of" note.
    expect(page.locator("#severe-shown")).to_have_count(0)
    expect(page.locator("#episodes tbody tr").first).to_be_visible()

    screenshot(page, "safety")
