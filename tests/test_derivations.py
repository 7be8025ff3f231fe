"""Derived values in the database: computed from stored inputs, stored with rule and settings, recomputed when
an input changes, whatever wrote it (CLINICAL_RULES.md; issue 4 "In the database"). Both engines."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_reason
from jk500db.derivations import CLOCK_KEY, derive_pending, recompute_all
from jk500db.models import (
    AuditEvent,
    Consent,
    CrsAssessment,
    CrsVasopressor,
    DrugAdministration,
    EligibilityCriterion,
    IcansAssessment,
    Infusion,
    LabResult,
    Query,
    ResponseAssessment,
    Screening,
    VirologyResult,
    Visit,
)
from jk500db.models.vocabularies import (
    Agent,
    CapdAnswer,
    ConsentKind,
    ConsentSigner,
    DoseUnit,
    Expectedness,
    FormCode,
    LabTest,
    LockLevel,
    LockMode,
    OxygenDevice,
    QueryOrigin,
    QueryStatus,
    Relatedness,
    ReportStatus,
    ResponseCategory,
    RoleCode,
    Route,
    SerologyResult,
    VirologyTest,
    WindowStatus,
)
from jk500db.services import locks, sdv
from jk500db.services.records import update_record
from jk500db.services.study_definition import load_study_definition
from tests import factories

UTC = dt.UTC
LD_START = dt.datetime(2025, 1, 3, 8, 0, tzinfo=UTC)  # day -7
DAY0 = dt.datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def study(session: Session) -> Session:
    """The session with the study definition (regimen, schedule, settings) loaded."""
    load_study_definition(session)
    session.flush()
    return session


def treated_subject(session: Session, *, infused: bool = True) -> int:
    """A subject with cyclophosphamide on day -7 and (optionally) the first JK500 infusion on day 0."""
    subject = factories.subject(session)
    session.add(
        DrugAdministration(subject_id=subject.id, agent=Agent.CYCLOPHOSPHAMIDE, dose_number=1, route=Route.IV,
                           started_at=LD_START, weight_kg=Decimal("28.4"), height_cm=Decimal("131"),
                           actual_dose=Decimal("1704"), dose_unit=DoseUnit.MG)
    )  # fmt: skip
    if infused:
        session.add(Infusion(subject_id=subject.id, infusion_number=1, started_at=DAY0, product_lot="L1"))
    session.flush()
    return subject.id


def test_lab_grade_is_stored_with_rule_and_settings(session: Session) -> None:
    lab = factories.lab_result(session, value=Decimal("0.4"))
    derive_pending(session)
    assert (lab.ctcae_grade, lab.ctcae_term) == (4, "Neutrophil count decreased")
    assert lab.grade_rule == "ctcae5.lab.NEUT v1"
    assert json.loads(lab.grade_settings or "{}") == {"ctcae.baseline_anchor": "first_lymphodepletion"}
    assert "grade 4" in (lab.grade_reasons or "")


def test_lab_grade_is_recomputed_when_the_value_is_corrected(session: Session) -> None:
    lab = factories.lab_result(session, value=Decimal("0.4"))
    derive_pending(session)
    update_record(session, lab, {"value": Decimal("1.2"), "value_text": "1.2"}, seen_version=lab.version,
                  reason="transcription error")  # fmt: skip
    derive_pending(session)
    assert lab.ctcae_grade == 2  # 1.0 <= ANC < 1.5


def test_decimal_boundary_creatinine_2_1_with_uln_0_7_is_grade_2(session: Session) -> None:
    """CLINICAL_RULES.md: exactly 3.0 x ULN is grade 2 (binary floats say 3.0000000000000004)."""
    lab = factories.lab_result(session, test_code=LabTest.CREAT, value=Decimal("2.1"), value_text="2.1",
                               unit="mg/dL", lln=Decimal("0.3"), uln=Decimal("0.7"))  # fmt: skip
    derive_pending(session)
    assert lab.ctcae_grade == 2


def test_baseline_comes_from_the_last_value_before_lymphodepletion_and_follows_it(session: Session) -> None:
    """CTCAE baseline (setting ctcae.baseline_anchor): abnormal baseline ALT 100 (ULN 40) makes ALT 200 grade
    1 (2 x baseline) instead of grade 2 (5 x ULN). Moving lymphodepletion re-derives the later result."""
    subject_id = treated_subject(session, infused=False)
    alt = {"test_code": LabTest.ALT, "unit": "U/L", "lln": Decimal("0"), "uln": Decimal("40"), "subject_id": subject_id}
    factories.lab_result(session, value=Decimal("100"), value_text="100",
                         collected_at=LD_START - dt.timedelta(days=2), **alt)  # fmt: skip
    later = factories.lab_result(session, value=Decimal("200"), value_text="200",
                                 collected_at=LD_START + dt.timedelta(days=5), **alt)  # fmt: skip
    derive_pending(session)
    assert (later.baseline_value, later.ctcae_grade) == (Decimal("100"), 1)
    cyclophosphamide = session.scalars(sa.select(DrugAdministration)).one()
    update_record(session, cyclophosphamide, {"started_at": LD_START - dt.timedelta(days=10)},
                  seen_version=cyclophosphamide.version, reason="date corrected from source")  # fmt: skip
    derive_pending(session)
    assert (later.baseline_value, later.ctcae_grade) == (None, 2)


def test_crs_grade_and_episode_maximum_with_investigator_difference_query(session: Session) -> None:
    """ASTCT 2019: hypotension with one vasopressor is grade 3; the AE carries the episode maximum and the
    investigator's differing grade opens a derivation-mismatch query, answered by the system once corrected."""
    event = factories.adverse_event(
        session, grade=2, ctcae_term_id=factories.ctcae_term(session, "Cytokine release syndrome").id
    )
    crs = CrsAssessment(subject_id=event.subject_id, adverse_event_id=event.id, assessed_at=DAY0,
                        max_temp_c=Decimal("39.2"), hypotension=True)  # fmt: skip
    session.add(crs)
    session.flush()
    session.add(CrsVasopressor(subject_id=event.subject_id, assessment_id=crs.id, drug="norepinephrine"))
    derive_pending(session)
    assert (crs.astct_grade, crs.grade_rule) == (3, "astct2019.crs v1")
    assert (event.derived_grade, event.grade) == (3, 2)
    query = session.scalars(sa.select(Query).where(Query.rule_id == "MISMATCH-AE-GRADE")).one()
    assert (query.origin, query.status, query.field_name) == (
        QueryOrigin.DERIVATION_MISMATCH,
        QueryStatus.OPEN,
        "grade",
    )
    update_record(session, event, {"grade": 3}, seen_version=event.version, reason="regraded by ASTCT")
    derive_pending(session)
    assert query.status == QueryStatus.ANSWERED
    assert "now pass" in query.messages[-1].text


