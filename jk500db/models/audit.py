"""The audit trail, the security and export logs, and the exports asked for on the web page.

``audit_event`` rows are written by database triggers (one per changed field), never by the application,
and chained by SHA-256 so that an edited, deleted or inserted row is detectable. Timestamps are ISO 8601
UTC text from the database server's clock, so the hash input is the same on every engine.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jk500db.models.base import Base
from jk500db.models.types import Vocabulary, check, requires_check
from jk500db.models.vocabularies import AuditAction, ChangeSource, ExportJobState, SecurityEventKind


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    #: server UTC time of the change, ISO 8601 with "Z".
    occurred_at: Mapped[str] = mapped_column(sa.String(32))
    #: database transaction the change was part of.
    transaction_id: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    #: user who made the change.
    actor_id: Mapped[int] = mapped_column()
    #: the user's printed name at the time.
    actor_name: Mapped[str] = mapped_column(sa.String(120))
    #: where the change came from.
    source: Mapped[ChangeSource] = mapped_column(Vocabulary(ChangeSource))
    #: table changed.
    table_name: Mapped[str] = mapped_column(sa.String(60))
    #: key of the row changed.
    row_key: Mapped[str] = mapped_column(sa.String(60))
    #: subject the row belongs to, when it belongs to one (indexed with id: ix_audit_event_subject).
    subject_id: Mapped[int | None] = mapped_column()
    #: field changed; None for a whole-row event.
    field_name: Mapped[str | None] = mapped_column(sa.String(60))
    #: insert, update or delete.
    action: Mapped[AuditAction] = mapped_column(Vocabulary(AuditAction))
    #: value before, as text.
    old_value: Mapped[str | None] = mapped_column(sa.Text)
    #: value after, as text.
    new_value: Mapped[str | None] = mapped_column(sa.Text)
    #: reason for change (required after first entry).
    reason: Mapped[str | None] = mapped_column(sa.Text)
    #: hash of the previous event in the chain.
    prev_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: SHA-256 of this event's content and prev_hash.
    row_hash: Mapped[str | None] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.Index("ix_audit_event_record", "table_name", "row_key"),
        # One subject's events in id (chain) order: the audit trail filtered by subject reads its newest page
        # from here, and the casebook and `audit export --subject` their ranges. With subject_id alone,
        # PostgreSQL walked the primary key backwards through 9.9 M events (480 ms at 2,000 subjects). It also
        # serves every lookup by subject_id alone, so it replaces the former single-column index.
        sa.Index("ix_audit_event_subject", "subject_id", "id"),
    )


class SecurityEvent(Base):
    """Logins, logouts, lockouts, password and account changes, re-authentication for an export and export
    downloads (Part 11 §11.300(d), Annex 11 §12.3)."""

    __tablename__ = "security_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: when (UTC).
    occurred_at: Mapped[dt.datetime]
    #: what happened.
    kind: Mapped[SecurityEventKind] = mapped_column(Vocabulary(SecurityEventKind))
    #: the account concerned, when known.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: who acted (an admin creating an account, for example).
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: remote address.
    remote_addr: Mapped[str | None] = mapped_column(sa.String(45))
    #: details (never a password).
    detail: Mapped[str | None] = mapped_column(sa.Text)


class ExportRecord(Base):
    """A data export: who, when, what, and the checksum of its manifest (ICH E6(R3) 4.2.2)."""

    __tablename__ = "export_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: when (UTC).
    exported_at: Mapped[dt.datetime]
    #: who exported.
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    #: formats exported (tidy, sdtm, adam, odm, tables, plots, audit).
    formats: Mapped[str] = mapped_column(sa.String(120))
    #: identified (admins only) or de-identified.
    identified: Mapped[bool] = mapped_column(default=False)
    #: the as-of timestamp the data were rebuilt at, if any (UTC).
    as_of: Mapped[dt.datetime | None]
    #: audit chain head hash at export.
    audit_head_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: SHA-256 of the export's manifest.
    manifest_sha256: Mapped[str] = mapped_column(sa.String(64))


class ExportJob(Base):
    """An export asked for on the web page and run in the background (``jk500db.export.jobs``).

    Operational state, not a log: the row changes as the job runs (queued, running, done or failed) and its ZIP
    is deleted after the retention period. What was taken out is recorded, once and for good, by the
    ``export_record`` the finished job points to and by the security log's download events.
    """

    __tablename__ = "export_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: who asked (and who alone, with administrators, may download the result).
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    #: when the export was asked for (UTC); the manifest's requested_at.
    requested_at: Mapped[dt.datetime]
    #: formats asked for, comma-separated in the runner's order (tidy, sdtm, adam, odm, tables, plots, audit).
    formats: Mapped[str] = mapped_column(sa.String(120))
    #: identified (admins only) or de-identified.
    identified: Mapped[bool] = mapped_column(default=False)
    #: the moment to rebuild the data at, if any (UTC).
    as_of: Mapped[dt.datetime | None]
    #: queued, running, done or failed.
    state: Mapped[ExportJobState] = mapped_column(Vocabulary(ExportJobState))
    #: the format being written now, while running (progress).
    current_format: Mapped[str | None] = mapped_column(sa.String(20))
    #: when the server began the export (UTC).
    started_at: Mapped[dt.datetime | None]
    #: last time the server holding the job showed it was alive (UTC); a job whose heartbeat stops was abandoned.
    heartbeat_at: Mapped[dt.datetime]
    #: when the job ended, done or failed (UTC).
    finished_at: Mapped[dt.datetime | None]
    #: why the export failed, in words for the user (the details are in the server's log, never here).
    failure: Mapped[str | None] = mapped_column(sa.Text)
    #: the export's record once done (who took which data out, with the manifest's SHA-256).
    export_record_id: Mapped[int | None] = mapped_column(sa.ForeignKey("export_record.id"))
    #: the ZIP's name as the browser saves it.
    file_name: Mapped[str | None] = mapped_column(sa.String(120))
    #: the ZIP's size in bytes.
    file_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: the ZIP's SHA-256.
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: when the ZIP was deleted at the end of the retention period (UTC); the row stays, the page says "expired".
    file_deleted_at: Mapped[dt.datetime | None]

    __table_args__ = (
        check(
            "state <> 'done' OR (export_record_id IS NOT NULL AND file_name IS NOT NULL AND file_bytes IS NOT NULL"
            " AND file_sha256 IS NOT NULL AND finished_at IS NOT NULL)",
            "done_has_result",
            field="state",
            rule="a finished export names its record and its file",
        ),
        requires_check("failure", "state = 'failed'", "a failed export says why"),
    )
