"""Running the registry on the records a transaction changed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.derivations.changes import ChangedRecord
from jk500db.derivations.subject_data import StudyContext, SubjectData
from jk500db.edit_checks.registry import CheckContext, EditCheck, Severity, checks_for
from jk500db.errors import ValidationError
from jk500db.models import Query
from jk500db.models.base import ClinicalRecord
from jk500db.models.vocabularies import QueryOrigin, QueryStatus
from jk500db.services.queries import answer_automatic_query, open_automatic_query


def _records(data: SubjectData) -> dict[tuple[str, int], ClinicalRecord]:
    found: dict[tuple[str, int], ClinicalRecord] = {(data.subject.__tablename__, data.subject.id): data.subject}
    for value in vars(data).values():
        for record in value if isinstance(value, list) else [value]:
            if isinstance(record, ClinicalRecord):
                found[(type(record).__tablename__, record.id)] = record  # type: ignore[attr-defined]
    return found


def _query_text(check: EditCheck, message: str) -> str:
    return f"{check.rule}: {message} [{check.id}]"


def _due(data: SubjectData, changed: Iterable[ChangedRecord]) -> Iterator[tuple[str, Any, EditCheck]]:
    """(table, record, check) to run: every check of a changed record, and the mismatch checks of every record,
    since they compare with derived values, which change without their own record being edited (a new CRS
    assessment raises the episode maximum of an AE entered days before)."""
    edited = {(c.table_name, c.record_id) for c in changed}
    for (table, record_id), record in _records(data).items():
        if record.removed_at is not None:
            continue  # removed: nothing to check
        for check in checks_for(type(record)):
            if (table, record_id) in edited or check.origin is QueryOrigin.DERIVATION_MISMATCH:
                yield table, record, check


def run_edit_checks(
    session: Session, data: SubjectData, changed: Iterable[ChangedRecord], study: StudyContext, now: dt.datetime
) -> None:
    """Hard checks raise ``ValidationError`` naming field and rule; soft ones open or answer queries."""
    context = CheckContext(data, study, now)
    open_queries: dict[tuple[str | None, str, int], list[Query]] = {}
    for query in session.scalars(
        sa.select(Query).where(
            Query.subject_id == data.subject.id, Query.opened_by_id.is_(None), Query.status == QueryStatus.OPEN
        )
    ):
        open_queries.setdefault((query.rule_id, query.table_name, query.record_id), []).append(query)
    seen: set[tuple[str, int, str]] = set()
    for table, record, check in _due(data, changed):
        if (table, record.id, check.id) in seen:
            continue  # a check registered on two fields of one model runs once
        seen.add((table, record.id, check.id))
        message = check.test(record, context)
        if check.severity is Severity.HARD:
            if message is not None:
                raise ValidationError(check.field, f"{check.rule}: {message}", table=table)
            continue
        existing = open_queries.get((check.id, table, record.id), [])
        if message is not None and not existing:
            open_automatic_query(
                session,
                rule_id=check.id,
                subject_id=data.subject.id,
                table_name=table,
                record_id=record.id,
                field_name=check.field,
                text=_query_text(check, message),
                origin=check.origin,
                now=now,
            )
        elif message is None:
            for query in existing:
                text = f"{check.rule}: the data now pass this check [{check.id}]"
                answer_automatic_query(session, query, text=text, now=now)
