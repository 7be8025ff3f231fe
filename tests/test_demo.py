"""The SYNTHETIC demo cohort and the load-test generator, on both engines.

The cohort's variety is checked through the pure clinical rules applied to the stored inputs (the derived
columns are left NULL in the file), so a change to the data that stops it showing CR, CRS grade 2, a late SAE
report, ... fails here rather than in a demonstration.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.clinical import astct, ctcae, dosing, eligibility, eln, reporting, schedule
from jk500db.demo import MAX_GENERATED_SUBJECTS, sites_for
from jk500db.demo.cohort import DEMO_COHORT_FILE, load_demo_cohort
from jk500db.demo.generator import MAX_SUBJECTS_PER_SITE, generate_study
from jk500db.errors import ValidationError
from jk500db.models import (
    AdverseEvent,
    CrsAssessment,
    CtcaeTerm,
    Death,
    DrugAdministration,
    EligibilityCriterion,
    EndOfStudy,
    IcansAssessment,
    Infusion,
    LabResult,
    PartialDate,
    ResponseAssessment,
    Screening,
    Site,
    Subject,
    SurvivalFollowUp,
    Transplant,
    Visit,
    VisitDefinition,
)
from jk500db.models.vocabularies import (
    CongenitalSyndrome,
    ConsentKind,
    DispositionStatus,
    SerologyResult,
    SubjectStatus,
    VisitAnchor,
    VisitStatus,
    WithdrawalBy,
)
from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
from jk500db.services.terminology import load_ctcae_terms

CTCAE_CSV = SEED_DATA_DIR / "ctcae_v5.0_terms.csv"
#: Haematological AEs never make a DLT candidate here (the registry's DLT is non-haematological toxicity).
HAEMATOLOGICAL_TERMS = frozenset(
    {
        "Neutrophil count decreased",
        "Platelet count decreased",
        "White blood cell decreased",
        "Lymphocyte count decreased",
    }
)
REGIMEN = {"cyclophosphamide": ("60", "mg/kg"), "fludarabine": ("25", "mg/m2"), "il2": ("100", "WU/m2")}


@pytest.fixture
def study(session: Session) -> Session:
    """The study definition and CTCAE terms, kept when a test rolls its own work back."""
    load_study_definition(session)
    load_ctcae_terms(session, CTCAE_CSV)
    session.commit()  # releases the fixture's SAVEPOINT only; the test's transaction still rolls back
    return session


@pytest.fixture
def cohort(study: Session) -> Session:
    assert load_demo_cohort(study) == 12
    return study


def _subjects(session: Session) -> dict[int, Subject]:
    return {s.id: s for s in session.scalars(sa.select(Subject).where(Subject.subject_number.like("01-%")))}


def _first_infusion(session: Session, subject_id: int) -> dt.date | None:
    started = session.scalar(
        sa.select(Infusion.started_at).where(Infusion.subject_id == subject_id, Infusion.infusion_number == 1)
    )
    return None if started is None else started.date()


# --- the file -------------------------------------------------------------------------------------------------


def test_the_cohort_file_says_synthetic_at_the_top_and_in_every_subject() -> None:
    text = DEMO_COHORT_FILE.read_text(encoding="utf-8")
    assert "SYNTHETIC DEMONSTRATION DATA -- NOT REAL PATIENTS" in text.splitlines()[1]
    data = tomllib.loads(text)
    assert data["synthetic"] is True
    assert all(s["synthetic"] is True and s["summary"].startswith("SYNTHETIC") for s in data["subjects"])


def test_a_subject_not_marked_synthetic_is_refused(study: Session, tmp_path: Path) -> None:
    text = DEMO_COHORT_FILE.read_text(encoding="utf-8").replace("synthetic = true", "synthetic = false")
    path = tmp_path / "cohort.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError, match="synthetic"):
        load_demo_cohort(study, path)


# --- loading ---------------------------------------------------------------------------------------------------


def test_the_cohort_is_twelve_synthetic_children_aged_2_to_17(cohort: Session) -> None:
    subjects = _subjects(cohort).values()
    assert len(subjects) == 12
    assert all(s.synthetic for s in subjects)
    for subject in subjects:
        consent = min(c.signed_on for c in subject.consents if c.kind is ConsentKind.GUARDIAN_CONSENT)
        assert 2 <= schedule.age_in_years(subject.birth_date, consent) <= 17


def test_loading_the_cohort_twice_adds_nothing(cohort: Session) -> None:
    tables = (Subject, Visit, LabResult, AdverseEvent, DrugAdministration, Infusion, ResponseAssessment)
    before = {m.__tablename__: cohort.scalar(sa.select(sa.func.count()).select_from(m)) for m in tables}
    assert load_demo_cohort(cohort) == 0
    after = {m.__tablename__: cohort.scalar(sa.select(sa.func.count()).select_from(m)) for m in tables}
    assert after == before


def test_derived_columns_are_left_for_the_derivation_services(cohort: Session) -> None:
    derived = [
        LabResult.ctcae_grade,
        CrsAssessment.astct_grade,
        IcansAssessment.astct_grade,
        IcansAssessment.instrument,
        IcansAssessment.capd_total,
        IcansAssessment.age_years,
        ResponseAssessment.eln_category,
        ResponseAssessment.mrd_negative,
        DrugAdministration.bsa_m2,
        DrugAdministration.planned_dose,
        DrugAdministration.deviation,
        Infusion.dose_cells_per_kg,
        Visit.protocol_day,
        Visit.window_status,
        AdverseEvent.dlt_candidate,
        AdverseEvent.derived_grade,
        AdverseEvent.sponsor_report_due_at,
        AdverseEvent.susar,
        AdverseEvent.report_status,
        Screening.eligible_derived,
    ]
    for column in derived:
        assert cohort.scalar(sa.select(sa.func.count()).where(column.is_not(None))) == 0, column
    assert cohort.scalar(sa.select(sa.func.count()).select_from(EligibilityCriterion)) == 0


# --- the clinical variety, through the rules -----------------------------------------------------------------------


def _screening_facts(session: Session, subject: Subject) -> eligibility.ScreeningFacts:
    """The eligibility inputs as stored: screening form, disease history, consent, virology, screening labs."""
    screening, history = subject.screening, subject.disease_history
    assert screening is not None and history is not None
    consents = [c for c in subject.consents if c.kind is ConsentKind.GUARDIAN_CONSENT]
    positive = {v.test.value: v.result is SerologyResult.POSITIVE for v in screening.virology}
    labs = {
        lab.test_code.value: lab
        for lab in session.scalars(
            sa.select(LabResult)
            .join(Visit, LabResult.visit_id == Visit.id)
            .where(LabResult.subject_id == subject.id, Visit.visit_code == "SCR")
        )
    }
    congenital = screening.congenital_syndrome

    def full(partial: PartialDate | None) -> dt.date | None:
        return None if partial is None else partial.as_date()

    return eligibility.ScreeningFacts(
        reference_date=screening.reference_date,
        birth_date=subject.birth_date,
        consent_date=min(c.signed_on for c in consents),
        consent_signed=bool(consents),
        aml_who2016=history.aml_who2016,
        induction_courses=history.induction_courses,
        best_response_after_induction=None
        if history.best_response_after_induction is None
        else history.best_response_after_induction.value,
        cr_date=full(history.cr_date),
        relapse_date=full(history.relapse_date),
        apl=history.apl,
        cml=history.cml,
        mixed_phenotype=history.mixed_phenotype,
        cns_leukemia=screening.cns_leukemia,
        congenital_syndrome=None if congenital is None else congenital is not CongenitalSyndrome.NONE,
        hiv_ab=positive["hiv_ab"],
        hbsag=positive["hbsag"],
        hbeag=positive["hbeag"],
        hcv_ab=positive["hcv_ab"],
        tp_ab=positive["tp_ab"],
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
        creatinine=labs["CREAT"].value,
        creatinine_uln=labs["CREAT"].uln,
        bilirubin=labs["BILI"].value,
        bilirubin_uln=labs["BILI"].uln,
        ast=labs["AST"].value,
        ast_uln=labs["AST"].uln,
        alt=labs["ALT"].value,
        alt_uln=labs["ALT"].uln,
        investigator_excludes=screening.investigator_excludes,
    )


def test_screen_failures_are_ineligible_and_everyone_else_eligible(cohort: Session) -> None:
    results = {s.subject_number: eligibility.evaluate(_screening_facts(cohort, s)) for s in _subjects(cohort).values()}
    failed = {
        number: [c for c, r in result.criteria.items() if r.status == "fail"]
        for number, result in results.items()
        if result.eligible is False
    }
    assert failed == {"01-004": ["EX3"], "01-005": ["EX1"]}
    assert all(result.eligible is True for number, result in results.items() if number not in failed)
    statuses = {s.subject_number: s.status for s in _subjects(cohort).values()}
    assert {n for n, status in statuses.items() if status is SubjectStatus.SCREEN_FAILED} == set(failed)


def test_the_stored_eligibility_agrees_once_derived(cohort: Session) -> None:
    """The derivation pass (jk500db.derivations.eligibility) reads the same forms and reaches the same verdict;
    01-007's consent, withdrawn after screening, was in force when eligibility was judged."""
    from jk500db.derivations import derive_pending

    derive_pending(cohort)
    failed = cohort.execute(
        sa.select(Subject.subject_number, EligibilityCriterion.code)
        .join(EligibilityCriterion, EligibilityCriterion.subject_id == Subject.id)
        .where(EligibilityCriterion.status == "fail")
    ).all()
    assert sorted(failed) == [("01-004", "EX3"), ("01-005", "EX1")]
    verdicts = cohort.scalars(sa.select(Screening.eligible_derived)).all()
    assert (verdicts.count(True), verdicts.count(False)) == (10, 2)


