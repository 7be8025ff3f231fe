"""Enforced sequencing (Part 11 LK-03; 21 CFR 11.10(f) "permitted sequencing of steps and events").

A child receives study treatment only after an investigator has confirmed the child's eligibility
(CLINICAL_RULES.md "Eligibility": "The investigator signs the result"). Data entry enforces the order of the
steps: ``jk500db.services.records`` (the one write path of the forms) refuses the first entry of a treatment form
for a subject until that subject's screening carries a valid electronic signature of meaning *eligibility
confirmed* (``jk500db.services.signatures``).

Valid means the newest such signature still covers the screening as it stands: a later change to the screening
or to its eligibility criteria invalidates it (ES-06), and the investigator must sign again before more
treatment is entered. The newest signature decides, as on the sign-off page, so both always agree.

What is *not* sequenced, on purpose: everything that can happen before treatment or whatever the state of
the paperwork. Consent, demographics, disease history, screening, virology, labs, vital signs and visits are
the inputs eligibility is judged on; adverse events run from consent, and a child's AE must always be
recordable (as must CRS/ICANS assessments, medications and procedures); withdrawal, end of study, death, survival
and protocol deviations describe what happened, signed or not. Corrections of records already entered are not
blocked either: only first entry is, so a wrong dose can always be put right.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.errors import ValidationError
from jk500db.models import Screening, Signature, Subject
from jk500db.models.base import ClinicalRecord
from jk500db.models.vocabularies import FormCode, SignatureMeaning
from jk500db.services.signatures import SignatureState, signature_status

#: LK-03: the forms that record study treatment, whose first entry needs the subject's eligibility confirmed by
#: a valid investigator's signature. Lymphodepletion (cyclophosphamide, fludarabine; IL-2 doses are filed on
#: the same form, ``DrugAdministration``), IL-2 (should it get a form of its own) and the JK500 infusion.
SEQUENCED_FORMS: frozenset[FormCode] = frozenset({FormCode.LYMPHODEPLETION, FormCode.IL2, FormCode.INFUSION})

#: The rule in the words a data manager reads beside the form.
TREATMENT_WORDS = "lymphodepletion and IL-2 doses and JK500 infusions"
REQUIREMENT = "LK-03"


class EligibilityConfirmation(StrEnum):
    """Where a subject stands on the way to treatment."""

    CONFIRMED = "confirmed"  # the newest eligibility signature is valid
    NOT_SIGNED = "not signed"  # a screening, but no eligibility signature yet
    INVALIDATED = "invalidated"  # signed, then the screening or its criteria changed: re-signing needed
    NO_SCREENING = "no screening"  # nothing to sign yet


def is_sequenced(record: ClinicalRecord) -> bool:
    """True for a record of a form whose first entry needs confirmed eligibility."""
    return type(record).__form__ in SEQUENCED_FORMS


def eligibility_confirmation(session: Session, subject_id: int) -> EligibilityConfirmation:
    """Whether an investigator's signature currently confirms the subject's eligibility."""
    screening_id = session.scalar(
        sa.select(Screening.id).where(Screening.subject_id == subject_id, Screening.removed_at.is_(None))
    )
    if screening_id is None:
        return EligibilityConfirmation.NO_SCREENING
    newest = session.scalar(
        sa.select(Signature)
        .where(
            Signature.table_name == "screening",
            Signature.record_id == screening_id,
            Signature.meaning == SignatureMeaning.ELIGIBILITY_CONFIRMED,
        )
        .order_by(Signature.id.desc())
        .limit(1)
    )
    if newest is None:
        return EligibilityConfirmation.NOT_SIGNED
    if signature_status(session, newest) is SignatureState.VALID:
        return EligibilityConfirmation.CONFIRMED
    return EligibilityConfirmation.INVALIDATED


def _refusal(number: str, standing: EligibilityConfirmation) -> str:
    if standing is EligibilityConfirmation.NO_SCREENING:
        return (
            f"{number} has no screening record; enter the screening and have an investigator sign eligibility "
            f"before {TREATMENT_WORDS} can be entered ({REQUIREMENT})"
        )
    if standing is EligibilityConfirmation.INVALIDATED:
        return (
            f"{number}'s eligibility signature was invalidated by a later change to the screening data; an "
            f"investigator must re-sign eligibility before more {TREATMENT_WORDS} can be entered ({REQUIREMENT})"
        )
    return (
        f"{number}'s eligibility has not been confirmed by an investigator's signature; {TREATMENT_WORDS} can be "
        f"entered once it is signed ({REQUIREMENT})"
    )


def _subject_number(session: Session, record: ClinicalRecord, subject_id: int | None) -> str:
    if subject_id is None:  # a subject not yet flushed, given by object
        return str(record.subject.subject_number)  # type: ignore[attr-defined]
    number = session.scalar(sa.select(Subject.subject_number).where(Subject.id == subject_id))
    return number or f"subject {subject_id}"


def check_treatment_sequence(session: Session, record: ClinicalRecord, *, subject_id: int | None = None) -> None:
    """Refuse a treatment record for a subject whose eligibility is not confirmed (LK-03); other forms pass.

    ``subject_id`` names the subject to check when it is not the record's own (a correction moving the record).
    Raises ``ValidationError`` on the field ``subject``; nothing has been written when it does.
    """
    if not is_sequenced(record):
        return
    if subject_id is None:
        subject_id = getattr(record, "subject_id", None)
    if subject_id is None:
        subject: Subject | None = getattr(record, "subject", None)
        if subject is None:
            raise ValidationError("subject", "is required")
        subject_id = subject.id  # None while the subject itself is new: nothing of it can be signed yet
    # No autoflush: a record given with its subject object already sits in the subject's collection, and must not
    # be flushed half-checked. The services flush every change they make, so the screening and signatures read
    # here are current.
    with session.no_autoflush:
        standing = (
            EligibilityConfirmation.NO_SCREENING
            if subject_id is None
            else eligibility_confirmation(session, subject_id)
        )
        if standing is not EligibilityConfirmation.CONFIRMED:
            raise ValidationError("subject", _refusal(_subject_number(session, record, subject_id), standing))
