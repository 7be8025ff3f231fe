"""JK500 cell infusions: several per subject, each with its product lot, cell dose and observations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import check, order_check, positive_check, range_check, requires_check
from jk500db.models.vocabularies import FormCode

if TYPE_CHECKING:
    from jk500db.models.subject import Subject
    from jk500db.models.visit import Visit
    from jk500db.models.vitals import VitalSigns


class Infusion(SubjectRecord, Base):
    __tablename__ = "infusion"
    __form__ = FormCode.INFUSION

    #: the visit it was given at.
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"))
    #: 1 for the first infusion (day 0), 2, ...
    infusion_number: Mapped[int]
    #: start of the infusion (UTC).
    started_at: Mapped[dt.datetime]
    #: end of the infusion (UTC).
    ended_at: Mapped[dt.datetime | None]
    #: product lot (batch) number from the certificate of release.
    product_lot: Mapped[str] = mapped_column(sa.String(40))
    #: total viable cells infused.
    cells_infused: Mapped[Decimal | None]
    #: weight used for the cell dose, kg.
    weight_kg: Mapped[Decimal | None]
    #: derived: cells infused per kg of body weight.
    dose_cells_per_kg: Mapped[Decimal | None] = derived()
    #: protocol dose for this infusion, cells/kg (from the study definition).
    planned_cells_per_kg: Mapped[Decimal | None] = derived()
    #: cell viability of the product, %.
    viability_pct: Mapped[Decimal | None]
    #: volume infused, mL.
    volume_ml: Mapped[Decimal | None]
    #: premedication given (drug, dose, time).
    premedication: Mapped[str | None] = mapped_column(sa.Text)
    #: an infusion reaction occurred (recorded as an AE too).
    infusion_reaction: Mapped[bool] = mapped_column(default=False)
    #: the whole planned volume was infused.
    completed: Mapped[bool] = mapped_column(default=True)
    #: why the infusion was not completed.
    not_completed_reason: Mapped[str | None] = mapped_column(sa.Text)

    subject: Mapped[Subject] = relationship(back_populates="infusions")
    visit: Mapped[Visit | None] = relationship()
    vital_signs: Mapped[list[VitalSigns]] = relationship(back_populates="infusion")

    __table_args__ = (
        sa.UniqueConstraint("subject_id", "infusion_number"),
        check("infusion_number >= 1", "infusion_number_range", field="infusion_number", rule="must be 1 or more"),
        order_check("ended_at", "started_at"),
        positive_check("cells_infused"),
        positive_check("weight_kg"),
        range_check("viability_pct", 0, 100),
        positive_check("volume_ml"),
        requires_check("not_completed_reason", "NOT completed", "an incomplete infusion needs a reason"),
        removal_check(),
    )
