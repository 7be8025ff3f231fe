"""ICANS assessments: ICE score (age 12 and over) or CAPD (under 12), graded by ASTCT 2019."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, range_check
from jk500db.models.vocabularies import CapdAnswer, Consciousness, FormCode, IcansInstrument, RaisedIcp, Seizure

if TYPE_CHECKING:
    from jk500db.models.adverse_event import AdverseEvent


def _capd_item() -> Mapped[CapdAnswer | None]:
    return mapped_column(Vocabulary(CapdAnswer))


class IcansAssessment(SubjectRecord, Base):
    __tablename__ = "icans_assessment"
    __form__ = FormCode.ICANS

    #: the ICANS adverse event (episode) this assessment belongs to.
    adverse_event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("adverse_event.id"), index=True)
    #: when assessed (UTC).
    assessed_at: Mapped[dt.datetime]
    #: derived: completed years of age at the assessment.
    age_years: Mapped[int | None] = derived()
    #: developmental delay (CAPD is used at any age when the setting says so).
    developmental_delay: Mapped[bool] = mapped_column(default=False)
    #: ICE or CAPD (derived from age and developmental delay).
    instrument: Mapped[IcansInstrument | None] = derived(Vocabulary(IcansInstrument))
    #: ICE score 0-10.
    ice_score: Mapped[int | None]
    #: CAPD item 1: eye contact with the caregiver (reverse-scored).
    capd_1: Mapped[CapdAnswer | None] = _capd_item()
    #: CAPD item 2: purposeful actions (reverse-scored).
    capd_2: Mapped[CapdAnswer | None] = _capd_item()
    #: CAPD item 3: aware of surroundings (reverse-scored).
    capd_3: Mapped[CapdAnswer | None] = _capd_item()
    #: CAPD item 4: communicates needs and wants (reverse-scored).
    capd_4: Mapped[CapdAnswer | None] = _capd_item()
    #: CAPD item 5: restless.
    capd_5: Mapped[CapdAnswer | None] = _capd_item()
    #: CAPD item 6: inconsolable.
    capd_6: Mapped[CapdAnswer | None] = _capd_item()
    #: CAPD item 7: underactive, very little movement while awake.
    capd_7: Mapped[CapdAnswer | None] = _capd_item()
    #: CAPD item 8: takes a long time to respond to interactions.
    capd_8: Mapped[CapdAnswer | None] = _capd_item()
    #: derived: CAPD total 0-32.
    capd_total: Mapped[int | None] = derived()
    #: the child could not perform the assessment.
    unable_to_perform: Mapped[bool] = mapped_column(default=False)
    #: level of consciousness.
    consciousness: Mapped[Consciousness] = mapped_column(Vocabulary(Consciousness), default=Consciousness.ALERT)
    #: global aphasia.
    global_aphasia: Mapped[bool] = mapped_column(default=False)
    #: seizure.
    seizure: Mapped[Seizure] = mapped_column(Vocabulary(Seizure), default=Seizure.NONE)
    #: deep focal motor weakness (hemiparesis, paraparesis).
    motor_weakness: Mapped[bool] = mapped_column(default=False)
    #: raised intracranial pressure / cerebral oedema.
    raised_icp: Mapped[RaisedIcp] = mapped_column(Vocabulary(RaisedIcp), default=RaisedIcp.NONE)
    #: the findings are attributed to another cause.
    other_cause: Mapped[bool] = mapped_column(default=False)
    #: death due to ICANS.
    death: Mapped[bool] = mapped_column(default=False)
    #: derived: ASTCT grade 0-5.
    astct_grade: Mapped[int | None] = derived()
    #: derived: why that grade.
    grade_reasons: Mapped[str | None] = derived(sa.Text)
    #: derived: rule id and version.
    grade_rule: Mapped[str | None] = derived(sa.String(60))
    #: derived: settings used, JSON.
    grade_settings: Mapped[str | None] = derived(sa.Text)

    adverse_event: Mapped[AdverseEvent | None] = relationship(back_populates="icans_assessments")

    __table_args__ = (
        range_check("ice_score", 0, 10),
        range_check("capd_total", 0, 32),
        range_check("age_years", 0, 25),
        range_check("astct_grade", 0, 5),
        removal_check(),
    )