def test_both_branches_of_in3_occur(cohort: Session) -> None:
    evidence = [
        eligibility.evaluate(_screening_facts(cohort, s)).criteria["IN3"].evidence for s in _subjects(cohort).values()
    ]
    assert any("(no CR/CRh/CRi): refractory" in text for text in evidence)
    assert any(
        "(a remission): not refractory" in text and "eligibility.relapse_window" in text and ": met" in text
        for text in evidence
    )


def test_responses_include_cr_cri_crh_mlfs_and_nr_as_the_investigator_recorded(cohort: Session) -> None:
    categories = []
    for r in cohort.scalars(sa.select(ResponseAssessment)):
        result = eln.classify(
            bm_blast_pct=r.bm_blast_pct,
            anc=r.anc or 0,
            plt=r.plt or 0,
            circulating_blasts=bool(r.circulating_blasts),
            extramedullary=bool(r.extramedullary),
            marrow_adequate=bool(r.marrow_adequate),
            mrd_pct=r.mrd_pct,
            mrd_threshold_pct=r.mrd_threshold_pct,
        )
        assert r.investigator_category is not None and r.investigator_category.value == result.category
        categories.append(result.label)
    assert {"CR MRD-negative", "CR", "CRi", "CRh", "MLFS", "NR"} <= set(categories)


