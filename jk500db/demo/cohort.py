"""Load the SYNTHETIC demo cohort (seed_data/demo_cohort.toml) through the ORM.

The file holds only what site staff would collect. Derived columns (grades, ELN category, BSA, planned dose,
study days, window status, DLT candidacy, report due dates, eligibility criteria rows, ...) stay NULL: the
derivation services compute them from these inputs, exactly as they would for entered data.

How the file maps onto the models (one generic rule per construct, not one function per table):

- ``[[subjects]]``: Subject columns, plus ``site`` (the site code) and ``summary`` (a note for the reader that
  must start with "SYNTHETIC"; not stored). Every other key of a subject is a section.
- A section in ``SECTIONS`` is an array of tables (or one table for one-per-subject records) whose keys are
  the model's own column names. Nested sections (markers of a disease history, virology of a screening,
  vasopressors of a CRS assessment) are loaded with the parent's key filled in.
- Rows never carry database ids. They point at other records by reference keys (``REFERENCES``):
  ``visit`` (a key of the subject's ``visits``), ``infusion`` (infusion number), ``ae`` (AE number) and
  ``term`` (a CTCAE v5.0 term, exactly as NCI spells it).
- Partial dates (diagnosis, CR, relapse, therapy lines) take "YYYY", "YYYY-MM" or a full date.
- Exact numbers are written as strings ("23.5"); a TOML float is refused because it is binary.
- ``visits``: visit key -> date (a completed visit) or a table of Visit columns. Keys are the schedule's
  visit codes; ``UNS1``, ``UNS2``, ... are unscheduled visits.
- ``labs``: visit key -> one panel: ``collected_at`` and ``TESTCODE = "value as printed"``. The unit,
  specimen and LLN/ULN come from ``[lab_reference]`` for the child's age at collection: the demo lab's
  printed ranges, stored with every result because paediatric limits depend on age.
- ``defaults``: section name -> values used for every row of that section unless the row gives its own.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapper, Session

from jk500db.clinical.schedule import age_in_years
from jk500db.errors import ValidationError
from jk500db.models import (
    AdverseEvent,
    Base,
    ConcomitantMedication,
    Consent,
    CrsAssessment,
    CrsVasopressor,
    CtcaeTerm,
    Death,
    DiseaseHistory,
    DrugAdministration,
    EndOfStudy,
    IcansAssessment,
    Infusion,
    LabResult,
    MolecularMarker,
    PartialDate,
    PriorTherapy,
    Procedure,
    ProtocolDeviation,
    ResponseAssessment,
    Screening,
    Site,
    Study,
    Subject,
    SurvivalFollowUp,
    Transplant,
    VirologyResult,
    Visit,
    VitalSigns,
)
from jk500db.models.types import ExactDecimal, UTCDateTime, Vocabulary
from jk500db.models.vocabularies import LabTest, MissingReason, Specimen, VisitStatus
from jk500db.services.study_definition import SEED_DATA_DIR, active_definition

DEMO_COHORT_FILE = SEED_DATA_DIR / "demo_cohort.toml"
CTCAE_VERSION = "5.0"
SYNTHETIC_MARK = "SYNTHETIC"


@dataclass(frozen=True)
class Section:
    """How one section of a subject maps onto a model."""

    model: type[Base]
    #: one table per subject (disease history, screening, end of study, death) rather than an array.
    single: bool = False
    #: nested sections, loaded after this one with ``parent_key`` pointing at their parent row.
    children: Mapping[str, Section] = field(default_factory=dict)
    #: the child's foreign-key column naming its parent row.
    parent_key: str | None = None
    #: a child written as a bare string fills this column (``vasopressors = ["norepinephrine"]``).
    scalar_column: str | None = None
    #: (reference name, column): rows of this section can be referred to by that column's value.
    registers: tuple[str, str] | None = None


#: Subject sections in load order: a section may refer only to records loaded before it.
SECTIONS: dict[str, Section] = {
    "consents": Section(Consent),
    "disease_history": Section(
        DiseaseHistory, single=True, children={"markers": Section(MolecularMarker, parent_key="history_id")}
    ),
    "prior_therapies": Section(PriorTherapy),
    "screening": Section(
        Screening, single=True, children={"virology": Section(VirologyResult, parent_key="screening_id")}
    ),
    "administrations": Section(DrugAdministration),
    "infusions": Section(Infusion, registers=("infusion", "infusion_number")),
    "vitals": Section(VitalSigns),
    "adverse_events": Section(AdverseEvent, registers=("ae", "ae_number")),
    "crs_assessments": Section(
        CrsAssessment,
        children={"vasopressors": Section(CrsVasopressor, parent_key="assessment_id", scalar_column="drug")},
    ),
    "icans_assessments": Section(IcansAssessment),
    "conmeds": Section(ConcomitantMedication),
    "procedures": Section(Procedure),
    "responses": Section(ResponseAssessment),
    "transplants": Section(Transplant),
    "survival": Section(SurvivalFollowUp),
    "deviations": Section(ProtocolDeviation),
    "end_of_study": Section(EndOfStudy, single=True),
    "death": Section(Death, single=True),
}

#: Reference key in the file -> (foreign-key column it fills, reference name it is looked up under).
REFERENCES: dict[str, tuple[str, str]] = {
    "visit": ("visit_id", "visit"),
    "infusion": ("infusion_id", "infusion"),
    "ae": ("adverse_event_id", "ae"),
    "term": ("ctcae_term_id", "term"),
}

#: Subject keys that are not Subject columns and not SECTIONS.
SUBJECT_EXTRAS = ("summary", "site", "visits", "labs", "defaults")
#: Unscheduled visit keys: UNS1, UNS2, ... (visit code "UNS", sequence 1, 2, ...).
UNSCHEDULED_KEY = re.compile(r"UNS([1-9][0-9]*)")
#: Panel keys that are not test codes: the collection time, clinical flags and tests not done.
LAB_FLAGS = ("transfusion_indicated", "symptomatic", "intervention_indicated")
LAB_PANEL_KEYS = ("collected_at", "not_done", *LAB_FLAGS)


# --- lab reference ranges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceRange:
    """LLN/ULN for children aged min_age..max_age completed years (inclusive)."""

    min_age: int
    max_age: int
    lln: Decimal | None
    uln: Decimal | None


@dataclass(frozen=True)
class LabReference:
    """What the demo lab prints with a test: unit, specimen and age-banded reference limits."""

    test: LabTest
    unit: str
    specimen: Specimen
    ranges: tuple[ReferenceRange, ...]

    def limits(self, age: int) -> tuple[Decimal | None, Decimal | None]:
        for band in self.ranges:
            if band.min_age <= age <= band.max_age:
                return band.lln, band.uln
        raise ValidationError(f"lab_reference.{self.test.value}", f"has no reference range for age {age}")


def read_lab_reference(table: Mapping[str, Any]) -> dict[LabTest, LabReference]:
    """Parse ``[lab_reference]``: test code -> unit, specimen and ``ranges = [{ages, lln, uln}]``."""
    references = {}
    for code, spec in table.items():
        where = f"lab_reference.{code}"
        test = _vocabulary(LabTest, code, where)
        ranges = tuple(
            ReferenceRange(
                min_age=band["ages"][0],
                max_age=band["ages"][1],
                lln=_decimal(band.get("lln"), f"{where}.lln"),
                uln=_decimal(band.get("uln"), f"{where}.uln"),
            )
            for band in spec["ranges"]
        )
        references[test] = LabReference(test, spec["unit"], _vocabulary(Specimen, spec["specimen"], where), ranges)
    return references


def load_lab_reference(path: Path | None = None) -> dict[LabTest, LabReference]:
    """The demo lab's reference ranges (the generator uses the same ones as the cohort)."""
    with (path or DEMO_COHORT_FILE).open("rb") as handle:
        return read_lab_reference(tomllib.load(handle)["lab_reference"])


