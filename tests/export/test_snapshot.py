"""Snapshots: the live tables and the tables rebuilt from the audit trail agree, on both engines."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.triggers import audited_tables
from jk500db.export.snapshot import AsOfSnapshot, LiveSnapshot, audit_timestamp, audited_columns, open_snapshot
from jk500db.models import AuditEvent
from jk500db.models.vocabularies import RoleCode
from tests.factories import act, user

FAR_FUTURE = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("table", [t.name for t in audited_tables()])
def test_rebuilding_every_table_from_the_audit_trail_gives_the_live_rows(study: Session, table: str) -> None:
    """AT-05 (the audit trail holds enough to rebuild the data): every audited value reads back typed."""
    live = list(LiveSnapshot(study).rows(table))
    rebuilt = list(AsOfSnapshot(study, FAR_FUTURE).rows(table))
    assert rebuilt == live
    if table in {"subject", "adverse_event", "lab_result", "drug_administration"}:
        assert live, f"the export study should have {table} rows"


@pytest.mark.parametrize("table", [t.name for t in audited_tables()])
def test_live_values_read_as_text_are_the_audit_trails_own_text(study: Session, table: str) -> None:
    """The CSV pass reads text: the live text must be exactly what the triggers stored, on both engines."""
    live = list(LiveSnapshot(study).text_rows(table))
    assert live == list(AsOfSnapshot(study, FAR_FUTURE).text_rows(table))
    assert all(isinstance(value, str) or value is None for row in live for value in row.values())


def test_a_password_hash_is_never_read_as_text(study: Session) -> None:
    """AT: the audit trail masks password hashes; a snapshot read as text masks them the same way."""
    act(study, user(study, RoleCode.STATISTICIAN), reason="an account to read back")
    rows = list(LiveSnapshot(study).text_rows("user_account"))
    assert rows and {row["password_hash"] for row in rows} == {"[not shown]"}


def test_a_live_snapshot_stands_on_the_head_of_the_audit_chain(study: Session) -> None:
    snapshot = open_snapshot(study)
    newest = study.execute(sa.select(AuditEvent.id, AuditEvent.row_hash).order_by(AuditEvent.id.desc())).first()
    assert newest is not None
    assert (snapshot.audit_position, snapshot.audit_head_hash) == (newest.id, newest.row_hash)
    assert snapshot.as_of is None


def test_a_snapshot_before_the_first_event_is_empty(study: Session) -> None:
    before = AsOfSnapshot(study, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert before.audit_position == 0 and before.audit_head_hash is None
    assert list(before.rows("subject")) == []


def test_rows_carry_the_audited_columns_only(study: Session) -> None:
    row = next(LiveSnapshot(study).rows("adverse_event"))
    assert tuple(row) == audited_columns("adverse_event")
    assert "version" not in row
    with pytest.raises(KeyError, match="not an audited table"):
        audited_columns("audit_event")


def test_an_as_of_moment_includes_every_event_of_that_moment(study: Session) -> None:
    """SQLite writes milliseconds, PostgreSQL microseconds: the moment is compared in the engine's own width."""
    event = study.execute(sa.select(AuditEvent.id, AuditEvent.occurred_at).order_by(AuditEvent.id).limit(1)).one()
    moment = dt.datetime.fromisoformat(event.occurred_at)
    last_of_that_moment = study.scalar(
        sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.occurred_at == event.occurred_at)
    )
    assert AsOfSnapshot(study, moment).audit_position == last_of_that_moment


def test_audit_timestamps_have_each_engines_width() -> None:
    moment = dt.datetime(2026, 11, 24, 9, 5, 7, 123456, tzinfo=dt.UTC)
    assert audit_timestamp(moment, dialect="sqlite") == "2026-11-24T09:05:07.123Z"
    assert audit_timestamp(moment, dialect="postgresql") == "2026-11-24T09:05:07.123456Z"
