"""The audit trail viewer (/audit): rows after real audited changes, filters, pagination, roles, verify, CSRF.

Runs on SQLite and PostgreSQL against a migrated database of this module's own (``database_url`` from
tests/test_web_access.py), with CSRF protection on as in production.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

import admin.pages.audit_trail as audit_trail_page
from admin.extensions import db
from admin.pages.audit_trail import INTERNAL_KEY, PAGE_SIZE
from jk500db.models import AuditEvent, Subject
from jk500db.models.vocabularies import RoleCode
from tests import factories
from tests.factories import act
from tests.test_web_access import (
    Clock,
    built_app,
    csrf_token,
    database_url,
    log_in,
    redirects_to_login,
    statements_per_get,
)

__all__ = ["database_url"]  # the module-scoped, per-engine database fixture, used here as it is

ALLOWED = [RoleCode.MONITOR, RoleCode.ADMIN, RoleCode.INVESTIGATOR]
REFUSED = [RoleCode.DATA_MANAGER, RoleCode.STATISTICIAN]

#: Subject numbers unique within the module's database ("NN-NNN", the format the database enforces).
_subject_numbers = (f"{n // 1000:02d}-{n % 1000:03d}" for n in itertools.count(2001))
_names = (f"Writer{n:03d}" for n in itertools.count(1))


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    with built_app(database_url, JK500DB_CLOCK=Clock()) as app:
        yield app


LoginAs = Callable[[RoleCode], FlaskClient]


@pytest.fixture
def login_as(app: Flask) -> LoginAs:
    """A client logged in as a new user of ``role``."""

    def login(role: RoleCode) -> FlaskClient:
        with app.app_context():
            user = factories.user(db.session(), role)
            db.session.commit()
            email = user.email
        client = app.test_client()
        assert log_in(client, email, factories.TEST_PASSWORD).status_code == 302
        return client

    return login


@pytest.fixture
def monitor(login_as: LoginAs) -> FlaskClient:
    return login_as(RoleCode.MONITOR)


def write_subjects(app: Flask, count: int, *, writer_name: str | None = None) -> tuple[str, list[str]]:
    """``count`` new subjects, each with one AE whose grade is then corrected with a reason, all written as a
    named data manager; returns the writer's name and the subject numbers."""
    name = writer_name or next(_names)
    numbers = []
    with app.app_context():
        session = db.session()
        writer = factories.user(session, RoleCode.DATA_MANAGER, full_name=f"Dora {name}")
        session.commit()
        for _ in range(count):
            act(session, writer)
            number = next(_subject_numbers)
            subject = factories.subject(session, subject_number=number, screening_number=f"S{number}")
            event = factories.adverse_event(session, subject_id=subject.id, grade=2)
            session.commit()
            act(session, writer, reason="<script>alert('grade')</script> source says grade 3")
            event.grade = 3
            session.commit()
            numbers.append(number)
        return writer.full_name, numbers


