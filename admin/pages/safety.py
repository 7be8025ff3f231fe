"""The safety dashboard (issue 5): enrolment, severe AEs, SAE reporting clocks, DLT windows, CRS/ICANS episodes.

Every clinical value shown is a value the database stored: the investigator's entries and the derived values
``jk500db.derivations`` computed from them (episode grades, DLT candidacy, report due dates). The one thing
computed here is whether a report is overdue *now*: a stored report status is only as fresh as its subject's
last recomputation, and a deadline passes without any write that would trigger one.

The page runs a fixed number of queries whatever the number of subjects: counts are aggregated in SQL and the
adverse events come back in one joined query, split into sections in Python.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_admin import expose

from admin.extensions import db, utcnow
from admin.pages.base import SecurePage, words
from jk500db.clinical import reporting, schedule
from jk500db.clinical.settings import RuleSettings
from jk500db.derivations.adverse_events import STATUS_ORDER
from jk500db.models import AdverseEvent, CrsAssessment, CtcaeTerm, IcansAssessment, Infusion, Site, Study, Subject
from jk500db.models.vocabularies import DltDecision, ReportStatus, RoleCode, SubjectStatus
from jk500db.services.study_definition import rule_settings

#: The lowest CTCAE grade the "severe adverse events" section lists (CTCAE grade 3: severe).
SEVERE_GRADE = 3

DECISION_LABELS: dict[DltDecision | None, str] = {
    DltDecision.CONFIRMED: "confirmed DLT",
    DltDecision.NOT_A_DLT: "not a DLT",
    None: "awaiting confirmation",
}


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
    def severe(self) -> bool:
        # The higher of the two grades, as the DLT rule reads them: a CRS the investigator called grade 2 that
        # ASTCT grades 3 is severe until the investigator's grade is reconciled.
        return max(self.grade, self.derived_grade or 0) >= SEVERE_GRADE

    @property
    def dlt_decision_label(self) -> str:
        return DECISION_LABELS[self.dlt_decision]

    @property
    def episode_kind(self) -> str:
        return " and ".join(kind for kind, present in (("CRS", self.has_crs), ("ICANS", self.has_icans)) if present)


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


@dataclass
class DltWindowRow:
    subject_number: str
    first_infusion: dt.date
    window_end: dt.date
    open: bool
    candidates: list[EventRow] = field(default_factory=list)


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


def _live_assessment(model: type[CrsAssessment] | type[IcansAssessment]) -> sa.Exists:
    return sa.exists().where(model.adverse_event_id == AdverseEvent.id, model.removed_at.is_(None))


def load_events(study: Study) -> list[EventRow]:
    """Every live AE any section shows, in one query (subject number, then AE number)."""
    has_crs, has_icans = _live_assessment(CrsAssessment), _live_assessment(IcansAssessment)
    severe = sa.or_(AdverseEvent.grade >= SEVERE_GRADE, AdverseEvent.derived_grade >= SEVERE_GRADE)
    query = (
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
            has_crs.label("has_crs"),
            has_icans.label("has_icans"),
        )
        .join(Subject, AdverseEvent.subject_id == Subject.id)
        .join(Site, Subject.site_id == Site.id)
        .join(CtcaeTerm, AdverseEvent.ctcae_term_id == CtcaeTerm.id)
        .where(_live_subjects_of(study), AdverseEvent.removed_at.is_(None))
        .where(sa.or_(severe, AdverseEvent.serious, AdverseEvent.dlt_candidate.is_(True), has_crs, has_icans))
        .order_by(Subject.subject_number, AdverseEvent.ae_number)
    )
    return [EventRow(**row._asdict()) for row in db.session.execute(query)]


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


def load_dlt_windows(
    study: Study, events: list[EventRow], settings: RuleSettings, today: dt.date
) -> list[DltWindowRow]:
    """Each infused subject's DLT window (from the first live infusion) with its candidate AEs."""
    query = (
        sa.select(Subject.subject_number, sa.func.min(Infusion.started_at))
        .join(Subject, Infusion.subject_id == Subject.id)
        .join(Site, Subject.site_id == Site.id)
        .where(_live_subjects_of(study), Infusion.removed_at.is_(None))
        .group_by(Subject.subject_number)
        .order_by(Subject.subject_number)
    )
    rows: dict[str, DltWindowRow] = {}
    for subject_number, started_at in db.session.execute(query).tuples():
        window = schedule.dlt_window(started_at.date(), settings)
        rows[subject_number] = DltWindowRow(subject_number, window.start, window.end, today <= window.end)
    candidates: dict[str, list[EventRow]] = defaultdict(list)
    for event in events:
        if event.dlt_candidate:
            candidates[event.subject_number].append(event)
    for subject_number, row in rows.items():
        row.candidates = candidates.get(subject_number, [])
    return list(rows.values())


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
        events = load_events(study)
        settings = rule_settings(db.session(), study.code)
        return self.render(
            "jk500/safety.html",
            study=study,
            now=now,
            enrolment=load_enrolment(study),
            severe=[e for e in events if e.severe],
            saes=[judge_reports(e, now) for e in events if e.serious],
            dlt_windows=load_dlt_windows(study, events, settings, now.date()),
            dlt_window_days=settings.dlt_window_days,
            episodes=[e for e in events if e.has_crs or e.has_icans],
        )


PAGE = SafetyPage
