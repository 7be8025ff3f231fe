"""Locks and freezes (LK-01, LK-02) refused by the database on every write path; SDV marks cleared by changes.

Every test runs on both engines (the ``session`` fixture is parametrised by engine).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit import guards
from jk500db.audit.history import record_history
from jk500db.errors import ValidationError
from jk500db.models import AdverseEvent, Base, LabResult, RecordLock, SdvMark, Subject, User, Visit
from jk500db.models.vocabularies import FormCode, LockLevel, LockMode, RoleCode, VisitStatus
from jk500db.services import locks
from jk500db.services.sdv import SdvState, mark_verified, sdv_status
from tests import factories

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
#: hashed once: these tests never log in, and argon2 is slow on purpose.
LOCKED = "jk500-lock: "


make_user = factories.user
act = factories.act


def make_visit(session: Session, subject: Subject, code: str) -> Visit:
    visit = Visit(subject_id=subject.id, visit_code=code, status=VisitStatus.SCHEDULED)
    session.add(visit)
    session.flush()
    return visit


events_for = record_history


class Casebook:
    """One subject with two visits and a lab result at each; an admin, a monitor and a data manager."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.admin = make_user(session, RoleCode.ADMIN)
        self.monitor = make_user(session, RoleCode.MONITOR)
        self.data_manager = make_user(session, RoleCode.DATA_MANAGER)
        self.subject = factories.subject(session)
        self.visit_a = make_visit(session, self.subject, "D1")
        self.visit_b = make_visit(session, self.subject, "D7")
        self.lab_a = factories.lab_result(session, subject_id=self.subject.id, visit_id=self.visit_a.id)
        self.lab_b = factories.lab_result(session, subject_id=self.subject.id, visit_id=self.visit_b.id)

    def lock(self, level: LockLevel, mode: LockMode = LockMode.LOCK, **scope: Any) -> RecordLock:
        act(self.session, self.admin)
        return locks.lock(self.session, actor=self.admin, level=level, mode=mode, reason="data final", now=NOW, **scope)

    def lock_visit_a(self, mode: LockMode = LockMode.LOCK) -> RecordLock:
        return self.lock(LockLevel.VISIT, mode, subject_id=self.subject.id, visit_id=self.visit_a.id)

    def as_data_manager(self, reason: str | None = "transcription error") -> None:
        act(self.session, self.data_manager, reason)

    def verify(self, visit: Visit | None, form: FormCode = FormCode.LABS, by: User | None = None) -> SdvMark:
        by = by or self.monitor
        act(self.session, by)
        visit_id = visit.id if visit else None
        return mark_verified(self.session, actor=by, subject_id=self.subject.id, visit_id=visit_id, form_code=form)

    def sdv(self, visit: Visit | None, form: FormCode = FormCode.LABS) -> SdvState:
        return sdv_status(self.session, self.subject.id, visit.id if visit else None, form)


@pytest.fixture
def book(session: Session) -> Casebook:
    return Casebook(session)


# --- LK-01: a locked record refuses writes on every path ----------------------------------------------------


def _orm_update(session: Session, lab: LabResult) -> None:
    lab.value = Decimal("0.5")
    session.flush()


def _orm_bulk_update(session: Session, lab: LabResult) -> None:
    session.execute(sa.update(LabResult).where(LabResult.id == lab.id).values(value=Decimal("0.5")))


def _core_update(session: Session, lab: LabResult) -> None:
    table = Base.metadata.tables["lab_result"]
    session.connection().execute(sa.update(table).where(table.c.id == lab.id).values(value=Decimal("0.5")))


def _raw_sql_update(session: Session, lab: LabResult) -> None:
    session.execute(sa.text("UPDATE lab_result SET value_text = '0.5' WHERE id = :id"), {"id": lab.id})


def _orm_insert(session: Session, lab: LabResult) -> None:
    factories.lab_result(session, subject_id=lab.subject_id, visit_id=lab.visit_id, test_code="PLAT")


