"""The subject casebook (issue 5): one subject's whole record, from consent to last follow-up, on one page.

For a monitor at a site visit, or an investigator before signing the casebook off: a header with the key dates;
a timeline of the visits in schedule order (planned day, actual date, protocol day, window) with the forms of
each visit and the key clinical events on their protocol days; then every record of the subject, visit by
visit (records not tied to a visit - AEs, medications, history... - in sections of their own), each with its
entered values, the values the system computed (marked, with their rule and reasons), source-data
verification, queries, signatures (still valid or invalidated), the locks covering it and its audit history.
On screen each form is folded to one line (records, entry status, SDV, open queries, locks) and each record's
history is one line (how many changes, the last by whom and when) linking to the record's page, which shows it
in full; ``?print=1``, the archive copy, gives the same content without the menu, everything unfolded with every
record's full audit history, one visit per printed page.

Read-only. Statisticians never open it: it shows identifiers. The birth date and the consent signer's name are
shown to the roles that work with the site's source documents only.

The page reads a fixed number of statements however big the casebook is: the subject, the schedule, one
statement per clinical table, and one each for terms, visit definitions, sites, form status, SDV marks, locks,
queries (and their messages), signatures, users and the audit trail: on screen one GROUP BY giving each record's
number of changes and its last one, on paper every event. Everything is matched up here in Python. Whether a
signature still stands is worked out from the rows already read (``signature_states`` with ``rows``), with the
signature service's own canonical content, so no statement is added per signature.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, request, url_for
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import Session, selectinload

from admin.crf.catalogue import IDENTIFIERS, crf_of_table
from admin.crf.forms import entries, label_of, unit_of
from admin.crf.view import display
from admin.extensions import db
from admin.links import record_url
from admin.pages.audit_trail import INTERNAL_KEY, SOURCES, internal_key_columns
from admin.pages.base import SecurePage, words
from jk500db.audit.guards import guarded_tables
from jk500db.clinical import schedule
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.derivations.subject_data import LYMPHODEPLETION_AGENTS
from jk500db.models import (
    AuditEvent,
    Base,
    CtcaeTerm,
    ExpectedForm,
    FormStatus,
    Query,
    RecordLock,
    SdvMark,
    Signature,
    Site,
    Subject,
    User,
    VisitDefinition,
)
from jk500db.models.base import derived_columns
from jk500db.models.docs import column_doc
from jk500db.models.types import PartialDate, Vocabulary
from jk500db.models.vocabularies import (
    ChangeSource,
    ConsentKind,
    FormCode,
    LockLevel,
    LockMode,
    QueryOrigin,
    QueryStatus,
    RoleCode,
    VisitAnchor,
    VisitStatus,
)
from jk500db.services.locks import RecordScope, lock_covers
from jk500db.services.signatures import SignatureState, signature_states
from jk500db.services.study_definition import active_definition

#: Roles that work with the site's source documents and so see the birth date and the consent signer's name.
SEE_IDENTIFIERS = frozenset({RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR})
HIDDEN = "(not shown to your role)"
#: Audit fields never shown: the row's own key, its subject (the page is the subject's) and the version counter.
SKIPPED_FIELDS = frozenset({"id", "subject_id", "version"})
#: Derived columns that explain another derived value (rule label, reasons, settings) rather than being one.
PROVENANCE_ENDINGS = ("_rule", "_reasons", "_settings")
PROVENANCE_NAMES = frozenset({"rule", "evidence"})
#: Protocol day of the lymphodepletion start (the anchor of the screening and lymphodepletion visits).
LYMPHODEPLETION_DAY = -7
#: What the history shows of an audit event (not its hashes).
AUDIT_COLUMNS = (
    AuditEvent.id,
    AuditEvent.occurred_at,
    AuditEvent.transaction_id,
    AuditEvent.actor_name,
    AuditEvent.source,
    AuditEvent.table_name,
    AuditEvent.row_key,
    AuditEvent.field_name,
    AuditEvent.action,
    AuditEvent.old_value,
    AuditEvent.new_value,
    AuditEvent.reason,
)
#: An audit event as read: the columns above, by name.
AuditRow = sa.Row[Any]
#: An AE of this grade or more is a key event of the timeline.
KEY_AE_GRADE = 3
PAGE_SIZE = 100

#: Form names as the protocol says them (the vocabulary's codes are short).
FORM_TITLES: dict[FormCode, str] = {
    FormCode.CONSENT: "Consent and assent",
    FormCode.DEMOGRAPHICS: "Demographics",
    FormCode.DISEASE_HISTORY: "Disease history",
    FormCode.PRIOR_THERAPY: "Prior therapy",
    FormCode.SCREENING: "Screening",
    FormCode.VIROLOGY: "Virology",
    FormCode.ELIGIBILITY: "Eligibility criteria",
    FormCode.LABS: "Laboratory results",
    FormCode.VITALS: "Vital signs",
    FormCode.LYMPHODEPLETION: "Drug administration (lymphodepletion, IL-2)",
    FormCode.IL2: "IL-2",
    FormCode.INFUSION: "JK500 infusion",
    FormCode.CRS: "CRS assessments",
    FormCode.ICANS: "ICANS assessments",
    FormCode.ADVERSE_EVENTS: "Adverse events",
    FormCode.CONMEDS: "Concomitant medications",
    FormCode.PROCEDURES: "Procedures",
    FormCode.RESPONSE: "Response assessment",
    FormCode.TRANSPLANT: "Transplant (HSCT)",
    FormCode.DISPOSITION: "End of study",
    FormCode.DEATH: "Death",
    FormCode.SURVIVAL: "Survival follow-up",
    FormCode.DEVIATIONS: "Protocol deviations",
}
FORM_ORDER = {form: index for index, form in enumerate(FormCode)}


def form_title(form: FormCode | str) -> str:
    return FORM_TITLES.get(FormCode(form), words(str(form)))


def sees_identifiers() -> bool:
    return current_user.role in SEE_IDENTIFIERS


def time_text(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- the clinical tables ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DerivedGroup:
    """A computed value and the columns that explain it."""

    value: str
    rule: str | None = None
    reasons: str | None = None
    settings: str | None = None


@dataclass(frozen=True)
class ClinicalTable:
    name: str
    model: type[Any]
    form: FormCode
    #: the column naming the row's visit ("id" for the visit table itself), None for subject-level forms.
    visit_column: str | None
    #: the columns a signature covers, in the service's order (audited columns and the version).
    signed_columns: tuple[str, ...]
    title: str

    @property
    def table(self) -> sa.Table:
        return Base.metadata.tables[self.name]


def _token_score(provenance: str, value: str) -> int:
    """How well a provenance column (``grade_rule``) names a value column (``astct_grade``)."""
    stem = provenance
    for ending in PROVENANCE_ENDINGS:
        stem = stem.removesuffix(ending)
    shared = set(stem.split("_")) & set(value.split("_"))
    ends = any(value.endswith(f"_{token}") for token in shared)
    return 2 * len(shared) + int(ends)


@cache
def derived_groups(table_name: str) -> tuple[DerivedGroup, ...]:
    """The table's computed values, each with its rule, reasons and settings columns when it has them.

    A provenance column belongs to the value it shares most words with (``grade_rule`` -> ``astct_grade``), or to
    the table's first computed value when it shares none (``eligibility_rule`` -> ``eligible_derived``)."""
    table = Base.metadata.tables[table_name]
    computed = [c.name for c in table.columns if c.name in derived_columns(table)]
    values = [n for n in computed if not n.endswith(PROVENANCE_ENDINGS) and n not in PROVENANCE_NAMES]
    if not values:
        return ()
    explained: dict[str, dict[str, str]] = {name: {} for name in values}
    for name in computed:
        if name in explained:
            continue
        kind = "reasons" if name.endswith("_reasons") or name == "evidence" else name.rsplit("_", 1)[-1]
        best = max(values, key=lambda value: _token_score(name, value))  # max keeps the first of equals
        explained[best].setdefault(kind, name)
    return tuple(DerivedGroup(name, **explained[name]) for name in values)


