"""Test databases: built by running the migrations, on SQLite and on PostgreSQL.

Every database test runs once per engine (the ``engine`` fixture is parametrised). Each test works inside a
transaction that is rolled back, with the session's own commits turned into SAVEPOINTs, so tests never see
each other's data. PostgreSQL comes from ``JK500DB_TEST_POSTGRES_URL`` (a server URL; the suite creates and
drops its own database there); without it those tests are skipped, unless ``JK500DB_REQUIRE_POSTGRES=1``
(as in CI), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import SYSTEM_ACTOR_ID, ChangeContext, set_change_context
from jk500db.db import create_engine
from jk500db.models.vocabularies import ChangeSource

POSTGRES_URL_VARIABLE = "JK500DB_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_VARIABLE = "JK500DB_REQUIRE_POSTGRES"


def postgres_server_url() -> str | None:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if url:
        return url
    if os.environ.get(REQUIRE_POSTGRES_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_POSTGRES_VARIABLE}=1 but {POSTGRES_URL_VARIABLE} is not set")
    return None


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database on the test server; drop it afterwards. Skips (or fails, when
    PostgreSQL is required) if no server is configured or reachable."""
    server = postgres_server_url()
    if server is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_VARIABLE}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get(REQUIRE_POSTGRES_VARIABLE) == "1":
            pytest.fail(f"PostgreSQL is required but not reachable at {server}: {exc.orig}")
        pytest.skip(f"PostgreSQL not reachable at {server}")
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with postgres_database("jk500db_test") as url:
        yield url


def _engine_for(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    engine = create_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """A database migrated to head, once per engine per test session."""
    yield from _engine_for(request)


#: The actor of test writes: the audit triggers refuse writes without one.
TEST_CONTEXT = ChangeContext(SYSTEM_ACTOR_ID, "system: pytest", ChangeSource.SYSTEM, "test data")


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection inside a transaction that is rolled back after the test, writing as the test actor."""
    with engine.connect() as conn:
        transaction = conn.begin()
        set_change_context(conn, TEST_CONTEXT)
        try:
            yield conn
        finally:
            if transaction.is_active:
                transaction.rollback()


@pytest.fixture
def session(connection: sa.Connection) -> Iterator[Session]:
    """An ORM session whose commits become SAVEPOINT releases inside the test's transaction."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def dialect(engine: sa.Engine) -> str:
    return engine.dialect.name


@pytest.fixture
def fresh_database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database URL of the requested engine (indirect param 'sqlite' or 'postgresql')."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    with postgres_database("jk500db_fresh") as url:
        yield url


ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With PostgreSQL required, a run in which no PostgreSQL test passed is a failure, whatever else passed, and
    so is a skip whose reason is not the engine the test does not apply to.
    Likewise with the browser required (``JK500DB_REQUIRE_BROWSER=1``, as in CI): a run in which a browser test
    was skipped, or none passed, fails (tests/browser/conftest.py)."""
    require_browser_variable = "JK500DB_REQUIRE_BROWSER"
    require_postgres = os.environ.get(REQUIRE_POSTGRES_VARIABLE) == "1"
    require_browser = os.environ.get(require_browser_variable) == "1"
    if not (require_postgres or require_browser) or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = reporter.stats.get("passed", []) if reporter else []
    skipped = reporter.stats.get("skipped", []) if reporter else []

    def is_browser_test(report: pytest.TestReport | pytest.CollectReport) -> bool:
        # The marker, or the folder: a module skipped as a whole reports no markers.
        return "browser" in getattr(report, "keywords", {}) or report.nodeid.startswith("tests/browser/")

    def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
        longrepr = report.longrepr
        return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)

    problems: list[str] = []
    if require_postgres and not any("postgresql" in report.nodeid for report in passed):
        problems.append(f"{REQUIRE_POSTGRES_VARIABLE}=1 but no PostgreSQL test passed")
    if require_postgres:
        # In CI the only acceptable skip is a test that holds for one engine only (its reason names it): a skip
        # for a missing file or tool would let a whole check silently vanish, as a schema path once did.
        unexpected = [
            report
            for report in skipped
            if not is_browser_test(report) and not any(e in skip_reason(report) for e in ("PostgreSQL", "SQLite"))
        ]
        if unexpected:
            problems.append(
                f"{len(unexpected)} test(s) skipped for a reason other than their engine, e.g. "
                f"{unexpected[0].nodeid}: {skip_reason(unexpected[0])}"
            )
    if require_browser:
        skipped_browser = sum(1 for report in skipped if is_browser_test(report))
        if skipped_browser:
            problems.append(f"{require_browser_variable}=1 but {skipped_browser} browser test(s) were skipped")
        elif not any(is_browser_test(report) for report in passed):
            problems.append(f"{require_browser_variable}=1 but no browser test passed")
    if problems:
        if reporter:
            for problem in problems:
                reporter.write_line(problem, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
