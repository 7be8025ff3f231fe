"""Response assessments: the marrow and blood findings, MRD, the derived ELN 2022 category and the investigator's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, range_check, requires_check
from jk500db.models.vocabularies import FormCode, MrdMethod, ResponseCategory


class ResponseAssessment(SubjectRecord, Base):
    __tablename__ = "response_assessment"
    __form__ = FormCode.RESPONSE

    #: the visit.
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"))
    #: date of the marrow examination (or the blood count when no marrow was taken).
    assessed_on: Mapped[dt.date]
    #: bone-marrow blasts, % of nucleated cells.
    bm_blast_pct: Mapped[Decimal | None]
    #: pre-treatment marrow blasts, % (PR needs blasts <= 50 % of this); from the screening marrow.
    baseline_bm_blast_pct: Mapped[Decimal | None]
    #: marrow adequate for assessment (spicules and ≥ 200 cells, or cellularity ≥ 10 %).
    marrow_adequate: Mapped[bool | None]
    #: marrow cellularity, %.
    bm_cellularity_pct: Mapped[Decimal | None]
    #: blasts seen in peripheral blood.
    circulating_blasts: Mapped[bool | None]
    #: extramedullary disease present.
    extramedullary: Mapped[bool | None]
    #: absolute neutrophil count, ×10⁹/L.
    anc: Mapped[Decimal | None]
    #: platelets, ×10⁹/L.
    plt: Mapped[Decimal | None]
    #: MRD method.
    mrd_method: Mapped[MrdMethod | None] = mapped_column(Vocabulary(MrdMethod))
    #: MRD level, %.
    mrd_pct: Mapped[Decimal | None]
    #: the assay's threshold, %.
    mrd_threshold_pct: Mapped[Decimal | None]
    #: derived: ELN 2022 category.
    eln_category: Mapped[ResponseCategory | None] = derived(Vocabulary(ResponseCategory))
    #: derived: MRD-negative (CR/CRh/CRi only).
    mrd_negative: Mapped[bool | None] = derived()
    #: derived: why that category.
    eln_reasons: Mapped[str | None] = derived(sa.Text)
    #: derived: rule id and version.
    eln_rule: Mapped[str | None] = derived(sa.String(60))
    #: derived: settings used, JSON.
    eln_settings: Mapped[str | None] = derived(sa.Text)
    #: the investigator's assessment.
    investigator_category: Mapped[ResponseCategory | None] = mapped_column(Vocabulary(ResponseCategory))
    #: why the investigator's category differs from the derived one (a difference opens a query).
    investigator_reason: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        range_check("bm_blast_pct", 0, 100),
        range_check("baseline_bm_blast_pct", 0, 100),
        range_check("bm_cellularity_pct", 0, 100),
        range_check("anc", 0, None),
        range_check("plt", 0, None),
        range_check("mrd_pct", 0, 100),
        range_check("mrd_threshold_pct", 0, 100),
        requires_check("mrd_method", "mrd_pct IS NOT NULL", "an MRD value needs its method"),
        removal_check(),
    )
