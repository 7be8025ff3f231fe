"""Column descriptions read from the models' ``#:`` comments (form help text and the data dictionary)."""

from __future__ import annotations

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
