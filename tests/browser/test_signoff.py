"""The investigator sign-off page in a real browser, on the demo cohort (issue 5, ES-01, ES-03)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser


def test_a_demo_investigator_signs_the_casebook_of_a_demo_subject(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.INVESTIGATOR]
    login(page, live_server.base_url, account.email, account.password)
    page.get_by_role("link", name="Sign-off", exact=True).click()  # from the menu, as a person would
    expect(page).to_have_url(re.compile(r"/signoff/$"))
    page.get_by_label("Subject").select_option("01-001")
    page.get_by_role("button", name="Filter").click()
    # The demo investigator confirmed 01-001's eligibility before the first dose (LK-03): signed and still valid.
    eligibility = page.locator("#signoff-eligibility_confirmed tbody tr", has_text="01-001")
    expect(eligibility).to_contain_text("eligible")
    expect(eligibility).to_contain_text(f"by {account.full_name}")
    expect(eligibility).to_contain_text("valid")
    casebook = page.locator("#signoff-casebook_reviewed tbody tr", has_text="01-001")
    expect(casebook).to_contain_text("Needs signing")
    casebook.get_by_role("link", name="Sign").click()

    # Before signing: what is signed, what the signature means, and who signs.
    expect(page.get_by_role("heading", name=re.compile("What you are signing: Subject 01-001"))).to_be_visible()
    expect(page.locator("#meaning-statement")).to_contain_text("reviewed this subject's complete casebook")
    expect(page.locator("#printed-name")).to_have_text(account.full_name)
    password = page.get_by_label("Password")
    expect(password).to_have_attribute("type", "password")
    page.get_by_label("Username (your e-mail)").fill(account.email)
    password.fill(account.password)
    screenshot(page, "signoff-sign")
    page.get_by_role("button", name="Sign", exact=True).click()

    # Back on the worklist, still filtered to the subject: signed, by whom.
    expect(page).to_have_url(re.compile(r"/signoff/\?subject=01-001$"))
    expect(page.get_by_text("Signed (casebook review): subject 01-001")).to_be_visible()
    signed = page.locator("#signoff-casebook_reviewed tbody tr", has_text="01-001")
    expect(signed).to_contain_text("Signed")
    expect(signed).to_contain_text(f"by {account.full_name}")
    expect(signed).to_contain_text("valid")
    screenshot(page, "signoff")
