"""Eligibility per criterion (IN1-IN4, EX1-EX8) and overall, from the stored screening data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from jk500db.clinical import eligibility
from jk500db.derivations.provenance import assign, rule_label, settings_json
from jk500db.derivations.subject_data import StudyContext, SubjectData, live
from jk500db.models import Consent, EligibilityCriterion, LabResult
from jk500db.models.vocabularies import (
    CongenitalSyndrome,
    ConsentKind,
    CriterionKind,
    CriterionStatus,
    LabTest,
    PriorResponse,
    SerologyResult,
    VirologyTest,
)

#: EX6's organ-function tests, by the ScreeningFacts field they fill.
ORGAN_TESTS = {"creatinine": LabTest.CREAT, "bilirubin": LabTest.BILI, "ast": LabTest.AST, "alt": LabTest.ALT}


def _serology(data: SubjectData, test: VirologyTest) -> bool | None:
    """Positive True, negative False; indeterminate or missing results cannot exclude and cannot clear."""
    result = next((r.result for r in live(data.virology) if r.test == test), None)
    if result == SerologyResult.POSITIVE:
        return True
    return False if result == SerologyResult.NEGATIVE else None


def _screening_lab(data: SubjectData, test: LabTest, reference: dt.date | None) -> LabResult | None:
    """The latest result with its ULN, before study treatment (on or before the reference date, when known)."""
    results = [
        r
        for r in live(data.labs)
        if r.test_code == test and r.value is not None and r.uln is not None
        if reference is None or r.collected_at.date() <= reference
    ]
    return max(results, key=lambda r: r.collected_at, default=None)


def _consent_in_force(consent: Consent, screening_date: dt.date) -> bool:
    """Eligibility is judged as at screening: a consent withdrawn later (the child left the trial) was in force."""
    return consent.withdrawn_on is None or consent.withdrawn_on > screening_date


def screening_facts(data: SubjectData) -> eligibility.ScreeningFacts:
    screening, history = data.screening, data.history
    assert screening is not None
    best = history.best_response_after_induction if history else None
    consents = [c for c in live(data.consents) if c.kind == ConsentKind.GUARDIAN_CONSENT]
    first_consent = min(consents, key=lambda c: c.signed_on, default=None)
    syndrome = screening.congenital_syndrome
    organ = {name: _screening_lab(data, test, screening.reference_date) for name, test in ORGAN_TESTS.items()}

    def value(name: str) -> Decimal | None:
        result = organ[name]
        return result.value if result else None

    def uln(name: str) -> Decimal | None:
        result = organ[name]
        return result.uln if result else None

    return eligibility.ScreeningFacts(
        reference_date=screening.reference_date,
        birth_date=data.subject.birth_date,
        consent_date=first_consent.signed_on if first_consent else None,
        consent_signed=_consent_in_force(first_consent, screening.screening_date) if first_consent else None,
        aml_who2016=history.aml_who2016 if history else None,
        induction_courses=history.induction_courses if history else None,
        best_response_after_induction=None if best in (None, PriorResponse.UNKNOWN) else best,
        cr_date=history.cr_date.as_date() if history else None,
        relapse_date=history.relapse_date.as_date() if history else None,
        apl=history.apl if history else None,
        cml=history.cml if history else None,
        mixed_phenotype=history.mixed_phenotype if history else None,
        cns_leukemia=screening.cns_leukemia,
        congenital_syndrome=None if syndrome is None else syndrome != CongenitalSyndrome.NONE,
        hiv_ab=_serology(data, VirologyTest.HIV_AB),
        hbsag=_serology(data, VirologyTest.HBSAG),
        hbeag=_serology(data, VirologyTest.HBEAG),
        hcv_ab=_serology(data, VirologyTest.HCV_AB),
        tp_ab=_serology(data, VirologyTest.TP_AB),
        active_systemic_infection=screening.active_systemic_infection,
        prior_trial_drug=screening.prior_trial_drug,
        prior_trial_drug_last_date=screening.prior_trial_drug_last_date,
        significant_disease_within_28_days=screening.significant_disease_within_28_days,
        major_surgery=screening.major_surgery,
        major_surgery_date=screening.major_surgery_date,
        major_surgery_expected=screening.major_surgery_expected,
        live_vaccine=screening.live_vaccine,
        live_vaccine_date=screening.live_vaccine_date,
        live_vaccine_planned_within_6_months=screening.live_vaccine_planned_within_6_months,
        creatinine=value("creatinine"),
        creatinine_uln=uln("creatinine"),
        bilirubin=value("bilirubin"),
        bilirubin_uln=uln("bilirubin"),
        ast=value("ast"),
        ast_uln=uln("ast"),
        alt=value("alt"),
        alt_uln=uln("alt"),
        investigator_excludes=screening.investigator_excludes,
    )


def derive_eligibility(session: Session, data: SubjectData, study: StudyContext) -> None:
    screening = data.screening
    if screening is None:
        return
    result = eligibility.evaluate(screening_facts(data), study.settings)
    rule = rule_label(result.rule_id, result.rule_version)
    existing = {c.code: c for c in live(data.criteria)}
    for code, criterion in result.criteria.items():
        row = existing.get(code)
        if row is None:
            row = EligibilityCriterion(
                subject_id=data.subject.id,
                screening_id=screening.id,
                code=code,
                kind=CriterionKind.INCLUSION if code.startswith("IN") else CriterionKind.EXCLUSION,
                status=CriterionStatus(criterion.status),
                evidence=criterion.evidence,
                rule=rule,
            )
            session.add(row)
            data.criteria.append(row)
            continue
        assign(row, status=CriterionStatus(criterion.status), evidence=criterion.evidence, rule=rule)
    assign(
        screening,
        eligible_derived=result.eligible,
        eligibility_rule=rule,
        eligibility_settings=settings_json(result.settings),
    )