def event_rows(page: str) -> list[list[str]]:
    """The cells (as text) of each row of the events table."""
    body = re.search(r'<table[^>]*id="audit-events".*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, "no events table"
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if len(cells) == 10:
            rows.append(cells)
    return rows


COLUMNS = ["time", "user", "source", "subject", "form", "field", "action", "old", "new", "reason"]


def as_dicts(page: str) -> list[dict[str, str]]:
    return [dict(zip(COLUMNS, cells, strict=True)) for cells in event_rows(page)]


#: Statements per GET of /audit: the logged-in user and their role (the layout shows it), one count and one page
#: of events; plus SQLite's BEGIN, or PostgreSQL's four set_config of the change context at the transaction start.
PINNED_QUERIES = {"sqlite": 5, "postgresql": 8}


def db_dialect(app: Flask) -> str:
    with app.app_context():
        return db.engine.dialect.name


def audit_totals(app: Flask) -> tuple[int, str | None]:
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0
        head = db.session.scalar(sa.select(AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1))
        return total, head


# --- roles ---------------------------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(app: Flask) -> None:
    assert redirects_to_login(app.test_client().get("/audit/"))


@pytest.mark.parametrize("role", ALLOWED)
def test_monitors_admins_and_investigators_open_the_audit_trail(login_as: LoginAs, role: RoleCode) -> None:
    page = login_as(role).get("/audit/")
    assert page.status_code == 200
    assert "Audit trail" in page.text and "Verify the chain" in page.text


@pytest.mark.parametrize("role", REFUSED)
def test_data_managers_and_statisticians_are_refused(login_as: LoginAs, role: RoleCode) -> None:
    client = login_as(role)
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/verify", data={"csrf_token": csrf_token(client, "/")}).status_code == 403
    assert 'href="/audit/"' not in client.get("/").text  # not in their menu either


# --- the rows --------------------------------------------------------------------------------------------------


def test_a_corrected_value_appears_with_user_subject_form_field_values_and_reason(
    app: Flask, monitor: FlaskClient
) -> None:
    writer, (number,) = write_subjects(app, 1)
    page = monitor.get(f"/audit/?subject={number}")
    assert page.status_code == 200
    rows = as_dicts(page.text)
    grade = [r for r in rows if r["form"] == "Adverse event" and r["field"] == "Grade" and r["action"] == "Update"]
    assert len(grade) == 1
    (row,) = grade
    assert row["user"] == writer and row["subject"] == number and row["source"] == "Web UI"
    assert (row["old"], row["new"]) == ("2", "3")
    assert row["reason"] == "<script>alert('grade')</script> source says grade 3"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", row["time"])
    # Free text is escaped, never markup.
    assert "<script>alert(" not in page.text and "&lt;script&gt;alert(" in page.text
    # The insert of the subject is there too, with its readable values and its internal ids hidden.
    inserted = {r["field"]: r["new"] for r in rows if r["form"] == "Subject" and r["action"] == "Insert"}
    assert inserted["Subject number"] == number and inserted["Sex"] == "F"  # the stored code, as audited
    assert inserted["Id"] == INTERNAL_KEY and inserted["Site id"] == INTERNAL_KEY
    assert all(r["subject"] == number for r in rows)
    # Newest first: the correction comes before the inserts it corrects.
    assert rows.index(row) < min(i for i, r in enumerate(rows) if r["action"] == "Insert")


def test_internal_ids_are_never_shown(app: Flask, monitor: FlaskClient) -> None:
    _, (number,) = write_subjects(app, 1)
    rows = as_dicts(monitor.get(f"/audit/?subject={number}").text)
    keys = [r for r in rows if r["field"] in {"Id", "Subject id", "Site id", "Ctcae term id"}]
    assert {r["form"] for r in keys} == {"Subject", "Adverse event"}
    assert {r["new"] for r in keys} == {INTERNAL_KEY}
    assert {r["old"] for r in keys} == {"—"}


def test_filters_narrow_the_rows(app: Flask, monitor: FlaskClient) -> None:
    writer, (first, second) = write_subjects(app, 2)
    other_writer, _ = write_subjects(app, 1)

    by_subject = as_dicts(monitor.get(f"/audit/?subject={first}").text)
    assert by_subject and {r["subject"] for r in by_subject} == {first}

    by_user = as_dicts(monitor.get(f"/audit/?user={writer.split()[1].lower()}").text)  # contains, any case
    assert {r["user"] for r in by_user} == {writer}
    assert {r["subject"] for r in by_user} == {first, second}

    by_table = as_dicts(monitor.get(f"/audit/?table=adverse_event&subject={second}").text)
    assert by_table and {r["form"] for r in by_table} == {"Adverse event"}

    today = dt.datetime.now(dt.UTC).date()
    in_range = f"date_from={today - dt.timedelta(days=1)}&date_to={today + dt.timedelta(days=1)}"
    assert as_dicts(monitor.get(f"/audit/?subject={first}&{in_range}").text) == by_subject
    tomorrow = today + dt.timedelta(days=2)
    assert as_dicts(monitor.get(f"/audit/?subject={first}&date_from={tomorrow}").text) == []
    assert as_dicts(monitor.get(f"/audit/?subject={first}&date_to={today - dt.timedelta(days=2)}").text) == []
    assert other_writer not in monitor.get(f"/audit/?user={writer.split()[1]}").text


def test_a_subject_number_of_no_subject_shows_no_events_and_no_error(app: Flask, monitor: FlaskClient) -> None:
    """The subject filter compares with the subject's key found by a subquery: a well-formed number that names
    no subject finds no key (NULL), which matches no event, not even those of no subject (logins, accounts)."""
    write_subjects(app, 1)
    page = monitor.get("/audit/?subject=99-999")
    assert page.status_code == 200
    assert as_dicts(page.text) == []
    assert "alert-danger" not in page.text


def test_a_percent_sign_in_the_user_filter_is_taken_literally(app: Flask, monitor: FlaskClient) -> None:
    write_subjects(app, 1)
    assert as_dicts(monitor.get("/audit/?user=%25").text) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-13-45", "Date from"),
        ("date_to=yesterday", "Date to"),
        ("table=user_account%3B%20DROP", "Form"),
        ("subject=%3Cb%3E", "Subject"),
        ("date_from=2026-03-02&date_to=2026-03-01", "Date to"),
    ],
)
def test_an_invalid_filter_is_a_message_naming_the_field_not_an_error_page(
    monitor: FlaskClient, query: str, field: str
) -> None:
    page = monitor.get(f"/audit/?{query}")
    assert page.status_code == 200
    assert re.search(rf'class="alert alert-danger[^"]*">\s*<button[^>]*>[^<]*</button>\s*{field}:', page.text)
    assert "<b>" not in page.text  # the value typed is shown back as text


