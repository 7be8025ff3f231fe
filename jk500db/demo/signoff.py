"""The demo investigator confirms each treated synthetic child's eligibility before the first dose (LK-03).

Demo data obey the rule that live data entry enforces (``jk500db.services.sequencing``): a child is treated only
after an investigator has signed the eligibility. The cohort file and the generator hold what site staff collect,
so the signature is made here, once the data are in and derived: the signed content includes the eligibility
criteria rows and the derived verdict (``jk500db.services.signatures.signed_content``), which exist only after the
derivation pass. The signature is dated before the child's first treatment, as it would have been signed.

Only synthetic subjects are signed, only by the demo investigator account, only when every criterion is met
(the sign-off page refuses "meets all eligibility criteria" otherwise), and only where no eligibility signature
exists yet, so running it again signs nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.derivations import derive_pending
from jk500db.models import DrugAdministration, EligibilityCriterion, Infusion, Screening, Signature, Subject, User
from jk500db.models.vocabularies import CriterionStatus, RoleCode, SignatureMeaning
from jk500db.services.accounts import demo_email
from jk500db.services.signatures import content_sha256

#: When, on the day before the first dose, the demo investigator signs (UTC; the afternoon ward round).
SIGNING_HOUR = 16


def demo_investigator(session: Session) -> User | None:
    """The demo investigator account (``jk500db init --demo``), or None in a database without demo accounts."""
    return session.scalar(
        sa.select(User).where(
            User.email == demo_email(RoleCode.INVESTIGATOR),
            User.demo.is_(True),
            User.role_code == RoleCode.INVESTIGATOR,
        )
    )


def signing_time(screening_date: dt.date, first_dose: dt.datetime) -> dt.datetime:
    """The afternoon before the first dose; when that falls before the screening day, an hour before the dose."""
    day_before = first_dose.date() - dt.timedelta(days=1)
    signed = dt.datetime(day_before.year, day_before.month, day_before.day, SIGNING_HOUR, tzinfo=dt.UTC)
    screened = dt.datetime(screening_date.year, screening_date.month, screening_date.day, tzinfo=dt.UTC)
    if signed < screened:
        signed = max(screened, first_dose - dt.timedelta(hours=1))
    return signed


def _first_treatment() -> sa.Subquery:
    """Per subject, when the first lymphodepletion dose, IL-2 dose or JK500 infusion started."""
    doses = sa.select(DrugAdministration.subject_id, DrugAdministration.started_at).where(
        DrugAdministration.removed_at.is_(None), DrugAdministration.started_at.is_not(None)
    )
    infusions = sa.select(Infusion.subject_id, Infusion.started_at).where(Infusion.removed_at.is_(None))
    given = sa.union_all(doses, infusions).subquery()
    return (
        sa.select(given.c.subject_id, sa.func.min(given.c.started_at).label("first_dose"))
        .group_by(given.c.subject_id)
        .subquery()
    )


def _unsigned_treated(
    session: Session, site_ids: Collection[int] | None
) -> list[tuple[int, int, int, dt.date, dt.datetime]]:
    """(subject id, screening id, screening version, screening date, first dose) of each treated synthetic child
    whose eligibility is met and not signed yet."""
    first = _first_treatment()
    signed = sa.select(Signature.id).where(
        Signature.table_name == "screening",
        Signature.record_id == Screening.id,
        Signature.meaning == SignatureMeaning.ELIGIBILITY_CONFIRMED,
    )
    unmet = sa.select(EligibilityCriterion.id).where(
        EligibilityCriterion.screening_id == Screening.id,
        EligibilityCriterion.removed_at.is_(None),
        sa.func.coalesce(EligibilityCriterion.investigator_status, EligibilityCriterion.status)
        != CriterionStatus.PASS.value,
    )
    query = (
        sa.select(Subject.id, Screening.id, Screening.version, Screening.screening_date, first.c.first_dose)
        .join(Screening, Screening.subject_id == Subject.id)
        .join(first, first.c.subject_id == Subject.id)
        .where(
            Subject.synthetic.is_(True),
            Screening.removed_at.is_(None),
            Screening.eligible_derived.is_(True),
            ~sa.exists(signed),
            ~sa.exists(unmet),
        )
        .order_by(Subject.id)
    )
    if site_ids is not None:
        query = query.where(Subject.site_id.in_(sorted(site_ids)))
    return list(session.execute(query).tuples())


def sign_eligibility_before_treatment(
    session: Session, signer: User, *, site_ids: Collection[int] | None = None
) -> int:
    """Sign the eligibility of every treated synthetic child (of ``site_ids``, or all) not signed yet; flush.

    Derives first, so the signed content is what the sign-off page will hash. Returns the number signed.
    """
    if not signer.demo or signer.role_code is not RoleCode.INVESTIGATOR:
        raise ValueError("demo eligibility is signed only by the demo investigator account")
    derive_pending(session)
    signatures = [
        Signature(
            user_id=signer.id,
            printed_name=signer.full_name,
            signed_at=signing_time(screening_date, first_dose),
            meaning=SignatureMeaning.ELIGIBILITY_CONFIRMED,
            subject_id=subject_id,
            table_name="screening",
            record_id=screening_id,
            record_version=version,
            content_sha256=content_sha256(session, "screening", screening_id),
        )
        for subject_id, screening_id, version, screening_date, first_dose in _unsigned_treated(session, site_ids)
    ]
    session.add_all(signatures)
    session.flush()
    return len(signatures)


def sign_demo_eligibility(session: Session) -> int:
    """``jk500db init --demo``: the demo investigator signs the cohort's eligibility; the number signed."""
    signer = demo_investigator(session)
    if signer is None:
        raise ValueError("create the demo accounts before signing the demo cohort's eligibility")
    return sign_eligibility_before_treatment(session, signer)
