"""The subject × visit status matrix (issue 5): who may open it, what each cell says, the filters, and a number
of SQL statements that does not grow with the number of subjects. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

import admin.pages.matrix as matrix_page
from admin.extensions import db
from jk500db.models import FormStatus, Infusion, Query, SdvMark, Site, Study, Subject, Visit
from jk500db.models.vocabularies import (
    FormCode,
    FormStatusCode,
    QueryOrigin,
    QueryStatus,
    RoleCode,
    Sex,
    SubjectStatus,
    VisitStatus,
)
from jk500db.services.study_definition import load_study_definition
from tests import factories
from tests import test_web_access as web

# The web tests' fixtures, reused: this module gets its own migrated database per engine, and its own app.
database_url = web.database_url
clock = web.clock
app = web.app
client = web.client
make_user = web.make_user

UTC = dt.UTC
SCRIPT = "<script>alert('matrix')</script>"
#: Statements one request for the matrix runs, whatever the number of subjects. The page's own ten: the active
#: definition, its schedule, the sites, the count and the page of subjects, their visits, and four aggregates
#: (forms, SDV marks, open queries per visit and per subject). Around them: the logged-in user and their role's
#: name (the layout), plus the BEGIN that jk500db.db emits on SQLite, or the four set_config calls of the audit
#: context on PostgreSQL.
PINNED_STATEMENTS = {"sqlite": 13, "postgresql": 16}


# --- data ----------------------------------------------------------------------------------------------------


def _site(session: Session, code: str) -> Site:
    study = session.scalar(sa.select(Study).where(Study.code == "JK500"))
    assert study is not None
    site = session.scalar(sa.select(Site).where(Site.study_id == study.id, Site.code == code))
    if site is None:
        site = Site(study_id=study.id, code=code, name=f"Hospital {code}", country="CHN")
        session.add(site)
        session.flush()
    return site


def _subject(session: Session, number: str, status: SubjectStatus) -> Subject:
    subject = Subject(
        site_id=_site(session, number[:2]).id,
        subject_number=number,
        screening_number=f"S{number}",
        sex=Sex.FEMALE,
        birth_date=dt.date(2015, 3, 14),
        status=status,
        synthetic=True,
    )
    session.add(subject)
    session.flush()
    return subject


def _visit(session: Session, subject: Subject, code: str, on: dt.date | None = None, **values: Any) -> Visit:
    status = VisitStatus.COMPLETED if on else VisitStatus.SCHEDULED
    visit = Visit(subject_id=subject.id, visit_code=code, visit_date=on, **{"status": status, **values})
    session.add(visit)
    session.flush()
    return visit


def _query(
    session: Session, subject: Subject, table: str, record_id: int, *, opener: int, closed: bool = False
) -> None:
    opened = dt.datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
    session.add(
        Query(
            subject_id=subject.id,
            table_name=table,
            record_id=record_id,
            status=QueryStatus.CLOSED if closed else QueryStatus.OPEN,
            origin=QueryOrigin.MANUAL,
            opened_by_id=opener,
            opened_at=opened,
            closed_at=opened + dt.timedelta(days=1) if closed else None,
            closed_by_id=opener if closed else None,
        )
    )


def _load_cohort(session: Session) -> None:
    """Three subjects at two sites, and 01-001's casebook with something in every kind of cell."""
    load_study_definition(session)
    monitor = factories.user(session, RoleCode.MONITOR)
    first = _subject(session, "01-001", SubjectStatus.FOLLOW_UP)
    inf1 = _visit(session, first, "INF1", dt.date(2025, 3, 1))
    infusion = Infusion(
        subject_id=first.id,
        visit_id=inf1.id,
        infusion_number=1,
        started_at=dt.datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
        product_lot="LOT-1",
        weight_kg=Decimal("25.0"),
    )
    session.add(infusion)
    d21 = _visit(session, first, "D21", dt.date(2025, 3, 26))  # day 25: two days past the window's end
    _visit(session, first, "D28")
    _visit(session, first, "M2", status=VisitStatus.MISSED, missed_reason=f"{SCRIPT} family away")
    _visit(session, first, "UNS", dt.date(2025, 3, 10), sequence=1, unscheduled=True)
    session.flush()
    for form, status in [
        (FormCode.INFUSION, FormStatusCode.COMPLETE),
        (FormCode.VITALS, FormStatusCode.COMPLETE),
        (FormCode.LABS, FormStatusCode.INCOMPLETE),
    ]:
        session.add(FormStatus(subject_id=first.id, visit_id=inf1.id, form_code=form, status=status))
    verified = dt.datetime(2025, 4, 2, 9, 0, tzinfo=UTC)
    session.add(
        SdvMark(
            subject_id=first.id,
            visit_id=inf1.id,
            form_code=FormCode.INFUSION,
            verified_by_id=monitor.id,
            verified_at=verified,
        )
    )
    session.add(  # cleared by a later change: not a standing mark
        SdvMark(
            subject_id=first.id,
            visit_id=inf1.id,
            form_code=FormCode.VITALS,
            verified_by_id=monitor.id,
            verified_at=verified,
            cleared_at=verified + dt.timedelta(hours=1),
            cleared_reason="weight corrected",
        )
    )
    _query(session, first, "visit", d21.id, opener=monitor.id)
    _query(session, first, "visit", d21.id, opener=monitor.id, closed=True)
    _query(session, first, "infusion", infusion.id, opener=monitor.id)
    _query(session, first, "subject", first.id, opener=monitor.id)  # no visit: only in the subject's total
    second = _subject(session, "01-002", SubjectStatus.SCREENING)
    _visit(session, second, "SCR", dt.date(2025, 1, 10))
    _subject(session, "02-001", SubjectStatus.SCREEN_FAILED)