# --- values -----------------------------------------------------------------------------------------------


def _vocabulary(enum_class: Any, value: Any, where: str) -> Any:
    try:
        return enum_class(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_class)
        raise ValidationError(where, f"{value!r} is not one of: {allowed}") from None


def _decimal(value: Any, where: str) -> Decimal | None:
    """An exact number from a string or integer; TOML floats are refused (binary, not as printed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValidationError(where, f'write the number as a string, e.g. "23.5" (got {value!r})')
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationError(where, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValidationError(where, f"{value!r} is not a finite number")
    return number


def _timestamp(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValidationError(where, f"needs a timestamp with its UTC offset, e.g. 2024-03-11T02:10:00Z, not {value!r}")
    return value.astimezone(dt.UTC)


def _partial_date(value: Any, where: str) -> PartialDate:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return PartialDate.from_date(value)
    if isinstance(value, str):
        try:
            return PartialDate.parse(value)
        except ValueError as exc:
            raise ValidationError(where, str(exc)) from None
    raise ValidationError(where, f'needs "YYYY", "YYYY-MM" or a date (got {value!r})')


def _column_value(column: sa.ColumnElement[Any], value: Any, where: str) -> Any:
    """Check and convert one value from the file for ``column`` by its type."""
    kind = column.type
    if isinstance(kind, Vocabulary):
        return _vocabulary(kind.enum_class, value, where)
    if isinstance(kind, ExactDecimal):
        return _decimal(value, where)
    if isinstance(kind, UTCDateTime):
        return _timestamp(value, where)
    expected = kind.python_type
    if expected is dt.date:
        ok = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ValidationError(where, f"expected {expected.__name__}, got {value!r}")
    return value


# --- references -------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """One subject being loaded and the records its rows may refer to."""

    subject: Subject
    references: dict[str, dict[Any, int]]

    def resolve(self, name: str, key: Any, where: str) -> int:
        found = self.references.setdefault(name, {}).get(key)
        if found is None:
            hint = " (load the CTCAE terms first; spell the term as NCI does)" if name == "term" else ""
            raise ValidationError(where, f"refers to {name} {key!r}, which is not loaded{hint}")
        return found

    def register(self, name: str, key: Any, record_id: int) -> None:
        self.references.setdefault(name, {})[key] = record_id


def _row_values(model: type[Base], row: Mapping[str, Any], context: _Context | None, where: str) -> dict[str, Any]:
    """Model keyword arguments from one row of the file: columns, references and partial dates."""
    mapper: Mapper[Any] = sa.inspect(model)
    values: dict[str, Any] = {}
    for key, raw in row.items():
        here = f"{where}.{key}"
        if key in REFERENCES and context is not None:
            foreign_key, name = REFERENCES[key]
            values[foreign_key] = context.resolve(name, raw, here)
        elif key in mapper.composites:
            values[key] = _partial_date(raw, here)
        elif key in mapper.columns:
            column = mapper.columns[key]
            if column.primary_key or column.foreign_keys:
                # ids differ between databases: the file names records, the loader finds their ids.
                raise ValidationError(here, f"is a database id; use one of the reference keys {', '.join(REFERENCES)}")
            values[key] = _column_value(column, raw, here)
        else:
            raise ValidationError(here, f"is not a field of {model.__tablename__}")
    return values


# --- sections ---------------------------------------------------------------------------------------------


def _rows_of(section: Section, content: Any, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The section's rows with their place in the file, whatever shape the file gives them."""
    if section.single:
        if not isinstance(content, Mapping):
            raise ValidationError(where, "must be a single table")
        return [(where, content)]
    if not isinstance(content, list):
        raise ValidationError(where, "must be an array of tables")
    rows: list[tuple[str, Mapping[str, Any]]] = []
    for index, item in enumerate(content):
        row = {section.scalar_column: item} if isinstance(item, str) and section.scalar_column else item
        if not isinstance(row, Mapping):
            raise ValidationError(f"{where}[{index}]", "must be a table")
        rows.append((f"{where}[{index}]", row))
    return rows


