"""Tidy data: one CSV per case-report-form table, the same as one XLSX workbook, and a data dictionary.

Tidy in Wickham's sense: one row per record, one column per variable, one table per kind of record. Every
table starts with the same stable keys, so tables join without internal ids:

- ``usubjid`` (STUDYID-SITEID-SUBJID), ``subject`` and ``site``;
- ``visit`` (the visit code) and ``visit_sequence`` for records filed under a visit;
- ``record``: the record's own number, which never changes and is never reused; other tables refer to it
  (an ``infusion`` column holds the ``record`` of that infusion).

Values are typed (decimals as entered, ISO 8601 dates and UTC times) and a missing value's reason stays in its
own ``*_missing_reason`` column. Derived columns carry the rule and version that computed them in their
``*_rule`` column, and the dictionary says which columns are derived. Removed records are left out: the
audit tables keep them. CSV files are streamed row by row; the workbook is written in XlsxWriter's
constant-memory mode, so memory stays flat as the study grows.

The CSV files of live data are rendered by the database (``jk500db.export.tidy_live``: one SELECT per table,
no Python per cell); the CSV files of an as-of export, whose rows exist only as the audit trail's text replayed
here, are rendered by :func:`_csv_rows`. A test holds the two to the same bytes.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import xlsxwriter

from jk500db.clinical.schedule import age_in_years
from jk500db.export import tidy_live
from jk500db.export.cells import neutralise_formula
from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.csvfiles import FORMULA_FIRST, cell_text, csv_cell, csv_writer
from jk500db.export.dictionary import (
    DictionaryEntry,
    ExportColumn,
    Source,
    data_dictionary,
    export_columns,
    key_columns,
    table_columns,
    tidy_tables,
)
from jk500db.export.snapshot import LiveSnapshot, Row, value_from_audit_text
from jk500db.models import Base
from jk500db.models.types import UTCDateTime, Vocabulary

WORKBOOK = "jk500_tidy.xlsx"
DICTIONARY = "data_dictionary.csv"
#: Excel refuses longer cell text.
XLSX_MAX_TEXT = 32_767


@dataclass
class Lookups:
    """Readable stand-ins for the links a row holds: visits by code, CTCAE terms by name, staff by name."""

    visits: dict[int, tuple[str, int]]
    terms: dict[int, tuple[str, str]]
    staff: dict[int, str]
    first_consent: dict[int, dt.date]
    birth_dates: dict[int, dt.date]


def _lookups(context: ExportContext) -> Lookups:
    first_consent: dict[int, dt.date] = {}
    for row in context.snapshot.rows("consent"):
        if row["removed_at"] is None:
            signed = row["signed_on"]
            first_consent[row["subject_id"]] = min(signed, first_consent.get(row["subject_id"], signed))
    return Lookups(
        visits={row["id"]: (row["visit_code"], row["sequence"]) for row in context.snapshot.rows("visit")},
        terms={row["id"]: (row["term"], row["meddra_code"]) for row in context.snapshot.rows("ctcae_term")},
        staff={row["id"]: row["full_name"] for row in context.snapshot.rows("user_account")},
        first_consent=first_consent,
        # Read from the snapshot itself, not context.rows: the age needs the birth date even when the export
        # leaves the birth date out.
        birth_dates={row["id"]: row["birth_date"] for row in context.snapshot.rows("subject")},
    )


def _tidy_rows(context: ExportContext, table: str, lookups: Lookups) -> Iterator[list[Any]]:
    getters = [_getter(column, lookups) for column in export_columns(table, identified=context.identified)]
    for row in context.rows(table):
        if row.get("removed_at") is not None:
            continue
        yield _keys(context, table, row, lookups) + [get(row) for get in getters]


def _keys(context: ExportContext, table: str, row: Row, lookups: Lookups) -> list[Any]:
    subject_id = row["id"] if table == "subject" else row.get("subject_id")
    keys = context.subjects[subject_id] if subject_id is not None else None
    visit_id = row.get("visit_id")
    visit = lookups.visits.get(visit_id) if visit_id is not None else None
    if table == "visit":
        visit = (row["visit_code"], row["sequence"])
    return [
        keys.usubjid if keys else None,
        keys.subject_number if keys else None,
        keys.site_code if keys else None,
        visit[0] if visit else None,
        visit[1] if visit else None,
        row["id"],
    ]


def _getter(column: ExportColumn, lookups: Lookups) -> Callable[[Row], Any]:
    """How one exported variable is read from a row (chosen once per table, not once per cell)."""
    name = column.column
    if column.source in (Source.VALUE, Source.LINK):
        return operator.itemgetter(name)
    if column.source is Source.AGE:

        def age(row: Row) -> Any:
            consent, birth = lookups.first_consent.get(row["id"]), lookups.birth_dates.get(row["id"])
            return age_in_years(birth, consent) if consent and birth else None

        return age
    if column.source is Source.STAFF:
        return lambda row: None if row[name] is None else lookups.staff.get(row[name])
    part = 0 if column.source is Source.TERM else 1
    return lambda row: None if row[name] is None else lookups.terms[row[name]][part]


# --- the CSV pass: values as the audit trail writes them, turned into the export's text ------------------------
#
# The CSV files are built from ``Snapshot.text_rows`` rather than typed rows: reading Decimals, vocabulary members
# and datetimes only to write them back as text took most of the export's time. The text the database gives is
# the audit trail's own (so live and as-of exports agree by construction); only booleans and UTC times need
# rewriting into the export's form. The workbook pass reads typed rows, and a test compares the two.

KEY_COUNT = len(key_columns())


Fix = Callable[[str], str]  # audit text -> the export's text, for a cell that is not empty


def _fix_of_type(table: str, column: str) -> Fix | None:
    """How audit text of ``table.column`` becomes CSV text; None where it already is (numbers, codes, dates)."""
    sql_column = Base.metadata.tables[table].c[column]
    column_type = sql_column.type
    if isinstance(column_type, sa.Boolean):
        return {"1": "true", "0": "false", "true": "true", "false": "false"}.__getitem__
    if isinstance(column_type, UTCDateTime):
        return lambda text: cell_text(value_from_audit_text(sql_column, text))
    if isinstance(column_type, (sa.String, sa.Text)) and not isinstance(column_type, Vocabulary):
        return lambda text: neutralise_formula(text) if text[:1] in FORMULA_FIRST else text
    return None


def _fix(table: str, column: ExportColumn, lookups: Lookups) -> Fix | None:
    if column.source is Source.VALUE:
        return _fix_of_type(table, column.column)
    if column.source is Source.LINK:
        return None
    if column.source is Source.AGE:  # read from the subject's id: the birth date itself is not in the row

        def age(subject_id: str) -> str:
            consent, birth = lookups.first_consent.get(int(subject_id)), lookups.birth_dates.get(int(subject_id))
            return str(age_in_years(birth, consent)) if consent and birth else ""

        return age
    if column.source is Source.STAFF:
        staff = {str(key): csv_cell(value) for key, value in lookups.staff.items()}
        return lambda key: staff.get(key, "")
    part = 0 if column.source is Source.TERM else 1
    return {str(key): csv_cell(value[part]) for key, value in lookups.terms.items()}.__getitem__


def _csv_rows(context: ExportContext, table: str, lookups: Lookups) -> Iterator[list[str | None]]:
    """The CSV rows of ``table``: each row's cells taken in one C-level step, then the few that need it fixed."""
    columns = export_columns(table, identified=context.identified)
    sources = [("id" if c.source is Source.AGE else c.column) for c in columns]
    fixes = [(index, fix) for index, c in enumerate(columns) if (fix := _fix(table, c, lookups)) is not None]
    take = operator.itemgetter(*sources) if len(sources) > 1 else (lambda row: (row[sources[0]],))
    subjects = {str(key): keys for key, keys in context.subjects.items()}
    visits = {str(key): (code, str(sequence)) for key, (code, sequence) in lookups.visits.items()}
    subject_column = "id" if table == "subject" else "subject_id"
    for row in context.text_rows(table):
        if row.get("removed_at") is not None:
            continue
        keys = subjects.get(row.get(subject_column) or "")
        if table == "visit":
            visit: tuple[str, str] | None = (row["visit_code"] or "", row["sequence"] or "")
        else:
            visit = visits.get(row.get("visit_id") or "")
        cells: list[str | None] = [
            keys.usubjid if keys else "",
            keys.subject_number if keys else "",
            keys.site_code if keys else "",
            visit[0] if visit else "",
            visit[1] if visit else "",
            row["id"],
            *take(row),
        ]
        for index, fix in fixes:
            text = cells[index + KEY_COUNT]
            if text is not None:
                cells[index + KEY_COUNT] = fix(text)
        yield cells


