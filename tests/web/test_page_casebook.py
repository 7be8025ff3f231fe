"""The subject casebook (issue 5): who may open it, the timeline in schedule order with protocol days, derived
values with their rule and reasons, each record's history in one line on screen and in full with reasons for
change on paper, queries, SDV marks cleared by an edit, signatures invalidated by an edit, escaped free text, the
printable version, and a number of SQL statements that does not grow with the casebook. Runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from admin.extensions import db
from admin.pages import casebook as casebook_page
from jk500db.models import (
    AdverseEvent,
    Consent,
    CrsAssessment,
    DrugAdministration,
    Infusion,
    Site,
    Study,
    Subject,
    User,
    Visit,
)
from jk500db.models.vocabularies import (
    Agent,
    ConsentKind,
    ConsentSigner,
    DoseUnit,
    FormCode,
    LockLevel,
    LockMode,
    RoleCode,
    Route,
    Sex,
    SignatureMeaning,
    SubjectStatus,
    VisitStatus,
)
from jk500db.services import locks, queries, records, sdv, signatures
from jk500db.services.study_definition import load_study_definition
from tests import factories
from tests.test_web_access import PASSWORD, MakeUser, log_in, redirects_to_login, statements_per_get

UTC = dt.UTC
SCRIPT = "<script>alert('casebook')</script>"
BIRTH_DATE = dt.date(2015, 3, 14)
SIGNER_NAME = "Maria Example"
#: Statements one casebook GET runs on screen, whatever the number of records (on paper one fewer). The page's own
#: 39: the subject (with its site), the active definition, its schedule and expected forms, the audit trail (on
#: screen one GROUP BY for every record's number of changes and last change, on paper every event), 23 clinical
#: tables (one statement each), the visit definitions and CTCAE terms named, the sites, form status, SDV marks,
#: locks, queries and their messages, signatures and users. Signatures are judged from the rows already read.
#: Around them: the logged-in user and their role's name (the layout), plus the BEGIN that jk500db.db emits on
#: SQLite, or the four set_config calls of the audit context on PostgreSQL.
PINNED_STATEMENTS = {"sqlite": 42, "postgresql": 45}


# --- data ------------------------------------------------------------------------------------------------------


def _definition(session: Session) -> Site:
    """The JK500 study definition (schedule, expected forms) and its site 01, loaded once per database."""
    if session.scalar(sa.select(Study.id).where(Study.code == "JK500")) is None:
        load_study_definition(session)
    site = session.scalar(sa.select(Site).join(Study).where(Study.code == "JK500", Site.code == "01"))
    assert site is not None
    return site


def _visit(session: Session, subject: Subject, code: str, on: dt.date | None, **values: object) -> Visit:
    status = VisitStatus.COMPLETED if on else VisitStatus.SCHEDULED
    visit = Visit(subject_id=subject.id, visit_code=code, visit_date=on, **{"status": status, **values})
    session.add(visit)
    session.flush()
    return visit


def build_subject(app: Flask, number: str, *, adverse_events: int = 2) -> None:
    """A treated subject: consent, screening, lymphodepletion, infusion on 2025-03-01 (day 0), an unscheduled visit,
    a missed visit, AE 1 = CRS grade 2 (from its assessment) and further AEs; AE 2's verbatim is a script."""
    with app.app_context():
        session = db.session()
        site = _definition(session)
        subject = Subject(
            site_id=site.id,
            subject_number=number,
            screening_number=f"S{number}",
            sex=Sex.FEMALE,
            birth_date=BIRTH_DATE,
            status=SubjectStatus.FOLLOW_UP,
            synthetic=True,
        )
        session.add(subject)
        session.flush()
        session.add(
            Consent(
                subject_id=subject.id,
                kind=ConsentKind.GUARDIAN_CONSENT,
                document_version="1.0",
                signed_on=dt.date(2025, 1, 20),
                signer=ConsentSigner.PARENT,
                signer_name=SIGNER_NAME,
            )
        )
        _visit(session, subject, "SCR", dt.date(2025, 2, 1))
        ld = _visit(session, subject, "LD", dt.date(2025, 2, 22))
        inf1 = _visit(session, subject, "INF1", dt.date(2025, 3, 1))
        _visit(session, subject, "M2", None, status=VisitStatus.MISSED, missed_reason="family away")
        _visit(session, subject, "UNS", dt.date(2025, 3, 10), unscheduled=True)
        session.add(
            DrugAdministration(
                subject_id=subject.id,
                visit_id=ld.id,
                agent=Agent.CYCLOPHOSPHAMIDE,
                dose_number=1,
                route=Route.IV,
                started_at=dt.datetime(2025, 2, 22, 2, tzinfo=UTC),
                actual_dose=Decimal("1500"),
                dose_unit=DoseUnit.MG,
            )
        )
        session.add(
            Infusion(
                subject_id=subject.id,
                visit_id=inf1.id,
                infusion_number=1,
                product_lot="LOT-1",
                started_at=dt.datetime(2025, 3, 1, 10, tzinfo=UTC),
                weight_kg=Decimal("25.0"),
            )
        )
        crs = AdverseEvent(
            subject_id=subject.id,
            ae_number=1,
            grade=2,
            onset_date=dt.date(2025, 3, 1),
            ctcae_term_id=factories.ctcae_term(session, "Cytokine release syndrome").id,
        )
        session.add(crs)
        session.flush()
        session.add(
            CrsAssessment(
                subject_id=subject.id,
                adverse_event_id=crs.id,
                max_temp_c=Decimal("39.0"),
                hypotension=True,
                assessed_at=dt.datetime(2025, 3, 1, 18, tzinfo=UTC),
            )
        )
        fever = factories.ctcae_term(session, "Fever").id
        for n in range(2, adverse_events + 1):
            verbatim = SCRIPT if n == 2 else f"fever episode {n}"
            session.add(
                AdverseEvent(
                    subject_id=subject.id,
                    ae_number=n,
                    grade=1,
                    ctcae_term_id=fever,
                    verbatim=verbatim,
                    onset_date=dt.date(2025, 3, 2) + dt.timedelta(days=n),
                )
            )
        session.commit()
        db.session.remove()


