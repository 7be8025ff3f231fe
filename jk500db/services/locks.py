"""Freezes and locks of a form, a visit, a subject or the whole study (LK-01, LK-02).

A freeze fixes the data but queries go on; a lock fixes everything. Both are refused in the database (see
``jk500db.audit.guards``), whatever the write path; this module creates and lifts them, and answers which
locks cover a record so callers can explain a refusal before the database has to. Administrators manage
locks (DESIGN.md); unlocking needs a reason, which the audit trail keeps with the change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_reason
from jk500db.audit.guards import clinical_forms, visit_column
from jk500db.errors import ValidationError
from jk500db.models import Base, RecordLock, User, Visit
from jk500db.models.vocabularies import FormCode, LockLevel, LockMode, RoleCode

#: who may freeze, lock and unlock.
LOCK_ROLES = frozenset({RoleCode.ADMIN})


@dataclass(frozen=True)
class RecordScope:
    """Where a record sits in the casebook: the scope a lock must name to cover it."""

    subject_id: int
    visit_id: int | None
    form_code: FormCode | None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _required_text(field: str, value: str | None, rule: str) -> str:
    if not value or not value.strip():
        raise ValidationError(field, rule)
    return value.strip()


def _check_role(actor: User) -> None:
    if actor.role_code not in LOCK_ROLES:
        raise ValidationError("role", "only an administrator freezes, locks or unlocks data")


def _check_scope(
    session: Session, level: LockLevel, subject_id: int | None, visit_id: int | None, form_code: FormCode | None
) -> None:
    """The fields a level names, and only those (the database's CHECK says the same, in its own words)."""
    needs = {
        LockLevel.STUDY: set(),
        LockLevel.SUBJECT: {"subject_id"},
        LockLevel.VISIT: {"subject_id", "visit_id"},
        LockLevel.FORM: {"subject_id", "form_code"},
    }[level]
    given = {"subject_id": subject_id, "visit_id": visit_id, "form_code": form_code}
    for field, value in given.items():
        if field in needs and value is None:
            raise ValidationError(field, f"a {level.value} lock names its {field.removesuffix('_id')}")
        optional = level is LockLevel.FORM and field == "visit_id"  # a form at one visit, or at every visit
        if field not in needs and value is not None and not optional:
            raise ValidationError(field, f"a {level.value} lock does not name a {field.removesuffix('_id')}")
    if visit_id is not None:
        visit = session.get(Visit, visit_id)
        if visit is None or visit.subject_id != subject_id:
            raise ValidationError("visit_id", "must be a visit of the subject")


def lock(
    session: Session,
    *,
    actor: User,
    level: LockLevel,
    mode: LockMode,
    subject_id: int | None = None,
    visit_id: int | None = None,
    form_code: FormCode | None = None,
    reason: str,
    now: dt.datetime | None = None,
) -> RecordLock:
    """Freeze or lock a scope; the new lock row is audited like any insert. Flushes, never commits."""
    _check_role(actor)
    text = _required_text("reason", reason, "say why the data are frozen or locked")
    level, mode = LockLevel(level), LockMode(mode)
    form = FormCode(form_code) if form_code is not None else None
    _check_scope(session, level, subject_id, visit_id, form)
    record = RecordLock(
        level=level,
        mode=mode,
        subject_id=subject_id,
        visit_id=visit_id,
        form_code=form,
        locked_by_id=actor.id,
        locked_at=now or _utcnow(),
        reason=text,
    )
    session.add(record)
    session.flush()
    return record


def unlock(session: Session, record: RecordLock, *, actor: User, reason: str, now: dt.datetime | None = None) -> None:
    """Lift a lock or freeze; the reason is stored on the lock and in the audit rows of the change."""
    _check_role(actor)
    text = _required_text("unlock_reason", reason, "unlocking needs a reason")
    if record.unlocked_at is not None:
        raise ValidationError("unlocked_at", "this lock was already lifted")
    set_reason(session, text)
    record.unlocked_by_id = actor.id
    record.unlocked_at = now or _utcnow()
    record.unlock_reason = text
    session.flush()


def active_locks(session: Session) -> list[RecordLock]:
    """Every lock and freeze in force, oldest first."""
    return list(session.scalars(sa.select(RecordLock).where(RecordLock.unlocked_at.is_(None)).order_by(RecordLock.id)))


def lock_covers(lock: RecordLock, scope: RecordScope) -> bool:
    """Whether an active ``lock`` covers ``scope``: ``covering_locks``'s rule for locks already loaded."""
    if lock.level == LockLevel.STUDY:
        return True
    if lock.subject_id != scope.subject_id:
        return False
    if lock.level == LockLevel.SUBJECT:
        return True
    if lock.level == LockLevel.VISIT:
        return scope.visit_id is not None and lock.visit_id == scope.visit_id
    return lock.form_code == scope.form_code and lock.visit_id in (None, scope.visit_id)


def covering_locks(
    session: Session, scope: RecordScope, *, modes: tuple[LockMode, ...] = (LockMode.LOCK, LockMode.FREEZE)
) -> list[RecordLock]:
    """Active locks of ``modes`` that cover ``scope``: the rule the database guards apply, in Python."""
    covers = [
        RecordLock.level == LockLevel.STUDY,
        sa.and_(RecordLock.level == LockLevel.SUBJECT, RecordLock.subject_id == scope.subject_id),
    ]
    if scope.visit_id is not None:
        covers.append(sa.and_(RecordLock.level == LockLevel.VISIT, RecordLock.visit_id == scope.visit_id))
    if scope.form_code is not None:
        same_visit: sa.ColumnElement[bool] = RecordLock.visit_id.is_(None)
        if scope.visit_id is not None:
            same_visit = sa.or_(same_visit, RecordLock.visit_id == scope.visit_id)
        covers.append(
            sa.and_(
                RecordLock.level == LockLevel.FORM,
                RecordLock.subject_id == scope.subject_id,
                RecordLock.form_code == scope.form_code,
                same_visit,
            )
        )
    query = sa.select(RecordLock).where(
        RecordLock.unlocked_at.is_(None), RecordLock.mode.in_([m.value for m in modes]), sa.or_(*covers)
    )
    return list(session.scalars(query.order_by(RecordLock.id)))


def record_scope(session: Session, table_name: str, record_id: int) -> RecordScope:
    """The subject, visit and form of a clinical record named by table and key."""
    forms = clinical_forms()
    if table_name not in forms:
        raise ValidationError("table_name", "must name a clinical form table")
    table = Base.metadata.tables[table_name]
    subject = table.c.id if table_name == "subject" else table.c.subject_id
    visit_name = visit_column(table)
    visit = table.c[visit_name] if visit_name else sa.null()
    row = session.execute(sa.select(subject, visit).where(table.c.id == record_id)).first()
    if row is None:
        raise ValidationError("record_id", f"no {table_name} record {record_id}")
    return RecordScope(subject_id=row[0], visit_id=row[1], form_code=forms[table_name])
