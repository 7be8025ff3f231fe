"""The tidy CSV of the live data, rendered by the database itself.

Why a second rendering: the issue's target is a tidy export within 3x of the database's own CSV writer, and
moving each cell through Python (a dict per row, a lookup per key, a call per fixed cell) cost 4-9x. For the
live snapshot one SELECT per table computes every cell's final text, so Python only moves text:

- keys by joins (subject -> site -> study for USUBJID; the visit's code and occurrence);
- values as the audit trail writes them (``CAST(... AS TEXT)`` on SQLite; on PostgreSQL ``to_jsonb(...) #>>
  '{}'`` for dates and times, whose plain cast would follow the server's DateStyle), then in the export's form:
  booleans ``true``/``false``, UTC times in ISO 8601 with ``Z`` (microseconds only when not zero), free text
  that a spreadsheet would run as a formula neutralised;
- CTCAE terms, MedDRA codes and staff names by joins; age at first consent from the two dates.

On PostgreSQL the server writes the CSV itself (``COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)``), quoting the
fields that ``jk500db.export.csvfiles.csv_writer`` quotes; empty text is sent as NULL (COPY would write ``""`` for
it where the csv module writes nothing). SQLite has no CSV writer of its own in the library, so its SELECT returns
each row as its finished CSV line, one ``printf`` per row: Python's csv module cost as much again as SQLite's
whole query. A field is quoted where the csv module would quote it (``csvfiles.csv_field``): each cell whose
stored value is text is tested for a comma, quote or line break (``GLOB``), an integer column only when it holds
text at all; the rare hits are quoted in SQL, or by ``csv_field`` itself where the cell is computed from the
stored text. Cells SQLite computes from numbers (booleans, ages) cannot need quotes. Both engines thus give the
csv module's bytes. ``printf`` ends a text at a NUL character, which is why the one write path refuses control
characters in text (``jk500db.services.text``) and PostgreSQL cannot store NUL at all.

The rendering in Python (``jk500db.export.tidy._csv_rows``, from the audit trail's text) stays the one used for
an as-of export and the definition of each rule: this module restates those rules in SQL, each beside the name
of the Python function it must agree with, and ``tests/export/test_tidy_live.py`` compares the two renderings
byte for byte on both engines with values chosen to break them. The SQL is built as text (identifiers from the
models, constants from this package, never data): compiling the same statements through SQLAlchemy's
expression language cost more than PostgreSQL's whole COPY of the study.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from jk500db.audit.triggers import MASK, MASKED_COLUMNS
from jk500db.export.cells import FORMULA_STARTS, NUMBER_PATTERN, neutralise_formula
from jk500db.export.context import ExportContext
from jk500db.export.csvfiles import QUOTED_CHARACTERS, csv_field, csv_writer
from jk500db.export.dictionary import ExportColumn, Source, export_columns, key_columns, links_to, table_columns
from jk500db.export.snapshot import audited_columns
from jk500db.models import Base
from jk500db.models.types import UTCDateTime, Vocabulary

#: SQLite functions for the rare cells SQL does not finish itself, each Python's own rule: the CSV field of a
#: text whose first character could start a formula (neutralised, then quoted if it must be), and the quoting of
#: a cell computed from a stored text that holds a comma, quote or line break.
FORMULA_FIELD_FUNCTION = "jk500_formula_field"
QUOTED_FIELD_FUNCTION = "jk500_csv_field"
#: ``printf`` takes at most 127 arguments in a stock SQLite; longer rows are printed in parts.
_PRINTF_CELLS = 100
#: Lines fetched and written per call.
_BATCH = 2000


def _name(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_FORMULA_FIRST = ", ".join(_literal(start) for start in FORMULA_STARTS)
_FORMULA_CODES = ", ".join(str(ord(start)) for start in FORMULA_STARTS)
#: A GLOB pattern matching a text that holds a character the csv module quotes for.
_NEEDS_QUOTES = "'*[' || " + " || ".join(f"char({ord(c)})" for c in QUOTED_CHARACTERS) + " || ']*'"


def _quoted(text: str) -> str:
    """``text`` in double quotes, its own quotes doubled: the CSV field of a text that needs quotes."""
    return f"""'"' || replace({text}, '"', '""') || '"'"""


def _formula_field(text: str) -> str:
    return csv_field(neutralise_formula(text))


@dataclass
class _Select:
    """One table's SELECT, for one engine: the cells in order and the outer joins they read."""

    table: str
    postgres: bool
    joins: list[str] = field(default_factory=list)

    def join(self, table: str, alias: str, on: str) -> None:
        self.joins.append(f"LEFT JOIN {_name(table)} AS {alias} ON {on}")

    # --- values as the audit trail writes them, in the export's form ---------------------------------

    def audit_text(self, column: str, column_type: Any) -> str:
        """``jk500db.audit.verify.live_audit_text``: the text the triggers store."""
        if self.postgres:
            if isinstance(column_type, (sa.Date, sa.DateTime, sa.Time)):
                return f"(to_jsonb({column}) #>> '{{}}')"
            return f"{column}::text"
        if isinstance(column_type, (sa.String, sa.Text)):
            return column  # TEXT affinity: SQLite stores any value of such a column as text already
        return f"CAST({column} AS TEXT)"

    def value(self, sql_column: sa.Column[Any], column: str) -> str:
        """``jk500db.export.tidy._fix_of_type`` applied to the audit text of ``column``."""
        column_type = sql_column.type
        if sql_column.name in MASKED_COLUMNS:  # as Snapshot.text_rows: only whether a value was set
            return f"CASE WHEN {column} IS NULL THEN NULL ELSE {_literal(MASK)} END"
        if isinstance(column_type, sa.Boolean):
            # PostgreSQL's own text is already true/false; SQLite keeps 1/0.
            return f"{column}::text" if self.postgres else f"CASE {column} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"
        if isinstance(column_type, UTCDateTime):
            return self.field(self.utc_time(column), column)
        text = self.audit_text(column, column_type)
        if isinstance(column_type, (sa.String, sa.Text)) and not isinstance(column_type, Vocabulary):
            return self.text(self.neutralised(text))
        return self.field(text, column, integer=isinstance(column_type, sa.Integer))

    def field(self, text: str, stored: str, *, integer: bool = False) -> str:
        """On SQLite, the CSV field of ``text``, a cell computed from the stored value ``stored``: quoted when
        ``stored`` holds a character that needs quotes (in SQL when the cell is the stored text itself, else by
        ``csv_field``, as the cell may have lost the character). A column of integer affinity holds text only when
        something wrote text there, so only then is it tested. PostgreSQL's COPY quotes for itself."""
        if self.postgres:
            return text
        test = f"{stored} GLOB {_NEEDS_QUOTES}"
        if integer:
            test = f"typeof({stored}) = 'text' AND {test}"
        quoted = _quoted(text) if text == stored else f"{QUOTED_FIELD_FUNCTION}({text})"
        return f"CASE WHEN {test} THEN {quoted} ELSE {text} END"

    def utc_time(self, column: str) -> str:
        """``jk500db.export.csvfiles._utc_text``: ISO 8601 with ``Z``, microseconds only when not zero."""
        if self.postgres:  # the session's TimeZone is UTC (see _copy_csv)
            return (
                f"CASE WHEN {column} = date_trunc('second', {column}) "
                f"""THEN to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') """
                f"""ELSE to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END"""
            )
        # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC); a value stored without its fraction
        # reads the same way in Python, so it must here too.
        return (
            f"substr({column}, 1, 10) || 'T' || CASE WHEN substr({column}, 20) IN ('', '.000000') "
            f"THEN substr({column}, 12, 8) ELSE substr({column}, 12) END || 'Z'"
        )

    def neutralised(self, text: str) -> str:
        """``jk500db.export.cells.neutralise_formula``, tested first on the first character (rarely true)."""
        if self.postgres:
            formula = f"left({text}, 1) IN ({_FORMULA_FIRST}) AND {text} !~ {_literal(NUMBER_PATTERN)}"
            return f"CASE WHEN {formula} THEN '''' || {text} ELSE {text} END"
        # On SQLite, also the CSV field (see ``field``); the first character's code is cheaper than substr.
        formula = f"unicode({text}) IN ({_FORMULA_CODES})"
        return (
            f"CASE WHEN {formula} THEN {FORMULA_FIELD_FUNCTION}({text}) "
            f"WHEN {text} GLOB {_NEEDS_QUOTES} THEN {_quoted(text)} ELSE {text} END"
        )

    def text(self, text: str) -> str:
        """Empty text as NULL on PostgreSQL, whose COPY writes ``""`` for it where Python's csv writes nothing."""
        return f"NULLIF({text}, '')" if self.postgres else text

    # --- cells --------------------------------------------------------------------------------------------

    def looked_up(self, column: str, target: str, name: str) -> str:
        """A column of the row ``column`` names in ``target``, as ``csv_cell`` writes that typed value."""
        alias = f"link_{len(self.joins)}"
        self.join(target, alias, f"{alias}.id = t.{_name(column)}")
        return self.value(Base.metadata.tables[target].c[name], f"{alias}.{_name(name)}")

    def age(self) -> str:
        """Age at first consent as ``jk500db.export.tidy`` gives it (``clinical.schedule.age_in_years``):
        completed years, the birthday itself counting; empty without both dates or for a consent before birth."""
        self.joins.append(
            "LEFT JOIN (SELECT subject_id, min(signed_on) AS signed_on FROM consent WHERE removed_at IS NULL "
            "GROUP BY subject_id) AS first_consent ON first_consent.subject_id = t.id"
        )
        birth, signed = "t.birth_date", "first_consent.signed_on"
        if self.postgres:
            years = f"extract(year FROM {signed})::int - extract(year FROM {birth})::int"
            before = f"to_char({signed}, 'MM-DD') < to_char({birth}, 'MM-DD')"
            return f"CASE WHEN {signed} >= {birth} THEN ({years} - CASE WHEN {before} THEN 1 ELSE 0 END)::text END"
        years = f"CAST(substr({signed}, 1, 4) AS INTEGER) - CAST(substr({birth}, 1, 4) AS INTEGER)"
        before = f"substr({signed}, 6, 5) < substr({birth}, 6, 5)"
        return f"CASE WHEN {signed} >= {birth} THEN CAST({years} - ({before}) AS TEXT) END"

    def cell(self, column: ExportColumn) -> str:
        if column.source is Source.VALUE:
            return self.value(Base.metadata.tables[self.table].c[column.column], f"t.{_name(column.column)}")
        if column.source is Source.LINK:
            stored = f"t.{_name(column.column)}"
            return self.field(self.audit_text(stored, sa.Integer()), stored, integer=True)
        if column.source is Source.AGE:
            return self.age()
        if column.source is Source.STAFF:
            return self.looked_up(column.column, "user_account", "full_name")
        target = links_to(self.table, column.column) or "ctcae_term"
        return self.looked_up(column.column, target, "term" if column.source is Source.TERM else "meddra_code")

    def keys(self) -> list[str]:
        """``jk500db.export.tidy._keys``: usubjid, subject, site, visit, visit_sequence, record."""
        columns = audited_columns(self.table)
        subject = "t.id" if self.table == "subject" else "t.subject_id" if "subject_id" in columns else None
        keys: list[str] = []
        if subject is not None:
            # A subject's keys are made once per subject, not once per row of a form with thousands of rows.
            usubjid = "study.code || '-' || site.code || '-' || subject.subject_number"
            cells = {
                "usubjid": usubjid,
                "subject_number": "subject.subject_number",
                "site_code": "site.code",
            }
            made = ", ".join(f"{self.text(self.field(text, text))} AS {name}" for name, text in cells.items())
            self.joins.append(
                f"LEFT JOIN (SELECT subject.id AS id, {made} FROM subject "
                "LEFT JOIN site ON site.id = subject.site_id LEFT JOIN study ON study.id = site.study_id) "
                f"AS key_subject ON key_subject.id = {subject}"
            )
            keys += [f"key_subject.{name}" for name in cells]
        else:
            keys += ["NULL", "NULL", "NULL"]
        if self.table == "visit":
            visit, sequence = "t.visit_code", "t.sequence"
        elif "visit_id" in columns:
            self.join("visit", "key_visit", "key_visit.id = t.visit_id")
            visit, sequence = "key_visit.visit_code", "key_visit.sequence"
        else:
            visit = sequence = ""
        if visit:
            keys += [
                self.text(self.field(visit, visit)),
                self.field(self.audit_text(sequence, sa.Integer()), sequence, integer=True),
            ]
        else:
            keys += ["NULL", "NULL"]
        return [*keys, self.audit_text("t.id", sa.Integer())]  # the row id: an integer primary key is never text

    def sql(self, columns: list[ExportColumn]) -> str:
        cells = [*self.keys(), *(self.cell(column) for column in columns)]
        where = " WHERE t.removed_at IS NULL" if "removed_at" in Base.metadata.tables[self.table].c else ""
        order = ", ".join(f"t.{_name(c.name)}" for c in Base.metadata.tables[self.table].primary_key.columns)
        # SQLite would walk the partial index of live rows and look each row up in the table; reading the table
        # in key order and skipping the few removed rows is faster (the order is the table's own: rowid = id).
        scan = "" if self.postgres else " NOT INDEXED"
        joins = " ".join(self.joins)
        selected = ", ".join(cells) if self.postgres else _line(cells)
        return f"SELECT {selected} FROM {_name(self.table)} AS t{scan} {joins}{where} ORDER BY {order}"


