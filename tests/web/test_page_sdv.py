"""The SDV worklist (issue 5): monitors see the forms that need verifying, mark them verified (one or several at
once), a later change brings a form back as "cleared", other roles read without acting, and the page costs a
constant number of SQL statements. Both engines."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin.extensions import db
from jk500db.models import LabResult, SdvMark, User
from jk500db.models.vocabularies import FormCode, LockLevel, LockMode, RoleCode
from jk500db.services import locks
from jk500db.services.records import update_record
from tests import factories
from tests.test_web_access import MakeUser, csrf_token, log_in, redirects_to_login, statements_per_get
from tests.web.casebooks import Casebook, subject_with_a_lab

#: Subject numbers unique within the module's database (its tests share it).
_numbers = itertools.count(201)


def build_casebook(app: Flask) -> Casebook:
    """A subject with demographics, a completed visit D1 with one lab result, and an adverse event."""
    return subject_with_a_lab(app, f"01-{next(_numbers):03d}", adverse_event=True)


def rows(page: str) -> dict[tuple[str, str], str]:
    """(visit code, form) -> SDV state of each row the page lists."""
    found = re.findall(
        r'<tr data-subject="[^"]+" data-visit="([^"]*)" data-form="([^"]+)"\s+data-state="([a-z]+)"', page
    )
    return {(visit, form): state for visit, form, state in found}


def token(client: FlaskClient, path: str = "/sdv/") -> str:
    return csrf_token(client, path)


def key(book: Casebook, form: FormCode, visit: str | None = "D1") -> str:
    return f"{book.subject_number}|{visit}|1|{form.value}" if visit else f"{book.subject_number}|||{form.value}"


def marks(app: Flask, book: Casebook) -> list[SdvMark]:
    with app.app_context():
        return list(db.session.scalars(sa.select(SdvMark).where(SdvMark.subject_id == book.subject_id)))


def logged_in(app: Flask, make_user: MakeUser, role: RoleCode) -> tuple[FlaskClient, User]:
    client = app.test_client()
    user = make_user(role)
    log_in(client, user.email)
    return client, user


def named_user(app: Flask, role: RoleCode, full_name: str) -> User:
    """A user with a name of their own (``make_user``'s are all Anna Berg), to tell who did what."""
    with app.app_context():
        user = factories.user(db.session(), role, full_name=full_name)
        db.session.commit()
        db.session.expunge(user)
        return user


def change_lab(app: Flask, book: Casebook, user: User, reason: str) -> None:
    """A data manager corrects the lab value through the records service, as the data-entry form does."""
    with app.app_context():
        session = db.session()
        factories.act(session, session.get_one(User, user.id), reason)
        lab = session.get_one(LabResult, book.lab_id)
        update_record(session, lab, {"value": Decimal("0.6"), "value_text": "0.6"}, seen_version=lab.version,
                      reason=reason)  # fmt: skip
        session.commit()


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (RoleCode.MONITOR, 200),
        (RoleCode.DATA_MANAGER, 200),
        (RoleCode.INVESTIGATOR, 200),
        (RoleCode.ADMIN, 200),
        (RoleCode.STATISTICIAN, 403),
    ],
)
def test_AC01_role_matrix_of_the_worklist(
    client: FlaskClient, make_user: MakeUser, role: RoleCode, status: int
) -> None:
    assert redirects_to_login(client.get("/sdv/"))
    log_in(client, make_user(role).email)
    assert client.get("/sdv/").status_code == status


