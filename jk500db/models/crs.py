"""Cytokine release syndrome assessments, graded by the ASTCT 2019 consensus (Lee et al., BBMT 2019;25:625)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, positive_check, range_check
from jk500db.models.vocabularies import FormCode, OxygenDevice, Vasopressor

if TYPE_CHECKING:
    from jk500db.models.adverse_event import AdverseEvent


class CrsAssessment(SubjectRecord, Base):
    __tablename__ = "crs_assessment"
    __form__ = FormCode.CRS

    #: the CRS adverse event (episode) this assessment belongs to.
    adverse_event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("adverse_event.id"), index=True)
    #: when assessed (UTC).
    assessed_at: Mapped[dt.datetime]
    #: highest temperature since the last assessment, °C.
    max_temp_c: Mapped[Decimal | None]
    #: antipyretic or anticytokine therapy was given for established CRS (fever no longer required).
    prior_crs_treated: Mapped[bool] = mapped_column(default=False)
    #: hypotension present.
    hypotension: Mapped[bool] = mapped_column(default=False)
    #: oxygen support at its highest.
    oxygen_device: Mapped[OxygenDevice] = mapped_column(Vocabulary(OxygenDevice), default=OxygenDevice.ROOM_AIR)
    #: oxygen flow, L/min (nasal cannula).
    oxygen_flow_l_min: Mapped[Decimal | None]
    #: intubated for airway protection only, without hypoxia (not grade 4).
    intubated_for_airway_only: Mapped[bool] = mapped_column(default=False)
    #: tocilizumab given for this episode.
    tocilizumab_given: Mapped[bool] = mapped_column(default=False)
    #: corticosteroids given for this episode.
    steroids_given: Mapped[bool] = mapped_column(default=False)
    #: the picture is attributed to another cause (e.g. sepsis).
    other_cause: Mapped[bool] = mapped_column(default=False)
    #: death due to CRS.
    death: Mapped[bool] = mapped_column(default=False)
    #: derived: ASTCT grade 0-5.
    astct_grade: Mapped[int | None] = derived()
    #: derived: why that grade.
    grade_reasons: Mapped[str | None] = derived(sa.Text)
    #: derived: rule id and version.
    grade_rule: Mapped[str | None] = derived(sa.String(60))
    #: derived: settings used, JSON.
    grade_settings: Mapped[str | None] = derived(sa.Text)

    adverse_event: Mapped[AdverseEvent | None] = relationship(back_populates="crs_assessments")
    vasopressors: Mapped[list[CrsVasopressor]] = relationship(back_populates="assessment")

    __table_args__ = (
        range_check("max_temp_c", 25, 45),
        positive_check("oxygen_flow_l_min"),
        range_check("astct_grade", 0, 5),
        removal_check(),
    )


class CrsVasopressor(SubjectRecord, Base):
    """A vasopressor running at the assessment (vasopressin counts differently from the others)."""

    __tablename__ = "crs_vasopressor"
    __form__ = FormCode.CRS

    #: the assessment.
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("crs_assessment.id"))
    #: the drug.
    drug: Mapped[Vasopressor] = mapped_column(Vocabulary(Vasopressor))

    assessment: Mapped[CrsAssessment] = relationship(back_populates="vasopressors")

    __table_args__ = (sa.UniqueConstraint("assessment_id", "drug"), removal_check())