def _line(fields: list[str]) -> str:
    """One CSV line of ``fields`` (SQLite): ``printf`` writes NULL as nothing, as the csv module does None."""
    parts = []
    for start in range(0, len(fields), _PRINTF_CELLS):
        chunk = fields[start : start + _PRINTF_CELLS]
        parts.append(f"printf('{','.join(['%s'] * len(chunk))}', {', '.join(chunk)})")
    return " || ',' || ".join(parts)


@cache
def table_sql(table: str, *, identified: bool, postgres: bool) -> str:
    """The SELECT whose rows are ``table``'s tidy CSV rows (keys, then the exported variables): on SQLite one
    finished CSV line per row, on PostgreSQL the cells for COPY."""
    return _Select(table, postgres).sql(export_columns(table, identified=identified))


def write_table(context: ExportContext, table: str, path: Path) -> Path:
    """``path``: the tidy CSV of ``table`` from the live data of ``context``'s transaction."""
    connection = context.session.connection()
    dbapi = connection.connection.dbapi_connection
    assert dbapi is not None
    header = [*key_columns(), *table_columns(table, identified=context.identified)]
    postgres = connection.dialect.name == "postgresql"
    sql = table_sql(table, identified=context.identified, postgres=postgres)
    if postgres:
        with path.open("wb") as handle:
            _write_header(handle, header)
            _copy_csv(dbapi, sql, handle.write)
        return path
    dbapi.create_function(FORMULA_FIELD_FUNCTION, 1, _formula_field, deterministic=True)
    dbapi.create_function(QUOTED_FIELD_FUNCTION, 1, csv_field, deterministic=True)
    with path.open("w", newline="", encoding="utf-8") as text_handle:
        csv_writer(text_handle).writerow(header)
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql)
            while lines := cursor.fetchmany(_BATCH):
                text_handle.write("\n".join([line for (line,) in lines]))
                text_handle.write("\n")
        finally:
            cursor.close()
    return path