@pytest.fixture
def cohort(app: Flask) -> None:
    """Loaded into this module's database once (the app commits into it, as a real request would)."""
    with app.app_context():
        if db.session.scalar(sa.select(Subject.id).where(Subject.subject_number == "01-001")) is None:
            _load_cohort(db.session())
            db.session.commit()
        db.session.remove()


def _add_many_subjects(app: Flask, count: int) -> None:
    """``count`` more subjects at site 03, each with visits, forms, SDV marks and queries."""
    with app.app_context():
        session = db.session()
        if session.scalar(sa.select(Subject.id).where(Subject.subject_number == "03-001")) is None:
            monitor = factories.user(session, RoleCode.MONITOR)
            for n in range(1, count + 1):
                subject = _subject(session, f"03-{n:03d}", SubjectStatus.ENROLLED)
                scr = _visit(session, subject, "SCR", dt.date(2025, 1, 10))
                _visit(session, subject, "LD")
                session.add(
                    FormStatus(subject_id=subject.id, visit_id=scr.id, form_code=FormCode.VITALS, status="complete")
                )
                session.add(
                    SdvMark(
                        subject_id=subject.id,
                        visit_id=scr.id,
                        form_code=FormCode.VITALS,
                        verified_by_id=monitor.id,
                        verified_at=dt.datetime(2025, 4, 2, tzinfo=UTC),
                    )
                )
                _query(session, subject, "visit", scr.id, opener=monitor.id)
            session.commit()
        db.session.remove()


# --- helpers ---------------------------------------------------------------------------------------------------


def logged_in(client: FlaskClient, make_user: web.MakeUser, role: RoleCode = RoleCode.DATA_MANAGER) -> FlaskClient:
    web.log_in(client, make_user(role).email)
    return client


def row_of(page: str, subject_number: str) -> str:
    """The HTML of the subject's table row."""
    found = re.search(
        rf"<tr>\s*<th scope=\"row\"[^>]*>(?:<a href=\"/casebook/{re.escape(subject_number)}\">)?"
        rf"{re.escape(subject_number)}(?:</a>)?</th>(.*?)</tr>",
        page,
        re.S,
    )
    assert found, f"no row for {subject_number}"
    return found.group(1)


def cell_of(row: str, visit_code: str) -> str:
    found = re.search(rf'<td[^>]*data-visit="{re.escape(visit_code)}"[^>]*>(.*?)</td>', row, re.S)
    assert found, f"no cell for {visit_code}"
    return found.group(0)


def subjects_listed(page: str) -> list[str]:
    # Each subject number links to its casebook.
    return re.findall(r'<th scope="row"[^>]*><a href="/casebook/[0-9-]+">([0-9]{2}-[0-9]{3})</a></th>', page)


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- access ----------------------------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page(client: FlaskClient) -> None:
    assert web.redirects_to_login(client.get("/matrix/"))


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
def test_the_matrix_opens_for_its_roles_only(
    client: FlaskClient, make_user: web.MakeUser, cohort: None, role: RoleCode, allowed: bool
) -> None:
    response = logged_in(client, make_user, role).get("/matrix/")
    assert response.status_code == (200 if allowed else 403)
    assert ("01-001" in response.text) is allowed
    menu = client.get("/").text
    assert ('href="/matrix/"' in menu) is allowed


# --- content -----------------------------------------------------------------------------------------------------


def test_rows_are_subjects_in_number_order_and_columns_the_schedule(
    client: FlaskClient, make_user: web.MakeUser, cohort: None
) -> None:
    page = logged_in(client, make_user).get("/matrix/").text
    listed = subjects_listed(page)
    assert listed[:3] == ["01-001", "01-002", "02-001"]
    assert listed == sorted(listed)
    header = re.search(r"<thead.*?</thead>", page, re.S)
    assert header is not None
    codes = re.findall(r'<th scope="col" class="text-nowrap" title="[^"]*">([^<]+)</th>', header.group(0))
    assert codes[:4] == ["SCR", "LD", "INF1", "INF2"] and codes[-1] == "M24" and len(codes) == 16
    assert 'title="Day 28 (end of DLT window, response)"' in header.group(0)
    first = row_of(page, "01-001")
    assert "<td>01</td>" in first and "Follow up" in first
    assert "Screen failed" in row_of(page, "02-001")


