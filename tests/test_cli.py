"""The jk500db command: init, user create, demo; clean errors with conventional exit codes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from jk500db import migrate
from jk500db.audit.context import set_change_context, system_context
from jk500db.cli import EX_CONFIG, EX_DATAERR, EX_UNAVAILABLE, main
from jk500db.db import create_engine
from jk500db.models import AuditEvent, CtcaeTerm, LabResult, Site, Subject, User
from tests.conftest import ENGINES


def run(url: str, *args: str, instance: Path, input: str | None = None) -> Result:
    env = {"JK500DB_DATABASE_URL": url, "JK500DB_INSTANCE_DIR": str(instance)}
    return CliRunner().invoke(main, list(args), env=env, input=input)


def count(url: str, model: type) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(model)) or 0
    finally:
        engine.dispose()


def assert_clean_error(result: Result, exit_code: int, *words: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_init_creates_the_database_and_is_idempotent(fresh_database: str, tmp_path: Path) -> None:
    first = run(fresh_database, "init", instance=tmp_path)
    assert first.exit_code == 0, first.output
    assert f"at migration {migrate.head_revision()}" in first.output
    assert "CTCAE v5.0 terms added: 837." in first.output
    second = run(fresh_database, "init", instance=tmp_path)
    assert second.exit_code == 0, second.output
    assert "CTCAE v5.0 terms added: 0." in second.output
    assert count(fresh_database, CtcaeTerm) == 837
    assert count(fresh_database, User) == 0  # PW-06: a plain install has no accounts at all


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_init_demo_loads_the_synthetic_cohort_and_prints_one_login_per_role(
    fresh_database: str, tmp_path: Path
) -> None:
    result = run(fresh_database, "init", "--demo", instance=tmp_path)
    assert result.exit_code == 0, result.output
    assert count(fresh_database, Subject) == 12
    for role in ("data_manager", "monitor", "investigator", "statistician", "admin"):
        assert role in result.output
    saved = tmp_path / "demo_credentials.txt"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert len(saved.read_text().splitlines()) == 5


def test_init_creates_the_default_sqlite_file_in_the_instance_folder(tmp_path: Path) -> None:
    """With no URL set, the database is a file in ./instance/ of the working directory."""
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["init"], env={"JK500DB_DATABASE_URL": None, "JK500DB_INSTANCE_DIR": None})
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "instance" / "jk500db.sqlite3").exists()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", ["JK500DB_DATABASE_URL", "not a database URL"]),
        ("mysql://root@localhost/jk500", ["not supported"]),
        ("sqlite://", ["in-memory"]),
        ("postgresql+psycopg2://postgres@127.0.0.1/x", ["psycopg 3"]),
    ],
)
def test_bad_database_urls_are_configuration_errors(url: str, words: list[str], tmp_path: Path) -> None:
    assert_clean_error(run(url, "init", instance=tmp_path), EX_CONFIG, *words)


def test_an_unreachable_database_is_reported_as_unavailable(tmp_path: Path) -> None:
    result = run("postgresql+psycopg://postgres@127.0.0.1:1/nowhere", "init", instance=tmp_path)
    assert_clean_error(result, EX_UNAVAILABLE, "cannot open the database")


def test_a_database_at_an_unknown_revision_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.sqlite3'}"
    assert run(url, "init", instance=tmp_path).exit_code == 0
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    engine.dispose()
    assert_clean_error(run(url, "init", instance=tmp_path), EX_CONFIG, "f00dfeed", "newer release")


def test_commands_on_an_uninitialised_database_say_to_run_init(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = run(
        url,
        "user",
        "create",
        "--role",
        "monitor",
        "--name",
        "M",
        "m@example.org",
        instance=tmp_path,
        input="a-long-enough-passphrase\na-long-enough-passphrase\n",
    )
    assert_clean_error(result, EX_CONFIG, "jk500db init")


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_user_create_prompts_for_the_password_and_stores_only_its_hash(fresh_database: str, tmp_path: Path) -> None:
    assert run(fresh_database, "init", instance=tmp_path).exit_code == 0
    password = "correct horse battery staple 42"
    result = run(
        fresh_database,
        "user",
        "create",
        "--role",
        "investigator",
        "--name",
        "Dr Wang Min",
        "Wang.Min@Example.org",
        instance=tmp_path,
        input=f"{password}\n{password}\n",
    )
    assert result.exit_code == 0, result.output
    assert password not in result.output
    engine = create_engine(fresh_database)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(User.email, User.role_code, User.password_hash)).one()
    finally:
        engine.dispose()
    assert row.email == "wang.min@example.org"
    assert row.role_code == "investigator"
    assert row.password_hash.startswith("$argon2") and password not in row.password_hash


def test_user_create_refuses_a_short_password_naming_the_field(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'u.sqlite3'}"
    assert run(url, "init", instance=tmp_path).exit_code == 0
    result = run(
        url,
        "user",
        "create",
        "--role",
        "monitor",
        "--name",
        "M",
        "m@example.org",
        instance=tmp_path,
        input="short\nshort\n",
    )
    assert_clean_error(result, EX_DATAERR, "password")
    assert count(url, User) == 0


def test_user_create_refuses_a_duplicate_email(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dup.sqlite3'}"
    assert run(url, "init", instance=tmp_path).exit_code == 0
    password = "an entirely adequate passphrase"
    args = ("user", "create", "--role", "monitor", "--name", "M", "m@example.org")
    assert run(url, *args, instance=tmp_path, input=f"{password}\n{password}\n").exit_code == 0
    result = run(url, *args, instance=tmp_path, input=f"{password}\n{password}\n")
    assert_clean_error(result, EX_DATAERR, "email")
    assert count(url, User) == 1


def test_user_create_refuses_an_unknown_role(tmp_path: Path) -> None:
    result = run(
        f"sqlite:///{tmp_path / 'r.sqlite3'}", "user", "create", "--role", "god", "x@example.org", instance=tmp_path
    )
    assert result.exit_code == 2
    assert "god" in result.output


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_demo_generates_a_multi_site_study(fresh_database: str, tmp_path: Path) -> None:
    assert run(fresh_database, "init", instance=tmp_path).exit_code == 0
    result = run(fresh_database, "demo", "--subjects", "25", "--sites", "2", "--seed", "7", instance=tmp_path)
    assert result.exit_code == 0, result.output
    assert count(fresh_database, Subject) == 25


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_demo_without_sites_keeps_one_site_for_a_small_study_and_vacuums_postgresql(
    fresh_database: str, tmp_path: Path
) -> None:
    assert run(fresh_database, "init", instance=tmp_path).exit_code == 0
    result = run(fresh_database, "demo", "--subjects", "5", instance=tmp_path)
    assert result.exit_code == 0, result.output
    assert "5 synthetic subjects at 1 sites (02-02)" in result.output
    engine = create_engine(fresh_database)
    try:
        with engine.connect() as conn:
            assert set(conn.scalars(sa.select(Site.code))) == {"01", "02"}
            if engine.dialect.name != "postgresql":
                assert "ANALYZE" not in result.output
                return
            # Run by the command itself (autovacuum's runs are counted in last_autovacuum/last_autoanalyze).
            done = conn.execute(
                sa.text(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"
                )
            ).scalars()
            assert {"subject", "lab_result", "audit_event"} <= set(done)
            assert "(VACUUM ANALYZE)" in result.output
    finally:
        engine.dispose()


def test_demo_without_sites_takes_as_many_as_2000_subjects_need(tmp_path: Path) -> None:
    """2000 subjects need three sites of 999. Generating them takes minutes, so the sites they would take are
    made to exist already: the refusal names all three, where the former default refused 2000 subjects."""
    url = f"sqlite:///{tmp_path / 'sites.sqlite3'}"
    assert run(url, "init", instance=tmp_path).exit_code == 0
    assert run(url, "demo", "--subjects", "3", "--sites", "3", instance=tmp_path).exit_code == 0
    result = run(url, "demo", "--subjects", "2000", instance=tmp_path)
    assert_clean_error(result, EX_DATAERR, "sites 02, 03, 04 already exist")
    assert "do not fit" not in result.output


def test_demo_without_sites_refuses_more_subjects_than_every_site_holds(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path / 'big.sqlite3'}", "demo", "--subjects", "97903", instance=tmp_path)
    assert_clean_error(result, EX_DATAERR, "--subjects: at most 97902")


def test_the_console_script_is_installed_and_answers() -> None:
    script = Path(sys.executable).parent / "jk500db"
    completed = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0
    for command in ("init", "serve", "user", "demo"):
        assert command in completed.stdout


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_derive_recomputes_values_changed_behind_the_apps_back(fresh_database: str, tmp_path: Path) -> None:
    """Issue 4: a grade overwritten by raw SQL (audited, but outside the derivations) is put right by
    `jk500db derive`, and the correction is itself audited."""
    assert run(fresh_database, "init", "--demo", instance=tmp_path).exit_code == 0
    engine = create_engine(fresh_database)
    try:
        with engine.begin() as conn:
            set_change_context(conn, system_context("pytest", reason="tampering for the test"))
            graded = conn.scalar(sa.select(sa.func.min(LabResult.id)).where(LabResult.ctcae_grade.is_not(None)))
            expected = conn.scalar(sa.select(LabResult.ctcae_grade).where(LabResult.id == graded))
            conn.execute(sa.update(LabResult).where(LabResult.id == graded).values(ctcae_grade=5))
        result = run(fresh_database, "derive", instance=tmp_path)
        assert result.exit_code == 0, result.output
        assert "Recomputed the derived values of 12 subject(s)." in result.output
        with engine.connect() as conn:
            assert conn.scalar(sa.select(LabResult.ctcae_grade).where(LabResult.id == graded)) == expected
            reasons = conn.scalars(
                sa.select(AuditEvent.reason).where(
                    AuditEvent.table_name == "lab_result",
                    AuditEvent.row_key == str(graded),
                    AuditEvent.field_name == "ctcae_grade",
                )
            ).all()
            assert reasons[-1] == "derived values recomputed on request"
    finally:
        engine.dispose()
