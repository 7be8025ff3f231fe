"""A case-report form built from its model: one input per entered column, in the model's order.

Labels are the column names in words with the unit, help text is the column's ``#:`` comment
(``jk500db.models.docs``), choices come from the vocabularies, the CTCAE term list and the subject's own
records, loaded for each request. Derived columns are never inputs: the system computes them
(``jk500db.derivations``) and the record page shows them with their reasons.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from wtforms import BooleanField, DateField, Field, HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from admin.crf.catalogue import Crf
from admin.crf.fields import ChoiceField, DecimalText, PartialDateField, UtcDateTimeField, YesNoField
from admin.pages.base import words
from jk500db.models import (
    AdverseEvent,
    CrsAssessment,
    CtcaeTerm,
    DiseaseHistory,
    Infusion,
    Screening,
    Site,
    Subject,
    Visit,
    VisitDefinition,
)
from jk500db.models.base import derived_columns
from jk500db.models.docs import UNITS, column_doc, unit_of
from jk500db.models.types import ExactDecimal, PartialDate, UTCDateTime, Vocabulary
from jk500db.services.study_definition import active_definition

#: Columns no form shows: keys and bookkeeping.
INTERNAL = frozenset({"id", "version", "removed_at", "removed_reason"})
#: The reason for change and the version the person saw, added to the edit form.
REASON_FIELD = "reason_for_change"
VERSION_FIELD = "seen_version"
#: The newest audit event of the record when the form was opened: a stale save lists what changed after it.
SEEN_EVENT_FIELD = "seen_event"

#: Words for column names whose plain reading is poor.
LABELS: dict[str, str] = {
    "ctcae_term_id": "CTCAE term",
    "subject_id": "Subject",
    "visit_id": "Visit",
    "site_id": "Site",
    "infusion_id": "Infusion",
    "adverse_event_id": "Adverse event",
    "screening_id": "Screening",
    "history_id": "Disease history",
    "assessment_id": "CRS assessment",
    "visit_definition_id": "Scheduled visit",
    "spo2_pct": "SpO2",
    "ice_score": "ICE score",
    "bm_blast_pct": "Bone marrow blasts",
    "mrd_pct": "MRD",
    "anc": "ANC",
    "plt": "Platelets",
    "lln": "LLN",
    "uln": "ULN",
}


#: Words a column name spells in lower case that are read in capitals.
ACRONYMS: dict[str, str] = {
    word.lower(): word
    for word in (
        "JK500",
        "CRS",
        "ICANS",
        "CTCAE",
        "ASTCT",
        "ELN",
        "MRD",
        "BSA",
        "DLT",
        "SUSAR",
        "HSCT",
        "CNS",
        "ICP",
        "ICE",
        "CAPD",
        "ANC",
        "VAF",
        "SAE",
        "AE",
        "IL-2",
        "WHO",
        "UTC",
    )
} | {"il2": "IL-2", "who2016": "WHO 2016", "spo2": "SpO2", "bm": "Bone marrow", "ae": "AE", "sdv": "SDV"}


def label_of(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    name = name.removesuffix("_id")  # a link to another record reads as that record: "DLT decided by"
    base = name
    for ending, _unit in UNITS:
        if name.endswith(ending):
            base = name[: -len(ending)]
            break
    return " ".join(ACRONYMS.get(word.lower(), word) for word in words(base).split(" "))


@dataclass(frozen=True)
class Entry:
    """One input of the form: a column, or the three columns of a partial date."""

    model: type[Any]
    name: str
    columns: tuple[str, ...]
    column: sa.Column[Any]

    @property
    def is_partial_date(self) -> bool:
        return len(self.columns) == 3


def _partial_dates(model: type[Any]) -> dict[str, tuple[str, tuple[str, ...]]]:
    """{year column: (composite name, its three columns)} for the model's partial dates."""
    found = {}
    for composite in sa.inspect(model).composites:
        if composite.composite_class is PartialDate:
            columns = tuple(a if isinstance(a, str) else a.key for a in composite.attrs)
            found[columns[0]] = (composite.key, columns)
    return found


def _user_key(column: sa.Column[Any]) -> bool:
    return any(fk.column.table.name == "user_account" for fk in column.foreign_keys)


