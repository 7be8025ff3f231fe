"""The locks page (issue 5, LK-01, LK-02): only administrators freeze, lock and unlock; a lock set here really
stops data changes; unlocking needs a reason, which the audit trail keeps; refusals name the field and the rule
and keep what was typed. Both engines."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin.extensions import db
from jk500db.models import AuditEvent, LabResult, RecordLock, User
from jk500db.models.vocabularies import AuditAction, RoleCode
from jk500db.services.records import update_record
from tests import factories
from tests.test_web_access import MakeUser, csrf_token, log_in, redirects_to_login, statements_per_get
from tests.web.casebooks import Casebook, subject_with_a_lab

#: Subject numbers unique within the module's database (its tests share it).
_numbers = itertools.count(301)


def build_casebook(app: Flask) -> Casebook:
    """A subject with a completed visit D1 holding one lab result."""
    return subject_with_a_lab(app, f"01-{next(_numbers):03d}")


def token(client: FlaskClient, path: str = "/locks/") -> str:
    return csrf_token(client, path)


def as_admin(app: Flask, make_user: MakeUser) -> FlaskClient:
    client = app.test_client()
    log_in(client, make_user(RoleCode.ADMIN).email)
    return client


def lock_subject(client: FlaskClient, book: Casebook, mode: str = "freeze", reason: str = "ready for SDV") -> int:
    response = client.post("/locks/create", data={"csrf_token": token(client), "level": "subject", "mode": mode,
                                                  "subject": book.subject_number, "reason": reason})  # fmt: skip
    assert response.status_code == 302, response.text
    return active_lock_id(client.application, book)


def active_lock_id(app: Flask, book: Casebook) -> int:
    with app.app_context():
        lock_id = db.session.scalar(
            sa.select(RecordLock.id).where(RecordLock.subject_id == book.subject_id, RecordLock.unlocked_at.is_(None))
        )
        assert lock_id is not None
        return lock_id


def correct_the_lab(app: Flask, book: Casebook, user_id: int) -> None:
    """A data manager's correction through the records service, as the data-entry form makes it."""
    with app.app_context():
        session = db.session()
        factories.act(session, session.get_one(User, user_id), "value re-read from the report")
        lab = session.get_one(LabResult, book.lab_id)
        try:
            update_record(session, lab, {"value": Decimal("0.7"), "value_text": "0.7"}, seen_version=lab.version,
                          reason="value re-read from the report")  # fmt: skip
            session.commit()
        finally:
            session.rollback()


def lab_value(app: Flask, book: Casebook) -> Decimal | None:
    with app.app_context():
        return db.session.get_one(LabResult, book.lab_id).value


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (RoleCode.ADMIN, 200),
        (RoleCode.DATA_MANAGER, 403),
        (RoleCode.MONITOR, 403),
        (RoleCode.INVESTIGATOR, 403),
        (RoleCode.STATISTICIAN, 403),
    ],
)
def test_AC01_only_administrators_open_the_locks_page(
    client: FlaskClient, make_user: MakeUser, role: RoleCode, status: int
) -> None:
    assert redirects_to_login(client.get("/locks/"))
    log_in(client, make_user(role).email)
    assert client.get("/locks/").status_code == status


@pytest.mark.parametrize("role", [RoleCode.DATA_MANAGER, RoleCode.MONITOR])
def test_AC01_other_roles_cannot_post_a_lock(app: Flask, make_user: MakeUser, role: RoleCode) -> None:
    book = build_casebook(app)
    client = app.test_client()
    log_in(client, make_user(role).email)
    form = {"level": "subject", "mode": "lock", "subject": book.subject_number, "reason": "x"}
    response = client.post("/locks/create", data={"csrf_token": token(client, "/account/password"), **form})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(RecordLock.id).where(RecordLock.subject_id == book.subject_id)) is None