def test_a_later_assessment_raising_the_episode_maximum_opens_the_mismatch_query(session: Session) -> None:
    """The AE itself is not edited: its derived grade changes, and the investigator's grade 1 now differs."""
    term = factories.ctcae_term(session, "Cytokine release syndrome")
    event = factories.adverse_event(session, grade=1, ctcae_term_id=term.id)
    derive_pending(session)
    session.add(CrsAssessment(subject_id=event.subject_id, adverse_event_id=event.id, assessed_at=DAY0,
                              max_temp_c=Decimal("39.0"), oxygen_device=OxygenDevice.NASAL_CANNULA,
                              oxygen_flow_l_min=Decimal("2")))  # fmt: skip
    derive_pending(session)
    assert event.derived_grade == 2
    (query,) = session.scalars(sa.select(Query).where(Query.rule_id == "MISMATCH-AE-GRADE")).all()
    assert "investigator grade 1, derived 2" in query.messages[0].text


def test_intubation_for_airway_only_is_not_grade_4(session: Session) -> None:
    subject_id = factories.subject(session).id
    crs = CrsAssessment(subject_id=subject_id, assessed_at=DAY0, max_temp_c=Decimal("38.5"),
                        oxygen_device=OxygenDevice.MECHANICAL_VENTILATION, intubated_for_airway_only=True)  # fmt: skip
    session.add(crs)
    derive_pending(session)
    assert crs.astct_grade == 1
    assert "airway protection" in (crs.grade_reasons or "")