@pytest.fixture
def subject_01(app: Flask) -> str:
    """01-001, built once per database (the module's database outlives each test's app)."""
    with app.app_context():
        exists = db.session.scalar(sa.select(Subject.id).where(Subject.subject_number == "01-001"))
        db.session.remove()
    if exists is None:
        build_subject(app, "01-001")
    return "01-001"


def logged_in(client: FlaskClient, make_user: MakeUser, role: RoleCode = RoleCode.MONITOR) -> FlaskClient:
    log_in(client, make_user(role).email)
    return client


def subject_id(app: Flask, number: str) -> int:
    with app.app_context():
        found = db.session.scalar(sa.select(Subject.id).where(Subject.subject_number == number))
        db.session.remove()
    assert found is not None
    return found


def ae_of(session: Session, number: str, ae_number: int) -> AdverseEvent:
    return session.scalars(
        sa.select(AdverseEvent)
        .join(Subject, Subject.id == AdverseEvent.subject_id)
        .where(Subject.subject_number == number, AdverseEvent.ae_number == ae_number)
    ).one()


def record_html(page: str, table: str, record_id: int) -> str:
    """The HTML of one record's block on the page."""
    found = re.search(rf'<article[^>]*id="record-{table}-{record_id}".*?</article>', page, re.S)
    assert found, f"no {table} record {record_id} on the page"
    return found.group(0)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def ae_id(app: Flask, number: str, ae_number: int) -> int:
    with app.app_context():
        found = ae_of(db.session(), number, ae_number).id
        db.session.remove()
    return found


