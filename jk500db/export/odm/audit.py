"""Reading the audit trail for the ODM file, never past the snapshot's audit position (so ``--as-of`` holds).

``audit_event`` is not an audited table, so it is read through the session, always bounded by
``id <= audit_position``. A subject's events come from the ``(subject_id, id)`` index, one subject at a time,
so memory follows the largest subject rather than the whole trail.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.export.odm.history import AuditEntry, RecordKey
from jk500db.models import AuditEvent
from jk500db.models.vocabularies import AuditAction

_TABLE = AuditEvent.__table__
#: The columns of an AuditEntry, in its field order, read as plain text: the trail is read event by event, so
#: the vocabulary columns skip the conversion to enum members.
_COLUMNS = tuple(
    sa.type_coerce(_TABLE.c[name], sa.String()).label(name) if name in ("source", "action") else _TABLE.c[name]
    for name in AuditEntry._fields
)


class AuditReader:
    """The audit events up to ``position`` of the tables in ``tables``."""

    def __init__(self, session: Session, position: int, tables: Iterable[str]) -> None:
        self.session = session
        self.position = position
        self.tables = sorted(tables)

    def _bounded(self) -> sa.ColumnElement[bool]:
        return sa.and_(AuditEvent.id <= self.position, AuditEvent.table_name.in_(self.tables))

    def newest_time(self) -> str | None:
        """``occurred_at`` of the newest event the export includes (any table)."""
        return self.session.scalar(sa.select(AuditEvent.occurred_at).where(AuditEvent.id == self.position))

    def actors(self) -> set[int]:
        """Every actor of an included event: each needs a User in AdminData."""
        query = sa.select(AuditEvent.actor_id).where(self._bounded()).distinct()
        return set(self.session.scalars(query))

    def values(self, table: str, field: str) -> set[str]:
        """Every value ``table.field`` has held (the units a lab has reported, for example)."""
        query = (
            sa.select(AuditEvent.new_value)
            .where(AuditEvent.id <= self.position, AuditEvent.table_name == table, AuditEvent.field_name == field)
            .distinct()
        )
        return {value for value in self.session.scalars(query) if value is not None}

    def moved(self) -> set[RecordKey]:
        """Records whose subject was changed: their history is split between two subjects' events."""
        query = sa.select(AuditEvent.table_name, AuditEvent.row_key).where(
            self._bounded(), AuditEvent.action == AuditAction.UPDATE, AuditEvent.field_name == "subject_id"
        )
        return {(row.table_name, row.row_key) for row in self.session.execute(query)}

    def subject_records(self, subject_id: int) -> dict[RecordKey, list[AuditEntry]]:
        """One subject's events, by record, each record's in id (chain) order."""
        query = sa.select(*_COLUMNS).where(self._bounded(), AuditEvent.subject_id == subject_id).order_by(AuditEvent.id)
        records: dict[RecordKey, list[AuditEntry]] = defaultdict(list)
        for row in self.session.connection().execute(query).all():
            entry = AuditEntry(*row)
            records[(entry.table_name, entry.row_key)].append(entry)
        return dict(records)

    def record(self, key: RecordKey) -> list[AuditEntry]:
        """The whole history of one record, whichever subject its events were filed under."""
        table, row_key = key
        query = (
            sa.select(*_COLUMNS)
            .where(AuditEvent.id <= self.position, AuditEvent.table_name == table, AuditEvent.row_key == row_key)
            .order_by(AuditEvent.id)
        )
        return [AuditEntry(*row) for row in self.session.connection().execute(query).all()]