def test_pagination_newest_first(app: Flask, monitor: FlaskClient) -> None:
    writer, _ = write_subjects(app, 2)  # about 26 events each
    user = writer.split()[1]
    with app.app_context():
        expected = db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.actor_name == writer)
        )
    assert expected is not None and PAGE_SIZE < expected <= 2 * PAGE_SIZE
    first = monitor.get(f"/audit/?user={user}")
    assert len(event_rows(first.text)) == PAGE_SIZE
    assert f"{expected} event(s) match the filters; page 1" in first.text
    assert f'href="/audit/?page=2&amp;user={user}"' in first.text  # the filters travel with the page
    second = monitor.get(f"/audit/?user={user}&page=2")
    assert len(event_rows(second.text)) == expected - PAGE_SIZE
    times = [r["time"] for r in as_dicts(first.text) + as_dicts(second.text)]
    assert times == sorted(times, reverse=True)
    # A page past the end shows the last one; a page that is not a number, the first.
    assert len(event_rows(monitor.get(f"/audit/?user={user}&page=99").text)) == expected - PAGE_SIZE
    assert len(event_rows(monitor.get(f"/audit/?user={user}&page=x").text)) == PAGE_SIZE


def test_a_long_trail_is_counted_only_up_to_the_cap(
    app: Flask, monitor: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, _ = write_subjects(app, 2)
    user = writer.split()[1]
    monkeypatch.setattr(audit_trail_page, "COUNT_CAP", PAGE_SIZE)  # the two subjects wrote more events than that
    page = monitor.get(f"/audit/?user={user}").text
    assert f"More than {PAGE_SIZE} event(s) match the filters; page 1" in page and "of 2+" in page
    assert len(event_rows(page)) == PAGE_SIZE


def test_the_number_of_queries_does_not_grow_with_the_number_of_subjects(app: Flask, monitor: FlaskClient) -> None:
    write_subjects(app, 1)
    monitor.get("/audit/")  # warm-up: connections opened, first-use set-up done
    few = statements_per_get(app, monitor, "/audit/")
    filtered_few = statements_per_get(app, monitor, "/audit/?table=subject&user=Dora")
    write_subjects(app, 25)
    many = statements_per_get(app, monitor, "/audit/")
    filtered_many = statements_per_get(app, monitor, "/audit/?table=subject&user=Dora")
    assert few == many
    assert filtered_few == filtered_many
    # Pinned: the login checks plus one count and one page of events.
    assert many == PINNED_QUERIES[db_dialect(app)], many


# --- verify ----------------------------------------------------------------------------------------------------


def test_verify_shows_intact_and_the_event_count_and_changes_nothing(app: Flask, monitor: FlaskClient) -> None:
    write_subjects(app, 1)
    token = csrf_token(monitor, "/audit/")
    before = audit_totals(app)
    page = monitor.post("/audit/verify", data={"csrf_token": token})
    assert page.status_code == 200
    assert "Intact." in page.text
    events, head = before
    assert f"{events:,} events checked" in page.text
    assert f"Head hash: {head}" in page.text
    assert audit_totals(app) == before  # verifying wrote nothing
    assert event_rows(page.text)  # and the trail is still listed under the result


def test_verify_reports_damage(app: Flask, monitor: FlaskClient) -> None:
    """A value changed behind the audit's back (triggers bypassed) is reported, not hidden."""
    _, (number,) = write_subjects(app, 1)
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "sqlite":
            pytest.skip("bypassing the triggers needs PostgreSQL's session_replication_role")
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.execute(sa.update(Subject).where(Subject.subject_number == number).values(screening_number="X"))
        db.session.commit()
    try:
        page = monitor.post("/audit/verify", data={"csrf_token": csrf_token(monitor, "/audit/")})
        assert "Not intact." in page.text
        assert "First problem: data changed outside the audit" in page.text
    finally:
        with app.app_context():
            connection = db.session.connection()
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            connection.execute(
                sa.update(Subject).where(Subject.subject_number == number).values(screening_number=f"S{number}")
            )
            db.session.commit()


def test_AC03_verify_without_a_csrf_token_is_refused(monitor: FlaskClient) -> None:
    refused = monitor.post("/audit/verify")
    assert refused.status_code == 400
    assert "Your form expired; reload and try again" in refused.text
    assert monitor.post("/audit/verify", data={"csrf_token": "forged"}).status_code == 400


def test_verify_is_a_post_only(monitor: FlaskClient) -> None:
    assert monitor.get("/audit/verify").status_code == 405
