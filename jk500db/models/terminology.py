"""CTCAE v5.0 terms (NCI, 2017-11-27) with their MedDRA codes and grade texts: AE entry picks from these."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jk500db.models.base import Base


class CtcaeTerm(Base):
    __tablename__ = "ctcae_term"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: CTCAE version the term belongs to.
    ctcae_version: Mapped[str] = mapped_column(sa.String(10), default="5.0")
    #: MedDRA lowest-level / preferred term code as NCI publishes it.
    meddra_code: Mapped[str] = mapped_column(sa.String(10))
    #: MedDRA system organ class.
    soc: Mapped[str] = mapped_column(sa.String(120))
    #: CTCAE term (MedDRA preferred term), e.g. "Neutrophil count decreased".
    term: Mapped[str] = mapped_column(sa.String(200))
    #: grade 1 text; None where the grade is not defined for the term.
    grade_1: Mapped[str | None] = mapped_column(sa.Text)
    #: grade 2 text.
    grade_2: Mapped[str | None] = mapped_column(sa.Text)
    #: grade 3 text.
    grade_3: Mapped[str | None] = mapped_column(sa.Text)
    #: grade 4 text.
    grade_4: Mapped[str | None] = mapped_column(sa.Text)
    #: grade 5 text.
    grade_5: Mapped[str | None] = mapped_column(sa.Text)
    #: NCI's definition of the term.
    definition: Mapped[str | None] = mapped_column(sa.Text)
    #: NCI's navigational note.
    navigational_note: Mapped[str | None] = mapped_column(sa.Text)
    #: true for "Other, specify" terms, which need a verbatim description.
    other_specify: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        sa.UniqueConstraint("ctcae_version", "meddra_code"),
        sa.UniqueConstraint("ctcae_version", "term"),
    )

    def grade_text(self, grade: int) -> str | None:
        """The printed criterion for ``grade`` (1-5), or None when the grade is not defined."""
        return {1: self.grade_1, 2: self.grade_2, 3: self.grade_3, 4: self.grade_4, 5: self.grade_5}[grade]

    def __repr__(self) -> str:
        return f"<CtcaeTerm {self.term}>"