def test_a_cell_says_the_visit_state_window_forms_sdv_and_open_queries(
    client: FlaskClient, make_user: web.MakeUser, cohort: None
) -> None:
    page = logged_in(client, make_user).get("/matrix/").text
    row = row_of(page, "01-001")
    # Each open query is counted under its visit: a manual one on the visit row or a record of the visit, and
    # the one an edit check opened (infusion before the fludarabine doses; D21 outside its window). Closed
    # queries and cleared SDV marks do not count.
    inf1 = text_of(cell_of(row, "INF1"))
    assert inf1 == "2025-03-01 2 complete 1 incomplete SDV 1 Q 2"
    assert text_of(cell_of(row, "D21")) == "2025-03-26 late Q 2"
    assert 'data-state="scheduled"' in cell_of(row, "D28") and text_of(cell_of(row, "D28")) == "scheduled"
    assert 'data-state="not_yet"' in cell_of(row, "INF2") and text_of(cell_of(row, "INF2")) == "—"
    assert text_of(cell_of(row, "M2")).startswith("missed")
    assert 'class="text-nowrap table-danger"' in cell_of(row, "M2")
    unscheduled, total = (text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[-2:])
    assert unscheduled == "1"
    assert total == "5"  # the four above and the query on the subject's demographics, which has no visit
    assert text_of(cell_of(row_of(page, "01-002"), "SCR")) == "2025-01-10"  # no infusion yet: no window
    assert text_of(re.findall(r"<td[^>]*>(.*?)</td>", row_of(page, "02-001"), re.S)[-1]) == "0"


def test_free_text_is_shown_as_text(client: FlaskClient, make_user: web.MakeUser, cohort: None) -> None:
    page = logged_in(client, make_user).get("/matrix/").text
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&#39;matrix&#39;)&lt;/script&gt; family away" in cell_of(row_of(page, "01-001"), "M2")


def test_nothing_internal_or_a_birth_date_is_shown(client: FlaskClient, make_user: web.MakeUser, cohort: None) -> None:
    page = logged_in(client, make_user, RoleCode.MONITOR).get("/matrix/").text
    assert "2015-03-14" not in page
    assert "record_id" not in page and "visit_id" not in page and "SELECT" not in page


# --- filters -------------------------------------------------------------------------------------------------------


def test_filter_by_site(client: FlaskClient, make_user: web.MakeUser, cohort: None) -> None:
    page = logged_in(client, make_user).get("/matrix/?site=02").text
    assert subjects_listed(page) == ["02-001"]
    assert "1 subject<" in page
    assert '<option value="02" selected>' in page


def test_filter_by_subject_status(client: FlaskClient, make_user: web.MakeUser, cohort: None) -> None:
    page = logged_in(client, make_user).get("/matrix/?status=screening").text
    assert subjects_listed(page) == ["01-002"]
    both = client.get("/matrix/?site=01&status=screen_failed").text
    assert subjects_listed(both) == []
    assert "No subject matches these filters" in both


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("site=99", "There is no such site; showing every site."),
        ("site=%3Cb%3E", "There is no such site; showing every site."),
        ("status=asleep", "There is no such subject status; showing every status."),
    ],
)
def test_an_unknown_filter_value_is_ignored_with_a_message(
    client: FlaskClient, make_user: web.MakeUser, cohort: None, query: str, message: str
) -> None:
    response = logged_in(client, make_user).get(f"/matrix/?{query}")
    assert response.status_code == 200
    assert message in response.text
    assert subjects_listed(response.text)[:3] == ["01-001", "01-002", "02-001"]
    assert "<b>" not in response.text


# --- cost ----------------------------------------------------------------------------------------------------------


def test_the_number_of_statements_does_not_grow_with_the_subjects(
    app: Flask, client: FlaskClient, make_user: web.MakeUser, cohort: None
) -> None:
    logged_in(client, make_user)

    def statements(url: str) -> int:
        return web.statements_per_get(app, client, url)

    few = statements("/matrix/?site=01")
    _add_many_subjects(app, 30)
    many = statements("/matrix/")
    assert len(subjects_listed(client.get("/matrix/").text)) == 33
    with app.app_context():
        dialect = db.engine.dialect.name
    assert few == many == PINNED_STATEMENTS[dialect]


def test_the_matrix_pages_its_subjects_in_sql(
    app: Flask, client: FlaskClient, make_user: web.MakeUser, cohort: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matrix_page, "PAGE_SIZE", 20)
    logged_in(client, make_user)
    _add_many_subjects(app, 30)
    first = client.get("/matrix/").text
    assert len(subjects_listed(first)) == 20 and "33 subjects, showing 1–20" in first
    assert 'href="/matrix/?page=2"' in first
    second = client.get("/matrix/?page=2").text
    assert len(subjects_listed(second)) == 13 and "showing 21–33" in second
    assert set(subjects_listed(first)).isdisjoint(subjects_listed(second))
    assert subjects_listed(client.get("/matrix/?page=99").text) == subjects_listed(second)  # past the end: last
    assert 'href="/matrix/?page=2&amp;site=03"' in client.get("/matrix/?site=03").text  # the filter is kept
