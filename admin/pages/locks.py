"""Freezes and locks (LK-01, LK-02): the administrator's screen to fix data and, with a reason, release them.

A freeze or a lock covers the whole study, one subject, one visit of a subject, or one form of a subject (at
one visit or at every visit). Both fix the data: the database refuses every insert and change of a covered
record, whatever the path (``jk500db.audit.guards``). A freeze lets queries go on, so data managers can still
answer the monitor while nothing changes; a lock also refuses new queries and messages - the final state.

Everything goes through ``jk500db.services.locks``: it checks the role (administrators only, DESIGN.md), that
the scope names exactly what its level needs and that the visit is the subject's, and it keeps the unlock
reason on the lock and in the audit rows of the change. A refusal is shown as the field and the rule, with the
form filled in as it was sent.

The page reads a fixed number of statements: the active locks, the most recently lifted ones, and the choices
(subjects, visits) for the form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import Session, aliased

from admin.extensions import db, utcnow
from admin.pages.base import SecurePage, words
from admin.pages.sdv import form_choices, form_name, visit_text
from jk500db.audit.guards import GUARD_ERROR, LEVEL_ORDER, MODE_WORDS
from jk500db.errors import Jk500Error, ValidationError, validation_error_from_integrity
from jk500db.models import RecordLock, Subject, User, Visit, VisitDefinition
from jk500db.models.vocabularies import FormCode, LockLevel, LockMode, RoleCode
from jk500db.services import locks

#: Lifted locks shown below the active ones, newest first.
LIFTED_SHOWN = 100
#: The form's fields as people read them, keyed by the names the service's errors use.
FIELD_LABELS: dict[str, str] = {
    "level": "Level",
    "mode": "Mode",
    "subject_id": "Subject",
    "visit_id": "Visit",
    "form_code": "Form",
    "reason": "Reason",
    "unlock_reason": "Reason for unlocking",
    "unlocked_at": "Lock",
    "role": "Role",
}
#: The service's field names -> the names of this page's form fields.
FORM_FIELDS: dict[str, str] = {"subject_id": "subject", "visit_id": "visit", "form_code": "form"}
LEVEL_HELP: dict[LockLevel, str] = {
    LockLevel.STUDY: "every record of every subject (the final database lock)",
    LockLevel.SUBJECT: "every record of one subject",
    LockLevel.VISIT: "the records of one visit of one subject",
    LockLevel.FORM: "one form of one subject, at one visit or (with no visit chosen) at every visit",
}
MODE_HELP: dict[LockMode, str] = {
    LockMode.FREEZE: "the data cannot change, but queries can still be raised and answered",
    LockMode.LOCK: "nothing changes: no data changes, no new queries or messages",
}
#: Separates subject number, visit code and sequence in a visit's choice value (no internal ids in the page).
KEY_SEPARATOR = "|"


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, words(name))


def refusal(error: Jk500Error) -> str:
    """A refusal as the page says it: "Visit: must be a visit of the subject"."""
    if isinstance(error, ValidationError):
        return f"{field_label(error.field)}: {error.rule}"
    return str(error)


# --- reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockRow:
    """One lock or freeze as the page lists it (the id goes only into the unlock form's address)."""

    id: int
    level: LockLevel
    mode: LockMode
    scope: str
    locked_by: str
    locked_at: dt.datetime
    reason: str | None
    unlocked_by: str | None
    unlocked_at: dt.datetime | None
    unlock_reason: str | None


def scope_text(level: LockLevel, subject_number: str | None, visit: str | None, form_code: str | None) -> str:
    """The scope in words: "the whole study", "subject 01-003, visit INF1", "subject 01-003, labs at every visit"."""
    if level is LockLevel.STUDY:
        return "The whole study"
    text = f"Subject {subject_number}"
    if level is LockLevel.VISIT:
        return f"{text}, visit {visit}"
    if level is LockLevel.FORM and form_code:
        where = f"at visit {visit}" if visit else "at every visit"
        return f"{text}, {form_name(form_code)} form {where}"
    return text


def lock_rows(session: Session, *, active: bool) -> list[LockRow]:
    """Active locks oldest first, or the newest lifted ones: one statement, joined to names and visits."""
    locker, unlocker = aliased(User), aliased(User)
    query = (
        sa.select(
            RecordLock,
            Subject.subject_number,
            Visit.visit_code,
            Visit.sequence,
            Visit.unscheduled,
            VisitDefinition.label,
            locker.full_name,
            unlocker.full_name,
        )
        .outerjoin(Subject, Subject.id == RecordLock.subject_id)
        .outerjoin(Visit, Visit.id == RecordLock.visit_id)
        .outerjoin(VisitDefinition, VisitDefinition.id == Visit.visit_definition_id)
        .join(locker, locker.id == RecordLock.locked_by_id)
        .outerjoin(unlocker, unlocker.id == RecordLock.unlocked_by_id)
    )
    if active:
        query = query.where(RecordLock.unlocked_at.is_(None)).order_by(RecordLock.id)
    else:
        query = query.where(RecordLock.unlocked_at.is_not(None)).order_by(RecordLock.id.desc()).limit(LIFTED_SHOWN)
    result = []
    for lock, number, code, sequence, unscheduled, label, locked_by, unlocked_by in session.execute(query).tuples():
        level = LockLevel(lock.level)
        visit = visit_text(code, sequence, unscheduled, label)
        result.append(
            LockRow(
                id=lock.id,
                level=level,
                mode=LockMode(lock.mode),
                scope=scope_text(level, number, visit, lock.form_code),
                locked_by=locked_by,
                locked_at=lock.locked_at,
                reason=lock.reason,
                unlocked_by=unlocked_by,
                unlocked_at=lock.unlocked_at,
                unlock_reason=lock.unlock_reason,
            )
        )
    return result


@dataclass(frozen=True)
class VisitChoice:
    value: str
    text: str


@dataclass(frozen=True)
class Choices:
    subjects: list[str]
    #: subject number -> that subject's visits, in schedule order.
    visits: dict[str, list[VisitChoice]]
    forms: list[tuple[str, str]]


def read_choices(session: Session) -> Choices:
    """Live subjects and their live visits (one statement), and the study's forms."""
    rows = session.execute(
        sa.select(
            Subject.subject_number,
            Visit.visit_code,
            Visit.sequence,
            Visit.unscheduled,
            Visit.visit_date,
            VisitDefinition.label,
        )
        .outerjoin(Visit, sa.and_(Visit.subject_id == Subject.id, Visit.removed_at.is_(None)))
        .outerjoin(VisitDefinition, VisitDefinition.id == Visit.visit_definition_id)
        .where(Subject.removed_at.is_(None))
        .order_by(
            Subject.subject_number,
            sa.func.coalesce(VisitDefinition.order, 1_000_000),
            Visit.visit_date,
            Visit.sequence,
        )
    ).tuples()
    visits: dict[str, list[VisitChoice]] = {}
    for number, code, sequence, unscheduled, visit_date, label in rows:
        choices = visits.setdefault(number, [])
        if code is not None:
            text = visit_text(code, sequence, unscheduled, label) or code
            if visit_date is not None:
                text = f"{text} ({visit_date.isoformat()})"
            choices.append(VisitChoice(KEY_SEPARATOR.join((number, code, str(sequence))), text))
    return Choices(list(visits), visits, form_choices())


# --- the create form -----------------------------------------------------------------------------------------


@dataclass
class LockForm:
    """What the admin typed, kept as text so a refused form comes back exactly as sent."""

    level: str = ""
    mode: str = ""
    subject: str = ""
    visit: str = ""
    form: str = ""
    reason: str = ""
    #: form field -> what is wrong with it.
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, form: Mapping[str, str]) -> LockForm:
        get = form.get
        return cls(get("level", ""), get("mode", ""), get("subject", ""), get("visit", ""), get("form", ""),
                   get("reason", ""))  # fmt: skip


