"""The subject × visit status matrix: the home page of data managers and monitors (issue 5).

One row per subject, one column per visit of the active study definition's schedule. A cell says where the
visit stands (not yet, scheduled, completed on a date, missed, not applicable), whether it fell early or late,
and what is left to do there: forms by entry status, standing SDV marks and open queries.

The page shows 50 subjects at a time, paged in SQL, and reads a fixed number of statements whatever the number
of subjects: the schedule, the sites, the count and the page of subjects, their visits, and one aggregate each
for form status, SDV marks, queries per visit and queries per subject. Everything per visit or subject is
grouped in SQL and matched up here in Python.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import flash, request
from flask_admin import expose
from sqlalchemy.orm import Session

from admin.extensions import db
from admin.links import casebook_url
from admin.pages.base import SecurePage, words
from jk500db.audit.guards import clinical_forms, visit_column
from jk500db.models import Base, FormStatus, Query, SdvMark, Site, Subject, Visit, VisitDefinition
from jk500db.models.vocabularies import FormStatusCode, QueryStatus, RoleCode, SubjectStatus, VisitStatus, WindowStatus
from jk500db.services.study_definition import active_definition

#: What a cell shows for a scheduled visit that has no visit row yet.
NOT_YET = "not_yet"
#: Subjects per page: the matrix pages in SQL, so a study of thousands reads as fast as one of twelve.
PAGE_SIZE = 50
#: Form counts in a cell, done first.
FORM_STATUS_ORDER = (FormStatusCode.COMPLETE, FormStatusCode.INCOMPLETE, FormStatusCode.NOT_STARTED)


@dataclass(frozen=True)
class ScheduleColumn:
    code: str
    label: str


@dataclass
class Cell:
    #: a VisitStatus value, or NOT_YET when the subject has no such visit.
    state: str = NOT_YET
    visit_date: dt.date | None = None
    window_status: WindowStatus | None = None
    missed_reason: str | None = None
    forms: dict[FormStatusCode, int] = field(default_factory=dict)
    sdv_marks: int = 0
    open_queries: int = 0

    @property
    def off_window(self) -> bool:
        return self.window_status in (WindowStatus.EARLY, WindowStatus.LATE)


@dataclass
class Row:
    subject_number: str
    site_code: str
    status: SubjectStatus
    cells: list[Cell]
    unscheduled_visits: int = 0
    open_queries: int = 0


@dataclass(frozen=True)
class Filters:
    site: str | None = None
    status: SubjectStatus | None = None

    def as_query_args(self) -> dict[str, str]:
        args = {"site": self.site or "", "status": self.status.value if self.status else ""}
        return {name: value for name, value in args.items() if value}


@dataclass(frozen=True)
class Page:
    """Which slice of the subjects the page shows (1-based page number)."""

    number: int
    size: int
    total: int

    @property
    def last(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_shown(self) -> int:
        return 0 if self.total == 0 else (self.number - 1) * self.size + 1

    @property
    def last_shown(self) -> int:
        return min(self.total, self.number * self.size)


# --- reading -------------------------------------------------------------------------------------------------


def read_schedule(session: Session) -> tuple[int | None, list[ScheduleColumn]]:
    """The study of the active definition and its visits in schedule order (none before a definition loads)."""
    definition = active_definition(session)
    if definition is None:
        return None, []
    visits = session.execute(
        sa.select(VisitDefinition.code, VisitDefinition.label)
        .where(VisitDefinition.definition_id == definition.id)
        .order_by(VisitDefinition.order)
    )
    return definition.study_id, [ScheduleColumn(code, text) for code, text in visits]


def read_sites(session: Session, study_id: int | None) -> list[tuple[str, str]]:
    query = sa.select(Site.code, Site.name).order_by(Site.code)
    if study_id is not None:
        query = query.where(Site.study_id == study_id)
    return [(code, name) for code, name in session.execute(query)]


def subjects_query(study_id: int | None, filters: Filters) -> sa.Select[tuple[int, str, str, SubjectStatus]]:
    query = (
        sa.select(Subject.id, Subject.subject_number, Site.code, Subject.status)
        .join(Site, Subject.site_id == Site.id)
        .where(Subject.removed_at.is_(None))
    )
    if study_id is not None:
        query = query.where(Site.study_id == study_id)
    if filters.site is not None:
        query = query.where(Site.code == filters.site)
    if filters.status is not None:
        query = query.where(Subject.status == filters.status)
    return query


def open_queries_by_visit(session: Session, subject_ids: sa.Select[tuple[int]]) -> dict[int, int]:
    """Open queries on any record of each visit: the visit row itself and every clinical record with a visit.

    One statement: a UNION ALL of one join per table that has a visit, each driven by the open queries (few)
    and reaching the record by its primary key.
    """
    branches = []
    for table_name in sorted(clinical_forms()):
        table = Base.metadata.tables[table_name]
        column = visit_column(table)
        if column is None:
            continue
        branches.append(
            sa.select(table.c[column].label("visit_id"), Query.id.label("query_id"))
            .select_from(Query)
            .join(table, sa.and_(Query.table_name == table_name, Query.record_id == table.c.id))
            .where(
                Query.status == QueryStatus.OPEN,
                Query.subject_id.in_(subject_ids),
                table.c.removed_at.is_(None),
                table.c[column].is_not(None),
            )
        )
    on_records = sa.union_all(*branches).subquery()
    counts = session.execute(sa.select(on_records.c.visit_id, sa.func.count()).group_by(on_records.c.visit_id)).tuples()
    return dict(counts.all())


def open_queries_by_subject(session: Session, subject_ids: sa.Select[tuple[int]]) -> dict[int, int]:
    """Every open query of the subject, including those on records outside any visit (AEs, medications)."""
    counts = session.execute(
        sa.select(Query.subject_id, sa.func.count())
        .where(Query.status == QueryStatus.OPEN, Query.subject_id.in_(subject_ids))
        .group_by(Query.subject_id)
    ).tuples()
    return dict(counts.all())


def standing_sdv_marks_by_visit(session: Session, subject_ids: sa.Select[tuple[int]]) -> dict[int, int]:
    """Forms verified at each visit whose mark no change has cleared since."""
    counts = session.execute(
        sa.select(SdvMark.visit_id, sa.func.count())
        .where(SdvMark.cleared_at.is_(None), SdvMark.visit_id.is_not(None), SdvMark.subject_id.in_(subject_ids))
        .group_by(SdvMark.visit_id)
    ).tuples()
    return {visit_id: count for visit_id, count in counts if visit_id is not None}


def forms_by_visit(session: Session, subject_ids: sa.Select[tuple[int]]) -> dict[int, dict[FormStatusCode, int]]:
    counts = session.execute(
        sa.select(FormStatus.visit_id, FormStatus.status, sa.func.count())
        .where(FormStatus.subject_id.in_(subject_ids))
        .group_by(FormStatus.visit_id, FormStatus.status)
    ).tuples()
    result: dict[int, dict[FormStatusCode, int]] = defaultdict(dict)
    for visit_id, status, count in counts:
        result[visit_id][FormStatusCode(status)] = count
    return result


@dataclass(frozen=True)
class VisitFacts:
    """Per-visit aggregates, keyed by visit id (an internal key that never reaches the page)."""

    forms: Mapping[int, dict[FormStatusCode, int]]
    sdv_marks: Mapping[int, int]
    open_queries: Mapping[int, int]


def count_subjects(session: Session, study_id: int | None, filters: Filters) -> int:
    subjects = subjects_query(study_id, filters).subquery()
    return int(session.scalar(sa.select(sa.func.count()).select_from(subjects)) or 0)


def read_matrix(
    session: Session, columns: Sequence[ScheduleColumn], study_id: int | None, filters: Filters, page: Page
) -> list[Row]:
    subjects = (
        subjects_query(study_id, filters)
        .order_by(Subject.subject_number)
        .limit(page.size)
        .offset((page.number - 1) * page.size)
    )
    rows: dict[int, Row] = {}
    for subject_id, number, site_code, status in session.execute(subjects):
        rows[subject_id] = Row(number, site_code, SubjectStatus(status), [Cell() for _ in columns])
    if not rows:
        return []
    subject_ids = sa.select(Subject.id).where(Subject.id.in_(list(rows)))
    facts = VisitFacts(
        forms_by_visit(session, subject_ids),
        standing_sdv_marks_by_visit(session, subject_ids),
        open_queries_by_visit(session, subject_ids),
    )
    position = {column.code: index for index, column in enumerate(columns)}
    visits = session.scalars(
        sa.select(Visit)
        .where(Visit.subject_id.in_(subject_ids), Visit.removed_at.is_(None))
        # A repeated scheduled code keeps its first occurrence: the last assignment below wins, so sequence 1
        # comes last.
        .order_by(Visit.sequence.desc())
    )
    # .get: under READ COMMITTED a subject enrolled between these statements may show up in the later ones.
    for visit in visits:
        row = rows.get(visit.subject_id)
        if row is None:
            continue
        if visit.unscheduled:
            row.unscheduled_visits += 1
        elif visit.visit_code in position:
            row.cells[position[visit.visit_code]] = visit_cell(visit, facts)
    for subject_id, count in open_queries_by_subject(session, subject_ids).items():
        if subject_id in rows:
            rows[subject_id].open_queries = count
    return list(rows.values())


def visit_cell(visit: Visit, facts: VisitFacts) -> Cell:
    return Cell(
        state=VisitStatus(visit.status).value,
        visit_date=visit.visit_date,
        window_status=None if visit.window_status is None else WindowStatus(visit.window_status),
        missed_reason=visit.missed_reason,
        forms=facts.forms.get(visit.id, {}),
        sdv_marks=facts.sdv_marks.get(visit.id, 0),
        open_queries=facts.open_queries.get(visit.id, 0),
    )


# --- the page ------------------------------------------------------------------------------------------------


def parse_filters(args: Mapping[str, str], site_codes: Sequence[str]) -> Filters:
    """The filters asked for; a value outside its vocabulary is dropped with a message, never an error page."""
    site = args.get("site") or None
    if site is not None and site not in site_codes:
        flash("There is no such site; showing every site.", "warning")
        site = None
    status: SubjectStatus | None = None
    wanted = args.get("status") or None
    if wanted is not None:
        try:
            status = SubjectStatus(wanted)
        except ValueError:
            flash("There is no such subject status; showing every status.", "warning")
    return Filters(site, status)


class StatusMatrixPage(SecurePage):
    roles = frozenset({RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.ADMIN})
    title = "Status matrix"
    endpoint_name = "matrix"
    order = 10

    @expose("/")
    def index(self) -> str:
        session = db.session()
        study_id, columns = read_schedule(session)
        sites = read_sites(session, study_id)
        filters = parse_filters(request.args, [code for code, _ in sites])
        total = count_subjects(session, study_id, filters)
        page = Page(1, PAGE_SIZE, total)
        page = Page(min(max(1, request.args.get("page", 1, type=int)), page.last), PAGE_SIZE, total)
        rows = read_matrix(session, columns, study_id, filters, page)
        return self.render(
            "jk500/matrix.html",
            columns=columns,
            rows=rows,
            sites=sites,
            statuses=[(status.value, words(status.value)) for status in SubjectStatus],
            filters=filters,
            label=words,
            form_statuses=FORM_STATUS_ORDER,
            defined=bool(columns),
            casebook_url=casebook_url,
            page=page,
            page_args=filters.as_query_args(),
        )


PAGE = StatusMatrixPage
