"""A small subject for the page tests that work on one form: a completed visit D1 holding one lab result."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Flask

from admin.extensions import db
from jk500db.models import Visit
from jk500db.models.vocabularies import VisitStatus
from tests import factories


@dataclass(frozen=True)
class Casebook:
    subject_number: str
    subject_id: int
    visit_id: int
    lab_id: int


def subject_with_a_lab(app: Flask, number: str, *, adverse_event: bool = False) -> Casebook:
    """Subject ``number`` with a completed visit D1 holding one lab result (and one adverse event if asked)."""
    with app.app_context():
        session = db.session()
        subject = factories.subject(session, subject_number=number, screening_number=f"S{number}")
        visit = Visit(subject_id=subject.id, visit_code="D1", status=VisitStatus.COMPLETED,
                      visit_date=dt.date(2026, 3, 1))  # fmt: skip
        session.add(visit)
        session.flush()
        lab = factories.lab_result(session, subject_id=subject.id, visit_id=visit.id)
        if adverse_event:
            factories.adverse_event(session, subject_id=subject.id)
        session.commit()
        return Casebook(number, subject.id, visit.id, lab.id)
