"""The source-data verification worklist (issue 5): every form instance that holds data, with its SDV state.

A form instance is (subject, visit or none, form): the records of one case-report form of one subject at one
visit, or outside any visit (AE log, medications). Its state follows ``jk500db.services.sdv``: never verified;
verified (by whom, when); or cleared - verified once, then changed, which the database records on the mark
(``jk500db.audit.guards``) and in the audit trail (who changed it, and why).

Monitors work the list and mark forms verified, one at a time or several at once, through
``jk500db.services.sdv.mark_verified``, which refuses every other role. Data managers (who see which of
their corrections cleared a verification), investigators and admins (who decide when data are ready to lock)
read the same list without the buttons - the status matrix already shows them SDV counts. Statisticians do not
open it: they work on exported datasets, not on the casebook.

The database does not refuse SDV marks under a lock or freeze: a lock fixes the data, not their review, so a
frozen form can still be verified before the final lock. The list shows which forms are under one.

The page reads a fixed number of statements whatever the number of subjects or records: the filter choices
(sites, subjects), one count and one page of form instances (a UNION ALL of every clinical table grouped by
form instance, joined to its newest SDV mark and open-query count), the records behind that page (for the
links), the audit rows of the page's cleared marks, and the active locks.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import Session

from admin.extensions import db, utcnow
from admin.links import casebook_url, record_url
from admin.pages.base import SecurePage, words
from jk500db.audit.guards import clinical_forms, visit_column
from jk500db.errors import Jk500Error, ValidationError
from jk500db.models import AuditEvent, Base, Query, RecordLock, SdvMark, Site, Subject, User, Visit, VisitDefinition
from jk500db.models.vocabularies import AuditAction, FormCode, LockMode, QueryStatus, RoleCode, VisitStatus
from jk500db.services import sdv
from jk500db.services.locks import RecordScope, active_locks, lock_covers

PAGE_SIZE = 50
#: Separates the parts of a form instance's key in the page (subject number, visit code, sequence, form).
KEY_SEPARATOR = "|"
#: Form names where the code read as words would mislead ("Il2", "Crs").
FORM_NAMES: dict[FormCode, str] = {
    FormCode.IL2: "IL-2",
    FormCode.CRS: "CRS",
    FormCode.ICANS: "ICANS",
    FormCode.CONMEDS: "Concomitant medications",
}
#: The order forms appear in within a visit: the order of the vocabulary, which follows the casebook.
FORM_ORDER = {form.value: index for index, form in enumerate(FormCode)}


class StateFilter(StrEnum):
    NEEDS = "needs"  # never verified, or cleared since: the monitor's work (the default)
    NEVER = "never"
    CLEARED = "cleared"
    VERIFIED = "verified"
    ALL = "all"


STATE_FILTER_LABELS: dict[StateFilter, str] = {
    StateFilter.NEEDS: "Needs verification",
    StateFilter.NEVER: "Never verified",
    StateFilter.CLEARED: "Cleared by a change",
    StateFilter.VERIFIED: "Verified",
    StateFilter.ALL: "All",
}


def form_name(code: str) -> str:
    form = FormCode(code)
    return FORM_NAMES.get(form, words(form.value))


@dataclass(frozen=True)
class Filters:
    site: str = ""
    subject: str = ""
    form: str = ""
    state: StateFilter = StateFilter.NEEDS

    def as_query_args(self) -> dict[str, str]:
        """The filters as URL arguments (empty ones and the default state left out)."""
        args = {"site": self.site, "subject": self.subject, "form": self.form}
        if self.state is not StateFilter.NEEDS:
            args["state"] = self.state.value
        return {key: value for key, value in args.items() if value}


# --- reading -------------------------------------------------------------------------------------------------


def form_records() -> sa.Subquery:
    """Every live clinical record as (subject, visit or NULL, form, table, record id, open queries on it).

    One SELECT per clinical table, glued with UNION ALL. A visit row belongs to its visit's vitals form
    (``Visit.__form__``: the visit date is entered with it) once something was recorded about the visit; a visit
    still "scheduled" holds nothing to verify.
    """
    branches = []
    for table_name, form in sorted(clinical_forms().items()):
        table = Base.metadata.tables[table_name]
        subject = table.c.id if table_name == "subject" else table.c.subject_id
        column = visit_column(table)
        visit = table.c[column] if column else sa.cast(sa.null(), sa.Integer)
        open_queries = (
            sa.select(sa.func.count())
            .select_from(Query)
            .where(Query.table_name == table_name, Query.record_id == table.c.id, Query.status == QueryStatus.OPEN)
            .scalar_subquery()
        )
        branch = sa.select(
            subject.label("subject_id"),
            visit.label("visit_id"),
            # Literals from our own vocabulary and metadata, never from a request.
            sa.literal_column(f"'{form.value}'", sa.String).label("form_code"),
            sa.literal_column(f"'{table_name}'", sa.String).label("table_name"),
            table.c.id.label("record_id"),
            open_queries.label("open_queries"),
        ).where(table.c.removed_at.is_(None))
        if table_name == "visit":
            branch = branch.where(table.c.status != VisitStatus.SCHEDULED)
        branches.append(branch)
    return sa.union_all(*branches).subquery("form_record")


def _state_condition(state: StateFilter) -> sa.ColumnElement[bool] | None:
    """The newest mark (``SdvMark`` in the list statement) as the state filter asks."""
    never = SdvMark.id.is_(None)
    cleared = SdvMark.cleared_at.is_not(None)
    conditions: dict[StateFilter, sa.ColumnElement[bool]] = {
        StateFilter.NEEDS: sa.or_(never, cleared),
        StateFilter.NEVER: never,
        StateFilter.CLEARED: cleared,
        StateFilter.VERIFIED: sa.and_(SdvMark.id.is_not(None), SdvMark.cleared_at.is_(None)),
    }
    return conditions.get(state)


def worklist_query(records: sa.Subquery, filters: Filters) -> sa.Select[tuple[object, ...]]:
    """One row per form instance, with its subject, visit, record and open-query counts and newest SDV mark."""
    instances = (
        sa.select(
            records.c.subject_id,
            records.c.visit_id,
            records.c.form_code,
            sa.func.count().label("records"),
            sa.cast(sa.func.sum(records.c.open_queries), sa.Integer).label("open_queries"),
        )
        .group_by(records.c.subject_id, records.c.visit_id, records.c.form_code)
        .subquery("form_instance")
    )
    newest = (
        sa.select(SdvMark.subject_id, SdvMark.visit_id, SdvMark.form_code, sa.func.max(SdvMark.id).label("mark_id"))
        .group_by(SdvMark.subject_id, SdvMark.visit_id, SdvMark.form_code)
        .subquery("newest_mark")
    )
    # Visit ids start at 1, so 0 stands for "not at a visit" on both sides (NULL = NULL is not true in SQL).
    same_visit = sa.func.coalesce(newest.c.visit_id, 0) == sa.func.coalesce(instances.c.visit_id, 0)
    query = (
        sa.select(
            instances.c.subject_id,
            instances.c.visit_id,
            instances.c.form_code,
            instances.c.records,
            instances.c.open_queries,
            Subject.subject_number,
            Site.code.label("site_code"),
            Visit.visit_code,
            Visit.sequence,
            Visit.unscheduled,
            Visit.visit_date,
            VisitDefinition.label.label("visit_label"),
            SdvMark.id.label("mark_id"),
            SdvMark.verified_at,
            SdvMark.cleared_at,
            SdvMark.cleared_reason,
            User.full_name.label("verified_by"),
        )
        .select_from(instances)
        .join(Subject, Subject.id == instances.c.subject_id)
        .join(Site, Site.id == Subject.site_id)
        .outerjoin(Visit, Visit.id == instances.c.visit_id)
        .outerjoin(VisitDefinition, VisitDefinition.id == Visit.visit_definition_id)
        .outerjoin(
            newest,
            sa.and_(
                newest.c.subject_id == instances.c.subject_id, newest.c.form_code == instances.c.form_code, same_visit
            ),
        )
        .outerjoin(SdvMark, SdvMark.id == newest.c.mark_id)
        .outerjoin(User, User.id == SdvMark.verified_by_id)
        .where(Subject.removed_at.is_(None))
    )
    if filters.site:
        query = query.where(Site.code == filters.site)
    if filters.subject:
        query = query.where(Subject.subject_number == filters.subject)
    if filters.form:
        query = query.where(instances.c.form_code == filters.form)
    state = _state_condition(filters.state)
    if state is not None:
        query = query.where(state)
    return query.order_by(
        Subject.subject_number,
        # Forms outside any visit first, then visits in schedule order (unscheduled ones after, by date).
        instances.c.visit_id.is_not(None),
        sa.func.coalesce(VisitDefinition.order, 1_000_000),
        Visit.visit_date,
        Visit.sequence,
        instances.c.visit_id,
        sa.case(FORM_ORDER, value=instances.c.form_code, else_=len(FORM_ORDER)),
    )


@dataclass(frozen=True)
class Clearing:
    """What cleared a mark: when, which form's record changed, who changed it and why (from the audit)."""

    at: dt.datetime
    table: str | None
    by: str | None
    reason: str | None