@cache
def clinical_tables() -> tuple[ClinicalTable, ...]:
    models = {str(mapper.local_table.description): mapper.class_ for mapper in Base.registry.mappers}
    tables = []
    for guarded in guarded_tables():
        crf = crf_of_table(guarded.name)
        tables.append(
            ClinicalTable(
                name=guarded.name,
                model=models[guarded.name],
                form=guarded.form,
                visit_column=guarded.visit_column,
                signed_columns=(*guarded.audited.columns, "version"),
                title=crf.title if crf else words(guarded.name),
            )
        )
    return tuple(tables)


@cache
def forms_with_tables() -> frozenset[FormCode]:
    return frozenset(table.form for table in clinical_tables())


@cache
def subject_level_forms() -> frozenset[FormCode]:
    """Forms whose records name no visit (consent, history, AEs...): entered once for the subject."""
    forms = {table.form for table in clinical_tables()}
    return frozenset(forms - {table.form for table in clinical_tables() if table.visit_column is not None})


@cache
def clinical_table(name: str) -> ClinicalTable:
    return next(t for t in clinical_tables() if t.name == name)


@cache
def shown_columns(table_name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, columns) of every entered value, in the form's order: a partial date is one value of three columns.

    The form's own inputs, plus what a workflow sets (investigator confirmation, DLT decision) and the users it
    names; never keys, the subject link, the version or the removal bookkeeping."""
    crf = crf_of_table(table_name)
    table = Base.metadata.tables[table_name]
    if crf is None:
        return ()
    shown = [(e.name, e.columns) for e in entries(replace(crf, not_typed=())) if e.name != "subject_id"]
    placed = {column for _, columns in shown for column in columns}
    for column in table.columns:  # users a workflow names (confirmed by, decided by): after the form's values
        targets = {fk.column.table.name for fk in column.foreign_keys}
        if "user_account" in targets and column.name not in placed:
            shown.append((column.name, (column.name,)))
    return tuple(shown)


#: Words for column names ``label_of`` reads poorly here.
LABELS = {"lln": "LLN", "uln": "ULN"}


@cache
def field_label(name: str) -> str:
    """A column or value name as the page prints it: "dlt_decided_by_id" -> "DLT decided by"."""
    if name in LABELS:
        return LABELS[name]
    return label_of(name.removesuffix("_id") if name.endswith("_by_id") else name)


def hidden_for_role(table_name: str, column: str) -> bool:
    return column in IDENTIFIERS.get(table_name, ()) and not sees_identifiers()


# --- what the page shows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    label: str
    text: str
    name: str


@dataclass(frozen=True)
class Computed:
    label: str
    text: str
    name: str
    meaning: str
    rule: str | None
    reasons: list[str]
    settings: str | None


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str
    derived: bool


@dataclass
class HistoryEntry:
    when: str
    who: str
    source: str
    action: str
    reason: str
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class HistorySummary:
    """A record's audit history in one line: how many changes (saves, as the history lists them), the last one."""

    changes: int
    last_by: str
    last_at: str


@dataclass(frozen=True)
class QueryMessageView:
    when: str
    author: str
    text: str
    status_after: str


@dataclass(frozen=True)
class QueryView:
    field: str
    status: str
    raised_by: str
    opened: str
    closed: str
    messages: list[QueryMessageView]

    @property
    def is_open(self) -> bool:
        return self.status == QueryStatus.OPEN.value


@dataclass(frozen=True)
class SignatureView:
    meaning: str
    signer: str
    signed_at: str
    record_version: int
    valid: bool
    invalidated_at: str
    invalidated_reason: str


@dataclass(frozen=True)
class SdvView:
    #: verified, cleared (verified once, changed since) or never.
    state: str
    verified_by: str = ""
    verified_at: str = ""
    cleared_at: str = ""
    #: what change cleared it, in words, and where that record is on the page.
    cleared_by: str = ""
    cleared_anchor: str = ""


@dataclass(frozen=True)
class LockView:
    mode: str
    level: str
    since: str
    by: str
    reason: str


@dataclass
class RecordView:
    table_name: str
    table_title: str
    title: str
    anchor: str
    url: str | None
    removed: str | None
    values: list[Value]
    computed: list[Computed]
    queries: list[QueryView] = field(default_factory=list)
    signatures: list[SignatureView] = field(default_factory=list)
    #: the full history: on paper only (the screen shows ``summary`` and links to the record's page).
    history: list[HistoryEntry] = field(default_factory=list)
    summary: HistorySummary | None = None

    @property
    def open_queries(self) -> int:
        return sum(1 for query in self.queries if query.is_open)


@dataclass
class FormSection:
    form: FormCode
    title: str
    anchor: str
    expected: bool
    required: bool
    #: the form's entry status at the visit (FormStatus), when one is recorded.
    status: str | None
    sdv: SdvView
    locks: list[LockView]
    records: list[RecordView] = field(default_factory=list)
    #: a form of the subject's (consent, history...) the schedule expects at a visit: its records are shown once,
    #: with the subject's, and the visit points there.
    elsewhere: bool = False
    #: a form with no table of its own (IL-2 doses are drug administration records).
    tableless: bool = False

    @property
    def open_queries(self) -> int:
        return sum(record.open_queries for record in self.records)


@dataclass
class VisitSection:
    code: str
    label: str
    anchor: str
    unscheduled: bool
    planned: str
    planned_date: dt.date | None
    status: str
    visit_date: dt.date | None
    protocol_day: int | None
    study_day: int | None
    window_status: str | None
    missed_reason: str | None
    record: RecordView | None
    locks: list[LockView]
    forms: list[FormSection]


