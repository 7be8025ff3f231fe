"""CTCAE v5.0 lab, febrile-neutropenia and fever grading (jk500db.clinical.ctcae).

Every table quotes the CTCAE v5.0 grade text it checks (from seed_data/ctcae_v5.0_terms.csv, NCI's
2017-11-27 term list) and
tests each printed boundary from both sides. Ranges read as in CLINICAL_RULES.md: "<A - B" means B <= v < A,
">A - B" means A < v <= B.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jk500db.clinical import ctcae
from jk500db.clinical.numbers import ClinicalInputError, Number
from jk500db.clinical.settings import RuleSettings

CTCAE_CSV = Path(__file__).resolve().parents[2] / "seed_data" / "ctcae_v5.0_terms.csv"

# --------------------------------------------------------------------------------------------- cytopenias

# "Neutrophil count decreased": G1 "<LLN - 1500/mm3; <LLN - 1.5 x 10e9 /L", G2 "<1500 - 1000/mm3; <1.5 - 1.0 x
# 10e9 /L", G3 "<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L", G4 "<500/mm3; <0.5 x 10e9 /L".
# "Platelet count decreased": G1 "<LLN - 75.0 x 10e9 /L", G2 "<75.0 - 50.0 x 10e9 /L", G3 "<50.0 - 25.0 x 10e9 /L",
# G4 "<25.0 x 10e9 /L". "White blood cell decreased": G1 "<LLN - 3.0 x 10e9 /L", G2 "<3.0 - 2.0 x 10e9 /L",
# G3 "<2.0 - 1.0 x 10e9 /L", G4 "<1.0 x 10e9 /L". "Lymphocyte count decreased": G1 "<LLN - 0.8 x 10e9/L",
# G2 "<0.8 - 0.5 x 10e9 /L", G3 "<0.5 - 0.2 x 10e9 /L", G4 "<0.2 x 10e9 /L".
# Columns: test, value, unit, LLN (same unit), expected grade.
CYTOPENIA_TABLE = [
    ("NEUT", "2.0", "10^9/L", "2.0", 0),
    ("NEUT", "1.999", "10^9/L", "2.0", 1),
    ("NEUT", "1.5", "10^9/L", "2.0", 1),
    ("NEUT", "1.499", "10^9/L", "2.0", 2),
    ("NEUT", "1.0", "10^9/L", "2.0", 2),
    ("NEUT", "0.999", "10^9/L", "2.0", 3),
    ("NEUT", "0.5", "10^9/L", "2.0", 3),
    ("NEUT", "0.499", "10^9/L", "2.0", 4),
    ("NEUT", "0", "10^9/L", "2.0", 4),
    ("NEUT", "2000", "/uL", "2000", 0),
    ("NEUT", "1500", "/uL", "2000", 1),
    ("NEUT", "1499", "/uL", "2000", 2),
    ("NEUT", "1000", "/uL", "2000", 2),
    ("NEUT", "999", "/uL", "2000", 3),
    ("NEUT", "500", "/uL", "2000", 3),
    ("NEUT", "499", "/uL", "2000", 4),
    ("NEUT", "499", "/mm3", "2000", 4),  # /mm3 is /uL
    ("PLAT", "150", "10^9/L", "150", 0),
    ("PLAT", "149.9", "10^9/L", "150", 1),
    ("PLAT", "75.0", "10^9/L", "150", 1),
    ("PLAT", "74.9", "10^9/L", "150", 2),
    ("PLAT", "50.0", "10^9/L", "150", 2),
    ("PLAT", "49.9", "10^9/L", "150", 3),
    ("PLAT", "25.0", "10^9/L", "150", 3),
    ("PLAT", "24.9", "10^9/L", "150", 4),
    ("PLAT", "75000", "/uL", "150000", 1),
    ("PLAT", "74999", "/uL", "150000", 2),
    ("PLAT", "25000", "/uL", "150000", 3),
    ("PLAT", "24999", "/uL", "150000", 4),
    ("WBC", "4.0", "10^9/L", "4.0", 0),
    ("WBC", "3.99", "10^9/L", "4.0", 1),
    ("WBC", "3.0", "10^9/L", "4.0", 1),
    ("WBC", "2.99", "10^9/L", "4.0", 2),
    ("WBC", "2.0", "10^9/L", "4.0", 2),
    ("WBC", "1.99", "10^9/L", "4.0", 3),
    ("WBC", "1.0", "10^9/L", "4.0", 3),
    ("WBC", "0.99", "10^9/L", "4.0", 4),
    ("WBC", "2999", "/uL", "4000", 2),
    ("LYM", "1.0", "10^9/L", "1.0", 0),
    ("LYM", "0.99", "10^9/L", "1.0", 1),
    ("LYM", "0.8", "10^9/L", "1.0", 1),
    ("LYM", "0.79", "10^9/L", "1.0", 2),
    ("LYM", "0.5", "10^9/L", "1.0", 2),
    ("LYM", "0.49", "10^9/L", "1.0", 3),
    ("LYM", "0.2", "10^9/L", "1.0", 3),
    ("LYM", "0.19", "10^9/L", "1.0", 4),
    ("LYM", "199", "/uL", "1000", 4),
    # CLINICAL_RULES.md: literal reading even when a paediatric LLN lies below t1.
    ("NEUT", "1.3", "10^9/L", "1.2", 2),
    ("NEUT", "1.2", "10^9/L", "1.2", 2),
    ("LYM", "0.7", "10^9/L", "0.6", 2),
]


@pytest.mark.parametrize(("test", "value", "unit", "lln", "expected"), CYTOPENIA_TABLE)
def test_cytopenia_grades_follow_ctcae_printed_ranges(
    test: str, value: str, unit: str, lln: str, expected: int
) -> None:
    assert ctcae.grade_lab(test, value, unit, lln=lln).grade == expected


def test_neutropenia_reason_names_value_threshold_grade_and_term() -> None:
    result = ctcae.grade_lab("NEUT", "0.4", "10^9/L", lln="1.8")
    assert result.reasons[0].startswith("ANC 0.4 x10^9/L < 0.5: grade 4 (CTCAE v5.0 Neutrophil count decreased")
    assert result.term == "Neutrophil count decreased"
    assert result.rule_id == "ctcae5.lab.NEUT"
    assert result.rule_version == ctcae.RULE_VERSION


def test_count_per_microlitre_is_divided_by_1000_exactly() -> None:
    result = ctcae.grade_lab("NEUT", 1500, "/uL", lln=1800)
    assert result.grade == 1
    assert "1500 /uL = 1.5 x10^9/L" in result.reasons[0]


# No LLN: grade 1 cannot be decided; the thresholds still grade and the reasons say G1 was not assessable.
NO_LLN_TABLE = [
    ("NEUT", "1.5", 0),
    ("NEUT", "1.499", 2),
    ("PLAT", "100", 0),
    ("WBC", "0.5", 4),
    ("LYM", "0.79", 2),
]


@pytest.mark.parametrize(("test", "value", "expected"), NO_LLN_TABLE)
def test_cytopenia_without_lln_grades_thresholds_and_says_grade_1_not_assessable(
    test: str, value: str, expected: int
) -> None:
    result = ctcae.grade_lab(test, value, "10^9/L")
    assert result.grade == expected
    assert any("not assessable" in reason for reason in result.reasons) == (expected == 0)


# ------------------------------------------------------------------------------------------------- anaemia

# "Anemia": G1 "Hemoglobin (Hgb) <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L", G2 "Hgb <10.0 - 8.0 g/dL;
# <6.2 - 4.9 mmol/L; <100 - 80g/L", G3 "Hgb <8.0 g/dL; <4.9 mmol/L; <80 g/L; transfusion indicated",
# G4 "Life-threatening consequences; urgent intervention indicated".
# Columns: value, unit, LLN, transfusion indicated, life-threatening, expected.
ANEMIA_TABLE = [
    ("11.5", "g/dL", "11.5", False, False, 0),
    ("11.4", "g/dL", "11.5", False, False, 1),
    ("10.0", "g/dL", "11.5", False, False, 1),
    ("9.9", "g/dL", "11.5", False, False, 2),
    ("8.0", "g/dL", "11.5", False, False, 2),
    ("7.9", "g/dL", "11.5", False, False, 3),
    ("115", "g/L", "115", False, False, 0),
    ("114", "g/L", "115", False, False, 1),
    ("100", "g/L", "115", False, False, 1),
    ("99", "g/L", "115", False, False, 2),
    ("80", "g/L", "115", False, False, 2),
    ("79", "g/L", "115", False, False, 3),
    ("7.1", "mmol/L", "7.1", False, False, 0),
    ("7.0", "mmol/L", "7.1", False, False, 1),
    ("6.2", "mmol/L", "7.1", False, False, 1),
    ("6.19", "mmol/L", "7.1", False, False, 2),
    ("4.9", "mmol/L", "7.1", False, False, 2),
    ("4.89", "mmol/L", "7.1", False, False, 3),
    ("12.0", "g/dL", "11.5", True, False, 3),  # "; transfusion indicated" is an alternative to the value
    ("9.0", "g/dL", "11.5", True, False, 3),
    ("7.0", "g/dL", "11.5", True, False, 3),
    ("7.0", "g/dL", "11.5", False, True, 4),
    ("10.5", "g/dL", None, False, False, 0),  # no LLN: G1 not assessable
    ("9.9", "g/dL", None, False, False, 2),
]


@pytest.mark.parametrize(("value", "unit", "lln", "transfusion", "life", "expected"), ANEMIA_TABLE)
def test_anemia_grades_in_reported_unit_with_ctcae_printed_thresholds(
    value: str, unit: str, lln: str | None, transfusion: bool, life: bool, expected: int
) -> None:
    result = ctcae.grade_lab("HGB", value, unit, lln=lln, transfusion_indicated=transfusion, life_threatening=life)
    assert result.grade == expected
    assert result.term == "Anemia"


# ----------------------------------------------------------------------------------------------- ALT / AST

# "Alanine aminotransferase increased" / "Aspartate aminotransferase increased": G1 ">ULN - 3.0 x ULN if
# baseline was normal; 1.5 - 3.0 x baseline if baseline was abnormal", G2 ">3.0 - 5.0 x ULN ...; >3.0 - 5.0 x
# baseline ...", G3 ">5.0 - 20.0 x ULN ...; >5.0 - 20.0 x baseline ...", G4 ">20.0 x ULN ...; >20.0 x baseline".
# Abnormal baseline = baseline > ULN. Columns: value, ULN, baseline, expected.
TRANSAMINASE_TABLE = [
    # normal baseline (or none): r = v / ULN
    ("40", "40", None, 0),
    ("40.01", "40", None, 1),
    ("120", "40", None, 1),
    ("120.01", "40", None, 2),
    ("200", "40", None, 2),
    ("200.01", "40", None, 3),
    ("800", "40", None, 3),
    ("800.01", "40", None, 4),
    ("41", "40", "30", 1),
    ("120.01", "40", "30", 2),
    ("41", "40", "40", 1),  # baseline = ULN is normal
    # abnormal baseline 60 > ULN 40: r = v / baseline; 1.5 is inclusive for G1 (no ">" printed)
    ("50", "40", "60", 0),  # above ULN but < 1.5 x baseline
    ("89.99", "40", "60", 0),
    ("90", "40", "60", 1),
    ("180", "40", "60", 1),
    ("180.01", "40", "60", 2),
    ("300", "40", "60", 2),
    ("300.01", "40", "60", 3),
    ("1200", "40", "60", 3),
    ("1200.01", "40", "60", 4),
]


@pytest.mark.parametrize("test", ["ALT", "AST"])
@pytest.mark.parametrize(("value", "uln", "baseline", "expected"), TRANSAMINASE_TABLE)
def test_transaminase_grades_by_uln_or_abnormal_baseline(
    test: str, value: str, uln: str, baseline: str | None, expected: int
) -> None:
    assert ctcae.grade_lab(test, value, "U/L", uln=uln, baseline=baseline).grade == expected


# ----------------------------------------------------------------------------------------------- bilirubin

# "Blood bilirubin increased": G1 ">ULN - 1.5 x ULN if baseline was normal; > 1.0 - 1.5 x baseline if baseline
# was abnormal", G2 ">1.5 - 3.0 x ULN ...; >1.5 - 3.0 x baseline", G3 ">3.0 - 10.0 x ULN ...; >3.0 - 10.0 x
# baseline", G4 ">10.0 x ULN ...; >10.0 x baseline". Columns: value, unit, ULN, baseline, expected.
BILIRUBIN_TABLE = [
    ("1.0", "mg/dL", "1.0", None, 0),
    ("1.01", "mg/dL", "1.0", None, 1),
    ("1.5", "mg/dL", "1.0", None, 1),
    ("1.51", "mg/dL", "1.0", None, 2),
    ("3.0", "mg/dL", "1.0", None, 2),
    ("3.01", "mg/dL", "1.0", None, 3),
    ("10.0", "mg/dL", "1.0", None, 3),
    ("10.01", "mg/dL", "1.0", None, 4),
    ("17", "umol/L", "17", None, 0),
    ("25.5", "umol/L", "17", None, 1),
    ("25.6", "umol/L", "17", None, 2),
    ("51", "umol/L", "17", None, 2),
    ("51.1", "umol/L", "17", None, 3),
    ("170", "umol/L", "17", None, 3),
    ("170.1", "umol/L", "17", None, 4),
    ("1.2", "mg/dL", "1.0", "0.8", 1),  # normal baseline
    # abnormal baseline 2.0 > ULN 1.0
    ("2.0", "mg/dL", "1.0", "2.0", 0),
    ("2.01", "mg/dL", "1.0", "2.0", 1),
    ("3.0", "mg/dL", "1.0", "2.0", 1),
    ("3.01", "mg/dL", "1.0", "2.0", 2),
    ("6.0", "mg/dL", "1.0", "2.0", 2),
    ("6.01", "mg/dL", "1.0", "2.0", 3),
    ("20.0", "mg/dL", "1.0", "2.0", 3),
    ("20.01", "mg/dL", "1.0", "2.0", 4),
]


@pytest.mark.parametrize(("value", "unit", "uln", "baseline", "expected"), BILIRUBIN_TABLE)
def test_bilirubin_grades_by_uln_or_abnormal_baseline(
    value: str, unit: str, uln: str, baseline: str | None, expected: int
) -> None:
    assert ctcae.grade_lab("BILI", value, unit, uln=uln, baseline=baseline).grade == expected


# ---------------------------------------------------------------------------------------------- creatinine

# "Creatinine increased": G1 ">ULN - 1.5 x ULN", G2 ">1.5 - 3.0 x baseline; >1.5 - 3.0 x ULN",
# G3 ">3.0 x baseline; >3.0 - 6.0 x ULN", G4 ">6.0 x ULN". Grade = the higher of the two criteria.
# Columns: value, ULN, baseline, expected.
CREATININE_TABLE = [
    ("0.7", "0.7", None, 0),
    ("0.71", "0.7", None, 1),
    ("1.05", "0.7", None, 1),
    ("1.06", "0.7", None, 2),
    ("2.1", "0.7", None, 2),  # exactly 3.0 x ULN (the float trap)
    ("2.11", "0.7", None, 3),
    ("4.2", "0.7", None, 3),
    ("4.21", "0.7", None, 4),
    # baseline criterion decides (ULN 1.0, baseline 0.4)
    ("0.6", "1.0", "0.4", 0),  # 1.5 x baseline, not > 1.5; not > ULN
    ("0.61", "1.0", "0.4", 2),
    ("1.2", "1.0", "0.4", 2),  # 3.0 x baseline; 1.2 x ULN is only G1
    ("1.21", "1.0", "0.4", 3),
    # ULN criterion decides (baseline high)
    ("3.1", "0.5", "1.0", 4),  # 6.2 x ULN; 3.1 x baseline is G3
    ("0.8", "0.7", "0.7", 1),  # v5.0 has no baseline criterion in G1
]


@pytest.mark.parametrize(("value", "uln", "baseline", "expected"), CREATININE_TABLE)
def test_creatinine_grade_is_higher_of_uln_and_baseline_criteria(
    value: str, uln: str, baseline: str | None, expected: int
) -> None:
    assert ctcae.grade_lab("CREAT", value, "mg/dL", uln=uln, baseline=baseline).grade == expected


# CLINICAL_RULES.md: "creatinine 2.1 with ULN 0.7 is exactly 3.0 x ULN = G2", whatever type carries it.
# (As binary floats 2.1 / 0.7 = 3.0000000000000004, which would be G3.)
@pytest.mark.parametrize(
    ("value", "uln"),
    [("2.1", "0.7"), (2.1, 0.7), (Decimal("2.1"), Decimal("0.7")), (21, 7), ("2.10", 0.70)],
)
def test_creatinine_exactly_three_times_uln_is_grade_2_for_every_input_type(value: Number, uln: Number) -> None:
    assert ctcae.grade_lab("CREAT", value, "mg/dL", uln=uln).grade == 2


def test_creatinine_umol_per_litre_is_graded_by_ratio() -> None:
    assert ctcae.grade_lab("CREAT", "185.6", "umol/L", uln="61.87").grade == 2  # 2.9999 x ULN


# --------------------------------------------------------------------------------------------- hypokalaemia

# "Hypokalemia": G1 "<LLN - 3.0 mmol/L", G2 "Symptomatic with <LLN - 3.0 mmol/L; intervention indicated",
# G3 "<3.0 - 2.5 mmol/L; hospitalization indicated", G4 "<2.5 mmol/L; life-threatening consequences".
# Columns: value, LLN, symptomatic, intervention, hospitalization, life-threatening, expected.
HYPOKALEMIA_TABLE = [
    ("3.5", "3.5", False, False, False, False, 0),
    ("3.49", "3.5", False, False, False, False, 1),
    ("3.0", "3.5", False, False, False, False, 1),
    ("2.99", "3.5", False, False, False, False, 3),
    ("2.5", "3.5", False, False, False, False, 3),
    ("2.49", "3.5", False, False, False, False, 4),
    ("3.0", "3.5", True, False, False, False, 2),
    ("3.49", "3.5", True, False, False, False, 2),
    ("3.5", "3.5", True, False, False, False, 0),  # symptomatic alone is not hypokalaemia
    ("2.9", "3.5", True, False, False, False, 3),
    ("3.6", "3.5", False, True, False, False, 2),  # "; intervention indicated" is an alternative
    ("3.2", "3.5", False, True, False, False, 2),
    ("3.4", "3.5", False, False, True, False, 3),
    ("3.4", "3.5", False, False, False, True, 4),
    ("3.2", None, True, False, False, False, 0),  # no LLN: symptomatic G2 not assessable
    ("2.9", None, False, False, False, False, 3),
    ("3.2", None, False, True, False, False, 2),
]


@pytest.mark.parametrize(
    ("value", "lln", "symptomatic", "intervention", "hospitalization", "life", "expected"), HYPOKALEMIA_TABLE
)
def test_hypokalemia_grades_by_value_and_clinical_criteria(
    value: str,
    lln: str | None,
    symptomatic: bool,
    intervention: bool,
    hospitalization: bool,
    life: bool,
    expected: int,
) -> None:
    result = ctcae.grade_lab(
        "K",
        value,
        "mmol/L",
        lln=lln,
        symptomatic=symptomatic,
        intervention_indicated=intervention,
        hospitalization_indicated=hospitalization,
        life_threatening=life,
    )
    assert result.grade == expected
    if lln is None and expected == 0:
        assert any("not assessable" in reason for reason in result.reasons)


# ---------------------------------------------------------------------------------------- hypophosphataemia

# "Hypophosphatemia": G1 "Laboratory finding only and intervention not indicated", G2 "Oral replacement therapy
# indicated", G3 "Severe or medically significant but not immediately life-threatening; hospitalization or
# prolongation of existing hospitalization indicated", G4 "Life-threatening consequences". No numbers: < LLN is G1.
# Columns: value, unit, LLN, oral replacement, hospitalization, life-threatening, expected.
HYPOPHOSPHATEMIA_TABLE = [
    ("1.0", "mmol/L", "1.0", False, False, False, 0),
    ("0.99", "mmol/L", "1.0", False, False, False, 1),
    ("0.3", "mmol/L", "1.0", False, False, False, 1),  # no numeric G2-G4 in v5.0
    ("0.5", "mmol/L", "1.0", True, False, False, 2),
    ("0.5", "mmol/L", "1.0", False, True, False, 3),
    ("0.5", "mmol/L", "1.0", True, True, True, 4),
    ("3.0", "mg/dL", "3.0", False, False, False, 0),
    ("2.9", "mg/dL", "3.0", False, False, False, 1),
    ("2.9", "mg/dL", None, False, False, False, 0),  # no LLN: G1 not assessable
    ("2.9", "mg/dL", None, True, False, False, 2),
]


@pytest.mark.parametrize(("value", "unit", "lln", "oral", "hospital", "life", "expected"), HYPOPHOSPHATEMIA_TABLE)
def test_hypophosphatemia_grades_by_lln_and_clinical_criteria(
    value: str, unit: str, lln: str | None, oral: bool, hospital: bool, life: bool, expected: int
) -> None:
    result = ctcae.grade_lab(
        "PHOS",
        value,
        unit,
        lln=lln,
        oral_replacement_indicated=oral,
        hospitalization_indicated=hospital,
        life_threatening=life,
    )
    assert result.grade == expected


# ----------------------------------------------------------------------------------------------- fibrinogen

# "Fibrinogen decreased": G1 "<1.0 - 0.75 x LLN; if abnormal, <25% decrease from baseline", G2 "<0.75 - 0.5 x LLN;
# if abnormal, 25 - <50% decrease from baseline", G3 "<0.5 - 0.25 x LLN; if abnormal, 50 - <75% decrease from
# baseline", G4 "<0.25 x LLN; if abnormal, 75% decrease from baseline; absolute value <50 mg/dL".
# Abnormal baseline = baseline < LLN. Columns: value, unit, LLN, baseline, expected.
FIBRINOGEN_TABLE = [
    # normal baseline (or none): r = v / LLN
    ("2.0", "g/L", "2.0", None, 0),
    ("1.99", "g/L", "2.0", None, 1),
    ("1.5", "g/L", "2.0", None, 1),
    ("1.49", "g/L", "2.0", None, 2),
    ("1.0", "g/L", "2.0", None, 2),
    ("0.99", "g/L", "2.0", None, 3),
    ("0.5", "g/L", "2.0", None, 3),  # 0.25 x LLN exactly, and not < 0.5 g/L absolute
    ("0.499", "g/L", "2.0", None, 4),
    ("1.99", "g/L", "2.0", "2.0", 1),  # baseline = LLN is normal
    ("1.99", "g/L", "2.0", "3.0", 1),
    # absolute value <50 mg/dL (0.5 g/L) is G4 whatever the ratio
    ("50", "mg/dL", "150", None, 3),  # 0.33 x LLN
    ("49.9", "mg/dL", "150", None, 4),
    ("0.5", "g/L", "1.5", None, 3),
    ("0.49", "g/L", "1.5", None, 4),
    # abnormal baseline 240 < LLN 300 mg/dL: d = (baseline - v) / baseline x 100
    ("250", "mg/dL", "300", "240", 0),  # increase
    ("240", "mg/dL", "300", "240", 0),  # no decrease
    ("239", "mg/dL", "300", "240", 1),
    ("181", "mg/dL", "300", "240", 1),  # 24.58 %
    ("180", "mg/dL", "300", "240", 2),  # 25 %
    ("121", "mg/dL", "300", "240", 2),
    ("120", "mg/dL", "300", "240", 3),  # 50 %
    ("61", "mg/dL", "300", "240", 3),
    ("60", "mg/dL", "300", "240", 4),  # 75 %
    ("49", "mg/dL", "300", "240", 4),
]


@pytest.mark.parametrize(("value", "unit", "lln", "baseline", "expected"), FIBRINOGEN_TABLE)
def test_fibrinogen_grades_by_lln_ratio_or_decrease_from_abnormal_baseline(
    value: str, unit: str, lln: str, baseline: str | None, expected: int
) -> None:
    assert ctcae.grade_lab("FIBRINO", value, unit, lln=lln, baseline=baseline).grade == expected


# ------------------------------------------------------------------------------------- febrile neutropenia

# "Febrile neutropenia": G3 "ANC <1000/mm3 with a single temperature of >38.3 degrees C (101 degrees F) or a
# sustained temperature of >=38 degrees C (100.4 degrees F) for more than one hour"; G1 and G2 " -".
# Columns: ANC, unit, max temperature, minutes at or above 38.0, expected.
FEBRILE_NEUTROPENIA_TABLE = [
    ("0.999", "10^9/L", "38.4", 0, 3),
    ("1.0", "10^9/L", "39.5", 0, 0),
    ("0.5", "10^9/L", "38.3", 0, 0),
    ("0.5", "10^9/L", "38.31", 0, 3),
    ("0.5", "10^9/L", "38.0", 61, 3),
    ("0.5", "10^9/L", "38.0", 60, 0),
    ("0.5", "10^9/L", "37.9", 0, 0),
    ("999", "/uL", "38.5", 0, 3),
    ("1000", "/uL", "38.5", 0, 0),
]


@pytest.mark.parametrize(("anc", "unit", "temp", "minutes", "expected"), FEBRILE_NEUTROPENIA_TABLE)
def test_febrile_neutropenia_needs_anc_below_1_and_qualifying_fever(
    anc: str, unit: str, temp: str, minutes: int, expected: int
) -> None:
    result = ctcae.grade_febrile_neutropenia(anc=anc, unit=unit, max_temp_c=temp, minutes_at_or_above_38=minutes)
    assert result.grade == expected
    assert result.term == "Febrile neutropenia"


# -------------------------------------------------------------------------------------------------- fever

# "Fever": G1 "38.0 - 39.0 degrees C (100.4 - 102.2 degrees F)", G2 ">39.0 - 40.0 degrees C (102.3 - 104.0
# degrees F)", G3 ">40.0 degrees C (>104.0 degrees F) for <=24 hrs", G4 ">40.0 degrees C (>104.0 degrees F)
# for >24 hrs". Columns: max temperature, hours above 40, expected.
FEVER_TABLE = [
    ("37.9", 0, 0),
    ("38.0", 0, 1),
    ("39.0", 0, 1),
    ("39.01", 0, 2),
    ("40.0", 0, 2),
    ("40.01", 0, 3),
    ("40.5", 24, 3),
    ("40.5", "24.01", 4),
    (38, 0, 1),
    (39.0, 0, 1),
    (Decimal("40.1"), 30, 4),
]


@pytest.mark.parametrize(("temp", "hours", "expected"), FEVER_TABLE)
def test_fever_grades_by_temperature_and_duration_above_40(temp: Number, hours: Number, expected: int) -> None:
    result = ctcae.grade_fever(max_temp_c=temp, hours_above_40=hours)
    assert result.grade == expected
    assert result.term == "Fever"
    assert result.rule_id == "ctcae5.fever"


# ------------------------------------------------------------------------------------- types, terms, settings


@pytest.mark.parametrize("value", ["0.4", Decimal("0.4"), 0.4, " 0.4 "])
def test_value_types_string_decimal_float_grade_alike(value: Number) -> None:
    assert ctcae.grade_lab("NEUT", value, "10^9/L", lln=2).grade == 4


def test_integer_count_per_microlitre_grades() -> None:
    assert ctcae.grade_lab("NEUT", 400, "/uL", lln=Decimal(1800)).grade == 4


TERMS = {
    "NEUT": "Neutrophil count decreased",
    "PLAT": "Platelet count decreased",
    "WBC": "White blood cell decreased",
    "LYM": "Lymphocyte count decreased",
    "HGB": "Anemia",
    "ALT": "Alanine aminotransferase increased",
    "AST": "Aspartate aminotransferase increased",
    "BILI": "Blood bilirubin increased",
    "CREAT": "Creatinine increased",
    "K": "Hypokalemia",
    "PHOS": "Hypophosphatemia",
    "FIBRINO": "Fibrinogen decreased",
}
UNITS = {
    "NEUT": "10^9/L",
    "PLAT": "10^9/L",
    "WBC": "10^9/L",
    "LYM": "10^9/L",
    "HGB": "g/dL",
    "ALT": "U/L",
    "AST": "U/L",
    "BILI": "mg/dL",
    "CREAT": "mg/dL",
    "K": "mmol/L",
    "PHOS": "mmol/L",
    "FIBRINO": "g/L",
}


@pytest.mark.parametrize(("test", "term"), TERMS.items())
def test_each_test_code_reports_its_ctcae_term_and_rule_id(test: str, term: str) -> None:
    result = ctcae.grade_lab(test, "1", UNITS[test], lln="1", uln="1")
    assert result.term == term
    assert result.rule_id == f"ctcae5.lab.{test}"
    assert result.settings == {"ctcae.baseline_anchor": "first_lymphodepletion"}
    assert result.reasons


def test_settings_used_are_recorded() -> None:
    settings = RuleSettings(ctcae_baseline_anchor="screening")
    result = ctcae.grade_lab("ALT", "100", "U/L", uln="40", settings=settings)
    assert result.settings == {"ctcae.baseline_anchor": "screening"}


def test_flag_that_is_not_a_criterion_of_the_term_is_reported_and_not_used() -> None:
    result = ctcae.grade_lab("ALT", "50", "U/L", uln="40", symptomatic=True, transfusion_indicated=True)
    assert result.grade == 1
    assert any("symptomatic is not a criterion" in reason for reason in result.reasons)
    assert any("transfusion_indicated is not a criterion" in reason for reason in result.reasons)


def _csv_rows() -> dict[str, dict[str, str]]:
    with CTCAE_CSV.open(encoding="utf-8", newline="") as handle:
        return {row["CTCAE Term"]: row for row in csv.DictReader(handle)}


def _quoted_steps() -> list[tuple[str, int, str]]:
    """(term, grade, printed text) of every threshold row in ctcae's tables."""
    quoted: list[tuple[str, int, str]] = []
    for spec in ctcae.CYTOPENIAS.values():
        quoted += [(spec.term, step.grade, step.printed) for step in spec.steps]
        quoted.append((spec.term, 1, spec.grade1_printed))
    for steps in ctcae.HGB_STEPS.values():
        quoted += [("Anemia", step.grade, step.printed) for step in steps]
    quoted += [("Anemia", 1, printed) for printed in ctcae.HGB_GRADE1_PRINTED.values()]
    tables = [
        ("Alanine aminotransferase increased", ctcae.TRANSAMINASE_NORMAL_BASELINE),
        ("Alanine aminotransferase increased", ctcae.TRANSAMINASE_ABNORMAL_BASELINE),
        ("Aspartate aminotransferase increased", ctcae.TRANSAMINASE_NORMAL_BASELINE),
        ("Aspartate aminotransferase increased", ctcae.TRANSAMINASE_ABNORMAL_BASELINE),
        ("Blood bilirubin increased", ctcae.BILIRUBIN_NORMAL_BASELINE),
        ("Blood bilirubin increased", ctcae.BILIRUBIN_ABNORMAL_BASELINE),
        ("Creatinine increased", ctcae.CREATININE_BY_ULN),
        ("Creatinine increased", ctcae.CREATININE_BY_BASELINE),
        ("Hypokalemia", ctcae.HYPOKALEMIA_STEPS),
        ("Fibrinogen decreased", ctcae.FIBRINOGEN_BY_LLN),
        ("Fibrinogen decreased", ctcae.FIBRINOGEN_BY_DECREASE_PCT),
        ("Fibrinogen decreased", tuple(ctcae.FIBRINOGEN_ABSOLUTE_G4.values())),
        ("Fever", ctcae.FEVER_STEPS),
    ]
    quoted += [("Febrile neutropenia", 3, ctcae.FN_PRINTED), ("Fever", 4, ctcae.FEVER_G4_PRINTED)]
    for term, steps in tables:
        quoted += [(term, step.grade, step.printed) for step in steps]
    return quoted


