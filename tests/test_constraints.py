"""The database itself refuses bad values, and the refusal is reported by field and rule.

Each case writes through Core (bypassing the ORM and any Python validation) so that it is the database's
own constraint that must catch it, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.errors import validation_error_from_integrity
from jk500db.models import AdverseEvent, Infusion, LabResult, PartialDate, ResponseAssessment, Subject, VitalSigns
from jk500db.models.disease import DiseaseHistory
from jk500db.models.types import Vocabulary
from tests import factories

UTC = dt.UTC


def _refused(session: Session, table: sa.Table, values: dict[str, Any]) -> tuple[str, str]:
    """Insert ``values`` raw; return (field, rule) of the refusal. Fails if the database accepts it.

    Vocabulary codes are bound as plain strings: the column type would refuse a bad code in Python, and
    here it is the database's own CHECK that must refuse it.
    """
    raw = {
        key: sa.literal(value, sa.String()) if isinstance(table.c[key].type, Vocabulary) and value else value
        for key, value in values.items()
    }
    with pytest.raises(sa.exc.IntegrityError) as caught, session.begin_nested():
        session.execute(sa.insert(table).values(**raw))
    error = validation_error_from_integrity(caught.value)
    return error.field, error.rule


def _subject_row(session: Session, **overrides: Any) -> dict[str, Any]:
    row = {
        "site_id": factories.study_site(session).id,
        "subject_number": "01-002",
        "screening_number": "S002",
        "sex": "F",
        "birth_date": dt.date(2014, 1, 2),
        "status": "screening",
        "synthetic": True,
        "version": 1,
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "field", "rule_words"),
    [
        ({"sex": "X"}, "sex", "must be one of"),
        ({"status": "cured"}, "status", "must be one of"),
        ({"subject_number": "1-3"}, "subject_number", "SS-NNN"),
        ({"birth_date": None}, "birth_date", "is required"),
        ({"removed_at": dt.datetime(2025, 1, 1, tzinfo=UTC)}, "removed_reason", "reason"),
    ],
)
def test_subject_bad_values_are_refused_naming_the_field(
    session: Session, overrides: dict[str, Any], field: str, rule_words: str
) -> None:
    found_field, rule = _refused(session, Subject.__table__, _subject_row(session, **overrides))
    assert found_field == field
    assert rule_words in rule


def test_subject_numbers_are_unique(session: Session) -> None:
    factories.subject(session, subject_number="01-007", screening_number="S7")
    field, rule = _refused(
        session, Subject.__table__, _subject_row(session, subject_number="01-007", screening_number="S8")
    )
    assert field == "subject_number"
    assert "unique" in rule


def _ae_row(session: Session, **overrides: Any) -> dict[str, Any]:
    row = {
        "subject_id": factories.subject(session).id,
        "ctcae_term_id": factories.ctcae_term(session).id,
        "ae_number": 1,
        "onset_date": dt.date(2025, 2, 1),
        "grade": 3,
        "ongoing": False,
        "serious": False,
        "serious_death": False,
        "serious_life_threatening": False,
        "serious_hospitalisation": False,
        "serious_disability": False,
        "serious_congenital_anomaly": False,
        "serious_medically_important": False,
        "attributed_elsewhere": False,
        "version": 1,
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "field", "rule_words"),
    [
        ({"grade": 0}, "grade", "between 1 and 5"),
        ({"grade": 6}, "grade", "between 1 and 5"),
        ({"end_date": dt.date(2025, 1, 31)}, "end_date", "not be before onset date"),
        ({"ongoing": True, "end_date": dt.date(2025, 2, 3)}, "end_date", "ongoing"),
        ({"serious_hospitalisation": True}, "serious", "is serious"),
        (
            {"serious": True, "awareness_at": dt.datetime(2025, 2, 1, tzinfo=UTC)},
            "serious",
            "at least one seriousness criterion",
        ),
        ({"serious": True, "serious_hospitalisation": True}, "awareness_at", "aware"),
        ({"grade": 5}, "grade", "death"),
        ({"related_jk500": "maybe"}, "related_jk500", "must be one of"),
    ],
)
def test_adverse_event_bad_values_are_refused_naming_the_field(
    session: Session, overrides: dict[str, Any], field: str, rule_words: str
) -> None:
    found_field, rule = _refused(session, AdverseEvent.__table__, _ae_row(session, **overrides))
    assert found_field == field
    assert rule_words in rule


def test_adverse_event_end_on_onset_day_is_accepted(session: Session) -> None:
    """The order check is >=, not >: an event that ends the day it starts is valid."""
    session.execute(sa.insert(AdverseEvent.__table__).values(**_ae_row(session, end_date=dt.date(2025, 2, 1))))


def _lab_row(session: Session, **overrides: Any) -> dict[str, Any]:
    row = {
        "subject_id": factories.subject(session).id,
        "test_code": "NEUT",
        "specimen": "blood",
        "collected_at": dt.datetime(2025, 2, 1, 8, tzinfo=UTC),
        "value_text": "0.4",
        "value": Decimal("0.4"),
        "unit": "10^9/L",
        "transfusion_indicated": False,
        "symptomatic": False,
        "intervention_indicated": False,
        "version": 1,
    }
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("overrides", "field", "rule_words"),
    [
        ({"value": None}, "value", "reason it is missing"),
        ({"value_missing_reason": "not_done"}, "value", "not both"),
        ({"unit": None}, "unit", "unit"),
        ({"value": Decimal("-1")}, "value", "negative"),
        ({"lln": Decimal("2"), "uln": Decimal("1.5")}, "uln", "lower limit"),
        ({"ctcae_grade": 6}, "ctcae_grade", "between 0 and 5"),
        ({"test_code": "GLUC"}, "test_code", "must be one of"),
    ],
)
def test_lab_result_bad_values_are_refused_naming_the_field(
    session: Session, overrides: dict[str, Any], field: str, rule_words: str
) -> None:
    found_field, rule = _refused(session, LabResult.__table__, _lab_row(session, **overrides))
    assert found_field == field
    assert rule_words in rule


def test_missing_value_with_its_reason_is_accepted(session: Session) -> None:
    session.execute(
        sa.insert(LabResult.__table__).values(
            **_lab_row(session, value=None, value_text=None, unit=None, value_missing_reason="not_done")
        )
    )


@pytest.mark.parametrize(
    ("table", "row", "field"),
    [
        (
            Infusion.__table__,
            {
                "infusion_number": 1,
                "started_at": dt.datetime(2025, 2, 1, 10, tzinfo=UTC),
                "product_lot": "L1",
                "viability_pct": Decimal("100.5"),
            },
            "viability_pct",
        ),
        (
            VitalSigns.__table__,
            {"measured_at": dt.datetime(2025, 2, 1, 10, tzinfo=UTC), "spo2_pct": Decimal("101")},
            "spo2_pct",
        ),
        (
            ResponseAssessment.__table__,
            {"assessed_on": dt.date(2025, 3, 1), "bm_blast_pct": Decimal("-0.1")},
            "bm_blast_pct",
        ),
        (ResponseAssessment.__table__, {"assessed_on": dt.date(2025, 3, 1), "mrd_pct": Decimal("0.05")}, "mrd_method"),
    ],
)
def test_percentages_and_dependent_fields_are_checked(
    session: Session, table: sa.Table, row: dict[str, Any], field: str
) -> None:
    defaults = {"subject_id": factories.subject(session).id, "version": 1}
    if table is Infusion.__table__:
        defaults |= {"infusion_reaction": False, "completed": True}
    if table is VitalSigns.__table__:
        defaults |= {"timepoint": "routine"}
    found_field, _rule = _refused(session, table, defaults | row)
    assert found_field == field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"diagnosis_year": 2023, "diagnosis_month": 13}, "diagnosis"),
        ({"diagnosis_year": None, "diagnosis_month": 4}, "diagnosis"),
        ({"diagnosis_year": 2023, "diagnosis_day": 4}, "diagnosis"),
    ],
)
def test_partial_dates_are_checked_by_the_database(session: Session, overrides: dict[str, Any], field: str) -> None:
    row = {"subject_id": factories.subject(session).id, "version": 1} | overrides
    found_field, _rule = _refused(session, DiseaseHistory.__table__, row)
    assert found_field == field


def test_partial_date_round_trips_without_imputation(session: Session) -> None:
    subject = factories.subject(session)
    history = DiseaseHistory(subject_id=subject.id, diagnosis_date=PartialDate(2023, 4))
    session.add(history)
    session.flush()
    session.expire_all()
    stored = session.get(DiseaseHistory, history.id)
    assert stored is not None
    assert stored.diagnosis_date.isoformat() == "2023-04"
    assert stored.diagnosis_date.as_date() is None


def test_decimals_are_stored_exactly_as_entered(session: Session) -> None:
    """'2.10' keeps its trailing zero and 0.1 + 0.2 stays exact: no binary float on either engine."""
    lab = factories.lab_result(session, value_text="2.10", value=Decimal("2.10"), unit="mg/dL", test_code="CREAT")
    session.expire_all()
    stored = session.get(LabResult, lab.id)
    assert stored is not None
    assert stored.value == Decimal("2.10")
    assert str(stored.value) == "2.10"


def test_naive_timestamps_are_refused(session: Session) -> None:
    with pytest.raises(sa.exc.StatementError, match="timezone-aware"):
        factories.lab_result(session, collected_at=dt.datetime(2025, 1, 1, 8))


def test_timestamps_come_back_in_utc(session: Session) -> None:
    tz = dt.timezone(dt.timedelta(hours=8))  # Tianjin
    lab = factories.lab_result(session, collected_at=dt.datetime(2025, 1, 10, 16, 30, tzinfo=tz))
    session.expire_all()
    stored = session.get(LabResult, lab.id)
    assert stored is not None
    assert stored.collected_at == dt.datetime(2025, 1, 10, 8, 30, tzinfo=UTC)
    assert stored.collected_at.utcoffset() == dt.timedelta(0)


def test_foreign_keys_are_enforced(session: Session) -> None:
    row = _lab_row(session, subject_id=999_999)
    _field, rule = _refused(session, LabResult.__table__, row)
    assert "existing record" in rule