@dataclass(frozen=True)
class WorkItem:
    """One form instance as the page shows it."""

    key: str
    subject_number: str
    #: the subject's casebook, when that page exists.
    subject_link: str | None
    site_code: str
    visit: str | None
    visit_code: str
    form: FormCode
    records: int
    open_queries: int
    state: sdv.SdvState
    verified_by: str | None
    verified_at: dt.datetime | None
    clearing: Clearing | None
    link: str | None
    lock: LockMode | None

    @property
    def form_name(self) -> str:
        return form_name(self.form)


@dataclass(frozen=True)
class WorkPage:
    items: list[WorkItem]
    total: int
    page: int
    pages: int


def instance_key(subject_number: str, visit_code: str | None, sequence: int | None, form: str) -> str:
    """A form instance named by what people read (no internal ids): "01-003|INF1|1|labs", "01-003|||consent"."""
    parts = (subject_number, visit_code or "", str(sequence) if sequence else "", form)
    return KEY_SEPARATOR.join(parts)


def visit_text(code: str | None, sequence: int | None, unscheduled: bool | None, label: str | None) -> str | None:
    if code is None:
        return None
    name = f"{code} {sequence}" if unscheduled or (sequence or 1) > 1 else code
    if unscheduled:
        return f"{name} (unscheduled)"
    return f"{name} · {label}" if label else name


