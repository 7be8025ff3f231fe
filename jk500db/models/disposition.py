"""End of study, death, survival follow-up and protocol deviations."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, removal_check
from jk500db.models.types import Vocabulary, requires_check
from jk500db.models.vocabularies import (
    DeathCause,
    DeviationSeverity,
    DispositionStatus,
    FormCode,
    VitalStatus,
    WithdrawalBy,
)

if TYPE_CHECKING:
    from jk500db.models.subject import Subject


class EndOfStudy(SubjectRecord, Base):
    __tablename__ = "end_of_study"
    __form__ = FormCode.DISPOSITION

    #: how the subject left the study (SDTM DSDECOD).
    status: Mapped[DispositionStatus] = mapped_column(Vocabulary(DispositionStatus))
    #: date of leaving.
    ended_on: Mapped[dt.date]
    #: reason in words.
    reason: Mapped[str | None] = mapped_column(sa.Text)
    #: who decided a withdrawal.
    withdrawal_by: Mapped[WithdrawalBy | None] = mapped_column(Vocabulary(WithdrawalBy))

    subject: Mapped[Subject] = relationship(back_populates="end_of_study")

    __table_args__ = (
        sa.UniqueConstraint("subject_id"),
        requires_check("withdrawal_by", "status = 'withdrawn'", "a withdrawal says who withdrew the subject"),
        requires_check("reason", "status IN ('withdrawn', 'screen_failed', 'lost_to_follow_up')", "give the reason"),
        removal_check(),
    )


class Death(SubjectRecord, Base):
    __tablename__ = "death"
    __form__ = FormCode.DEATH

    #: date of death.
    death_date: Mapped[dt.date]
    #: primary cause category.
    cause: Mapped[DeathCause] = mapped_column(Vocabulary(DeathCause))
    #: cause in words.
    cause_text: Mapped[str | None] = mapped_column(sa.Text)
    #: the fatal adverse event, where death was due to one.
    adverse_event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("adverse_event.id"))
    #: an autopsy was performed.
    autopsy: Mapped[bool | None]

    subject: Mapped[Subject] = relationship(back_populates="death")

    __table_args__ = (
        sa.UniqueConstraint("subject_id"),
        requires_check("adverse_event_id", "cause = 'adverse_event'", "name the fatal adverse event"),
        removal_check(),
    )


class SurvivalFollowUp(SubjectRecord, Base):
    __tablename__ = "survival_follow_up"
    __form__ = FormCode.SURVIVAL

    #: date of contact.
    contact_date: Mapped[dt.date]
    #: alive, dead or unknown at contact.
    vital_status: Mapped[VitalStatus] = mapped_column(Vocabulary(VitalStatus))
    #: disease status in words (e.g. "in CR", "relapsed").
    disease_status: Mapped[str | None] = mapped_column(sa.String(200))
    #: new anti-leukaemia therapy since the last contact.
    new_therapy: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.UniqueConstraint("subject_id", "contact_date"), removal_check())


class ProtocolDeviation(SubjectRecord, Base):
    __tablename__ = "protocol_deviation"
    __form__ = FormCode.DEVIATIONS

    #: date the deviation occurred.
    occurred_on: Mapped[dt.date]
    #: category (e.g. "eligibility", "dosing", "visit window", "informed consent").
    category: Mapped[str] = mapped_column(sa.String(60))
    #: what happened.
    description: Mapped[str] = mapped_column(sa.Text)
    #: major or minor.
    severity: Mapped[DeviationSeverity] = mapped_column(Vocabulary(DeviationSeverity))
    #: date reported to the ethics committee, where required.
    reported_on: Mapped[dt.date | None]

    __table_args__ = (removal_check(),)
