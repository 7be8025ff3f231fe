"""Enforced sequencing (LK-03): a child's treatment forms get a first entry only once an investigator's valid
signature confirms the child's eligibility; everything that can happen before treatment is never blocked, and
corrections are never blocked. The demo data obey the rule. Both engines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.errors import ValidationError
from jk500db.models import (
    AdverseEvent,
    AuditEvent,
    Base,
    Death,
    DrugAdministration,
    EndOfStudy,
    Infusion,
    LabResult,
    ProtocolDeviation,
    Screening,
    Signature,
    Subject,
    User,
)
from jk500db.models.base import ClinicalRecord
from jk500db.models.vocabularies import (
    Agent,
    CnsStatus,
    DeathCause,
    DeviationSeverity,
    DispositionStatus,
    DoseUnit,
    FormCode,
    LabTest,
    RoleCode,
    Route,
    SignatureMeaning,
    WithdrawalBy,
)
from jk500db.services import signatures
from jk500db.services.records import add_record, remove_record, update_record
from jk500db.services.sequencing import (
    SEQUENCED_FORMS,
    EligibilityConfirmation,
    eligibility_confirmation,
    is_sequenced,
)
from tests import factories

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SCREENED = dt.date(2025, 1, 2)
LD_START = dt.datetime(2025, 1, 3, 8, 0, tzinfo=UTC)  # day -7
DAY0 = dt.datetime(2025, 1, 10, 9, 0, tzinfo=UTC)

NOT_SIGNED = (
    "subject: 01-003's eligibility has not been confirmed by an investigator's signature; lymphodepletion and IL-2 "
    "doses and JK500 infusions can be entered once it is signed (LK-03)"
)
RESIGN = (
    "subject: 01-003's eligibility signature was invalidated by a later change to the screening data; an "
    "investigator must re-sign eligibility before more lymphodepletion and IL-2 doses and JK500 infusions can be "
    "entered (LK-03)"
)


def cyclophosphamide(subject_id: int) -> DrugAdministration:
    return DrugAdministration(subject_id=subject_id, agent=Agent.CYCLOPHOSPHAMIDE, dose_number=1, route=Route.IV,
                              started_at=LD_START, weight_kg=Decimal("28.4"), height_cm=Decimal("131"),
                              actual_dose=Decimal("1704"), dose_unit=DoseUnit.MG)  # fmt: skip


def il2(subject_id: int) -> DrugAdministration:
    return DrugAdministration(subject_id=subject_id, agent=Agent.IL2, dose_number=1, route=Route.SC,
                              started_at=DAY0 - dt.timedelta(hours=1), weight_kg=Decimal("28.4"),
                              height_cm=Decimal("131"), actual_dose=Decimal("1010000"),
                              dose_unit=DoseUnit.IU)  # fmt: skip


def infusion(subject_id: int) -> Infusion:
    return Infusion(subject_id=subject_id, infusion_number=1, started_at=DAY0, product_lot="JK500-2501-01",
                    cells_infused=Decimal("284000000"), weight_kg=Decimal("28.4"))  # fmt: skip


TREATMENTS: dict[str, Callable[[int], ClinicalRecord]] = {
    "cyclophosphamide": cyclophosphamide,
    "il2": il2,
    "infusion": infusion,
}


class Child:
    """01-003 screened by a data manager; an investigator who can sign the eligibility."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.investigator = factories.user(session, RoleCode.INVESTIGATOR, full_name="Dr Mei Lin")
        self.manager = factories.user(session, RoleCode.DATA_MANAGER, full_name="Dana Data-Manager")
        factories.act(session, self.manager)
        self.subject = factories.subject(session, subject_number="01-003", screening_number="S003")
        self.screening = Screening(
            subject_id=self.subject.id,
            screening_date=SCREENED,
            reference_date=LD_START.date(),
            cns_status=CnsStatus.CNS1,
            cns_leukemia=False,
        )
        add_record(session, self.screening)  # derives the criteria rows the signature covers

    def sign_eligibility(self) -> Signature:
        factories.act(self.session, self.investigator)
        signature = signatures.sign(
            self.session,
            signer=self.investigator,
            password=factories.TEST_PASSWORD,
            username=self.investigator.email,
            meaning=SignatureMeaning.ELIGIBILITY_CONFIRMED,
            table_name="screening",
            record_id=self.screening.id,
            now=NOW,
        )
        factories.act(self.session, self.manager)
        return signature

    def edit_screening(self) -> None:
        update_record(
            self.session,
            self.screening,
            {"cns_status": CnsStatus.CNS2},
            seen_version=self.screening.version,
            reason="CSF report: CNS2, transcription error",
        )

    def count(self, model: type[ClinicalRecord]) -> int:
        table = model.__table__  # type: ignore[attr-defined]
        return int(
            self.session.scalar(
                sa.select(sa.func.count()).select_from(table).where(table.c.subject_id == self.subject.id)
            )
        )

    def audit_rows(self, table_name: str) -> int:
        return int(
            self.session.scalar(
                sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.table_name == table_name)
            )
        )


