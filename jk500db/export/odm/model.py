"""What the ODM file says about each clinical table: its item group, its items, their types, units and code lists.

Everything here is read from the SQLAlchemy models, so the ODM metadata cannot drift from the database:

- one ItemGroupDef per clinical table (``ClinicalRecord`` subclasses), in the CRF (FormDef) its ``__form__`` names;
- one ItemDef per audited column, except the columns that place a record rather than describe it (its key, its
  subject, its visit, and the removal marker, which the file states as ``TransactionType="Remove"``), and except
  identifying columns in a de-identified export. The three integer columns of a partial date are one item of
  ODM type ``partialDate``;
- the question text is the column's ``#:`` comment (``jk500db.models.docs``);
- a column that points at another record is exported as something a reader of the file can follow: the repeat
  key of the linked record, the User OID of a staff member, the site code, the visit code or the MedDRA code of
  the CTCAE term, never a bare database id of a table the file does not carry.

Values are turned into ODM text here too (:meth:`ItemSpec.text`): decimals exactly as entered (``str`` of the
``Decimal``, never a float), dates and UTC times in ISO 8601, partial dates truncated (never imputed).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cache, cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import class_mapper

from jk500db.audit.triggers import audited_tables
from jk500db.export.context import is_identifying
from jk500db.export.snapshot import value_from_audit_text
from jk500db.models import Base, ClinicalRecord
from jk500db.models.base import derived_columns
from jk500db.models.docs import column_docs, unit_of
from jk500db.models.types import ExactDecimal, PartialDate, UTCDateTime, Vocabulary
from jk500db.models.vocabularies import FormCode

#: Columns that say where a record belongs or whether it still exists, not what it holds.
PLACEMENT_COLUMNS = frozenset({"id", "subject_id", "visit_id"})
REMOVAL_COLUMNS = frozenset({"removed_at", "removed_reason"})

#: Units the column comment states for columns whose name does not carry one.
NAMED_UNITS: dict[tuple[str, str], str] = {
    ("vital_signs", "heart_rate"): "beats/min",
    ("vital_signs", "respiratory_rate"): "breaths/min",
    ("vital_signs", "systolic_bp"): "mmHg",
    ("vital_signs", "diastolic_bp"): "mmHg",
    ("response_assessment", "anc"): "10^9/L",
    ("response_assessment", "plt"): "10^9/L",
    ("icans_assessment", "age_years"): "years",
}
#: Numbers whose unit is another column of the same row (as the lab reported it, or as the dose was given):
#: each value carries that row's unit as its own MeasurementUnitRef (ODM 1.3.2 §3.1.4.1.1.1.1.1).
ROW_UNITS: dict[tuple[str, str], str] = {
    ("lab_result", "value"): "unit",
    ("lab_result", "lln"): "unit",
    ("lab_result", "uln"): "unit",
    ("concomitant_medication", "dose"): "dose_unit",
    ("drug_administration", "actual_dose"): "dose_unit",
    ("drug_administration", "planned_dose"): "dose_unit",
}

#: Words a code spells in lower case that are read in capitals (for code list decodes).
_ACRONYMS: dict[str, str] = {
    word.lower(): word
    for word in (
        "IV", "SC", "PO", "IM", "HSCT", "CNS1", "CNS2", "CNS3", "JK500", "ICE", "CAPD", "CPAP", "BiPAP", "HIV",
        "HBsAg", "HBeAg", "HCV", "TP", "NGS", "qPCR", "DLT", "AE", "UI", "CLI", "ICP", "IU", "WU", "CR", "CRh",
        "CRi", "MLFS", "PR", "NR", "NE",
    )
} | {"il2": "IL-2", "ab": "antibody"}  # fmt: skip


class Link(StrEnum):
    """How a column that points at another row is exported."""

    RECORD = "record"  # another clinical record: its ItemGroupRepeatKey
    USER = "user"  # a staff member: the User OID in AdminData
    SITE = "site"  # the site code (SDTM SITEID)
    VISIT_DEFINITION = "visit_definition"  # the visit's code in the schedule
    CTCAE = "ctcae"  # the MedDRA code of the CTCAE v5.0 term


_LINK_TARGETS: dict[str, Link] = {
    "user_account": Link.USER,
    "site": Link.SITE,
    "visit_definition": Link.VISIT_DEFINITION,
    "ctcae_term": Link.CTCAE,
}


@dataclass(frozen=True)
class Lookups:
    """Codes the exported values of link columns are read from (taken from the snapshot)."""

    site_codes: Mapping[int, str] = field(default_factory=dict)
    visit_codes: Mapping[int, str] = field(default_factory=dict)
    meddra_codes: Mapping[int, str] = field(default_factory=dict)


def user_oid(user_id: int) -> str:
    return f"USR.{user_id}"


def location_oid(site_code: str) -> str:
    return f"LOC.{site_code}"


def codelist_oid(enum_class: type[enum.Enum]) -> str:
    return f"CL.{enum_class.__name__}"


CTCAE_CODELIST_OID = "CL.CTCAE"


def unit_oid(symbol: str) -> str:
    """A readable OID for a unit symbol ("10^9/L" -> "MU.10E9_PER_L"); the symbol itself is its Name."""
    text = symbol.replace("%", "PCT").replace("/", "_PER_").replace("^", "E").replace("²", "2").replace("°", "DEG")
    return "MU." + (re.sub(r"[^A-Za-z0-9_.]", "_", text) or "NONE")


def words(code: str) -> str:
    """A code in words for people: "not_related" -> "Not related", "iv" -> "IV", "mg/kg" stays."""
    if not re.fullmatch(r"[a-z0-9_]+", code):
        return code
    parts = [_ACRONYMS.get(part, part) for part in code.split("_")]
    first = parts[0]
    return " ".join([first[:1].upper() + first[1:], *parts[1:]])


def decode(member: enum.Enum) -> str:
    """The decode of a code list item: its value in words, or the member name for one-letter codes (Sex M/F/U)."""
    value = str(member.value)
    if len(value) == 1:
        return member.name.replace("_", " ").capitalize()
    return words(value)


@dataclass(frozen=True)
class ItemSpec:
    """One ODM item: a column (or the three columns of a partial date) of a clinical table."""

    table: str
    name: str
    columns: tuple[str, ...]
    data_type: str
    question: str
    derived: bool
    mandatory: bool
    length: int | None = None
    vocabulary: type[enum.StrEnum] | None = None
    link: Link | None = None
    link_table: str | None = None
    unit: str | None = None
    unit_column: str | None = None

    @cached_property  # read for every value written
    def oid(self) -> str:
        return f"IT.{self.table.upper()}.{self.name.upper()}"

    @property
    def codelist(self) -> str | None:
        if self.vocabulary is not None:
            return codelist_oid(self.vocabulary)
        return CTCAE_CODELIST_OID if self.link is Link.CTCAE else None

    @property
    def comment(self) -> str | None:
        if self.link is Link.RECORD:
            return f"ItemGroupRepeatKey of the linked IG.{(self.link_table or '').upper()} record"
        if self.link is Link.USER:
            return "OID of the User in AdminData"
        if self.unit_column is not None:
            return f"in the record's own unit (item {self.unit_column}), which each value carries as MeasurementUnitRef"
        return None

    def text(self, state: Mapping[str, str | None], lookups: Lookups) -> str | None:
        """This item's ODM value in a record whose audited columns hold ``state`` (audit text), or None."""
        if self.data_type == "partialDate":
            year, month, day = (_int(state.get(column)) for column in self.columns)
            return PartialDate(year, month, day).isoformat() or None
        column = _column(self.table, self.columns[0])
        value = value_from_audit_text(column, state.get(self.columns[0]))
        if value is None:
            return None
        if self.link is not None:
            return _link_text(self.link, int(value), lookups)
        return odm_text(value)


