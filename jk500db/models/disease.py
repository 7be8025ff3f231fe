"""AML history before the trial: diagnosis, genetics, earlier therapy lines and their responses."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, composite, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, removal_check
from jk500db.models.types import PartialDate, Vocabulary, check, partial_date_checks, range_check
from jk500db.models.vocabularies import FormCode, GeneticRisk, MarkerResult, PriorResponse, TherapyType

if TYPE_CHECKING:
    from jk500db.models.subject import Subject


class DiseaseHistory(SubjectRecord, Base):
    """One per subject: the leukaemia as it was before study treatment."""

    __tablename__ = "disease_history"
    __form__ = FormCode.DISEASE_HISTORY

    #: year of AML diagnosis (partial dates allowed).
    diagnosis_year: Mapped[int | None]
    #: month of diagnosis, when known.
    diagnosis_month: Mapped[int | None]
    #: day of diagnosis, when known.
    diagnosis_day: Mapped[int | None]
    diagnosis_date: Mapped[PartialDate] = composite("diagnosis_year", "diagnosis_month", "diagnosis_day")
    #: WHO 2016 classification of myeloid neoplasms, as the pathology report words it.
    who2016_class: Mapped[str | None] = mapped_column(sa.String(200))
    #: true when the diagnosis is AML by WHO 2016 (IN2).
    aml_who2016: Mapped[bool | None]
    #: karyotype in ISCN notation.
    karyotype: Mapped[str | None] = mapped_column(sa.Text)
    #: ELN 2022 genetic risk group at diagnosis.
    genetic_risk: Mapped[GeneticRisk | None] = mapped_column(Vocabulary(GeneticRisk))
    #: acute promyelocytic leukaemia (EX1).
    apl: Mapped[bool | None]
    #: chronic myeloid leukaemia (EX1).
    cml: Mapped[bool | None]
    #: mixed-phenotype acute leukaemia (EX1).
    mixed_phenotype: Mapped[bool | None]
    #: number of standard-dose induction courses given (IN3).
    induction_courses: Mapped[int | None]
    #: best response after induction (IN3).
    best_response_after_induction: Mapped[PriorResponse | None] = mapped_column(Vocabulary(PriorResponse))
    #: year of first complete remission.
    cr_year: Mapped[int | None]
    #: month of first complete remission.
    cr_month: Mapped[int | None]
    #: day of first complete remission.
    cr_day: Mapped[int | None]
    cr_date: Mapped[PartialDate] = composite("cr_year", "cr_month", "cr_day")
    #: year of the relapse that led to the trial.
    relapse_year: Mapped[int | None]
    #: month of the relapse.
    relapse_month: Mapped[int | None]
    #: day of the relapse.
    relapse_day: Mapped[int | None]
    relapse_date: Mapped[PartialDate] = composite("relapse_year", "relapse_month", "relapse_day")
    #: a haematopoietic stem-cell transplant before the trial.
    prior_hsct: Mapped[bool | None]
    #: year of that transplant.
    prior_hsct_year: Mapped[int | None]
    #: month of that transplant.
    prior_hsct_month: Mapped[int | None]
    #: day of that transplant.
    prior_hsct_day: Mapped[int | None]
    prior_hsct_date: Mapped[PartialDate] = composite("prior_hsct_year", "prior_hsct_month", "prior_hsct_day")

    subject: Mapped[Subject] = relationship(back_populates="disease_history")
    markers: Mapped[list[MolecularMarker]] = relationship(back_populates="history")

    __table_args__ = (
        sa.UniqueConstraint("subject_id"),
        *partial_date_checks("diagnosis"),
        *partial_date_checks("cr"),
        *partial_date_checks("relapse"),
        *partial_date_checks("prior_hsct"),
        check(
            "induction_courses IS NULL OR induction_courses >= 0",
            "induction_courses_range",
            field="induction_courses",
            rule="must not be negative",
        ),
        removal_check(),
    )


class MolecularMarker(SubjectRecord, Base):
    """A cytogenetic or molecular finding at diagnosis or relapse (e.g. FLT3-ITD, NPM1, KMT2A-r)."""

    __tablename__ = "molecular_marker"
    __form__ = FormCode.DISEASE_HISTORY

    #: the disease history it belongs to.
    history_id: Mapped[int] = mapped_column(sa.ForeignKey("disease_history.id"))
    #: gene or rearrangement, HGNC symbol where one exists.
    marker: Mapped[str] = mapped_column(sa.String(60))
    #: detected or not.
    result: Mapped[MarkerResult] = mapped_column(Vocabulary(MarkerResult))
    #: variant allele fraction or allelic ratio, %.
    vaf_pct: Mapped[Decimal | None]

    history: Mapped[DiseaseHistory] = relationship(back_populates="markers")

    __table_args__ = (range_check("vaf_pct", 0, 100), removal_check())


class PriorTherapy(SubjectRecord, Base):
    """One line of therapy before the trial, with its courses and best response."""

    __tablename__ = "prior_therapy"
    __form__ = FormCode.PRIOR_THERAPY

    #: line number, 1 for first-line.
    line_number: Mapped[int]
    #: regimen as written (e.g. "DA 3+10", "FLAG-Ida").
    regimen: Mapped[str] = mapped_column(sa.String(200))
    #: kind of therapy.
    therapy_type: Mapped[TherapyType] = mapped_column(Vocabulary(TherapyType))
    #: a standard-dose induction course (counts toward IN3).
    standard_dose_induction: Mapped[bool] = mapped_column(default=False)
    #: courses given in this line.
    courses: Mapped[int | None]
    #: year the line started.
    start_year: Mapped[int | None]
    #: month the line started.
    start_month: Mapped[int | None]
    #: day the line started.
    start_day: Mapped[int | None]
    start_date: Mapped[PartialDate] = composite("start_year", "start_month", "start_day")
    #: year the line ended.
    end_year: Mapped[int | None]
    #: month the line ended.
    end_month: Mapped[int | None]
    #: day the line ended.
    end_day: Mapped[int | None]
    end_date: Mapped[PartialDate] = composite("end_year", "end_month", "end_day")
    #: best response to this line.
    best_response: Mapped[PriorResponse | None] = mapped_column(Vocabulary(PriorResponse))

    subject: Mapped[Subject] = relationship(back_populates="prior_therapies")

    __table_args__ = (
        sa.UniqueConstraint("subject_id", "line_number"),
        check("line_number >= 1", "line_number_range", field="line_number", rule="must be 1 or more"),
        check("courses IS NULL OR courses >= 1", "courses_range", field="courses", rule="must be 1 or more"),
        *partial_date_checks("start"),
        *partial_date_checks("end"),
        removal_check(),
    )
