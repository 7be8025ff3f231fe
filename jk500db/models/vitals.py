"""Vital signs: routine, and before and after each JK500 infusion."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, positive_check, range_check, requires_check
from jk500db.models.vocabularies import FormCode, VitalTimepoint

if TYPE_CHECKING:
    from jk500db.models.infusion import Infusion
    from jk500db.models.visit import Visit


class VitalSigns(SubjectRecord, Base):
    __tablename__ = "vital_signs"
    __form__ = FormCode.VITALS

    #: the visit.
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"))
    #: the infusion, for pre- and post-infusion measurements.
    infusion_id: Mapped[int | None] = mapped_column(sa.ForeignKey("infusion.id"))
    #: routine, or before / after an infusion.
    timepoint: Mapped[VitalTimepoint] = mapped_column(Vocabulary(VitalTimepoint), default=VitalTimepoint.ROUTINE)
    #: when measured (UTC).
    measured_at: Mapped[dt.datetime]
    #: body temperature, °C.
    temperature_c: Mapped[Decimal | None]
    #: heart rate, beats/min.
    heart_rate: Mapped[int | None]
    #: respiratory rate, breaths/min.
    respiratory_rate: Mapped[int | None]
    #: systolic blood pressure, mmHg.
    systolic_bp: Mapped[int | None]
    #: diastolic blood pressure, mmHg.
    diastolic_bp: Mapped[int | None]
    #: oxygen saturation, %.
    spo2_pct: Mapped[Decimal | None]
    #: weight, kg.
    weight_kg: Mapped[Decimal | None]
    #: height, cm.
    height_cm: Mapped[Decimal | None]
    #: derived: body surface area, m² (rule setting's formula, unrounded).
    bsa_m2: Mapped[Decimal | None] = derived()

    visit: Mapped[Visit | None] = relationship()
    infusion: Mapped[Infusion | None] = relationship(back_populates="vital_signs")

    __table_args__ = (
        # Outer bounds of physical possibility; plausibility limits are soft edit checks.
        range_check("temperature_c", 25, 45),
        range_check("heart_rate", 1, 300),
        range_check("respiratory_rate", 1, 150),
        range_check("systolic_bp", 20, 300),
        range_check("diastolic_bp", 10, 250),
        range_check("spo2_pct", 0, 100),
        positive_check("weight_kg"),
        positive_check("height_cm"),
        requires_check(
            "infusion_id", "timepoint <> 'routine'", "a pre- or post-infusion measurement names its infusion"
        ),
        removal_check(),
    )