@dataclass(frozen=True)
class GroupSpec:
    """One ODM item group: a clinical table, in the form its records are entered on."""

    table: str
    form: FormCode
    repeating: bool
    description: str
    items: tuple[ItemSpec, ...]
    #: the table has a visit_id column: its records sit in their visit's StudyEventData.
    visit_linked: bool

    @property
    def oid(self) -> str:
        return f"IG.{self.table.upper()}"

    def items_touching(self, columns: set[str]) -> list[ItemSpec]:
        """Items whose value depends on any of ``columns`` (an item follows its unit column too)."""
        return [item for item in self.items if columns.intersection(item.columns) or item.unit_column in columns]


def form_oid(form: FormCode) -> str:
    return f"F.{form.value.upper()}"


def odm_text(value: Any) -> str:
    """A Python value as ODM writes it (ODM 1.3.2 §2.13 data formats)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")  # the digits and scale as entered; never an exponent, never a float
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _link_text(link: Link, key: int, lookups: Lookups) -> str:
    if link is Link.USER:
        return user_oid(key)
    table = {
        Link.SITE: lookups.site_codes,
        Link.VISIT_DEFINITION: lookups.visit_codes,
        Link.CTCAE: lookups.meddra_codes,
    }
    # A key the snapshot cannot name stays visible as the key rather than vanishing.
    return table[link].get(key, str(key)) if link in table else str(key)


@cache
def _column(table: str, column: str) -> sa.Column[Any]:
    return Base.metadata.tables[table].c[column]


def _clinical_classes() -> dict[str, Any]:
    return {
        mapper.local_table.name: mapper.class_
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, ClinicalRecord) and isinstance(mapper.local_table, sa.Table)
    }


def _data_type(column: sa.Column[Any]) -> tuple[str, int | None]:
    column_type = column.type
    if isinstance(column_type, Vocabulary):
        return "text", max(len(value) for value in column_type.values)
    if isinstance(column_type, (ExactDecimal, sa.Numeric)) and not isinstance(column_type, sa.Integer):
        return "float", None
    if isinstance(column_type, UTCDateTime):
        return "datetime", None
    if isinstance(column_type, sa.Boolean):
        return "boolean", None
    if isinstance(column_type, sa.Integer):
        return "integer", None
    if isinstance(column_type, sa.DateTime):
        return "datetime", None
    if isinstance(column_type, sa.Date):
        return "date", None
    if isinstance(column_type, sa.String):
        return "text", column_type.length
    raise TypeError(f"{column.table.name}.{column.name}: no ODM data type for {column_type!r}")


def _unit(table: str, column: str) -> str | None:
    if (table, column) in NAMED_UNITS:
        return NAMED_UNITS[(table, column)]
    return unit_of(column)


def _link(column: sa.Column[Any], clinical: set[str]) -> tuple[Link | None, str | None]:
    for foreign_key in column.foreign_keys:
        target = foreign_key.column.table.name
        if target in clinical:
            return Link.RECORD, target
        if target in _LINK_TARGETS:
            return _LINK_TARGETS[target], target
    return None, None


def _link_type(link: Link, column: sa.Column[Any]) -> tuple[str, int | None]:
    if link is Link.RECORD:
        return "integer", None
    if link is Link.SITE:
        return "text", 2
    if link is Link.VISIT_DEFINITION:
        return "text", 20
    if link is Link.CTCAE:
        return "text", 10
    return "text", None


def _item(table: str, column: sa.Column[Any], doc: str, derived: bool, clinical: set[str]) -> ItemSpec:
    link, link_table = _link(column, clinical)
    data_type, length = _link_type(link, column) if link else _data_type(column)
    vocabulary = column.type.enum_class if isinstance(column.type, Vocabulary) else None
    return ItemSpec(
        table=table,
        # A link is exported as what it points at (a code, a repeat key, a User OID), so it drops the "_id".
        name=column.name.removesuffix("_id") if link else column.name,
        columns=(column.name,),
        data_type=data_type,
        length=length,
        question=doc or column.name.replace("_", " "),
        derived=derived,
        mandatory=not column.nullable and not derived,
        vocabulary=vocabulary,
        link=link,
        link_table=link_table,
        unit=_unit(table, column.name) if data_type in ("integer", "float") and not link else None,
        unit_column=ROW_UNITS.get((table, column.name)),
    )


def _partial_date_item(table: str, name: str, columns: tuple[str, ...], docs: Mapping[str, str]) -> ItemSpec:
    # The year column's comment speaks for the date: "year of first complete remission" -> "date of ...".
    year = docs.get(columns[0], "")
    question = "date" + year[len("year") :] if year.startswith("year") else year or name.replace("_", " ")
    return ItemSpec(
        table=table,
        name=name,
        columns=columns,
        data_type="partialDate",
        question=question,
        derived=False,
        mandatory=False,
        length=None,
    )


def _is_repeating(table: sa.Table) -> bool:
    """False when a subject (or a visit) holds at most one record of the table: a unique subject_id, or the
    subject and visit records themselves (ODM: ItemGroupRepeatKey present if and only if repeating)."""
    if table.name in ("subject", "visit"):
        return False
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and [c.name for c in constraint.columns] == ["subject_id"]:
            return False
    return True


def _description(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    own = doc and doc != (ClinicalRecord.__doc__ or "").strip() and "__form__" not in doc
    return doc.split("\n\n")[0].replace("\n", " ") if own else f"{cls.__name__} records"


@cache
def clinical_groups(identified: bool) -> tuple[GroupSpec, ...]:
    """The item groups of every clinical table, in the audit trail's table order (parents before children)."""
    classes = _clinical_classes()
    clinical = set(classes)
    groups = []
    for audited in audited_tables():
        if not audited.clinical:
            continue
        cls = classes[audited.name]
        table = Base.metadata.tables[audited.name]
        docs = column_docs(cls)
        derived = derived_columns(table)
        partial = {
            props[0]: (composite.key, props)
            for composite in class_mapper(cls).composites
            if composite.composite_class is PartialDate
            for props in [tuple(prop.columns[0].name for prop in composite.props)]
        }
        items = []
        for name in audited.columns:
            if name in PLACEMENT_COLUMNS or name in REMOVAL_COLUMNS:
                continue
            if not identified and is_identifying(audited.name, name):
                continue
            if name in partial:
                key, columns = partial[name]
                items.append(_partial_date_item(audited.name, key, columns, docs))
                continue
            if any(name in columns for _key, columns in partial.values()):
                continue  # the month and day of a partial date are part of its one item
            items.append(_item(audited.name, table.c[name], docs.get(name, ""), name in derived, clinical))
        groups.append(
            GroupSpec(
                table=audited.name,
                form=cls.__form__,
                repeating=_is_repeating(table),
                description=_description(cls),
                items=tuple(items),
                visit_linked="visit_id" in table.c,
            )
        )
    return tuple(groups)


def forms(groups: tuple[GroupSpec, ...]) -> dict[FormCode, list[GroupSpec]]:
    """Forms that hold at least one table, in the order of the form list, with their tables."""
    by_form: dict[FormCode, list[GroupSpec]] = {}
    for form in FormCode:
        members = [group for group in groups if group.form is form]
        if members:
            by_form[form] = members
    return by_form
