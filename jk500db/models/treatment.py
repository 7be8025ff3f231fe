"""Lymphodepletion (cyclophosphamide, fludarabine) and IL-2 administrations, with the dose arithmetic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, check, order_check, positive_check, requires_check
from jk500db.models.vocabularies import Agent, BsaFormula, DoseBasis, DoseUnit, FormCode, Route

if TYPE_CHECKING:
    from jk500db.models.subject import Subject
    from jk500db.models.visit import Visit


class DrugAdministration(SubjectRecord, Base):
    """One dose of cyclophosphamide, fludarabine or IL-2, with the body size and BSA it was computed from."""

    __tablename__ = "drug_administration"
    __form__ = FormCode.LYMPHODEPLETION

    #: the visit it was given at.
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"))
    #: what was given (JK500 itself is recorded as an Infusion).
    agent: Mapped[Agent] = mapped_column(Vocabulary(Agent))
    #: 1, 2, ... within the agent (fludarabine 1-5, IL-2 1-6).
    dose_number: Mapped[int]
    #: route of administration.
    route: Mapped[Route] = mapped_column(Vocabulary(Route))
    #: start of administration (UTC).
    started_at: Mapped[dt.datetime | None]
    #: end of administration (UTC).
    ended_at: Mapped[dt.datetime | None]
    #: height used for the dose, cm.
    height_cm: Mapped[Decimal | None]
    #: weight used for the dose, kg.
    weight_kg: Mapped[Decimal | None]
    #: date height and weight were measured.
    measured_on: Mapped[dt.date | None]
    #: BSA formula used (derived from the rule settings).
    bsa_formula: Mapped[BsaFormula | None] = derived(Vocabulary(BsaFormula))
    #: derived: body surface area, m², unrounded.
    bsa_m2: Mapped[Decimal | None] = derived()
    #: protocol dose per basis unit (from the regimen).
    dose_per_basis: Mapped[Decimal | None] = derived()
    #: the regimen's dose basis.
    dose_basis: Mapped[DoseBasis | None] = derived(Vocabulary(DoseBasis))
    #: derived: planned dose in dose_unit.
    planned_dose: Mapped[Decimal | None] = derived()
    #: dose actually given, in dose_unit.
    actual_dose: Mapped[Decimal | None]
    #: unit of planned and actual dose.
    dose_unit: Mapped[DoseUnit] = mapped_column(Vocabulary(DoseUnit))
    #: derived: (actual − planned) / planned × 100.
    deviation_pct: Mapped[Decimal | None] = derived()
    #: derived: the deviation exceeds the setting dosing.deviation_pct.
    deviation: Mapped[bool | None] = derived()
    #: derived: rule id and version of the dose derivation.
    dose_rule: Mapped[str | None] = derived(sa.String(60))
    #: derived: settings used, JSON.
    dose_settings: Mapped[str | None] = derived(sa.Text)
    #: the dose was not given.
    not_given: Mapped[bool] = mapped_column(default=False)
    #: why it was not given.
    not_given_reason: Mapped[str | None] = mapped_column(sa.Text)

    subject: Mapped[Subject] = relationship(back_populates="administrations")
    visit: Mapped[Visit | None] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("subject_id", "agent", "dose_number"),
        check("agent <> 'jk500'", "agent_not_jk500", field="agent", rule="JK500 is recorded as an infusion, not here"),
        check("dose_number >= 1", "dose_number_range", field="dose_number", rule="must be 1 or more"),
        order_check("ended_at", "started_at"),
        positive_check("height_cm"),
        positive_check("weight_kg"),
        positive_check("bsa_m2"),
        check(
            "actual_dose IS NULL OR CAST(actual_dose AS NUMERIC) >= 0",
            "actual_dose_range",
            field="actual_dose",
            rule="must not be negative",
        ),
        requires_check("not_given_reason", "not_given", "a dose not given needs a reason"),
        requires_check("actual_dose", "NOT not_given", "give the dose actually administered"),
        removal_check(),
    )
