"""Entering and editing a clinical record: optimistic concurrency, a reason for change, soft removal; derived
values and edit checks follow each save (``jk500db.derivations``).

Two people may open the same form. Each save carries the version the person saw; a save against an older
version is refused with the name of whoever changed the record since, and when, so nothing is silently
overwritten (Part 11 §11.10(e) "shall not obscure"). The check is made twice: here, against the version
read, and by the ORM's version counter in the UPDATE itself, which catches a change committed in between.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, class_mapper
from sqlalchemy.orm.exc import StaleDataError

from jk500db.audit.context import set_reason
from jk500db.derivations import derive_pending
from jk500db.errors import Jk500Error, ValidationError
from jk500db.models import AuditEvent, ClinicalRecord
from jk500db.services.sequencing import check_treatment_sequence


class StaleEditError(Jk500Error):
    """The record changed since it was read; the message says by whom and when."""


def _table_name(record: ClinicalRecord) -> str:
    return str(class_mapper(type(record)).local_table.description)


def last_change(session: Session, record: ClinicalRecord) -> tuple[str, str] | None:
    """(actor name, UTC time) of the newest audit event of ``record``."""
    row = session.execute(
        sa.select(AuditEvent.actor_name, AuditEvent.occurred_at)
        .where(AuditEvent.table_name == _table_name(record), AuditEvent.row_key == str(record.id))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    return None if row is None else (row.actor_name, row.occurred_at)


def _stale(session: Session, record: ClinicalRecord) -> StaleEditError:
    change = last_change(session, record)
    who = f" by {change[0]} at {change[1]}" if change else ""
    return StaleEditError(
        f"this record was changed{who} after you opened it; nothing was saved. Reload it to see the change, "
        "then make yours again."
    )


def update_record(
    session: Session, record: ClinicalRecord, changes: Mapping[str, Any], *, seen_version: int, reason: str
) -> None:
    """Apply ``changes`` to ``record`` if it is still at ``seen_version``; flush, never commit."""
    if not reason or not reason.strip():
        raise ValidationError("reason", "a reason for change is required after first entry")
    session.refresh(record)  # the current version, not the one this session may have cached
    if record.version != seen_version:
        raise _stale(session, record)
    unknown = sorted(set(changes) - set(class_mapper(type(record)).columns.keys()))
    if unknown:
        raise ValidationError(unknown[0], "is not a field of this form")
    moved_to = changes.get("subject_id")
    if moved_to is not None and moved_to != getattr(record, "subject_id", None):
        # Moving a treatment record to another subject is that subject's first entry of it (LK-03).
        check_treatment_sequence(session, record, subject_id=moved_to)
    set_reason(session, reason)
    for name, value in changes.items():
        setattr(record, name, value)
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise _stale(session, record) from None
    derive_pending(session)


def add_record(session: Session, record: ClinicalRecord) -> None:
    """First entry of a record: flush it and derive what depends on it; never commit.

    A treatment form for a subject whose eligibility no valid investigator's signature confirms is refused before
    anything is written (LK-03, ``jk500db.services.sequencing``). A hard edit check refuses with
    ``ValidationError``; the caller rolls back, so nothing is half-written.
    """
    check_treatment_sequence(session, record)
    session.add(record)
    session.flush()
    derive_pending(session)


def remove_record(
    session: Session, record: ClinicalRecord, *, seen_version: int, reason: str, now: dt.datetime
) -> None:
    """Mark ``record`` removed (clinical records are never deleted); the audit keeps every value."""
    update_record(
        session, record, {"removed_at": now, "removed_reason": reason}, seen_version=seen_version, reason=reason
    )