@pytest.mark.parametrize(("term", "grade", "printed"), _quoted_steps())
def test_every_threshold_row_quotes_the_ctcae_grade_text_it_implements(term: str, grade: int, printed: str) -> None:
    assert printed in _csv_rows()[term][f"Grade {grade}"]


def test_term_names_are_spelled_as_in_ctcae() -> None:
    rows = _csv_rows()
    for term in [*TERMS.values(), "Febrile neutropenia", "Fever"]:
        assert term in rows


# --------------------------------------------------------------------------------------------- bad input

BAD_LAB_INPUT = [
    (("NEUTX", "1", "10^9/L"), {}, "test"),
    (("NEUT", "1", "g/dL"), {}, "unit"),
    (("HGB", "10", "U/L"), {}, "unit"),
    (("K", "3", "mg/dL"), {}, "unit"),
    (("ALT", "30", "mg/dL"), {"uln": "40"}, "unit"),
    (("ALT", "30", "U/L"), {}, "uln"),
    (("AST", "30", "U/L"), {}, "uln"),
    (("BILI", "1", "mg/dL"), {}, "uln"),
    (("CREAT", "1", "mg/dL"), {}, "uln"),
    (("FIBRINO", "1", "g/L"), {}, "lln"),
    (("NEUT", "-0.1", "10^9/L"), {}, "value"),
    (("NEUT", "abc", "10^9/L"), {}, "value"),
    (("NEUT", True, "10^9/L"), {}, "value"),
    (("NEUT", "1", "10^9/L"), {"lln": "-1"}, "lln"),
    (("ALT", "30", "U/L"), {"uln": "0"}, "uln"),
    (("ALT", "30", "U/L"), {"uln": "40", "baseline": "-1"}, "baseline"),
    (("CREAT", "1", "mg/dL"), {"uln": "0.7", "baseline": "0"}, "baseline"),
    (("FIBRINO", "1", "g/L"), {"lln": "2", "baseline": "0"}, "baseline"),
]