@pytest.fixture
def child(session: Session) -> Child:
    return Child(session)


def refused(child: Child, record: ClinicalRecord) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        add_record(child.session, record)
    return caught.value


# --- the rule ------------------------------------------------------------------------------------------------


def test_LK03_the_sequenced_forms_are_the_treatment_forms() -> None:
    assert {FormCode.LYMPHODEPLETION, FormCode.IL2, FormCode.INFUSION} == SEQUENCED_FORMS
    clinical = [m.class_ for m in Base.registry.mappers if issubclass(m.class_, ClinicalRecord)]
    assert {cls for cls in clinical if is_sequenced(cls())} == {DrugAdministration, Infusion}


@pytest.mark.parametrize("make", TREATMENTS.values(), ids=TREATMENTS.keys())
def test_LK03_a_treatment_form_is_refused_until_an_investigator_signs_eligibility(
    child: Child, make: Callable[[int], ClinicalRecord]
) -> None:
    record = make(child.subject.id)
    error = refused(child, record)
    assert (error.field, str(error)) == ("subject", NOT_SIGNED)
    assert eligibility_confirmation(child.session, child.subject.id) is EligibilityConfirmation.NOT_SIGNED
    # Nothing half-written: the record never reached the session or the database, and left no audit row.
    assert record not in child.session and not child.session.new
    child.session.rollback()
    table = type(record).__table__.name  # type: ignore[attr-defined]
    assert child.count(type(record)) == 0 and child.audit_rows(table) == 0


def test_LK03_without_a_screening_the_message_says_what_comes_first(session: Session) -> None:
    factories.act(session, factories.user(session, RoleCode.DATA_MANAGER))
    subject = factories.subject(session, subject_number="01-009", screening_number="S009")
    with pytest.raises(ValidationError) as caught:
        add_record(session, cyclophosphamide(subject.id))
    assert str(caught.value) == (
        "subject: 01-009 has no screening record; enter the screening and have an investigator sign eligibility "
        "before lymphodepletion and IL-2 doses and JK500 infusions can be entered (LK-03)"
    )


def test_LK03_a_subject_given_as_an_object_is_checked_too(child: Child) -> None:
    dose = cyclophosphamide(child.subject.id)
    dose.subject_id = None
    dose.subject = child.subject
    assert str(refused(child, dose)) == NOT_SIGNED


def test_LK03_treatment_is_entered_once_eligibility_is_signed_and_the_signature_stays_valid(child: Child) -> None:
    signature = child.sign_eligibility()
    for make in (cyclophosphamide, infusion, il2):
        add_record(child.session, make(child.subject.id))
    assert child.count(DrugAdministration) == 2 and child.count(Infusion) == 1
    # The derivation pass after each entry recomputed the eligibility without changing the signed content.
    assert signatures.signature_status(child.session, signature) is signatures.SignatureState.VALID
    assert eligibility_confirmation(child.session, child.subject.id) is EligibilityConfirmation.CONFIRMED