def _raw_sql_insert(session: Session, lab: LabResult) -> None:
    session.execute(
        sa.text(
            "INSERT INTO lab_result (subject_id, visit_id, test_code, specimen, collected_at, value_text, value, "
            "transfusion_indicated, symptomatic, intervention_indicated, oral_replacement_indicated, "
            "hospitalization_indicated, life_threatening, version) VALUES (:subject, :visit, 'PLAT', 'blood', "
            "'2026-03-02 09:00:00.000000', '20', '20', false, false, false, false, false, false, 1)"
        ),
        {"subject": lab.subject_id, "visit": lab.visit_id},
    )


def _mark_removed(session: Session, lab: LabResult) -> None:
    lab.removed_at, lab.removed_reason = NOW, "entered twice"
    session.flush()


WRITE_PATHS: dict[str, Callable[[Session, LabResult], None]] = {
    "orm": _orm_update,
    "orm_bulk": _orm_bulk_update,
    "core": _core_update,
    "raw_sql": _raw_sql_update,
    "orm_insert": _orm_insert,
    "raw_sql_insert": _raw_sql_insert,
    "removal": _mark_removed,
}


@pytest.mark.parametrize("path", list(WRITE_PATHS))
def test_LK01_a_locked_visit_refuses_writes_through_every_path(book: Casebook, path: str) -> None:
    book.lock_visit_a()
    book.as_data_manager()
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the visit is locked: its data cannot change"):
        WRITE_PATHS[path](book.session, book.lab_a)


@pytest.mark.parametrize("path", ["orm", "raw_sql", "orm_insert"])
def test_LK01_a_frozen_visit_refuses_data_changes_too(book: Casebook, path: str) -> None:
    book.lock_visit_a(LockMode.FREEZE)
    book.as_data_manager()
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the visit is frozen: its data cannot change"):
        WRITE_PATHS[path](book.session, book.lab_a)


def test_LK01_a_record_cannot_be_moved_out_of_a_locked_visit(book: Casebook) -> None:
    book.lock_visit_a()
    book.as_data_manager()
    book.lab_a.visit_id = book.visit_b.id
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the visit is locked"):
        book.session.flush()


def test_LK01_a_visit_lock_covers_the_visit_row_itself(book: Casebook) -> None:
    book.lock_visit_a()
    book.as_data_manager()
    book.visit_a.status, book.visit_a.visit_date = VisitStatus.COMPLETED, dt.date(2026, 3, 1)
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the visit is locked"):
        book.session.flush()


def test_LK01_a_lock_covers_only_its_scope(book: Casebook) -> None:
    other_subject = factories.subject(book.session, subject_number="01-002", screening_number="S002")
    other_lab = factories.lab_result(book.session, subject_id=other_subject.id)
    book.lock(LockLevel.FORM, subject_id=book.subject.id, visit_id=book.visit_a.id, form_code=FormCode.LABS)
    book.as_data_manager()
    book.lab_b.value = Decimal("0.6")  # same form, other visit
    book.visit_a.visit_date, book.visit_a.status = dt.date(2026, 3, 1), VisitStatus.COMPLETED  # other form
    other_lab.value = Decimal("0.7")  # other subject
    book.session.flush()
    book.lab_a.value = Decimal("0.5")
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the labs form is locked"):
        book.session.flush()


def test_LK01_a_form_lock_without_a_visit_covers_the_form_at_every_visit(book: Casebook) -> None:
    book.lock(LockLevel.FORM, subject_id=book.subject.id, form_code=FormCode.LABS)
    book.as_data_manager()
    book.lab_b.value = Decimal("0.6")
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the labs form is locked"):
        book.session.flush()


def test_LK01_a_subject_lock_covers_subject_level_forms(book: Casebook) -> None:
    ae = factories.adverse_event(book.session, subject_id=book.subject.id)
    book.lock(LockLevel.SUBJECT, subject_id=book.subject.id)
    book.as_data_manager()
    ae.grade = 3
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the subject is locked"):
        book.session.flush()


