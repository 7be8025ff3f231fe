"""Visits (scheduled and unscheduled) and the status of each form at a visit."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, check, requires_check
from jk500db.models.vocabularies import FormCode, FormStatusCode, VisitStatus, WindowStatus

if TYPE_CHECKING:
    from jk500db.models.study import VisitDefinition
    from jk500db.models.subject import Subject


class Visit(SubjectRecord, Base):
    __tablename__ = "visit"
    __form__ = FormCode.VITALS  # the visit date is entered with the visit's first form

    #: schedule entry; None for an unscheduled visit.
    visit_definition_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit_definition.id"))
    #: visit code from the schedule, or "UNS" for unscheduled.
    visit_code: Mapped[str] = mapped_column(sa.String(20))
    #: 1 for the visit; 2, 3, ... for repeated unscheduled visits with the same code.
    sequence: Mapped[int] = mapped_column(default=1)
    #: an unscheduled visit (no window applies).
    unscheduled: Mapped[bool] = mapped_column(default=False)
    #: date the visit took place.
    visit_date: Mapped[dt.date | None]
    #: scheduled, completed, missed or not applicable.
    status: Mapped[VisitStatus] = mapped_column(Vocabulary(VisitStatus), default=VisitStatus.SCHEDULED)
    #: why the visit was missed.
    missed_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: derived: protocol day (day 0 = first JK500 infusion, no gap).
    protocol_day: Mapped[int | None] = derived()
    #: derived: SDTM study day (no day 0) against the first lymphodepletion dose.
    study_day: Mapped[int | None] = derived()
    #: derived: early, in window or late against the schedule.
    window_status: Mapped[WindowStatus | None] = derived(Vocabulary(WindowStatus))

    subject: Mapped[Subject] = relationship(back_populates="visits")
    definition: Mapped[VisitDefinition | None] = relationship()
    forms: Mapped[list[FormStatus]] = relationship(back_populates="visit")

    __table_args__ = (
        sa.UniqueConstraint("subject_id", "visit_code", "sequence"),
        check("sequence >= 1", "sequence_range", field="sequence", rule="must be 1 or more"),
        check(
            "study_day IS NULL OR study_day <> 0",
            "study_day_not_zero",
            field="study_day",
            rule="SDTM study days have no day 0",
        ),
        requires_check("visit_date", "status = 'completed'", "a completed visit needs its date"),
        requires_check("missed_reason", "status = 'missed'", "a missed visit needs a reason"),
        removal_check(),
    )


class FormStatus(Base):
    """Entry status of one form at one visit; SDV marks, signatures and locks are their own records."""

    __tablename__ = "form_status"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: subject (kept here so the matrix is one query).
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subject.id"), index=True)
    #: the visit.
    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("visit.id"))
    #: the form.
    form_code: Mapped[FormCode] = mapped_column(Vocabulary(FormCode))
    #: not started, incomplete or complete.
    status: Mapped[FormStatusCode] = mapped_column(Vocabulary(FormStatusCode), default=FormStatusCode.NOT_STARTED)
    #: when the status last changed (UTC).
    updated_at: Mapped[dt.datetime | None]

    visit: Mapped[Visit] = relationship(back_populates="forms")

    __table_args__ = (sa.UniqueConstraint("visit_id", "form_code"),)
