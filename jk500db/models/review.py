"""Monitoring and sign-off records: source-data verification marks, electronic signatures and locks."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jk500db.models.base import Base
from jk500db.models.types import Vocabulary, check, requires_check
from jk500db.models.vocabularies import FormCode, LockLevel, LockMode, SignatureMeaning


class SdvMark(Base):
    """A monitor verified a form against source; a later change to the form's data clears the mark."""

    __tablename__ = "sdv_mark"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: subject.
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subject.id"), index=True)
    #: visit; None for subject-level forms (AE log, medications).
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"))
    #: the form verified.
    form_code: Mapped[FormCode] = mapped_column(Vocabulary(FormCode))
    #: the monitor.
    verified_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when verified (UTC).
    verified_at: Mapped[dt.datetime]
    #: when a data change cleared the mark (UTC).
    cleared_at: Mapped[dt.datetime | None]
    #: what change cleared it.
    cleared_reason: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        requires_check("cleared_reason", "cleared_at IS NOT NULL", "a cleared mark says what cleared it"),
    )


class Signature(Base):
    """An electronic signature (21 CFR 11.50, 11.70): who, when, what it means, and the exact content signed."""

    __tablename__ = "signature"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the signer.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    #: signer's printed name at the time of signing.
    printed_name: Mapped[str] = mapped_column(sa.String(120))
    #: when signed (UTC).
    signed_at: Mapped[dt.datetime]
    #: what the signature means.
    meaning: Mapped[SignatureMeaning] = mapped_column(Vocabulary(SignatureMeaning))
    #: subject whose record was signed.
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subject.id"), index=True)
    #: table of the signed record.
    table_name: Mapped[str] = mapped_column(sa.String(60))
    #: key of the signed record.
    record_id: Mapped[int]
    #: version of the record signed.
    record_version: Mapped[int]
    #: SHA-256 of the canonical signed content.
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    #: when a change to the content invalidated the signature (UTC).
    invalidated_at: Mapped[dt.datetime | None]
    #: what change invalidated it.
    invalidated_reason: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        check(
            "length(content_sha256) = 64",
            "content_sha256_format",
            field="content_sha256",
            rule="must be a SHA-256 hex digest",
        ),
        sa.Index("ix_signature_record", "table_name", "record_id"),
    )


class RecordLock(Base):
    """A freeze (queries still possible) or lock (nothing changes) on a form, visit, subject or the study."""

    __tablename__ = "record_lock"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: form, visit, subject or study.
    level: Mapped[LockLevel] = mapped_column(Vocabulary(LockLevel))
    #: freeze or lock.
    mode: Mapped[LockMode] = mapped_column(Vocabulary(LockMode))
    #: subject (form, visit and subject levels).
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subject.id"), index=True)
    #: visit (visit level; form level for visit forms).
    visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"))
    #: form (form level).
    form_code: Mapped[FormCode | None] = mapped_column(Vocabulary(FormCode))
    #: who locked.
    locked_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when (UTC).
    locked_at: Mapped[dt.datetime]
    #: why.
    reason: Mapped[str | None] = mapped_column(sa.Text)
    #: who unlocked.
    unlocked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when unlocked (UTC).
    unlocked_at: Mapped[dt.datetime | None]
    #: why it was unlocked (required).
    unlock_reason: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (
        check(
            "(level = 'study' AND subject_id IS NULL AND visit_id IS NULL AND form_code IS NULL)"
            " OR (level = 'subject' AND subject_id IS NOT NULL AND visit_id IS NULL AND form_code IS NULL)"
            " OR (level = 'visit' AND subject_id IS NOT NULL AND visit_id IS NOT NULL AND form_code IS NULL)"
            " OR (level = 'form' AND subject_id IS NOT NULL AND form_code IS NOT NULL)",
            "scope",
            field="level",
            rule="a lock names exactly the scope of its level (study; subject; subject and visit; form)",
        ),
        requires_check("unlock_reason", "unlocked_at IS NOT NULL", "unlocking needs a reason"),
    )
