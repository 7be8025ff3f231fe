"""The audit trail viewer: every audited change, newest first, with filters, and ``audit verify`` on demand.

Read-only. Monitors review the trail (DESIGN.md), investigators and admins read everything; data managers and
statisticians do not open it. The page runs a fixed number of queries (one count, one page of rows joined to
the subject), however long the trail.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

import sqlalchemy as sa
from flask import flash, request
from flask_admin import expose

from admin.extensions import db
from admin.pages.base import SecurePage, words
from jk500db.audit.triggers import audited_tables
from jk500db.audit.verify import VerifyReport, verify
from jk500db.models import AuditEvent, Base, Subject
from jk500db.models.vocabularies import ChangeSource, RoleCode

PAGE_SIZE = 50
#: What a key or link column's value is replaced by: those values are internal ids, which pages never show.
INTERNAL_KEY = "(internal key)"
SOURCES: dict[ChangeSource, str] = {
    ChangeSource.UI: "Web UI",
    ChangeSource.CLI: "Command line",
    ChangeSource.IMPORT: "Import",
    ChangeSource.SYSTEM: "System",
}


@cache
def table_choices() -> tuple[tuple[str, str], ...]:
    """(table name, readable name) of every audited table, by readable name (the filter's choices)."""
    return tuple(sorted(((t.name, words(t.name)) for t in audited_tables()), key=lambda c: c[1]))


@cache
def internal_key_columns() -> frozenset[tuple[str, str]]:
    """(table, column) pairs whose values are internal ids: integer keys and links (``id``, ``subject_id``...).

    Text keys (a role's code, a query's rule id) are readable and stay shown."""
    return frozenset(
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.Integer)
        and (column.primary_key or column.foreign_keys or column.name.endswith("_id"))
    )