def test_icans_uses_capd_before_the_12th_birthday_and_ice_from_it(session: Session) -> None:
    """ASTCT 2019: CAPD under 12 (total 9 or more is grade 3); ICE from the 12th birthday."""
    subject_id = factories.subject(session, birth_date=dt.date(2013, 1, 11)).id
    young = IcansAssessment(subject_id=subject_id, assessed_at=dt.datetime(2025, 1, 10, 9, tzinfo=UTC),
                            **{f"capd_{i}": CapdAnswer.SOMETIMES for i in range(1, 9)})  # fmt: skip
    birthday = IcansAssessment(subject_id=subject_id, assessed_at=dt.datetime(2025, 1, 11, 9, tzinfo=UTC), ice_score=5)
    session.add_all([young, birthday])
    derive_pending(session)
    assert (young.age_years, young.instrument.value if young.instrument else None, young.capd_total) == (11, "capd", 16)
    assert young.astct_grade == 3
    assert (birthday.age_years, birthday.instrument.value if birthday.instrument else None) == (12, "ice")
    assert birthday.astct_grade == 2


def screened_subject(session: Session, *, hbsag: SerologyResult | None = SerologyResult.NEGATIVE) -> Screening:
    subject = factories.subject(session, birth_date=dt.date(2015, 3, 14))
    session.add(Consent(subject_id=subject.id, kind=ConsentKind.GUARDIAN_CONSENT, document_version="1.0",
                        signed_on=dt.date(2024, 12, 1), signer=ConsentSigner.PARENT))  # fmt: skip
    screening = Screening(subject_id=subject.id, screening_date=dt.date(2024, 12, 2),
                          reference_date=dt.date(2024, 12, 20), cns_leukemia=False)  # fmt: skip
    session.add(screening)
    session.flush()
    if hbsag is not None:
        session.add(
            VirologyResult(subject_id=subject.id, screening_id=screening.id, test=VirologyTest.HBSAG, result=hbsag)
        )
    session.flush()
    return screening


def test_eligibility_criteria_are_stored_per_criterion_and_missing_data_is_not_evaluable(session: Session) -> None:
    screening = screened_subject(session)
    derive_pending(session)
    criteria = {c.code: c for c in session.scalars(sa.select(EligibilityCriterion))}
    assert sorted(criteria) == sorted([f"IN{i}" for i in range(1, 5)] + [f"EX{i}" for i in range(1, 9)])
    assert criteria["IN1"].status.value == "pass"  # age 9 at consent
    assert criteria["IN4"].status.value == "pass"
    assert criteria["IN2"].status.value == "missing"  # no disease history yet: never "met"
    assert screening.eligible_derived is None
    assert screening.eligibility_rule == "nct05519384.eligibility v1"


def test_consent_withdrawn_after_screening_still_met_in4_at_screening(session: Session) -> None:
    """The demo's withdrawn child: eligibility is judged as at screening, not undone by a later withdrawal."""
    screened_subject(session)
    consent = session.scalars(sa.select(Consent)).one()
    consent.withdrawn_on = dt.date(2025, 2, 1)
    derive_pending(session)
    in4 = session.scalars(sa.select(EligibilityCriterion).where(EligibilityCriterion.code == "IN4")).one()
    assert in4.status.value == "pass"
    consent.withdrawn_on = dt.date(2024, 12, 1)  # withdrawn before screening: no consent in force
    derive_pending(session)
    assert in4.status.value == "fail"


