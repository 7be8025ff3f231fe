"""The audit trail viewer in a real browser: the demo monitor reviews the trail and verifies the chain."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser


def test_the_demo_monitor_filters_the_trail_verifies_the_chain_and_sees_it_intact(
    page: Page, live_server: LiveServer
) -> None:
    account = live_server.logins[RoleCode.MONITOR]
    login(page, live_server.base_url, account.email, account.password)
    page.locator(".navbar").get_by_role("link", name="Audit trail", exact=True).click()
    expect(page).to_have_url(f"{live_server.base_url}/audit/")
    expect(page.get_by_role("heading", name="Audit trail", exact=True)).to_be_visible()
    rows = page.locator("#audit-events tbody tr")
    expect(rows).to_have_count(50)  # a full first page: the demo cohort's trail is long

    # Narrow to one demo subject's adverse events: every row shown is that subject's.
    page.get_by_label("Subject").fill("01-001")
    page.get_by_label("Form").select_option(label="Adverse event")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    expect(page.locator("#event-count")).to_contain_text("match the filters")
    expect(rows.first.locator("td").nth(3)).to_have_text("01-001")
    expect(rows.first.locator("td").nth(4)).to_have_text("Adverse event")
    subjects = rows.locator("td:nth-child(4)").all_inner_texts()
    assert subjects and set(subjects) == {"01-001"}

    with page.expect_navigation():
        page.get_by_role("button", name="Verify the chain").click()
    result = page.locator("#verify-result")
    expect(result).to_contain_text("Intact.")
    expect(result).to_contain_text(re.compile(r"[\d,]+ events checked"))
    expect(result).to_contain_text(re.compile(r"Head hash: [0-9a-f]{64}"))
    expect(page.get_by_label("Subject")).to_have_value("01-001")  # the filters survive the verification
    screenshot(page, "audit_trail")