def test_LK01_lock_and_unlock_are_audited_and_unlocking_lets_the_change_through(book: Casebook) -> None:
    lock = book.lock_visit_a()
    act(book.session, book.admin, None)
    locks.unlock(book.session, lock, actor=book.admin, reason="query resolution needs a correction", now=NOW)
    book.as_data_manager()
    book.lab_a.value = Decimal("0.5")
    book.session.flush()  # no longer refused

    rows = events_for(book.session, "record_lock", lock.id)
    inserted = {r.field_name: r.new_value for r in rows if r.action == "insert"}
    assert inserted["level"] == "visit" and inserted["mode"] == "lock" and inserted["reason"] == "data final"
    updated = [r for r in rows if r.action == "update"]
    assert {r.field_name for r in updated} == {"unlocked_by_id", "unlocked_at", "unlock_reason"}
    assert {(r.actor_id, r.reason) for r in rows} >= {(book.admin.id, "query resolution needs a correction")}
    assert {r.actor_id for r in rows} == {book.admin.id}
    assert locks.active_locks(book.session) == []


@pytest.mark.parametrize("reason", ["", "   "])
def test_LK01_unlocking_needs_a_reason(book: Casebook, reason: str) -> None:
    lock = book.lock_visit_a()
    with pytest.raises(ValidationError) as caught:
        locks.unlock(book.session, lock, actor=book.admin, reason=reason)
    assert caught.value.field == "unlock_reason"
    assert lock.unlocked_at is None


def test_LK01_the_database_refuses_an_unlock_without_a_reason(book: Casebook) -> None:
    lock = book.lock_visit_a()
    act(book.session, book.admin, None)
    # No reason in the context and none written into the lock record: refused (by the audit's reason rule or
    # by the lock record's own rule that the unlock columns are filled in together).
    with pytest.raises(sa.exc.DatabaseError, match=r"reason|together"):
        book.session.execute(
            sa.text(
                "UPDATE record_lock SET unlocked_at = '2026-03-02 09:00:00.000000', unlocked_by_id = :by WHERE id = :id"
            ),
            {"by": book.admin.id, "id": lock.id},
        )


@pytest.mark.parametrize(
    "role", [RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.STATISTICIAN]
)
def test_LK01_AC01_only_an_administrator_locks_and_unlocks(book: Casebook, role: RoleCode) -> None:
    user = make_user(book.session, role)
    act(book.session, user, "trying")
    with pytest.raises(ValidationError) as caught:
        locks.lock(book.session, actor=user, level=LockLevel.STUDY, mode=LockMode.LOCK, reason="final")
    assert caught.value.field == "role"
    lock = book.lock_visit_a()
    with pytest.raises(ValidationError) as caught:
        locks.unlock(book.session, lock, actor=user, reason="please")
    assert caught.value.field == "role"


@pytest.mark.parametrize(
    ("level", "scope", "field"),
    [
        (LockLevel.SUBJECT, {}, "subject_id"),
        (LockLevel.VISIT, {"subject": True}, "visit_id"),
        (LockLevel.FORM, {"subject": True}, "form_code"),
        (LockLevel.STUDY, {"subject": True}, "subject_id"),
    ],
)
def test_LK01_a_lock_names_exactly_the_scope_of_its_level(
    book: Casebook, level: LockLevel, scope: dict[str, bool], field: str
) -> None:
    subject_id = book.subject.id if scope.get("subject") else None
    with pytest.raises(ValidationError) as caught:
        book.lock(level, subject_id=subject_id)
    assert caught.value.field == field


def test_LK01_locks_are_never_deleted_nor_rewritten(book: Casebook) -> None:
    lock = book.lock_visit_a()
    act(book.session, book.admin, "tidying up")
    session = book.session
    with pytest.raises(sa.exc.DatabaseError, match="jk500-guard: locks are never deleted"), session.begin_nested():
        session.execute(sa.text("DELETE FROM record_lock WHERE id = :id"), {"id": lock.id})
    with pytest.raises(sa.exc.DatabaseError, match="jk500-guard: a lock cannot be changed"), session.begin_nested():
        session.execute(sa.text("UPDATE record_lock SET level = 'study', subject_id = NULL, visit_id = NULL"))
    locks.unlock(session, lock, actor=book.admin, reason="correction needed", now=NOW)
    with pytest.raises(sa.exc.DatabaseError, match="jk500-guard: a lock cannot be changed"), session.begin_nested():
        session.execute(
            sa.text("UPDATE record_lock SET unlock_reason = 'another story' WHERE id = :id"), {"id": lock.id}
        )
    with pytest.raises(ValidationError, match="already lifted"):
        locks.unlock(session, lock, actor=book.admin, reason="again")