# --- access ------------------------------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page(client: FlaskClient, subject_01: str) -> None:
    assert redirects_to_login(client.get("/casebook/"))
    assert redirects_to_login(client.get(f"/casebook/{subject_01}"))


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (RoleCode.DATA_MANAGER, True),
        (RoleCode.MONITOR, True),
        (RoleCode.INVESTIGATOR, True),
        (RoleCode.ADMIN, True),
        (RoleCode.STATISTICIAN, False),  # the casebook shows identifiers
    ],
)
def test_AC01_the_casebook_opens_for_its_roles_only(
    client: FlaskClient, make_user: MakeUser, subject_01: str, role: RoleCode, allowed: bool
) -> None:
    logged_in(client, make_user, role)
    listing = client.get("/casebook/")
    book = client.get(f"/casebook/{subject_01}")
    assert listing.status_code == book.status_code == (200 if allowed else 403)
    assert (subject_01 in book.text) is allowed
    assert ('href="/casebook/"' in client.get("/").text) is allowed


@pytest.mark.parametrize("number", ["99-999", "01-0001", "abc", "01_001"])
def test_an_unknown_subject_number_is_a_clean_not_found_page(
    client: FlaskClient, make_user: MakeUser, subject_01: str, number: str
) -> None:
    response = logged_in(client, make_user).get(f"/casebook/{number}")
    assert response.status_code == 404
    assert "There is no page at this address." in response.text
    assert "Traceback" not in response.text and "SELECT" not in response.text


# --- the subject list --------------------------------------------------------------------------------------------


def test_the_subject_list_links_each_casebook_and_filters_by_site(
    client: FlaskClient, make_user: MakeUser, subject_01: str
) -> None:
    page = logged_in(client, make_user).get("/casebook/").text
    assert f'<a href="/casebook/{subject_01}">{subject_01}</a>' in page
    assert "Follow up" in page
    assert subject_01 in client.get("/casebook/?site=01").text
    unknown = client.get("/casebook/?site=77")
    assert unknown.status_code == 200 and "There is no such site; showing every site." in unknown.text


# --- content -------------------------------------------------------------------------------------------------------


def test_the_header_gives_age_at_consent_and_the_key_dates_on_protocol_days(
    client: FlaskClient, make_user: MakeUser, subject_01: str
) -> None:
    page = logged_in(client, make_user).get(f"/casebook/{subject_01}").text
    header = re.search(r'<section class="card mb-3" id="casebook-header".*?</section>', page, re.S)
    assert header is not None
    words = text_of(header.group(0))
    assert "Age at consent 9 years" in words  # born 2015-03-14, consent 2025-01-20
    assert "Consent 2025-01-20 -40" in words
    assert "First lymphodepletion dose 2025-02-22 -7" in words
    assert "First JK500 infusion (day 0) 2025-03-01 0" in words
    assert "Last follow-up 2025-03-10 9" in words  # the unscheduled visit
    assert "Birth date 2015-03-14" in words  # a monitor checks it against the source


@pytest.mark.parametrize(
    ("role", "shown"),
    [(RoleCode.MONITOR, True), (RoleCode.INVESTIGATOR, True), (RoleCode.DATA_MANAGER, True), (RoleCode.ADMIN, False)],
)
def test_birth_date_and_the_consent_signer_are_shown_to_source_document_roles_only(
    client: FlaskClient, make_user: MakeUser, subject_01: str, role: RoleCode, shown: bool
) -> None:
    page = logged_in(client, make_user, role).get(f"/casebook/{subject_01}").text
    assert ("2015-03-14" in page) is shown
    assert (SIGNER_NAME in page) is shown
    assert "Age at consent" in page


