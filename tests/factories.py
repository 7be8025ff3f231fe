"""Minimal valid records for tests; each takes overrides for the field under test."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import ChangeContext, set_change_context
from jk500db.models import AdverseEvent, CtcaeTerm, LabResult, Site, Study, Subject, User
from jk500db.models.vocabularies import ChangeSource, LabTest, RoleCode, Sex
from jk500db.services import accounts

UTC = dt.UTC


def study_site(session: Session) -> Site:
    site = session.scalar(sa.select(Site).join(Study).where(Study.code == "TEST"))
    if site is not None:
        return site
    study = Study(code="TEST", title="Test study", sponsor="Test sponsor", phase="Early Phase 1", planned_enrolment=12)
    session.add(study)
    session.flush()
    site = Site(study_id=study.id, code="01", name="Test hospital", country="CHN")
    session.add(site)
    session.flush()
    return site


def subject(session: Session, **overrides: Any) -> Subject:
    values: dict[str, Any] = {
        "site_id": study_site(session).id,
        "subject_number": "01-001",
        "screening_number": "S001",
        "sex": Sex.FEMALE,
        "birth_date": dt.date(2015, 3, 14),
        "synthetic": True,
    }
    values.update(overrides)
    record = Subject(**values)
    session.add(record)
    session.flush()
    return record


def ctcae_term(session: Session, term: str = "Fever") -> CtcaeTerm:
    found = session.scalar(sa.select(CtcaeTerm).where(CtcaeTerm.term == term))
    if found is None:
        found = CtcaeTerm(meddra_code=str(10000000 + abs(hash(term)) % 9999999), soc="General disorders", term=term)
        session.add(found)
        session.flush()
    return found


def adverse_event(session: Session, **overrides: Any) -> AdverseEvent:
    values: dict[str, Any] = {
        "ae_number": 1,
        "onset_date": dt.date(2025, 1, 10),
        "grade": 2,
    }
    values.update(overrides)
    if "subject_id" not in values:
        values["subject_id"] = subject(session).id
    if "ctcae_term_id" not in values:
        values["ctcae_term_id"] = ctcae_term(session).id
    record = AdverseEvent(**values)
    session.add(record)
    session.flush()
    return record


def lab_result(session: Session, **overrides: Any) -> LabResult:
    values: dict[str, Any] = {
        "test_code": LabTest.NEUT,
        "collected_at": dt.datetime(2025, 1, 10, 8, 30, tzinfo=UTC),
        "value_text": "0.4",
        "value": Decimal("0.4"),
        "unit": "10^9/L",
        "lln": Decimal("1.5"),
        "uln": Decimal("8.0"),
    }
    values.update(overrides)
    if "subject_id" not in values:
        values["subject_id"] = subject(session).id
    record = LabResult(**values)
    session.add(record)
    session.flush()
    return record


#: One argon2 hash for all test users (hashing is deliberately slow; these users never log in).
TEST_PASSWORD = "violet tractor sings at dawn"
_TEST_PASSWORD_HASH: str | None = None


def user(session: Session, role: RoleCode, *, full_name: str | None = None) -> User:
    """A user of ``role`` with a unique e-mail and the password TEST_PASSWORD."""
    global _TEST_PASSWORD_HASH
    if _TEST_PASSWORD_HASH is None:
        _TEST_PASSWORD_HASH = accounts.hash_password(TEST_PASSWORD)
    accounts.ensure_roles(session)
    record = User(
        email=f"{role.value}.{uuid.uuid4().hex[:8]}@hospital.example",
        full_name=full_name or f"Test {role.value.replace('_', ' ').title()}",
        role_code=role,
        password_hash=_TEST_PASSWORD_HASH,
        must_change_password=False,
        created_at=dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )
    session.add(record)
    session.flush()
    return record


def act(session: Session, actor: User, reason: str | None = None) -> None:
    """Write as ``actor`` from the web UI, with ``reason`` for changes."""
    set_change_context(session, ChangeContext(actor.id, actor.full_name, ChangeSource.UI, reason))