def test_LK01_covering_locks_name_what_the_database_refuses(book: Casebook) -> None:
    lock = book.lock(LockLevel.FORM, subject_id=book.subject.id, visit_id=book.visit_a.id, form_code=FormCode.LABS)
    scope_a = locks.record_scope(book.session, "lab_result", book.lab_a.id)
    assert scope_a == locks.RecordScope(book.subject.id, book.visit_a.id, FormCode.LABS)
    assert locks.covering_locks(book.session, scope_a) == [lock]
    assert locks.covering_locks(book.session, locks.record_scope(book.session, "lab_result", book.lab_b.id)) == []
    assert locks.covering_locks(book.session, scope_a, modes=(LockMode.FREEZE,)) == []


# --- LK-02: the study lock --------------------------------------------------------------------------------


def _new_subject(book: Casebook) -> None:
    factories.subject(book.session, subject_number="01-009", screening_number="S009")


def _ae_update(book: Casebook) -> None:
    book.session.execute(
        sa.update(AdverseEvent).where(AdverseEvent.subject_id == book.subject.id).values(grade=4),
        execution_options={"synchronize_session": False},
    )


def _lab_insert(book: Casebook) -> None:
    factories.lab_result(book.session, subject_id=book.subject.id, test_code="WBC")


def _subject_raw_update(book: Casebook) -> None:
    book.session.execute(sa.text("UPDATE subject SET status = 'withdrawn' WHERE id = :id"), {"id": book.subject.id})


@pytest.mark.parametrize("write", [_new_subject, _ae_update, _lab_insert, _subject_raw_update])
def test_LK02_a_study_lock_refuses_every_clinical_write(book: Casebook, write: Callable[[Casebook], None]) -> None:
    factories.adverse_event(book.session, subject_id=book.subject.id)
    book.lock(LockLevel.STUDY)
    book.as_data_manager()
    with pytest.raises(sa.exc.DatabaseError, match=f"{LOCKED}the study is locked: its data cannot change"):
        write(book)


def test_LK02_only_the_unlock_procedure_reopens_a_locked_study(book: Casebook) -> None:
    study_lock = book.lock(LockLevel.STUDY)
    act(book.session, book.admin, None)
    locks.unlock(book.session, study_lock, actor=book.admin, reason="sponsor-approved unlock for SAE follow-up")
    book.as_data_manager()
    _lab_insert(book)  # accepted again