def test_a_positive_hbsag_fails_ex3_and_makes_the_child_ineligible(session: Session) -> None:
    screening = screened_subject(session, hbsag=SerologyResult.POSITIVE)
    derive_pending(session)
    ex3 = session.scalars(sa.select(EligibilityCriterion).where(EligibilityCriterion.code == "EX3")).one()
    assert ex3.status.value == "fail"
    assert "HBsAg" in ex3.evidence or "hbsag" in ex3.evidence.lower()
    assert screening.eligible_derived is False


def test_eln_category_and_investigator_difference(session: Session) -> None:
    """ELN 2022: blasts < 5 %, ANC 0.3, PLT 120 is CRi (one lineage recovered; not CRh, ANC < 0.5); an
    investigator's CR opens a derivation-mismatch query."""
    subject_id = factories.subject(session).id
    response = ResponseAssessment(subject_id=subject_id, assessed_on=dt.date(2025, 2, 7), bm_blast_pct=Decimal("2"),
                                  anc=Decimal("0.3"), plt=Decimal("120"), marrow_adequate=True,
                                  circulating_blasts=False, extramedullary=False,
                                  investigator_category=ResponseCategory.CR)  # fmt: skip
    session.add(response)
    derive_pending(session)
    assert response.eln_category == ResponseCategory.CRI
    assert response.eln_rule == "eln2022.response v1"
    assert session.scalars(sa.select(Query).where(Query.rule_id == "MISMATCH-RESPONSE")).one().field_name == (
        "investigator_category"
    )


def test_doses_bsa_and_deviation_query(study: Session) -> None:
    """Fludarabine 25 mg/m2 x Mosteller BSA rounded to 2 dp; 30 mg is 17.6 % over plan and opens
    EC-DOSE-DEVIATION (setting dosing.deviation_pct 10)."""
    session = study
    subject_id = treated_subject(session, infused=False)
    dose = DrugAdministration(subject_id=subject_id, agent=Agent.FLUDARABINE, dose_number=1, route=Route.IV,
                              started_at=LD_START + dt.timedelta(days=1), height_cm=Decimal("131"),
                              weight_kg=Decimal("28.4"), actual_dose=Decimal("30"), dose_unit=DoseUnit.MG)  # fmt: skip
    session.add(dose)
    derive_pending(session)
    assert dose.bsa_m2 is not None and round(dose.bsa_m2, 4) == Decimal("1.0166")  # sqrt(131 x 28.4 / 3600)
    assert dose.planned_dose == Decimal("25.50")  # 25 x 1.02
    assert dose.deviation is True
    assert dose.dose_rule == "dosing.planned_dose v1"
    query = session.scalars(sa.select(Query).where(Query.rule_id == "EC-DOSE-DEVIATION")).one()
    assert "limit 10 %" in query.messages[0].text


def test_visit_days_and_window_follow_the_first_infusion(study: Session) -> None:
    session = study
    subject_id = treated_subject(session)
    visit = Visit(subject_id=subject_id, visit_code="D28", visit_date=dt.date(2025, 2, 20), status="completed")
    session.add(visit)
    derive_pending(session)
    assert (visit.protocol_day, visit.study_day) == (41, 49)
    assert visit.window_status == WindowStatus.LATE
    assert session.scalars(sa.select(Query).where(Query.rule_id == "EC-VISIT-WINDOW")).one()
    infusion = session.scalars(sa.select(Infusion)).one()
    update_record(session, infusion, {"started_at": DAY0 + dt.timedelta(days=13)}, seen_version=infusion.version,
                  reason="date corrected")  # fmt: skip
    derive_pending(session)
    assert visit.protocol_day == 28
    assert visit.window_status == WindowStatus.IN_WINDOW