@pytest.mark.parametrize(("args", "kwargs", "field"), BAD_LAB_INPUT)
def test_bad_lab_input_raises_naming_field_and_rule(
    args: tuple[str, Number, str], kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(ClinicalInputError) as caught:
        ctcae.grade_lab(*args, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert "ctcae5.lab" in str(caught.value)


def test_contradictory_fever_durations_raise() -> None:
    with pytest.raises(ClinicalInputError, match=r"ctcae5\.fever"):
        ctcae.grade_fever(max_temp_c="40.0", hours_above_40=2)
    with pytest.raises(ClinicalInputError, match=r"ctcae5\.febrile_neutropenia"):
        ctcae.grade_febrile_neutropenia(anc="0.5", unit="10^9/L", max_temp_c="37.5", minutes_at_or_above_38=90)
    with pytest.raises(ClinicalInputError, match="unit"):
        ctcae.grade_febrile_neutropenia(anc="0.5", unit="g/L", max_temp_c="39")


# ------------------------------------------------------------------------------------------ properties

DECREASE_TERMS = ["NEUT", "PLAT", "WBC", "LYM", "HGB", "K", "PHOS", "FIBRINO"]
INCREASE_TERMS = ["ALT", "AST", "BILI", "CREAT"]
amounts = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
limits = st.decimals(min_value="0.001", max_value=500, places=3, allow_nan=False, allow_infinity=False)


@given(st.sampled_from(DECREASE_TERMS), amounts, amounts, limits, st.one_of(st.none(), limits))
def test_grade_never_rises_as_a_falling_term_value_rises(
    test: str, first: Decimal, second: Decimal, lln: Decimal, baseline: Decimal | None
) -> None:
    low, high = sorted((first, second))
    unit = UNITS[test]
    grade_low = ctcae.grade_lab(test, low, unit, lln=lln, baseline=baseline).grade
    grade_high = ctcae.grade_lab(test, high, unit, lln=lln, baseline=baseline).grade
    assert grade_low >= grade_high


@given(st.sampled_from(INCREASE_TERMS), amounts, amounts, limits, st.one_of(st.none(), limits))
def test_grade_never_falls_as_a_rising_term_value_rises(
    test: str, first: Decimal, second: Decimal, uln: Decimal, baseline: Decimal | None
) -> None:
    low, high = sorted((first, second))
    unit = UNITS[test]
    assert (
        ctcae.grade_lab(test, low, unit, uln=uln, baseline=baseline).grade
        <= ctcae.grade_lab(test, high, unit, uln=uln, baseline=baseline).grade
    )


valid_numbers = st.one_of(
    amounts,
    amounts.map(str),
    st.integers(min_value=0, max_value=100_000),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
)
positive_numbers = st.one_of(limits, limits.map(str), st.integers(min_value=1, max_value=100_000))


@given(
    st.sampled_from(sorted(ctcae.LAB_TESTS)).flatmap(
        lambda code: st.tuples(st.just(code), st.sampled_from(ctcae.LAB_TESTS[code].units))
    ),
    valid_numbers,
    positive_numbers,
    positive_numbers,
    st.one_of(st.none(), positive_numbers),
    st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_valid_lab_input_never_raises_and_grade_is_0_to_5(
    test_unit: tuple[str, str],
    value: Number,
    lln: Number,
    uln: Number,
    baseline: Number | None,
    flags: list[bool],
) -> None:
    test, unit = test_unit
    result = ctcae.grade_lab(
        test,
        value,
        unit,
        lln=lln,
        uln=uln,
        baseline=baseline,
        transfusion_indicated=flags[0],
        symptomatic=flags[1],
        intervention_indicated=flags[2],
        oral_replacement_indicated=flags[3],
        hospitalization_indicated=flags[4],
        life_threatening=flags[5],
    )
    assert 0 <= result.grade <= 5
    assert result.reasons


temperatures = st.decimals(min_value=30, max_value=45, places=2, allow_nan=False, allow_infinity=False)


@given(temperatures, temperatures)
def test_fever_grade_never_falls_as_temperature_rises(first: Decimal, second: Decimal) -> None:
    low, high = sorted((first, second))
    assert ctcae.grade_fever(max_temp_c=low).grade <= ctcae.grade_fever(max_temp_c=high).grade


@given(amounts, temperatures, st.integers(min_value=0, max_value=600))
def test_febrile_neutropenia_is_0_or_3_on_valid_input(anc: Decimal, temp: Decimal, minutes: int) -> None:
    minutes = minutes if temp >= 38 else 0
    assert ctcae.grade_febrile_neutropenia(
        anc=anc, unit="10^9/L", max_temp_c=temp, minutes_at_or_above_38=minutes
    ).grade in (0, 3)
