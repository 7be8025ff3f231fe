"""The safety dashboard (issue 5): what it shows from stored derived values, who may open it, and its queries.

One small study is built per engine with the factories and derived under a set-up clock (2026-02-20 12:00);
the page is then read under the app's clock ten days later, when a report that was pending when derived has
become overdue. Both engines.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from admin.extensions import db
from admin.pages.safety import CANDIDATE_COLUMNS, Candidate, SafetyPage
from jk500db.derivations import CLOCK_KEY, derive_pending
from jk500db.models import AdverseEvent, CrsAssessment, CrsVasopressor, Infusion, Subject
from jk500db.models.vocabularies import DltDecision, Expectedness, Relatedness, RoleCode, SubjectStatus
from jk500db.services import accounts
from tests import factories
from tests import test_web_access as web

UTC = dt.UTC
#: The module's database per engine (a fixture of tests/test_web_access.py, reused by name).
database_url = web.database_url

#: When the scenario is entered and derived: the SAE's sponsor report (due 2026-02-21 10:00) is still pending.
SETUP_NOW = dt.datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
#: The app's clock when the page is read (web.Clock's start): that report is now overdue.
PAGE_NOW = web.Clock().now
SCRIPT = "<script>alert('x')</script>"
BIRTH_DATE = dt.date(2015, 3, 14)


# --- reading the page --------------------------------------------------------------------------------------


@dataclass
class Row:
    classes: list[str]
    cells: list[str] = field(default_factory=list)


class TableReader(HTMLParser):
    """The body rows of the table with a given id: each row's classes and its cells' whitespace-folded text."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.rows: list[Row] = []
        self._depth = 0  # nesting of <table> inside the wanted one (0: outside it)
        self._in_body = self._in_cell = False
        self._cell: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table" and (self._depth or values.get("id") == self.table_id):
            self._depth += 1
        elif self._depth and tag == "tbody":
            self._in_body = True
        elif self._depth and self._in_body and tag == "tr":
            self.rows.append(Row((values.get("class") or "").split()))
        elif self._depth and self._in_body and tag in ("td", "th"):
            self._in_cell, self._cell = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._depth:
            self._depth -= 1
        elif tag == "tbody":
            self._in_body = False
        elif tag in ("td", "th") and self._in_cell:
            self._in_cell = False
            self.rows[-1].cells.append(" ".join("".join(self._cell).split()))

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self._cell.append(data)


def table(html: str, table_id: str) -> list[Row]:
    reader = TableReader(table_id)
    reader.feed(html)
    assert reader.rows, f"no table #{table_id} with rows on the page"
    return reader.rows


def cells(html: str, table_id: str) -> list[list[str]]:
    return [row.cells for row in table(html, table_id)]