def test_LK03_a_change_to_the_screening_stops_treatment_entry_until_eligibility_is_signed_again(
    child: Child,
) -> None:
    child.sign_eligibility()
    add_record(child.session, cyclophosphamide(child.subject.id))
    child.edit_screening()
    assert eligibility_confirmation(child.session, child.subject.id) is EligibilityConfirmation.INVALIDATED
    record = infusion(child.subject.id)
    assert str(refused(child, record)) == RESIGN
    assert record not in child.session and child.count(Infusion) == 0
    child.sign_eligibility()  # the investigator reviews the change and signs again
    add_record(child.session, infusion(child.subject.id))
    assert child.count(Infusion) == 1


def test_LK03_corrections_and_removals_of_treatment_records_are_never_blocked(child: Child) -> None:
    child.sign_eligibility()
    dose = cyclophosphamide(child.subject.id)
    add_record(child.session, dose)
    child.edit_screening()  # the signature is invalidated: new doses wait, the entered one can be put right
    update_record(
        child.session, dose, {"actual_dose": Decimal("1700")}, seen_version=dose.version, reason="pump record"
    )
    assert dose.actual_dose == Decimal("1700")
    remove_record(child.session, dose, seen_version=dose.version, reason="entered for the wrong child", now=NOW)
    assert dose.removed_at is not None


def test_LK03_moving_a_treatment_record_to_an_unsigned_subject_is_refused(child: Child) -> None:
    child.sign_eligibility()
    dose = cyclophosphamide(child.subject.id)
    add_record(child.session, dose)
    other = factories.subject(child.session, subject_number="01-004", screening_number="S004")
    with pytest.raises(ValidationError) as caught:
        update_record(child.session, dose, {"subject_id": other.id}, seen_version=dose.version, reason="wrong child")
    assert str(caught.value).startswith("subject: 01-004 has no screening record")
    child.session.refresh(dose)
    assert dose.subject_id == child.subject.id


# --- never blocked -------------------------------------------------------------------------------------------


def adverse_event(session: Session, subject_id: int) -> ClinicalRecord:
    return AdverseEvent(subject_id=subject_id, ae_number=1, ctcae_term_id=factories.ctcae_term(session, "Nausea").id,
                        onset_date=dt.date(2025, 1, 2), grade=2)  # fmt: skip


def lab_result(session: Session, subject_id: int) -> ClinicalRecord:
    return LabResult(subject_id=subject_id, test_code=LabTest.ALT, collected_at=dt.datetime(2025, 1, 2, 7, tzinfo=UTC),
                     value_text="31", value=Decimal("31"), unit="U/L", lln=Decimal("0"), uln=Decimal("40"))  # fmt: skip


def end_of_study(session: Session, subject_id: int) -> ClinicalRecord:
    return EndOfStudy(subject_id=subject_id, status=DispositionStatus.WITHDRAWN, ended_on=dt.date(2025, 1, 4),
                      reason="Guardian withdrew consent", withdrawal_by=WithdrawalBy.GUARDIAN)  # fmt: skip


def death(session: Session, subject_id: int) -> ClinicalRecord:
    return Death(subject_id=subject_id, death_date=dt.date(2025, 1, 5), cause=DeathCause.DISEASE_PROGRESSION)


def deviation(session: Session, subject_id: int) -> ClinicalRecord:
    return ProtocolDeviation(subject_id=subject_id, occurred_on=dt.date(2025, 1, 3), category="consent",
                             description="Assent form version 1.0 used", severity=DeviationSeverity.MINOR)  # fmt: skip


BEFORE_TREATMENT: dict[str, Callable[[Session, int], ClinicalRecord]] = {
    "adverse event": adverse_event,
    "screening lab": lab_result,
    "withdrawal": end_of_study,
    "death": death,
    "protocol deviation": deviation,
}


@pytest.mark.parametrize("make", BEFORE_TREATMENT.values(), ids=BEFORE_TREATMENT.keys())
def test_LK03_forms_that_can_happen_before_treatment_are_never_blocked(
    child: Child, make: Callable[[Session, int], ClinicalRecord]
) -> None:
    record = make(child.session, child.subject.id)
    add_record(child.session, record)  # no eligibility signature: saved all the same
    assert record.id is not None


