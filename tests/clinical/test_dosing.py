"""Body surface area, planned doses of the registered regimen and dose deviations (jk500db.clinical.dosing)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jk500db.clinical import dosing
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import RuleSettings

FOUR_DP = Decimal("0.0001")

# Mosteller, N Engl J Med 1987;317:1098:       BSA = sqrt(H x W / 3600)
# Haycock et al., J Pediatr 1978;93:62:          BSA = 0.024265 x W^0.5378 x H^0.3964
# Du Bois & Du Bois, Arch Intern Med 1916;17:863: BSA = 0.007184 x W^0.425 x H^0.725
# (H cm, W kg). Expected values to 4 dp, as printed by published BSA calculators/tables for these formulas.
BSA_TABLE = [
    ("mosteller", "170", "60", "1.6833"),
    ("mosteller", "180", "80", "2.0000"),
    ("mosteller", "100", "15", "0.6455"),
    ("mosteller", "50", "3.5", "0.2205"),
    ("mosteller", "150", "40", "1.2910"),
    ("mosteller", "120", "25", "0.9129"),
    ("haycock", "170", "60", "1.6804"),
    ("haycock", "180", "80", "2.0066"),
    ("haycock", "100", "15", "0.6461"),
    ("haycock", "50", "3.5", "0.2244"),
    ("haycock", "150", "40", "1.2858"),
    ("haycock", "120", "25", "0.9141"),
    ("dubois", "170", "60", "1.6949"),
    ("dubois", "180", "80", "1.9964"),
    ("dubois", "100", "15", "0.6400"),
    ("dubois", "50", "3.5", "0.2086"),
    ("dubois", "150", "40", "1.3029"),
    ("dubois", "120", "25", "0.9076"),
]


@pytest.mark.parametrize(("formula", "height", "weight", "expected"), BSA_TABLE)
def test_bsa_matches_published_formula_to_4_dp(formula: str, height: str, weight: str, expected: str) -> None:
    assert dosing.bsa(height, weight, formula).quantize(FOUR_DP) == Decimal(expected)


def test_mosteller_is_exact_square_root() -> None:
    # sqrt(170 x 60 / 3600) = sqrt(10200/3600) = 1.683250823060346...
    value = dosing.bsa("170", "60")
    assert str(value).startswith("1.68325082306034632556")
    assert abs(value * value - Decimal(10200) / Decimal(3600)) < Decimal("1e-26")


def test_bsa_formula_defaults_to_setting() -> None:
    assert dosing.bsa("170", "60") == dosing.bsa("170", "60", "mosteller")
    haycock = RuleSettings(bsa_formula="haycock")
    assert dosing.bsa("170", "60", settings=haycock) == dosing.bsa("170", "60", "haycock")


@pytest.mark.parametrize(
    ("height", "weight", "formula"),
    [("0", "60", None), ("170", "-1", None), ("170", "60", "boyd"), ("x", "60", None)],
)
def test_bsa_rejects_non_positive_or_unknown_input(height: str, weight: str, formula: str | None) -> None:
    with pytest.raises(ClinicalInputError):
        dosing.bsa(height, weight, formula)


# Imperial input converted to metric first with the exact international factors.
def test_imperial_conversions_use_exact_factors() -> None:
    assert dosing.pounds_to_kg("100") == Decimal("45.359237")
    assert dosing.inches_to_cm("60") == Decimal("152.40")
    assert dosing.pounds_to_kg(2.2) == Decimal("0.997903214")


def test_imperial_height_and_weight_convert_exactly_before_bsa() -> None:
    height, weight = dosing.inches_to_cm("66.93"), dosing.pounds_to_kg("132.28")
    assert (height, weight) == (Decimal("170.0022"), Decimal("60.0011987036"))
    assert dosing.bsa(height, weight).quantize(FOUR_DP) == Decimal("1.6833")


# Registered regimen (NCT05519384, CLINICAL_RULES.md): cyclophosphamide 60 mg/kg; fludarabine 25 mg/m2/day
# with BSA rounded to 2 dp before multiplying; IL-2 "100 WU/m2" = 1x10^6 IU/m2. Dose not rounded.
REGIMEN_TABLE = [
    ("60", "mg/kg", "170", "60", "3600", "mg", None),
    ("60", "mg/kg", "120", "23.4", "1404.0", "mg", None),
    ("25", "mg/m2", "170", "60", "42.00", "mg", "1.68"),
    ("25", "mg/m2", "120", "23.4", "22.000", "mg", "0.88"),  # Mosteller 0.8832... -> 0.88
    ("100", "WU/m2", "170", "60", "1680000.00", "IU", "1.68"),
    ("1000000", "IU/m2", "170", "60", "1680000.00", "IU", "1.68"),
    ("1000000", "cells/kg", "170", "60", "60000000", "cells", None),
]


@pytest.mark.parametrize(("amount", "basis", "height", "weight", "total", "unit", "bsa_used"), REGIMEN_TABLE)
def test_planned_dose_of_registered_regimen(
    amount: str, basis: str, height: str, weight: str, total: str, unit: str, bsa_used: str | None
) -> None:
    result = dosing.planned_dose(amount, basis, height_cm=height, weight_kg=weight)
    assert result.amount == Decimal(total)
    assert result.unit == unit
    assert result.bsa == (None if bsa_used is None else Decimal(bsa_used))
    assert result.reasons
    if bsa_used is not None:
        assert result.formula == "mosteller"
        assert result.bsa_unrounded == dosing.bsa(height, weight)


def test_il2_100_wu_per_m2_equals_one_million_iu_per_m2() -> None:
    wu = dosing.planned_dose("100", "WU/m2", height_cm="140", weight_kg="33")
    iu = dosing.planned_dose("1000000", "IU/m2", height_cm="140", weight_kg="33")
    assert wu.amount == iu.amount
    assert dosing.IU_PER_WU == 10_000


def test_per_kg_dose_needs_no_height() -> None:
    result = dosing.planned_dose("60", "mg/kg", height_cm=None, weight_kg="20")
    assert result.amount == Decimal(1200)
    assert result.bsa is None and result.bsa_unrounded is None and result.formula is None


def test_per_m2_dose_without_height_is_an_input_error() -> None:
    with pytest.raises(ClinicalInputError):
        dosing.planned_dose("25", "mg/m2", height_cm=None, weight_kg="20")


def test_bsa_rounds_half_up_before_multiplying() -> None:
    # Mosteller 100 cm x 25.7049 kg: sqrt(0.714025) = 0.845 exactly; half-up gives 0.85 (half-even would give 0.84).
    result = dosing.planned_dose("25", "mg/m2", height_cm="100", weight_kg="25.7049", bsa_round_dp=2)
    assert result.bsa_unrounded == Decimal("0.845")
    assert result.bsa == Decimal("0.85")
    assert result.amount == Decimal("21.25")


# Setting dosing.bsa_round_dp (default 2): the alternative reading rounds to another precision.
ROUND_DP_TABLE = [
    (2, "1.68", "42.00"),
    (3, "1.683", "42.075"),
    (1, "1.7", "42.5"),
    (0, "2", "50"),
]


@pytest.mark.parametrize(("places", "bsa_used", "total"), ROUND_DP_TABLE)
def test_bsa_round_dp_setting_changes_bsa_used(places: int, bsa_used: str, total: str) -> None:
    settings = RuleSettings(bsa_round_dp=places)
    result = dosing.planned_dose("25", "mg/m2", height_cm="170", weight_kg="60", settings=settings)
    assert result.bsa == Decimal(bsa_used)
    assert result.amount == Decimal(total)
    assert result.settings["dosing.bsa_round_dp"] == places


def test_explicit_bsa_round_dp_overrides_setting() -> None:
    settings = RuleSettings(bsa_round_dp=0)
    result = dosing.planned_dose("25", "mg/m2", height_cm="170", weight_kg="60", bsa_round_dp=2, settings=settings)
    assert result.bsa == Decimal("1.68")


# Setting dosing.bsa_formula: Haycock and Du Bois alternatives.
@pytest.mark.parametrize(("formula", "bsa_used"), [("mosteller", "1.68"), ("haycock", "1.68"), ("dubois", "1.69")])
def test_bsa_formula_setting_changes_dose_basis(formula: str, bsa_used: str) -> None:
    result = dosing.planned_dose(
        "25", "mg/m2", height_cm="170", weight_kg="60", settings=RuleSettings(bsa_formula=formula)
    )
    assert result.formula == formula
    assert result.bsa == Decimal(bsa_used)
    assert result.amount == Decimal(25) * Decimal(bsa_used)


def test_explicit_formula_overrides_setting() -> None:
    result = dosing.planned_dose(
        "25", "mg/m2", height_cm="170", weight_kg="60", formula="dubois", settings=RuleSettings(bsa_formula="haycock")
    )
    assert result.formula == "dubois"


@pytest.mark.parametrize("basis", ["mg", "mg/m^2", "IU/kg"])
def test_planned_dose_rejects_unknown_basis(basis: str) -> None:
    with pytest.raises(ClinicalInputError):
        dosing.planned_dose("1", basis, height_cm="100", weight_kg="20")


# CLINICAL_RULES.md: deviation when |actual - planned| / planned > dosing.deviation_pct (default 10 %).
DEVIATION_TABLE = [
    ("42", "42", "0", False),
    ("42", "46.2", "10", False),  # exactly +10 %: not a deviation
    ("42", "37.8", "-10", False),  # exactly -10 %
    ("42", "46.2042", "10.01", True),
    ("42", "37.7958", "-10.01", True),
    ("3", "2", "-33.33333333333333333333333333", True),
    ("100", "0", "-100", True),
]


@pytest.mark.parametrize(("planned", "actual", "pct", "deviation"), DEVIATION_TABLE)
def test_dose_deviation_flags_more_than_10_percent(planned: str, actual: str, pct: str, deviation: bool) -> None:
    result = dosing.dose_deviation(planned, actual)
    assert result.pct == Decimal(pct)
    assert result.deviation is deviation
    assert result.reasons


def test_dose_deviation_exact_boundary_with_repeating_fraction() -> None:
    # planned 3, actual 3.3: exactly 10 % although 0.3/3 looks like a division
    assert dosing.dose_deviation("3", "3.3").deviation is False
    # float input goes through str: 46.2 stays 46.2
    assert dosing.dose_deviation(42, 46.2).deviation is False


@pytest.mark.parametrize(
    ("limit", "actual", "deviation"), [("5", "44.1", False), ("5", "44.2", True), ("20", "50", False)]
)
def test_dose_deviation_pct_setting(limit: str, actual: str, deviation: bool) -> None:
    settings = RuleSettings(dose_deviation_pct=Decimal(limit))
    result = dosing.dose_deviation("42", actual, settings)
    assert result.deviation is deviation
    assert result.settings == {"dosing.deviation_pct": limit}


@pytest.mark.parametrize(("planned", "actual"), [("0", "1"), ("-1", "1"), ("10", "-1")])
def test_dose_deviation_rejects_impossible_amounts(planned: str, actual: str) -> None:
    with pytest.raises(ClinicalInputError):
        dosing.dose_deviation(planned, actual)


positive = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100000), places=3)
formulas = st.sampled_from(sorted(dosing.BSA_FORMULAS))


@given(h1=positive, h2=positive, w=positive, formula=formulas)
def test_bsa_is_monotonic_in_height(h1: Decimal, h2: Decimal, w: Decimal, formula: str) -> None:
    low, high = sorted((h1, h2))
    assert dosing.bsa(low, w, formula) <= dosing.bsa(high, w, formula)


@given(w1=positive, w2=positive, h=positive, formula=formulas)
def test_bsa_is_monotonic_in_weight(w1: Decimal, w2: Decimal, h: Decimal, formula: str) -> None:
    low, high = sorted((w1, w2))
    assert dosing.bsa(h, low, formula) <= dosing.bsa(h, high, formula)


@given(
    h=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False) | positive,
    w=st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False) | positive,
    formula=formulas,
)
def test_bsa_never_raises_on_positive_input(h: float | Decimal, w: float | Decimal, formula: str) -> None:
    assert dosing.bsa(h, w, formula) > 0
