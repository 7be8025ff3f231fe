"""`jk500db audit verify` finds each kind of damage done to a real database behind the application's back.

The SQLite tampering is done through Python's plain sqlite3 module: a connection without the application's
SQL functions, exactly what the sqlite3 shell gives someone holding the file.
"""

from __future__ import annotations

import csv
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from jk500db.audit.chain import HASHED_COLUMNS, chain_hash
from jk500db.audit.context import set_change_context
from jk500db.cli import EX_DATAERR, main
from jk500db.db import create_engine
from tests import factories
from tests.conftest import TEST_CONTEXT


def cli(url: str, tmp: Path, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"JK500DB_DATABASE_URL": url, "JK500DB_INSTANCE_DIR": str(tmp)})


def add_lab(url: str) -> int:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            set_change_context(session, TEST_CONTEXT)
            lab = factories.lab_result(session)
            session.commit()
            return lab.id
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "trial.sqlite3"
    url = f"sqlite:///{path}"
    assert cli(url, folder, "init").exit_code == 0
    return path, add_lab(url)


@pytest.fixture
def database(template: tuple[Path, int], tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    path = tmp_path / "trial.sqlite3"
    shutil.copy(template[0], path)
    yield f"sqlite:///{path}", path, template[1]


@contextmanager
def shell(path: Path) -> Iterator[sqlite3.Connection]:
    """What `sqlite3 trial.sqlite3` gives: no jk500 functions, autocommit."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def assert_damaged(result: Result, kind: str, event: int | None = None) -> None:
    assert result.exit_code == EX_DATAERR, result.output
    first_line = result.output.splitlines()[0]
    assert kind in first_line
    if event is not None:
        assert f"event {event}:" in first_line
    assert "Traceback" not in result.output


def test_AT06_an_intact_trail_verifies_with_its_event_count_and_head(
    database: tuple[str, Path, int], tmp_path: Path
) -> None:
    url, path, _ = database
    result = cli(url, tmp_path, "audit", "verify")
    assert result.exit_code == 0, result.output
    with shell(path) as db:
        count, head = db.execute(
            "SELECT count(*), (SELECT row_hash FROM audit_event ORDER BY id DESC LIMIT 1) FROM audit_event"
        ).fetchone()
    assert f"{count} events" in result.output
    assert head in result.output


def test_AT06_an_edited_audit_row_is_named(database: tuple[str, Path, int], tmp_path: Path) -> None:
    url, path, _ = database
    with shell(path) as db:
        db.execute("DROP TRIGGER jk500_audit_audit_event_append_only_update")
        db.execute("UPDATE audit_event SET new_value = 'forged' WHERE id = 100")
    assert_damaged(cli(url, tmp_path, "audit", "verify"), "audit row edited", 100)


def test_AT06_a_deleted_audit_row_is_named(database: tuple[str, Path, int], tmp_path: Path) -> None:
    url, path, _ = database
    with shell(path) as db:
        db.execute("DROP TRIGGER jk500_audit_audit_event_append_only_delete")
        db.execute("DELETE FROM audit_event WHERE id = 100")
    assert_damaged(cli(url, tmp_path, "audit", "verify"), "audit row deleted", 101)


def test_AT06_a_truncated_start_of_the_chain_is_named(database: tuple[str, Path, int], tmp_path: Path) -> None:
    url, path, _ = database
    with shell(path) as db:
        db.execute("DROP TRIGGER jk500_audit_audit_event_append_only_delete")
        db.execute("DELETE FROM audit_event WHERE id <= 10")
    assert_damaged(cli(url, tmp_path, "audit", "verify"), "audit row deleted", 11)


def test_AT06_an_inserted_audit_row_is_named_even_with_a_correct_hash(
    database: tuple[str, Path, int], tmp_path: Path
) -> None:
    """The forger knows SHA-256 and chains the new row to its predecessor; the successor still betrays it."""
    url, path, _ = database
    with shell(path) as db:
        db.execute("DROP TRIGGER jk500_audit_audit_event_append_only_update")
        top = db.execute("SELECT max(id) FROM audit_event").fetchone()[0]
        for event in range(top, 100, -1):  # make room at 101, from the top down
            db.execute("UPDATE audit_event SET id = id + 1 WHERE id = ?", (event,))
        prev = db.execute("SELECT row_hash FROM audit_event WHERE id = 100").fetchone()[0]
        values = [
            "2025-01-01T00:00:00.000Z",
            "x",
            "1",
            "Forger",
            "ui",
            "lab_result",
            "1",
            "1",
            "value",
            "update",
            "0.4",
            "9.9",
            "backdated",
        ]
        columns, marks = ", ".join(HASHED_COLUMNS), ", ".join("?" * len(values))
        db.execute(
            f"INSERT INTO audit_event (id, {columns}, prev_hash, row_hash) VALUES (101, {marks}, ?, ?)",
            (*values, prev, chain_hash(prev, values)),
        )
    assert_damaged(cli(url, tmp_path, "audit", "verify"), "audit row inserted", 101)


def test_AT07_a_dropped_trigger_is_named(database: tuple[str, Path, int], tmp_path: Path) -> None:
    url, path, _ = database
    with shell(path) as db:
        db.execute("DROP TRIGGER jk500_audit_lab_result_update_value")
    result = cli(url, tmp_path, "audit", "verify")
    assert_damaged(result, "trigger missing")
    assert "jk500_audit_lab_result_update_value" in result.output


def test_AT08_the_sqlite3_shell_cannot_change_clinical_data_while_the_triggers_stand(
    database: tuple[str, Path, int],
) -> None:
    _url, path, lab_id = database
    with shell(path) as db, pytest.raises(sqlite3.OperationalError, match="jk500_context"):
        db.execute("UPDATE lab_result SET value = '9.9' WHERE id = ?", (lab_id,))


def test_AT06_data_changed_outside_the_audit_is_named_with_table_row_and_field(
    database: tuple[str, Path, int], tmp_path: Path
) -> None:
    url, path, lab_id = database
    with shell(path) as db:
        # Drop every trigger on the table, change the value, then put the triggers back (the value's audit
        # trigger as a do-nothing look-alike), so that only the live-data check can notice.
        saved = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'lab_result'"
        ).fetchall()
        for name, _sql in saved:
            db.execute(f"DROP TRIGGER {name}")
        db.execute("UPDATE lab_result SET value = '9.9' WHERE id = ?", (lab_id,))
        for name, sql in saved:
            if name == "jk500_audit_lab_result_update_value":
                sql = f"CREATE TRIGGER {name} AFTER UPDATE ON lab_result BEGIN SELECT 1; END"
            db.execute(sql)
    result = cli(url, tmp_path, "audit", "verify")
    assert_damaged(result, "data changed outside the audit")
    assert f"lab_result row {lab_id}, field value" in result.output
    assert "'9.9'" in result.output and "'0.4'" in result.output


def test_AT06_a_row_inserted_outside_the_audit_is_named(database: tuple[str, Path, int], tmp_path: Path) -> None:
    url, path, _ = database
    with shell(path) as db:
        db.execute("DROP TRIGGER jk500_audit_site_insert")
        db.execute("INSERT INTO site (study_id, code, name, country) VALUES (1, '77', 'Ghost', 'CHN')")
        db.execute("CREATE TRIGGER jk500_audit_site_insert AFTER INSERT ON site BEGIN SELECT 1; END")
    result = cli(url, tmp_path, "audit", "verify")
    assert_damaged(result, "data changed outside the audit")
    assert "has no audited insert" in result.output


@pytest.mark.postgres
@pytest.mark.parametrize("fresh_database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_AT06_postgresql_edited_row_and_data_changed_with_triggers_disabled_are_named(
    fresh_database: str, tmp_path: Path
) -> None:
    url = fresh_database
    assert cli(url, tmp_path, "init").exit_code == 0
    lab_id = add_lab(url)
    assert cli(url, tmp_path, "audit", "verify").exit_code == 0
    engine = create_engine(url)
    try:
        with engine.begin() as conn:  # a superuser can switch triggers off for a session
            conn.exec_driver_sql("SET session_replication_role = replica")
            conn.execute(sa.text("UPDATE lab_result SET value = 9.9 WHERE id = :id"), {"id": lab_id})
        result = cli(url, tmp_path, "audit", "verify")
        assert_damaged(result, "data changed outside the audit")
        with engine.begin() as conn:
            conn.exec_driver_sql("SET session_replication_role = replica")
            conn.exec_driver_sql("UPDATE audit_event SET reason = 'forged' WHERE id = 50")
        assert_damaged(cli(url, tmp_path, "audit", "verify"), "audit row edited", 50)
    finally:
        engine.dispose()


def test_AT10_the_audit_export_is_csv_with_the_head_hash_and_neutralised_formulas(
    database: tuple[str, Path, int], tmp_path: Path
) -> None:
    url, _path, _ = database
    engine = create_engine(url)
    with Session(engine) as session:
        set_change_context(session, TEST_CONTEXT)
        factories.subject(session, subject_number="01-099", screening_number='=HYPERLINK("x")')
        session.commit()
    engine.dispose()
    out = tmp_path / "audit.csv"
    result = cli(url, tmp_path, "audit", "export", "--out", str(out), "--subject", "01-099")
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:3] == ["event", "occurred_at", "transaction_id"]
    values = {r[9]: r[12] for r in rows[1:] if len(r) > 12}
    assert values["screening_number"] == '\'=HYPERLINK("x")'
    assert rows[-1][0] == "chain_head_hash" and len(rows[-1][1]) == 64
    assert cli(url, tmp_path, "audit", "export", "--out", str(out), "--subject", "09-999").exit_code == EX_DATAERR
