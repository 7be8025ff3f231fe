"""The subject casebook in a real browser, on the demo cohort (issue 5)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, screenshot

pytestmark = pytest.mark.browser

#: 01-002 in seed_data/demo_cohort.toml: infused from 2024-04-22, CRS grade 2 (hypotension), ICANS grade 1.
SUBJECT = "01-002"


def test_AT10_a_demo_monitor_reads_a_treated_subjects_casebook(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.MONITOR]
    login(page, live_server.base_url, account.email, account.password)
    page.locator(".navbar").get_by_role("link", name="Casebook", exact=True).click()  # from the menu
    expect(page).to_have_url(re.compile(r"/casebook/$"))
    page.get_by_role("link", name=SUBJECT, exact=True).click()
    expect(page.get_by_role("heading", name=f"Casebook {SUBJECT}")).to_be_visible()
    expect(page.locator("#key-dates")).to_contain_text("First JK500 infusion (day 0)")

    # The timeline: the schedule in order, day 0 at the first infusion, the CRS episode on its protocol day.
    timeline = page.locator("#timeline")
    visits = timeline.locator("tr[data-visit]")
    expect(visits.first).to_have_attribute("data-visit", "SCR")
    expect(timeline.locator("tr[data-visit='INF1'] td.protocol-day")).to_have_text("0")
    expect(timeline.locator("tr[data-event='CRS']")).to_contain_text("CRS ASTCT grade 2")
    expect(timeline.locator("tr[data-event='ICANS']")).to_contain_text("ICANS ASTCT grade 1")

    # The CRS adverse event: its grade derived from the episode's assessments, with the rule and why. Forms are
    # folded; the header says how many records and where SDV and queries stand.
    form = page.locator("#form-subject-adverse_events")
    expect(form.locator("summary").first).to_contain_text("5 records")
    form.locator("summary").first.click()
    crs = page.locator("article[data-table='adverse_event']").filter(has_text="Cytokine release syndrome").first
    derived = crs.locator("tr[data-derived='derived_grade']")
    expect(derived.locator(".derived-value")).to_have_text("2")
    expect(derived.locator(".derived-rule")).to_contain_text("astct2019.episode_maximum v1")
    expect(derived.locator(".derived-reasons")).to_contain_text("CRS assessment")

    # Its audit history in one line: how many changes, the last by whom and when.
    summary = crs.locator(".casebook-history-summary")
    line = r"Audit history: \d+ changes?, last by .+ on \d{4}-\d\d-\d\d \d\d:\d\d UTC"
    expect(summary).to_have_text(re.compile(line))
    expect(crs.locator("details.casebook-history")).to_have_count(0)

    screenshot(page, "casebook")

    # On paper: no menu, the same content.
    page.emulate_media(media="print")
    expect(page.locator("nav.navbar")).to_be_hidden()
    expect(page.locator("#printable-link")).to_be_hidden()
    expect(page.locator("#timeline")).to_be_visible()
    page.emulate_media(media="screen")
    expect(page.locator("nav.navbar")).to_be_visible()

    # The line links to the record's page, which shows the whole history.
    summary.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/crf/adverse_event/details/\?id=\d+#audit-history$"))
    history = page.locator("#audit-history")
    expect(history).to_be_visible()
    expect(history.locator("tbody tr").first).to_contain_text("Insert")


def test_the_printable_version_has_no_menu_and_every_history_open(page: Page, live_server: LiveServer) -> None:
    account = live_server.logins[RoleCode.INVESTIGATOR]
    login(page, live_server.base_url, account.email, account.password)
    page.goto(f"{live_server.base_url}/casebook/{SUBJECT}")
    page.get_by_role("link", name="Printable version").click()
    expect(page).to_have_url(re.compile(rf"/casebook/{SUBJECT}\?print=1$"))
    expect(page.locator("nav.navbar")).to_have_count(0)
    histories = page.locator("details.casebook-history")
    expect(histories.first).to_have_attribute("open", "")
    expect(page.locator("details.casebook-history:not([open])")).to_have_count(0)
    expect(histories.first.locator("table")).to_be_visible()
    # The archive copy keeps every record's full history: the CRS AE's, with its term by name, not its key.
    crs = page.locator("article[data-table='adverse_event']").filter(has_text="Cytokine release syndrome").first
    expect(crs.locator("details.casebook-history tbody tr").first).to_contain_text("Insert")
    expect(crs.locator("details.casebook-history")).to_contain_text("Cytokine release syndrome")
    expect(page.locator(".casebook-history-summary")).to_have_count(0)