class TextReader(HTMLParser):
    """The whitespace-folded text of the element with a given id, and the links in it."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id = element_id
        self.found = False
        self.links: list[str] = []
        self._depth = 0  # open tags inside the wanted element (0: outside it)
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self._depth:
            self._depth += 1
            if tag == "a":
                self.links.append(values.get("href") or "")
        elif values.get("id") == self.element_id:
            self.found, self._depth = True, 1

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self._text).split())


def element(html: str, element_id: str) -> TextReader:
    reader = TextReader(element_id)
    reader.feed(html)
    assert reader.found, f"no element #{element_id} on the page"
    return reader


def text_of(html: str, element_id: str) -> str:
    return element(html, element_id).text


# --- the study ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    app: Flask
    logins: dict[RoleCode, str]


def _infused_subject(session: Session, number: str, status: SubjectStatus, *infusions: dt.datetime) -> Subject:
    subject = factories.subject(session, subject_number=number, screening_number=f"S{number}", status=status,
                                enrolled_on=infusions[0].date() - dt.timedelta(days=9))  # fmt: skip
    for index, started_at in enumerate(infusions, start=1):
        session.add(Infusion(subject_id=subject.id, infusion_number=index, started_at=started_at, product_lot="L1"))
    return subject


def _ae(session: Session, subject: Subject, number: int, term: str, **values: Any) -> AdverseEvent:
    return factories.adverse_event(session, subject_id=subject.id, ae_number=number,
                                   ctcae_term_id=factories.ctcae_term(session, term).id, **values)  # fmt: skip


def _crs_grade_3(session: Session, event: AdverseEvent, at: dt.datetime) -> None:
    """ASTCT 2019 grade 3: fever with hypotension needing one vasopressor."""
    crs = CrsAssessment(subject_id=event.subject_id, adverse_event_id=event.id, assessed_at=at,
                        max_temp_c=Decimal("39.2"), hypotension=True)  # fmt: skip
    session.add(crs)
    session.flush()
    session.add(CrsVasopressor(subject_id=event.subject_id, assessment_id=crs.id, drug="norepinephrine"))


def build_study(session: Session) -> None:
    """01-001 infused (window open) with two DLT candidates, a CRS and an SAE gone overdue since it was derived;
    01-002 infused last year with an SAE reported on time; 01-003 a screen failure; 01-004 removed."""
    first, second = dt.datetime(2026, 2, 10, 9, 0, tzinfo=UTC), dt.datetime(2026, 2, 17, 9, 0, tzinfo=UTC)
    a = _infused_subject(session, "01-001", SubjectStatus.INFUSED, first, second)
    _ae(session, a, 1, "Febrile neutropenia", grade=3, onset_date=dt.date(2026, 2, 12))
    crs = _ae(session, a, 2, "Cytokine release syndrome", grade=2, onset_date=dt.date(2026, 2, 11),
              dlt_decision=DltDecision.CONFIRMED)  # fmt: skip
    _crs_grade_3(session, crs, dt.datetime(2026, 2, 11, 10, 0, tzinfo=UTC))
    # Onset the day before the first infusion: outside the DLT window. A SUSAR (lymphodepletion, unexpected).
    _ae(session, a, 3, "Sepsis", grade=3, onset_date=dt.date(2026, 2, 9), serious=True,
        serious_hospitalisation=True, awareness_at=dt.datetime(2026, 2, 20, 10, 0, tzinfo=UTC),
        related_lymphodepletion=Relatedness.POSSIBLE, expectedness=Expectedness.UNEXPECTED)  # fmt: skip
    _ae(session, a, 4, "Rash maculo-papular", grade=3, onset_date=dt.date(2026, 2, 13),
        removed_at=SETUP_NOW, removed_reason="entered for the wrong subject")  # fmt: skip

    b = _infused_subject(session, "01-002", SubjectStatus.FOLLOW_UP, dt.datetime(2025, 6, 1, 9, 0, tzinfo=UTC))
    aware = dt.datetime(2025, 6, 20, 10, 0, tzinfo=UTC)
    _ae(session, b, 1, "Lung infection", grade=3, onset_date=dt.date(2025, 6, 19), verbatim=SCRIPT, serious=True,
        serious_hospitalisation=True, awareness_at=aware, sponsor_reported_at=aware + dt.timedelta(hours=5),
        dlt_decision=DltDecision.NOT_A_DLT)  # fmt: skip

    factories.subject(session, subject_number="01-003", screening_number="S01-003",
                      status=SubjectStatus.SCREEN_FAILED)  # fmt: skip
    d = factories.subject(session, subject_number="01-004", screening_number="S01-004",
                          status=SubjectStatus.ENROLLED, enrolled_on=dt.date(2026, 1, 5),
                          removed_at=SETUP_NOW, removed_reason="duplicate registration")  # fmt: skip
    _ae(session, d, 1, "Hypoxia", grade=4, onset_date=dt.date(2026, 1, 20))


def many_subjects(session: Session, first: int, count: int) -> None:
    """More subjects, each with rows in every section (infusion, severe SAE, DLT candidate, CRS)."""
    for number in range(first, first + count):
        subject = _infused_subject(session, f"02-{number:03d}", SubjectStatus.INFUSED,
                                   dt.datetime(2026, 2, 1, 9, 0, tzinfo=UTC))  # fmt: skip
        event = _ae(session, subject, 1, "Cytokine release syndrome", grade=3, onset_date=dt.date(2026, 2, 2),
                    serious=True, serious_life_threatening=True,
                    awareness_at=dt.datetime(2026, 2, 2, 8, 0, tzinfo=UTC))  # fmt: skip
        _crs_grade_3(session, event, dt.datetime(2026, 2, 2, 9, 0, tzinfo=UTC))


@contextmanager
def setup_session(app: Flask) -> Iterator[Session]:
    """A session writing as the test actor, deriving under the set-up clock; committed at the end."""
    with app.app_context():
        session = db.session()
        session.info[CLOCK_KEY] = lambda: SETUP_NOW
        yield session
        derive_pending(session)
        session.commit()


@pytest.fixture(scope="module")
def scenario(database_url: str) -> Iterator[Scenario]:
    with web.built_app(database_url, JK500DB_CLOCK=web.Clock()) as app:
        with setup_session(app) as session:
            build_study(session)
            logins = {}
            for role in RoleCode:
                email = f"{role.value}.{uuid.uuid4().hex[:8]}@hospital.example"
                accounts.create_user(session, email=email, full_name=f"Safety {role.value}", role=role,
                                     password=web.PASSWORD, must_change_password=False)  # fmt: skip
                logins[role] = email
        yield Scenario(app, logins)


def page_as(scenario: Scenario, role: RoleCode) -> str:
    client = scenario.app.test_client()
    assert web.log_in(client, scenario.logins[role]).status_code == 302
    response = client.get("/safety/")
    assert response.status_code == 200
    return response.text


# --- who may open it ---------------------------------------------------------------------------------------


def test_a_dlt_candidate_is_read_from_its_columns_in_field_order() -> None:
    """Candidates are built by position (one per row, up to every candidate of the study)."""
    assert [column.key for column in CANDIDATE_COLUMNS] == [f.name for f in fields(Candidate)]


def test_every_role_may_read_the_safety_dashboard() -> None:
    """Issue 5: data manager, monitor, investigator, admin and statistician; there is no other role."""
    assert set(SafetyPage.roles) == set(RoleCode)


@pytest.mark.parametrize("role", list(RoleCode))
def test_each_role_opens_the_page(scenario: Scenario, role: RoleCode) -> None:
    assert "Serious adverse events: reporting" in page_as(scenario, role)


def test_an_anonymous_visitor_is_sent_to_the_login_page(scenario: Scenario) -> None:
    response = scenario.app.test_client().get("/safety/")
    assert web.redirects_to_login(response)


def test_the_statistician_sees_no_birth_date(scenario: Scenario) -> None:
    assert BIRTH_DATE.isoformat() not in page_as(scenario, RoleCode.STATISTICIAN)


# --- what it shows -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def html(scenario: Scenario) -> str:
    return page_as(scenario, RoleCode.INVESTIGATOR)


def test_the_page_is_read_at_the_apps_clock(html: str) -> None:
    assert f"as of {PAGE_NOW:%Y-%m-%d %H:%M} UTC" in html


def test_enrolment_counts_live_subjects_by_status_against_the_planned_number(html: str) -> None:
    counts = {status: count for status, count in cells(html, "enrolment")}
    assert counts["Infused"] == "1" and counts["Follow up"] == "1" and counts["Screen failed"] == "1"
    assert counts["Enrolled"] == "0"  # 01-004 is removed
    assert "2 enrolled of 12 planned (3 subjects screened)" in " ".join(html.split()).replace("<strong>", "").replace(
        "</strong>", ""
    )


def test_severe_events_list_grade_3_or_higher_by_either_grade(html: str) -> None:
    assert cells(html, "severe-events") == [
        ["01-001", "1", "Febrile neutropenia", "3", "—", "2026-02-12", "no"],
        # The investigator said 2; ASTCT grades the episode 3, so it is listed.
        ["01-001", "2", "Cytokine release syndrome", "2", "3", "2026-02-11", "no"],
        ["01-001", "3", "Sepsis", "3", "—", "2026-02-09", "yes"],
        ["01-002", "1", f"Lung infection ({SCRIPT})", "3", "—", "2025-06-19", "yes"],
    ]  # not the removed rash of 01-001, nor the removed subject 01-004's hypoxia


def test_an_sae_past_its_due_time_is_overdue_now_though_stored_as_pending(html: str) -> None:
    overdue, on_time = table(html, "saes")  # the SAE with a report to send first, then the one fully reported
    assert "table-danger" in overdue.classes
    assert overdue.cells == [
        "01-001", "3", "Sepsis", "3",
        "2026-02-21 10:00 UTC overdue", "—",
        "2026-03-07", "—",  # ICH E2A day 15 for a SUSAR that is not fatal or life-threatening
        "overdue stored as pending until recomputed",
    ]  # fmt: skip
    assert "table-danger" not in on_time.classes
    assert on_time.cells == [
        "01-002", "1", f"Lung infection ({SCRIPT})", "3",
        "2025-06-21 10:00 UTC", "2025-06-20 15:00 UTC", "—", "—", "submitted",
    ]  # fmt: skip
    assert text_of(html, "saes-summary") == (
        "1 SAE with a report still to send, all listed first, overdue ones at the top. "
        "With every report sent: 1, newest onset first."
    )


def test_small_sections_are_shown_whole_without_a_cap_note(html: str) -> None:
    assert 'id="severe-shown"' not in html and 'id="episodes-shown"' not in html


def test_dlt_windows_run_from_the_first_infusion_with_candidates_and_decisions(html: str) -> None:
    assert cells(html, "dlt-windows") == [
        [
            "01-001", "2026-02-10", "2026-03-10", "open",
            "AE 1 Febrile neutropenia, grade 3, onset 2026-02-12: awaiting confirmation "
            "AE 2 Cytokine release syndrome, grade 3, onset 2026-02-11: confirmed DLT",
        ],
    ]  # fmt: skip


def test_a_closed_window_with_every_candidate_decided_is_counted_not_listed(html: str) -> None:
    """01-002's window closed on 2025-06-29 and its one candidate was judged not a DLT: nothing to do."""
    assert "01-002" not in " ".join(" ".join(row) for row in cells(html, "dlt-windows"))
    assert text_of(html, "dlt-closed") == (
        "Not listed: 1 infused subject whose window has closed with no candidate awaiting confirmation."
    )