def test_visits_are_in_schedule_order_with_their_protocol_days_and_key_events(
    client: FlaskClient, make_user: MakeUser, subject_01: str
) -> None:
    page = logged_in(client, make_user).get(f"/casebook/{subject_01}").text
    timeline = re.search(r'<table[^>]*id="timeline".*?</table>', page, re.S)
    assert timeline is not None
    pattern = r'<tr (data-visit|class="casebook-event" data-event)="([^"]+)"[^>]*>(.*?)</tr>'
    rows = re.findall(pattern, timeline.group(0), re.S)
    visits = [name for kind, name, _ in rows if kind == "data-visit"]
    # The schedule's order; the unscheduled visit of 2025-03-10 after INF1, the last visit before it.
    assert visits[:5] == ["SCR", "LD", "INF1", "UNS", "INF2"]
    assert visits[-1] == "M24" and len(visits) == 17
    days = {
        name: text_of(re.search(r'class="protocol-day">(.*?)</td>', body, re.S).group(1))  # type: ignore[union-attr]
        for kind, name, body in rows
        if kind == "data-visit" and 'class="protocol-day"' in body
    }
    assert (days["SCR"], days["LD"], days["INF1"], days["UNS"], days["INF2"]) == ("-28", "-7", "0", "9", "—")
    assert 'data-visit="M2" data-state="missed"' in timeline.group(0)
    assert "family away" in timeline.group(0)
    events = [(name, text_of(body)) for kind, name, body in rows if kind != "data-visit"]
    assert ("Infusion", "Infusion 2025-03-01 0 JK500 infusion 1") in events
    assert ("CRS", "CRS 2025-03-01 0 CRS ASTCT grade 2 (highest)") in events
    assert ("Consent", "Consent 2025-01-20 -40 Guardian consent signed (version 1.0)") in events
    # Forms of each visit: what the schedule expects there, linked to where they are.
    inf1 = next(body for kind, name, body in rows if name == "INF1")
    assert 'data-form="infusion"' in inf1 and 'href="#form-' in inf1


def test_a_derived_ae_grade_is_shown_as_derived_with_its_rule_and_reasons(
    app: Flask, client: FlaskClient, make_user: MakeUser, subject_01: str
) -> None:
    page = logged_in(client, make_user).get(f"/casebook/{subject_01}").text
    block = record_html(page, "adverse_event", ae_id(app, subject_01, 1))
    derived = re.search(r'<tr data-derived="derived_grade">.*?</tr>', block, re.S)
    assert derived is not None
    words = text_of(derived.group(0))
    assert words.startswith("Derived grade derived 2 Rule: astct2019.episode_maximum v1")
    assert "CRS assessment 2025-03-01 18:00 UTC: ASTCT grade 2" in words  # why: the assessment that reached it
    dlt = re.search(r'<tr data-derived="dlt_candidate">.*?</tr>', block, re.S)
    assert dlt is not None and "onset 2025-03-01 is inside the window" in text_of(dlt.group(0))
    # The CRS assessment's own computed grade, with the criterion that decided it.
    assert "Computed by the system" in block and "CTCAE term" in block