def _write_header(handle: BinaryIO, header: list[str]) -> None:
    text = io.StringIO()
    csv_writer(text).writerow(header)
    handle.write(text.getvalue().encode("utf-8"))


def _copy_csv(dbapi: Any, sql: str, write: Callable[[bytes], Any]) -> None:
    """Stream ``COPY (sql) TO STDOUT WITH (FORMAT csv)``: the server sends one message per row.

    Without nested loops for the one statement: the planner otherwise looks each row's visit up in a (memoized)
    nested loop above its parallel workers, so that one process computes every cell; with hash joins the workers
    compute them (``lab_result`` at 2,000 subjects: 1.29 s, then 0.94 s). The export's later statements, in the
    same transaction, get the planner's own setting back.
    """
    cursor = dbapi.cursor()
    try:
        cursor.execute("SET LOCAL TimeZone = 'UTC'")  # as the audit triggers' own setting
        nested_loops = cursor.execute("SELECT current_setting('enable_nestloop')").fetchone()[0]
        cursor.execute("SET LOCAL enable_nestloop = off")
        with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                write(block)
        # (A COPY that fails ends the transaction, and the setting with it.)
        cursor.execute("SELECT set_config('enable_nestloop', %s, true)", (nested_loops,))
    finally:
        cursor.close()