def test_LK01_a_subject_frozen_here_refuses_data_changes_until_unlocked_with_a_reason(
    app: Flask, make_user: MakeUser
) -> None:
    book = build_casebook(app)
    admin = as_admin(app, make_user)
    lock_id = lock_subject(admin, book, mode="freeze", reason="ready for SDV")
    page = admin.get("/locks/").text
    assert f"Subject {book.subject_number}: now frozen." in page
    active = re.search(r'<table[^>]*id="active-locks".*?</table>', page, re.S)
    assert active and f"Subject {book.subject_number}" in active.group(0) and "ready for SDV" in active.group(0)

    data_manager = make_user(RoleCode.DATA_MANAGER)
    with pytest.raises(sa.exc.DatabaseError, match="jk500-lock: the subject is frozen: its data cannot change"):
        correct_the_lab(app, book, data_manager.id)
    assert lab_value(app, book) == Decimal("0.4")

    refused = admin.post(f"/locks/{lock_id}/unlock", data={"csrf_token": token(admin), "unlock_reason": "   "})
    assert refused.status_code == 200
    assert "Not saved: Reason for unlocking: unlocking needs a reason" in refused.text
    assert active_lock_id(app, book) == lock_id

    why = "site corrects a transcription error found at SDV"
    lifted = admin.post(f"/locks/{lock_id}/unlock", data={"csrf_token": token(admin), "unlock_reason": why})
    assert lifted.status_code == 302
    page = admin.get("/locks/").text
    assert "Lifted. The reason is kept with the lock and in the audit trail." in page
    lifted_table = re.search(r'<table[^>]*id="lifted-locks".*?</table>', page, re.S)
    assert lifted_table and why in lifted_table.group(0) and "Anna Berg" in lifted_table.group(0)
    with app.app_context():
        events = db.session.execute(
            sa.select(AuditEvent.field_name, AuditEvent.new_value, AuditEvent.reason).where(
                AuditEvent.table_name == "record_lock",
                AuditEvent.row_key == str(lock_id),
                AuditEvent.action == AuditAction.UPDATE,
            )
        ).all()
    assert {field for field, _, _ in events} == {"unlocked_by_id", "unlocked_at", "unlock_reason"}
    assert {reason for _, _, reason in events} == {why}
    assert ("unlock_reason", why, why) in {tuple(event) for event in events}

    correct_the_lab(app, book, data_manager.id)  # no longer refused
    assert lab_value(app, book) == Decimal("0.7")


def test_LK01_a_visit_of_another_subject_is_refused_naming_the_field_and_the_form_keeps_what_was_typed(
    app: Flask, make_user: MakeUser
) -> None:
    book, other = build_casebook(app), build_casebook(app)
    admin = as_admin(app, make_user)
    form = {"level": "visit", "mode": "lock", "subject": book.subject_number, "visit": f"{other.subject_number}|D1|1",
            "form": "", "reason": "monitoring visit <done> & signed"}  # fmt: skip
    response = admin.post("/locks/create", data={"csrf_token": token(admin), **form})
    assert response.status_code == 200
    assert "Not saved: Visit: must be a visit of the subject" in response.text
    assert 'class="invalid-feedback" id="lock-visit-error">must be a visit of the subject' in response.text
    assert f'<option value="{book.subject_number}" selected>' in response.text
    assert f'<option value="{other.subject_number}|D1|1" selected>' in response.text
    assert '<option value="visit" selected>' in response.text and '<option value="lock" selected>' in response.text
    assert ">monitoring visit &lt;done&gt; &amp; signed</textarea>" in response.text  # kept, and escaped
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RecordLock).where(
            RecordLock.subject_id.in_([book.subject_id, other.subject_id]))) == 0  # fmt: skip


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"level": "subject", "mode": "lock", "reason": "x"}, "Subject: a subject lock names its subject"),
        (
            {"level": "study", "mode": "lock", "subject": "SUBJECT", "reason": "x"},
            "Subject: a study lock does not name a subject",
        ),
        ({"level": "form", "mode": "lock", "subject": "SUBJECT", "reason": "x"}, "Form: a form lock names its form"),
        (
            {"level": "subject", "mode": "lock", "subject": "SUBJECT", "reason": " "},
            "Reason: say why the data are frozen or locked",
        ),
        ({"level": "everything", "mode": "lock", "reason": "x"}, "Level: choose one of study, subject, visit, form"),
        ({"level": "study", "mode": "", "reason": "x"}, "Mode: choose one of freeze, lock"),
        ({"level": "subject", "mode": "lock", "subject": "99-999", "reason": "x"}, "Subject: there is no such subject"),
    ],
)
def test_LK01_a_refused_lock_names_the_field_and_the_rule(
    app: Flask, make_user: MakeUser, form: dict[str, str], message: str
) -> None:
    book = build_casebook(app)
    admin = as_admin(app, make_user)
    sent = {key: (book.subject_number if value == "SUBJECT" else value) for key, value in form.items()}
    response = admin.post("/locks/create", data={"csrf_token": token(admin), **sent})
    assert response.status_code == 200
    assert f"Not saved: {message}" in response.text
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RecordLock).where(
            RecordLock.unlocked_at.is_(None), sa.or_(RecordLock.subject_id == book.subject_id,
                                                     RecordLock.subject_id.is_(None)))) == 0  # fmt: skip