def test_AT10_an_edit_appears_in_the_record_history_with_its_reason(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    build_subject(app, "01-010")
    with app.app_context():
        session = db.session()
        event = ae_of(session, "01-010", 2)
        records.update_record(
            session, event, {"grade": 2}, seen_version=event.version, reason="grade corrected from the nursing notes"
        )
        session.commit()
        db.session.remove()
    client = logged_in(client, make_user)
    record = ae_id(app, "01-010", 2)
    # On screen one line: how many changes, the last by whom and when, linking to the record's full history.
    screen = record_html(client.get("/casebook/01-010").text, "adverse_event", record)
    summary = re.search(r'<p class="casebook-history-summary[^"]*" data-changes="(\d+)">(.*?)</p>', screen, re.S)
    assert summary is not None and summary.group(1) == "2"  # entered, then corrected
    assert re.fullmatch(
        r"Audit history: 2 changes, last by .+ on \d{4}-\d\d-\d\d \d\d:\d\d UTC",
        text_of(summary.group(2)).replace(" ,", ","),  # text_of puts a space where the link ends
    )
    assert f'href="/crf/adverse_event/details/?id={record}#audit-history"' in summary.group(2)
    assert "nursing notes" not in screen and "<details" not in screen
    # On paper (the archive copy) the whole history, with the reason for the change.
    block = record_html(client.get("/casebook/01-010?print=1").text, "adverse_event", record)
    history = re.search(r'<details class="casebook-history small" open>(.*?)</details>', block, re.S)
    assert history is not None
    rows = re.findall(r"<tr>(.*?)</tr>", history.group(1).split("<tbody>", 1)[1], re.S)
    assert len(rows) >= 2 and "Insert" in text_of(rows[0])  # time order: the first entry first
    edit = next(text_of(row) for row in rows if "nursing notes" in row)
    assert "Update" in edit and re.search(r"Grade ?: 1 → 2", edit)
    assert "grade corrected from the nursing notes" in edit
    # Field names in words, never internal keys or bookkeeping columns.
    fields = re.findall(r'<span class="audit-field[^"]*">([^<]+)</span>', history.group(1))
    assert "CTCAE term" in fields and "Onset date" in fields
    assert not {"Subject", "Id", "Version", "subject_id", "id", "version"} & set(fields)
    assert "Fever" in text_of(history.group(1))  # the term's name, not its key


def test_AT10_each_records_line_counts_the_changes_its_printed_history_lists(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    build_subject(app, "01-015")
    data_manager = make_user(RoleCode.DATA_MANAGER)
    with app.app_context():
        session = db.session()
        for onset in (dt.date(2025, 3, 5), dt.date(2025, 3, 6)):  # two saves: two changes
            factories.act(session, session.get_one(User, data_manager.id))  # each transaction names its actor
            event = ae_of(session, "01-015", 2)
            records.update_record(
                session, event, {"onset_date": onset}, seen_version=event.version, reason="per the admission note"
            )
            session.commit()
        db.session.remove()
    client = logged_in(client, make_user)

    def articles(page: str) -> dict[str, str]:
        return dict(re.findall(r'<article[^>]*id="(record-[^"]+)"(.*?)</article>', page, re.S))

    screen = articles(client.get("/casebook/01-015").text)
    printed = articles(client.get("/casebook/01-015?print=1").text)
    assert screen.keys() == printed.keys() and len(screen) > 10
    for anchor, body in screen.items():
        changes = re.search(r'data-changes="(\d+)"', body)
        assert changes is not None, anchor
        history = printed[anchor].split('<details class="casebook-history', 1)[1].split("<tbody>", 1)[1]
        assert int(changes.group(1)) == history.count("<tr>"), anchor
    edited = text_of(screen[f"record-adverse_event-{ae_id(app, '01-015', 2)}"]).replace(" ,", ",")
    assert re.search(r"Audit history: 3 changes, last by Anna Berg on \d{4}-\d\d-\d\d \d\d:\d\d UTC", edited)


def test_a_query_is_shown_on_its_record_with_its_messages(
    app: Flask, client: FlaskClient, make_user: MakeUser, subject_01: str
) -> None:
    monitor = make_user(RoleCode.MONITOR)
    with app.app_context():
        session = db.session()
        event = ae_of(session, subject_01, 1)
        queries.open_query(
            session,
            actor=session.get_one(User, monitor.id),
            subject_id=event.subject_id,
            table_name="adverse_event",
            record_id=event.id,
            field_name="onset_date",
            text="Onset date differs from the nursing notes",
            now=dt.datetime(2026, 3, 2, 9, tzinfo=UTC),
        )
        session.commit()
        db.session.remove()
    page = logged_in(client, make_user).get(f"/casebook/{subject_01}").text
    block = record_html(page, "adverse_event", ae_id(app, subject_01, 1))
    query = re.search(r'<li [^>]*data-query="open">.*?</ol>', block, re.S)
    assert query is not None
    words = text_of(query.group(0))
    assert "Query open on Onset date" in words and "Anna Berg" in words
    assert "Onset date differs from the nursing notes" in words
    assert "open quer" in page  # the form's header counts it


def test_SDV_a_verified_form_is_shown_cleared_after_an_edit(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    build_subject(app, "01-011")
    monitor = make_user(RoleCode.MONITOR)
    with app.app_context():
        session = db.session()
        sdv.mark_verified(
            session,
            actor=session.get_one(User, monitor.id),
            subject_id=subject_id(app, "01-011"),
            visit_id=None,
            form_code=FormCode.ADVERSE_EVENTS,
            now=dt.datetime(2026, 3, 2, 9, tzinfo=UTC),
        )
        session.commit()
        db.session.remove()
    client = logged_in(client, make_user)

    def adverse_events_form() -> str:
        page = client.get("/casebook/01-011").text
        found = re.search(
            r'<div class="card mb-2 casebook-form" id="form-subject-adverse_events".*?</summary>', page, re.S
        )
        assert found is not None
        return found.group(0)

    assert 'data-sdv="verified"' in adverse_events_form()
    with app.app_context():
        session = db.session()
        event = ae_of(session, "01-011", 2)
        records.update_record(
            session,
            event,
            {"end_date": dt.date(2025, 3, 9)},
            seen_version=event.version,
            reason="end date from the discharge letter",
        )
        session.commit()
        db.session.remove()
    header = adverse_events_form()
    assert 'data-sdv="cleared"' in header and "SDV cleared: verify again" in header
    assert "by a change to AE 2: Fever" in text_of(header)  # what cleared it, by name, never by key
    assert "adverse_event " not in text_of(header)
    with app.app_context():
        assert str(sdv.sdv_status(db.session(), subject_id(app, "01-011"), None, FormCode.ADVERSE_EVENTS)) == "cleared"
        db.session.remove()


def test_ES02_ES06_a_signature_is_shown_with_its_meaning_and_invalidated_when_the_record_changes(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    build_subject(app, "01-012")
    investigator = make_user(RoleCode.INVESTIGATOR)
    with app.app_context():
        session = db.session()
        event = ae_of(session, "01-012", 1)
        signatures.sign(
            session,
            signer=session.get_one(User, investigator.id),
            password=PASSWORD,
            username=investigator.email,
            meaning=SignatureMeaning.AE_CAUSALITY_ASSESSED,
            table_name="adverse_event",
            record_id=event.id,
            now=dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        )
        session.commit()
        db.session.remove()
    client = logged_in(client, make_user)
    record = ae_id(app, "01-012", 1)

    def signature_line() -> str:
        found = re.search(
            r"<li data-signature=.*?</li>",
            record_html(client.get("/casebook/01-012").text, "adverse_event", record),
            re.S,
        )
        assert found is not None
        return found.group(0)

    line = signature_line()
    assert 'data-signature="valid"' in line
    assert text_of(line).startswith("Signed (AE causality assessed) by Anna Berg, 2026-03-02 09:30 UTC")
    with app.app_context():
        session = db.session()
        event = ae_of(session, "01-012", 1)
        records.update_record(
            session,
            event,
            {"related_jk500": "possible"},
            seen_version=event.version,
            reason="causality revised after the case review",
        )
        session.commit()
        db.session.remove()
    line = signature_line()
    assert 'data-signature="invalidated"' in line and "needs re-signing" in line


def test_ES06_the_page_judges_a_signature_as_the_signature_service_does(app: Flask, make_user: MakeUser) -> None:
    """The page judges signatures from the rows it read (a constant number of statements); ``signature_status``
    reads per signature. Both must agree, for a signature on one record and for a casebook review covering every
    record."""
    build_subject(app, "01-013")
    investigator = make_user(RoleCode.INVESTIGATOR)
    with app.app_context():
        session = db.session()
        signer = session.get_one(User, investigator.id)
        event = ae_of(session, "01-013", 1)
        subject = session.get_one(Subject, event.subject_id)
        signed = [
            signatures.sign(
                session,
                signer=signer,
                password=PASSWORD,
                username=investigator.email,
                meaning=meaning,
                table_name=table,
                record_id=record,
                now=dt.datetime(2026, 3, 2, 10, tzinfo=UTC),
            )
            for meaning, table, record in [
                (SignatureMeaning.AE_CAUSALITY_ASSESSED, "adverse_event", event.id),
                (SignatureMeaning.CASEBOOK_REVIEWED, "subject", subject.id),
            ]
        ]
        session.commit()

        def judged() -> list[tuple[bool, bool]]:
            session.expire_all()
            found = casebook_page.find_subject(session, "01-013")
            assert found is not None
            states = casebook_page.load(session, *found).signature_states
            return [
                (
                    states[s.id] is signatures.SignatureState.VALID,
                    signatures.signature_status(session, s) is signatures.SignatureState.VALID,
                )
                for s in signed
            ]

        assert judged() == [(True, True), (True, True)]
        later = ae_of(session, "01-013", 2)  # not the signed AE: only the casebook review covers it
        records.update_record(session, later, {"grade": 2}, seen_version=later.version, reason="regraded")
        session.commit()
        assert judged() == [(True, True), (False, False)]
        db.session.remove()


def test_LK01_a_freeze_covering_a_form_and_a_removed_record_are_shown(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    build_subject(app, "01-014")
    admin = make_user(RoleCode.ADMIN)
    with app.app_context():
        session = db.session()
        event = ae_of(session, "01-014", 2)
        records.remove_record(session, event, seen_version=event.version, reason="duplicate of AE 1",
                              now=dt.datetime(2026, 3, 2, 8, tzinfo=UTC))  # fmt: skip
        locks.lock(session, actor=session.get_one(User, admin.id), level=LockLevel.FORM, mode=LockMode.FREEZE,
                   subject_id=event.subject_id, form_code=FormCode.ADVERSE_EVENTS, reason="interim safety review",
                   now=dt.datetime(2026, 3, 2, 9, tzinfo=UTC))  # fmt: skip
        session.commit()
        db.session.remove()
    page = logged_in(client, make_user).get("/casebook/01-014").text
    form = re.search(r'<div class="card mb-2 casebook-form" id="form-subject-adverse_events".*?</summary>', page, re.S)
    assert form is not None
    assert 'data-lock="frozen"' in form.group(0)
    assert "Frozen (form level): interim safety review" in text_of(form.group(0))
    other = re.search(r'<div class="card mb-2 casebook-form" id="form-subject-consent".*?</summary>', page, re.S)
    assert other is not None and "data-lock" not in other.group(0)  # the freeze covers its form only
    removed = record_html(page, "adverse_event", ae_id(app, "01-014", 2))
    assert "removed 2026-03-02 08:00 UTC: duplicate of AE 1" in text_of(removed)
    printed = record_html(client.get("/casebook/01-014?print=1").text, "adverse_event", ae_id(app, "01-014", 2))
    assert "duplicate of AE 1" in text_of(re.search(r"<details.*?</details>", printed, re.S).group(0))  # type: ignore[union-attr]


def test_free_text_is_shown_as_text(client: FlaskClient, make_user: MakeUser, subject_01: str) -> None:
    page = logged_in(client, make_user).get(f"/casebook/{subject_01}").text
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&#39;casebook&#39;)&lt;/script&gt;" in page
    assert re.search(r"<script>(?!\s*$)[^<]*alert", page) is None


def test_nothing_internal_is_shown(client: FlaskClient, make_user: MakeUser, subject_01: str) -> None:
    page = logged_in(client, make_user).get(f"/casebook/{subject_01}").text
    words = text_of(re.sub(r"<(style|script)[^>]*>.*?</\1>", "", page, flags=re.S))
    assert "subject_id" not in words and "record_id" not in words and "(internal key)" not in words
    assert "Subject id" not in words and "Version:" not in words


def test_the_printable_version_has_no_menu_and_opens_every_history(
    client: FlaskClient, make_user: MakeUser, subject_01: str
) -> None:
    logged_in(client, make_user)
    screen = client.get(f"/casebook/{subject_01}").text
    assert 'class="navbar' in screen and f'href="/casebook/{subject_01}?print=1"' in screen
    assert "casebook-history-summary" in screen and "casebook-history small" not in screen  # one line on screen
    printed = client.get(f"/casebook/{subject_01}?print=1")
    assert printed.status_code == 200
    assert "navbar" not in printed.text.split("<style", 1)[0] + printed.text.split("</style>", 1)[1]
    assert 'href="/matrix/"' not in printed.text  # no menu
    assert '<details class="casebook-history small" open>' in printed.text
    assert "casebook-history-summary" not in printed.text
    assert re.findall(r"<details(?![^>]*\bopen\b)[^>]*>", printed.text) == []  # every form and history unfolded
    assert re.search(r'<div class="card mb-2 casebook-form"[^>]*>\s*<details>', screen)  # forms folded on screen
    assert "@media print" in printed.text and "break-before: page" in printed.text
    # The same content: every record of the screen version is in the printed one.
    assert re.findall(r'id="record-[^"]+"', screen) == re.findall(r'id="record-[^"]+"', printed.text)
    assert "<script" not in printed.text  # nothing to run on paper, and no inline script anywhere
    assert 'nonce="' in printed.text.split("<style", 1)[1][:80]


# --- cost --------------------------------------------------------------------------------------------------------


def _review(app: Flask, number: str, monitor: int, investigator: User) -> None:
    """Every AE of the subject queried, signed and edited afterwards, and its form verified: the most per record."""
    with app.app_context():
        session = db.session()
        signer = session.get_one(User, investigator.id)
        events = session.scalars(
            sa.select(AdverseEvent).join(Subject).where(Subject.subject_number == number).order_by(AdverseEvent.id)
        ).all()
        sdv.mark_verified(
            session,
            actor=session.get_one(User, monitor),
            subject_id=events[0].subject_id,
            visit_id=None,
            form_code=FormCode.ADVERSE_EVENTS,
        )
        for event in events:
            queries.open_query(
                session,
                actor=session.get_one(User, monitor),
                subject_id=event.subject_id,
                table_name="adverse_event",
                record_id=event.id,
                text=f"check AE {event.ae_number}",
            )
            signatures.sign(
                session,
                signer=signer,
                password=PASSWORD,
                username=investigator.email,
                meaning=SignatureMeaning.AE_CAUSALITY_ASSESSED,
                table_name="adverse_event",
                record_id=event.id,
                now=dt.datetime(2026, 3, 2, 11, tzinfo=UTC),
            )
        session.commit()
        for event in events[::2]:
            records.update_record(
                session,
                event,
                {"outcome": "recovered"},
                seen_version=event.version,
                reason="outcome from the follow-up letter",
            )
        session.commit()
        db.session.remove()


def test_the_number_of_statements_does_not_grow_with_the_records(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    monitor, investigator = make_user(RoleCode.MONITOR), make_user(RoleCode.INVESTIGATOR)
    build_subject(app, "01-201", adverse_events=2)
    build_subject(app, "01-202", adverse_events=30)
    _review(app, "01-201", monitor.id, investigator)
    _review(app, "01-202", monitor.id, investigator)
    logged_in(client, make_user)
    few = statements_per_get(app, client, "/casebook/01-201")
    many = statements_per_get(app, client, "/casebook/01-202")
    assert client.get("/casebook/01-202").text.count('data-table="adverse_event"') == 30
    with app.app_context():
        dialect = db.engine.dialect.name
    assert few == many == PINNED_STATEMENTS[dialect]
    # On paper every audit event instead of the summary, and no menu (so not the role's name): one fewer.
    printed = [statements_per_get(app, client, f"/casebook/{number}?print=1") for number in ("01-201", "01-202")]
    assert printed == [PINNED_STATEMENTS[dialect] - 1] * 2
    listing = statements_per_get(app, client, "/casebook/")
    assert listing == statements_per_get(app, client, "/casebook/?site=01")
