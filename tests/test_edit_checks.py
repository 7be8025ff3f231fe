"""Edit checks (issue 4): hard checks refuse with the field and the rule and nothing is written; soft checks
save and open a query. They run on every changed record, whatever wrote it. Both engines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_change_context
from jk500db.derivations import CLOCK_KEY, derive_pending
from jk500db.edit_checks import REGISTRY, Severity
from jk500db.errors import ValidationError
from jk500db.models import (
    AdverseEvent,
    Consent,
    Death,
    DrugAdministration,
    Infusion,
    LabResult,
    Query,
    ResponseAssessment,
    Screening,
    VitalSigns,
)
from jk500db.models.vocabularies import Agent, ConsentKind, ConsentSigner, DeathCause, DoseUnit, LabTest, Route
from tests import factories
from tests.conftest import TEST_CONTEXT

UTC = dt.UTC
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock(session: Session) -> None:
    session.info[CLOCK_KEY] = lambda: NOW


def refusal(session: Session) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        derive_pending(session)
    return caught.value


def queries(session: Session, rule_id: str) -> list[Query]:
    return list(session.scalars(sa.select(Query).where(Query.rule_id == rule_id)))


def test_registry_names_each_check_issue_4_asks_for() -> None:
    ids = {c.id for c in REGISTRY}
    assert {
        "EC-DATE-CONSENT",
        "EC-DATE-LYMPHODEPLETION",
        "EC-DATE-INFUSION",
        "EC-DATE-AE-END",
        "EC-DATE-FUTURE",
        "EC-VISIT-WINDOW",
        "EC-DOSE-DEVIATION",
        "EC-LAB-PLAUSIBLE",
        "EC-INFUSION-FLUDARABINE",
        "EC-AE-DEATH",
        "EC-MRD-METHOD",
    } <= ids
    assert all(c.severity in (Severity.HARD, Severity.SOFT) and c.rule for c in REGISTRY)


def test_a_future_date_is_refused_naming_the_field_and_the_rule(session: Session) -> None:
    factories.lab_result(session, collected_at=NOW + dt.timedelta(days=3))
    error = refusal(session)
    assert (error.table, error.field) == ("lab_result", "collected_at")
    assert "a date cannot be in the future" in str(error)


def test_a_date_one_day_ahead_is_allowed_for_sites_east_of_greenwich(session: Session) -> None:
    event = factories.adverse_event(session, onset_date=NOW.date() + dt.timedelta(days=1))
    derive_pending(session)
    assert event.id is not None


def test_nothing_of_a_refused_transaction_is_written(engine: sa.Engine) -> None:
    """The caller rolls back on the refusal: the lab result is not in the database afterwards."""

    with Session(engine) as session:
        set_change_context(session, TEST_CONTEXT)
        session.info[CLOCK_KEY] = lambda: NOW
        subject = factories.subject(session, subject_number="99-001", screening_number="S-REFUSED")
        factories.lab_result(session, subject_id=subject.id, test_code=LabTest.K, value=Decimal("45"),
                             value_text="45", unit="mmol/L", lln=Decimal("3.5"), uln=Decimal("5.1"))  # fmt: skip
        with pytest.raises(ValidationError, match="value outside plausible physiological limits"):
            session.commit()
        session.rollback()
    with engine.connect() as conn:
        assert (
            conn.scalar(sa.select(sa.func.count()).select_from(LabResult).where(LabResult.subject_id == subject.id))
            == 0
        )


def test_an_implausible_weight_is_refused_because_doses_are_computed_from_it(session: Session) -> None:
    subject_id = factories.subject(session).id
    session.add(VitalSigns(subject_id=subject_id, measured_at=NOW - dt.timedelta(days=1), weight_kg=Decimal("284")))
    error = refusal(session)
    assert error.field == "weight_kg"
    assert "284" in str(error)


def test_ae_end_before_onset_is_refused_and_the_same_day_is_not(session: Session) -> None:
    event = factories.adverse_event(session)
    event.end_date = event.onset_date
    derive_pending(session)
    event.end_date = event.onset_date - dt.timedelta(days=1)
    # The database's check (ck_adverse_event_end_date_after_onset_date) refuses it even on a raw-SQL path.
    with pytest.raises((ValidationError, sa.exc.IntegrityError)):
        derive_pending(session)


def test_consent_after_screening_is_refused(session: Session) -> None:
    subject_id = factories.subject(session).id
    session.add(Consent(subject_id=subject_id, kind=ConsentKind.GUARDIAN_CONSENT, document_version="1.0",
                        signed_on=dt.date(2025, 1, 5), signer=ConsentSigner.PARENT))  # fmt: skip
    session.add(Screening(subject_id=subject_id, screening_date=dt.date(2025, 1, 2)))
    error = refusal(session)
    assert "consent must be signed on or before the screening date" in str(error)


def test_an_infusion_before_lymphodepletion_is_refused(session: Session) -> None:
    subject_id = factories.subject(session).id
    session.add(DrugAdministration(subject_id=subject_id, agent=Agent.CYCLOPHOSPHAMIDE, dose_number=1, route=Route.IV,
                                   started_at=dt.datetime(2025, 1, 10, tzinfo=UTC), dose_unit=DoseUnit.MG,
                                   actual_dose=Decimal("1700")))  # fmt: skip
    session.add(Infusion(subject_id=subject_id, infusion_number=1, started_at=dt.datetime(2025, 1, 3, tzinfo=UTC),
                         product_lot="L1"))  # fmt: skip
    error = refusal(session)
    assert error.field == "started_at"
    assert "after lymphodepletion" in str(error)


def test_mrd_without_method_is_refused(session: Session) -> None:
    subject_id = factories.subject(session).id
    session.add(ResponseAssessment(subject_id=subject_id, assessed_on=dt.date(2025, 2, 1), anc=Decimal("1.2"),
                                   plt=Decimal("150"), bm_blast_pct=Decimal("1"), mrd_pct=Decimal("0.05")))  # fmt: skip
    # The database refuses this too (ck_response_assessment_mrd_method_required); the edit check words it first.
    with pytest.raises((ValidationError, sa.exc.IntegrityError)):
        derive_pending(session)


def test_an_infusion_before_all_fludarabine_doses_opens_a_query(session: Session) -> None:
    subject_id = factories.subject(session).id
    session.add(DrugAdministration(subject_id=subject_id, agent=Agent.FLUDARABINE, dose_number=1, route=Route.IV,
                                   started_at=dt.datetime(2025, 1, 4, tzinfo=UTC), dose_unit=DoseUnit.MG,
                                   actual_dose=Decimal("25")))  # fmt: skip
    session.add(Infusion(subject_id=subject_id, infusion_number=1, started_at=dt.datetime(2025, 1, 10, tzinfo=UTC),
                         product_lot="L1"))  # fmt: skip
    derive_pending(session)
    (query,) = queries(session, "EC-INFUSION-FLUDARABINE")
    assert "1 of 5 fludarabine doses recorded" in query.messages[0].text


def test_grade_5_without_a_death_record_opens_a_query_answered_when_the_death_is_recorded(session: Session) -> None:
    event = factories.adverse_event(session, grade=5, serious=True, serious_death=True,
                                    awareness_at=dt.datetime(2025, 1, 12, tzinfo=UTC))  # fmt: skip
    derive_pending(session)
    (query,) = queries(session, "EC-AE-DEATH")
    assert query.status.value == "open"
    session.add(Death(subject_id=event.subject_id, death_date=event.onset_date, cause=DeathCause.ADVERSE_EVENT,
                      adverse_event_id=event.id))  # fmt: skip
    session.flush()
    event.outcome = None  # any change to the AE re-runs its checks
    event.verbatim = "fatal event"
    derive_pending(session)
    assert query.status.value == "answered"


def test_a_soft_query_is_not_opened_twice(session: Session) -> None:
    factories.adverse_event(session, grade=5, serious=True, serious_death=True,
                            awareness_at=dt.datetime(2025, 1, 12, tzinfo=UTC))  # fmt: skip
    derive_pending(session)
    event = session.scalars(sa.select(AdverseEvent)).one()
    event.verbatim = "edited"
    derive_pending(session)
    assert len(queries(session, "EC-AE-DEATH")) == 1