def test_LK03_a_childs_adverse_event_is_recorded_even_before_screening(session: Session) -> None:
    factories.act(session, factories.user(session, RoleCode.DATA_MANAGER))
    subject = factories.subject(session, subject_number="01-010", screening_number="S010")
    record = adverse_event(session, subject.id)
    add_record(session, record)
    assert record.id is not None


# --- the demo data obey the rule -----------------------------------------------------------------------------


def first_doses(session: Session) -> dict[int, dt.datetime]:
    rows = session.execute(
        sa.select(DrugAdministration.subject_id, sa.func.min(DrugAdministration.started_at)).group_by(
            DrugAdministration.subject_id
        )
    )
    return {subject_id: first for subject_id, first in rows}


def assert_every_treated_child_was_signed_before_the_first_dose(
    session: Session, subjects: sa.Select[tuple[int]]
) -> int:
    doses = first_doses(session)
    treated = set(session.scalars(subjects)) & set(doses)
    assert treated
    for subject_id in treated:
        assert eligibility_confirmation(session, subject_id) is EligibilityConfirmation.CONFIRMED, subject_id
    signed = session.scalars(sa.select(Signature).where(Signature.subject_id.in_(treated))).all()
    assert {s.subject_id for s in signed} == treated and len(signed) == len(treated)
    for signature in signed:
        assert signature.meaning == SignatureMeaning.ELIGIBILITY_CONFIRMED and signature.printed_name
        signer = session.get_one(User, signature.user_id)
        assert signer.demo and signer.role_code is RoleCode.INVESTIGATOR
        assert signature.signed_at < doses[signature.subject_id]
    return len(treated)


@pytest.fixture
def demo_study(session: Session) -> Session:
    from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
    from jk500db.services.terminology import load_ctcae_terms

    load_study_definition(session)
    load_ctcae_terms(session, SEED_DATA_DIR / "ctcae_v5.0_terms.csv")
    return session


def test_LK03_the_demo_investigator_signed_each_treated_childs_eligibility_before_the_first_dose(
    demo_study: Session,
) -> None:
    """What `jk500db init --demo` does: cohort, demo accounts, then the eligibility signatures."""
    from jk500db.demo.cohort import load_demo_cohort
    from jk500db.demo.signoff import sign_demo_eligibility
    from jk500db.services.accounts import create_demo_users

    load_demo_cohort(demo_study)
    create_demo_users(demo_study, now=NOW)
    assert sign_demo_eligibility(demo_study) == 10
    assert assert_every_treated_child_was_signed_before_the_first_dose(demo_study, sa.select(Subject.id)) == 10
    screen_failed = demo_study.scalars(sa.select(Subject.id).where(Subject.subject_number.in_(["01-004", "01-005"])))
    for subject_id in screen_failed:  # not eligible, never treated: nothing to sign
        assert eligibility_confirmation(demo_study, subject_id) is EligibilityConfirmation.NOT_SIGNED
    assert sign_demo_eligibility(demo_study) == 0  # `init --demo` run again signs nothing twice


def test_LK03_a_generated_study_in_a_demo_database_has_eligibility_signed_before_treatment(
    demo_study: Session,
) -> None:
    from jk500db.demo.generator import generate_study
    from jk500db.services.accounts import create_demo_users

    create_demo_users(demo_study, now=NOW)
    summary = generate_study(demo_study, subjects=12, sites=1, seed=4)
    generated = sa.select(Subject.id).where(Subject.subject_number.like("02-%"))
    treated = assert_every_treated_child_was_signed_before_the_first_dose(demo_study, generated)
    assert summary.counts["signature"] == treated


def test_LK03_without_demo_accounts_the_generator_signs_nothing(demo_study: Session) -> None:
    """A plain `jk500db init` has no accounts (PW-06): nobody to sign, and no account is made up for it."""
    from jk500db.demo.generator import generate_study

    summary = generate_study(demo_study, subjects=3, sites=1, seed=4)
    assert "signature" not in summary.counts
    assert demo_study.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0
    assert demo_study.scalar(sa.select(sa.func.count()).select_from(User)) == 0
