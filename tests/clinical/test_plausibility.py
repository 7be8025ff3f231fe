"""Plausibility limits of lab values and body measurements (jk500db.clinical.plausibility).

The expected limits below are written out by hand in every accepted unit, conversions done on paper, so a
mistyped limit or conversion factor in the module fails here. Each row's comment names where the limit comes
from (the module's table gives the full citation); "chosen" marks a judgement without a published source.
Limits are inclusive: the printed limit is plausible, one step beyond it is not.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from jk500db.clinical import ctcae, plausibility
from jk500db.clinical.numbers import ClinicalInputError, Number
from jk500db.models.vitals import VitalSigns
from jk500db.models.vocabularies import LabTest

DEMO_COHORT = Path(__file__).resolve().parents[2] / "seed_data" / "demo_cohort.toml"

# ------------------------------------------------------------------------------------------- lab limits

# Columns: test code, unit, low, high (inclusive, in that unit).
EXPECTED_LAB_LIMITS = [
    # Counts: 0 in aplasia; WBC 2000 x10^9/L chosen above 1450 reported (Asees et al., Ann Med Surg 2023).
    ("WBC", "10^9/L", "0", "2000"),
    ("WBC", "/uL", "0", "2000000"),  # x1000
    # NEUT and LYM: chosen, the WBC limit (a differential count is part of the WBC).
    ("NEUT", "10^9/L", "0", "2000"),
    ("NEUT", "/uL", "0", "2000000"),
    ("LYM", "10^9/L", "0", "2000"),
    ("LYM", "/uL", "0", "2000000"),
    # PLAT 10000 x10^9/L chosen above 7283 reported in a child (de Lama Caro-Paton et al., An Pediatr 2014).
    ("PLAT", "10^9/L", "0", "10000"),
    ("PLAT", "/uL", "0", "10000000"),
    # HGB 0.5 g/dL chosen below survivals reported at 2 (Blood 2013;122:4657), 1.4 and 0.7 g/dL; 30 g/dL chosen.
    ("HGB", "g/dL", "0.5", "30"),
    ("HGB", "g/L", "5", "300"),  # x10
    ("HGB", "mmol/L", "0.3103", "18.618"),  # x0.6206: 0.5 x 0.6206, 30 x 0.6206
    # ALT, AST: chosen (no published maximum located).
    ("ALT", "U/L", "0", "50000"),
    ("AST", "U/L", "0", "50000"),
    # BILI: chosen (no published maximum located).
    ("BILI", "mg/dL", "0", "100"),
    ("BILI", "umol/L", "0", "1710"),  # x17.1
    # CREAT 80 mg/dL chosen above 73.8 mg/dL, the highest recorded (Case Rep Nephrol 2021:6048919).
    ("CREAT", "mg/dL", "0", "80"),
    ("CREAT", "umol/L", "0", "7072"),  # x88.4
    # K: 0.5 below 0.9 reported lowest (ten Bos et al., Neth J Med 2016); 15 above 14 survived (Tran, SMJ 2005).
    ("K", "mmol/L", "0.5", "15"),
    # PHOS 25 mmol/L chosen above 17.75 mmol/L survived (Biebl et al., Eur J Pediatr 2009;168:111).
    ("PHOS", "mmol/L", "0", "25"),
    ("PHOS", "mg/dL", "0", "77.425"),  # x3.097
    # FIBRINO: 0 undetectable in consumptive coagulopathy; 15 g/L chosen.
    ("FIBRINO", "g/L", "0", "15"),
    ("FIBRINO", "mg/dL", "0", "1500"),  # x100
    # BLAST: the limits of a percentage.
    ("BLAST", "%", "0", "100"),
    # CRP: chosen (no published maximum located).
    ("CRP", "mg/L", "0", "1000"),
    ("CRP", "mg/dL", "0", "100"),  # x0.1
    # FERRITIN: chosen far above > 50 000 ug/L documented in 113 adults (Schram et al., Blood 2015;125:1548).
    ("FERRITIN", "ug/L", "0", "2000000"),
    ("FERRITIN", "ng/mL", "0", "2000000"),  # the same quantity
    # IL6: chosen (no published maximum located).
    ("IL6", "pg/mL", "0", "1000000"),
]


def _step(limit: str) -> Decimal:
    """One digit finer than the limit as written: the step just inside or outside it."""
    exponent = Decimal(limit).as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(1).scaleb(exponent - 1)


def _probes() -> list[tuple[str, str, Decimal, bool]]:
    """Just inside and just outside each limit; the limit itself is inside. A 0 floor has no outside."""
    rows = []
    for code, unit, low, high in EXPECTED_LAB_LIMITS:
        lo, hi = Decimal(low), Decimal(high)
        rows += [
            (code, unit, lo, True),
            (code, unit, lo + _step(low), True),
            (code, unit, hi - _step(high), True),
            (code, unit, hi, True),
            (code, unit, hi + _step(high), False),
        ]
        if lo > 0:
            rows.append((code, unit, lo - _step(low), False))
    return rows


@pytest.mark.parametrize(
    ("code", "unit", "value", "plausible"),
    _probes(),
    ids=lambda x: str(x),
)
def test_each_lab_limit_is_inclusive_in_every_accepted_unit(
    code: str, unit: str, value: Decimal, plausible: bool
) -> None:
    assert plausibility.check_lab(code, value, unit).plausible is plausible


@pytest.mark.parametrize(("code", "unit", "low", "high"), EXPECTED_LAB_LIMITS)
def test_result_reports_the_limits_in_the_unit_given(code: str, unit: str, low: str, high: str) -> None:
    result = plausibility.check_lab(code, "1", unit)
    assert (result.low, result.high, result.unit) == (Decimal(low), Decimal(high), unit)
    assert result.rule_id == f"plausibility.lab.{code}"
    assert result.rule_version == plausibility.RULE_VERSION == "1"
    assert result.source == plausibility.LAB_LIMITS[code].source


def test_every_accepted_unit_of_every_test_has_an_expected_row() -> None:
    expected = {(code, unit) for code, unit, _, _ in EXPECTED_LAB_LIMITS}
    actual = {(code, unit) for code, limits in plausibility.LAB_LIMITS.items() for unit in limits.units}
    assert actual == expected


def test_every_lab_test_code_of_the_vocabulary_has_limits() -> None:
    assert set(plausibility.LAB_LIMITS) == {test.value for test in LabTest}


@pytest.mark.parametrize("code", sorted(ctcae.LAB_TESTS))
def test_every_unit_ctcae_grades_is_accepted(code: str) -> None:
    # A value CTCAE can grade must never fail plausibility for its unit alone.
    assert set(ctcae.LAB_TESTS[code].units) <= set(plausibility.LAB_LIMITS[code].units)


def test_every_limit_cites_its_source_or_says_chosen() -> None:
    for limits in [*plausibility.LAB_LIMITS.values(), *plausibility.BODY_LIMITS.values()]:
        assert limits.low <= limits.high
        assert limits.source
        assert ("chosen" in limits.source) or re.search(r"\d{4}|ISO|percentage|CHECK", limits.source)


# Typing errors the check exists for, and real values next to them. Columns: code, value, unit, plausible.
TYPO_TABLE = [
    ("K", "45", "mmol/L", False),  # 4.5 with a slipped decimal point
    ("K", "4.5", "mmol/L", True),
    ("K", "0.45", "mmol/L", False),  # 4.5 with the point one place early
    ("HGB", "85", "g/dL", False),  # 85 g/L saved as g/dL
    ("HGB", "85", "g/L", True),
    ("HGB", "8.5", "g/dL", True),
    ("WBC", "4500", "10^9/L", False),  # 4500 /uL saved as x10^9/L
    ("WBC", "4500", "/uL", True),
    ("WBC", "450", "10^9/L", True),  # hyperleukocytosis is real
    ("PLAT", "150000", "10^9/L", False),  # 150000 /uL saved as x10^9/L
    ("PLAT", "150000", "/uL", True),
    ("FIBRINO", "250", "g/L", False),  # 250 mg/dL saved as g/L
    ("FIBRINO", "250", "mg/dL", True),
    ("CREAT", "420", "mg/dL", False),  # 420 umol/L saved as mg/dL
    ("CREAT", "420", "umol/L", True),
    ("PHOS", "150", "mg/dL", False),
    ("BLAST", "101", "%", False),
    ("FERRITIN", "85000", "ng/mL", True),  # HLH: real
    ("IL6", "25000", "pg/mL", True),  # severe CRS: real
    ("CRP", "350", "mg/L", True),
]


@pytest.mark.parametrize(("code", "value", "unit", "plausible"), TYPO_TABLE)
def test_typing_errors_are_refused_and_real_extremes_are_not(code: str, value: str, unit: str, plausible: bool) -> None:
    assert plausibility.check_lab(code, value, unit).plausible is plausible


def test_reason_names_value_limits_and_rule() -> None:
    result = plausibility.check_lab("K", "45", "mmol/L")
    assert result.reason == (
        "K 45 mmol/L is outside the plausible range 0.5-15 mmol/L (physiological limits, plausibility.lab.K)"
    )
    assert "Tran" in result.source
    inside = plausibility.check_lab("HGB", "5.2", "mmol/L")
    assert inside.reason == (
        "HGB 5.2 mmol/L is within the plausible range 0.3103-18.618 mmol/L (physiological limits, plausibility.lab.HGB)"
    )


# The same quantity in two units. Columns: code, value, unit, same value, other unit, plausible.
UNIT_EQUIVALENCE_TABLE = [
    ("WBC", "2000", "10^9/L", "2000000", "/uL", True),
    ("WBC", "2000.001", "10^9/L", "2000001", "/uL", False),
    ("PLAT", "10000.001", "10^9/L", "10000001", "/uL", False),
    ("HGB", "0.5", "g/dL", "5", "g/L", True),
    ("HGB", "0.5", "g/dL", "0.3103", "mmol/L", True),
    ("HGB", "0.49", "g/dL", "4.9", "g/L", False),
    ("HGB", "0.49", "g/dL", "0.304094", "mmol/L", False),  # 0.49 x 0.6206
    ("HGB", "30.01", "g/dL", "18.624206", "mmol/L", False),  # 30.01 x 0.6206
    ("BILI", "100", "mg/dL", "1710", "umol/L", True),
    ("BILI", "100.01", "mg/dL", "1710.171", "umol/L", False),
    ("CREAT", "80", "mg/dL", "7072", "umol/L", True),
    ("CREAT", "80.01", "mg/dL", "7072.884", "umol/L", False),
    ("PHOS", "25", "mmol/L", "77.425", "mg/dL", True),
    ("PHOS", "25.001", "mmol/L", "77.428097", "mg/dL", False),
    ("FIBRINO", "15", "g/L", "1500", "mg/dL", True),
    ("FIBRINO", "15.01", "g/L", "1501", "mg/dL", False),
    ("CRP", "1000", "mg/L", "100", "mg/dL", True),
    ("CRP", "1000.1", "mg/L", "100.01", "mg/dL", False),
    ("FERRITIN", "2000000.1", "ug/L", "2000000.1", "ng/mL", False),
]


@pytest.mark.parametrize(("code", "value", "unit", "same", "other", "plausible"), UNIT_EQUIVALENCE_TABLE)
def test_the_same_quantity_gets_the_same_decision_in_every_unit(
    code: str, value: str, unit: str, same: str, other: str, plausible: bool
) -> None:
    assert plausibility.check_lab(code, value, unit).plausible is plausible
    assert plausibility.check_lab(code, same, other).plausible is plausible


@pytest.mark.parametrize(
    ("code", "value", "unit", "canonical"),
    [
        ("WBC", "2000001", "/mm3", "/uL"),  # /mm3 is /uL (as in ctcae.py)
        ("BILI", "1711", "µmol/L", "umol/L"),  # micro sign
        ("BILI", "1711", "μmol/L", "umol/L"),  # Greek mu
        ("FERRITIN", "2000001", "µg/L", "ug/L"),
        ("K", "15.1", "MMOL/L", "mmol/L"),  # case-insensitive, as in ctcae.py
        ("HGB", "300.1", " g/L ", "g/L"),
    ],
)
def test_unit_spellings_are_canonicalised(code: str, value: str, unit: str, canonical: str) -> None:
    result = plausibility.check_lab(code, value, unit)
    assert result.unit == canonical
    assert not result.plausible


def test_test_code_is_trimmed_and_case_insensitive() -> None:
    assert plausibility.check_lab(" k ", "4.1", "mmol/L").rule_id == "plausibility.lab.K"


@pytest.mark.parametrize(
    ("value", "plausible"),
    [(4, True), (15, True), (16, False), (4.5, True), (15.0, True), (15.000001, False), (Decimal("15.0000"), True)],
)
def test_int_float_and_decimal_values(value: Number, plausible: bool) -> None:
    # A float goes through str (numbers.py), so 15.000001 is not rounded onto the limit.
    assert plausibility.check_lab("K", value, "mmol/L").plausible is plausible


def test_demo_cohort_values_are_all_plausible() -> None:
    cohort = tomllib.loads(DEMO_COHORT.read_text(encoding="utf-8"))
    units = {code: spec["unit"] for code, spec in cohort["lab_reference"].items()}
    checked = 0
    for subject in cohort["subjects"]:
        for panel in subject.get("labs", {}).values():
            for code, value in panel.items():
                if code in units:
                    result = plausibility.check_lab(code, value, units[code])
                    assert result.plausible, result.reason
                    checked += 1
        for vitals in subject.get("vitals", []):
            for measure, value in vitals.items():
                if measure in plausibility.BODY_LIMITS:
                    result = plausibility.check_body(measure, value)
                    assert result.plausible, result.reason
                    checked += 1
    assert checked > 100


# ------------------------------------------------------------------------------------------ body limits

# Columns: measure, unit, low, high. All "chosen" (module table) except temperature, the database's own
# CHECK range, and SpO2 100 %, the physical maximum.
EXPECTED_BODY_LIMITS = [
    ("weight_kg", "kg", "0.5", "200"),  # chosen; a weight of 250 kg must be refused
    ("height_cm", "cm", "30", "220"),  # chosen
    ("temperature_c", "°C", "25", "45"),  # models/vitals.py and models/crs.py range_check 25-45
    ("heart_rate", "/min", "20", "300"),  # chosen
    ("respiratory_rate", "/min", "4", "120"),  # chosen
    ("systolic_bp", "mmHg", "30", "300"),  # chosen
    ("diastolic_bp", "mmHg", "10", "200"),  # chosen
    ("spo2_pct", "%", "30", "100"),  # 100: physical maximum; 30 chosen
]


def _body_probes() -> list[tuple[str, Decimal, bool]]:
    rows = []
    for measure, _, low, high in EXPECTED_BODY_LIMITS:
        lo, hi = Decimal(low), Decimal(high)
        rows += [
            (measure, lo - _step(low), False),
            (measure, lo, True),
            (measure, lo + _step(low), True),
            (measure, hi - _step(high), True),
            (measure, hi, True),
            (measure, hi + _step(high), False),
        ]
    return rows


@pytest.mark.parametrize(("measure", "value", "plausible"), _body_probes(), ids=lambda x: str(x))
def test_each_body_limit_is_inclusive(measure: str, value: Decimal, plausible: bool) -> None:
    assert plausibility.check_body(measure, value).plausible is plausible


@pytest.mark.parametrize(("measure", "unit", "low", "high"), EXPECTED_BODY_LIMITS)
def test_body_result_reports_limits_unit_and_rule(measure: str, unit: str, low: str, high: str) -> None:
    result = plausibility.check_body(measure, low)
    assert (result.low, result.high, result.unit) == (Decimal(low), Decimal(high), unit)
    assert result.rule_id == f"plausibility.body.{measure}"
    assert result.rule_version == "1"


def test_every_body_measure_has_an_expected_row() -> None:
    assert set(plausibility.BODY_LIMITS) == {measure for measure, _, _, _ in EXPECTED_BODY_LIMITS}


def test_a_250_kg_child_is_refused_with_a_reason() -> None:
    result = plausibility.check_body("weight_kg", "250")
    assert not result.plausible
    assert result.reason == (
        "weight_kg 250 kg is outside the plausible range 0.5-200 kg (physiological limits, plausibility.body.weight_kg)"
    )


def test_age_is_validated_but_does_not_narrow_the_limits() -> None:
    # No growth-chart extremes are cited, so age is ignored (module docstring).
    assert plausibility.check_body("weight_kg", "150", age_years=2).plausible
    assert plausibility.check_body("height_cm", "31", age_years=17).plausible
    with pytest.raises(ClinicalInputError) as caught:
        plausibility.check_body("weight_kg", "20", age_years=-1)
    assert caught.value.field == "age_years"


def _database_range(column: str) -> tuple[Decimal, Decimal | None]:
    """The CHECK range the vital_signs table enforces for ``column`` (``> 0`` read as low 0, no high)."""
    table = VitalSigns.__table__
    assert isinstance(table, sa.Table)
    for constraint in table.constraints:
        info = getattr(constraint, "info", {})
        if info.get("field") != column:
            continue
        rule = info["rule"]
        if rule == "must be greater than zero":
            return Decimal(0), None
        match = re.fullmatch(r"must be between (\S+) and (\S+)", rule)
        assert match, rule
        return Decimal(match[1]), Decimal(match[2])
    raise AssertionError(f"no CHECK on vital_signs.{column}")


@pytest.mark.parametrize("measure", sorted(plausibility.BODY_LIMITS))
def test_body_limits_lie_inside_the_database_check_ranges(measure: str) -> None:
    # Otherwise a value the edit check accepts would fail on save with a constraint error instead.
    low, high = _database_range(measure)
    limits = plausibility.BODY_LIMITS[measure]
    assert limits.low >= low
    assert high is None or limits.high <= high


# -------------------------------------------------------------------------------------------- bad input

# Columns: arguments, field named, rule named.
BAD_LAB_INPUT = [
    (("K", "-0.1", "mmol/L"), "value", "plausibility.lab.K"),
    (("WBC", "-1", "/uL"), "value", "plausibility.lab.WBC"),
    (("K", "abc", "mmol/L"), "value", "plausibility.lab.K"),
    (("K", "", "mmol/L"), "value", "plausibility.lab.K"),
    (("K", "NaN", "mmol/L"), "value", "plausibility.lab.K"),
    (("K", "Infinity", "mmol/L"), "value", "plausibility.lab.K"),
    (("K", True, "mmol/L"), "value", "plausibility.lab.K"),
    (("K", None, "mmol/L"), "value", "plausibility.lab.K"),
    (("K", "4", "mg/dL"), "unit", "plausibility.lab.K"),
    (("K", "4", "mEq/L"), "unit", "plausibility.lab.K"),
    (("HGB", "8", "U/L"), "unit", "plausibility.lab.HGB"),
    (("WBC", "4", "g/L"), "unit", "plausibility.lab.WBC"),
    (("FERRITIN", "100", "mg/L"), "unit", "plausibility.lab.FERRITIN"),
    (("CRP", "5", "g/L"), "unit", "plausibility.lab.CRP"),
    (("BLAST", "5", "10^9/L"), "unit", "plausibility.lab.BLAST"),
    (("IL6", "5", "ng/mL"), "unit", "plausibility.lab.IL6"),
    (("K", "4", None), "unit", "plausibility.lab.K"),
    (("NA", "140", "mmol/L"), "test_code", "plausibility.lab"),
    ((None, "140", "mmol/L"), "test_code", "plausibility.lab"),
]


@pytest.mark.parametrize(("args", "field", "rule"), BAD_LAB_INPUT)
def test_bad_lab_input_raises_naming_field_and_rule(args: tuple[object, object, object], field: str, rule: str) -> None:
    with pytest.raises(ClinicalInputError) as caught:
        plausibility.check_lab(*args)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert f"{field}: {rule}" in str(caught.value)


BAD_BODY_INPUT = [
    (("weight_kg", "-3"), "value", "plausibility.body.weight_kg"),
    (("heart_rate", "fast"), "value", "plausibility.body.heart_rate"),
    (("spo2_pct", "NaN"), "value", "plausibility.body.spo2_pct"),
    (("bmi", "20"), "measure", "plausibility.body"),
    ((None, "20"), "measure", "plausibility.body"),
]


@pytest.mark.parametrize(("args", "field", "rule"), BAD_BODY_INPUT)
def test_bad_body_input_raises_naming_field_and_rule(args: tuple[object, object], field: str, rule: str) -> None:
    with pytest.raises(ClinicalInputError) as caught:
        plausibility.check_body(*args)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert f"{field}: {rule}" in str(caught.value)


# ------------------------------------------------------------------------------------------ properties

LAB_UNITS = sorted((code, unit) for code, limits in plausibility.LAB_LIMITS.items() for unit in limits.units)
non_negative = st.decimals(min_value=0, allow_nan=False, allow_infinity=False)
any_non_negative_number = st.one_of(
    non_negative,
    non_negative.map(str),
    st.integers(min_value=0),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False),
)


@given(st.sampled_from(LAB_UNITS), any_non_negative_number)
def test_check_lab_never_raises_for_a_non_negative_number_in_an_accepted_unit(
    code_unit: tuple[str, str], value: Number
) -> None:
    code, unit = code_unit
    result = plausibility.check_lab(code, value, unit)
    assert result.low <= result.high
    assert result.reason


@given(st.sampled_from(LAB_UNITS), non_negative)
def test_plausible_is_exactly_the_inclusive_range(code_unit: tuple[str, str], value: Decimal) -> None:
    code, unit = code_unit
    result = plausibility.check_lab(code, value, unit)
    assert result.plausible is (result.low <= value <= result.high)


@given(st.sampled_from(LAB_UNITS), non_negative, non_negative, non_negative)
def test_plausible_values_form_one_interval(
    code_unit: tuple[str, str], first: Decimal, second: Decimal, third: Decimal
) -> None:
    # Monotone at both ends: between two plausible values every value is plausible.
    code, unit = code_unit
    a, b, c = sorted((first, second, third))
    if plausibility.check_lab(code, a, unit).plausible and plausibility.check_lab(code, c, unit).plausible:
        assert plausibility.check_lab(code, b, unit).plausible


# Conversion factors from each test's first unit, written independently of the module.
FACTORS = {
    ("WBC", "/uL"): Decimal(1000),
    ("NEUT", "/uL"): Decimal(1000),
    ("LYM", "/uL"): Decimal(1000),
    ("PLAT", "/uL"): Decimal(1000),
    ("HGB", "g/L"): Decimal(10),
    ("HGB", "mmol/L"): Decimal("0.6206"),
    ("BILI", "umol/L"): Decimal("17.1"),
    ("CREAT", "umol/L"): Decimal("88.4"),
    ("PHOS", "mg/dL"): Decimal("3.097"),
    ("FIBRINO", "mg/dL"): Decimal(100),
    ("CRP", "mg/dL"): Decimal("0.1"),
    ("FERRITIN", "ng/mL"): Decimal(1),
}


@given(st.sampled_from(sorted(FACTORS)), st.decimals(min_value=0, max_value=10**7, places=4))
def test_unit_conversion_never_changes_the_decision(code_unit: tuple[str, str], value: Decimal) -> None:
    code, unit = code_unit
    first = plausibility.LAB_LIMITS[code].unit
    same = value * FACTORS[code_unit]  # exact: default context has 28 digits, these have at most 16
    assert plausibility.check_lab(code, value, first).plausible is plausibility.check_lab(code, same, unit).plausible


@given(st.sampled_from(sorted(plausibility.BODY_LIMITS)), any_non_negative_number)
def test_check_body_never_raises_for_a_non_negative_number(measure: str, value: Number) -> None:
    result = plausibility.check_body(measure, value)
    assert result.plausible is (result.low <= Decimal(str(value)) <= result.high)
