"""The study definition and the CTCAE term list load completely, exactly once, on both engines."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.clinical.settings import RuleSettings
from jk500db.errors import ValidationError
from jk500db.models import CtcaeTerm, RegimenItem, StudyDefinitionVersion, VisitDefinition
from jk500db.models.vocabularies import Agent, DoseBasis, FormCode, VisitAnchor
from jk500db.services.study_definition import (
    DEFAULT_DEFINITION,
    SEED_DATA_DIR,
    load_study_definition,
    parse_definition,
    rule_settings,
)
from jk500db.services.terminology import load_ctcae_terms

CTCAE_CSV = SEED_DATA_DIR / "ctcae_v5.0_terms.csv"
SHARED_CTCAE_SHA256 = "f8768495d3c19352ff3ef2fee3d118fcba7f8e9057a43917a023a30308b2e216"


def test_the_shipped_ctcae_file_is_the_referenced_one() -> None:
    """seed_data/ carries the shared reference CSV byte for byte (provenance in seed_data/README.md)."""
    assert hashlib.sha256(CTCAE_CSV.read_bytes()).hexdigest() == SHARED_CTCAE_SHA256


def test_all_837_ctcae_terms_load_once(session: Session) -> None:
    assert load_ctcae_terms(session, CTCAE_CSV) == 837
    assert load_ctcae_terms(session, CTCAE_CSV) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(CtcaeTerm)) == 837


def test_ctcae_terms_keep_meddra_code_soc_and_grade_texts(session: Session) -> None:
    load_ctcae_terms(session, CTCAE_CSV)
    neut = session.scalars(sa.select(CtcaeTerm).where(CtcaeTerm.term == "Neutrophil count decreased")).one()
    assert neut.meddra_code == "10029366"
    assert neut.soc == "Investigations"
    assert neut.grade_text(4) == "<500/mm3; <0.5 x 10e9 /L"
    assert neut.grade_text(5) is None  # NCI prints " -": grade not defined


def test_other_specify_terms_are_flagged(session: Session) -> None:
    load_ctcae_terms(session, CTCAE_CSV)
    flagged = session.scalar(sa.select(sa.func.count()).select_from(CtcaeTerm).where(CtcaeTerm.other_specify))
    with CTCAE_CSV.open(newline="", encoding="utf-8") as handle:
        expected = sum("Other, specify" in row["CTCAE Term"] for row in csv.DictReader(handle))
    assert flagged == expected > 0


def test_study_definition_loads_the_registered_regimen(session: Session) -> None:
    definition = load_study_definition(session)
    regimen = {item.agent: item for item in definition.regimen}
    assert regimen[Agent.CYCLOPHOSPHAMIDE].dose_amount == Decimal("60")
    assert regimen[Agent.CYCLOPHOSPHAMIDE].dose_basis is DoseBasis.MG_PER_KG
    assert regimen[Agent.CYCLOPHOSPHAMIDE].days == "-7"
    assert regimen[Agent.FLUDARABINE].dose_basis is DoseBasis.MG_PER_M2
    assert regimen[Agent.FLUDARABINE].days == "-6,-5,-4,-3,-2"
    assert regimen[Agent.FLUDARABINE].planned_doses == 5
    assert regimen[Agent.IL2].dose_basis is DoseBasis.WU_PER_M2
    assert regimen[Agent.IL2].planned_doses == 6


def test_study_definition_loads_the_schedule_with_windows_and_forms(session: Session) -> None:
    definition = load_study_definition(session)
    visits = {v.code: v for v in definition.visits}
    assert [v.code for v in definition.visits][:3] == ["SCR", "LD", "INF1"]
    assert visits["LD"].anchor is VisitAnchor.LYMPHODEPLETION_START
    assert visits["D28"].anchor is VisitAnchor.FIRST_INFUSION
    assert (visits["D28"].nominal_day, visits["D28"].window_before, visits["D28"].window_after) == (28, 0, 3)
    assert {f.form_code for f in visits["SCR"].expected_forms} >= {FormCode.CONSENT, FormCode.ELIGIBILITY}


def test_study_definition_settings_are_the_clinical_rules_defaults(session: Session) -> None:
    load_study_definition(session)
    assert rule_settings(session) == RuleSettings()


def test_reloading_an_unchanged_definition_changes_nothing(session: Session) -> None:
    first = load_study_definition(session)
    again = load_study_definition(session)
    assert again.id == first.id
    assert session.scalar(sa.select(sa.func.count()).select_from(StudyDefinitionVersion)) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(VisitDefinition)) == 16


def test_a_changed_definition_becomes_a_new_version_and_the_old_is_kept(session: Session, tmp_path: Path) -> None:
    first = load_study_definition(session)
    changed = tmp_path / "jk500_study.toml"
    changed.write_text(
        DEFAULT_DEFINITION.read_text()
        .replace('label = "1.0-draft"', 'label = "1.1"')
        .replace('[settings."dlt.window_days"]\nvalue = 28', '[settings."dlt.window_days"]\nvalue = 35')
    )
    second = load_study_definition(session, changed, now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert second.version == first.version + 1
    assert second.active and not first.active
    assert rule_settings(session).dlt_window_days == 35
    assert session.scalar(sa.select(sa.func.count()).select_from(RegimenItem)) == 8  # both versions kept


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('anchor = "first_infusion"', 'anchor = "day_minus_3"', "visits[2].anchor"),
        ('dose_basis = "mg/kg"', 'dose_basis = "mg/lb"', "regimen[0].dose_basis"),
        ('[settings."dlt.window_days"]', '[settings."dlt.window_weeks"]', "settings"),
        ('"consent", "demographics"', '"consent", "demografics"', "visits[0].forms"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_place(old: str, new: str, field: str) -> None:
    text = DEFAULT_DEFINITION.read_text()
    assert old in text
    with pytest.raises(ValidationError) as caught:
        parse_definition(text.replace(old, new, 1))
    assert caught.value.field == field