@pytest.mark.parametrize(
    ("onset_day", "grade", "elsewhere", "candidate"),
    [
        (0, 3, False, True),  # day 0 is in the window
        (28, 3, False, True),  # day 28 too (days 0-28 inclusive, setting dlt.window_days)
        (29, 3, False, False),
        (-1, 3, False, False),
        (5, 2, False, False),  # below dlt.min_grade
        (5, 4, True, False),  # attributed to disease or medication
    ],
)
def test_dlt_candidacy(session: Session, onset_day: int, grade: int, elsewhere: bool, candidate: bool) -> None:
    """Registry NCT05519384 DLT definition with CLINICAL_RULES.md's settings."""
    subject_id = treated_subject(session)
    event = factories.adverse_event(session, subject_id=subject_id, grade=grade, attributed_elsewhere=elsewhere,
                                    onset_date=DAY0.date() + dt.timedelta(days=onset_day))  # fmt: skip
    derive_pending(session)
    assert event.dlt_candidate is candidate
    assert "DLT window 2025-01-10 to 2025-02-07" in (event.dlt_reasons or "")


def test_no_infusion_means_the_dlt_window_is_unknown(session: Session) -> None:
    event = factories.adverse_event(session, subject_id=treated_subject(session, infused=False), grade=4)
    derive_pending(session)
    assert event.dlt_candidate is None


def test_susar_reporting_clocks_and_overdue_status(session: Session) -> None:
    """ICH E2A: a fatal or life-threatening SUSAR is due on day 7, complete by day 15; SAE to sponsor 24 h."""
    aware = dt.datetime(2025, 1, 20, 10, 0, tzinfo=UTC)
    session.info[CLOCK_KEY] = lambda: dt.datetime(2025, 1, 29, 12, 0, tzinfo=UTC)
    event = factories.adverse_event(
        session, grade=4, serious=True, serious_life_threatening=True, awareness_at=aware,
        sponsor_reported_at=aware + dt.timedelta(hours=3), related_jk500=Relatedness.POSSIBLE,
        expectedness=Expectedness.UNEXPECTED,
    )  # fmt: skip
    derive_pending(session)
    assert event.sponsor_report_due_at == aware + dt.timedelta(hours=24)
    assert event.susar is True
    assert (event.regulator_initial_due_on, event.regulator_follow_up_due_on) == (
        dt.date(2025, 1, 27),
        dt.date(2025, 2, 4),
    )
    assert event.report_status == ReportStatus.OVERDUE  # day 9, regulator report not sent
    update_record(session, event, {"regulator_reported_on": dt.date(2025, 1, 26)}, seen_version=event.version,
                  reason="report sent")  # fmt: skip
    derive_pending(session)
    assert event.report_status == ReportStatus.SUBMITTED


def test_core_update_outside_the_orm_is_derived_at_commit(session: Session) -> None:
    """Every write path: a Core UPDATE through the session is picked up from the audit trail at commit."""
    lab = factories.lab_result(session, value=Decimal("0.4"))
    session.commit()
    assert lab.ctcae_grade == 4
    session.execute(sa.update(LabResult).where(LabResult.id == lab.id).values(value=Decimal("3.0"), value_text="3.0"))
    session.commit()
    session.refresh(lab)
    assert lab.ctcae_grade == 0


def test_derived_changes_are_audited_under_a_derivation_reason(session: Session) -> None:
    subject_id = treated_subject(session, infused=False)
    session.commit()
    set_reason(session, None)
    lab = factories.lab_result(session, subject_id=subject_id, collected_at=LD_START + dt.timedelta(days=3))
    session.commit()
    events = session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.table_name == "lab_result",
            AuditEvent.row_key == str(lab.id),
            AuditEvent.field_name == "ctcae_grade",
        )
    ).all()
    assert [e.new_value for e in events] == ["4"]
    assert events[0].reason is not None and events[0].reason.startswith("derived values recomputed")


