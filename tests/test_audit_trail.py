"""The audit trail (Part 11 §11.10(e), Annex 11 §9, ICH E6(R3) 4.2.2): what the triggers record and refuse."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit import triggers
from jk500db.audit.chain import HASHED_COLUMNS, chain_hash
from jk500db.audit.context import ChangeContext, set_change_context, set_reason
from jk500db.audit.history import record_history
from jk500db.models import AuditEvent, Base, LabResult, ProtocolVersion, Study, User
from jk500db.models.vocabularies import ChangeSource, RoleCode
from tests import factories

ANN = ChangeContext(41, "Ann Data-Manager", ChangeSource.UI, None)


events_for = record_history


def as_ann(session: Session, reason: str | None = None) -> None:
    set_change_context(session, ChangeContext(ANN.actor_id, ANN.actor_name, ANN.source, reason))


def test_AT01_an_insert_writes_one_row_per_field_with_actor_time_table_key_and_value(session: Session) -> None:
    as_ann(session)
    lab = factories.lab_result(session)
    rows = events_for(session, "lab_result", lab.id)
    by_field = {r.field_name: r for r in rows}
    assert by_field["value"].new_value == "0.4"
    assert by_field["test_code"].new_value == "NEUT"
    assert by_field["value"].old_value is None
    assert "version" not in by_field  # the optimistic-locking counter is not an audit event
    assert {r.action for r in rows} == {"insert"}
    assert {(r.actor_id, r.actor_name, r.source) for r in rows} == {(41, "Ann Data-Manager", ChangeSource.UI)}
    assert {r.subject_id for r in rows} == {lab.subject_id}
    assert len({r.transaction_id for r in rows}) == 1


def test_AT09_audit_times_are_iso_8601_utc_from_the_database_clock(session: Session) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    as_ann(session)
    lab = factories.lab_result(session)
    stamp = events_for(session, "lab_result", lab.id)[0].occurred_at
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3,6}Z", stamp)
    assert dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= before


def test_AT01_AT03_an_update_records_old_and_new_value_and_the_reason(session: Session) -> None:
    as_ann(session)
    lab = factories.lab_result(session)
    set_reason(session, "transcription error: report says 0.45")
    lab.value, lab.value_text = Decimal("0.45"), "0.45"
    session.flush()
    change = [r for r in events_for(session, "lab_result", lab.id) if r.action == "update"]
    assert {(r.field_name, r.old_value, r.new_value) for r in change} == {
        ("value", "0.4", "0.45"),
        ("value_text", "0.4", "0.45"),
    }
    assert {r.reason for r in change} == {"transcription error: report says 0.45"}


def test_AT03_an_update_without_a_reason_is_refused(session: Session) -> None:
    as_ann(session)
    lab = factories.lab_result(session)
    lab.value = Decimal("0.5")
    with pytest.raises(sa.exc.DatabaseError, match="reason for change is required"):
        session.flush()


def test_AT01_a_delete_records_every_value_it_removed(session: Session) -> None:
    as_ann(session)
    study = factories.study_site(session).study
    version = ProtocolVersion(study_id=study.id, version="9.9", effective_on=dt.date(2025, 1, 1))
    session.add(version)
    session.flush()
    set_reason(session, "entered against the wrong study")
    session.delete(version)
    session.flush()
    deleted = {
        r.field_name: r.old_value for r in events_for(session, "protocol_version", version.id) if r.action == "delete"
    }
    assert deleted["version"] == "9.9"
    assert deleted["effective_on"] == "2025-01-01"


@pytest.mark.parametrize("path", ["core", "orm_bulk", "raw_sql"])
def test_AT02_core_bulk_and_raw_sql_writes_are_audited(session: Session, path: str) -> None:
    as_ann(session, reason="site renamed")
    site = factories.study_site(session)
    if path == "core":
        session.connection().execute(
            sa.update(sa.table("site", sa.column("id"), sa.column("name")))
            .where(sa.column("id") == site.id)
            .values(name="Core")
        )
    elif path == "orm_bulk":
        session.execute(sa.update(type(site)).where(type(site).id == site.id).values(name="Core"))
    else:
        session.execute(sa.text("UPDATE site SET name = 'Core' WHERE id = :id"), {"id": site.id})
    changes = [r for r in events_for(session, "site", site.id) if r.action == "update"]
    assert [(r.field_name, r.new_value, r.reason) for r in changes] == [("name", "Core", "site renamed")]


def test_AT04_every_earlier_value_can_be_rebuilt_from_the_trail(session: Session) -> None:
    as_ann(session)
    lab = factories.lab_result(session)
    for n, value in enumerate(("0.41", "0.42", "0.43"), start=1):
        set_reason(session, f"correction {n}")
        lab.value = Decimal(value)
        session.flush()
    history = [r.new_value for r in events_for(session, "lab_result", lab.id) if r.field_name == "value"]
    assert history == ["0.4", "0.41", "0.42", "0.43"]


def test_AT08_a_write_with_no_actor_fails_closed(engine: sa.Engine) -> None:
    with engine.connect() as conn, conn.begin(), pytest.raises(sa.exc.DatabaseError, match="no actor"):
        conn.execute(
            sa.insert(Study.__table__).values(code="NOACTOR", title="t", sponsor="s", phase="p", planned_enrolment=1)
        )


def test_AT08_the_context_ends_with_the_transaction(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        with conn.begin():
            set_change_context(conn, ANN)
        with conn.begin(), pytest.raises(sa.exc.DatabaseError, match="no actor"):
            conn.execute(
                sa.insert(Study.__table__).values(
                    code="LEFTOVER", title="t", sponsor="s", phase="p", planned_enrolment=1
                )
            )


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET reason = 'forged'", "DELETE FROM audit_event"])
def test_AT05_the_audit_table_refuses_update_and_delete(session: Session, statement: str) -> None:
    as_ann(session)
    factories.lab_result(session)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.execute(sa.text(statement))


@pytest.mark.postgres
def test_AT05_the_audit_table_refuses_truncate_on_postgresql(session: Session, dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        session.execute(sa.text("TRUNCATE audit_event"))


def test_clinical_records_cannot_be_physically_deleted(session: Session) -> None:
    as_ann(session, reason="duplicate")
    lab = factories.lab_result(session)
    with pytest.raises(sa.exc.DatabaseError, match="never deleted"):
        session.execute(sa.delete(LabResult).where(LabResult.id == lab.id))


def test_a_removed_record_keeps_its_values_in_the_trail(session: Session) -> None:
    as_ann(session)
    lab = factories.lab_result(session)
    set_reason(session, "entered twice")
    lab.removed_at, lab.removed_reason = dt.datetime(2025, 2, 1, tzinfo=dt.UTC), "entered twice"
    session.flush()
    assert session.get(LabResult, lab.id) is not None
    fields = {r.field_name for r in events_for(session, "lab_result", lab.id) if r.action == "update"}
    assert fields == {"removed_at", "removed_reason"}


def test_password_hashes_are_audited_as_changed_but_never_shown(session: Session) -> None:
    as_ann(session)
    from jk500db.services import accounts

    accounts.ensure_roles(session)
    user = accounts.create_user(
        session,
        email="masking.check@example.org",
        full_name="H",
        role=RoleCode.MONITOR,
        password="a long unusual passphrase 7",
    )
    rows = {r.field_name: r for r in events_for(session, "user_account", user.id)}
    assert rows["password_hash"].new_value == triggers.MASK
    assert not session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.new_value.like("$argon2%"))
    )
    assert isinstance(user, User)


def test_AT06_each_row_hashes_its_predecessor_and_content(session: Session) -> None:
    as_ann(session)
    factories.lab_result(session)
    rows = session.execute(sa.select(AuditEvent.__table__).order_by(AuditEvent.id.desc()).limit(20)).mappings().all()
    rows = list(reversed(rows))
    for earlier, later in itertools.pairwise(rows):
        assert later["prev_hash"] == earlier["row_hash"]
    for row in rows:
        assert row["row_hash"] == chain_hash(
            row["prev_hash"], [row[c] if row[c] is None else str(row[c]) for c in HASHED_COLUMNS]
        )


def test_AT07_every_audited_table_has_its_triggers_after_migration(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        installed = triggers.installed_trigger_names(conn)
    assert triggers.expected_trigger_names(engine.dialect.name) <= installed
    audited = {t.name for t in triggers.audited_tables()}
    assert audited == set(Base.metadata.tables) - triggers.UNAUDITED_TABLES
