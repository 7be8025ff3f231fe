"""Eligibility of a screened child against the protocol criteria (NCT05519384, CLINICAL_RULES.md "Eligibility").

Each criterion gets one status:

- ``pass``: the inclusion is met / the exclusion does not apply;
- ``fail``: the inclusion is not met / the exclusion applies;
- ``missing``: the data needed are not recorded (``None``), so it is not evaluable -- never "met".

Criteria joined by "or" use three-valued logic: any part known true decides, all parts known false decide
the other way, anything else is missing. The subject is eligible only when every criterion passes; one fail
makes them ineligible; otherwise (no fail, some missing) eligibility is ``None`` until the data are entered.

Readings chosen here (each is also stated in the evidence text):

- "within 4 weeks / 28 days before" the reference date counts a date ``d`` with
  ``0 <= (reference_date - d).days <= 28``: day 28 itself is inside (4 weeks ago today is still "within
  4 weeks"), day 29 is outside. A date *after* the reference date is treated as inside the exclusion period,
  because an event after the reference date cannot have cleared a washout that ends on it.
- IN3 "no CR after two standard-dose induction courses" is refractory disease; following ELN 2022
  ("no CR, CRh or CRi at the response landmark, i.e. after 2 courses of intensive induction") a best
  response of CR, CRh or CRi is a remission. A best response NE is not known, so that part is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Literal

from jk500db.clinical.numbers import ClinicalInputError, Number, optional_decimal
from jk500db.clinical.schedule import add_months, age_in_years
from jk500db.clinical.settings import DEFAULT_SETTINGS, RuleSettings

RULE_ID = "nct05519384.eligibility"
RULE_VERSION = "1"

Status = Literal["pass", "fail", "missing"]
Part = bool | None  # True: the condition holds; False: it does not; None: not recorded

#: Criterion wording, from the protocol (registry NCT05519384) as summarised in CLINICAL_RULES.md.
CRITERIA_TEXT: dict[str, str] = {
    "IN1": "Age <= 18 years at consent",
    "IN2": "Acute myeloid leukaemia by WHO 2016",
    "IN3": "No CR after two standard-dose induction courses, or relapse within six calendar months after CR",
    "IN4": "Informed consent signed (guardian; assent where applicable)",
    "EX1": "APL, CML, mixed-phenotype acute leukaemia, or known CNS leukaemia",
    "EX2": "AML with a congenital syndrome (Down, Fanconi anaemia, Bloom, Kostmann, congenital aplastic anaemia)",
    "EX3": "HIV Ab, HBsAg, HBeAg, HCV Ab or treponema pallidum Ab positive",
    "EX4": "Active systemic infection, or a trial drug within 4 weeks",
    "EX5": "Clinically significant disease or major surgery within 28 days before the study product, "
    "or major surgery expected during the trial",
    "EX6": "Creatinine, total bilirubin, AST or ALT > 2 x ULN",
    "EX7": "Live attenuated vaccine within 4 weeks before, or planned within 6 months after, administration",
    "EX8": "Any other condition the investigator judges a risk",
}
INCLUSION_CODES = ("IN1", "IN2", "IN3", "IN4")
EXCLUSION_CODES = ("EX1", "EX2", "EX3", "EX4", "EX5", "EX6", "EX7", "EX8")

MAX_AGE_YEARS = 18  # IN1
INDUCTION_COURSES = 2  # IN3
LOOKBACK_DAYS = 28  # EX4 "4 weeks", EX5 "28 days", EX7 "4 weeks"
ULN_MULTIPLE = Decimal(2)  # EX6
VACCINE_PLANNED_MONTHS = 6  # EX7
#: Responses that are a remission for IN3 (ELN 2022 refractory definition).
REMISSION_RESPONSES = frozenset({"CR", "CRh", "CRi"})
KNOWN_RESPONSES = frozenset({"CR", "CRh", "CRi", "MLFS", "PR", "NR", "NE"})


@dataclass(frozen=True)
class ScreeningFacts:
    """Screening data as recorded; ``None`` means not recorded. Booleans: True = present/positive/yes."""

    reference_date: date | None = None
    birth_date: date | None = None
    consent_date: date | None = None
    consent_signed: bool | None = None
    aml_who2016: bool | None = None
    induction_courses: int | None = None
    best_response_after_induction: str | None = None
    cr_date: date | None = None
    relapse_date: date | None = None
    apl: bool | None = None
    cml: bool | None = None
    mixed_phenotype: bool | None = None
    cns_leukemia: bool | None = None
    congenital_syndrome: bool | None = None
    hiv_ab: bool | None = None
    hbsag: bool | None = None
    hbeag: bool | None = None
    hcv_ab: bool | None = None
    tp_ab: bool | None = None
    active_systemic_infection: bool | None = None
    prior_trial_drug: bool | None = None
    prior_trial_drug_last_date: date | None = None
    significant_disease_within_28_days: bool | None = None
    major_surgery: bool | None = None
    major_surgery_date: date | None = None
    major_surgery_expected: bool | None = None
    live_vaccine: bool | None = None
    live_vaccine_date: date | None = None
    live_vaccine_planned_within_6_months: bool | None = None
    creatinine: Number | None = None
    creatinine_uln: Number | None = None
    bilirubin: Number | None = None
    bilirubin_uln: Number | None = None
    ast: Number | None = None
    ast_uln: Number | None = None
    alt: Number | None = None
    alt_uln: Number | None = None
    investigator_excludes: bool | None = None


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's status with the values and rule that decided it."""

    code: str
    text: str
    status: Status
    evidence: str


