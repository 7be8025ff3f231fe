"""The query inbox (issue 5): each role's queue, answer / close / reopen through the services, refusals shown
as the rule broken, free text escaped, and a constant number of SQL statements per page. Both engines."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin.extensions import db
from jk500db.models import Query, QueryMessage, Site, Study, Subject
from jk500db.models.vocabularies import QueryOrigin, QueryStatus, RoleCode, Sex
from tests.test_web_access import MakeUser, csrf_token, log_in, statements_per_get

UTC = dt.UTC


def add_queries(app: Flask, texts: list[str], *, subject_number: str) -> list[int]:
    """A subject with one open edit-check query per text."""
    with app.app_context():
        session = db.session()
        study = session.scalar(sa.select(Study).where(Study.code == "WEB")) or Study(
            code="WEB", title="t", sponsor="s", phase="p", planned_enrolment=12
        )
        session.add(study)
        session.flush()
        site = session.scalar(sa.select(Site).where(Site.study_id == study.id)) or Site(
            study_id=study.id, code="01", name="h", country="CHN"
        )
        session.add(site)
        session.flush()
        subject = Subject(site_id=site.id, subject_number=subject_number, screening_number=f"S{subject_number}",
                          sex=Sex.MALE, birth_date=dt.date(2014, 2, 2), synthetic=True)  # fmt: skip
        session.add(subject)
        session.flush()
        ids = []
        for text in texts:
            query = Query(subject_id=subject.id, table_name="subject", record_id=subject.id, field_name="sex",
                          status=QueryStatus.OPEN, origin=QueryOrigin.EDIT_CHECK, rule_id="EC-TEST",
                          opened_at=dt.datetime(2026, 3, 1, 8, tzinfo=UTC))  # fmt: skip
            session.add(query)
            session.flush()
            session.add(QueryMessage(query_id=query.id, written_at=query.opened_at, text=text,
                                     status_after=QueryStatus.OPEN))  # fmt: skip
            ids.append(query.id)
        session.commit()
        return ids


def token(client: FlaskClient, path: str) -> str:
    return csrf_token(client, path)


def status_of(app: Flask, query_id: int) -> QueryStatus:
    with app.app_context():
        return db.session.get_one(Query, query_id).status


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (RoleCode.DATA_MANAGER, True),
        (RoleCode.MONITOR, True),
        (RoleCode.INVESTIGATOR, True),
        (RoleCode.ADMIN, True),
        (RoleCode.STATISTICIAN, False),
    ],
)
def test_role_matrix_of_the_inbox(client: FlaskClient, make_user: MakeUser, role: RoleCode, allowed: bool) -> None:
    assert client.get("/queries/").status_code == 302  # anonymous: to the login page
    log_in(client, make_user(role).email)
    assert client.get("/queries/").status_code == (200 if allowed else 403)


def test_a_data_manager_answers_and_a_monitor_closes(app: Flask, make_user: MakeUser) -> None:
    (query_id,) = add_queries(app, ["sex differs from the source document"], subject_number="01-101")
    data_manager, monitor = make_user(RoleCode.DATA_MANAGER), make_user(RoleCode.MONITOR)
    dm = app.test_client()
    log_in(dm, data_manager.email)
    page = dm.get("/queries/").text
    assert "01-101" in page and "sex differs from the source document" in page
    with app.app_context():
        subject_id = db.session.scalar(sa.select(Subject.id).where(Subject.subject_number == "01-101"))
    # The form is named as the menu names it and links to the record's page; the field is in words.
    assert f'<a href="/crf/subject/details/?id={subject_id}">Subjects (demographics)</a>' in page
    assert "<td>Sex</td>" in page
    form = {"query": query_id, "action": "answer", "text": "corrected from the birth certificate"}
    sent = dm.post("/queries/act", data={"csrf_token": token(dm, "/queries/"), **form})
    assert sent.status_code == 302
    assert status_of(app, query_id) == QueryStatus.ANSWERED
    mon = app.test_client()
    log_in(mon, monitor.email)
    assert "corrected from the birth certificate" in mon.get("/queries/").text  # monitors start on answered
    mon.post("/queries/act", data={"csrf_token": token(mon, "/queries/"), "query": query_id, "action": "close",
                                   "text": "verified against source"})  # fmt: skip
    assert status_of(app, query_id) == QueryStatus.CLOSED


def test_a_refused_action_names_the_rule_and_changes_nothing(app: Flask, make_user: MakeUser) -> None:
    (query_id,) = add_queries(app, ["check the date"], subject_number="01-102")
    dm = app.test_client()
    log_in(dm, make_user(RoleCode.DATA_MANAGER).email)
    response = dm.post("/queries/act", data={"csrf_token": token(dm, "/queries/"), "query": query_id,
                                             "action": "close", "text": "done"}, follow_redirects=True)  # fmt: skip
    assert "Not saved: role: only a monitor can close a query" in response.text
    assert status_of(app, query_id) == QueryStatus.OPEN


def test_an_action_without_the_csrf_token_is_refused(app: Flask, make_user: MakeUser) -> None:
    (query_id,) = add_queries(app, ["check"], subject_number="01-103")
    dm = app.test_client()
    log_in(dm, make_user(RoleCode.DATA_MANAGER).email)
    response = dm.post("/queries/act", data={"query": query_id, "action": "answer", "text": "x"})
    assert response.status_code == 400
    assert status_of(app, query_id) == QueryStatus.OPEN


def test_message_text_is_escaped(app: Flask, make_user: MakeUser) -> None:
    add_queries(app, ["<script>alert(1)</script>"], subject_number="01-104")
    dm = app.test_client()
    log_in(dm, make_user(RoleCode.DATA_MANAGER).email)
    page = dm.get("/queries/?status=all").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_bad_status_filter_is_named_not_an_error(app: Flask, make_user: MakeUser) -> None:
    dm = app.test_client()
    log_in(dm, make_user(RoleCode.DATA_MANAGER).email)
    response = dm.get("/queries/?status=bogus")
    assert response.status_code == 200
    assert "status: &#39;bogus&#39; is not a query status" in response.text


def test_the_inbox_costs_the_same_number_of_statements_for_1_or_30_queries(app: Flask, make_user: MakeUser) -> None:
    dm = app.test_client()
    log_in(dm, make_user(RoleCode.DATA_MANAGER).email)
    add_queries(app, ["one"], subject_number="01-105")
    dm.get("/queries/?status=all")  # warm up: the user and session are loaded
    few = statements_per_get(app, dm, "/queries/?status=all")
    add_queries(app, [f"query {i}" for i in range(30)], subject_number="01-106")
    many = statements_per_get(app, dm, "/queries/?status=all")
    assert "query 29" in dm.get("/queries/?status=all").text
    assert many == few
