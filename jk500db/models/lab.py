"""Laboratory results in long form: one row per test, the value as entered, the lab's own range.

Paediatric reference limits depend on age, so LLN and ULN are stored with each result, never as constants.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, check, range_check, value_or_reason_check
from jk500db.models.vocabularies import FormCode, LabTest, MissingReason, Specimen

if TYPE_CHECKING:
    from jk500db.models.visit import Visit


class LabResult(SubjectRecord, Base):
    __tablename__ = "lab_result"
    __form__ = FormCode.LABS

    #: the visit; None for a result outside a visit.
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"), index=True)
    #: CDISC LBTESTCD.
    test_code: Mapped[LabTest] = mapped_column(Vocabulary(LabTest))
    #: specimen type (SDTM LBSPEC).
    specimen: Mapped[Specimen] = mapped_column(Vocabulary(Specimen), default=Specimen.BLOOD)
    #: when the specimen was collected (UTC).
    collected_at: Mapped[dt.datetime]
    #: the value exactly as written on the report.
    value_text: Mapped[str | None] = mapped_column(sa.String(40))
    #: the value as a number, None when not done.
    value: Mapped[Decimal | None]
    #: why there is no value.
    value_missing_reason: Mapped[MissingReason | None] = mapped_column(Vocabulary(MissingReason))
    #: unit as reported (e.g. "10^9/L", "/uL", "g/dL", "U/L", "umol/L").
    unit: Mapped[str | None] = mapped_column(sa.String(20))
    #: lower limit of normal from this lab, for this child's age.
    lln: Mapped[Decimal | None]
    #: upper limit of normal from this lab, for this child's age.
    uln: Mapped[Decimal | None]
    #: a transfusion was indicated (anaemia grade 3).
    transfusion_indicated: Mapped[bool] = mapped_column(default=False)
    #: the abnormality was symptomatic (hypokalaemia grade 2).
    symptomatic: Mapped[bool] = mapped_column(default=False)
    #: an intervention was indicated (hypokalaemia grade 2).
    intervention_indicated: Mapped[bool] = mapped_column(default=False)
    #: oral replacement was indicated (hypophosphataemia grade 2).
    oral_replacement_indicated: Mapped[bool] = mapped_column(default=False)
    #: hospitalisation was indicated (hypophosphataemia, hypokalaemia grade 3).
    hospitalization_indicated: Mapped[bool] = mapped_column(default=False)
    #: life-threatening consequences (grade 4 of several terms).
    life_threatening: Mapped[bool] = mapped_column(default=False)
    #: derived: CTCAE v5.0 grade, 0 = no gradable abnormality.
    ctcae_grade: Mapped[int | None] = derived()
    #: derived: the CTCAE term graded.
    ctcae_term: Mapped[str | None] = derived(sa.String(120))
    #: derived: why that grade (the criterion that decided it).
    grade_reasons: Mapped[str | None] = derived(sa.Text)
    #: derived: rule id and version.
    grade_rule: Mapped[str | None] = derived(sa.String(60))
    #: derived: settings used, JSON.
    grade_settings: Mapped[str | None] = derived(sa.Text)
    #: derived: the baseline value the grade was computed against.
    baseline_value: Mapped[Decimal | None] = derived()

    visit: Mapped[Visit | None] = relationship()

    __table_args__ = (
        value_or_reason_check("value", "value_missing_reason"),
        check(
            "value IS NULL OR unit IS NOT NULL", "unit_required", field="unit", rule="a numeric result needs its unit"
        ),
        check(
            "value IS NULL OR CAST(value AS NUMERIC) >= 0", "value_range", field="value", rule="must not be negative"
        ),
        check(
            "lln IS NULL OR uln IS NULL OR CAST(uln AS NUMERIC) >= CAST(lln AS NUMERIC)",
            "uln_after_lln",
            field="uln",
            rule="must not be below the lower limit of normal",
        ),
        range_check("ctcae_grade", 0, 5),
        sa.Index("ix_lab_result_subject_test_time", "subject_id", "test_code", "collected_at"),
        # The live (not removed) results in id order: the lab list's count reads this small index instead of
        # the whole table (PostgreSQL 125 -> 30 ms at 345,769 results, once vacuumed), and SQLite pages through
        # it without reading the rows it skips (the list's last page 136 -> 45 ms).
        sa.Index(
            "ix_lab_result_live",
            "id",
            postgresql_where=sa.text("removed_at IS NULL"),
            sqlite_where=sa.text("removed_at IS NULL"),
        ),
        removal_check(),
    )