@dataclass(frozen=True)
class EligibilityResult:
    """All criteria (IN1..IN4, EX1..EX8 in that order) and the overall decision."""

    eligible: bool | None
    criteria: Mapping[str, CriterionResult]
    reasons: tuple[str, ...]
    rule_id: str = RULE_ID
    rule_version: str = RULE_VERSION
    settings: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class _Finding:
    """A condition's truth value (None = not evaluable) and the sentence explaining it."""

    holds: Part
    evidence: str


def _any(findings: list[_Finding]) -> Part:
    """Three-valued OR: True if any part is True, False if all are False, else None."""
    values = [f.holds for f in findings]
    if any(v is True for v in values):
        return True
    if all(v is False for v in values):
        return False
    return None


def _flag(value: bool | None, name: str) -> _Finding:
    if value is None:
        return _Finding(None, f"{name} not recorded")
    return _Finding(value, f"{name} {'yes' if value else 'no'}")


def _inclusion(code: str, holds: Part, evidence: str) -> CriterionResult:
    status: Status = "missing" if holds is None else ("pass" if holds else "fail")
    verdict = {"pass": "met", "fail": "not met", "missing": "not evaluable"}[status]
    return CriterionResult(code, CRITERIA_TEXT[code], status, f"{evidence}: {verdict} ({code})")


def _exclusion(code: str, findings: list[_Finding]) -> CriterionResult:
    applies = _any(findings)
    status: Status = "missing" if applies is None else ("fail" if applies else "pass")
    verdict = {"pass": "does not apply", "fail": "excluded", "missing": "not evaluable"}[status]
    evidence = "; ".join(f.evidence for f in findings)
    return CriterionResult(code, CRITERIA_TEXT[code], status, f"{evidence}: {verdict} ({code})")


# --- inclusion ------------------------------------------------------------------------------------------


def _in1_age(facts: ScreeningFacts) -> CriterionResult:
    if facts.birth_date is None or facts.consent_date is None:
        return _inclusion("IN1", None, "birth date or consent date not recorded")
    age = age_in_years(facts.birth_date, facts.consent_date)
    holds = age <= MAX_AGE_YEARS
    relation = "<=" if holds else ">"
    return _inclusion(
        "IN1",
        holds,
        f"age {age} completed years at consent {facts.consent_date.isoformat()} {relation} {MAX_AGE_YEARS}",
    )


def _in2_aml(facts: ScreeningFacts) -> CriterionResult:
    finding = _flag(facts.aml_who2016, "AML by WHO 2016")
    return _inclusion("IN2", finding.holds, finding.evidence)