def entries(crf: Crf) -> list[Entry]:
    """The inputs of the form, in the model's column order."""
    table: sa.Table = crf.model.__table__  # type: ignore[attr-defined]
    skipped = INTERNAL | derived_columns(table) | set(crf.not_typed)
    partial = _partial_dates(crf.model)
    in_partial = {c for _name, columns in partial.values() for c in columns}
    found = []
    for column in table.columns:
        if column.name in skipped or _user_key(column):
            continue
        if column.name in partial:
            name, columns = partial[column.name]
            found.append(Entry(crf.model, name, columns, column))
        elif column.name not in in_partial:
            found.append(Entry(crf.model, column.name, (column.name,), column))
    return found


# --- choices ------------------------------------------------------------------------------------------------


def _visit_label(visit: Visit) -> str:
    sequence = f" #{visit.sequence}" if visit.sequence > 1 else ""
    when = f" ({visit.visit_date.isoformat()})" if visit.visit_date else ""
    return f"{visit.visit_code}{sequence}{when}"


def _subject_records(session: Session, model: type[Any], subject_id: int | None) -> sa.Select[Any]:
    query = sa.select(model).where(model.removed_at.is_(None))
    return query.where(model.subject_id == subject_id) if subject_id is not None else query.where(sa.false())


def choices_for(session: Session, table_name: str, subject_id: int | None) -> list[tuple[Any, str]]:
    """The records a foreign key may point at: the subject's own, or the reference lists."""
    if table_name == "subject":
        rows = session.execute(sa.select(Subject.id, Subject.subject_number).order_by(Subject.subject_number))
        return [(row.id, row.subject_number) for row in rows]
    if table_name == "site":
        return [(s.id, f"{s.code} {s.name}") for s in session.scalars(sa.select(Site).order_by(Site.code))]
    if table_name == "ctcae_term":
        rows = session.execute(sa.select(CtcaeTerm.id, CtcaeTerm.term, CtcaeTerm.soc).order_by(CtcaeTerm.term))
        return [(row.id, f"{row.term} ({row.soc})") for row in rows]
    if table_name == "visit_definition":
        active = active_definition(session)  # the schedule in force (choices from the study definition)
        definitions = session.scalars(
            sa.select(VisitDefinition)
            .where(VisitDefinition.definition_id == (active.id if active else None))
            .order_by(VisitDefinition.order)
        )
        return [(d.id, f"{d.code}: {d.label}") for d in definitions]
    if table_name == "visit":
        visits = session.scalars(
            _subject_records(session, Visit, subject_id).order_by(
                Visit.visit_date.is_(None), Visit.visit_date, Visit.id
            )
        )
        return [(v.id, _visit_label(v)) for v in visits]
    if table_name == "adverse_event":
        events = session.scalars(
            _subject_records(session, AdverseEvent, subject_id)
            .join(CtcaeTerm, CtcaeTerm.id == AdverseEvent.ctcae_term_id)
            .order_by(AdverseEvent.ae_number)
        )
        return [(e.id, f"AE {e.ae_number}: {e.term.term} from {e.onset_date.isoformat()}") for e in events]
    if table_name == "infusion":
        infusions = session.scalars(_subject_records(session, Infusion, subject_id).order_by(Infusion.infusion_number))
        return [(i.id, f"Infusion {i.infusion_number} ({i.started_at:%Y-%m-%d})") for i in infusions]
    if table_name == "crs_assessment":
        assessments = session.scalars(
            _subject_records(session, CrsAssessment, subject_id).order_by(CrsAssessment.assessed_at)
        )
        return [(a.id, f"CRS assessment {a.assessed_at:%Y-%m-%d %H:%M} UTC") for a in assessments]
    if table_name == "screening":
        screenings = session.scalars(_subject_records(session, Screening, subject_id))
        return [(s.id, f"Screening of {s.screening_date.isoformat()}") for s in screenings]
    if table_name == "disease_history":
        return [
            (h.id, "Disease history") for h in session.scalars(_subject_records(session, DiseaseHistory, subject_id))
        ]
    raise LookupError(f"no choices for {table_name}")  # a new foreign key needs its choices here


# --- the form -----------------------------------------------------------------------------------------------


class CrfForm(FlaskForm):
    """Base of every case-report form (Flask-WTF: the CSRF token is one of its fields)."""

    class Meta:
        locales = False