def test_LK02_every_clinical_table_has_its_lock_guards(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert guards.missing_guards(conn) == []
    clinical = {t.name for t in guards.guarded_tables()}
    assert {"subject", "visit", "lab_result", "adverse_event", "screening", "eligibility_criterion"} <= clinical


# --- SDV: a change clears the mark, through every path, in the audit trail ---------------------------------


@pytest.mark.parametrize("path", ["orm", "orm_bulk", "core", "raw_sql", "removal"])
def test_SDV_a_later_change_to_the_form_clears_the_mark_and_the_clearing_is_audited(book: Casebook, path: str) -> None:
    assert book.sdv(book.visit_a) is SdvState.NEVER
    mark = book.verify(book.visit_a)
    assert book.sdv(book.visit_a) is SdvState.VERIFIED

    book.as_data_manager("lab report re-read")
    WRITE_PATHS[path](book.session, book.lab_a)

    assert book.sdv(book.visit_a) is SdvState.CLEARED
    assert mark.cleared_reason == f"changed: lab_result {book.lab_a.id}"
    assert mark.cleared_at is not None and abs(mark.cleared_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    clearing = [e for e in events_for(book.session, "sdv_mark", mark.id) if e.action == "update"]
    assert {e.field_name for e in clearing} == {"cleared_at", "cleared_reason"}
    assert {(e.actor_id, e.reason) for e in clearing} == {(book.data_manager.id, "lab report re-read")}


def test_SDV_a_new_record_in_a_verified_form_clears_the_mark_with_the_row_as_reason(book: Casebook) -> None:
    """Adding data to a verified form is a change to it; an insert carries no reason, so the clearing is
    audited under the mark's own cleared_reason."""
    mark = book.verify(book.visit_a)
    book.as_data_manager(reason=None)
    extra = factories.lab_result(
        book.session,
        subject_id=book.subject.id,
        visit_id=book.visit_a.id,
        test_code="PLAT",
        value=Decimal("20"),
        value_text="20",
        unit="10^9/L",
    )
    assert book.sdv(book.visit_a) is SdvState.CLEARED
    assert mark.cleared_reason == f"changed: lab_result {extra.id}"
    clearing = [e for e in events_for(book.session, "sdv_mark", mark.id) if e.action == "update"]
    assert {(e.field_name, e.reason, e.actor_id) for e in clearing} == {
        ("cleared_at", f"changed: lab_result {extra.id}", book.data_manager.id),
        ("cleared_reason", f"changed: lab_result {extra.id}", book.data_manager.id),
    }


def test_AT03_a_row_reason_column_does_not_excuse_other_updates(book: Casebook) -> None:
    """The fallback applies only when the update sets the reason column itself."""
    mark = book.verify(book.visit_a)
    book.as_data_manager(reason=None)
    with pytest.raises(sa.exc.DatabaseError, match="reason for change is required"):
        book.session.execute(sa.update(SdvMark).where(SdvMark.id == mark.id).values(form_code="vitals"))


def test_SDV_a_change_elsewhere_leaves_the_mark_standing(book: Casebook) -> None:
    book.verify(book.visit_a)
    book.as_data_manager()
    book.lab_b.value = Decimal("0.6")  # the labs form of another visit
    book.visit_a.visit_date, book.visit_a.status = dt.date(2026, 3, 1), VisitStatus.COMPLETED  # another form
    book.session.flush()
    assert book.sdv(book.visit_a) is SdvState.VERIFIED


def test_SDV_a_subject_level_form_is_cleared_by_a_change_to_any_of_its_records(book: Casebook) -> None:
    ae = factories.adverse_event(book.session, subject_id=book.subject.id)
    book.verify(None, FormCode.ADVERSE_EVENTS)
    book.as_data_manager("grade per source")
    ae.grade = 3
    book.session.flush()
    assert book.sdv(None, FormCode.ADVERSE_EVENTS) is SdvState.CLEARED


def test_SDV_verifying_again_after_a_change_gives_a_new_mark(book: Casebook) -> None:
    first = book.verify(book.visit_a)
    assert book.verify(book.visit_a) is first  # already verified: nothing new
    book.as_data_manager()
    _orm_update(book.session, book.lab_a)
    second = book.verify(book.visit_a)
    assert second.id != first.id
    assert book.sdv(book.visit_a) is SdvState.VERIFIED
    assert book.session.scalar(sa.select(sa.func.count()).select_from(SdvMark)) == 2


@pytest.mark.parametrize("role", [RoleCode.DATA_MANAGER, RoleCode.INVESTIGATOR, RoleCode.STATISTICIAN, RoleCode.ADMIN])
def test_AC01_only_a_monitor_marks_a_form_verified(book: Casebook, role: RoleCode) -> None:
    with pytest.raises(ValidationError) as caught:
        book.verify(book.visit_a, by=make_user(book.session, role))
    assert caught.value.field == "role"


def test_SDV_a_frozen_form_can_still_be_verified(book: Casebook) -> None:
    book.lock_visit_a(LockMode.FREEZE)
    book.verify(book.visit_a)
    assert book.sdv(book.visit_a) is SdvState.VERIFIED
