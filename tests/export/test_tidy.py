"""Tidy CSV, the XLSX workbook and the data dictionary, read back with csv and openpyxl (both engines)."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.db import create_engine
from jk500db.export import tidy
from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.dictionary import data_dictionary, key_columns, table_columns, tidy_tables
from jk500db.export.snapshot import open_snapshot
from jk500db.models import AdverseEvent, Infusion, LabResult, Subject
from jk500db.models.vocabularies import MissingReason, RoleCode
from tests import factories
from tests.factories import act, user


def _export(study: Session, folder: Path, *, identified: bool = False) -> dict[str, Path]:
    context = ExportContext(study, open_snapshot(study), folder, identified=identified)
    return {path.name: path for path in tidy.write(context)}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def files(study_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One de-identified tidy export per engine, shared by the tests that only read it."""
    engine = create_engine(study_url)
    with Session(engine) as session:
        yield _export(session, tmp_path_factory.mktemp("tidy"))
    engine.dispose()


def test_one_csv_per_form_table_with_the_stable_keys_first(files: dict[str, Path]) -> None:
    assert {f"{t}.csv" for t in tidy_tables()} <= set(files)
    for table in tidy_tables():
        with files[f"{table}.csv"].open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert header[:6] == key_columns() == ["usubjid", "subject", "site", "visit", "visit_sequence", "record"]
        assert not {"id", "subject_id", "visit_id", "version"} & set(header), table


def test_counts_reconcile_with_the_database_and_removed_records_are_left_out(
    study: Session, files: dict[str, Path]
) -> None:
    for model, table in ((AdverseEvent, "adverse_event"), (Infusion, "infusion"), (LabResult, "lab_result")):
        live = study.scalar(sa.select(sa.func.count()).select_from(model).where(model.removed_at.is_(None)))
        assert len(_read(files[f"{table}.csv"])) == live, table
    subjects = _read(files["subject.csv"])
    assert len(subjects) == study.scalar(sa.select(sa.func.count()).select_from(Subject))
    assert all(row["usubjid"] == f"JK500-{row['site']}-{row['subject']}" for row in subjects)


def test_values_are_exported_as_entered_with_reasons_and_rules_in_their_own_columns(
    study: Session, tmp_path: Path
) -> None:
    act(study, user(study, RoleCode.DATA_MANAGER), reason="a result not done")
    subject_id = study.scalars(sa.select(Subject.id).order_by(Subject.id)).first()
    not_done = factories.lab_result(
        study, subject_id=subject_id, value=None, value_text=None, value_missing_reason=MissingReason.NOT_DONE
    )
    exported = _export(study, tmp_path)
    labs = _read(exported["lab_result.csv"])
    by_record = {int(row["record"]): row for row in labs}
    for lab in study.scalars(sa.select(LabResult).where(LabResult.removed_at.is_(None))):
        row = by_record[lab.id]
        assert row["value"] == ("" if lab.value is None else str(lab.value))  # Decimal text, scale kept
        assert row["value_missing_reason"] == ("" if lab.value_missing_reason is None else lab.value_missing_reason)
        assert row["grade_rule"] == (lab.grade_rule or "")
        assert row["collected_at"] == lab.collected_at.isoformat().replace("+00:00", "Z")
    assert by_record[not_done.id]["value"] == "" and by_record[not_done.id]["value_missing_reason"] == "not_done"
    aes = _read(exported["adverse_event.csv"])
    assert all(row["ctcae_term"] and row["meddra_code"].isdigit() for row in aes)


def test_de_identified_tables_hold_age_and_no_birth_date_or_names(files: dict[str, Path]) -> None:
    subjects = _read(files["subject.csv"])
    assert "birth_date" not in subjects[0] and "screening_number" not in subjects[0]
    assert all(0 <= int(row["age_at_consent"]) < 22 for row in subjects)
    assert "signer_name" not in _read(files["consent.csv"])[0]
    for path in files.values():
        if path.suffix == ".csv":
            assert "Synthetic guardian" not in path.read_text(encoding="utf-8"), path.name