@dataclass(frozen=True)
class LockRequest:
    level: LockLevel
    mode: LockMode
    subject_id: int | None
    visit_id: int | None
    form_code: FormCode | None


def _choice(value: str, allowed: Sequence[StrEnum], name: str) -> str:
    if value not in {member.value for member in allowed}:
        raise ValidationError(name, f"choose one of {', '.join(member.value for member in allowed)}")
    return value


def parse_lock_form(session: Session, form: LockForm) -> LockRequest:
    """The form's choices as the service takes them; the service then checks that they make a valid scope."""
    level = LockLevel(_choice(form.level, LEVEL_ORDER, "level"))
    mode = LockMode(_choice(form.mode, list(LockMode), "mode"))
    subject_id = None
    if form.subject:
        subject_id = session.scalar(
            sa.select(Subject.id).where(Subject.subject_number == form.subject, Subject.removed_at.is_(None))
        )
        if subject_id is None:
            raise ValidationError("subject_id", "there is no such subject")
    visit_id = None
    if form.visit:
        number, _, rest = form.visit.partition(KEY_SEPARATOR)
        code, _, sequence = rest.partition(KEY_SEPARATOR)
        visit_id = session.scalar(
            sa.select(Visit.id)
            .join(Subject, Subject.id == Visit.subject_id)
            .where(
                Subject.subject_number == number,
                Visit.visit_code == code,
                Visit.sequence == (int(sequence) if sequence.isdigit() else 0),
            )
        )
        if visit_id is None:
            raise ValidationError("visit_id", "there is no such visit")
    form_code = FormCode(_choice(form.form, list(FormCode), "form_code")) if form.form else None
    return LockRequest(level, mode, subject_id, visit_id, form_code)


