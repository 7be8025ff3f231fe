"""Column descriptions read from the models' ``#:`` comments (form help text and the data dictionary)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from jk500db.models import Base, ClinicalRecord, LabResult, Subject
from jk500db.models.docs import column_doc, column_docs, unit_of


def test_every_column_of_every_form_table_has_a_description() -> None:
    for mapper in Base.registry.mappers:
        if not issubclass(mapper.class_, ClinicalRecord) or not isinstance(mapper.local_table, sa.Table):
            continue
        docs = column_docs(mapper.class_)
        missing = [c.key for c in mapper.columns if not docs.get(c.key)]
        assert not missing, f"{mapper.class_.__name__}: {missing}"


def test_descriptions_are_the_comment_text_including_what_mixins_declare() -> None:
    assert column_doc(LabResult, "value_text") == "the value exactly as written on the report."
    assert column_doc(LabResult, "subject_id") == "the subject this record belongs to."  # SubjectRecord mixin
    assert column_doc(Subject, "removed_at").startswith("set instead of deleting the row")  # ClinicalRecord
    assert column_doc(Subject, "no_such_column") == ""


def test_units_come_from_the_column_name() -> None:
    names = ("weight_kg", "height_cm", "viability_pct", "bsa_m2", "dose_cells_per_kg", "grade")
    assert [unit_of(n) for n in names] == ["kg", "cm", "%", "m²", "cells/kg", None]


SCANNED = '''
class Outer:
    """A docstring:
    not_documented: int
    """

    #: first line,
    #: second line.

    kept: int
    # a plain comment ends a block
    dropped: int
    #: the inner class's own.
    class Inner:
        #: inside.
        inner: int

    @classmethod
    def made(cls) -> int:
        #: by the function's name.
        return 1


#: outside any class.
after: int
'''


def test_comments_are_read_line_by_line_into_each_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scanned_models.py").write_text(SCANNED)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("scanned_models")
    assert column_docs(module.Outer) == {
        "kept": "first line, second line.",
        "class": "the inner class's own.",
        "inner": "inside.",
        "made": "by the function's name.",
    }
    assert column_docs(module.Outer.Inner) == {"inner": "inside."}