def test_crs_episodes_show_the_derived_episode_maximum(html: str) -> None:
    assert cells(html, "episodes") == [["01-001", "2", "CRS", "Cytokine release syndrome", "3", "2", "2026-02-11"]]


def test_free_text_is_shown_as_text_not_run(html: str) -> None:
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


# --- a constant number of queries --------------------------------------------------------------------------
# The tests from here on add subjects; the content tests above do not expect them, so these come last.


#: Statements per request: the page's 9 (study, active study definition and its settings, enrolment, severe AEs,
#: SAEs, DLT windows with their candidates, infused subjects, CRS/ICANS episodes), whatever the number of
#: subjects, and the user and role look-ups every request makes; on PostgreSQL, the 4 ``set_config`` calls that
#: attribute a transaction to its user.
PINNED_QUERIES = {"sqlite": 11, "postgresql": 14}


def test_the_number_of_queries_does_not_grow_with_the_number_of_subjects(scenario: Scenario) -> None:
    client = scenario.app.test_client()
    web.log_in(client, scenario.logins[RoleCode.MONITOR])
    few = web.statements_per_get(scenario.app, client, "/safety/")
    with setup_session(scenario.app) as session:
        many_subjects(session, 1, 25)
    html = client.get("/safety/").text
    # Their windows closed on 2026-03-01 but each has a candidate awaiting confirmation: all are listed.
    assert len(table(html, "dlt-windows")) == 1 + 25
    many = web.statements_per_get(scenario.app, client, "/safety/")
    with scenario.app.app_context():
        engine = db.engine.dialect.name
    assert few == many == PINNED_QUERIES[engine], (few, many)


