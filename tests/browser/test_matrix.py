"""The status matrix in a real browser, on the demo cohort: a data manager's home page for the trial's progress."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser

#: The schedule of seed_data/jk500_study.toml, in order.
SCHEDULE = [
    "SCR",
    "LD",
    "INF1",
    "INF2",
    "INF3",
    "INF4",
    "INF5",
    "INF6",
    "D21",
    "D28",
    "M2",
    "M3",
    "M6",
    "M12",
    "M18",
    "M24",
]


def test_a_demo_data_manager_sees_every_subject_against_the_visit_schedule(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.DATA_MANAGER]
    login(page, live_server.base_url, account.email, account.password)
    page.locator(".navbar").get_by_role("link", name="Status matrix", exact=True).click()
    expect(page).to_have_url(f"{live_server.base_url}/matrix/")
    expect(page.get_by_role("heading", name="Status matrix")).to_be_visible()

    rows = page.locator("tbody tr")
    expect(rows).to_have_count(12)
    expect(page.locator("tbody th[scope=row]")).to_have_text([f"01-{n:03d}" for n in range(1, 13)])
    expect(page.locator("#matrix-count")).to_have_text("12 subjects")
    headers = page.locator("thead th[scope=col]").all_inner_texts()
    assert headers[3 : 3 + len(SCHEDULE)] == SCHEDULE
    assert headers[-2:] == ["Unsch.", "Open queries"]

    # 01-001 (demo_cohort.toml): screened on 22 February 2024, month 3 missed while in the transplant unit.
    first = page.locator("tbody tr").filter(has=page.locator("th", has_text="01-001"))
    expect(first.locator("td[data-visit=SCR]")).to_contain_text("2024-02-22")
    expect(first.locator("td[data-visit=M3]")).to_contain_text("missed")
    expect(first.locator("td[data-visit=M3]")).to_contain_text("Inpatient in the transplant unit")
    screenshot(page, "matrix")


def test_the_site_and_status_filters_narrow_the_rows(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.MONITOR]
    login(page, live_server.base_url, account.email, account.password)
    page.goto(f"{live_server.base_url}/matrix/")
    page.get_by_label("Subject status").select_option(label="Screen failed")
    page.get_by_label("Site").select_option("01")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    # The demo cohort's two screen failures: 01-004 fails EX3, 01-005 fails EX1.
    expect(page.locator("tbody th[scope=row]")).to_have_text(["01-004", "01-005"])
    expect(page.get_by_label("Subject status")).to_have_value("screen_failed")
