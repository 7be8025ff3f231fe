"""What the current transaction changed, read from the audit trail.

The audit triggers record every change whatever its path (ORM, Core, bulk, raw SQL through the session), so
the audit rows of this transaction are the one complete list of records whose derived values and edit checks
are due. Changes to derived columns alone are left out: they are the derivations' own output.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.guards import clinical_forms
from jk500db.models import AuditEvent, Base
from jk500db.models.base import derived_columns


@dataclass(frozen=True)
class ChangedRecord:
    table_name: str
    record_id: int
    subject_id: int


def _derived_fields() -> list[str]:
    return sorted(f"{t.name}.{c}" for t in Base.metadata.tables.values() for c in derived_columns(t))


def changed_records(session: Session, transaction: str, after: int) -> list[ChangedRecord]:
    """Clinical records changed by ``transaction`` in audit rows after id ``after``."""
    event = AuditEvent.__table__.c
    qualified = event.table_name + sa.literal(".") + sa.func.coalesce(event.field_name, "")
    rows = session.execute(
        sa.select(event.table_name, event.row_key, event.subject_id)
        .where(
            event.transaction_id == transaction,
            event.id > after,
            event.table_name.in_(sorted(clinical_forms())),
            event.subject_id.is_not(None),
            qualified.not_in(_derived_fields()),
        )
        .group_by(event.table_name, event.row_key, event.subject_id)
    ).all()
    return [ChangedRecord(r[0], int(r[1]), r[2]) for r in rows]


def last_event_id(session: Session, transaction: str) -> int:
    value = session.scalar(sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.transaction_id == transaction))
    return int(value or 0)
