"""Screening: the facts eligibility is judged on, virology, and one row per criterion (IN1-IN4, EX1-EX8).

Screening labs are ``LabResult`` rows at the screening visit, each with its lab's own reference range.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base, SubjectRecord, derived, removal_check
from jk500db.models.types import Vocabulary, check, order_check, requires_check, value_or_reason_check
from jk500db.models.vocabularies import (
    CnsStatus,
    CongenitalSyndrome,
    CriterionKind,
    CriterionStatus,
    FormCode,
    MissingReason,
    SerologyResult,
    VirologyTest,
)

if TYPE_CHECKING:
    from jk500db.models.subject import Subject
    from jk500db.models.users import User


class Screening(SubjectRecord, Base):
    """One per subject: what the eligibility criteria are evaluated from."""

    __tablename__ = "screening"
    __form__ = FormCode.SCREENING

    #: date of the screening visit.
    screening_date: Mapped[dt.date]
    #: planned first study-treatment date; "within 4 weeks / 28 days before" windows count back from it.
    reference_date: Mapped[dt.date | None]
    #: CNS status by CSF examination.
    cns_status: Mapped[CnsStatus | None] = mapped_column(Vocabulary(CnsStatus))
    #: known CNS leukaemia (EX1).
    cns_leukemia: Mapped[bool | None]
    #: congenital syndrome (EX2); "none" when examined and absent.
    congenital_syndrome: Mapped[CongenitalSyndrome | None] = mapped_column(Vocabulary(CongenitalSyndrome))
    #: an active systemic infection (EX4).
    active_systemic_infection: Mapped[bool | None]
    #: details of the infection.
    infection_details: Mapped[str | None] = mapped_column(sa.Text)
    #: another trial drug was received (EX4).
    prior_trial_drug: Mapped[bool | None]
    #: last dose of that trial drug.
    prior_trial_drug_last_date: Mapped[dt.date | None]
    #: clinically significant disease within 28 days before the study product (EX5).
    significant_disease_within_28_days: Mapped[bool | None]
    #: major surgery in the past (EX5).
    major_surgery: Mapped[bool | None]
    #: date of that surgery.
    major_surgery_date: Mapped[dt.date | None]
    #: major surgery expected during the trial (EX5).
    major_surgery_expected: Mapped[bool | None]
    #: a live attenuated vaccine was given (EX7).
    live_vaccine: Mapped[bool | None]
    #: date of that vaccine.
    live_vaccine_date: Mapped[dt.date | None]
    #: a live vaccine is planned within 6 months after administration (EX7).
    live_vaccine_planned_within_6_months: Mapped[bool | None]
    #: the investigator judges another condition a risk (EX8).
    investigator_excludes: Mapped[bool | None]
    #: the investigator's reason for EX8.
    investigator_exclusion_reason: Mapped[str | None] = mapped_column(sa.Text)

    #: derived: True eligible, False not, None not evaluable (a criterion is missing).
    eligible_derived: Mapped[bool | None] = derived()
    #: rule id and version that produced the derived result.
    eligibility_rule: Mapped[str | None] = derived(sa.String(60))
    #: settings used, as JSON text.
    eligibility_settings: Mapped[str | None] = derived(sa.Text)
    #: the investigator's confirmation of eligibility (signed; the signature is its own record).
    investigator_confirmed: Mapped[bool | None]
    #: who confirmed.
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when they confirmed (UTC).
    confirmed_at: Mapped[dt.datetime | None]

    subject: Mapped[Subject] = relationship(back_populates="screening")
    confirmed_by: Mapped[User | None] = relationship()
    virology: Mapped[list[VirologyResult]] = relationship(back_populates="screening")
    criteria: Mapped[list[EligibilityCriterion]] = relationship(
        back_populates="screening", order_by="EligibilityCriterion.code"
    )

    __table_args__ = (
        sa.UniqueConstraint("subject_id"),
        order_check("reference_date", "screening_date"),
        requires_check("prior_trial_drug_last_date", "prior_trial_drug", "give the date of the last trial-drug dose"),
        requires_check("major_surgery_date", "major_surgery", "give the date of the major surgery"),
        requires_check("live_vaccine_date", "live_vaccine", "give the date of the live vaccine"),
        requires_check(
            "investigator_exclusion_reason", "investigator_excludes", "say why the investigator excludes the subject"
        ),
        removal_check(),
    )


class VirologyResult(SubjectRecord, Base):
    """A screening serology test (EX3)."""

    __tablename__ = "virology_result"
    __form__ = FormCode.VIROLOGY

    #: the screening it belongs to.
    screening_id: Mapped[int] = mapped_column(sa.ForeignKey("screening.id"))
    #: which test.
    test: Mapped[VirologyTest] = mapped_column(Vocabulary(VirologyTest))
    #: the result, or None with a missing-data reason.
    result: Mapped[SerologyResult | None] = mapped_column(Vocabulary(SerologyResult))
    #: why there is no result.
    result_missing_reason: Mapped[MissingReason | None] = mapped_column(Vocabulary(MissingReason))
    #: date the sample was taken.
    sampled_on: Mapped[dt.date | None]

    screening: Mapped[Screening] = relationship(back_populates="virology")

    __table_args__ = (
        sa.UniqueConstraint("screening_id", "test"),
        value_or_reason_check("result", "result_missing_reason"),
        removal_check(),
    )


class EligibilityCriterion(SubjectRecord, Base):
    """One criterion's derived status with its evidence, and the investigator's view of it."""

    __tablename__ = "eligibility_criterion"
    __form__ = FormCode.ELIGIBILITY

    #: the screening it belongs to.
    screening_id: Mapped[int] = mapped_column(sa.ForeignKey("screening.id"))
    #: criterion code, IN1-IN4 or EX1-EX8 (SDTM IETESTCD).
    code: Mapped[str] = mapped_column(sa.String(4))
    #: inclusion or exclusion.
    kind: Mapped[CriterionKind] = mapped_column(Vocabulary(CriterionKind))
    #: derived: pass (met / not excluded), fail, or missing (not evaluable).
    status: Mapped[CriterionStatus] = derived(Vocabulary(CriterionStatus))
    #: derived: the values and the rule that decided the status.
    evidence: Mapped[str] = derived(sa.Text)
    #: rule id and version that produced the status.
    rule: Mapped[str] = derived(sa.String(60))
    #: the investigator's status where it differs from the derived one.
    investigator_status: Mapped[CriterionStatus | None] = mapped_column(Vocabulary(CriterionStatus))
    #: why the investigator differs.
    investigator_reason: Mapped[str | None] = mapped_column(sa.Text)

    screening: Mapped[Screening] = relationship(back_populates="criteria")

    __table_args__ = (
        sa.UniqueConstraint("screening_id", "code"),
        check(
            "code IN ('IN1','IN2','IN3','IN4','EX1','EX2','EX3','EX4','EX5','EX6','EX7','EX8')",
            "code_vocabulary",
            field="code",
            rule="must be one of IN1-IN4, EX1-EX8",
        ),
        requires_check(
            "investigator_reason",
            "investigator_status IS NOT NULL",
            "a status differing from the derived one needs a reason",
        ),
        removal_check(),
    )
