"""Enforced sequencing on the forms (LK-03): the lymphodepletion and infusion forms of a child whose eligibility no
investigator's valid signature confirms are refused beside the form, with what was typed kept and nothing saved;
once the investigator signs, the same entry saves. Both engines."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin.extensions import db
from jk500db.models import AuditEvent, DrugAdministration, Infusion, Screening, Subject, User
from jk500db.models.vocabularies import RoleCode, SignatureMeaning
from jk500db.services import signatures
from jk500db.services.records import update_record
from tests.test_web_access import PASSWORD, MakeUser, log_in
from tests.web.test_data_entry import token

pytestmark = pytest.mark.usefixtures("demo_cohort")  # tests/web/conftest.py


def subject_id(app: Flask, number: str) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(Subject.id).where(Subject.subject_number == number)))


def rows(app: Flask, model: Any, number: str) -> tuple[int, int]:
    """(records of ``model`` for the subject, audit events of its table)."""
    table = model.__table__
    with app.app_context():
        records = db.session.scalar(
            sa.select(sa.func.count()).select_from(table).where(table.c.subject_id == subject_id(app, number))
        )
        events = db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.table_name == table.name)
        )
        return int(records or 0), int(events or 0)


def post_dose(client: FlaskClient, app: Flask, number: str, **fields: str) -> Any:
    """The lymphodepletion form (drug administration) as a data manager fills it in."""
    sid = subject_id(app, number)
    path = f"/crf/drug_administration/new/?subject_id={sid}"
    data = {
        "subject_id": str(sid),
        "agent": "fludarabine",
        "dose_number": "6",
        "route": "iv",
        "started_at": "2024-06-02T02:00",
        "weight_kg": "20.2",
        "height_cm": "113",
        "measured_on": "2024-05-27",
        "actual_dose": "20",
        "dose_unit": "mg",
        "csrf_token": token(client, path),
    }
    data.update(fields)
    return client.post(path, data=data)


def post_infusion(client: FlaskClient, app: Flask, number: str) -> Any:
    sid = subject_id(app, number)
    path = f"/crf/infusion/new/?subject_id={sid}"
    data = {
        "subject_id": str(sid),
        "infusion_number": "7",
        "started_at": "2024-09-16T02:00",
        "product_lot": "JK500-2409-07",
        "cells_infused": "348000000",
        "weight_kg": "34.8",
        "completed": "y",
        "csrf_token": token(client, path),
    }
    return client.post(path, data=data)


def sign_eligibility(app: Flask, make_user: MakeUser, number: str) -> None:
    """An investigator signs the subject's eligibility, re-entering the password (as on the sign-off page)."""
    investigator = make_user(RoleCode.INVESTIGATOR)
    with app.app_context():
        session = db.session()
        screening_id = session.scalar(sa.select(Screening.id).join(Subject).where(Subject.subject_number == number))
        assert screening_id is not None
        signer = session.get_one(User, investigator.id)
        signatures.sign(session, signer=signer, password=PASSWORD, username=signer.email,
                        meaning=SignatureMeaning.ELIGIBILITY_CONFIRMED, table_name="screening",
                        record_id=screening_id, now=dt.datetime.now(dt.UTC))  # fmt: skip
        session.commit()


def beside_the_subject_field(page: str) -> str:
    """The error the form shows under its subject input (Flask-Admin lists a field's errors under it)."""
    found = re.search(
        r'name="subject_id"(?:(?!name=").)*?<ul class="[^"]*text-danger[^"]*">\s*<li>(.*?)</li>', page, re.S
    )
    assert found, "no error beside the subject field"
    return html.unescape(found.group(1)).strip()


def test_LK03_lymphodepletion_for_an_unsigned_subject_is_refused_beside_the_form_and_nothing_is_saved(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    before = rows(app, DrugAdministration, "01-004")
    response = post_dose(client, app, "01-004")  # 01-004: a screen failure, never signed eligible
    assert response.status_code == 200
    page = response.text
    rule = (
        "01-004's eligibility has not been confirmed by an investigator's signature; lymphodepletion and IL-2 doses "
        "and JK500 infusions can be entered once it is signed (LK-03)"
    )
    assert beside_the_subject_field(page) == rule
    assert f"Not saved: subject: {rule}" in html.unescape(page)
    assert re.search(r'name="actual_dose"[^>]*value="20"|value="20"[^>]*name="actual_dose"', page)  # kept as typed
    assert "Traceback" not in page
    assert rows(app, DrugAdministration, "01-004") == before


def test_LK03_once_the_investigator_signs_the_same_entry_saves(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    assert post_dose(client, app, "01-003").status_code == 200  # not signed yet: refused
    sign_eligibility(app, make_user, "01-003")
    before = rows(app, DrugAdministration, "01-003")
    response = post_dose(client, app, "01-003")
    assert response.status_code == 302 and "/crf/drug_administration/details/" in response.location
    assert rows(app, DrugAdministration, "01-003")[0] == before[0] + 1


def test_LK03_a_changed_screening_must_be_signed_again_before_the_next_infusion(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    sign_eligibility(app, make_user, "01-006")
    manager = make_user(RoleCode.DATA_MANAGER)
    with app.app_context():
        screening = db.session.scalar(sa.select(Screening).join(Subject).where(Subject.subject_number == "01-006"))
        assert screening is not None
        update_record(db.session(), screening, {"infection_details": "Line infection treated, resolved"},
                      seen_version=screening.version, reason="clinic letter received")  # fmt: skip
        db.session.commit()
    log_in(client, manager.email)
    before = rows(app, Infusion, "01-006")
    response = post_infusion(client, app, "01-006")
    assert response.status_code == 200
    assert beside_the_subject_field(response.text) == (
        "01-006's eligibility signature was invalidated by a later change to the screening data; an investigator "
        "must re-sign eligibility before more lymphodepletion and IL-2 doses and JK500 infusions can be entered "
        "(LK-03)"
    )
    assert rows(app, Infusion, "01-006") == before