def test_SDV_a_monitor_sees_the_never_verified_forms_of_a_subject(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    page = monitor.get(f"/sdv/?subject={book.subject_number}").text
    assert rows(page) == {
        ("", "demographics"): "never",
        ("", "adverse_events"): "never",
        ("D1", "vitals"): "never",  # the visit row: its date is entered with the vitals
        ("D1", "labs"): "never",
    }
    assert "not at a visit" in page and "Never verified" in page
    assert f'value="{key(book, FormCode.LABS)}"' in page  # a tick box and a Verify button per form
    assert "Mark the ticked forms verified" in page


def test_SDV_marking_a_form_verified_takes_it_off_the_default_list_and_a_change_brings_it_back_cleared(
    app: Flask, make_user: MakeUser
) -> None:
    book = build_casebook(app)
    monitor, monitor_user = logged_in(app, make_user, RoleCode.MONITOR)
    listing = f"/sdv/?subject={book.subject_number}"
    sent = monitor.post("/sdv/mark", data={"csrf_token": token(monitor, listing), "only": key(book, FormCode.LABS),
                                           "subject": book.subject_number})  # fmt: skip
    assert sent.status_code == 302 and sent.headers["Location"] == listing
    assert "Marked 1 form source-data-verified." in monitor.get(listing).text

    assert ("D1", "labs") not in rows(monitor.get(listing).text)
    everything = monitor.get(f"{listing}&state=all").text
    assert rows(everything)[("D1", "labs")] == "verified"
    assert f"by {monitor_user.full_name}, 2026-03-02 09:00 UTC" in everything
    assert rows(monitor.get(f"{listing}&state=verified").text) == {("D1", "labs"): "verified"}

    data_manager = named_user(app, RoleCode.DATA_MANAGER, "Dana Dee")
    change_lab(app, book, data_manager, "value re-read from the lab report")
    page = monitor.get(listing).text
    assert rows(page)[("D1", "labs")] == "cleared"
    assert rows(monitor.get(f"{listing}&state=cleared").text) == {("D1", "labs"): "cleared"}
    (mark,) = marks(app, book)
    assert mark.cleared_at is not None
    cleared = re.search(r"Cleared</span> (\d{4}-\d\d-\d\d \d\d:\d\d UTC):\s*Lab result changed by Dana Dee", page)
    assert cleared, "the cleared row says when, which record and who changed it"
    assert cleared.group(1) == mark.cleared_at.strftime("%Y-%m-%d %H:%M UTC")
    assert "“value re-read from the lab report”" in page
    assert f"lab_result {book.lab_id}" not in page  # the database's own text carries an internal id


def test_SDV_several_forms_are_marked_at_once_in_one_commit(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    ticked = [
        key(book, FormCode.DEMOGRAPHICS, None),
        key(book, FormCode.VITALS),
        key(book, FormCode.ADVERSE_EVENTS, None),
    ]
    response = monitor.post("/sdv/mark", data={"csrf_token": token(monitor), "form_key": ticked}, follow_redirects=True)
    assert "Marked 3 forms source-data-verified." in response.text
    assert {(m.visit_id, m.form_code) for m in marks(app, book)} == {
        (None, FormCode.DEMOGRAPHICS),
        (book.visit_id, FormCode.VITALS),
        (None, FormCode.ADVERSE_EVENTS),
    }
    assert rows(monitor.get(f"/sdv/?subject={book.subject_number}").text) == {("D1", "labs"): "never"}


def test_SDV_one_bad_form_in_a_batch_saves_none_of_them(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    ticked = [key(book, FormCode.LABS), key(book, FormCode.LABS, visit="D99")]
    response = monitor.post("/sdv/mark", data={"csrf_token": token(monitor), "form_key": ticked}, follow_redirects=True)
    assert f"Not saved: visit: subject {book.subject_number} has no visit D99" in response.text
    assert marks(app, book) == []


@pytest.mark.parametrize("role", [RoleCode.DATA_MANAGER, RoleCode.INVESTIGATOR, RoleCode.ADMIN])
def test_SDV_AC01_only_a_monitor_marks_forms_verified(app: Flask, make_user: MakeUser, role: RoleCode) -> None:
    book = build_casebook(app)
    other, _ = logged_in(app, make_user, role)
    page = other.get(f"/sdv/?subject={book.subject_number}").text
    assert rows(page)[("D1", "labs")] == "never"  # they read the list...
    assert "Mark the ticked forms verified" not in page and "form_key" not in page  # ...without the buttons
    assert "read-only for you" in page
    response = other.post("/sdv/mark", data={"csrf_token": token(other), "only": key(book, FormCode.LABS)},
                          follow_redirects=True)  # fmt: skip
    assert "Not saved: role: only a monitor marks forms source-data-verified" in response.text
    assert marks(app, book) == []


def test_AC01_a_statistician_cannot_post_a_mark(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    statistician, _ = logged_in(app, make_user, RoleCode.STATISTICIAN)
    response = statistician.post("/sdv/mark", data={"csrf_token": token(statistician, "/account/password"),
                                                    "only": key(book, FormCode.LABS)})  # fmt: skip
    assert response.status_code == 403
    assert marks(app, book) == []


def test_AC03_marking_without_the_csrf_token_is_refused(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    response = monitor.post("/sdv/mark", data={"only": key(book, FormCode.LABS)})
    assert response.status_code == 400
    assert marks(app, book) == []


def test_SDV_a_frozen_form_can_still_be_verified_and_shows_its_freeze(app: Flask, make_user: MakeUser) -> None:
    book = build_casebook(app)
    admin = make_user(RoleCode.ADMIN)
    with app.app_context():
        session = db.session()
        actor = session.get_one(User, admin.id)
        factories.act(session, actor)
        locks.lock(session, actor=actor, level=LockLevel.SUBJECT, mode=LockMode.FREEZE, subject_id=book.subject_id,
                   reason="ready for SDV")  # fmt: skip
        session.commit()
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    page = monitor.get(f"/sdv/?subject={book.subject_number}").text
    assert page.count(">frozen</span>") == 4
    response = monitor.post("/sdv/mark", data={"csrf_token": token(monitor), "only": key(book, FormCode.LABS)},
                            follow_redirects=True)  # fmt: skip
    assert "Marked 1 form source-data-verified." in response.text
    assert len(marks(app, book)) == 1


def test_SDV_open_queries_on_the_form_are_counted(app: Flask, make_user: MakeUser) -> None:
    from jk500db.models import Query
    from jk500db.models.vocabularies import QueryOrigin, QueryStatus

    book = build_casebook(app)
    with app.app_context():
        for status in (QueryStatus.OPEN, QueryStatus.OPEN, QueryStatus.ANSWERED):
            db.session.add(Query(subject_id=book.subject_id, table_name="lab_result", record_id=book.lab_id,
                                 status=status, origin=QueryOrigin.EDIT_CHECK, rule_id="EC-TEST",
                                 opened_at=dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)))  # fmt: skip
        db.session.commit()
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    page = monitor.get(f"/sdv/?subject={book.subject_number}").text
    counts = dict(re.findall(r'data-form="([a-z_]+)"[^>]*>(?:(?!</tr>).)*?data-open-queries="(\d+)"', page, re.S))
    assert counts == {"demographics": "0", "adverse_events": "0", "vitals": "0", "labs": "2"}


def test_a_bad_filter_is_named_and_ignored(app: Flask, make_user: MakeUser) -> None:
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    response = monitor.get("/sdv/?state=bogus&subject=99-999&site=77&form=x")
    assert response.status_code == 200
    for message in ("State: not one of the choices", "Subject: there is no such subject", "Site: there is no such",
                    "Form: not a form of the study"):  # fmt: skip
        assert message in response.text


def test_the_worklist_costs_the_same_number_of_statements_for_2_or_20_subjects(app: Flask, make_user: MakeUser) -> None:
    monitor, _ = logged_in(app, make_user, RoleCode.MONITOR)
    for _ in range(2):
        build_casebook(app)
    monitor.get("/sdv/?state=all")  # warm up: the user and session are loaded
    few = statements_per_get(app, monitor, "/sdv/?state=all")
    for _ in range(18):
        build_casebook(app)
    many = statements_per_get(app, monitor, "/sdv/?state=all")
    assert many == few
    page = monitor.get("/sdv/?state=all").text
    assert "Page 1 of" in page and "Next" in page  # 20 subjects × 4 forms: more than one page