def _first_records(
    session: Session, records: sa.Subquery, subject_ids: Sequence[int]
) -> dict[tuple[int, int | None, str], tuple[str, int]]:
    """The first record (table, id) of each form instance of these subjects, for the record links."""
    rows = session.execute(
        sa.select(
            records.c.subject_id,
            records.c.visit_id,
            records.c.form_code,
            records.c.table_name,
            sa.func.min(records.c.record_id),
        )
        .where(records.c.subject_id.in_(subject_ids))
        .group_by(records.c.subject_id, records.c.visit_id, records.c.form_code, records.c.table_name)
        .order_by(records.c.table_name)
    ).tuples()
    first: dict[tuple[int, int | None, str], tuple[str, int]] = {}
    for subject_id, visit_id, form, table_name, record_id in rows:
        first.setdefault((subject_id, visit_id, form), (table_name, record_id))
    return first


def _clearings(session: Session, mark_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Mark id -> (who changed the form, the reason they gave) from the audit rows of the clearing."""
    rows = session.execute(
        sa.select(AuditEvent.row_key, AuditEvent.actor_name, AuditEvent.reason).where(
            AuditEvent.table_name == SdvMark.__tablename__,
            AuditEvent.field_name == "cleared_at",
            AuditEvent.action == AuditAction.UPDATE,
            AuditEvent.row_key.in_([str(mark_id) for mark_id in mark_ids]),
        )
    ).tuples()
    return {int(row_key): (actor, reason) for row_key, actor, reason in rows}


def _changed_table(cleared_reason: str | None) -> str | None:
    """The table named by the database's "changed: <table> <id>"; the id is internal and is not shown."""
    if not cleared_reason or not cleared_reason.startswith("changed: "):
        return None
    table = cleared_reason.removeprefix("changed: ").rsplit(" ", 1)[0]
    return table if table in clinical_forms() else None


def _link(records: int, first: tuple[str, int] | None, casebook: str | None) -> str | None:
    """The record's page for a one-record form; the casebook (or the first record) when there are several."""
    if records > 1 and casebook is not None:
        return casebook
    return record_url(*first) if first else None


def _lock_mode(locks: Sequence[RecordLock], scope: RecordScope) -> LockMode | None:
    """LOCK if a lock covers the form, else FREEZE if a freeze does, else None."""
    modes = {LockMode(lock.mode) for lock in locks if lock_covers(lock, scope)}
    return LockMode.LOCK if LockMode.LOCK in modes else (LockMode.FREEZE if modes else None)


def _item(
    row: sa.Row[tuple[object, ...]],
    first: tuple[str, int] | None,
    casebook: str | None,
    clearings: Mapping[int, tuple[str, str | None]],
    locks: Sequence[RecordLock],
) -> WorkItem:
    if row.mark_id is None:
        state = sdv.SdvState.NEVER
    else:
        state = sdv.SdvState.VERIFIED if row.cleared_at is None else sdv.SdvState.CLEARED
    clearing = None
    if row.cleared_at is not None:
        by, reason = clearings.get(row.mark_id, (None, None))
        # An insert carries no reason: the audit then holds the mark's own text, which has an internal id in it.
        shown_reason = None if reason == row.cleared_reason else reason
        clearing = Clearing(row.cleared_at, _changed_table(row.cleared_reason), by, shown_reason)
    form = FormCode(row.form_code)
    return WorkItem(
        key=instance_key(row.subject_number, row.visit_code, row.sequence, form.value),
        subject_number=row.subject_number,
        subject_link=casebook,
        site_code=row.site_code,
        visit=visit_text(row.visit_code, row.sequence, row.unscheduled, row.visit_label),
        visit_code=row.visit_code or "",
        form=form,
        records=row.records,
        open_queries=row.open_queries or 0,
        state=state,
        verified_by=row.verified_by,
        verified_at=row.verified_at,
        clearing=clearing,
        link=_link(row.records, first, casebook),
        lock=_lock_mode(locks, RecordScope(row.subject_id, row.visit_id, form)),
    )


def load_worklist(session: Session, filters: Filters, page: int) -> WorkPage:
    records = form_records()
    query = worklist_query(records, filters)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = session.execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    # Always run the statements below, even for an empty page: the page costs the same whatever it finds.
    first = _first_records(session, records, sorted({row.subject_id for row in rows}))
    clearings = _clearings(session, [row.mark_id for row in rows if row.cleared_at is not None])
    locks = active_locks(session)
    casebooks = {number: casebook_url(number) for number in {row.subject_number for row in rows}}
    items = [
        _item(row, first.get((row.subject_id, row.visit_id, row.form_code)), casebooks[row.subject_number],
              clearings, locks)
        for row in rows
    ]  # fmt: skip
    return WorkPage(items, total, page, pages)


# --- filters -------------------------------------------------------------------------------------------------


def read_choices(session: Session) -> tuple[list[tuple[str, str]], list[str]]:
    """(site code, site name) of every site, and the live subjects' numbers: the filters' choices."""
    sites = session.execute(sa.select(Site.code, Site.name).order_by(Site.code)).tuples().all()
    subjects = session.scalars(
        sa.select(Subject.subject_number).where(Subject.removed_at.is_(None)).order_by(Subject.subject_number)
    ).all()
    return [(code, name) for code, name in sites], list(subjects)


def parse_filters(args: Mapping[str, str], site_codes: Sequence[str], subject_numbers: Sequence[str]) -> Filters:
    """The filters asked for; one outside its choices is named in a message and ignored, never an error page."""
    site = args.get("site", "").strip()
    if site and site not in site_codes:
        flash("Site: there is no such site; showing every site.", "warning")
        site = ""
    subject = args.get("subject", "").strip()
    if subject and subject not in subject_numbers:
        flash("Subject: there is no such subject; showing every subject.", "warning")
        subject = ""
    form = args.get("form", "").strip()
    if form and form not in FORM_ORDER:
        flash("Form: not a form of the study; showing every form.", "warning")
        form = ""
    state = StateFilter.NEEDS
    wanted = args.get("state", "").strip()
    if wanted:
        try:
            state = StateFilter(wanted)
        except ValueError:
            flash("State: not one of the choices; showing the forms that need verification.", "warning")
    return Filters(site, subject, form, state)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 10 else 1


def form_choices() -> list[tuple[str, str]]:
    """The forms that have records (every clinical table's form), in casebook order."""
    forms = set(clinical_forms().values())
    return [(form.value, form_name(form.value)) for form in FormCode if form in forms]


# --- marking -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    subject_id: int
    visit_id: int | None
    form: FormCode


def resolve_key(session: Session, key: str) -> Target:
    """The form instance a key from the page names; ValidationError when it names nothing that exists."""
    parts = key.split(KEY_SEPARATOR)
    if len(parts) != 4 or parts[3] not in FORM_ORDER:
        raise ValidationError("form", "that form is not in the worklist; reload the page")
    number, visit_code, sequence, form = parts
    subject_id = session.scalar(
        sa.select(Subject.id).where(Subject.subject_number == number, Subject.removed_at.is_(None))
    )
    if subject_id is None:
        raise ValidationError("subject", f"there is no subject {number}")
    if not visit_code:
        return Target(subject_id, None, FormCode(form))
    visit_id = session.scalar(
        sa.select(Visit.id).where(
            Visit.subject_id == subject_id,
            Visit.visit_code == visit_code,
            Visit.sequence == (int(sequence) if sequence.isdigit() else 0),
        )
    )
    if visit_id is None:
        raise ValidationError("visit", f"subject {number} has no visit {visit_code}")
    return Target(subject_id, visit_id, FormCode(form))


class SdvWorklistPage(SecurePage):
    roles: ClassVar[frozenset[RoleCode]] = frozenset(
        {RoleCode.MONITOR, RoleCode.DATA_MANAGER, RoleCode.INVESTIGATOR, RoleCode.ADMIN}
    )
    title = "SDV"
    endpoint_name = "sdv"
    order = 35

    @expose("/")
    def index(self) -> str:
        session = db.session()
        sites, subjects = read_choices(session)
        filters = parse_filters(request.args, [code for code, _ in sites], subjects)
        worklist = load_worklist(session, filters, _page_number(request.args.get("page")))
        return self.render(
            "jk500/sdv.html",
            worklist=worklist,
            filters=filters,
            query_args=filters.as_query_args(),
            sites=sites,
            subjects=subjects,
            forms=form_choices(),
            states=list(STATE_FILTER_LABELS.items()),
            state_label=STATE_FILTER_LABELS[filters.state],
            label=words,
            can_mark=current_user.role == RoleCode.MONITOR,
            page_size=PAGE_SIZE,
        )

    @expose("/mark", methods=["POST"])
    def mark(self) -> ResponseReturnValue:
        # CSRFProtect (global) has already refused a POST without a valid token before this runs.
        back = redirect(url_for(".index", **self._back_args()))
        single = request.form.get("only", "").strip()
        keys = [single] if single else [k for k in request.form.getlist("form_key") if k.strip()]
        if not keys:
            flash("Nothing marked: tick the forms you verified, then press the button.", "warning")
            return back
        if len(keys) > PAGE_SIZE:
            flash(f"Not saved: form: mark at most {PAGE_SIZE} forms at once", "error")
            return back
        session = db.session()
        try:
            actor = session.get_one(User, current_user.id)
            now = utcnow()
            for key in dict.fromkeys(keys):  # each form once, in the order ticked
                target = resolve_key(session, key)
                sdv.mark_verified(
                    session,
                    actor=actor,
                    subject_id=target.subject_id,
                    visit_id=target.visit_id,
                    form_code=target.form,
                    now=now,
                )
            session.commit()
        except Jk500Error as error:
            session.rollback()
            flash(f"Not saved: {error}", "error")
            return back
        count = len(dict.fromkeys(keys))
        flash(f"Marked {count} form{'' if count == 1 else 's'} source-data-verified.", "info")
        return back

    @staticmethod
    def _back_args() -> dict[str, Any]:
        """The list's filters and page, carried through the form, for the redirect back to it."""
        args = {name: request.form.get(name, "").strip() for name in ("site", "subject", "form", "state", "page")}
        return {name: value for name, value in args.items() if value}


PAGE = SdvWorklistPage
