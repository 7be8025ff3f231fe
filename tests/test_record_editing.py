"""Concurrent edits are detected and never silently lost (CC-01); removal keeps the record (AT-04)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import ChangeContext, set_change_context
from jk500db.db import create_engine
from jk500db.errors import ValidationError
from jk500db.models import AuditEvent, LabResult
from jk500db.models.vocabularies import ChangeSource
from jk500db.services.records import StaleEditError, remove_record, update_record
from tests import factories
from tests.conftest import ENGINES, TEST_CONTEXT

ANNA = ChangeContext(11, "Anna Berg", ChangeSource.UI)
BO = ChangeContext(12, "Bo Chen", ChangeSource.UI)


@pytest.fixture
def two_clients(fresh_database: str):  # type: ignore[no-untyped-def]
    """A committed lab result on a fresh database, and an engine for two independent sessions."""
    engine = create_engine(fresh_database)
    migrate.upgrade(engine)
    with Session(engine) as session:
        set_change_context(session, TEST_CONTEXT)
        subject = factories.subject(session, subject_number="01-055", screening_number="S55")
        lab_id = factories.lab_result(session, subject_id=subject.id).id
        session.commit()
    yield engine, lab_id
    engine.dispose()


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_CC01_a_stale_edit_is_refused_naming_who_changed_it_and_both_versions_survive(two_clients) -> None:  # type: ignore[no-untyped-def]
    engine, lab_id = two_clients
    # Opening a form and saving it are separate requests: each read ends its transaction (on SQLite an open
    # read would otherwise hold off the other writer's commit), and the objects stay loaded.
    with Session(engine, expire_on_commit=False) as anna, Session(engine, expire_on_commit=False) as bo:
        anna_lab, bo_lab = anna.get(LabResult, lab_id), bo.get(LabResult, lab_id)
        assert anna_lab is not None and bo_lab is not None
        anna.commit(), bo.commit()
        seen = bo_lab.version  # both opened the form at the same version
        set_change_context(anna, ANNA)
        update_record(anna, anna_lab, {"value": Decimal("0.45")}, seen_version=seen, reason="report re-read")
        anna.commit()

        set_change_context(bo, BO)
        with pytest.raises(StaleEditError, match="changed by Anna Berg at 20") as caught:
            update_record(bo, bo_lab, {"value": Decimal("0.50")}, seen_version=seen, reason="my correction")
        assert "nothing was saved" in str(caught.value)
        bo.rollback()
    with Session(engine) as check:
        assert check.get(LabResult, lab_id).value == Decimal("0.45")  # type: ignore[union-attr]
        values = check.scalars(
            sa.select(AuditEvent.new_value)
            .where(
                AuditEvent.table_name == "lab_result",
                AuditEvent.row_key == str(lab_id),
                AuditEvent.field_name == "value",
            )
            .order_by(AuditEvent.id)
        ).all()
        assert values == ["0.4", "0.45"]  # the original and Anna's; Bo's never overwrote anything


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_CC01_the_version_check_in_the_update_catches_a_change_committed_in_between(two_clients) -> None:  # type: ignore[no-untyped-def]
    """Bo read version 1; Anna commits before Bo's UPDATE runs: the ORM's version counter refuses it."""
    engine, lab_id = two_clients
    with Session(engine, expire_on_commit=False) as bo:
        bo_lab = bo.get(LabResult, lab_id)
        assert bo_lab is not None
        bo.commit()  # the form is on Bo's screen; his read transaction is over
        with Session(engine) as anna:
            set_change_context(anna, ANNA)
            lab = anna.get(LabResult, lab_id)
            assert lab is not None
            update_record(anna, lab, {"value": Decimal("0.45")}, seen_version=lab.version, reason="re-read")
            anna.commit()
        set_change_context(bo, BO)
        bo_lab.value = Decimal("0.5")  # a direct ORM edit carrying the old version in its WHERE clause
        with pytest.raises(sa.orm.exc.StaleDataError):
            bo.flush()


def test_AT03_an_edit_needs_a_reason(session: Session) -> None:
    lab = factories.lab_result(session)
    with pytest.raises(ValidationError, match="reason"):
        update_record(session, lab, {"value": Decimal("1")}, seen_version=lab.version, reason="  ")


def test_an_unknown_field_is_refused_by_name(session: Session) -> None:
    lab = factories.lab_result(session)
    with pytest.raises(ValidationError) as caught:
        update_record(session, lab, {"valu": Decimal("1")}, seen_version=lab.version, reason="typo")
    assert caught.value.field == "valu"


def test_removal_marks_the_record_and_keeps_it(session: Session) -> None:
    lab = factories.lab_result(session)
    remove_record(
        session, lab, seen_version=lab.version, reason="entered twice", now=dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    )
    session.expire_all()
    kept = session.get(LabResult, lab.id)
    assert kept is not None and kept.removed_reason == "entered twice" and kept.value == Decimal("0.4")
