"""The safety dashboard (issue 5): enrolment, severe AEs, SAE reporting clocks, DLT windows, CRS/ICANS episodes.

Every clinical value shown is a value the database stored: the investigator's entries and the derived values
``jk500db.derivations`` computed from them (episode grades, DLT candidacy, report due dates). The one thing
computed here is whether a report is overdue *now*: a stored report status is only as fresh as its subject's
last recomputation, and a deadline passes without any write that would trigger one.

What needs someone's action is listed in full: every SAE with a report still to send, and every infused subject
whose DLT window is open or who has a candidate awaiting the investigator's decision. The rest is history and
is capped in SQL, so the page stays small and fast at thousands of subjects: the newest ``SHOWN`` severe AEs,
CRS/ICANS episodes and fully reported SAEs, each with the total counted in the same statement (a window
``count(*) over ()`` is computed before the ``LIMIT``), and closed DLT windows only counted.

The page runs a fixed number of statements whatever the number of subjects: the study, its settings, the
enrolment counts, one each for the severe AEs, the episodes and the SAEs, and two for the DLT windows (those
listed, with their candidates, and the number of infused subjects). Each capped section ranks and counts the
AE ids alone, then reads the few rows it keeps in full.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from flask import current_app, url_for
from flask_admin import expose
from flask_login import current_user

from admin.base_view import Action
from admin.crf.view import CRF_PERMISSIONS
from admin.extensions import db, utcnow
from admin.links import crf_endpoint
from admin.pages.base import SecurePage, words
from jk500db.clinical import reporting, schedule
from jk500db.clinical.settings import RuleSettings
from jk500db.derivations.adverse_events import STATUS_ORDER
from jk500db.models import AdverseEvent, CrsAssessment, CtcaeTerm, IcansAssessment, Infusion, Site, Study, Subject
from jk500db.models.vocabularies import DltDecision, ReportStatus, RoleCode, SubjectStatus
from jk500db.services.study_definition import rule_settings

#: The lowest CTCAE grade the "severe adverse events" section lists (CTCAE grade 3: severe).
SEVERE_GRADE = 3
#: Rows of each capped section (severe AEs, episodes, fully reported SAEs): the newest, by onset.
SHOWN = 50

DECISION_LABELS: dict[DltDecision | None, str] = {
    DltDecision.CONFIRMED: "confirmed DLT",
    DltDecision.NOT_A_DLT: "not a DLT",
    None: "awaiting confirmation",
}

T = TypeVar("T")


@dataclass(frozen=True)
class EventRow:
    """One live adverse event of a live subject, with the values every section may need."""

    subject_number: str
    ae_number: int
    term: str
    verbatim: str | None
    grade: int
    derived_grade: int | None
    onset_date: dt.date
    serious: bool
    sponsor_report_due_at: dt.datetime | None
    sponsor_reported_at: dt.datetime | None
    regulator_initial_due_on: dt.date | None
    regulator_reported_on: dt.date | None
    report_status: ReportStatus | None
    dlt_candidate: bool | None
    dlt_decision: DltDecision | None
    has_crs: bool
    has_icans: bool

    @property
    def episode_kind(self) -> str:
        return " and ".join(kind for kind, present in (("CRS", self.has_crs), ("ICANS", self.has_icans)) if present)


EVENT_FIELDS = tuple(f.name for f in fields(EventRow))


@dataclass(frozen=True)
class Capped(Generic[T]):
    """The rows a section shows and how many there are in all."""

    rows: list[T]
    total: int

    @property
    def hidden(self) -> int:
        return self.total - len(self.rows)


@dataclass(frozen=True)
class SaeRow:
    """A serious AE with its reporting clocks judged against the app's clock now."""

    event: EventRow
    sponsor_overdue: bool
    regulator_overdue: bool
    status_now: ReportStatus | None

    @property
    def overdue(self) -> bool:
        return self.sponsor_overdue or self.regulator_overdue

    @property
    def stored_status_is_stale(self) -> bool:
        return self.event.report_status is not None and self.event.report_status != self.status_now


@dataclass(frozen=True)
class Saes:
    #: every SAE with a report still to send (or its clocks not yet derived), overdue ones first.
    to_report: list[SaeRow]
    #: the newest SAEs whose every due report was sent, with their total.
    reported: Capped[SaeRow]


@dataclass(frozen=True)
class Candidate:
    """A live AE derived as a DLT candidate, with the investigator's decision if made."""

    ae_number: int
    term: str
    verbatim: str | None
    grade: int
    derived_grade: int | None
    onset_date: dt.date
    dlt_decision: DltDecision | None

    @property
    def dlt_grade(self) -> int:
        """The higher of the investigator's and the derived grade, the one the DLT rule reads."""
        return max(self.grade, self.derived_grade or 0)

    @property
    def dlt_decision_label(self) -> str:
        return DECISION_LABELS[self.dlt_decision]