def _refractory(facts: ScreeningFacts) -> _Finding:
    courses, response = facts.induction_courses, facts.best_response_after_induction
    if response is not None and response not in KNOWN_RESPONSES:
        raise ClinicalInputError("best_response_after_induction", f"{response!r} is not an ELN 2022 category")
    if courses is None:
        return _Finding(None, "number of induction courses not recorded")
    if courses < INDUCTION_COURSES:
        return _Finding(False, f"{courses} induction course(s) < {INDUCTION_COURSES}: not refractory yet")
    if response is None or response == "NE":
        return _Finding(None, f"{courses} induction courses, best response {response or 'not recorded'}")
    if response in REMISSION_RESPONSES:
        return _Finding(False, f"{courses} induction courses, best response {response} (a remission): not refractory")
    return _Finding(True, f"{courses} induction courses, best response {response} (no CR/CRh/CRi): refractory")


def _early_relapse(facts: ScreeningFacts, months: int) -> _Finding:
    cr_date, relapse_date = facts.cr_date, facts.relapse_date
    if cr_date is None or relapse_date is None:
        return _Finding(None, "CR date or relapse date not recorded")
    if relapse_date <= cr_date:
        raise ClinicalInputError("relapse_date", f"{relapse_date.isoformat()} is not after CR {cr_date.isoformat()}")
    limit = add_months(cr_date, months)
    within = relapse_date <= limit
    relation = "<=" if within else ">"
    return _Finding(
        within,
        f"relapse {relapse_date.isoformat()} {relation} CR {cr_date.isoformat()} + {months} months "
        f"= {limit.isoformat()} (eligibility.relapse_window)",
    )


def _in3_relapsed_refractory(facts: ScreeningFacts, months: int) -> CriterionResult:
    parts = [_refractory(facts), _early_relapse(facts, months)]
    return _inclusion("IN3", _any(parts), "; ".join(p.evidence for p in parts))


def _in4_consent(facts: ScreeningFacts) -> CriterionResult:
    signed, consent, reference = facts.consent_signed, facts.consent_date, facts.reference_date
    if signed is False:
        return _inclusion("IN4", False, "consent not signed")
    if consent is not None and reference is not None and consent > reference:
        return _inclusion("IN4", False, f"consent {consent.isoformat()} after reference date {reference.isoformat()}")
    if signed is None or consent is None or reference is None:
        return _inclusion("IN4", None, "consent signature, consent date or reference date not recorded")
    return _inclusion("IN4", True, f"consent signed {consent.isoformat()} on/before {reference.isoformat()}")


# --- exclusion ------------------------------------------------------------------------------------------


def _within_days_before(event: date, reference: date, days: int) -> bool:
    """True when ``event`` is at most ``days`` days before ``reference`` (inclusive) or after it (see module doc)."""
    return (reference - event).days <= days


def _recent_event(
    happened: bool | None, when: date | None, reference: date | None, name: str, days: int = LOOKBACK_DAYS
) -> _Finding:
    """An event that excludes only when it happened within ``days`` days before the reference date."""
    if happened is False:
        return _Finding(False, f"{name} no")
    if happened is None:
        return _Finding(None, f"{name} not recorded")
    if when is None or reference is None:
        return _Finding(None, f"{name} yes, but its date or the reference date not recorded")
    gap = (reference - when).days
    inside = _within_days_before(when, reference, days)
    if gap < 0:
        return _Finding(True, f"{name} on {when.isoformat()}, after reference date {reference.isoformat()}")
    relation = "<=" if inside else ">"
    return _Finding(
        inside, f"{name} on {when.isoformat()}, {gap} days before {reference.isoformat()} {relation} {days} days"
    )


def _ex1_other_leukaemia(facts: ScreeningFacts) -> CriterionResult:
    return _exclusion(
        "EX1",
        [
            _flag(facts.apl, "APL"),
            _flag(facts.cml, "CML"),
            _flag(facts.mixed_phenotype, "mixed-phenotype acute leukaemia"),
            _flag(facts.cns_leukemia, "CNS leukaemia"),
        ],
    )


def _ex2_congenital(facts: ScreeningFacts) -> CriterionResult:
    return _exclusion("EX2", [_flag(facts.congenital_syndrome, "congenital syndrome")])


def _ex3_virology(facts: ScreeningFacts) -> CriterionResult:
    tests = (
        (facts.hiv_ab, "HIV Ab"),
        (facts.hbsag, "HBsAg"),
        (facts.hbeag, "HBeAg"),
        (facts.hcv_ab, "HCV Ab"),
        (facts.tp_ab, "TP Ab"),
    )
    findings = [
        _Finding(None, f"{name} not recorded")
        if value is None
        else _Finding(value, f"{name} {'positive' if value else 'negative'}")
        for value, name in tests
    ]
    return _exclusion("EX3", findings)