@dataclass(frozen=True)
class KeyEvent:
    on: dt.date
    #: sorts events of one day: the time when there is one.
    at: dt.datetime | None
    kind: str
    text: str
    protocol_day: int | None
    anchor: str
    #: a Bootstrap contextual colour for the badge.
    tone: str


@dataclass(frozen=True)
class TimelineRow:
    """A visit of the schedule (with or without its visit record) or a key event, in time order."""

    visit: VisitSection | None = None
    event: KeyEvent | None = None


@dataclass(frozen=True)
class KeyDate:
    label: str
    on: dt.date | None
    protocol_day: int | None


@dataclass
class Casebook:
    subject_number: str
    site: str
    status: str
    removed: str | None
    age_at_consent: int | None
    birth_date: dt.date | None
    key_dates: list[KeyDate]
    timeline: list[TimelineRow]
    visits: list[VisitSection]
    subject_forms: list[FormSection]
    subject_locks: list[LockView]
    defined: bool


# --- reading -----------------------------------------------------------------------------------------------


@dataclass
class Loaded:
    """Everything read for one casebook: one statement per table, whatever the number of rows."""

    subject: Subject
    site: Site
    rows: dict[str, list[Any]]
    schedule: list[VisitDefinition]
    expected: dict[int, list[ExpectedForm]]
    definitions: dict[int, VisitDefinition]
    form_status: dict[tuple[int, FormCode], FormStatus]
    sdv_marks: list[SdvMark]
    locks: list[RecordLock]
    queries: list[Query]
    signatures: list[Signature]
    #: whether each signature still stands, by signature id.
    signature_states: dict[int, SignatureState]
    #: every audit event of the subject's records (``full_history``), else none and ``summaries`` instead.
    events: list[AuditRow]
    summaries: dict[tuple[str, str], HistorySummary]
    terms: dict[int, str]
    sites: dict[int, str]
    users: dict[int, str]


def find_subject(session: Session, number: str) -> tuple[Subject, Site] | None:
    # The format the database enforces (subject_number_format): anything else is not a subject.
    if len(number) != 6 or number[2] != "-":
        return None
    row = session.execute(
        sa.select(Subject, Site).join(Site, Site.id == Subject.site_id).where(Subject.subject_number == number)
    ).first()
    return None if row is None else (row[0], row[1])


def _subject_rows(session: Session, subject_id: int) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {}
    for table in clinical_tables():
        if table.name == "subject":
            continue
        model = table.model
        rows[table.name] = list(
            session.scalars(sa.select(model).where(model.subject_id == subject_id).order_by(model.id))
        )
    return rows


def _ids(rows: Iterable[Any], column: str) -> set[int]:
    return {value for row in rows if (value := getattr(row, column, None)) is not None}


def _audited_ids(events: Iterable[AuditRow], columns: Iterable[str]) -> set[int]:
    wanted = set(columns)
    found = set()
    for event in events:
        if event.field_name in wanted:
            for raw in (event.old_value, event.new_value):
                if raw is not None and raw.isdigit():
                    found.add(int(raw))
    return found


@cache
def _user_columns() -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                column.name
                for table in clinical_tables()
                for column in table.table.columns
                if any(fk.column.table.name == "user_account" for fk in column.foreign_keys)
            }
        )
    )