def test_a_grade_4_neutropenia_is_stored_with_its_age_specific_range(cohort: Session) -> None:
    grades = [
        ctcae.grade_lab("NEUT", lab.value, lab.unit or "", lln=lab.lln, uln=lab.uln).grade
        for lab in cohort.scalars(sa.select(LabResult).where(LabResult.test_code == "NEUT"))
        if lab.value is not None and lab.value < Decimal("0.5")
    ]
    assert grades and set(grades) == {4}
    ranges = set(cohort.execute(sa.select(LabResult.lln, LabResult.uln).where(LabResult.test_code == "NEUT")))
    assert len(ranges) >= 2, "paediatric limits differ by age"


def _crs_grade(assessment: CrsAssessment) -> int:
    return astct.grade_crs(
        max_temp_c=assessment.max_temp_c,
        prior_crs_treated=assessment.prior_crs_treated,
        hypotension=assessment.hypotension,
        vasopressors=[v.drug.value for v in assessment.vasopressors],
        oxygen=assessment.oxygen_device.value,
        oxygen_flow_l_min=assessment.oxygen_flow_l_min,
        other_cause=assessment.other_cause,
        death=assessment.death,
    ).grade


def test_crs_episodes_grade_1_and_2_by_astct_with_their_inputs(cohort: Session) -> None:
    worst: dict[int, int] = defaultdict(int)
    assessments = list(cohort.scalars(sa.select(CrsAssessment)))
    for assessment in assessments:
        assert assessment.adverse_event is not None
        worst[assessment.adverse_event.id] = max(worst[assessment.adverse_event.id], _crs_grade(assessment))
    assert {1, 2} <= set(worst.values())
    for ae_id, grade in worst.items():
        assert cohort.get_one(AdverseEvent, ae_id).grade == grade  # the investigator's grade agrees
    assert any(a.hypotension for a in assessments)
    assert any(a.oxygen_device.value == "nasal_cannula" and a.oxygen_flow_l_min for a in assessments)
    assert all(a.max_temp_c is not None for a in assessments)


