"""Web page tests share the app, client, clock and user fixtures of tests/test_web_access.py (both engines)."""

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from jk500db.audit.context import set_change_context, system_context
from jk500db.db import create_engine
from jk500db.demo.cohort import load_demo_cohort
from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
from jk500db.services.terminology import load_ctcae_terms
from tests.test_web_access import app, client, clock, database_url, make_user  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def demo_cohort(database_url: str) -> Iterator[None]:  # noqa: F811  (database_url is the fixture imported above)
    """The study definition, the CTCAE list and the 12 synthetic demo subjects, once per module and engine."""
    engine = create_engine(database_url)
    with Session(engine) as session:
        set_change_context(session, system_context("pytest web pages", reason="demo cohort for the web pages"))
        load_study_definition(session)
        load_ctcae_terms(session, SEED_DATA_DIR / "ctcae_v5.0_terms.csv")
        load_demo_cohort(session)
        session.commit()
    engine.dispose()
    yield