#: The columns a Candidate is read from, in the order of its fields (a test holds them together).
CANDIDATE_COLUMNS = (
    AdverseEvent.ae_number,
    CtcaeTerm.term,
    AdverseEvent.verbatim,
    AdverseEvent.grade,
    AdverseEvent.derived_grade,
    AdverseEvent.onset_date,
    AdverseEvent.dlt_decision,
)


@dataclass
class DltWindowRow:
    subject_number: str
    first_infusion: dt.date
    window_end: dt.date
    open: bool
    candidates: list[Candidate] = field(default_factory=list)


@dataclass(frozen=True)
class DltWindows:
    #: subjects whose window is open or who have a candidate awaiting confirmation.
    rows: list[DltWindowRow]
    #: infused subjects not listed: window closed and every candidate decided.
    closed: int


@dataclass(frozen=True)
class EnrolmentRow:
    status: str
    subjects: int


@dataclass(frozen=True)
class Enrolment:
    rows: list[EnrolmentRow]
    enrolled: int
    total: int
    planned: int


def _first_study() -> Study | None:
    # One study per database (the trial's own); the same choice as the home page.
    return db.session.scalar(sa.select(Study).order_by(Study.id).limit(1))


def _live_subjects_of(study: Study) -> sa.ColumnElement[bool]:
    return sa.and_(Subject.removed_at.is_(None), Site.study_id == study.id)


def load_enrolment(study: Study) -> Enrolment:
    """Subjects by status (every status listed, zeros too, in trial order) and those enrolled."""
    query = (
        sa.select(Subject.status, sa.func.count(), sa.func.count(Subject.enrolled_on))
        .join(Site, Subject.site_id == Site.id)
        .where(_live_subjects_of(study))
        .group_by(Subject.status)
    )
    counts = {status: (total, enrolled) for status, total, enrolled in db.session.execute(query).tuples()}
    rows = [EnrolmentRow(words(status), counts.get(status, (0, 0))[0]) for status in SubjectStatus]
    return Enrolment(
        rows=rows,
        enrolled=sum(enrolled for _, enrolled in counts.values()),
        total=sum(total for total, _ in counts.values()),
        planned=study.planned_enrolment,
    )


# --- adverse events ----------------------------------------------------------------------------------------


def _live_assessment(model: type[CrsAssessment] | type[IcansAssessment]) -> sa.Exists:
    return sa.exists().where(model.adverse_event_id == AdverseEvent.id, model.removed_at.is_(None))


#: Either grade, as the DLT rule reads them: a CRS the investigator called grade 2 that ASTCT grades 3 is severe
#: until the investigator's grade is reconciled.
SEVERE = sa.or_(AdverseEvent.grade >= SEVERE_GRADE, AdverseEvent.derived_grade >= SEVERE_GRADE)
#: AEs with a live CRS or ICANS assessment: the assessments are few, so they are read once (not per AE).
EPISODE = AdverseEvent.id.in_(
    sa.union(
        sa.select(CrsAssessment.adverse_event_id).where(CrsAssessment.removed_at.is_(None)),
        sa.select(IcansAssessment.adverse_event_id).where(IcansAssessment.removed_at.is_(None)),
    )
)
#: Newest first: by onset, then the later entry (the higher id) among events of the same day.
NEWEST_FIRST = (AdverseEvent.onset_date.desc(), AdverseEvent.id.desc())
#: Every report due has been sent. Without a sponsor due date the clocks are not derived yet (no awareness
#: date): such an SAE still needs someone, so it is not "reported". A CASE, so that it stays one value where a
#: window partitions by it (a bare AND would be spread into one partition column per term).
REPORTED = sa.case(
    (
        sa.and_(
            AdverseEvent.sponsor_report_due_at.is_not(None),
            AdverseEvent.sponsor_reported_at.is_not(None),
            sa.or_(AdverseEvent.regulator_initial_due_on.is_(None), AdverseEvent.regulator_reported_on.is_not(None)),
        ),
        True,
    ),
    else_=False,
)


def _live_event_ids(study: Study, *extra: Any) -> sa.Select[Any]:
    """The ids of the live AEs of the study's live subjects, followed by ``extra``: the narrow query a section
    ranks, counts and limits, before the few rows it keeps are read whole."""
    return (
        sa.select(AdverseEvent.id, *extra)
        .join(Subject, AdverseEvent.subject_id == Subject.id)
        .join(Site, Subject.site_id == Site.id)
        .where(_live_subjects_of(study), AdverseEvent.removed_at.is_(None))
    )