def test_icans_is_assessed_by_capd_under_12_and_by_ice_from_12(cohort: Session) -> None:
    tools = set()
    for assessment in cohort.scalars(sa.select(IcansAssessment)):
        subject = cohort.get_one(Subject, assessment.subject_id)
        age = schedule.age_in_years(subject.birth_date, assessment.assessed_at.date())
        items = [getattr(assessment, f"capd_{n}") for n in range(1, 9)]
        capd = astct.capd_total([item.value for item in items]) if all(items) else None
        if age < 12:
            assert capd is not None and assessment.ice_score is None
            tools.add("CAPD")
        else:
            assert assessment.ice_score is not None and capd is None
            tools.add("ICE")
        grade = astct.grade_icans(
            age_years=age, ice_score=assessment.ice_score, capd_score=capd, consciousness=assessment.consciousness.value
        ).grade
        assert assessment.adverse_event is not None and grade <= assessment.adverse_event.grade
    assert tools == {"CAPD", "ICE"}


def test_saes_record_awareness_and_one_reached_the_sponsor_late(cohort: Session) -> None:
    serious = list(cohort.scalars(sa.select(AdverseEvent).where(AdverseEvent.serious)))
    assert serious and all(ae.awareness_at is not None and ae.sponsor_reported_at is not None for ae in serious)
    late = [ae for ae in serious if ae.sponsor_reported_at > reporting.sae_sponsor_due(ae.awareness_at)]  # type: ignore[operator, arg-type]
    assert len(late) == 1 and late[0].term.term == "Lung infection"
    assert any(ae.serious_hospitalisation and ae not in late for ae in serious)


def test_a_non_haematological_grade_3_ae_in_the_dlt_window_is_a_dlt_candidate(cohort: Session) -> None:
    candidates = []
    for subject in _subjects(cohort).values():
        day0 = _first_infusion(cohort, subject.id)
        if day0 is None:
            continue
        window = schedule.dlt_window(day0)
        candidates += [
            (subject.subject_number, ae.term.term)
            for ae in subject.adverse_events
            if window.start <= ae.onset_date <= window.end
            and ae.grade >= 3
            and not ae.attributed_elsewhere
            and ae.term.soc != "Blood and lymphatic system disorders"
            and ae.term.term not in HAEMATOLOGICAL_TERMS
        ]
    assert candidates == [("01-008", "Alanine aminotransferase increased")]


def test_a_guardian_withdrew_the_child_after_three_infusions(cohort: Session) -> None:
    ending = cohort.scalars(sa.select(EndOfStudy).where(EndOfStudy.status == DispositionStatus.WITHDRAWN)).one()
    assert ending.withdrawal_by is WithdrawalBy.GUARDIAN
    subject = cohort.get_one(Subject, ending.subject_id)
    assert subject.status is SubjectStatus.WITHDRAWN and len(subject.infusions) == 3
    assert all(c.withdrawn_on == ending.ended_on for c in subject.consents)


def test_one_child_died_of_a_grade_5_serious_adverse_event(cohort: Session) -> None:
    death = cohort.scalars(sa.select(Death)).one()
    assert death.adverse_event_id is not None
    fatal = cohort.get_one(AdverseEvent, death.adverse_event_id)
    assert (fatal.grade, fatal.serious_death, fatal.onset_date <= death.death_date) == (5, True, True)


