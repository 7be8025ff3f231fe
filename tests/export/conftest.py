"""Export tests share one study per engine, built once per test session and never changed by a test.

The study is the 12-child demo cohort plus 24 generated subjects on two more sites, so every domain has rows
from more than one site, removed records, corrections and missing-data reasons. A test that needs to change
data (an edit for ``--as-of``) makes its own database with ``fresh_study``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import set_change_context, system_context
from jk500db.db import create_engine
from jk500db.demo.cohort import load_demo_cohort
from jk500db.demo.generator import generate_study
from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
from jk500db.services.terminology import load_ctcae_terms
from tests.conftest import ENGINES, postgres_database

GENERATED_SUBJECTS = 24


def build_study(url: str, *, generated: int = GENERATED_SUBJECTS) -> None:
    """Migrate ``url`` and load the study definition, CTCAE terms, the demo cohort and generated subjects."""
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        with Session(engine) as session:
            set_change_context(session, system_context("pytest exports", reason="study for the export tests"))
            load_study_definition(session)
            load_ctcae_terms(session, SEED_DATA_DIR / "ctcae_v5.0_terms.csv")
            load_demo_cohort(session)
            session.commit()
        if generated:
            with Session(engine) as session:
                set_change_context(session, system_context("pytest exports", reason="generated subjects"))
                generate_study(session, subjects=generated, sites=2, seed=500)
                session.commit()
    finally:
        engine.dispose()


@contextmanager
def study_database(engine: str, folder: Path, name: str, *, generated: int = GENERATED_SUBJECTS) -> Iterator[str]:
    """A new database on ``engine`` ("sqlite": a file in ``folder``) holding the export study; dropped after."""
    if engine == "sqlite":
        url = f"sqlite:///{folder / f'{name}.sqlite3'}"
        build_study(url, generated=generated)
        yield url
        return
    with postgres_database(f"jk500db_{name}") as url:
        build_study(url, generated=generated)
        yield url


@pytest.fixture(scope="session", params=ENGINES)
def study_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with the export study, once per engine per test session (read only for tests)."""
    with study_database(request.param, tmp_path_factory.mktemp("export-study"), "export") as url:
        yield url


@pytest.fixture
def study_engine(study_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(study_url)
    yield engine
    engine.dispose()


@pytest.fixture
def study(study_engine: sa.Engine) -> Iterator[Session]:
    """A session on the export study; whatever a test writes is rolled back at the end."""
    with Session(study_engine) as session:
        set_change_context(session, system_context("pytest exports", reason="test change, rolled back"))
        yield session
        session.rollback()
