"""The data dictionary of the tidy export, generated from the models so it cannot drift from the data.

One entry per exported variable: its label (the column's ``#:`` comment, the same text the form shows as help),
type, unit, allowed values (the vocabulary), whether it is collected, derived by the system or added by the
export, and for a derived value the column that names the rule and version that computed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

import sqlalchemy as sa

from jk500db.export.context import is_identifying
from jk500db.export.snapshot import audited_columns
from jk500db.models import Base, ClinicalRecord
from jk500db.models.base import derived_columns
from jk500db.models.docs import column_docs, unit_of
from jk500db.models.types import ExactDecimal, UTCDateTime, Vocabulary

#: Bookkeeping the tidy tables leave out: the keys replace the ids, and removed records are not exported.
LEFT_OUT = frozenset({"id", "subject_id", "visit_id", "removed_at", "removed_reason", "site_id"})
#: Columns a table leaves out because a key already says the same.
LEFT_OUT_BY_TABLE: dict[str, frozenset[str]] = {"visit": frozenset({"visit_code", "sequence", "visit_definition_id"})}

KEYS: tuple[tuple[str, str, str], ...] = (
    ("usubjid", "Unique subject identifier (STUDYID-SITEID-SUBJID)", "text"),
    ("subject", "Subject number within the study (SS-NNN)", "text"),
    ("site", "Site code", "text"),
    ("visit", "Visit code of the visit the record is filed under", "text"),
    ("visit_sequence", "Occurrence of that visit (1 unless repeated)", "integer"),
    ("record", "Number of the record; never changes, never reused; other tables refer to it", "integer"),
)


@dataclass(frozen=True)
class DictionaryEntry:
    table: str
    variable: str
    label: str
    data_type: str
    unit: str | None = None
    allowed_values: tuple[str, ...] = ()
    origin: str = "collected"  # collected | derived | key | export
    rule: str | None = None
    note: str | None = None


def tidy_tables() -> list[str]:
    """The case-report-form tables, subjects first, then parents before children (the metadata's order)."""
    clinical = {
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, ClinicalRecord) and isinstance(mapper.local_table, sa.Table)
    }
    return ["subject", *(t.name for t in Base.metadata.sorted_tables if t.name in clinical and t.name != "subject")]


def key_columns() -> list[str]:
    return [name for name, _label, _type in KEYS]


def _model(table: str) -> Any:
    sql_table = Base.metadata.tables[table]
    return next(m.class_ for m in Base.registry.mappers if m.local_table is sql_table)


def links_to(table: str, column: str) -> str | None:
    """The table ``column`` of ``table`` refers to, if it is a link."""
    foreign = list(Base.metadata.tables[table].c[column].foreign_keys)
    return foreign[0].column.table.name if foreign else None


class Source(StrEnum):
    """Where an exported variable's value comes from."""

    VALUE = "value"  # the column itself
    TERM = "term"  # the CTCAE term a ctcae_term_id names
    MEDDRA = "meddra"  # that term's MedDRA code
    STAFF = "staff"  # the printed name of the user a *_id names
    LINK = "link"  # the record number a *_id names
    AGE = "age"  # age at first consent, computed by the export


@dataclass(frozen=True)
class ExportColumn:
    name: str
    column: str  # the table column it is read from
    source: Source


def export_columns(table: str, *, identified: bool) -> list[ExportColumn]:
    """The exported variables of ``table`` after the keys, in the model's order."""
    left_out = LEFT_OUT | LEFT_OUT_BY_TABLE.get(table, frozenset())
    result: list[ExportColumn] = []
    for name in audited_columns(table):
        if name in left_out or (not identified and is_identifying(table, name)):
            continue
        link = links_to(table, name)
        if name == "ctcae_term_id":
            result += [ExportColumn("ctcae_term", name, Source.TERM), ExportColumn("meddra_code", name, Source.MEDDRA)]
        elif link == "user_account":
            result.append(ExportColumn(name.removesuffix("_id"), name, Source.STAFF))
        elif link is not None:
            result.append(ExportColumn(name.removesuffix("_id"), name, Source.LINK))
        else:
            result.append(ExportColumn(name, name, Source.VALUE))
        if table == "subject" and name == "sex":
            result.append(ExportColumn("age_at_consent", "birth_date", Source.AGE))
    return result


def table_columns(table: str, *, identified: bool) -> list[str]:
    return [column.name for column in export_columns(table, identified=identified)]


def _data_type(column: sa.Column[Any]) -> str:
    column_type = column.type
    if isinstance(column_type, Vocabulary):
        return "code"
    if isinstance(column_type, (ExactDecimal, sa.Numeric)):
        return "decimal"
    if isinstance(column_type, UTCDateTime):
        return "datetime (UTC, ISO 8601)"
    if isinstance(column_type, sa.Boolean):
        return "boolean (true/false)"
    if isinstance(column_type, sa.Date):
        return "date (ISO 8601)"
    if isinstance(column_type, sa.Integer):
        return "integer"
    return "text"


def _rule_column(table: str, name: str) -> str | None:
    """The ``*_rule`` column that names the rule of derived column ``name``: the one sharing most of its name."""
    rules = [c for c in audited_columns(table) if c.endswith("_rule")]
    if not rules:
        return None

    def shared(rule: str) -> int:
        stem = rule.removesuffix("_rule")
        return next((i for i, (a, b) in enumerate(zip(stem, name, strict=False)) if a != b), min(len(stem), len(name)))

    return max(rules, key=lambda rule: (shared(rule), rule))


def _entries(table: str, *, identified: bool) -> list[DictionaryEntry]:
    sql_table = Base.metadata.tables[table]
    docs = column_docs(_model(table))
    derived = derived_columns(sql_table)
    entries: list[DictionaryEntry] = []
    for exported in export_columns(table, identified=identified):
        name, column_name, source = exported.name, exported.column, exported.source
        if source is Source.AGE:
            entries.append(
                DictionaryEntry(
                    table, name, "Age in completed years on the date of the first consent", "integer",
                    unit="years", origin="export", rule="jk500db.clinical.schedule.age_in_years",
                    note="given instead of the birth date, which de-identified exports leave out",
                )
            )  # fmt: skip
            continue
        if source in (Source.TERM, Source.MEDDRA):
            label = "CTCAE v5.0 term" if source is Source.TERM else "MedDRA code of the CTCAE term"
            entries.append(DictionaryEntry(table, name, label, "text", origin="collected"))
            continue
        column = sql_table.c[column_name]
        label = docs.get(column_name, "")
        if source is Source.STAFF:
            data_type, note = "text", "printed name of the staff member"
        elif source is Source.LINK:
            data_type, note = "integer", f"the record number in {links_to(table, column_name)}"
        else:
            data_type, note = _data_type(column), None
        is_derived = column_name in derived
        allowed = tuple(column.type.values) if isinstance(column.type, Vocabulary) else ()
        entries.append(
            DictionaryEntry(
                table,
                name,
                label.removeprefix("derived: "),
                data_type,
                unit=unit_of(name),
                allowed_values=allowed,
                origin="derived" if is_derived else "collected",
                rule=f"see column {_rule_column(table, name)}" if is_derived and _rule_column(table, name) else None,
                note=note,
            )
        )
    return entries


@cache
def data_dictionary(*, identified: bool) -> tuple[DictionaryEntry, ...]:
    """Every variable of every tidy table, keys first."""
    entries: list[DictionaryEntry] = []
    for table in tidy_tables():
        entries += [DictionaryEntry(table, name, label, kind, origin="key") for name, label, kind in KEYS]
        entries += _entries(table, identified=identified)
    return tuple(entries)