def write(context: ExportContext) -> list[Path]:
    """The tidy CSV files and their dictionary, then the same tables as one workbook."""
    folder = context.folder(ExportFormat.TIDY)
    lookups = _lookups(context)
    return [*write_csv_tables(context, folder, lookups), write_workbook(context, folder, lookups)]


def write_csv_tables(context: ExportContext, folder: Path, lookups: Lookups | None = None) -> list[Path]:
    """One CSV per table and the data dictionary, streamed row by row.

    Live data are rendered by the database (``jk500db.export.tidy_live``); data rebuilt as of a past moment
    exist only here, in Python, and are rendered by :func:`_csv_rows`. Both give the same bytes.
    """
    paths = [_write_dictionary_csv(folder / DICTIONARY, data_dictionary(identified=context.identified))]
    if isinstance(context.snapshot, LiveSnapshot):
        return paths + [tidy_live.write_table(context, table, folder / f"{table}.csv") for table in tidy_tables()]
    lookups = lookups or _lookups(context)
    for table in tidy_tables():
        paths.append(write_python_csv(context, table, folder / f"{table}.csv", lookups))
    return paths


def write_python_csv(context: ExportContext, table: str, path: Path, lookups: Lookups | None = None) -> Path:
    """The tidy CSV of ``table`` rendered in Python from the snapshot's audit text (any snapshot)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow([*key_columns(), *table_columns(table, identified=context.identified)])
        writer.writerows(_csv_rows(context, table, lookups or _lookups(context)))
    return path


def write_workbook(context: ExportContext, folder: Path, lookups: Lookups | None = None) -> Path:
    """The dictionary and every table as sheets of one workbook, in XlsxWriter's constant-memory mode."""
    lookups = lookups or _lookups(context)
    path = folder / WORKBOOK
    workbook = xlsxwriter.Workbook(
        str(path), {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    # Fixed document properties: the workbook must be byte-identical for the same data (XlsxWriter stamps
    # the current time otherwise): the moment the data stand for, and the audit position they end at.
    workbook.set_properties(
        {
            "title": "JK500 tidy data",
            "comments": f"audit position {context.snapshot.audit_position}",
            "created": context.snapshot.data_moment.replace(tzinfo=None),
        }
    )
    try:
        formats = _Formats(workbook)
        _write_dictionary_sheet(workbook, data_dictionary(identified=context.identified), formats)
        for table in tidy_tables():
            sheet = workbook.add_worksheet(table[:31])
            header = [*key_columns(), *table_columns(table, identified=context.identified)]
            sheet.write_row(0, 0, header, formats.header)
            sheet.freeze_panes(1, 0)
            for number, values in enumerate(_tidy_rows(context, table, lookups), start=1):
                _write_xlsx_row(sheet, number, values, formats)
    finally:  # also on failure: XlsxWriter's constant-memory temporary files are closed by close()
        workbook.close()
    return path


class _Formats:
    def __init__(self, workbook: Any) -> None:
        self.header = workbook.add_format({"bold": True})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.time = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})