def _as_refusal(error: Exception) -> Jk500Error:
    """A refusal as the page shows it. The service's errors as they are; the database's own - the lock table's
    CHECKs, or its append-only guard when two admins lift the same lock at once - as the rule they state, never
    the raw database text. Any other database error is not a refusal: it is raised again (the 500 page)."""
    if isinstance(error, Jk500Error):
        return error
    text = str(getattr(error, "orig", error))
    if GUARD_ERROR in text:
        return Jk500Error(text.split(GUARD_ERROR, 1)[1].splitlines()[0])
    if isinstance(error, sa.exc.IntegrityError):
        return validation_error_from_integrity(error)
    raise error


# --- the page ------------------------------------------------------------------------------------------------


class LocksPage(SecurePage):
    roles: ClassVar[frozenset[RoleCode]] = frozenset({RoleCode.ADMIN})
    title = "Locks"
    endpoint_name = "locks"
    order = 60

    def _render(
        self, form: LockForm | None = None, unlock_errors: Mapping[int, str] | None = None, unlock_text: str = ""
    ) -> str:
        session = db.session()
        return self.render(
            "jk500/locks.html",
            active=lock_rows(session, active=True),
            lifted=lock_rows(session, active=False),
            lifted_shown=LIFTED_SHOWN,
            choices=read_choices(session),
            form=form or LockForm(),
            levels=[(level.value, words(level.value), LEVEL_HELP[level]) for level in LEVEL_ORDER],
            modes=[(mode.value, words(mode.value), MODE_HELP[mode]) for mode in LockMode],
            unlock_errors=unlock_errors or {},
            unlock_text=unlock_text,
        )

    @expose("/")
    def index(self) -> str:
        return self._render()

    @expose("/create", methods=["POST"])
    def create(self) -> ResponseReturnValue:
        # CSRFProtect (global) has already refused a POST without a valid token before this runs.
        form = LockForm.from_request(request.form)
        session = db.session()
        try:
            wanted = parse_lock_form(session, form)
            actor = session.get_one(User, current_user.id)
            record = locks.lock(
                session,
                actor=actor,
                level=wanted.level,
                mode=wanted.mode,
                subject_id=wanted.subject_id,
                visit_id=wanted.visit_id,
                form_code=wanted.form_code,
                reason=form.reason,
                now=utcnow(),
            )
            session.commit()
        except (Jk500Error, sa.exc.DatabaseError) as caught:
            session.rollback()
            error = _as_refusal(caught)
            message = refusal(error)
            if isinstance(error, ValidationError):
                form.errors[FORM_FIELDS.get(error.field, error.field)] = error.rule
            flash(f"Not saved: {message}", "error")
            return self._render(form)
        flash(f"{self._scope_of(session, record.id)}: now {MODE_WORDS[LockMode(record.mode)]}.", "info")
        return redirect(url_for(".index"))

    @staticmethod
    def _scope_of(session: Session, lock_id: int) -> str:
        return next(row.scope for row in lock_rows(session, active=True) if row.id == lock_id)

    @expose("/<int:lock_id>/unlock", methods=["POST"])
    def unlock(self, lock_id: int) -> ResponseReturnValue:
        session = db.session()
        record = session.get(RecordLock, lock_id)
        if record is None:
            flash("Not saved: that lock does not exist; reload the page", "error")
            return redirect(url_for(".index"))
        text = request.form.get("unlock_reason", "")
        try:
            actor = session.get_one(User, current_user.id)
            locks.unlock(session, record, actor=actor, reason=text, now=utcnow())
            session.commit()
        except (Jk500Error, sa.exc.DatabaseError) as caught:
            session.rollback()
            message = refusal(_as_refusal(caught))
            flash(f"Not saved: {message}", "error")
            return self._render(unlock_errors={lock_id: message}, unlock_text=text)
        flash("Lifted. The reason is kept with the lock and in the audit trail.", "info")
        return redirect(url_for(".index"))


PAGE = LocksPage
