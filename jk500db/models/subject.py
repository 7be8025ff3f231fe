"""The trial subject and the consent and assent they (and their guardian) gave."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, ClinicalRecord, SubjectRecord, removal_check
from jk500db.models.types import Vocabulary, check, order_check
from jk500db.models.vocabularies import ConsentKind, ConsentSigner, FormCode, Sex, SubjectStatus

if TYPE_CHECKING:
    from jk500db.models.adverse_event import AdverseEvent
    from jk500db.models.disease import DiseaseHistory, PriorTherapy
    from jk500db.models.disposition import Death, EndOfStudy
    from jk500db.models.infusion import Infusion
    from jk500db.models.screening import Screening
    from jk500db.models.study import Site
    from jk500db.models.treatment import DrugAdministration
    from jk500db.models.visit import Visit


class Subject(ClinicalRecord, Base):
    __tablename__ = "subject"
    __form__ = FormCode.DEMOGRAPHICS

    #: site that enrolled the subject.
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("site.id"), index=True)
    #: study subject number "SS-NNN" (site, then sequence), e.g. "01-003"; the SDTM SUBJID.
    subject_number: Mapped[str] = mapped_column(sa.String(6), unique=True)
    #: the site's screening log number.
    screening_number: Mapped[str] = mapped_column(sa.String(20))
    #: sex at birth (CDISC SEX).
    sex: Mapped[Sex] = mapped_column(Vocabulary(Sex))
    #: date of birth: stored for age derivations, never exported to statisticians by default.
    birth_date: Mapped[dt.date]
    #: where the subject is in the trial.
    status: Mapped[SubjectStatus] = mapped_column(Vocabulary(SubjectStatus), default=SubjectStatus.SCREENING)
    #: date of enrolment (eligibility confirmed).
    enrolled_on: Mapped[dt.date | None]
    #: true for generated demonstration data: never a real child.
    synthetic: Mapped[bool] = mapped_column(default=False)

    site: Mapped[Site] = relationship()
    consents: Mapped[list[Consent]] = relationship(back_populates="subject", order_by="Consent.signed_on")
    disease_history: Mapped[DiseaseHistory | None] = relationship(back_populates="subject")
    prior_therapies: Mapped[list[PriorTherapy]] = relationship(back_populates="subject")
    screening: Mapped[Screening | None] = relationship(back_populates="subject")
    visits: Mapped[list[Visit]] = relationship(back_populates="subject")
    administrations: Mapped[list[DrugAdministration]] = relationship(back_populates="subject")
    infusions: Mapped[list[Infusion]] = relationship(back_populates="subject", order_by="Infusion.infusion_number")
    adverse_events: Mapped[list[AdverseEvent]] = relationship(
        back_populates="subject", order_by="AdverseEvent.ae_number"
    )
    end_of_study: Mapped[EndOfStudy | None] = relationship(back_populates="subject")
    death: Mapped[Death | None] = relationship(back_populates="subject")

    __table_args__ = (
        sa.UniqueConstraint("site_id", "screening_number"),
        check(
            "length(subject_number) = 6 AND substr(subject_number, 3, 1) = '-'",
            "subject_number_format",
            field="subject_number",
            rule="must be site and sequence as SS-NNN, e.g. 01-003",
        ),
        removal_check(),
    )

    def __repr__(self) -> str:
        return f"<Subject {self.subject_number}>"


class Consent(SubjectRecord, Base):
    """A signed consent (by a parent or guardian) or the child's assent, with the document version."""

    __tablename__ = "consent"
    __form__ = FormCode.CONSENT

    #: guardian consent, the child's assent, or re-consent to a new version.
    kind: Mapped[ConsentKind] = mapped_column(Vocabulary(ConsentKind))
    #: version of the information sheet and consent form signed.
    document_version: Mapped[str] = mapped_column(sa.String(20))
    #: date signed.
    signed_on: Mapped[dt.date]
    #: who signed: parent or legal guardian for consent, the subject for assent.
    signer: Mapped[ConsentSigner] = mapped_column(Vocabulary(ConsentSigner))
    #: signer's name as written on the form.
    signer_name: Mapped[str | None] = mapped_column(sa.String(120))
    #: date consent was withdrawn, if it was.
    withdrawn_on: Mapped[dt.date | None]

    subject: Mapped[Subject] = relationship(back_populates="consents")

    __table_args__ = (
        order_check("withdrawn_on", "signed_on"),
        check(
            "kind <> 'assent' OR signer = 'subject'",
            "assent_signer",
            field="signer",
            rule="assent is signed by the subject",
        ),
        check(
            "kind = 'assent' OR signer <> 'subject'",
            "consent_signer",
            field="signer",
            rule="consent for a child is signed by a parent or legal guardian",
        ),
        removal_check(),
    )
