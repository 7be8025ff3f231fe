"""A record's audit history: every event of one row, oldest first (casebook, stale-edit messages, tests)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.models import AuditEvent


def record_history(session: Session, table_name: str, row_key: object) -> list[AuditEvent]:
    """The audit events of row ``row_key`` of ``table_name``, in chain order (uses ix_audit_event_record)."""
    return list(
        session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.table_name == table_name, AuditEvent.row_key == str(row_key))
            .order_by(AuditEvent.id)
        )
    )