def test_exactly_one_dose_deviates_by_more_than_ten_percent(cohort: Session) -> None:
    deviations = []
    for dose in cohort.scalars(sa.select(DrugAdministration)):
        amount, basis = REGIMEN[dose.agent.value]
        assert dose.weight_kg is not None and dose.actual_dose is not None
        planned = dosing.planned_dose(amount, basis, height_cm=dose.height_cm, weight_kg=dose.weight_kg)
        if dosing.dose_deviation(planned.amount, dose.actual_dose).deviation:
            deviations.append((dose.agent.value, dose.dose_number))
    assert deviations == [("il2", 4)]


def test_every_treated_child_has_six_infusions_unless_stopped_early(cohort: Session) -> None:
    counts = Counter(cohort.scalars(sa.select(Infusion.subject_id)))
    numbers = {s.id: s.subject_number for s in _subjects(cohort).values()}
    assert sorted(counts.values()) == [3] + [6] * 9
    assert {numbers[sid] for sid, n in counts.items() if n == 3} == {"01-007"}


def test_some_visits_fall_outside_their_windows(cohort: Session) -> None:
    statuses: Counter[str] = Counter()
    for subject in _subjects(cohort).values():
        day0 = _first_infusion(cohort, subject.id)
        if day0 is None:
            continue
        for visit in subject.visits:
            definition = visit.definition
            if definition is None or visit.visit_date is None or definition.nominal_day is None:
                continue
            anchor = day0 - dt.timedelta(days=7) if definition.anchor is VisitAnchor.LYMPHODEPLETION_START else day0
            nominal = anchor + dt.timedelta(days=definition.nominal_day)
            statuses[
                schedule.window_status(visit.visit_date, nominal, definition.window_before, definition.window_after)
            ] += 1
    assert statuses["late"] >= 2 and statuses["early"] >= 1 and statuses["in_window"] > 100
    missed = cohort.scalar(sa.select(sa.func.count()).where(Visit.status == VisitStatus.MISSED))
    assert missed is not None and missed >= 1


def test_a_responder_went_on_to_hsct_and_survivors_are_followed(cohort: Session) -> None:
    transplant = cohort.scalars(sa.select(Transplant)).one()
    assert transplant.pre_transplant_response == "CR"
    followed = set(cohort.scalars(sa.select(SurvivalFollowUp.subject_id)))
    reached_m6 = set(
        cohort.scalars(
            sa.select(Visit.subject_id).where(Visit.visit_code == "M6", Visit.status == VisitStatus.COMPLETED)
        )
    )
    assert transplant.subject_id in followed and len(reached_m6) >= 6 and reached_m6 <= followed


def test_children_of_eight_and_over_assent(cohort: Session) -> None:
    for subject in _subjects(cohort).values():
        signed = min(c.signed_on for c in subject.consents)
        assented = any(c.kind is ConsentKind.ASSENT for c in subject.consents)
        assert assented == (schedule.age_in_years(subject.birth_date, signed) >= 8), subject.subject_number


# --- the generator -------------------------------------------------------------------------------------------------


def _ae_checksum(session: Session) -> str:
    rows = session.execute(
        sa.select(
            Subject.subject_number,
            AdverseEvent.ae_number,
            CtcaeTerm.term,
            AdverseEvent.onset_date,
            AdverseEvent.end_date,
            AdverseEvent.grade,
            AdverseEvent.serious,
            AdverseEvent.awareness_at,
        )
        .join(Subject, AdverseEvent.subject_id == Subject.id)
        .join(CtcaeTerm)
        .order_by(Subject.subject_number, AdverseEvent.ae_number)
    ).all()
    return hashlib.sha256(repr([tuple(map(str, row)) for row in rows]).encode()).hexdigest()