def test_LK01_a_form_lock_at_one_visit_is_described_in_words(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    admin = as_admin(app, make_user)
    admin.post("/locks/create", data={"csrf_token": token(admin), "level": "form", "mode": "lock",
                                      "subject": book.subject_number, "visit": f"{book.subject_number}|D1|1",
                                      "form": "labs", "reason": "labs final"})  # fmt: skip
    assert f"Subject {book.subject_number}, Labs form at visit D1" in admin.get("/locks/").text
    lock_id = active_lock_id(app, book)
    admin.post(f"/locks/{lock_id}/unlock", data={"csrf_token": token(admin), "unlock_reason": "tidy up the test"})


def test_AC03_lock_and_unlock_without_the_csrf_token_are_refused(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    admin = as_admin(app, make_user)
    response = admin.post("/locks/create", data={"level": "subject", "mode": "lock", "subject": book.subject_number,
                                                 "reason": "final"})  # fmt: skip
    assert response.status_code == 400
    lock_id = lock_subject(admin, book)
    response = admin.post(f"/locks/{lock_id}/unlock", data={"unlock_reason": "because"})
    assert response.status_code == 400
    assert active_lock_id(app, book) == lock_id
    admin.post(f"/locks/{lock_id}/unlock", data={"csrf_token": token(admin), "unlock_reason": "tidy up the test"})


def test_unlocking_a_lock_that_does_not_exist_says_so(app: Flask, make_user: MakeUser) -> None:
    admin = as_admin(app, make_user)
    response = admin.post("/locks/999999/unlock", data={"csrf_token": token(admin), "unlock_reason": "x"},
                          follow_redirects=True)  # fmt: skip
    assert "Not saved: that lock does not exist" in response.text


def test_the_page_costs_the_same_number_of_statements_for_few_or_many_locks(app: Flask, make_user: MakeUser) -> None:
    admin = as_admin(app, make_user)
    books = [build_casebook(app) for _ in range(2)]
    for book in books:
        lock_subject(admin, book)
    few = statements_per_get(app, admin, "/locks/")
    for book in [build_casebook(app) for _ in range(10)]:
        lock_id = lock_subject(admin, book, mode="lock")
        admin.post(f"/locks/{lock_id}/unlock", data={"csrf_token": token(admin), "unlock_reason": "released"})
        lock_subject(admin, book)
    assert statements_per_get(app, admin, "/locks/") == few
    for book in books:  # leave nothing frozen for the module's other tests
        admin.post(f"/locks/{active_lock_id(app, book)}/unlock",
                   data={"csrf_token": token(admin), "unlock_reason": "tidy up the test"})  # fmt: skip