def test_a_recomputation_alone_does_not_clear_sdv(session: Session) -> None:
    """SDV verifies entered data against source; a derived value changing because another form changed does not
    un-verify the form (an entered change still does: tests/test_sdv_locks.py)."""
    subject_id = treated_subject(session, infused=False)
    alt = {"test_code": LabTest.ALT, "unit": "U/L", "lln": Decimal("0"), "uln": Decimal("40"), "subject_id": subject_id}
    later = factories.lab_result(session, value=Decimal("200"), value_text="200",
                                 collected_at=LD_START + dt.timedelta(days=5), **alt)  # fmt: skip
    derive_pending(session)
    monitor = factories.user(session, RoleCode.MONITOR)
    mark = sdv.mark_verified(session, actor=monitor, subject_id=subject_id, visit_id=None, form_code=FormCode.LABS)
    session.flush()
    cyclophosphamide = session.scalars(sa.select(DrugAdministration)).one()
    update_record(session, cyclophosphamide, {"weight_kg": Decimal("28.5")}, seen_version=cyclophosphamide.version,
                  reason="weight corrected")  # fmt: skip
    derive_pending(session)
    session.refresh(mark)
    assert later.ctcae_grade == 2
    assert mark.cleared_at is None


def test_derived_values_of_locked_records_are_held(session: Session) -> None:
    """LK-01: nothing under a lock changes, not even a recomputation; the save that triggered it still works."""
    subject_id = treated_subject(session, infused=False)
    alt = {"test_code": LabTest.ALT, "unit": "U/L", "lln": Decimal("0"), "uln": Decimal("40"), "subject_id": subject_id}
    factories.lab_result(
        session, value=Decimal("100"), value_text="100", collected_at=LD_START - dt.timedelta(days=2), **alt
    )
    later = factories.lab_result(session, value=Decimal("200"), value_text="200",
                                 collected_at=LD_START + dt.timedelta(days=5), **alt)  # fmt: skip
    derive_pending(session)
    admin = factories.user(session, RoleCode.ADMIN)
    locks.lock(session, actor=admin, level=LockLevel.FORM, mode=LockMode.LOCK, subject_id=subject_id,
               form_code=FormCode.LABS, reason="labs reviewed")  # fmt: skip
    session.flush()
    cyclophosphamide = session.scalars(sa.select(DrugAdministration)).one()
    update_record(session, cyclophosphamide, {"started_at": LD_START - dt.timedelta(days=10)},
                  seen_version=cyclophosphamide.version, reason="date corrected")  # fmt: skip
    derive_pending(session)
    session.refresh(later)
    assert later.ctcae_grade == 1  # still the grade computed against the old baseline


def test_recompute_all_brings_every_subject_up_to_date(session: Session) -> None:
    lab = factories.lab_result(session, value=Decimal("0.4"))
    session.execute(sa.update(LabResult).where(LabResult.id == lab.id).values(ctcae_grade=None))
    assert recompute_all(session) == 1
    session.refresh(lab)
    assert lab.ctcae_grade == 4


def test_add_record_shows_the_derived_values_at_once(session: Session) -> None:
    from jk500db.services.records import add_record

    lab = LabResult(subject_id=factories.subject(session).id, test_code=LabTest.PLAT, value=Decimal("20"),
                    value_text="20", unit="10^9/L", lln=Decimal("150"), uln=Decimal("450"),
                    collected_at=dt.datetime(2025, 1, 12, 7, 0, tzinfo=UTC))  # fmt: skip
    add_record(session, lab)
    assert (lab.ctcae_grade, lab.ctcae_term) == (4, "Platelet count decreased")  # PLT < 25


def test_records_built_from_plain_text_derive_too(session: Session) -> None:
    """Forms and importers hand over vocabulary values as text ("NEUT", "norepinephrine"); until reloaded the
    object holds the text, and the derivations must read it as well as the enum."""
    from jk500db.services.records import add_record

    lab = LabResult(subject_id=factories.subject(session).id, test_code="NEUT", value=Decimal("0.9"),  # type: ignore[arg-type]
                    value_text="0.9", unit="10^9/L", lln=Decimal("1.5"), uln=Decimal("8"),
                    collected_at=dt.datetime(2025, 1, 12, 7, 0, tzinfo=UTC))  # fmt: skip
    add_record(session, lab)
    assert lab.ctcae_grade == 3