def test_the_generator_spreads_synthetic_subjects_over_new_sites(study: Session) -> None:
    summary = generate_study(study, subjects=30, sites=3, seed=7)
    assert summary.site_codes == ("02", "03", "04")
    per_site = Counter(
        study.execute(sa.select(Site.code).join(Subject, Subject.site_id == Site.id).where(Site.code != "01")).scalars()
    )
    assert per_site == {"02": 10, "03": 10, "04": 10}
    assert study.scalar(sa.select(sa.func.count()).select_from(Subject).where(Subject.synthetic.is_(False))) == 0
    assert summary.counts["subject"] == 30 and summary.counts["lab_result"] > 30 * 15
    assert set(summary.subject_numbers) == set(study.scalars(sa.select(Subject.subject_number)))


def test_the_generator_is_deterministic_for_a_seed(study: Session) -> None:
    first = generate_study(study, subjects=30, sites=3, seed=11)
    first_checksum = _ae_checksum(study)
    study.rollback()
    second = generate_study(study, subjects=30, sites=3, seed=11)
    assert (second.subject_numbers, dict(second.counts), _ae_checksum(study)) == (
        first.subject_numbers,
        dict(first.counts),
        first_checksum,
    )
    study.rollback()
    generate_study(study, subjects=30, sites=3, seed=12)
    assert _ae_checksum(study) != first_checksum


def test_generated_inputs_agree_with_the_rules(study: Session) -> None:
    generate_study(study, subjects=30, sites=3, seed=3)
    for r in study.scalars(sa.select(ResponseAssessment)):
        category = eln.classify(
            bm_blast_pct=r.bm_blast_pct,
            anc=r.anc or 0,
            plt=r.plt or 0,
            circulating_blasts=bool(r.circulating_blasts),
            marrow_adequate=bool(r.marrow_adequate),
        )
        assert r.investigator_category is not None and category.category == r.investigator_category.value
    first_assessments = study.scalars(sa.select(CrsAssessment).where(CrsAssessment.prior_crs_treated.is_(False))).all()
    for assessment in first_assessments:
        assert assessment.adverse_event is not None
        assert _crs_grade(assessment) == assessment.adverse_event.grade


def test_generated_study_and_demo_cohort_share_a_database(study: Session) -> None:
    """Ids assigned by the generator leave the engine's own key sequences usable (PostgreSQL serials)."""
    generate_study(study, subjects=12, sites=2, seed=5)
    assert load_demo_cohort(study) == 12
    assert study.scalar(sa.select(sa.func.count()).select_from(Subject)) == 24


@pytest.mark.parametrize(
    ("subjects", "sites", "message"),
    [
        (MAX_SUBJECTS_PER_SITE * 2 + 1, 2, "at most 1998"),
        (10, 99, "sites must be 1 to 98"),
        (0, 1, "at least 1"),
    ],
)
def test_the_generator_refuses_what_subject_numbers_cannot_hold(
    study: Session, subjects: int, sites: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_study(study, subjects=subjects, sites=sites, seed=0)


@pytest.mark.parametrize(
    ("subjects", "sites"),
    [(1, 1), (MAX_SUBJECTS_PER_SITE, 1), (MAX_SUBJECTS_PER_SITE + 1, 2), (2000, 3), (MAX_GENERATED_SUBJECTS, 98)],
)
def test_the_default_number_of_sites_is_the_fewest_that_hold_the_subjects(subjects: int, sites: int) -> None:
    """`jk500db demo` without --sites: one site up to 999 subjects (the former default), then just enough."""
    assert sites_for(subjects) == sites
    assert MAX_SUBJECTS_PER_SITE * (sites - 1) < subjects <= MAX_SUBJECTS_PER_SITE * sites


def test_the_generator_refuses_sites_that_exist(study: Session) -> None:
    generate_study(study, subjects=3, sites=1, seed=0)
    with pytest.raises(ValueError, match="already exist"):
        generate_study(study, subjects=3, sites=1, seed=0)


def test_visit_definitions_cover_the_generated_schedule(study: Session) -> None:
    generate_study(study, subjects=10, sites=1, seed=2)
    codes = set(study.scalars(sa.select(Visit.visit_code).distinct()))
    assert codes <= set(study.scalars(sa.select(VisitDefinition.code)))
    assert {"SCR", "LD", "INF1", "D28"} <= codes
