"""The whole job in the browser (issue 5): a data manager screens a new subject (consent, disease history, screening,
virology, organ-function labs), and finds lymphodepletion refused until an investigator has signed the eligibility
(LK-03); the investigator signs; the data manager then enters lymphodepletion, an infusion, an adverse event and a
CRS assessment, and sees the computed values; a monitor raises a query and marks SDV; the data manager answers the
query; an edit after SDV clears it.

One test, in order, on one live server: each step builds on the one before, as the people in the trial would.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from jk500db.models.vocabularies import RoleCode
from tests.browser.conftest import LiveServer, login, new_context, screenshot

pytestmark = pytest.mark.browser

SUBJECT = "01-031"


def fill(page: Page, values: dict[str, str]) -> None:
    """Type into the inputs named by id (the field names), choosing from plain drop-downs and ticking boxes."""
    for name, value in values.items():
        field = page.locator(f"#{name}")
        kind = field.evaluate("element => element.tagName.toLowerCase() + ':' + (element.type || '')")
        if kind.startswith("select"):
            field.select_option(value)
        elif kind == "input:checkbox":
            field.set_checked(value == "y")
        else:
            field.fill(value)


def search_choice(page: Page, name: str, typed: str, choice: str) -> None:
    """Pick from a searchable drop-down (select2) by typing part of the choice, as a person would."""
    page.locator(f"#s2id_{name}, #{name} + .select2-container, [id='s2id_{name}']").first.click()
    page.keyboard.type(typed)
    page.locator(".select2-results li:visible", has_text=choice).first.click()


def save(page: Page) -> None:
    with page.expect_navigation():
        page.locator("input[type=submit][value=Save], button[type=submit]:has-text('Save')").first.click()


def open_form(page: Page, base_url: str, title: str) -> None:
    """Open a form's list from the menu, then its New tab, for the subject."""
    page.goto(f"{base_url}/crf/{title}/new/")
    search_choice(page, "subject_id", SUBJECT, SUBJECT)
    with page.expect_navigation():
        page.get_by_role("button", name="Continue").click()


def enter(page: Page, base_url: str, title: str, values: dict[str, str]) -> None:
    """First entry of one form for the subject, saved."""
    open_form(page, base_url, title)
    fill(page, values)
    save(page)
    expect(page.locator("#entered-values")).to_be_visible()


#: Screening as the data manager enters it: every criterion IN1-IN4 and EX1-EX8 can be judged, and all are met.
NO = "no"
SCREENING = {"screening_date": "2026-10-02", "reference_date": "2026-10-10", "cns_status": "cns1",
             "cns_leukemia": NO, "congenital_syndrome": "none", "active_systemic_infection": NO,
             "prior_trial_drug": NO, "significant_disease_within_28_days": NO, "major_surgery": NO,
             "major_surgery_expected": NO, "live_vaccine": NO, "live_vaccine_planned_within_6_months": NO,
             "investigator_excludes": NO}  # fmt: skip
#: EX6's organ function at screening: (test, value, unit, LLN, ULN), all within 2 x ULN.
ORGAN_LABS = (("CREAT", "38", "umol/L", "27", "62"), ("BILI", "9.1", "umol/L", "3", "17"),
              ("AST", "31", "U/L", "0", "40"), ("ALT", "22", "U/L", "0", "35"))  # fmt: skip


