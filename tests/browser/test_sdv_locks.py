"""The SDV worklist and the locks page in a real browser, on the demo cohort (issue 5)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser


def test_SDV_a_demo_monitor_marks_a_form_verified_and_sees_it_verified(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.MONITOR]
    login(page, live_server.base_url, account.email, account.password)
    page.get_by_role("link", name="SDV", exact=True).click()  # from the menu, as a person would
    expect(page).to_have_url(re.compile(r"/sdv/$"))
    worklist = page.locator("#sdv-worklist tbody tr")
    expect(worklist.first).to_have_attribute("data-state", re.compile("never|cleared"))

    page.get_by_label("Subject", exact=True).select_option("01-001")
    page.get_by_label("Form", exact=True).select_option(label="Demographics")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(worklist).to_have_count(1)
    expect(worklist.first).to_contain_text("Never verified")

    with page.expect_navigation():
        page.get_by_role("button", name="Verify Demographics of 01-001").click()
    expect(page.get_by_text("Marked 1 form source-data-verified.")).to_be_visible()
    expect(page.get_by_text("No forms in this list.")).to_be_visible()  # it left the "needs verification" list

    page.get_by_label("State", exact=True).select_option(label="All")
    page.get_by_label("Form", exact=True).select_option(label="All forms")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    row = page.locator("#sdv-worklist tbody tr[data-form=demographics]")
    expect(row).to_have_attribute("data-state", "verified")
    expect(row).to_contain_text(f"Verified by {account.full_name}")
    expect(worklist.filter(has_text="Never verified").first).to_be_visible()  # the subject's other forms
    screenshot(page, "sdv")


def test_LK01_a_demo_admin_freezes_a_subject_and_unlocks_it_with_a_reason(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.ADMIN]
    login(page, live_server.base_url, account.email, account.password)
    page.goto(f"{live_server.base_url}/locks/")
    expect(page.get_by_text("Nothing is frozen or locked.")).to_be_visible()

    page.get_by_label("Mode").select_option("freeze")
    page.get_by_label("Level").select_option("subject")
    page.get_by_label("Subject", exact=True).select_option("01-002")
    page.get_by_label("Reason", exact=True).fill("Ready for source-data verification")
    with page.expect_navigation():
        page.get_by_role("button", name="Freeze or lock").click()
    expect(page.get_by_text("Subject 01-002: now frozen.")).to_be_visible()
    active = page.locator("#active-locks tbody tr")
    expect(active).to_have_count(1)
    expect(active.first).to_contain_text("Frozen")
    expect(active.first).to_contain_text("Ready for source-data verification")
    screenshot(page, "locks")

    page.get_by_label("Reason for unlocking Subject 01-002").fill("SDV found a transcription error to correct")
    with page.expect_navigation():
        page.get_by_role("button", name="Unlock").click()
    expect(page.get_by_text("Nothing is frozen or locked.")).to_be_visible()
    lifted = page.locator("#lifted-locks tbody tr").first
    expect(lifted).to_contain_text("Subject 01-002")
    expect(lifted).to_contain_text(account.full_name)
    expect(lifted).to_contain_text("SDV found a transcription error to correct")