def _id_of(record: Base) -> int:
    """The primary key the last flush gave ``record`` (every model here has one integer key)."""
    identity = sa.inspect(record).identity
    if identity is None:
        raise RuntimeError(f"{record!r} has no id yet: flush it first")
    return int(identity[0])


def _load_section(
    session: Session,
    context: _Context,
    section: Section,
    content: Any,
    where: str,
    defaults: Mapping[str, Any] | None = None,
    parent: Base | None = None,
) -> None:
    loaded: list[tuple[Base, Mapping[str, Any], str]] = []
    for here, row in _rows_of(section, content, where):
        merged = {**(defaults or {}), **row}
        own = {key: value for key, value in merged.items() if key not in section.children}
        values = _row_values(section.model, own, context, here)
        values["subject_id"] = context.subject.id
        if parent is not None and section.parent_key is not None:
            values[section.parent_key] = _id_of(parent)
        record = section.model(**values)
        session.add(record)
        loaded.append((record, merged, here))
    session.flush()  # ids for the records that later rows and children refer to
    for record, given, here in loaded:
        if section.registers is not None:
            name, column = section.registers
            context.register(name, getattr(record, column), _id_of(record))
        for child_name, child in section.children.items():
            if child_name in given:
                _load_section(session, context, child, given[child_name], f"{here}.{child_name}", parent=record)


