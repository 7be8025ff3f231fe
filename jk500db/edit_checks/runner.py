"""Running the registry on the records a transaction changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from jk500db.derivations.changes import ChangedRecord
from jk500db.derivations.subject_data import StudyContext, SubjectData
from jk500db.edit_checks.registry import CheckContext, EditCheck, Severity, checks_for
from jk500db.errors import ValidationError
from jk500db.models.base import ClinicalRecord
from jk500db.services.queries import answer_automatic_query, open_automatic_queries, open_automatic_query


def _records(data: SubjectData) -> dict[tuple[str, int], ClinicalRecord]:
    found: dict[tuple[str, int], ClinicalRecord] = {(data.subject.__tablename__, data.subject.id): data.subject}
    for value in vars(data).values():
        for record in value if isinstance(value, list) else [value]:
            if isinstance(record, ClinicalRecord):
                found[(type(record).__tablename__, record.id)] = record  # type: ignore[attr-defined]
    return found


def _query_text(check: EditCheck, message: str) -> str:
    return f"{check.rule}: {message} [{check.id}]"


def run_edit_checks(
    session: Session, data: SubjectData, changed: Iterable[ChangedRecord], study: StudyContext, now: dt.datetime
) -> None:
    """Hard checks raise ``ValidationError`` naming field and rule; soft ones open or answer queries."""
    context = CheckContext(data, study, now)
    records = _records(data)
    seen: set[tuple[str, int, str]] = set()
    for change in changed:
        record: Any = records.get((change.table_name, change.record_id))
        if record is None or record.removed_at is not None:
            continue  # removed: nothing to check
        for check in checks_for(type(record)):
            key = (change.table_name, change.record_id, check.id)
            if key in seen:
                continue
            seen.add(key)
            message = check.test(record, context)
            if check.severity is Severity.HARD:
                if message is not None:
                    raise ValidationError(check.field, f"{check.rule}: {message}", table=change.table_name)
                continue
            _settle_query(session, check, record, change, message, now)


def _settle_query(
    session: Session, check: EditCheck, record: Any, change: ChangedRecord, message: str | None, now: dt.datetime
) -> None:
    if message is not None:
        open_automatic_query(
            session,
            rule_id=check.id,
            subject_id=change.subject_id,
            table_name=change.table_name,
            record_id=record.id,
            field_name=check.field,
            text=_query_text(check, message),
            origin=check.origin,
            now=now,
        )
        return
    for query in open_automatic_queries(session, rule_id=check.id, table_name=change.table_name, record_id=record.id):
        answer_automatic_query(session, query, text=f"{check.rule}: the data now pass this check [{check.id}]", now=now)