@dataclass(frozen=True)
class Filters:
    subject: str = ""
    table: str = ""
    user: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None

    def as_query_args(self) -> dict[str, str]:
        """The filters as URL arguments, for the pagination links (empty ones left out)."""
        args = {
            "subject": self.subject,
            "table": self.table,
            "user": self.user,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {key: value for key, value in args.items() if value}


def _date(args: Mapping[str, str], name: str, label: str) -> dt.date | None:
    text = args.get(name, "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        flash(f"{label}: “{text}” is not a date; use YYYY-MM-DD. The filter was ignored.", "error")
        return None


def parse_filters(args: Mapping[str, str]) -> Filters:
    """The filters from the query string; an invalid one is flashed (naming the field) and ignored."""
    subject = args.get("subject", "").strip()
    if subject and (len(subject) != 6 or subject[2] != "-"):
        # The subject number format the database enforces (subject_number_format): "01-004".
        flash(f"Subject: “{subject}” is not a subject number such as 01-004. The filter was ignored.", "error")
        subject = ""
    table = args.get("table", "").strip()
    if table and table not in dict(table_choices()):
        flash("Form: not one of the audited forms. The filter was ignored.", "error")
        table = ""
    date_from = _date(args, "date_from", "Date from")
    date_to = _date(args, "date_to", "Date to")
    if date_from and date_to and date_from > date_to:
        flash("Date to: it is before the date from. The date filters were ignored.", "error")
        date_from = date_to = None
    return Filters(subject, table, args.get("user", "").strip()[:120], date_from, date_to)


def _like_pattern(text: str) -> str:
    """``text`` as a LIKE "contains" pattern, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(filters: Filters) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if filters.subject:
        # By key, not through the join, and as "= (scalar subquery)" (subject numbers are unique): PostgreSQL then
        # reads the newest page straight from ix_audit_event_subject (subject_id, id). Given IN or a join, it
        # walked the primary key backwards through the whole trail instead (0.5-0.7 s against 11 ms for the
        # page at 9.9 M events). A subject number that does not exist gives NULL, which matches no event.
        subject_key = sa.select(Subject.id).where(Subject.subject_number == filters.subject).scalar_subquery()
        conditions.append(AuditEvent.subject_id == subject_key)
    if filters.table:
        conditions.append(AuditEvent.table_name == filters.table)
    if filters.user:
        conditions.append(AuditEvent.actor_name.ilike(_like_pattern(filters.user), escape="\\"))
    # occurred_at is ISO 8601 UTC text, so text order is time order on both engines.
    if filters.date_from:
        conditions.append(AuditEvent.occurred_at >= filters.date_from.isoformat())
    if filters.date_to:
        conditions.append(AuditEvent.occurred_at < (filters.date_to + dt.timedelta(days=1)).isoformat())
    return conditions


@dataclass(frozen=True)
class EventRow:
    """One audit event as the page prints it."""

    time: str
    user: str
    source: str
    subject: str
    form: str
    field: str
    action: str
    old_value: str | None
    new_value: str | None
    reason: str | None


def _shown(table: str, field: str | None, value: str | None) -> str | None:
    if value is not None and field is not None and (table, field) in internal_key_columns():
        return INTERNAL_KEY
    return value


def _event_row(row: sa.Row[tuple[AuditEvent, str | None]]) -> EventRow:
    event, subject_number = row
    return EventRow(
        time=event.occurred_at[:19].replace("T", " "),
        user=event.actor_name,
        source=SOURCES[event.source],
        subject=subject_number or "",
        form=words(event.table_name),
        field=words(event.field_name) if event.field_name else "",
        action=words(event.action.value),
        old_value=_shown(event.table_name, event.field_name, event.old_value),
        new_value=_shown(event.table_name, event.field_name, event.new_value),
        reason=event.reason,
    )


@dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    total: int
    page: int
    pages: int
    #: more events match than COUNT_CAP: ``total`` and ``pages`` are lower bounds.
    more: bool = False


#: Events counted at most: a trail of millions is counted no further (the page says "more than"), since an
#: exact count would read every row of the trail on each page view.
COUNT_CAP = 10_000


def load_events(filters: Filters, page: int) -> EventPage:
    """One page of events, newest first: two queries (a capped count, the page) whatever the trail's length."""
    conditions = _conditions(filters)
    capped = sa.select(AuditEvent.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    joined = sa.select(AuditEvent).outerjoin(Subject, Subject.id == AuditEvent.subject_id).where(*conditions)
    page = min(max(1, page), pages)
    rows = db.session.execute(
        joined.add_columns(Subject.subject_number)
        .order_by(AuditEvent.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return EventPage([_event_row(row) for row in rows], min(total, COUNT_CAP), page, pages, total > COUNT_CAP)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 10 else 1


def run_verify() -> VerifyReport:
    """``jk500db audit verify`` on a connection of its own, rolled back when closed: verifying changes nothing,
    and the request's session (with the logged-in user loaded in it) is left as it was."""
    with db.engine.connect() as connection:
        return verify(connection)


class AuditTrailPage(SecurePage):
    roles: ClassVar[frozenset[RoleCode]] = frozenset({RoleCode.MONITOR, RoleCode.ADMIN, RoleCode.INVESTIGATOR})
    title = "Audit trail"
    endpoint_name = "audit"
    order = 40

    def _render(self, report: VerifyReport | None = None) -> str:
        filters = parse_filters(request.args)
        events = load_events(filters, _page_number(request.args.get("page")))
        return self.render(
            "jk500/audit_trail.html",
            filters=filters,
            events=events,
            query_args=filters.as_query_args(),
            table_choices=table_choices(),
            report=report,
        )

    @expose("/")
    def index(self) -> str:
        return self._render()

    @expose("/verify", methods=["POST"])
    def verify_chain(self) -> str:
        # CSRFProtect (global) has already refused a POST without a valid token before this runs.
        return self._render(run_verify())


PAGE = AuditTrailPage
