"""Concomitant medications (tocilizumab, steroids, anti-infectives, transfusions), procedures, and HSCT after JK500."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jk500db.models.base import Base, SubjectRecord, removal_check
from jk500db.models.types import Vocabulary, check, order_check, positive_check
from jk500db.models.vocabularies import DonorType, FormCode, MedicationCategory, Route


class ConcomitantMedication(SubjectRecord, Base):
    __tablename__ = "concomitant_medication"
    __form__ = FormCode.CONMEDS

    #: drug or blood product as given (SDTM CMTRT).
    name: Mapped[str] = mapped_column(sa.String(200))
    #: category the safety tables count by.
    category: Mapped[MedicationCategory] = mapped_column(Vocabulary(MedicationCategory))
    #: why it was given.
    indication: Mapped[str | None] = mapped_column(sa.String(200))
    #: the adverse event it treats (CRS for tocilizumab, for example).
    adverse_event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("adverse_event.id"))
    #: dose per administration.
    dose: Mapped[Decimal | None]
    #: dose unit (mg, mg/kg, units, mL).
    dose_unit: Mapped[str | None] = mapped_column(sa.String(20))
    #: route.
    route: Mapped[Route | None] = mapped_column(Vocabulary(Route))
    #: frequency as written (e.g. "q8h").
    frequency: Mapped[str | None] = mapped_column(sa.String(40))
    #: start date.
    start_date: Mapped[dt.date]
    #: end date; None while ongoing.
    end_date: Mapped[dt.date | None]
    #: still being given.
    ongoing: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        positive_check("dose"),
        check(
            "dose IS NULL OR dose_unit IS NOT NULL",
            "dose_unit_required",
            field="dose_unit",
            rule="a dose needs its unit",
        ),
        order_check("end_date", "start_date"),
        check(
            "NOT (ongoing AND end_date IS NOT NULL)",
            "ongoing_without_end",
            field="end_date",
            rule="an ongoing medication has no end date",
        ),
        removal_check(),
    )


class Procedure(SubjectRecord, Base):
    __tablename__ = "procedure"
    __form__ = FormCode.PROCEDURES

    #: procedure as performed (SDTM PRTRT), e.g. "bone marrow aspiration", "lumbar puncture".
    name: Mapped[str] = mapped_column(sa.String(200))
    #: date performed.
    performed_on: Mapped[dt.date]
    #: why it was performed.
    indication: Mapped[str | None] = mapped_column(sa.String(200))

    __table_args__ = (removal_check(),)


class Transplant(SubjectRecord, Base):
    """Haematopoietic stem-cell transplant after JK500 (a censoring event for response follow-up)."""

    __tablename__ = "transplant"
    __form__ = FormCode.TRANSPLANT

    #: date of the stem-cell infusion.
    transplant_date: Mapped[dt.date]
    #: donor type.
    donor_type: Mapped[DonorType] = mapped_column(Vocabulary(DonorType))
    #: conditioning regimen as written.
    conditioning: Mapped[str | None] = mapped_column(sa.String(200))
    #: response before transplant, ELN 2022.
    pre_transplant_response: Mapped[str | None] = mapped_column(sa.String(10))

    __table_args__ = (sa.UniqueConstraint("subject_id", "transplant_date"), removal_check())