def _load_visits(
    session: Session, context: _Context, visits: Mapping[str, Any], schedule: Mapping[str, int], where: str
) -> None:
    records: dict[str, Visit] = {}
    for key, spec in visits.items():
        here = f"{where}.{key}"
        row: dict[str, Any] = {"visit_date": spec} if isinstance(spec, dt.date) else dict(spec)
        values = _row_values(Visit, row, context, here)
        values.setdefault("status", VisitStatus.COMPLETED if values.get("visit_date") else VisitStatus.SCHEDULED)
        unscheduled = UNSCHEDULED_KEY.fullmatch(key)
        if unscheduled:
            values.update(visit_code="UNS", sequence=int(unscheduled.group(1)), unscheduled=True)
        elif key in schedule:
            values.update(visit_code=key, sequence=1, visit_definition_id=schedule[key])
        else:
            known = ", ".join(schedule)
            raise ValidationError(here, f"is neither a visit of the schedule ({known}) nor UNS1, UNS2, ...")
        records[key] = Visit(subject_id=context.subject.id, **values)
        session.add(records[key])
    session.flush()
    for key, visit in records.items():
        context.register("visit", key, visit.id)


def _load_labs(
    session: Session,
    context: _Context,
    panels: Mapping[str, Mapping[str, Any]],
    reference: Mapping[LabTest, LabReference],
    where: str,
) -> None:
    """Expand each visit's panel into long-form results, each with the lab's range for the child's age."""
    for visit_key, panel in panels.items():
        here = f"{where}.{visit_key}"
        visit_id = context.resolve("visit", visit_key, here)
        collected_at = _timestamp(panel.get("collected_at"), f"{here}.collected_at")
        age = age_in_years(context.subject.birth_date, collected_at.date())
        flagged = {flag: set(panel.get(flag, ())) for flag in LAB_FLAGS}
        results = {code: text for code, text in panel.items() if code not in LAB_PANEL_KEYS}
        for code in panel.get("not_done", ()):
            results[code] = None
        for code, text in results.items():
            test = _vocabulary(LabTest, code, f"{here}.{code}")
            if test not in reference:
                raise ValidationError(f"{here}.{code}", "has no entry in [lab_reference]")
            spec = reference[test]
            lln, uln = spec.limits(age)
            value = _decimal(text, f"{here}.{code}")
            session.add(
                LabResult(
                    subject_id=context.subject.id,
                    visit_id=visit_id,
                    test_code=test,
                    specimen=spec.specimen,
                    collected_at=collected_at,
                    value_text=text,
                    value=value,
                    value_missing_reason=MissingReason.NOT_DONE if value is None else None,
                    unit=spec.unit,
                    lln=lln,
                    uln=uln,
                    **{flag: code in flagged[flag] for flag in LAB_FLAGS},
                )
            )
    session.flush()


# --- subjects ---------------------------------------------------------------------------------------------


def _check_synthetic(spec: Mapping[str, Any], where: str) -> None:
    """Demo data must say, in the record itself, that it is not a real child."""
    if spec.get("synthetic") is not True:
        raise ValidationError(f"{where}.synthetic", "every demo subject must be marked synthetic = true")
    summary = spec.get("summary")
    if not isinstance(summary, str) or not summary.startswith(SYNTHETIC_MARK):
        raise ValidationError(f"{where}.summary", f"must start with {SYNTHETIC_MARK!r}")


