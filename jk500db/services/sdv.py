"""Source-data verification: a monitor marks a form verified; any later change to its data clears the mark.

The clearing is done by the database (``jk500db.audit.guards``), so a change through any path - the ORM, Core,
raw SQL - clears it, and the clearing is itself an audited update of the mark under the change's reason.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.errors import ValidationError
from jk500db.models import SdvMark, Subject, User, Visit
from jk500db.models.vocabularies import FormCode, RoleCode


class SdvState(StrEnum):
    VERIFIED = "verified"  # the newest mark stands
    CLEARED = "cleared"  # verified once, changed since: needs verifying again
    NEVER = "never"


def _mark_query(subject_id: int, visit_id: int | None, form_code: FormCode) -> sa.Select[tuple[SdvMark]]:
    visit = SdvMark.visit_id.is_(None) if visit_id is None else SdvMark.visit_id == visit_id
    query = sa.select(SdvMark).where(SdvMark.subject_id == subject_id, SdvMark.form_code == form_code, visit)
    # The database clears marks behind the ORM's back: reload rather than trust the identity map.
    return query.execution_options(populate_existing=True)


def mark_verified(
    session: Session,
    *,
    actor: User,
    subject_id: int,
    visit_id: int | None,
    form_code: FormCode,
    now: dt.datetime | None = None,
) -> SdvMark:
    """The monitor verified this form against source. Marking a form that is already verified changes nothing."""
    if actor.role_code != RoleCode.MONITOR:
        raise ValidationError("role", "only a monitor marks forms source-data-verified")
    form = FormCode(form_code)
    if session.get(Subject, subject_id) is None:
        raise ValidationError("subject_id", "no such subject")
    if visit_id is not None:
        visit = session.get(Visit, visit_id)
        if visit is None or visit.subject_id != subject_id:
            raise ValidationError("visit_id", "must be a visit of the subject")
    standing = session.scalar(_mark_query(subject_id, visit_id, form).where(SdvMark.cleared_at.is_(None)))
    if standing is not None:
        return standing
    mark = SdvMark(
        subject_id=subject_id,
        visit_id=visit_id,
        form_code=form,
        verified_by_id=actor.id,
        verified_at=now or dt.datetime.now(dt.UTC),
    )
    session.add(mark)
    session.flush()
    return mark


def sdv_status(session: Session, subject_id: int, visit_id: int | None, form_code: FormCode) -> SdvState:
    """Whether the form's newest mark stands, was cleared by a change, or the form was never verified."""
    newest = session.scalar(_mark_query(subject_id, visit_id, FormCode(form_code)).order_by(SdvMark.id.desc()).limit(1))
    if newest is None:
        return SdvState.NEVER
    return SdvState.VERIFIED if newest.cleared_at is None else SdvState.CLEARED