def _write_xlsx_row(sheet: Any, row: int, values: list[Any], formats: _Formats) -> None:
    """Typed cells: numbers as numbers, dates as dates, text always as text (never run as a formula)."""
    for column, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        elif isinstance(value, (int, Decimal)):
            sheet.write_number(row, column, value)
        elif isinstance(value, dt.datetime):
            sheet.write_datetime(row, column, value.astimezone(dt.UTC).replace(tzinfo=None), formats.time)
        elif isinstance(value, dt.date):
            sheet.write_datetime(row, column, dt.datetime.combine(value, dt.time()), formats.date)
        elif isinstance(value, Enum):
            sheet.write_string(row, column, str(value.value))
        else:
            sheet.write_string(row, column, str(value)[:XLSX_MAX_TEXT])


DICTIONARY_HEADER = ["table", "variable", "label", "type", "unit", "allowed_values", "origin", "rule", "note"]


def _dictionary_values(entry: DictionaryEntry) -> list[str]:
    return [
        entry.table,
        entry.variable,
        entry.label,
        entry.data_type,
        entry.unit or "",
        " | ".join(entry.allowed_values),
        entry.origin,
        entry.rule or "",
        entry.note or "",
    ]


def _write_dictionary_csv(path: Path, entries: Sequence[DictionaryEntry]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(DICTIONARY_HEADER)
        for entry in entries:
            writer.writerow([neutralise_formula(text) for text in _dictionary_values(entry)])
    return path


def _write_dictionary_sheet(workbook: Any, entries: Sequence[DictionaryEntry], formats: _Formats) -> None:
    sheet = workbook.add_worksheet("data_dictionary")
    sheet.write_row(0, 0, DICTIONARY_HEADER, formats.header)
    sheet.freeze_panes(1, 0)
    for number, entry in enumerate(entries, start=1):
        for column, text in enumerate(_dictionary_values(entry)):
            sheet.write_string(number, column, text)