def test_an_identified_export_keeps_the_birth_date(study: Session, tmp_path: Path) -> None:
    subjects = _read(_export(study, tmp_path, identified=True)["subject.csv"])
    assert all(dt.date.fromisoformat(row["birth_date"]) for row in subjects)


def test_the_workbook_holds_the_same_tables_typed(files: dict[str, Path]) -> None:
    workbook = openpyxl.load_workbook(files[tidy.WORKBOOK], read_only=True)
    assert workbook.sheetnames[0] == "data_dictionary"
    for table in ("subject", "adverse_event", "lab_result"):
        sheet_rows = list(workbook[table].iter_rows(values_only=True))
        csv_rows = _read(files[f"{table}.csv"])
        assert len(sheet_rows) - 1 == len(csv_rows)
        header = list(sheet_rows[0])
        for values, row in zip(sheet_rows[1:], csv_rows, strict=True):
            cells = dict(zip(header, values, strict=True))
            assert cells["usubjid"] == row["usubjid"] and cells["record"] == int(row["record"])
            if table == "lab_result" and row["value"]:
                assert Decimal(str(cells["value"])) == Decimal(row["value"])  # a number cell, not text
            if table == "lab_result":
                assert isinstance(cells["collected_at"], dt.datetime)
    workbook.close()


def test_formulas_typed_into_a_form_stay_text(study: Session, tmp_path: Path) -> None:
    """OWASP CSV injection: a free-text value starting with '=' is neutralised in CSV and a string in XLSX."""
    ae = study.scalars(sa.select(AdverseEvent).where(AdverseEvent.removed_at.is_(None))).first()
    assert ae is not None
    act(study, user(study, RoleCode.DATA_MANAGER), reason="formula test")
    ae.verbatim = '=HYPERLINK("http://x","y")'
    study.flush()
    files = _export(study, tmp_path)
    row = next(r for r in _read(files["adverse_event.csv"]) if int(r["record"]) == ae.id)
    assert row["verbatim"] == "'" + ae.verbatim
    workbook = openpyxl.load_workbook(files[tidy.WORKBOOK])
    sheet = workbook["adverse_event"]
    header = [cell.value for cell in sheet[1]]
    cell = next(r for r in sheet.iter_rows(min_row=2) if r[header.index("record")].value == ae.id)[
        header.index("verbatim")
    ]
    assert cell.data_type == "s" and cell.value == ae.verbatim


def test_two_exports_of_the_same_data_are_byte_identical(study: Session, tmp_path: Path) -> None:
    first, second = _export(study, tmp_path / "a"), _export(study, tmp_path / "b")
    assert set(first) == set(second)
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_the_dictionary_describes_every_exported_column(files: dict[str, Path]) -> None:
    entries = _read(files[tidy.DICTIONARY])
    described = {(row["table"], row["variable"]) for row in entries}
    for table in tidy_tables():
        for name in key_columns() + table_columns(table, identified=False):
            assert (table, name) in described, (table, name)
    by_key = {(row["table"], row["variable"]): row for row in entries}
    assert by_key[("drug_administration", "weight_kg")]["unit"] == "kg"
    assert by_key[("drug_administration", "planned_dose")]["origin"] == "derived"
    assert by_key[("drug_administration", "planned_dose")]["rule"] == "see column dose_rule"
    assert by_key[("lab_result", "ctcae_grade")]["rule"] == "see column grade_rule"
    assert "ALT" in by_key[("lab_result", "test_code")]["allowed_values"].split(" | ")
    assert by_key[("subject", "age_at_consent")]["origin"] == "export"
    for (table, name), row in by_key.items():
        if row["origin"] in ("collected", "derived"):
            assert row["label"], f"{table}.{name} has no description"
    assert [(e.table, e.variable) for e in data_dictionary(identified=False)] == [
        (row["table"], row["variable"]) for row in entries
    ]
    assert ("subject", "birth_date") not in described
    assert ("subject", "birth_date") in {(e.table, e.variable) for e in data_dictionary(identified=True)}


def test_the_tidy_folder_is_named_after_the_format(study: Session, tmp_path: Path) -> None:
    context = ExportContext(study, open_snapshot(study), tmp_path)
    assert all(path.parent == tmp_path / ExportFormat.TIDY.value for path in tidy.write(context))
