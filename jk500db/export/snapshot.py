"""The data an export is built from: every audited table as it stands now, or as it stood at a past moment.

Exports never read the ORM objects. They read rows from a :class:`Snapshot`, so the same export code gives the
live data or the data rebuilt from the audit trail ("as of" a timestamp), and a test can show the two agree
when the moment is now. A row is a dict of the table's audited columns with the Python values the column
types give (``Decimal`` as entered, aware UTC datetimes, vocabulary members, booleans); the optimistic-locking
counter ``version`` is not audited and not exported.

The audit trail stores each value as the text the database made of it (``CAST(... AS TEXT)`` on SQLite, the
JSON text of the column on PostgreSQL), so rebuilding a row means reading that text back with the column's
type: :func:`value_from_audit_text` is the one place that knows how.

Both snapshots read inside the caller's transaction: on PostgreSQL run the export in a REPEATABLE READ
transaction (``jk500db.export.runner`` does) so the tables and the audit position are one consistent state.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.triggers import MASK, MASKED_COLUMNS, AuditedTable, audited_tables
from jk500db.audit.verify import live_audit_text
from jk500db.models import AuditEvent, Base
from jk500db.models.types import ExactDecimal, UTCDateTime, Vocabulary

Row = dict[str, Any]
TextRow = dict[str, str | None]

#: Rows fetched per round trip when streaming a table.
BATCH = 2_000


class Snapshot(Protocol):
    """Rows of the audited tables at one audit position."""

    #: id of the newest audit event the data include (0 for an empty trail).
    audit_position: int
    #: SHA-256 row hash of that event: the head of the chain the export stands on.
    audit_head_hash: str | None
    #: the moment asked for with ``--as-of`` (None: now).
    as_of: dt.datetime | None
    #: when the newest included audit event happened: the moment the data stand for, written into file headers
    #: instead of the clock, so an export "as of now" and a live export of the same data are the same bytes.
    data_moment: dt.datetime

    def rows(self, table: str) -> Iterator[Row]:
        """Every row of ``table`` (removed clinical records included, with ``removed_at``), in key order."""
        ...

    def text_rows(self, table: str) -> Iterator[TextRow]:
        """The same rows with each value as the audit trail writes it (text or None): the fast path for CSV."""
        ...


@cache
def _audited() -> dict[str, AuditedTable]:
    return {table.name: table for table in audited_tables()}


def audited_columns(table: str) -> tuple[str, ...]:
    """The columns of ``table`` a snapshot row carries."""
    try:
        return _audited()[table].columns
    except KeyError:
        raise KeyError(f"{table} is not an audited table; exports read only audited tables") from None


def _sql_table(table: str) -> sa.Table:
    return Base.metadata.tables[table]


#: The data moment of an empty audit trail.
EMPTY_TRAIL_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _head(session: Session, position: int | None) -> tuple[int, str | None, dt.datetime]:
    query = sa.select(AuditEvent.id, AuditEvent.row_hash, AuditEvent.occurred_at).order_by(AuditEvent.id.desc())
    if position is not None:
        query = query.where(AuditEvent.id <= position)
    row = session.execute(query.limit(1)).first()
    if row is None:
        return 0, None, EMPTY_TRAIL_MOMENT
    return row.id, row.row_hash, dt.datetime.fromisoformat(row.occurred_at).astimezone(dt.UTC)


class LiveSnapshot:
    """The tables as they are in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.as_of: dt.datetime | None = None
        self.audit_position, self.audit_head_hash, self.data_moment = _head(session, None)

    def rows(self, table: str) -> Iterator[Row]:
        sql_table = _sql_table(table)
        columns = [sql_table.c[name] for name in audited_columns(table)]
        query = sa.select(*columns).order_by(*sql_table.primary_key.columns)
        result = self.session.execute(query.execution_options(yield_per=BATCH))
        try:
            for row in result:
                yield dict(row._mapping)
        finally:  # a reader that stops early must not leave PostgreSQL's server-side cursor open
            result.close()

    def text_rows(self, table: str) -> Iterator[TextRow]:
        rows = live_audit_text(self.session.connection(), _audited()[table], in_key_order=True)
        masked = MASKED_COLUMNS & set(audited_columns(table))
        for _key, row in rows:
            for name in masked:  # the trail keeps only that such a value was set, never the value
                row[name] = None if row[name] is None else MASK
            yield row


