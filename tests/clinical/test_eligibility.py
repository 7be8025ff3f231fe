"""Protocol eligibility IN1-IN4, EX1-EX8 (jk500db.clinical.eligibility)."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import date
from typing import Any

import pytest

from jk500db.clinical.eligibility import ScreeningFacts, evaluate
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import RuleSettings

REF = date(2024, 6, 1)

#: A fully recorded, eligible child: every criterion passes.
ELIGIBLE = ScreeningFacts(
    reference_date=REF,
    birth_date=date(2012, 3, 15),
    consent_date=date(2024, 5, 20),
    consent_signed=True,
    aml_who2016=True,
    induction_courses=2,
    best_response_after_induction="NR",
    cr_date=None,
    relapse_date=None,
    apl=False,
    cml=False,
    mixed_phenotype=False,
    cns_leukemia=False,
    congenital_syndrome=False,
    hiv_ab=False,
    hbsag=False,
    hbeag=False,
    hcv_ab=False,
    tp_ab=False,
    active_systemic_infection=False,
    prior_trial_drug=False,
    prior_trial_drug_last_date=None,
    significant_disease_within_28_days=False,
    major_surgery=False,
    major_surgery_date=None,
    major_surgery_expected=False,
    live_vaccine=False,
    live_vaccine_date=None,
    live_vaccine_planned_within_6_months=False,
    creatinine="0.5",
    creatinine_uln="0.7",
    bilirubin="10",
    bilirubin_uln="21",
    ast="30",
    ast_uln="40",
    alt="30",
    alt_uln="40",
    investigator_excludes=False,
)

#: Relapsed rather than refractory: CR after the first induction, relapse data decide IN3.
RELAPSED = replace(ELIGIBLE, induction_courses=2, best_response_after_induction="CR")

#: Field order from the public API (brief): positional construction depends on it.
FACT_FIELDS = [
    "reference_date",
    "birth_date",
    "consent_date",
    "consent_signed",
    "aml_who2016",
    "induction_courses",
    "best_response_after_induction",
    "cr_date",
    "relapse_date",
    "apl",
    "cml",
    "mixed_phenotype",
    "cns_leukemia",
    "congenital_syndrome",
    "hiv_ab",
    "hbsag",
    "hbeag",
    "hcv_ab",
    "tp_ab",
    "active_systemic_infection",
    "prior_trial_drug",
    "prior_trial_drug_last_date",
    "significant_disease_within_28_days",
    "major_surgery",
    "major_surgery_date",
    "major_surgery_expected",
    "live_vaccine",
    "live_vaccine_date",
    "live_vaccine_planned_within_6_months",
    "creatinine",
    "creatinine_uln",
    "bilirubin",
    "bilirubin_uln",
    "ast",
    "ast_uln",
    "alt",
    "alt_uln",
    "investigator_excludes",
]

CODES = ["IN1", "IN2", "IN3", "IN4", "EX1", "EX2", "EX3", "EX4", "EX5", "EX6", "EX7", "EX8"]


def test_fully_recorded_eligible_child_passes_every_criterion() -> None:
    result = evaluate(ELIGIBLE)
    assert result.eligible is True
    assert list(result.criteria) == CODES
    assert all(c.status == "pass" for c in result.criteria.values())
    assert result.rule_id == "nct05519384.eligibility"
    assert result.settings == {"eligibility.relapse_window": 6}


def test_screening_facts_fields_are_in_the_documented_order_and_default_to_none() -> None:
    names = [f.name for f in fields(ScreeningFacts)]
    assert names == FACT_FIELDS
    assert all(getattr(ScreeningFacts(), name) is None for name in names)


def test_nothing_recorded_is_not_evaluable_never_eligible() -> None:
    result = evaluate(ScreeningFacts())
    assert result.eligible is None
    assert all(c.status == "missing" for c in result.criteria.values())


# Protocol NCT05519384 criteria as in CLINICAL_RULES.md "Eligibility". Each row changes the eligible child
# and names the criterion and its expected status ("pass" = inclusion met / exclusion does not apply).
CRITERIA_TABLE: list[tuple[str, dict[str, Any], str, str]] = [
    # IN1 age <= 18 at consent (completed years; the birthday counts)
    ("18 years 364 days at consent", {"birth_date": date(2005, 5, 21)}, "IN1", "pass"),
    ("19th birthday on consent day", {"birth_date": date(2005, 5, 20)}, "IN1", "fail"),
    ("18th birthday on consent day", {"birth_date": date(2006, 5, 20)}, "IN1", "pass"),
    ("birth date missing", {"birth_date": None}, "IN1", "missing"),
    # IN2 AML by WHO 2016
    ("not AML", {"aml_who2016": False}, "IN2", "fail"),
    ("diagnosis not recorded", {"aml_who2016": None}, "IN2", "missing"),
    # IN3 refractory: no CR (ELN 2022: no CR, CRh or CRi) after two induction courses
    ("PR after 2 courses", {"best_response_after_induction": "PR"}, "IN3", "pass"),
    ("MLFS after 3 courses", {"induction_courses": 3, "best_response_after_induction": "MLFS"}, "IN3", "pass"),
    ("CRi after 2 courses, no relapse data", {"best_response_after_induction": "CRi"}, "IN3", "missing"),
    ("only 1 course, no relapse data", {"induction_courses": 1}, "IN3", "missing"),
    ("courses missing", {"induction_courses": None}, "IN3", "missing"),
    ("response NE after 2 courses", {"best_response_after_induction": "NE"}, "IN3", "missing"),
    ("response missing", {"best_response_after_induction": None}, "IN3", "missing"),
    # IN4 consent signed on/before the reference date
    ("consent not signed", {"consent_signed": False}, "IN4", "fail"),
    ("consent on reference date", {"consent_date": REF}, "IN4", "pass"),
    ("consent after reference date", {"consent_date": date(2024, 6, 2)}, "IN4", "fail"),
    ("signature not recorded", {"consent_signed": None}, "IN4", "missing"),
    ("reference date missing", {"reference_date": None}, "IN4", "missing"),
    # EX1 APL, CML, MPAL or CNS leukaemia
    ("APL", {"apl": True}, "EX1", "fail"),
    ("CML", {"cml": True}, "EX1", "fail"),
    ("mixed phenotype", {"mixed_phenotype": True}, "EX1", "fail"),
    ("CNS leukaemia", {"cns_leukemia": True}, "EX1", "fail"),
    ("CNS status missing", {"cns_leukemia": None}, "EX1", "missing"),
    ("APL with CNS missing", {"apl": True, "cns_leukemia": None}, "EX1", "fail"),
    # EX2 congenital syndrome
    ("Down syndrome", {"congenital_syndrome": True}, "EX2", "fail"),
    ("syndrome not recorded", {"congenital_syndrome": None}, "EX2", "missing"),
    # EX3 virology
    ("HIV Ab positive", {"hiv_ab": True}, "EX3", "fail"),
    ("HBsAg positive", {"hbsag": True}, "EX3", "fail"),
    ("HBeAg positive", {"hbeag": True}, "EX3", "fail"),
    ("HCV Ab positive", {"hcv_ab": True}, "EX3", "fail"),
    ("TP Ab positive", {"tp_ab": True}, "EX3", "fail"),
    ("TP Ab not recorded", {"tp_ab": None}, "EX3", "missing"),
    # EX4 active infection, or trial drug within 4 weeks (28 days, inclusive) before the reference date
    ("active infection", {"active_systemic_infection": True}, "EX4", "fail"),
    (
        "trial drug 28 days before",
        {"prior_trial_drug": True, "prior_trial_drug_last_date": date(2024, 5, 4)},
        "EX4",
        "fail",
    ),
    (
        "trial drug 29 days before",
        {"prior_trial_drug": True, "prior_trial_drug_last_date": date(2024, 5, 3)},
        "EX4",
        "pass",
    ),
    ("trial drug on reference date", {"prior_trial_drug": True, "prior_trial_drug_last_date": REF}, "EX4", "fail"),
    (
        "trial drug after reference date",
        {"prior_trial_drug": True, "prior_trial_drug_last_date": date(2024, 6, 3)},
        "EX4",
        "fail",
    ),
    ("trial drug, date missing", {"prior_trial_drug": True}, "EX4", "missing"),
    ("trial drug not recorded", {"prior_trial_drug": None}, "EX4", "missing"),
    ("infection missing", {"active_systemic_infection": None}, "EX4", "missing"),
    # EX5 significant disease or major surgery within 28 days before, or surgery expected
    ("significant disease", {"significant_disease_within_28_days": True}, "EX5", "fail"),
    ("surgery 28 days before", {"major_surgery": True, "major_surgery_date": date(2024, 5, 4)}, "EX5", "fail"),
    ("surgery 29 days before", {"major_surgery": True, "major_surgery_date": date(2024, 5, 3)}, "EX5", "pass"),
    ("surgery expected", {"major_surgery_expected": True}, "EX5", "fail"),
    ("surgery, date missing", {"major_surgery": True}, "EX5", "missing"),
    ("expected surgery not recorded", {"major_surgery_expected": None}, "EX5", "missing"),
    # EX6 any of creatinine, bilirubin, AST, ALT > 2 x ULN (strictly)
    ("creatinine exactly 2 x ULN", {"creatinine": "1.4", "creatinine_uln": "0.7"}, "EX6", "pass"),
    ("creatinine 1.41 > 2 x 0.7", {"creatinine": "1.41", "creatinine_uln": "0.7"}, "EX6", "fail"),
    ("bilirubin exactly 2 x ULN", {"bilirubin": "42", "bilirubin_uln": "21"}, "EX6", "pass"),
    ("bilirubin 42.1", {"bilirubin": "42.1"}, "EX6", "fail"),
    ("AST 80.01 vs ULN 40", {"ast": "80.01"}, "EX6", "fail"),
    ("ALT exactly 80", {"alt": 80}, "EX6", "pass"),
    ("ALT float 80.1", {"alt": 80.1}, "EX6", "fail"),
    ("ALT float boundary 0.2 x 2 ULN 0.1", {"alt": 0.2, "alt_uln": 0.1}, "EX6", "pass"),
    ("ALT ULN missing", {"alt_uln": None}, "EX6", "missing"),
    ("ALT missing but creatinine high", {"alt": None, "creatinine": "3"}, "EX6", "fail"),
    # EX7 live vaccine within 4 weeks before, or planned within 6 months after
    ("live vaccine 28 days before", {"live_vaccine": True, "live_vaccine_date": date(2024, 5, 4)}, "EX7", "fail"),
    ("live vaccine 29 days before", {"live_vaccine": True, "live_vaccine_date": date(2024, 5, 3)}, "EX7", "pass"),
    ("live vaccine planned", {"live_vaccine_planned_within_6_months": True}, "EX7", "fail"),
    ("live vaccine, date missing", {"live_vaccine": True}, "EX7", "missing"),
    ("plan not recorded", {"live_vaccine_planned_within_6_months": None}, "EX7", "missing"),
    # EX8 investigator judgement
    ("investigator excludes", {"investigator_excludes": True}, "EX8", "fail"),
    ("investigator judgement missing", {"investigator_excludes": None}, "EX8", "missing"),
]


@pytest.mark.parametrize(
    ("changes", "code", "status"),
    [pytest.param(changes, code, status, id=f"{code}-{label}") for label, changes, code, status in CRITERIA_TABLE],
)
def test_criterion_status_follows_protocol(changes: dict[str, Any], code: str, status: str) -> None:
    result = evaluate(replace(ELIGIBLE, **changes))
    criterion = result.criteria[code]
    assert criterion.status == status
    assert criterion.code == code
    assert criterion.text
    assert f"({code})" in criterion.evidence
    others = [c for k, c in result.criteria.items() if k != code]
    assert all(c.status == "pass" for c in others), [c.evidence for c in others if c.status != "pass"]
    assert result.eligible is {"pass": True, "fail": False, "missing": None}[status]


# IN3 relapse within six calendar months after CR, end-of-month clamp (setting eligibility.relapse_window).
RELAPSE_WINDOW_TABLE = [
    (date(2023, 1, 15), date(2023, 7, 15), 6, "pass"),
    (date(2023, 1, 15), date(2023, 7, 16), 6, "fail"),
    (date(2022, 8, 31), date(2023, 2, 28), 6, "pass"),  # Aug 31 + 6 months clamps to Feb 28
    (date(2022, 8, 31), date(2023, 3, 1), 6, "fail"),
    (date(2023, 8, 31), date(2024, 2, 29), 6, "pass"),  # leap year: clamp to Feb 29
    (date(2023, 8, 31), date(2024, 3, 1), 6, "fail"),
    (date(2023, 1, 15), date(2023, 7, 16), 12, "pass"),  # alternative window length
    (date(2023, 1, 15), date(2023, 4, 16), 3, "fail"),
    (date(2023, 1, 15), date(2023, 4, 15), 3, "pass"),
]


@pytest.mark.parametrize(("cr", "relapse", "months", "status"), RELAPSE_WINDOW_TABLE)
def test_in3_relapse_window_uses_calendar_months_with_clamp(cr: date, relapse: date, months: int, status: str) -> None:
    facts = replace(RELAPSED, cr_date=cr, relapse_date=relapse)
    result = evaluate(facts, RuleSettings(relapse_window_months=months))
    assert result.criteria["IN3"].status == status
    assert "eligibility.relapse_window" in result.criteria["IN3"].evidence
    assert result.settings == {"eligibility.relapse_window": months}


def test_missing_consent_date_leaves_age_and_consent_not_evaluable() -> None:
    result = evaluate(replace(ELIGIBLE, consent_date=None))
    assert [c.code for c in result.criteria.values() if c.status == "missing"] == ["IN1", "IN4"]
    assert result.eligible is None


def test_in3_refractory_passes_even_with_late_relapse_recorded() -> None:
    facts = replace(ELIGIBLE, cr_date=date(2020, 1, 1), relapse_date=date(2023, 1, 1))
    assert evaluate(facts).criteria["IN3"].status == "pass"


def test_in3_relapse_before_cr_is_an_input_error() -> None:
    with pytest.raises(ClinicalInputError):
        evaluate(replace(RELAPSED, cr_date=date(2024, 1, 1), relapse_date=date(2023, 12, 1)))


def test_in3_unknown_response_is_an_input_error() -> None:
    with pytest.raises(ClinicalInputError):
        evaluate(replace(ELIGIBLE, best_response_after_induction="remission"))


def test_ex6_evidence_names_values_ratio_and_rule() -> None:
    evidence = evaluate(replace(ELIGIBLE, creatinine="1.5")).criteria["EX6"].evidence
    assert "creatinine 1.5 = 2.14 x ULN 0.7 > 2 x ULN" in evidence
    assert evidence.endswith("excluded (EX6)")


def test_ex6_non_positive_uln_is_an_input_error() -> None:
    with pytest.raises(ClinicalInputError):
        evaluate(replace(ELIGIBLE, creatinine_uln="0"))


def test_fail_outranks_missing_in_overall_result() -> None:
    result = evaluate(replace(ELIGIBLE, apl=True, hiv_ab=None))
    assert result.eligible is False
    assert "EX1" in result.reasons[0]
    assert "EX3" in result.reasons[1]


def test_missing_without_fail_leaves_eligibility_open() -> None:
    result = evaluate(replace(ELIGIBLE, tp_ab=None))
    assert result.eligible is None
    assert "EX3" in result.reasons[0]


def test_criteria_mapping_is_read_only() -> None:
    criteria = evaluate(ELIGIBLE).criteria
    with pytest.raises(TypeError):
        criteria["IN1"] = criteria["IN2"]  # type: ignore[index]