# --- what needs action is complete, the rest capped ----------------------------------------------------------
# Each test reads the page before and after adding its own subject, so it holds whatever the tests before added.


def _enrolled_subject(session: Session, number: str) -> Subject:
    """A subject not infused: its AEs are never DLT candidates."""
    return factories.subject(session, subject_number=number, screening_number=f"S{number}",
                             status=SubjectStatus.ENROLLED, enrolled_on=dt.date(2025, 1, 2))  # fmt: skip


def _total_shown(html: str, table_id: str, note_id: str) -> int:
    """How many a capped section holds: the total its note states, or its rows when it has no note."""
    if f'id="{note_id}"' not in html:
        return len(table(html, table_id))
    return int(text_of(html, note_id).split(" of ")[1].split()[0].replace(",", ""))


def test_more_than_50_severe_events_and_episodes_show_the_newest_50_and_state_the_total(scenario: Scenario) -> None:
    before = page_as(scenario, RoleCode.INVESTIGATOR)
    severe_before = _total_shown(before, "severe-events", "severe-shown")
    episodes_before = _total_shown(before, "episodes", "episodes-shown")
    with setup_session(scenario.app) as session:
        subject = _enrolled_subject(session, "03-001")
        for number in range(1, 61):  # onsets 2026-02-18 and 19, newer than every other event
            event = _ae(session, subject, number, "Cytokine release syndrome", grade=3,
                        onset_date=dt.date(2026, 2, 18) + dt.timedelta(days=number // 31))  # fmt: skip
            _crs_grade_3(session, event, dt.datetime(2026, 2, 19, 10, 0, tzinfo=UTC))
    html = page_as(scenario, RoleCode.INVESTIGATOR)

    severe = cells(html, "severe-events")
    assert len(severe) == 50
    # Newest onset first, the later entry first within a day: AEs 60 .. 31 (2026-02-19), then 30 .. 11.
    assert [row[1] for row in severe] == [str(n) for n in range(60, 10, -1)]
    assert {row[0] for row in severe} == {"03-001"}
    assert text_of(html, "severe-shown") == (
        f"Showing the 50 newest of {severe_before + 60} adverse events of grade 3 or higher (by onset). "
        "The others are in the adverse events list."
    )
    assert element(html, "severe-shown").links == ["/crf/adverse_event/"]

    episodes = cells(html, "episodes")
    assert len(episodes) == 50 and episodes[0] == ["03-001", "60", "CRS", "Cytokine release syndrome", "3", "3",
                                                   "2026-02-19"]  # fmt: skip
    assert text_of(html, "episodes-shown").startswith(f"Showing the 50 newest of {episodes_before + 60} CRS and ICANS")


def test_the_list_the_cap_links_to_opens_for_the_reader(scenario: Scenario) -> None:
    client = scenario.app.test_client()
    web.log_in(client, scenario.logins[RoleCode.MONITOR])
    html = client.get("/safety/").text
    link = element(html, "severe-shown").links[0]
    assert client.get(link).status_code == 200


def test_the_statistician_is_told_the_total_without_a_link_to_the_identified_list(scenario: Scenario) -> None:
    """Statisticians cannot open the AE list (they use the de-identified exports): no link they cannot follow."""
    html = page_as(scenario, RoleCode.STATISTICIAN)
    assert text_of(html, "severe-shown").startswith("Showing the 50 newest of ")
    assert element(html, "severe-shown").links == []
    assert "/crf/adverse_event/" not in html


def test_an_overdue_sae_older_than_the_newest_50_reported_is_still_listed(scenario: Scenario) -> None:
    before = page_as(scenario, RoleCode.INVESTIGATOR)
    to_report_before = len(table(before, "saes")) - min(50, _reported_total(before))
    reported_before = _reported_total(before)
    with setup_session(scenario.app) as session:
        subject = _enrolled_subject(session, "03-002")
        aware = dt.datetime(2024, 11, 5, 9, 0, tzinfo=UTC)
        # The oldest SAE of the study, its report to the sponsor never sent.
        _ae(session, subject, 1, "Sepsis", grade=4, onset_date=dt.date(2024, 11, 4), serious=True,
            serious_life_threatening=True, awareness_at=aware)  # fmt: skip
        for number in range(2, 57):  # 55 SAEs reported on time, newer than every other SAE
            onset = dt.date(2025, 12, 1) + dt.timedelta(days=number)
            aware = dt.datetime.combine(onset, dt.time(8, 0), UTC)
            _ae(session, subject, number, "Lung infection", grade=3, onset_date=onset, serious=True,
                serious_hospitalisation=True, awareness_at=aware,
                sponsor_reported_at=aware + dt.timedelta(hours=6))  # fmt: skip
    html = page_as(scenario, RoleCode.INVESTIGATOR)

    rows = table(html, "saes")
    assert len(rows) == to_report_before + 1 + 50
    oldest = next(row for row in rows if row.cells[:2] == ["03-002", "1"])
    assert "table-danger" in oldest.classes
    assert oldest.cells[4] == "2024-11-06 09:00 UTC overdue" and oldest.cells[-1] == "overdue"
    reported = [row.cells for row in rows if row.cells[-1] == "submitted"]
    assert len(reported) == 50
    assert reported[0][:2] == ["03-002", "56"]  # the newest onset first
    assert _reported_total(html) == reported_before + 55
    summary = text_of(html, "saes-summary")
    assert f"the 50 newest of {reported_before + 55}, newest onset first. The others are in the adverse" in summary


def _reported_total(html: str) -> int:
    """The number of SAEs with every report sent, as the section's summary states it."""
    sent = text_of(html, "saes-summary").split("With every report sent: ")[1]
    total = sent.split(" of ")[1] if sent.startswith("the ") else sent
    return int(total.split(", newest")[0].replace(",", ""))


def _closed_windows(html: str) -> int:
    if 'id="dlt-closed"' not in html:
        return 0
    return int(text_of(html, "dlt-closed").split()[2].replace(",", ""))


def test_a_closed_window_with_a_candidate_awaiting_confirmation_stays_listed(scenario: Scenario) -> None:
    closed_before = _closed_windows(page_as(scenario, RoleCode.INVESTIGATOR))
    with setup_session(scenario.app) as session:
        late = _infused_subject(session, "03-003", SubjectStatus.FOLLOW_UP, dt.datetime(2025, 1, 6, 9, 0, tzinfo=UTC))
        _ae(session, late, 1, "Febrile neutropenia", grade=3, onset_date=dt.date(2025, 1, 8))
        # Infused 28 days before the page's day: the window's last day is today, so it is still open.
        _infused_subject(session, "03-004", SubjectStatus.INFUSED, dt.datetime(2026, 2, 2, 23, 0, tzinfo=UTC))
        # A day earlier: closed, and nothing awaits a decision, so only counted.
        _infused_subject(session, "03-005", SubjectStatus.INFUSED, dt.datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    html = page_as(scenario, RoleCode.INVESTIGATOR)
    windows = {row[0]: row for row in cells(html, "dlt-windows")}
    assert windows["03-003"] == [
        "03-003", "2025-01-06", "2025-02-03", "closed",
        "AE 1 Febrile neutropenia, grade 3, onset 2025-01-08: awaiting confirmation",
    ]  # fmt: skip
    assert windows["03-004"] == ["03-004", "2026-02-02", "2026-03-02", "open", "none"]
    assert "03-005" not in windows
    assert _closed_windows(html) == closed_before + 1