def _clinical_events(subject_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(AuditEvent.subject_id == subject_id, AuditEvent.table_name.in_([t.name for t in clinical_tables()]))


def read_events(session: Session, subject_id: int) -> list[AuditRow]:
    """Every audit event of the subject's records, oldest first: the full histories of the printed casebook."""
    # Plain rows, not ORM objects: a casebook has thousands of audit events, and nothing here changes them.
    return list(session.execute(sa.select(*AUDIT_COLUMNS).where(_clinical_events(subject_id)).order_by(AuditEvent.id)))


def history_summaries(session: Session, subject_id: int) -> dict[tuple[str, str], HistorySummary]:
    """Each of the subject's records' number of changes and its last change, by (table, row key): one statement.

    A change is a save (one transaction), as the record's history lists them; the last is the newest event
    (events are numbered in the order they happened), joined back for its author and time."""
    events = _clinical_events(subject_id)
    untracked = sa.func.sum(sa.case((AuditEvent.transaction_id.is_(None), 1), else_=0))  # each its own change
    per_record = (
        sa.select(
            AuditEvent.table_name,
            AuditEvent.row_key,
            (sa.func.count(AuditEvent.transaction_id.distinct()) + untracked).label("changes"),
            sa.func.max(AuditEvent.id).label("last_id"),
        )
        .where(events)
        .group_by(AuditEvent.table_name, AuditEvent.row_key)
        .subquery()
    )
    query = sa.select(
        per_record.c.table_name, per_record.c.row_key, per_record.c.changes, AuditEvent.actor_name,
        AuditEvent.occurred_at,
    ).join(AuditEvent, AuditEvent.id == per_record.c.last_id)  # fmt: skip
    return {
        (table, key): HistorySummary(int(changes), actor, occurred_at[:16].replace("T", " ") + " UTC")
        for table, key, changes, actor, occurred_at in session.execute(query).tuples()
    }


def load(session: Session, subject: Subject, site: Site, *, full_history: bool = False) -> Loaded:
    """What the casebook shows, in a fixed number of statements; ``full_history`` reads every audit event (the
    printed casebook) instead of one line per record."""
    rows = _subject_rows(session, subject.id)
    rows["subject"] = [subject]
    definition = active_definition(session)
    schedule_rows: list[VisitDefinition] = []
    expected: dict[int, list[ExpectedForm]] = defaultdict(list)
    if definition is not None:
        schedule_rows = list(
            session.scalars(
                sa.select(VisitDefinition)
                .where(VisitDefinition.definition_id == definition.id)
                .order_by(VisitDefinition.order)
            )
        )
        for form in session.scalars(
            sa.select(ExpectedForm)
            .join(VisitDefinition, VisitDefinition.id == ExpectedForm.visit_definition_id)
            .where(VisitDefinition.definition_id == definition.id)
            .order_by(ExpectedForm.id)
        ):
            expected[form.visit_definition_id].append(form)
    events = read_events(session, subject.id) if full_history else []
    summaries = {} if full_history else history_summaries(session, subject.id)
    # Visits may name a definition of an earlier version of the schedule; so may their audit history.
    definition_ids = _ids(rows["visit"], "visit_definition_id") | _audited_ids(events, ["visit_definition_id"])
    definitions = {
        d.id: d for d in session.scalars(sa.select(VisitDefinition).where(VisitDefinition.id.in_(definition_ids)))
    }
    term_ids = _ids(rows["adverse_event"], "ctcae_term_id") | _audited_ids(events, ["ctcae_term_id"])
    terms = dict(
        session.execute(sa.select(CtcaeTerm.id, CtcaeTerm.term).where(CtcaeTerm.id.in_(term_ids))).tuples().all()
    )
    sites = {row.id: f"{row.code} {row.name}" for row in session.execute(sa.select(Site.id, Site.code, Site.name))}
    form_status = {
        (status.visit_id, FormCode(status.form_code)): status
        for status in session.scalars(sa.select(FormStatus).where(FormStatus.subject_id == subject.id))
    }
    marks = list(session.scalars(sa.select(SdvMark).where(SdvMark.subject_id == subject.id).order_by(SdvMark.id)))
    locks = list(
        session.scalars(
            sa.select(RecordLock)
            .where(
                RecordLock.unlocked_at.is_(None),
                sa.or_(RecordLock.level == LockLevel.STUDY, RecordLock.subject_id == subject.id),
            )
            .order_by(RecordLock.id)
        )
    )
    queries = list(
        session.scalars(
            sa.select(Query)
            .where(Query.subject_id == subject.id)
            .options(selectinload(Query.messages))
            .order_by(Query.opened_at, Query.id)
        )
    )
    signatures = list(
        session.scalars(sa.select(Signature).where(Signature.subject_id == subject.id).order_by(Signature.id))
    )
    user_ids = (
        {uid for table in rows.values() for column in _user_columns() for uid in _ids(table, column)}
        | _audited_ids(events, _user_columns())
        | {m.verified_by_id for m in marks}
        | {lock.locked_by_id for lock in locks}
        | {q.opened_by_id for q in queries if q.opened_by_id is not None}
        | {m.author_id for q in queries for m in q.messages if m.author_id is not None}
    )
    users = dict(session.execute(sa.select(User.id, User.full_name).where(User.id.in_(user_ids))).tuples().all())
    return Loaded(
        subject=subject,
        site=site,
        rows=rows,
        schedule=schedule_rows,
        expected=expected,
        definitions=definitions,
        form_status=form_status,
        sdv_marks=marks,
        locks=locks,
        queries=queries,
        signatures=signatures,
        signature_states=signature_states(session, signatures, rows=rows),
        events=events,
        summaries=summaries,
        terms=terms,
        sites=sites,
        users=users,
    )


# --- labels ----------------------------------------------------------------------------------------------------


@dataclass
class Labels:
    """Words for what a key points at: the subject's own records, terms, visits' definitions, sites, users."""

    records: dict[str, dict[int, str]]
    terms: dict[int, str]
    definitions: dict[int, str]
    sites: dict[int, str]
    users: dict[int, str]

    def of(self, target: str, key: int) -> str:
        """The words for row ``key`` of table ``target``; never the key itself."""
        references = {
            "ctcae_term": self.terms,
            "visit_definition": self.definitions,
            "site": self.sites,
            "user_account": self.users,
        }
        if target in references:
            return references[target].get(key, INTERNAL_KEY)
        if target in self.records:
            return self.records[target].get(key, "(a record not in this casebook)")
        return INTERNAL_KEY


def _visit_label(visit: Any) -> str:
    sequence = f" #{visit.sequence}" if visit.sequence > 1 else ""
    when = f" ({visit.visit_date.isoformat()})" if visit.visit_date else ""
    return f"{visit.visit_code}{sequence}{when}"


@cache
def _title_columns(table_name: str) -> tuple[str, ...]:
    """The values that name a record: the first two its list page shows that are not links to other records."""
    crf = crf_of_table(table_name)
    if crf is None:
        return ()
    table = Base.metadata.tables[table_name]
    names = [
        name for name in crf.listed if name not in table.c or not table.c[name].foreign_keys or name == "ctcae_term_id"
    ]
    return tuple(names[:2])


def record_title(table_name: str, record: Any, terms: Mapping[int, str]) -> str:
    if table_name == "visit":
        return _visit_label(record)
    if table_name == "adverse_event":
        return f"AE {record.ae_number}: {terms.get(record.ctcae_term_id, '—')}"
    parts = []
    for name in _title_columns(table_name):
        value = getattr(record, name, None)
        if name == "ctcae_term_id":
            parts.append(terms.get(int(value), "—") if value is not None else "—")
        elif value is not None and not (isinstance(value, PartialDate) and value.year is None):
            parts.append(f"{field_label(name)} {display(value)}" if isinstance(value, int | float) else display(value))
    return " · ".join(parts) or clinical_table(table_name).title


def build_labels(loaded: Loaded) -> Labels:
    records = {
        name: {row.id: record_title(name, row, loaded.terms) for row in rows} for name, rows in loaded.rows.items()
    }
    definitions = {d.id: f"{d.code}: {d.label}" for d in [*loaded.definitions.values(), *loaded.schedule]}
    return Labels(records, loaded.terms, definitions, loaded.sites, loaded.users)


@dataclass(frozen=True)
class ShownField:
    """How one entered value of a table is printed, worked out once per table (a casebook prints thousands)."""

    #: the attribute: a column, or the name of a partial date's three columns.
    name: str
    label: str
    #: shown to the roles that work with source documents only (``hidden_for_role``).
    identifier: bool
    #: the table a key column points at: the value prints as that record's words.
    target: str | None
    unit: str | None


@cache
def shown_fields(table_name: str) -> tuple[ShownField, ...]:
    table = Base.metadata.tables[table_name]
    fields = []
    for name, columns in shown_columns(table_name):
        column = columns[0] if len(columns) == 1 else name
        found = table.c.get(column)
        foreign = next(iter(found.foreign_keys), None) if found is not None else None
        fields.append(
            ShownField(
                name=name,
                label=field_label(name),
                identifier=column in IDENTIFIERS.get(table_name, ()),
                target=foreign.column.table.name if foreign is not None else None,
                unit=unit_of(column),
            )
        )
    return tuple(fields)


def value_text(shown: ShownField, value: Any, labels: Labels) -> str:
    if shown.identifier and not sees_identifiers():
        return HIDDEN
    if value is None or (isinstance(value, PartialDate) and value.year is None):
        return "—"
    if shown.target is not None:
        return labels.of(shown.target, int(value))
    return display(value) + (f" {shown.unit}" if shown.unit else "")


def stored_text(table_name: str, column: str, raw: str | None, labels: Labels) -> str:
    """An audited value (stored as text) as a person reads it: words for codes, labels for linked records."""
    if hidden_for_role(table_name, column):
        return HIDDEN
    if raw is None:
        return "—"
    table = Base.metadata.tables[table_name]
    found = table.c.get(column)
    if found is None:
        return raw
    if isinstance(found.type, sa.Boolean):
        return {"1": "Yes", "true": "Yes", "0": "No", "false": "No"}.get(raw.lower(), raw)
    if isinstance(found.type, Vocabulary):
        return words(raw)
    if (table_name, column) in internal_key_columns():
        foreign = next(iter(found.foreign_keys), None)
        if foreign is None or not raw.isdigit():
            return INTERNAL_KEY
        return labels.of(foreign.column.table.name, int(raw))
    return raw


# --- records -----------------------------------------------------------------------------------------------


def record_values(table_name: str, record: Any, labels: Labels) -> list[Value]:
    return [
        Value(shown.label, value_text(shown, getattr(record, shown.name), labels), shown.name)
        for shown in shown_fields(table_name)
    ]


@cache
def derived_meaning(table_name: str, column: str) -> str:
    """What a computed column means, from its model's ``#:`` comment."""
    return column_doc(clinical_table(table_name).model, column).removeprefix("derived: ")


def record_computed(table_name: str, record: Any, explained: Mapping[str, list[str]] | None = None) -> list[Computed]:
    """The record's computed values with their rule, reasons and settings; ``explained`` adds reasons a value
    takes from other records (an AE's episode grade from its assessments)."""
    shown = []
    for group in derived_groups(table_name):
        reasons = getattr(record, group.reasons) if group.reasons else None
        lines = [line for line in (reasons or "").splitlines() if line.strip()]
        shown.append(
            Computed(
                label=field_label(group.value),
                text=display(getattr(record, group.value))
                + (f" {unit}" if (unit := unit_of(group.value)) and getattr(record, group.value) is not None else ""),
                name=group.value,
                meaning=derived_meaning(table_name, group.value),
                rule=getattr(record, group.rule) if group.rule else None,
                reasons=lines + list((explained or {}).get(group.value, [])),
                settings=getattr(record, group.settings) if group.settings else None,
            )
        )
    return shown


def record_history(table_name: str, events: Sequence[AuditRow], labels: Labels) -> list[HistoryEntry]:
    """The record's audit events in time order, one entry per transaction: when, who, what changed, why."""
    if not events:
        return []  # on screen no events are read: the page shows each record's summary instead
    derived = derived_columns(Base.metadata.tables[table_name])
    entries_by_transaction: dict[str, HistoryEntry] = {}
    for event in events:
        key = event.transaction_id or f"event {event.id}"
        entry = entries_by_transaction.get(key)
        if entry is None:
            entry = HistoryEntry(
                when=event.occurred_at[:19].replace("T", " ") + " UTC",
                who=event.actor_name,
                source=SOURCES.get(ChangeSource(event.source), str(event.source)),
                action=words(str(event.action)),
                reason=event.reason or "",
            )
            entries_by_transaction[key] = entry
        if event.field_name is None or event.field_name in SKIPPED_FIELDS:
            continue
        entry.changes.append(
            Change(
                field=field_label(event.field_name),
                old=stored_text(table_name, event.field_name, event.old_value, labels),
                new=stored_text(table_name, event.field_name, event.new_value, labels),
                derived=event.field_name in derived,
            )
        )
    return list(entries_by_transaction.values())


def query_view(query: Query, labels: Labels) -> QueryView:
    if query.origin == QueryOrigin.MANUAL:
        raised_by = labels.users.get(query.opened_by_id or 0, "a user")
    elif query.rule_id:
        raised_by = f"edit check {query.rule_id}"
    else:
        raised_by = words(str(query.origin))
    return QueryView(
        field=field_label(query.field_name) if query.field_name else "Whole record",
        status=str(query.status),
        raised_by=raised_by,
        opened=time_text(query.opened_at),
        closed=time_text(query.closed_at),
        messages=[
            QueryMessageView(
                when=time_text(message.written_at),
                author=labels.users.get(message.author_id, "system") if message.author_id else "system",
                text=message.text,
                status_after=str(message.status_after),
            )
            for message in query.messages
        ],
    )


# --- signatures ------------------------------------------------------------------------------------------


def signature_view(signature: Signature, state: SignatureState) -> SignatureView:
    valid = state is SignatureState.VALID
    return SignatureView(
        meaning=label_of(str(signature.meaning)),
        signer=signature.printed_name,
        signed_at=time_text(signature.signed_at),
        record_version=signature.record_version,
        valid=valid,
        invalidated_at=time_text(signature.invalidated_at),
        invalidated_reason=signature.invalidated_reason
        or ("" if valid else "the signed content changed after signing: it needs re-signing"),
    )


# --- SDV and locks -----------------------------------------------------------------------------------------


#: How the database notes what cleared a mark (``jk500db.audit.guards``): the changed row's table and key.
CLEARED_BY_CHANGE = re.compile(r"changed: (\w+) (\d+)")


def cleared_by(reason: str | None, labels: Labels) -> tuple[str, str]:
    """What cleared a mark, in words, and the anchor of that record on the page (never its key)."""
    found = CLEARED_BY_CHANGE.fullmatch(reason or "")
    if found is None:
        return ("a change to the form's data", "")
    table, key = found.group(1), int(found.group(2))
    title = labels.records.get(table, {}).get(key)
    return (f"a change to {title}", anchor_of(table, key)) if title else ("a change to the form's data", "")


def sdv_view(marks: Sequence[SdvMark], labels: Labels) -> SdvView:
    """The newest mark of the form decides, as ``jk500db.services.sdv.sdv_status`` does."""
    if not marks:
        return SdvView("never")
    newest = marks[-1]
    what, anchor = cleared_by(newest.cleared_reason, labels) if newest.cleared_at else ("", "")
    return SdvView(
        state="verified" if newest.cleared_at is None else "cleared",
        verified_by=labels.users.get(newest.verified_by_id, "a monitor"),
        verified_at=time_text(newest.verified_at),
        cleared_at=time_text(newest.cleared_at),
        cleared_by=what,
        cleared_anchor=anchor,
    )


def lock_views(locks: Sequence[RecordLock], scope: RecordScope, users: Mapping[int, str]) -> list[LockView]:
    return [
        LockView(
            mode="locked" if lock.mode == LockMode.LOCK else "frozen",
            level=str(lock.level),
            since=time_text(lock.locked_at),
            by=users.get(lock.locked_by_id, "an administrator"),
            reason=lock.reason or "",
        )
        for lock in locks
        if lock_covers(lock, scope)
    ]


# --- putting it together -----------------------------------------------------------------------------------


def anchor_of(table_name: str, record_id: int) -> str:
    return f"record-{table_name}-{record_id}"


def expected_form(expected: ExpectedForm) -> FormSection:
    """A form the schedule expects at a visit the subject has not had yet: nothing entered, verified or locked."""
    form = FormCode(expected.form_code)
    return FormSection(form, form_title(form), "", True, expected.required, None, SdvView("never"), [])


class Builder:
    """Turns what was read into the page: records, form sections, visits, the timeline, the header."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.labels = build_labels(loaded)
        self.events: dict[tuple[str, str], list[AuditRow]] = defaultdict(list)
        for event in loaded.events:
            self.events[(event.table_name, event.row_key)].append(event)
        self.queries: dict[tuple[str, int], list[Query]] = defaultdict(list)
        for query in loaded.queries:
            self.queries[(query.table_name, query.record_id)].append(query)
        self.signatures: dict[tuple[str, int], list[Signature]] = defaultdict(list)
        for signature in loaded.signatures:
            self.signatures[(signature.table_name, signature.record_id)].append(signature)
        self.marks: dict[tuple[int | None, FormCode], list[SdvMark]] = defaultdict(list)
        for mark in loaded.sdv_marks:
            self.marks[(mark.visit_id, FormCode(mark.form_code))].append(mark)
        self.subject_id = loaded.subject.id
        #: records not tied to a visit, by form (filled by ``casebook``).
        self.subject_records: dict[FormCode, list[RecordView]] = defaultdict(list)

    # -- records and forms

    def record(self, table_name: str, row: Any) -> RecordView:
        removed = None
        if row.removed_at is not None:
            removed = f"{time_text(row.removed_at)}: {row.removed_reason or ''}".rstrip(": ")
        return RecordView(
            table_name=table_name,
            table_title=clinical_table(table_name).title,
            title=self.labels.records[table_name][row.id],
            anchor=anchor_of(table_name, row.id),
            url=record_url(table_name, row.id),
            removed=removed,
            values=record_values(table_name, row, self.labels),
            computed=record_computed(table_name, row, self.explained(table_name, row)),
            queries=[query_view(q, self.labels) for q in self.queries.get((table_name, row.id), [])],
            signatures=[
                signature_view(s, self.loaded.signature_states[s.id])
                for s in self.signatures.get((table_name, row.id), [])
            ],
            history=record_history(table_name, self.events.get((table_name, str(row.id)), []), self.labels),
            summary=self.loaded.summaries.get((table_name, str(row.id))),
        )

    def explained(self, table_name: str, row: Any) -> dict[str, list[str]]:
        """An AE's derived grade is its episode's highest ASTCT grade: the assessments that reached it say why."""
        if table_name != "adverse_event" or row.derived_grade is None:
            return {}
        lines = []
        for kind, name in (("CRS", "crs_assessment"), ("ICANS", "icans_assessment")):
            for assessment in self.loaded.rows.get(name, []):
                reached = assessment.adverse_event_id == row.id and assessment.astct_grade == row.derived_grade
                if reached and assessment.removed_at is None:
                    reasons = "; ".join(line for line in (assessment.grade_reasons or "").splitlines() if line)
                    lines.append(
                        f"{kind} assessment {time_text(assessment.assessed_at)}: ASTCT grade "
                        f"{assessment.astct_grade}" + (f" ({reasons})" if reasons else "")
                    )
        return {"derived_grade": lines}

    def form_section(
        self, form: FormCode, visit_id: int | None, records: list[RecordView], expected: ExpectedForm | None
    ) -> FormSection:
        status = self.loaded.form_status.get((visit_id, form)) if visit_id is not None else None
        if visit_id is not None and form in subject_level_forms():
            section = self.form_section(form, None, self.subject_records.get(form, []), expected)
            section.status = None if status is None else str(status.status)
            section.elsewhere = True
            return section
        return FormSection(
            form=form,
            title=form_title(form),
            anchor=f"form-{visit_id if visit_id is not None else 'subject'}-{form.value}",
            expected=expected is not None,
            required=bool(expected and expected.required),
            status=None if status is None else str(status.status),
            sdv=sdv_view(self.marks.get((visit_id, form), []), self.labels),
            locks=lock_views(self.loaded.locks, RecordScope(self.subject_id, visit_id, form), self.loaded.users),
            records=records,
            tableless=form not in forms_with_tables(),
        )

    def records_by_place(self) -> dict[int | None, dict[FormCode, list[RecordView]]]:
        """Every record but the subject's visits, by visit (None: not tied to one) and form, in table order."""
        placed: dict[int | None, dict[FormCode, list[RecordView]]] = defaultdict(lambda: defaultdict(list))
        for table in clinical_tables():
            if table.name == "visit":
                continue
            for row in self.loaded.rows.get(table.name, []):
                visit_id = getattr(row, table.visit_column) if table.visit_column else None
                placed[visit_id][table.form].append(self.record(table.name, row))
        return placed

    def forms_of(
        self, visit_id: int | None, records: Mapping[FormCode, list[RecordView]], expected: Sequence[ExpectedForm]
    ) -> list[FormSection]:
        """The expected forms first, in the schedule's order, then any other form with records or marks."""
        by_form = {FormCode(e.form_code): e for e in expected}
        others = set(records) | {form for (visit, form) in self.marks if visit == visit_id}
        if visit_id is not None:
            others |= {form for (visit, form) in self.loaded.form_status if visit == visit_id}
        order = list(by_form) + sorted(others - set(by_form), key=lambda f: FORM_ORDER[f])
        return [self.form_section(form, visit_id, list(records.get(form, [])), by_form.get(form)) for form in order]

    # -- visits

    def planned(
        self, definition: VisitDefinition | None, anchors: Mapping[VisitAnchor, dt.date | None]
    ) -> tuple[str, dt.date | None]:
        if definition is None or definition.nominal_day is None:
            return "unscheduled", None
        anchor = VisitAnchor(definition.anchor)
        offset = LYMPHODEPLETION_DAY if anchor == VisitAnchor.LYMPHODEPLETION_START else 0
        window = ""
        if definition.window_before or definition.window_after:
            window = f" (−{definition.window_before}/+{definition.window_after})"
        anchor_date = anchors.get(anchor)
        planned_date = anchor_date + dt.timedelta(days=definition.nominal_day) if anchor_date else None
        return f"day {definition.nominal_day + offset}{window}", planned_date

    def visit_section(
        self,
        visit: Any | None,
        definition: VisitDefinition | None,
        placed: Mapping[int | None, Mapping[FormCode, list[RecordView]]],
        anchors: Mapping[VisitAnchor, dt.date | None],
    ) -> VisitSection:
        planned, planned_date = self.planned(definition, anchors)
        expected = self.loaded.expected.get(definition.id, []) if definition is not None else []
        if visit is None:
            assert definition is not None
            return VisitSection(
                code=definition.code, label=definition.label, anchor=f"visit-{definition.code}", unscheduled=False,
                planned=planned, planned_date=planned_date, status="not_yet", visit_date=None, protocol_day=None,
                study_day=None, window_status=None, missed_reason=None, record=None, locks=[],
                forms=[expected_form(e) for e in expected],
            )  # fmt: skip
        return VisitSection(
            code=visit.visit_code,
            label=definition.label if definition else ("Unscheduled visit" if visit.unscheduled else visit.visit_code),
            anchor=f"visit-{visit.id}",
            unscheduled=bool(visit.unscheduled),
            planned=planned,
            planned_date=planned_date,
            status=str(visit.status),
            visit_date=visit.visit_date,
            protocol_day=visit.protocol_day,
            study_day=visit.study_day,
            window_status=None if visit.window_status is None else str(visit.window_status),
            missed_reason=visit.missed_reason,
            record=self.record("visit", visit),
            locks=lock_views(self.loaded.locks, RecordScope(self.subject_id, visit.id, None), self.loaded.users),
            forms=self.forms_of(visit.id, placed.get(visit.id, {}), expected),
        )

    # -- key dates and events

    def day(self, on: dt.date | None, day0: dt.date | None) -> int | None:
        return schedule.protocol_day(on, day0) if on and day0 else None

    def key_events(self, day0: dt.date | None) -> list[KeyEvent]:
        """Consent, the first lymphodepletion dose, infusions, CRS and ICANS episodes, AEs of grade 3 or more,
        responses, transplant, death and the end of the study, each on its date and protocol day."""
        live = {name: [r for r in table if r.removed_at is None] for name, table in self.loaded.rows.items()}
        found: list[tuple[str, Any, dt.date | None, dt.datetime | None, str, str, str]] = []
        for consent in live.get("consent", []):
            text = f"{words(str(consent.kind))} signed (version {consent.document_version})"
            found.append(("consent", consent, consent.signed_on, None, "Consent", text, "secondary"))
        agents = {str(agent) for agent in LYMPHODEPLETION_AGENTS}
        doses = [
            a
            for a in live.get("drug_administration", [])
            if str(a.agent) in agents and not a.not_given and a.started_at
        ]
        if doses:
            first = min(doses, key=lambda a: a.started_at)
            text = f"first dose ({words(str(first.agent))})"
            found.append(("drug_administration", first, first.started_at.date(), first.started_at,
                          "Lymphodepletion", text, "secondary"))  # fmt: skip
        for infusion in live.get("infusion", []):
            text = f"JK500 infusion {infusion.infusion_number}"
            found.append(("infusion", infusion, infusion.started_at.date(), infusion.started_at, "Infusion", text,
                          "primary"))  # fmt: skip
        for ae in live.get("adverse_event", []):
            grade = max(ae.grade, ae.derived_grade or 0)
            if grade >= KEY_AE_GRADE:
                text = f"{self.labels.records['adverse_event'][ae.id]}, grade {grade}" + (
                    ", serious" if ae.serious else ""
                )
                found.append(("adverse_event", ae, ae.onset_date, None, "AE", text, "danger"))
        for response in live.get("response_assessment", []):
            category = response.investigator_category or response.eln_category
            text = f"response {display(category)}" + (" (MRD-negative)" if response.mrd_negative else "")
            found.append(("response_assessment", response, response.assessed_on, None, "Response", text, "success"))
        for transplant in live.get("transplant", []):
            text = f"transplant ({display(transplant.donor_type)})"
            found.append(("transplant", transplant, transplant.transplant_date, None, "HSCT", text, "info"))
        for death in live.get("death", []):
            found.append(("death", death, death.death_date, None, "Death", f"death ({display(death.cause)})", "dark"))
        for ending in live.get("end_of_study", []):
            found.append(("end_of_study", ending, ending.ended_on, None, "End of study", display(ending.status),
                          "secondary"))  # fmt: skip
        events = [
            KeyEvent(on, at, kind, text, self.day(on, day0), anchor_of(table, row.id), tone)
            for table, row, on, at, kind, text, tone in found
            if on is not None
        ]
        for kind, table in (("CRS", "crs_assessment"), ("ICANS", "icans_assessment")):
            events.extend(self._episodes(kind, table, live.get(table, []), day0))
        return sorted(events, key=lambda e: (e.on, e.at or dt.datetime.combine(e.on, dt.time(), dt.UTC)))

    def _episodes(self, kind: str, table: str, assessments: list[Any], day0: dt.date | None) -> list[KeyEvent]:
        """One event per CRS or ICANS episode (the assessments of one AE, or a lone assessment): first
        assessment, highest ASTCT grade."""
        episodes: dict[Any, list[Any]] = defaultdict(list)
        for assessment in assessments:
            episodes[assessment.adverse_event_id or f"lone {assessment.id}"].append(assessment)
        found = []
        for group in episodes.values():
            graded = [a.astct_grade for a in group if a.astct_grade is not None]
            worst = max(graded, default=None)
            if not worst:
                continue  # grade 0 or ungraded: not an episode worth a line
            first = min(group, key=lambda a: a.assessed_at)
            count = f", {len(group)} assessments" if len(group) > 1 else ""
            on = first.assessed_at.date()
            found.append(KeyEvent(on, first.assessed_at, kind, f"{kind} ASTCT grade {worst} (highest{count})",
                                  self.day(on, day0), anchor_of(table, first.id), "warning"))  # fmt: skip
        return found

    def anchors(self) -> tuple[dt.date | None, dt.datetime | None]:
        """Day 0 (the first JK500 infusion) and the first lymphodepletion dose, from the live records."""
        infusions = [i.started_at for i in self.loaded.rows.get("infusion", []) if i.removed_at is None]
        agents = {str(agent) for agent in LYMPHODEPLETION_AGENTS}
        doses = [
            a.started_at
            for a in self.loaded.rows.get("drug_administration", [])
            if a.removed_at is None and str(a.agent) in agents and not a.not_given and a.started_at is not None
        ]
        return (min(infusions).date() if infusions else None), min(doses, default=None)

    def key_dates(
        self, day0: dt.date | None, lymphodepletion: dt.datetime | None
    ) -> tuple[list[KeyDate], dt.date | None]:
        consents = [c for c in self.loaded.rows.get("consent", []) if c.removed_at is None]
        guardian = [c.signed_on for c in consents if str(c.kind) == ConsentKind.GUARDIAN_CONSENT.value]
        consent = min(guardian or [c.signed_on for c in consents], default=None)
        follow_ups = [
            v.visit_date
            for v in self.loaded.rows.get("visit", [])
            if v.removed_at is None and v.visit_date and str(v.status) == VisitStatus.COMPLETED.value
        ] + [s.contact_date for s in self.loaded.rows.get("survival_follow_up", []) if s.removed_at is None]
        last = max(follow_ups, default=None)
        first_ld = lymphodepletion.date() if lymphodepletion else None
        dates = [
            KeyDate("Consent", consent, self.day(consent, day0)),
            KeyDate("First lymphodepletion dose", first_ld, self.day(first_ld, day0)),
            KeyDate("First JK500 infusion (day 0)", day0, 0 if day0 else None),
            KeyDate("Last follow-up", last, self.day(last, day0)),
        ]
        return dates, consent

    # -- the page

    def casebook(self) -> Casebook:
        loaded = self.loaded
        day0, lymphodepletion = self.anchors()
        anchors = {
            VisitAnchor.FIRST_INFUSION: day0,
            VisitAnchor.LYMPHODEPLETION_START: lymphodepletion.date() if lymphodepletion else None,
        }
        placed = self.records_by_place()
        visits = list(loaded.rows.get("visit", []))
        # Records whose visit is not one of the subject's (none should be) still appear, with the subject's forms.
        known = {v.id for v in visits}
        for visit_id, forms in placed.items():
            if visit_id is None or visit_id not in known:
                for form, records in forms.items():
                    self.subject_records[form].extend(records)
        self.subject_records[FormCode.DEMOGRAPHICS].insert(0, self.record("subject", loaded.subject))
        by_code: dict[str, list[Any]] = defaultdict(list)
        for visit in sorted(visits, key=lambda v: (v.sequence, v.id)):
            by_code[visit.visit_code].append(visit)
        scheduled_codes = {d.code for d in loaded.schedule}
        slots: list[list[VisitSection]] = []
        for definition in loaded.schedule:
            found = [v for v in by_code.get(definition.code, []) if not v.unscheduled]
            if found:
                slots.append([self.visit_section(v, definition, placed, anchors) for v in found])
            else:
                slots.append([self.visit_section(None, definition, placed, anchors)])
        floating = [
            self.visit_section(v, loaded.definitions.get(v.visit_definition_id or 0), placed, anchors)
            for v in sorted(visits, key=lambda v: (v.visit_date or dt.date.max, v.id))
            if v.unscheduled or v.visit_code not in scheduled_codes
        ]
        events = self.key_events(day0)
        timeline = merge_timeline(slots, floating, events)
        sections = [row.visit for row in timeline if row.visit is not None and row.visit.record is not None]
        subject_forms = self.forms_of(None, self.subject_records, [])
        subject_forms.sort(key=lambda section: FORM_ORDER[section.form])
        dates, consent = self.key_dates(day0, lymphodepletion)
        age = None
        if consent is not None:
            try:
                age = schedule.age_in_years(loaded.subject.birth_date, consent)
            except ClinicalInputError:
                age = None  # a consent dated before birth: an edit check's business, not the page's
        subject = loaded.subject
        return Casebook(
            subject_number=subject.subject_number,
            site=f"{loaded.site.code} {loaded.site.name}",
            status=words(str(subject.status)),
            removed=(subject.removed_reason or "removed") if subject.removed_at is not None else None,
            age_at_consent=age,
            birth_date=subject.birth_date if sees_identifiers() else None,
            key_dates=dates,
            timeline=timeline,
            visits=sections,
            subject_forms=subject_forms,
            subject_locks=lock_views(loaded.locks, RecordScope(subject.id, None, None), loaded.users),
            defined=bool(loaded.schedule),
        )


def merge_timeline(
    slots: Sequence[Sequence[VisitSection]], floating: Sequence[VisitSection], events: Sequence[KeyEvent]
) -> list[TimelineRow]:
    """The schedule in its order, with unscheduled visits and key events slotted in by date: each after the last
    scheduled visit that took place on or before it (before every visit when none did)."""
    dates = [next((v.visit_date for v in slot if v.visit_date), None) for slot in slots]

    def position(on: dt.date | None) -> int:
        if on is None:
            return len(slots) - 1  # an undated unscheduled visit: at the end
        before = [index for index, when in enumerate(dates) if when is not None and when <= on]
        return max(before, default=-1)

    inserted: dict[int, list[tuple[tuple[dt.date, int, dt.datetime], TimelineRow]]] = defaultdict(list)
    midnight = dt.time(tzinfo=dt.UTC)
    for visit in floating:
        on = visit.visit_date
        key = (on or dt.date.max, 0, dt.datetime.combine(on or dt.date.max, midnight))
        inserted[position(on)].append((key, TimelineRow(visit=visit)))
    for event in events:
        key = (event.on, 1, event.at or dt.datetime.combine(event.on, midnight))
        inserted[position(event.on)].append((key, TimelineRow(event=event)))
    rows: list[TimelineRow] = [row for _, row in sorted(inserted.get(-1, []), key=lambda item: item[0])]
    for index, slot in enumerate(slots):
        rows.extend(TimelineRow(visit=visit) for visit in slot)
        rows.extend(row for _, row in sorted(inserted.get(index, []), key=lambda item: item[0]))
    return rows


# --- the subject list --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectRow:
    subject_number: str
    site: str
    status: str
    enrolled_on: dt.date | None


@dataclass(frozen=True)
class SubjectPage:
    rows: list[SubjectRow]
    total: int
    page: int
    pages: int


def list_subjects(session: Session, site: str | None, page: int) -> SubjectPage:
    """One page of the subjects, by number: two statements (count, page) however many there are."""
    query = (
        sa.select(Subject.subject_number, Site.code, Subject.status, Subject.enrolled_on)
        .join(Site, Site.id == Subject.site_id)
        .where(Subject.removed_at.is_(None))
    )
    if site is not None:
        query = query.where(Site.code == site)
    total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    found = session.execute(
        query.order_by(Subject.subject_number).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).tuples()
    rows = [SubjectRow(number, code, words(str(status)), enrolled) for number, code, status, enrolled in found]
    return SubjectPage(rows, total, page, pages)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and len(text) < 10 else 1


# --- the page ----------------------------------------------------------------------------------------------


class CasebookPage(SecurePage):
    roles = frozenset({RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.ADMIN})
    title = "Casebook"
    endpoint_name = "casebook"
    order = 15

    @expose("/")
    def index(self) -> str:
        session = db.session()
        sites = list(session.execute(sa.select(Site.code, Site.name).order_by(Site.code)).tuples().all())
        site = request.args.get("site") or None
        if site is not None and site not in {code for code, _ in sites}:
            flash("There is no such site; showing every site.", "warning")
            site = None
        listing = list_subjects(session, site, _page_number(request.args.get("page")))
        return self.render("jk500/casebook_index.html", listing=listing, sites=sites, site=site)

    @expose("/<subject_number>")
    def subject(self, subject_number: str) -> str:
        session = db.session()
        found = find_subject(session, subject_number)
        if found is None:
            abort(404)
        printing = request.args.get("print") == "1"
        casebook = Builder(load(session, *found, full_history=printing)).casebook()
        return self.render(
            "jk500/casebook.html",
            casebook=casebook,
            printing=printing,
            print_url=url_for(".subject", subject_number=casebook.subject_number, print=1),
            screen_url=url_for(".subject", subject_number=casebook.subject_number),
            words=words,
        )


PAGE = CasebookPage
