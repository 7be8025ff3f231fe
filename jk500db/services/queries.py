"""Queries (discrepancy notes) on a record or one field: open -> answered -> closed, with every message kept.

Monitors and data managers open queries, edit checks open them automatically, data managers answer, and
monitors or data managers close them; when the study's settings say so (the default) the closer is never the
person who last answered. Every message is a ``query_message`` row and every status change an audited update
of ``query`` with a reason, so the conversation and its outcome are both in the audit trail. A lock (not a
freeze) stops the conversation: the database refuses new queries and messages, and these functions say so
first in words a user can act on.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_reason
from jk500db.clinical.settings import RuleSettings
from jk500db.errors import ValidationError
from jk500db.models import Base, Query, QueryMessage, User
from jk500db.models.vocabularies import LockMode, QueryOrigin, QueryStatus, RoleCode
from jk500db.services.locks import RecordScope, covering_locks, record_scope

OPENERS = frozenset({RoleCode.MONITOR, RoleCode.DATA_MANAGER})
ANSWERERS = frozenset({RoleCode.DATA_MANAGER})
#: Who may close a query. Data managers join the monitors only when the protocol setting
#: queries.data_manager_may_close says so: DESIGN.md's segregation of duties keeps them out by default.
CLOSERS = frozenset({RoleCode.MONITOR})
CLOSERS_WITH_DATA_MANAGERS = frozenset({RoleCode.MONITOR, RoleCode.DATA_MANAGER})
REOPENERS = frozenset({RoleCode.MONITOR})


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _text(text: str) -> str:
    if not text or not text.strip():
        raise ValidationError("text", "write what the query is about, or the answer")
    return text.strip()


def _check_role(actor: User, roles: frozenset[RoleCode], what: str) -> None:
    if actor.role_code not in roles:
        allowed = " or ".join(sorted(r.value.replace("_", " ") for r in roles))
        raise ValidationError("role", f"only a {allowed} can {what} a query")


def _check_not_locked(session: Session, scope: RecordScope) -> None:
    """A lock stops queries (a freeze does not); the database refuses too, with less helpful words."""
    if covering_locks(session, scope, modes=(LockMode.LOCK,)):
        raise ValidationError("lock", "the record is locked: no new queries or messages until it is unlocked")


def _target(session: Session, subject_id: int, table_name: str, record_id: int, field_name: str | None) -> RecordScope:
    scope = record_scope(session, table_name, record_id)
    if scope.subject_id != subject_id:
        raise ValidationError("subject_id", f"{table_name} record {record_id} belongs to another subject")
    if field_name is not None and field_name not in Base.metadata.tables[table_name].c:
        raise ValidationError("field_name", f"is not a field of {table_name}")
    _check_not_locked(session, scope)
    return scope


def _message(session: Session, query: Query, author: User | None, text: str, now: dt.datetime) -> QueryMessage:
    message = QueryMessage(
        query_id=query.id, author_id=author.id if author else None, written_at=now, text=text, status_after=query.status
    )
    session.add(message)
    return message


def _new_query(session: Session, query: Query, author: User | None, text: str) -> Query:
    session.add(query)
    session.flush()
    _message(session, query, author, text, query.opened_at)
    session.flush()
    return query


def open_query(
    session: Session,
    *,
    actor: User,
    subject_id: int,
    table_name: str,
    record_id: int,
    field_name: str | None = None,
    text: str,
    now: dt.datetime | None = None,
) -> Query:
    """A monitor or data manager raises a query on a record, or on one field of it."""
    _check_role(actor, OPENERS, "open")
    body = _text(text)
    _target(session, subject_id, table_name, record_id, field_name)
    query = Query(
        subject_id=subject_id,
        table_name=table_name,
        record_id=record_id,
        field_name=field_name,
        status=QueryStatus.OPEN,
        origin=QueryOrigin.MANUAL,
        opened_by_id=actor.id,
        opened_at=now or _utcnow(),
    )
    return _new_query(session, query, actor, body)


def open_automatic_query(
    session: Session,
    *,
    rule_id: str,
    subject_id: int,
    table_name: str,
    record_id: int,
    field_name: str | None,
    text: str,
    origin: QueryOrigin = QueryOrigin.EDIT_CHECK,
    now: dt.datetime | None = None,
) -> Query:
    """An edit check (or a derived value differing from the investigator's) raises a query; an unclosed one
    from the same rule on the same field is reused.

    Edit checks run on every save, so reusing the open query keeps one conversation per discrepancy.
    """
    body = _text(text)
    _target(session, subject_id, table_name, record_id, field_name)
    existing = session.scalar(
        sa.select(Query).where(
            Query.rule_id == rule_id,
            Query.table_name == table_name,
            Query.record_id == record_id,
            Query.field_name.is_(None) if field_name is None else Query.field_name == field_name,
            Query.status != QueryStatus.CLOSED,
        )
    )
    if existing is not None:
        return existing
    query = Query(
        subject_id=subject_id,
        table_name=table_name,
        record_id=record_id,
        field_name=field_name,
        status=QueryStatus.OPEN,
        origin=origin,
        rule_id=rule_id,
        opened_by_id=None,
        opened_at=now or _utcnow(),
    )
    return _new_query(session, query, None, body)


def answer_automatic_query(session: Session, query: Query, *, text: str, now: dt.datetime | None = None) -> None:
    """The system answers its own query once the data no longer break the rule; a monitor still closes it.
    The caller has set the reason the change is audited under."""
    now = now or _utcnow()
    query.status = QueryStatus.ANSWERED
    query.answered_at = now
    _message(session, query, None, _text(text), now)


def _check_status(query: Query, allowed: set[QueryStatus], what: str) -> None:
    if query.status not in allowed:
        article = "an" if query.status.value[0] in "aeiou" else "a"
        raise ValidationError("status", f"{article} {query.status.value} query cannot be {what}")


def _change_status(
    session: Session,
    query: Query,
    actor: User,
    status: QueryStatus,
    text: str,
    reason: str,
    now: dt.datetime,
    **fields: object,
) -> QueryMessage:
    _check_not_locked(session, record_scope(session, query.table_name, query.record_id))
    set_reason(session, reason)
    query.status = status
    for name, value in fields.items():
        setattr(query, name, value)
    message = _message(session, query, actor, text, now)
    session.flush()
    return message


def answer_query(
    session: Session, query: Query, *, actor: User, text: str, now: dt.datetime | None = None
) -> QueryMessage:
    """A data manager answers an open query."""
    _check_role(actor, ANSWERERS, "answer")
    body = _text(text)
    _check_status(query, {QueryStatus.OPEN}, "answered")
    now = now or _utcnow()
    return _change_status(
        session,
        query,
        actor,
        QueryStatus.ANSWERED,
        body,
        "query answered",
        now,
        answered_by_id=actor.id,
        answered_at=now,
    )


def close_query(
    session: Session,
    query: Query,
    *,
    actor: User,
    text: str,
    settings: RuleSettings,
    now: dt.datetime | None = None,
) -> QueryMessage:
    """A monitor or data manager closes a query; per settings, never the person who last answered it."""
    _check_role(actor, CLOSERS_WITH_DATA_MANAGERS if settings.data_manager_may_close else CLOSERS, "close")
    body = _text(text)
    _check_status(query, {QueryStatus.OPEN, QueryStatus.ANSWERED}, "closed")
    if settings.closer_must_differ_from_answerer and query.answered_by_id == actor.id:
        raise ValidationError("closed_by_id", "the person who answered a query cannot also close it")
    now = now or _utcnow()
    return _change_status(
        session, query, actor, QueryStatus.CLOSED, body, "query closed", now, closed_by_id=actor.id, closed_at=now
    )


def reopen_query(
    session: Session, query: Query, *, actor: User, text: str, now: dt.datetime | None = None
) -> QueryMessage:
    """A monitor who is not satisfied with an answer sends the query back to open."""
    _check_role(actor, REOPENERS, "reopen")
    body = _text(text)
    _check_status(query, {QueryStatus.ANSWERED}, "reopened")
    return _change_status(session, query, actor, QueryStatus.OPEN, body, "query reopened", now or _utcnow())