def test_the_whole_job_of_a_trial_in_the_browser(browser: object, live_server: LiveServer) -> None:
    base = live_server.base_url
    accounts = live_server.logins
    context = new_context(browser, base)  # type: ignore[arg-type]
    page = context.new_page()

    # --- the data manager screens a new subject --------------------------------------------------------------
    login(page, base, accounts[RoleCode.DATA_MANAGER].email, accounts[RoleCode.DATA_MANAGER].password)
    expect(page).to_have_url(f"{base}/matrix/")
    page.goto(f"{base}/crf/subject/new/")
    fill(page, {"subject_number": SUBJECT, "screening_number": "S031", "sex": "F", "birth_date": "2016-05-04"})
    save(page)
    expect(page.locator("#entered-values")).to_contain_text(SUBJECT)

    consent = {"kind": "guardian_consent", "document_version": "2.0", "signed_on": "2026-10-01", "signer": "parent"}
    enter(page, base, "consent", consent)
    history = {"diagnosis_date": "2025-11", "aml_who2016": "yes", "apl": NO, "cml": NO, "mixed_phenotype": NO,
               "induction_courses": "2", "best_response_after_induction": "NR"}  # fmt: skip
    enter(page, base, "disease_history", history)
    enter(page, base, "screening", SCREENING)
    expect(page.locator("#derived-values")).to_contain_text("Eligible")
    screening_page = page.url
    for test in ("hiv_ab", "hbsag", "hbeag", "hcv_ab", "tp_ab"):
        open_form(page, base, "virology_result")
        page.locator("#screening_id").select_option(index=0)  # the one choice: the subject's own screening
        fill(page, {"test": test, "result": "negative", "sampled_on": "2026-10-02"})
        save(page)
    for test, value, unit, lln, uln in ORGAN_LABS:
        lab = {"test_code": test, "specimen": "serum", "collected_at": "2026-10-02T07:30", "value_text": value,
               "value": value, "unit": unit, "lln": lln, "uln": uln}  # fmt: skip
        enter(page, base, "lab_result", lab)
    page.goto(screening_page)  # every criterion can now be judged, and all are met
    expect(page.locator("#derived-values tr", has_text="Eligible")).to_contain_text("Yes")

    # --- LK-03: no lymphodepletion before the investigator has signed the eligibility ------------------------
    dose = {"agent": "cyclophosphamide", "dose_number": "1", "route": "iv", "started_at": "2026-10-10T08:00",
            "weight_kg": "20.0", "height_cm": "115", "measured_on": "2026-10-10", "actual_dose": "1200",
            "dose_unit": "mg"}  # fmt: skip
    open_form(page, base, "drug_administration")
    fill(page, dose)
    save(page)
    refusal = f"{SUBJECT}'s eligibility has not been confirmed by an investigator's signature"
    expect(page.locator(".invalid-feedback", has_text=refusal)).to_be_visible()  # beside the subject
    expect(page.locator(".alert", has_text="Not saved")).to_contain_text("(LK-03)")
    expect(page.locator("#actual_dose")).to_have_value("1200")  # what was typed stays in the form
    screenshot(page, "scenario-lymphodepletion-awaits-eligibility")
    context.close()

    # --- the investigator signs the subject's eligibility, re-entering the password -------------------------
    investigator = new_context(browser, base)  # type: ignore[arg-type]
    page = investigator.new_page()
    account = accounts[RoleCode.INVESTIGATOR]
    login(page, base, account.email, account.password)
    page.goto(f"{base}/signoff/?subject={SUBJECT}")
    eligibility = page.locator("#signoff-eligibility_confirmed tbody tr", has_text=SUBJECT)
    expect(eligibility).to_contain_text("Needs signing")
    eligibility.get_by_role("link", name="Sign").click()
    expect(page.locator("#meaning-statement")).to_contain_text("meets all eligibility criteria")
    page.get_by_label("Username (your e-mail)").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign", exact=True).click()
    expect(page.locator("#signoff-eligibility_confirmed tbody tr", has_text=SUBJECT)).to_contain_text("valid")
    investigator.close()

    # --- lymphodepletion: the planned dose is computed from the weight entered --------------------------------
    context = new_context(browser, base)  # type: ignore[arg-type]
    page = context.new_page()
    login(page, base, accounts[RoleCode.DATA_MANAGER].email, accounts[RoleCode.DATA_MANAGER].password)
    open_form(page, base, "drug_administration")
    fill(page, dose)
    save(page)
    derived = page.locator("#derived-values")
    expect(derived).to_contain_text("Planned dose")
    expect(derived.locator("tr", has_text="Planned dose")).to_contain_text("1200")  # 60 mg/kg x 20.0 kg

    # --- the infusion: before all five fludarabine doses, a soft check saves and opens a query ---------------
    open_form(page, base, "infusion")
    fill(page, {"infusion_number": "1", "started_at": "2026-10-15T10:00", "product_lot": "JK-LOT-031",
                "cells_infused": "20000000", "weight_kg": "20.0", "completed": "y"})  # fmt: skip
    save(page)
    expect(page.locator(".alert", has_text="a query was opened")).to_be_visible()

    # --- an adverse event, searched in the CTCAE list, then the CRS assessment that grades it ----------------
    open_form(page, base, "adverse_event")
    fill(page, {"ae_number": "1", "onset_date": "2026-10-16", "grade": "1"})
    search_choice(page, "ctcae_term_id", "Cytokine rel", "Cytokine release syndrome")
    save(page)
    ae_page = page.url
    open_form(page, base, "crs_assessment")
    fill(page, {"assessed_at": "2026-10-16T18:00", "max_temp_c": "39.4", "oxygen_device": "room_air"})
    page.locator("#adverse_event_id").select_option(index=1)
    save(page)
    expect(page.locator("#derived-values tr", has_text="ASTCT grade")).to_contain_text("1")
    page.goto(ae_page)
    expect(page.locator("#derived-values tr", has_text="Derived grade").first).to_contain_text("1")
    screenshot(page, "scenario-adverse-event")
    page.goto(f"{base}/matrix/")
    expect(page.get_by_text(SUBJECT).first).to_be_visible()
    screenshot(page, "matrix")
    context.close()

    # --- the monitor verifies the AE form against source and raises a query on its grade --------------------
    monitor = new_context(browser, base)  # type: ignore[arg-type]
    page = monitor.new_page()
    login(page, base, accounts[RoleCode.MONITOR].email, accounts[RoleCode.MONITOR].password)
    page.goto(f"{base}/sdv/")
    page.get_by_label("Subject", exact=True).select_option(SUBJECT)
    page.get_by_label("Form", exact=True).select_option(label="Adverse events")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    with page.expect_navigation():
        page.get_by_role("button", name=f"Verify Adverse events of {SUBJECT}").click()
    expect(page.get_by_text("Marked 1 form source-data-verified.")).to_be_visible()

    page.goto(ae_page)
    expect(page.locator("#sdv-state")).to_contain_text("verified")
    page.locator("#query-field").select_option(label="Grade")
    page.locator("#query-text").fill("The nurse's notes say grade 2: please check the grade.")
    with page.expect_navigation():
        page.get_by_role("button", name="Raise query").click()
    expect(page.locator("#record-queries")).to_contain_text("please check the grade")
    monitor.close()

    # --- the data manager answers the query and corrects the grade: the correction clears the SDV mark ------
    manager = new_context(browser, base)  # type: ignore[arg-type]
    page = manager.new_page()
    login(page, base, accounts[RoleCode.DATA_MANAGER].email, accounts[RoleCode.DATA_MANAGER].password)
    page.goto(f"{base}/queries/")
    row = page.locator("tbody tr", has_text="please check the grade")
    row.get_by_label("Message").fill("Checked against the notes: grade 2. Corrected.")
    with page.expect_navigation():
        row.get_by_role("button", name="Send").click()
    expect(page.get_by_text("Query answered.")).to_be_visible()

    page.goto(ae_page)
    page.get_by_role("link", name="Correct").click()
    fill(page, {"grade": "2", "reason_for_change": "grade 2 per the nurse's notes (query answered)"})
    save(page)
    expect(page.locator("#entered-values td[data-field=grade]")).to_have_text("2")
    expect(page.locator("#sdv-state")).to_contain_text("cleared by a later change")
    expect(page.locator("#audit-history")).to_contain_text("grade 2 per the nurse's notes")
    # The investigator's grade now differs from the ASTCT grade of the linked CRS assessment: a query says so.
    expect(page.locator("#record-queries")).to_contain_text(re.compile("differs|derived", re.IGNORECASE))

    page.goto(f"{base}/casebook/{SUBJECT}")
    expect(page.get_by_text(SUBJECT).first).to_be_visible()
    screenshot(page, "casebook")
    page.goto(f"{base}/safety/")
    screenshot(page, "safety-after-scenario")
    manager.close()