def _create_subject(session: Session, spec: Mapping[str, Any], sites: Mapping[str, int], where: str) -> Subject:
    own = {key: value for key, value in spec.items() if key not in SECTIONS and key not in SUBJECT_EXTRAS}
    values = _row_values(Subject, own, None, where)
    site_code = spec.get("site")
    if not isinstance(site_code, str) or site_code not in sites:
        raise ValidationError(f"{where}.site", f"site {site_code!r} is not a site of the study")
    subject = Subject(site_id=sites[site_code], **values)
    session.add(subject)
    session.flush()
    return subject


def _load_subject(
    session: Session,
    spec: Mapping[str, Any],
    *,
    sites: Mapping[str, int],
    schedule: Mapping[str, int],
    terms: Mapping[str, int],
    lab_reference: Mapping[LabTest, LabReference],
    where: str,
) -> None:
    _check_synthetic(spec, where)
    subject = _create_subject(session, spec, sites, where)
    context = _Context(subject, {"term": dict(terms)})
    _load_visits(session, context, spec.get("visits", {}), schedule, f"{where}.visits")
    _load_labs(session, context, spec.get("labs", {}), lab_reference, f"{where}.labs")
    defaults = spec.get("defaults", {})
    for name, section in SECTIONS.items():
        if name in spec:
            _load_section(session, context, section, spec[name], f"{where}.{name}", defaults.get(name))


def _lookups(session: Session, study_code: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Sites, schedule visits and CTCAE terms by the names the file uses."""
    study = session.scalar(sa.select(Study).where(Study.code == study_code))
    definition = active_definition(session, study_code)
    if study is None or definition is None:
        raise ValidationError("study", f"study {study_code!r} has no study definition loaded; load it first")
    sites = dict(session.execute(sa.select(Site.code, Site.id).where(Site.study_id == study.id)).tuples().all())
    schedule = {visit.code: visit.id for visit in definition.visits}
    by_term = sa.select(CtcaeTerm.term, CtcaeTerm.id).where(CtcaeTerm.ctcae_version == CTCAE_VERSION)
    terms = dict(session.execute(by_term).tuples().all())
    return sites, schedule, terms


def _already_loaded(session: Session, numbers: Sequence[str]) -> bool:
    """True when the cohort is in the database; refuses to mix it with real subjects of the same numbers."""
    existing = session.execute(
        sa.select(Subject.subject_number, Subject.synthetic).where(Subject.subject_number.in_(numbers))
    ).all()
    real = sorted(number for number, synthetic in existing if not synthetic)
    if real:
        raise ValidationError(
            "subject_number",
            f"real (non-synthetic) subjects {', '.join(real)} exist; "
            "the demo cohort is only for demonstration databases",
        )
    if existing and len(existing) != len(numbers):
        raise ValidationError(
            "subjects",
            f"only {len(existing)} of the {len(numbers)} demo subjects are present; "
            "the demo database is incomplete: recreate it",
        )
    return bool(existing)


def load_demo_cohort(session: Session, path: Path | None = None) -> int:
    """Load the synthetic cohort; return the number of subjects added (0 when already loaded). Flushes only."""
    source = path or DEMO_COHORT_FILE
    with source.open("rb") as handle:
        data = tomllib.load(handle)
    if data.get("synthetic") is not True:
        raise ValidationError(source.name, "the demo cohort file must declare synthetic = true")
    subjects = data["subjects"]
    if _already_loaded(session, [spec["subject_number"] for spec in subjects]):
        return 0
    sites, schedule, terms = _lookups(session, data["study"])
    lab_reference = read_lab_reference(data["lab_reference"])
    for index, spec in enumerate(subjects):
        where = f"subjects[{index}] ({spec.get('subject_number', '?')})"
        _load_subject(
            session, spec, sites=sites, schedule=schedule, terms=terms, lab_reference=lab_reference, where=where
        )
    return len(subjects)
