"""The database's rendering of the live tidy CSV equals the Python rendering, byte for byte (both engines).

``jk500db.export.tidy_live`` restates in SQL the rules of ``jk500db.export.tidy._csv_rows`` (the one that serves
as-of exports): keys, booleans, UTC times, formula neutralisation, CSV quoting, term and staff look-ups, age at
consent. Here every free-text cell the study lets us change gets a value chosen to break one of those rules, and
the two renderings of every tidy table must still be the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from jk500db.export import tidy, tidy_live
from jk500db.export.cells import neutralise_formula
from jk500db.export.context import ExportContext
from jk500db.export.csvfiles import csv_field, csv_writer
from jk500db.export.dictionary import export_columns, tidy_tables
from jk500db.export.snapshot import open_snapshot
from jk500db.models import Base, Consent, Subject
from jk500db.models.types import UTCDateTime, Vocabulary
from jk500db.models.vocabularies import RoleCode
from tests.factories import act, user

#: Each breaks one rule if the SQL gets it wrong: formula starts and the numbers that are not formulas
#: (cells.NUMBER_PATTERN), CSV quoting (comma, quote, line feed, a bare carriage return, which PostgreSQL's
#: COPY quotes and Python's csv does not), empty text (COPY writes ""), backslashes (COPY's text escapes),
#: and text beyond ASCII.
HOSTILE_TEXT = (
    "=1+1",
    "+",
    "-",
    "@SUM(A1)",
    "\tindented",
    "\rreturn first",
    "-1.5e3",
    "+2.50",
    "-1.",
    "-.5",
    "-1_000",
    "-\u0663",
    "-1\n",
    "a,b",
    'say "x"',
    "line\nfeed",
    "cr\r\nlf",
    "bare\rreturn",
    "",
    " ",
    "back\\slash \\.",
    "'quoted'",
    "\u00e9 \u00fc \u6f22",
)


def _free_text_columns(table: str) -> list[str]:
    sql_table = Base.metadata.tables[table]
    exported = {c.column for c in export_columns(table, identified=True)}
    return [
        c.name
        for c in sql_table.columns
        if c.name in exported
        and isinstance(c.type, (sa.String, sa.Text))
        and not isinstance(c.type, Vocabulary)
        and not c.foreign_keys
        and (getattr(c.type, "length", None) or 1000) >= 16
    ]


def _make_hostile(session: Session) -> int:
    """Write hostile values into the first rows of every tidy table; returns how many cells took one."""
    written = 0
    values = itertools.cycle(HOSTILE_TEXT)
    for table in tidy_tables():
        sql_table = Base.metadata.tables[table]
        columns = _free_text_columns(table)
        ids = session.scalars(sa.select(sql_table.c.id).order_by(sql_table.c.id).limit(len(HOSTILE_TEXT))).all()
        for row_id, column in itertools.product(ids, columns):
            value = next(values)
            try:
                with session.begin_nested():  # a value a CHECK constraint refuses is simply not used
                    session.execute(sa.update(sql_table).where(sql_table.c.id == row_id).values({column: value}))
                written += 1
            except DBAPIError:
                pass
        # UTC times on whole seconds and with a fraction: the fraction is written only when it is not zero.
        exported = {c.column for c in export_columns(table, identified=True)}
        times = [c.name for c in sql_table.columns if isinstance(c.type, UTCDateTime) and c.name in exported]
        fractions = itertools.cycle((0, 120_000))
        for (row_id, column), fraction in zip(itertools.product(ids, times), fractions, strict=False):
            moment = session.scalar(sa.select(sql_table.c[column]).where(sql_table.c.id == row_id))
            if moment is None:
                continue
            try:
                with session.begin_nested():  # within a second of the old time: ordering checks still hold
                    session.execute(
                        sa.update(sql_table)
                        .where(sql_table.c.id == row_id)
                        .values({column: moment.replace(microsecond=fraction)})
                    )
                written += 1
            except DBAPIError:
                pass
    return written


def _birthday_cases(session: Session) -> dict[int, str]:
    """Age at consent on the birthday itself, the day before it, and for a child born on 29 February:
    subject id -> the age the export must give."""
    subjects = session.scalars(sa.select(Subject).where(Subject.removed_at.is_(None)).order_by(Subject.id)).all()
    consents = {
        c.subject_id: c
        for c in session.scalars(sa.select(Consent).where(Consent.removed_at.is_(None)).order_by(Consent.id.desc()))
    }
    cases = [
        (dt.date(2016, 5, 10), dt.date(2025, 5, 10), "9"),  # the birthday itself counts
        (dt.date(2016, 5, 10), dt.date(2025, 5, 9), "8"),
        (dt.date(2016, 2, 29), dt.date(2025, 2, 28), "8"),  # no 29 February in 2025: a year on 1 March
        (dt.date(2016, 2, 29), dt.date(2025, 3, 1), "9"),
    ]
    with_one_consent = [s for s in subjects if s.id in consents]
    expected = {}
    for subject, (birth, signed, age) in zip(with_one_consent, cases, strict=False):
        subject.birth_date = birth
        for consent in session.scalars(sa.select(Consent).where(Consent.subject_id == subject.id)):
            consent.signed_on = signed  # every consent of the child, so the first one is this date
        expected[subject.id] = age
    session.flush()
    assert len(expected) == len(cases)
    return expected


def _both_renderings(session: Session, folder: Path, *, identified: bool) -> list[tuple[str, bytes, bytes]]:
    context = ExportContext(session, open_snapshot(session), folder, identified=identified)
    (folder / "sql").mkdir(parents=True)
    (folder / "python").mkdir()
    result = []
    for table in tidy_tables():
        in_sql = tidy_live.write_table(context, table, folder / "sql" / f"{table}.csv")
        in_python = tidy.write_python_csv(context, table, folder / "python" / f"{table}.csv")
        result.append((table, in_sql.read_bytes(), in_python.read_bytes()))
    return result


@pytest.mark.parametrize("identified", [False, True], ids=["de-identified", "identified"])
def test_the_database_renders_hostile_values_as_python_does(study: Session, tmp_path: Path, identified: bool) -> None:
    act(study, user(study, RoleCode.ADMIN), reason="hostile values for the CSV renderings")
    written = _make_hostile(study)
    _birthday_cases(study)
    study.flush()
    assert written >= 3 * len(HOSTILE_TEXT)  # the study has room for every hostile value several times over
    for table, in_sql, in_python in _both_renderings(study, tmp_path, identified=identified):
        assert in_sql == in_python, table


def test_hostile_values_arrive_as_typed_and_formulas_do_not_run(study: Session, tmp_path: Path) -> None:
    """Read back by the csv module: every hostile value is the text typed, neutralised where it starts a formula."""
    act(study, user(study, RoleCode.ADMIN), reason="hostile values for the CSV renderings")
    _make_hostile(study)
    study.flush()
    context = ExportContext(study, open_snapshot(study), tmp_path)
    seen: set[str] = set()
    for table in tidy_tables():
        path = tidy_live.write_table(context, table, tmp_path / f"{table}.csv")
        sql_table, columns = Base.metadata.tables[table], _free_text_columns(table)
        expected = {
            (row_id, column): value
            for row_id, *values in study.execute(sa.select(sql_table.c.id, *(sql_table.c[c] for c in columns)))
            for column, value in zip(columns, values, strict=True)
        }
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for column in columns:
                    if column not in row:
                        continue  # identifying: not in a de-identified export
                    typed = expected[(int(row["record"]), column)]
                    assert row[column] == ("" if typed is None else neutralise_formula(typed)), (table, column)
                    seen.add(row[column])
    assert {neutralise_formula(value) for value in HOSTILE_TEXT} <= seen
    assert "'=1+1" in seen and "-1.5e3" in seen and "'-1_000" in seen  # a formula, a number, not a number


def test_ages_at_consent_count_the_birthday_and_29_february(study: Session, tmp_path: Path) -> None:
    act(study, user(study, RoleCode.ADMIN), reason="birthday cases")
    expected = _birthday_cases(study)
    context = ExportContext(study, open_snapshot(study), tmp_path)
    path = tidy_live.write_table(context, "subject", tmp_path / "subject.csv")
    with path.open(newline="", encoding="utf-8") as handle:
        ages = {int(row["record"]): row["age_at_consent"] for row in csv.DictReader(handle)}
    assert {subject_id: ages[subject_id] for subject_id in expected} == expected


#: Text a CSV field must be quoted for, in every form the csv module quotes it.
NEEDS_QUOTES = ("a,b", 'say "x"', "line\nfeed", "bare\rreturn", ',"\r\n')


@given(st.lists(st.text(alphabet=st.sampled_from("a ,\"\n\r\t'=-1\u00e9"), max_size=6), min_size=2, max_size=5))
def test_a_field_is_quoted_exactly_where_the_csv_writer_quotes_it(row: list[str]) -> None:
    """``csv_field`` is how SQLite's rendering quotes a cell; it must give the csv writer's bytes."""
    written = io.StringIO()
    csv_writer(written).writerow(row)
    assert ",".join(csv_field(text) for text in row) + "\n" == written.getvalue()


def test_text_stored_where_a_typed_value_belongs_still_makes_one_field(study: Session, tmp_path: Path) -> None:
    """SQLite keeps whatever text is written into a date, decimal, code or integer column (the application never
    writes such text; SQL outside it could). Each such cell must still be one quoted field, as Python writes it."""
    if study.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL's typed columns refuse the text; only SQLite can hold it")
    act(study, user(study, RoleCode.ADMIN), reason="text in typed columns")
    study.flush()
    connection = study.connection()  # below the ORM: no object of the session holds these rows
    tampered: dict[tuple[str, int, str], str] = {}
    values = itertools.cycle(NEEDS_QUOTES)
    for table in tidy_tables():
        sql_table = Base.metadata.tables[table]
        row_id = study.scalar(sa.select(sa.func.min(sql_table.c.id)).where(sql_table.c.removed_at.is_(None)))
        free_text = set(_free_text_columns(table))
        for column in export_columns(table, identified=True):
            name = column.column
            if name in free_text or name not in sql_table.c or isinstance(sql_table.c[name].type, sa.Boolean):
                continue
            value = next(values)
            try:
                with connection.begin_nested():  # CHECK constraints refuse some; the rest hold the text
                    connection.execute(
                        sa.text(f'UPDATE "{table}" SET "{name}" = :value WHERE id = :id'),
                        {"value": value, "id": row_id},
                    )
                if not isinstance(sql_table.c[name].type, UTCDateTime):  # a time's text is cut up to add T and Z
                    tampered[(table, row_id, name)] = value
            except DBAPIError:
                pass
    # The keys: a visit code and a site code (two characters) holding a comma and a quote.
    connection.execute(sa.text("UPDATE visit SET visit_code = 'D,\"1' WHERE id = (SELECT min(id) FROM visit)"))
    connection.execute(sa.text("UPDATE site SET code = ',\"' WHERE id = (SELECT min(id) FROM site)"))
    assert len(tampered) >= 40  # dates, decimals, codes and integers across the tables
    context = ExportContext(study, open_snapshot(study), tmp_path, identified=True)
    seen = 0
    for table in tidy_tables():
        path = tidy_live.write_table(context, table, tmp_path / f"{table}.csv")
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            for row in reader:
                assert len(row) == len(header), (table, row)
                cells = dict(zip(header, row, strict=True))
                for (in_table, row_id, column), value in tampered.items():
                    if in_table == table and cells["record"] == str(row_id) and column in cells:
                        assert cells[column] == value, (table, column)
                        seen += 1
                if cells["visit"].startswith("D,"):
                    assert cells["visit"] == 'D,"1'
                if cells["site"]:
                    assert cells["usubjid"].split("-")[1] == cells["site"]
    assert seen == len(tampered)


def test_the_export_transaction_gets_the_planners_setting_back_after_each_table(study: Session, tmp_path: Path) -> None:
    """PostgreSQL's COPY of a table runs without nested loops (its workers then compute the cells); the SDTM,
    ADaM and other writers that read later in the same transaction plan with the server's own setting."""
    if study.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    context = ExportContext(study, open_snapshot(study), tmp_path)
    before = study.scalar(sa.text("SELECT current_setting('enable_nestloop')"))
    rows = tidy_live.write_table(context, "lab_result", tmp_path / "lab_result.csv").read_text().count("\n")
    assert rows > 100
    assert study.scalar(sa.text("SELECT current_setting('enable_nestloop')")) == before == "on"