def _events_among(ids: sa.Subquery) -> sa.Select[Any]:
    """The EventRow columns of the AEs whose ids ``ids`` holds, followed by ``ids``' other columns."""
    return (
        sa.select(
            Subject.subject_number,
            AdverseEvent.ae_number,
            CtcaeTerm.term,
            AdverseEvent.verbatim,
            AdverseEvent.grade,
            AdverseEvent.derived_grade,
            AdverseEvent.onset_date,
            AdverseEvent.serious,
            AdverseEvent.sponsor_report_due_at,
            AdverseEvent.sponsor_reported_at,
            AdverseEvent.regulator_initial_due_on,
            AdverseEvent.regulator_reported_on,
            AdverseEvent.report_status,
            AdverseEvent.dlt_candidate,
            AdverseEvent.dlt_decision,
            _live_assessment(CrsAssessment).label("has_crs"),
            _live_assessment(IcansAssessment).label("has_icans"),
            *(column for column in ids.c if column.name != "id"),
        )
        .join(ids, ids.c.id == AdverseEvent.id)
        .join(Subject, AdverseEvent.subject_id == Subject.id)
        .join(CtcaeTerm, AdverseEvent.ctcae_term_id == CtcaeTerm.id)
    )


def _event(row: sa.Row[Any]) -> EventRow:
    values = row._mapping
    return EventRow(**{name: values[name] for name in EVENT_FIELDS})


def load_newest_events(study: Study, which: sa.ColumnElement[bool], limit: int = SHOWN) -> Capped[EventRow]:
    """The newest ``limit`` live AEs matching ``which``, and how many match in all (one statement: the count is
    a window over every match, computed before the LIMIT)."""
    newest = (
        _live_event_ids(study, sa.func.count().over().label("total"))
        .where(which)
        .order_by(*NEWEST_FIRST)
        .limit(limit)
        .subquery()
    )
    rows = db.session.execute(_events_among(newest).order_by(*NEWEST_FIRST)).all()
    return Capped([_event(row) for row in rows], rows[0].total if rows else 0)


def judge_reports(event: EventRow, now: dt.datetime) -> SaeRow:
    """The event's reports against their due dates now, with the derivation's own rule (reporting.report_status)."""
    statuses: list[str] = []
    sponsor_overdue = regulator_overdue = False
    if event.sponsor_report_due_at is not None:
        sponsor = reporting.report_status(event.sponsor_report_due_at, event.sponsor_reported_at, now)
        sponsor_overdue = sponsor == ReportStatus.OVERDUE
        statuses.append(sponsor)
    if event.regulator_initial_due_on is not None:
        regulator = reporting.report_status(event.regulator_initial_due_on, event.regulator_reported_on, now.date())
        regulator_overdue = regulator == ReportStatus.OVERDUE
        statuses.append(regulator)
    # The most pressing report gives the event's status, as in the derivation.
    status_now = next((s for s in STATUS_ORDER if s.value in statuses), None)
    return SaeRow(event, sponsor_overdue, regulator_overdue, status_now)


def load_saes(study: Study, now: dt.datetime, limit: int = SHOWN) -> Saes:
    """Every SAE with a report to send, and the newest ``limit`` fully reported ones with their total.

    One statement: the SAEs are numbered newest first within each group (reported or not) and counted per
    group; the outer query keeps every unreported SAE and the first ``limit`` reported ones.
    """
    ranked = (
        _live_event_ids(
            study,
            REPORTED.label("reported"),
            sa.func.row_number().over(partition_by=REPORTED, order_by=NEWEST_FIRST).label("rank"),
            sa.func.count().over(partition_by=REPORTED).label("in_group"),
        )
        .where(AdverseEvent.serious.is_(True))
        .subquery()
    )
    query = (
        _events_among(ranked)
        .where(sa.or_(ranked.c.reported.is_(False), ranked.c.rank <= limit))
        .order_by(ranked.c.reported, ranked.c.rank)
    )
    to_report: list[SaeRow] = []
    reported_rows: list[SaeRow] = []
    reported_total = 0
    for row in db.session.execute(query):
        sae = judge_reports(_event(row), now)
        if row.reported:
            reported_rows.append(sae)
            reported_total = row.in_group
        else:
            to_report.append(sae)
    # Overdue first (judged now, which SQL does not know), then newest first as SQL ordered them.
    to_report.sort(key=lambda sae: not sae.overdue)
    return Saes(to_report, Capped(reported_rows, reported_total))