def _help(entry: Entry) -> Markup:
    if entry.is_partial_date:
        text = "Year, year-month or the full date (YYYY, YYYY-MM or YYYY-MM-DD): leave out what is not known."
    else:
        text = column_doc(entry.model, entry.name)
    return escape(text[:1].upper() + text[1:])  # Flask-Admin prints help text unescaped: escape it here


def _field(entry: Entry, session: Session, subject_id: int | None) -> Field:
    column = entry.column
    required = not column.nullable and column.default is None and column.server_default is None
    unit = unit_of(entry.name)
    label = (
        label_of(entry.name)
        + (f" ({unit})" if unit else "")
        + (" (UTC)" if isinstance(column.type, UTCDateTime) else "")
    )
    description = _help(entry)
    presence = [InputRequired(message="is required")] if required else [Optional()]
    if entry.is_partial_date:
        return PartialDateField(label, [Optional()], description=description)
    foreign = next(iter(column.foreign_keys), None)
    if foreign is not None:
        choices = choices_for(session, foreign.column.table.name, subject_id)
        blank = [] if required and len(choices) == 1 else [("", "—")]
        render = {"data-role": "select2"} if len(choices) > 30 else {}  # Flask-Admin's searchable select
        return ChoiceField(
            label, presence, number=True, choices=blank + choices, description=description, render_kw=render
        )
    kind = column.type
    if isinstance(kind, Vocabulary):
        options = [(member.value, words(member.value)) for member in kind.enum_class]
        return ChoiceField(label, presence, choices=[("", "—"), *options], description=description)
    if isinstance(kind, ExactDecimal):
        return DecimalText(label, presence, description=description, render_kw={"inputmode": "decimal"})
    if isinstance(kind, UTCDateTime):
        return UtcDateTimeField(label, presence, description=description)
    if isinstance(kind, sa.Boolean):
        if column.nullable:
            return YesNoField(label, [Optional()], description=description)
        return BooleanField(label, description=description)
    if isinstance(kind, sa.Date):
        return DateField(label, presence, description=description)
    if isinstance(kind, sa.Integer):
        return IntegerField(label, presence, description=description)
    if isinstance(kind, sa.Text):
        return TextAreaField(label, [Optional()] if not required else presence, description=description)
    if isinstance(kind, sa.String):
        limit = [Length(max=kind.length, message=f"must be at most {kind.length} characters")] if kind.length else []
        return StringField(label, presence + limit, description=description)
    raise TypeError(f"{column.table.name}.{column.name}: no form field for {type(kind).__name__}")


def form_class(crf: Crf, session: Session, *, subject_id: int | None, editing: bool) -> type[CrfForm]:
    """The form of ``crf`` for one request: choices limited to the subject's records."""
    attributes: dict[str, Any] = {}
    for entry in entries(crf):
        if editing and entry.name == "subject_id":
            continue  # a record never moves to another subject
        attributes[entry.name] = _field(entry, session, subject_id)
    if editing:
        attributes[VERSION_FIELD] = HiddenField()
        attributes[SEEN_EVENT_FIELD] = HiddenField()
        attributes[REASON_FIELD] = TextAreaField(
            "Reason for change",
            [InputRequired(message="a reason for change is required after first entry")],
            description="Why the recorded value is being changed (kept in the audit trail with the change).",
        )
    return type(f"{type(crf.model).__name__}Form", (CrfForm,), attributes)


def model_values(crf: Crf, form: CrfForm) -> Iterator[tuple[str, Any]]:
    """(column, value) for every input of ``form``, in the model's types."""
    for entry in entries(crf):
        if entry.name not in form:
            continue
        field = form[entry.name]
        if entry.is_partial_date:
            date = field.data or PartialDate(None)
            yield from zip(entry.columns, date.__composite_values__(), strict=True)
            continue
        value = field.value if isinstance(field, YesNoField) else field.data
        if isinstance(field, (StringField, TextAreaField)) and not isinstance(field, DecimalText):
            value = value.strip() if isinstance(value, str) and value.strip() else None
        if isinstance(entry.column.type, Vocabulary) and value is not None:
            value = entry.column.type.enum_class(str(value))
        yield entry.columns[0], value
