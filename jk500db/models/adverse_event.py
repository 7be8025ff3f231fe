"""Adverse events: CTCAE term and grade, seriousness, causality to each study treatment, DLT and reporting."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, check, order_check, range_check, requires_check
from jk500db.models.vocabularies import (
    AeAction,
    AeOutcome,
    DltDecision,
    Expectedness,
    FormCode,
    Relatedness,
    ReportStatus,
)

if TYPE_CHECKING:
    from jk500db.models.crs import CrsAssessment
    from jk500db.models.icans import IcansAssessment
    from jk500db.models.subject import Subject
    from jk500db.models.terminology import CtcaeTerm
    from jk500db.models.users import User

#: The seriousness criteria (ICH E2A; SDTM AESDTH, AESLIFE, AESHOSP, AESDISAB, AESCONG, AESMIE).
SERIOUSNESS_CRITERIA = (
    "serious_death",
    "serious_life_threatening",
    "serious_hospitalisation",
    "serious_disability",
    "serious_congenital_anomaly",
    "serious_medically_important",
)


class AdverseEvent(SubjectRecord, Base):
    __tablename__ = "adverse_event"
    __form__ = FormCode.ADVERSE_EVENTS

    #: 1, 2, ... per subject (SDTM AESPID).
    ae_number: Mapped[int]
    #: CTCAE v5.0 term (gives MedDRA code and SOC).
    ctcae_term_id: Mapped[int] = mapped_column(sa.ForeignKey("ctcae_term.id"))
    #: the investigator's words (SDTM AETERM); required for "Other, specify" terms.
    verbatim: Mapped[str | None] = mapped_column(sa.String(200))
    #: date of onset.
    onset_date: Mapped[dt.date]
    #: date resolved; None while ongoing.
    end_date: Mapped[dt.date | None]
    #: still ongoing at the last assessment.
    ongoing: Mapped[bool] = mapped_column(default=False)
    #: CTCAE grade as the investigator assessed it (worst grade of the episode).
    grade: Mapped[int]
    #: derived: grade computed from the linked assessments (ASTCT episode maximum for CRS/ICANS).
    derived_grade: Mapped[int | None] = derived()
    #: derived: rule id and version of derived_grade.
    derived_grade_rule: Mapped[str | None] = derived(sa.String(60))
    #: why the investigator's grade differs from the derived one.
    grade_difference_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: serious adverse event.
    serious: Mapped[bool] = mapped_column(default=False)
    #: results in death.
    serious_death: Mapped[bool] = mapped_column(default=False)
    #: life-threatening.
    serious_life_threatening: Mapped[bool] = mapped_column(default=False)
    #: requires or prolongs hospitalisation.
    serious_hospitalisation: Mapped[bool] = mapped_column(default=False)
    #: persistent or significant disability.
    serious_disability: Mapped[bool] = mapped_column(default=False)
    #: congenital anomaly or birth defect.
    serious_congenital_anomaly: Mapped[bool] = mapped_column(default=False)
    #: other medically important event.
    serious_medically_important: Mapped[bool] = mapped_column(default=False)
    #: causality to JK500 (SDTM AEREL).
    related_jk500: Mapped[Relatedness | None] = mapped_column(Vocabulary(Relatedness))
    #: causality to IL-2.
    related_il2: Mapped[Relatedness | None] = mapped_column(Vocabulary(Relatedness))
    #: causality to lymphodepletion (cyclophosphamide, fludarabine).
    related_lymphodepletion: Mapped[Relatedness | None] = mapped_column(Vocabulary(Relatedness))
    #: attributed to progressive disease, concomitant disease or medication (excludes a DLT).
    attributed_elsewhere: Mapped[bool] = mapped_column(default=False)
    #: expected per the investigator's brochure.
    expectedness: Mapped[Expectedness | None] = mapped_column(Vocabulary(Expectedness))
    #: action taken with study treatment.
    action_taken: Mapped[AeAction | None] = mapped_column(Vocabulary(AeAction))
    #: outcome.
    outcome: Mapped[AeOutcome | None] = mapped_column(Vocabulary(AeOutcome))
    #: derived: in the DLT window, grade at or above the setting, not attributed elsewhere.
    dlt_candidate: Mapped[bool | None] = derived()
    #: derived: why it is (or is not) a DLT candidate.
    dlt_reasons: Mapped[str | None] = derived(sa.Text)
    #: the investigator's decision on a candidate.
    dlt_decision: Mapped[DltDecision | None] = mapped_column(Vocabulary(DltDecision))
    #: who decided.
    dlt_decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when (UTC).
    dlt_decided_at: Mapped[dt.datetime | None]
    #: when site staff first knew of the event (UTC): day 0 of the reporting clocks.
    awareness_at: Mapped[dt.datetime | None]
    #: derived: SAE report to the sponsor due (awareness + setting, default 24 h).
    sponsor_report_due_at: Mapped[dt.datetime | None] = derived()
    #: when the SAE report reached the sponsor (UTC).
    sponsor_reported_at: Mapped[dt.datetime | None]
    #: derived: a suspected unexpected serious adverse reaction.
    susar: Mapped[bool | None] = derived()
    #: derived: initial expedited report due (ICH E2A day 7 or 15).
    regulator_initial_due_on: Mapped[dt.date | None] = derived()
    #: derived: follow-up report due (fatal or life-threatening: day 15).
    regulator_follow_up_due_on: Mapped[dt.date | None] = derived()
    #: date the initial report was sent to the regulator.
    regulator_reported_on: Mapped[dt.date | None]
    #: derived: pending, overdue, submitted, submitted late.
    report_status: Mapped[ReportStatus | None] = derived(Vocabulary(ReportStatus))

    subject: Mapped[Subject] = relationship(back_populates="adverse_events")
    term: Mapped[CtcaeTerm] = relationship()
    dlt_decided_by: Mapped[User | None] = relationship()
    crs_assessments: Mapped[list[CrsAssessment]] = relationship(back_populates="adverse_event")
    icans_assessments: Mapped[list[IcansAssessment]] = relationship(back_populates="adverse_event")

    __table_args__ = (
        sa.UniqueConstraint("subject_id", "ae_number"),
        check("ae_number >= 1", "ae_number_range", field="ae_number", rule="must be 1 or more"),
        range_check("grade", 1, 5),
        range_check("derived_grade", 0, 5),
        order_check("end_date", "onset_date"),
        check(
            "NOT (ongoing AND end_date IS NOT NULL)",
            "ongoing_without_end",
            field="end_date",
            rule="an ongoing event has no end date",
        ),
        check(
            "serious OR NOT (" + " OR ".join(SERIOUSNESS_CRITERIA) + ")",
            "serious_criteria_need_serious",
            field="serious",
            rule="an event meeting a seriousness criterion is serious",
        ),
        check(
            "NOT serious OR (" + " OR ".join(SERIOUSNESS_CRITERIA) + ")",
            "serious_needs_criterion",
            field="serious",
            rule="a serious event names at least one seriousness criterion",
        ),
        check(
            "grade <> 5 OR serious_death",
            "grade_5_is_death",
            field="grade",
            rule="grade 5 means death, which is a seriousness criterion",
        ),
        requires_check("awareness_at", "serious", "a serious event records when the site became aware"),
        order_check("sponsor_reported_at", "awareness_at"),
        removal_check(),
    )