# --- DLT windows ---------------------------------------------------------------------------------------------


def load_dlt_windows(study: Study, settings: RuleSettings, today: dt.date) -> DltWindows:
    """Infused subjects whose DLT window (from the first live infusion) is open today or who have a candidate
    awaiting confirmation, each with all its candidates; the other infused subjects are only counted."""
    # schedule.dlt_window ends window_days after the first infusion, inclusive: the window is open today for a
    # first infusion on or after this day (UTC, as the derivation takes the date of the stored UTC instant).
    earliest_open = dt.datetime.combine(today - dt.timedelta(days=settings.dlt_window_days), dt.time(), dt.UTC)
    first_infusion = sa.func.min(Infusion.started_at)
    awaiting = sa.select(AdverseEvent.subject_id).where(
        AdverseEvent.removed_at.is_(None), AdverseEvent.dlt_candidate.is_(True), AdverseEvent.dlt_decision.is_(None)
    )
    listed = sa.or_(first_infusion >= earliest_open, Subject.id.in_(awaiting))
    infused = (
        sa.select(Subject.id.label("subject_id"), Subject.subject_number, first_infusion.label("first_infusion_at"))
        .join(Infusion, Infusion.subject_id == Subject.id)
        .join(Site, Subject.site_id == Site.id)
        .where(_live_subjects_of(study), Infusion.removed_at.is_(None))
        .group_by(Subject.id, Subject.subject_number)
    )
    windows = infused.having(listed).subquery()
    candidates = (
        sa.select(windows.c.subject_number, windows.c.first_infusion_at, *CANDIDATE_COLUMNS)
        .select_from(windows)
        .outerjoin(
            AdverseEvent,
            sa.and_(
                AdverseEvent.subject_id == windows.c.subject_id,
                AdverseEvent.removed_at.is_(None),
                AdverseEvent.dlt_candidate.is_(True),
            ),
        )
        .outerjoin(CtcaeTerm, AdverseEvent.ctcae_term_id == CtcaeTerm.id)
        .order_by(windows.c.subject_number, AdverseEvent.ae_number)
    )
    rows: dict[str, DltWindowRow] = {}
    for row in db.session.execute(candidates):
        window_row = rows.get(row.subject_number)
        if window_row is None:
            window = schedule.dlt_window(row.first_infusion_at.date(), settings)
            window_row = DltWindowRow(row.subject_number, window.start, window.end, today <= window.end)
            rows[row.subject_number] = window_row
        if row.ae_number is not None:  # None: the outer join found no candidate
            window_row.candidates.append(Candidate(*row[2:]))  # by position: a candidate per subject adds up
    # Every listed subject is infused, so the rest are the infused subjects not listed: counted without reading
    # the adverse events again.
    infused_total = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Infusion.subject_id)))
        .join(Subject, Infusion.subject_id == Subject.id)
        .join(Site, Subject.site_id == Site.id)
        .where(_live_subjects_of(study), Infusion.removed_at.is_(None))
    )
    return DltWindows(list(rows.values()), (infused_total or 0) - len(rows))


# --- the page ------------------------------------------------------------------------------------------------


def adverse_event_list_url() -> str | None:
    """The full list of adverse events, for the rows a capped section leaves out; None for a role that may not
    read it (the statistician works from the de-identified exports). The list filters by subject only, so the
    link opens it whole."""
    endpoint = f"{crf_endpoint('adverse_event')}.index_view"
    if endpoint not in current_app.view_functions:
        return None
    if Action.VIEW not in CRF_PERMISSIONS.get(current_user.role, frozenset()):
        return None
    return url_for(endpoint)


class SafetyPage(SecurePage):
    roles = frozenset(
        {RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.ADMIN, RoleCode.STATISTICIAN}
    )
    title = "Safety"
    endpoint_name = "safety"
    order = 20

    @expose("/")
    def index(self) -> str:
        study = _first_study()
        if study is None:
            return self.render("jk500/safety.html", study=None)
        now = utcnow()
        settings = rule_settings(db.session(), study.code)
        return self.render(
            "jk500/safety.html",
            study=study,
            now=now,
            shown=SHOWN,
            enrolment=load_enrolment(study),
            severe=load_newest_events(study, SEVERE),
            saes=load_saes(study, now),
            dlt_windows=load_dlt_windows(study, settings, now.date()),
            dlt_window_days=settings.dlt_window_days,
            episodes=load_newest_events(study, EPISODE),
            ae_list_url=adverse_event_list_url(),
        )


PAGE = SafetyPage