class AsOfSnapshot:
    """The tables rebuilt from the audit trail as they stood at ``as_of`` (UTC).

    Replaying one table keeps that table's rows in memory (a few MB for the largest table of a 2,000-subject
    study); the live snapshot streams.
    """

    def __init__(self, session: Session, as_of: dt.datetime) -> None:
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware (UTC)")
        self.session = session
        self.as_of: dt.datetime | None = as_of.astimezone(dt.UTC)
        # occurred_at is ISO 8601 UTC text of one width per engine, so text order is time order.
        dialect = session.get_bind().dialect.name
        newest = session.scalar(
            sa.select(sa.func.max(AuditEvent.id)).where(
                AuditEvent.occurred_at <= audit_timestamp(as_of, dialect=dialect)
            )
        )
        self.audit_position, self.audit_head_hash, self.data_moment = _head(session, newest or 0)

    def text_rows(self, table: str) -> Iterator[TextRow]:
        state: dict[str, TextRow | None] = {}
        events = self.session.execute(
            sa.select(AuditEvent.row_key, AuditEvent.field_name, AuditEvent.action, AuditEvent.new_value)
            .where(AuditEvent.table_name == table, AuditEvent.id <= self.audit_position)
            .order_by(AuditEvent.id)
            .execution_options(yield_per=BATCH)
        )
        for event in events:
            if event.action == "delete":
                state[event.row_key] = None
                continue
            fields = state.get(event.row_key)
            if fields is None:
                fields = state[event.row_key] = {}
            fields[event.field_name] = event.new_value
        columns = audited_columns(table)
        sql_table = _sql_table(table)
        keys = [sql_table.c[name] for name in _audited()[table].key_columns]
        rebuilt = [{name: fields.get(name) for name in columns} for fields in state.values() if fields is not None]
        rebuilt.sort(key=lambda row: tuple(value_from_audit_text(c, row[c.name]) for c in keys))
        yield from rebuilt

    def rows(self, table: str) -> Iterator[Row]:
        sql_table = _sql_table(table)
        for text in self.text_rows(table):
            yield {name: value_from_audit_text(sql_table.c[name], value) for name, value in text.items()}


def audit_timestamp(moment: dt.datetime, *, dialect: str) -> str:
    """``moment`` as the audit triggers of ``dialect`` write ``occurred_at``.

    SQLite's ``strftime('%f')`` keeps milliseconds ("...T12:00:00.123Z"), PostgreSQL microseconds
    ("...T12:00:00.123456Z"). Compared as text, the two widths would misorder: "00.123Z" sorts after
    "00.123000Z". On SQLite the moment is cut to its millisecond, which keeps every event of that millisecond.
    """
    moment = moment.astimezone(dt.UTC)
    if dialect == "sqlite":
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
    return f"{moment:%Y-%m-%dT%H:%M:%S.%f}Z"


def value_from_audit_text(column: sa.Column[Any], text: str | None) -> Any:
    """The Python value of ``column`` that the audit trail wrote as ``text`` (on either engine)."""
    if text is None:
        return None
    column_type = column.type
    if isinstance(column_type, Vocabulary):
        member: enum.StrEnum = column_type.enum_class(text)
        return member
    if isinstance(column_type, ExactDecimal):
        return Decimal(text)
    if isinstance(column_type, UTCDateTime):
        # SQLite keeps "2026-01-02 03:04:05.000000" (naive UTC); PostgreSQL's JSON gives an offset.
        moment = dt.datetime.fromisoformat(text)
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    if isinstance(column_type, sa.Boolean):
        if text in ("1", "true"):
            return True
        if text in ("0", "false"):
            return False
        raise ValueError(f"{column.table.name}.{column.name}: {text!r} is not an audited boolean")
    if isinstance(column_type, sa.Date):
        return dt.date.fromisoformat(text)
    if isinstance(column_type, sa.Integer):
        return int(text)
    if isinstance(column_type, sa.Numeric):
        return Decimal(text)
    if isinstance(column_type, sa.DateTime):
        return dt.datetime.fromisoformat(text)
    if isinstance(column_type, (sa.String, sa.Text)):
        return text
    raise TypeError(f"{column.table.name}.{column.name}: no reading of audit text for {column_type!r}")


def open_snapshot(session: Session, as_of: dt.datetime | None = None) -> Snapshot:
    """The live data, or the data as they stood at ``as_of``."""
    return LiveSnapshot(session) if as_of is None else AsOfSnapshot(session, as_of)