def _ex4_infection_or_trial_drug(facts: ScreeningFacts) -> CriterionResult:
    return _exclusion(
        "EX4",
        [
            _flag(facts.active_systemic_infection, "active systemic infection"),
            _recent_event(
                facts.prior_trial_drug, facts.prior_trial_drug_last_date, facts.reference_date, "prior trial drug"
            ),
        ],
    )


def _ex5_disease_or_surgery(facts: ScreeningFacts) -> CriterionResult:
    return _exclusion(
        "EX5",
        [
            _flag(facts.significant_disease_within_28_days, "clinically significant disease within 28 days"),
            _recent_event(facts.major_surgery, facts.major_surgery_date, facts.reference_date, "major surgery"),
            _flag(facts.major_surgery_expected, "major surgery expected during the trial"),
        ],
    )


def _lab_above_limit(value: Number | None, uln: Number | None, name: str) -> _Finding:
    measured = optional_decimal(value, name)
    limit = optional_decimal(uln, f"{name}_uln")
    if measured is None or limit is None:
        return _Finding(None, f"{name} or its ULN not recorded")
    if limit <= 0:
        raise ClinicalInputError(f"{name}_uln", f"{limit} must be positive")
    ratio = (measured / limit).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    above = measured > ULN_MULTIPLE * limit  # strictly greater: exactly 2 x ULN is allowed
    relation = ">" if above else "<="
    return _Finding(above, f"{name} {measured} = {ratio} x ULN {limit} {relation} 2 x ULN")


def _ex6_organ_function(facts: ScreeningFacts) -> CriterionResult:
    return _exclusion(
        "EX6",
        [
            _lab_above_limit(facts.creatinine, facts.creatinine_uln, "creatinine"),
            _lab_above_limit(facts.bilirubin, facts.bilirubin_uln, "total bilirubin"),
            _lab_above_limit(facts.ast, facts.ast_uln, "AST"),
            _lab_above_limit(facts.alt, facts.alt_uln, "ALT"),
        ],
    )


def _ex7_live_vaccine(facts: ScreeningFacts) -> CriterionResult:
    return _exclusion(
        "EX7",
        [
            _recent_event(facts.live_vaccine, facts.live_vaccine_date, facts.reference_date, "live vaccine"),
            _flag(
                facts.live_vaccine_planned_within_6_months,
                f"live vaccine planned within {VACCINE_PLANNED_MONTHS} months after administration",
            ),
        ],
    )


def _ex8_investigator(facts: ScreeningFacts) -> CriterionResult:
    return _exclusion("EX8", [_flag(facts.investigator_excludes, "investigator judges a risk")])


def evaluate(facts: ScreeningFacts, settings: RuleSettings | None = None) -> EligibilityResult:
    """Evaluate IN1..IN4 and EX1..EX8 from the recorded screening facts."""
    rules = settings or DEFAULT_SETTINGS
    results = [
        _in1_age(facts),
        _in2_aml(facts),
        _in3_relapsed_refractory(facts, rules.relapse_window_months),
        _in4_consent(facts),
        _ex1_other_leukaemia(facts),
        _ex2_congenital(facts),
        _ex3_virology(facts),
        _ex4_infection_or_trial_drug(facts),
        _ex5_disease_or_surgery(facts),
        _ex6_organ_function(facts),
        _ex7_live_vaccine(facts),
        _ex8_investigator(facts),
    ]
    criteria = MappingProxyType({result.code: result for result in results})
    failed = [r.code for r in results if r.status == "fail"]
    missing = [r.code for r in results if r.status == "missing"]
    eligible: bool | None
    reasons: tuple[str, ...]
    if failed:
        eligible, reasons = False, (f"not eligible: {', '.join(failed)} not satisfied",)
    elif missing:
        eligible, reasons = None, (f"not evaluable: data missing for {', '.join(missing)}",)
    else:
        eligible, reasons = True, ("eligible: all inclusion criteria met, no exclusion applies",)
    if failed and missing:
        reasons = (*reasons, f"also missing data for {', '.join(missing)}")
    used: dict[str, object] = {"eligibility.relapse_window": rules.relapse_window_months}
    return EligibilityResult(eligible, criteria, reasons, settings=used)
