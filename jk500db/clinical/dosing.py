"""Body surface area, planned doses and dose deviations (CLINICAL_RULES.md, "Body surface area and dose").

All arithmetic is Decimal. Fractional powers are computed as exp(b * ln(x)) at 40 significant digits and the
result rounded once to 28, so a BSA is reproducible to far beyond the 2 dp a dose uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Literal

from jk500db.clinical.numbers import ClinicalInputError, Number, to_decimal
from jk500db.clinical.settings import DEFAULT_SETTINGS, RuleSettings

DOSE_RULE_ID = "dosing.planned_dose"
DEVIATION_RULE_ID = "dosing.deviation"
RULE_VERSION = "1"

DoseUnit = Literal["mg", "IU", "cells"]

#: Exact international conversion factors (yard and pound agreement, 1959).
KG_PER_POUND = Decimal("0.45359237")
CM_PER_INCH = Decimal("2.54")
#: Registry writes IL-2 as "100 WU/m2"; 1 WU (wan, 10^4) = 10,000 IU, so 100 WU/m2 = 1x10^6 IU/m2.
IU_PER_WU = Decimal(10000)

_WORKING = Context(prec=40)
_RESULT = Context(prec=28)


def _power(base: Decimal, exponent: Decimal) -> Decimal:
    """``base ** exponent`` for positive ``base`` via exp(exponent * ln(base)), in the working context."""
    return _WORKING.exp(_WORKING.multiply(exponent, _WORKING.ln(base)))


def _mosteller(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    # Mosteller, N Engl J Med 1987;317:1098: BSA = sqrt(H x W / 3600).
    return _WORKING.sqrt(_WORKING.divide(_WORKING.multiply(height_cm, weight_kg), Decimal(3600)))


def _haycock(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    # Haycock et al., J Pediatr 1978;93:62: BSA = 0.024265 x W^0.5378 x H^0.3964.
    product = _WORKING.multiply(_power(weight_kg, Decimal("0.5378")), _power(height_cm, Decimal("0.3964")))
    return _WORKING.multiply(Decimal("0.024265"), product)


def _dubois(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    # Du Bois & Du Bois, Arch Intern Med 1916;17:863: BSA = 0.007184 x W^0.425 x H^0.725.
    product = _WORKING.multiply(_power(weight_kg, Decimal("0.425")), _power(height_cm, Decimal("0.725")))
    return _WORKING.multiply(Decimal("0.007184"), product)


#: setting ``dosing.bsa_formula`` -> formula (height cm, weight kg) -> m².
BSA_FORMULAS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "mosteller": _mosteller,
    "haycock": _haycock,
    "dubois": _dubois,
}

#: dose basis -> (unit of the total, multiplier per unit of the basis, body measure: "kg" or "m2").
DOSE_BASES: dict[str, tuple[DoseUnit, Decimal, str]] = {
    "mg/kg": ("mg", Decimal(1), "kg"),
    "mg/m2": ("mg", Decimal(1), "m2"),
    "IU/m2": ("IU", Decimal(1), "m2"),
    "WU/m2": ("IU", IU_PER_WU, "m2"),
    "cells/kg": ("cells", Decimal(1), "kg"),
}


@dataclass(frozen=True)
class DoseResult:
    """A planned dose with everything needed to recompute it."""

    amount: Decimal
    unit: DoseUnit
    bsa: Decimal | None
    bsa_unrounded: Decimal | None
    formula: str | None
    height_cm: Decimal | None
    weight_kg: Decimal
    reasons: tuple[str, ...]
    rule_id: str = DOSE_RULE_ID
    rule_version: str = RULE_VERSION
    settings: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviationResult:
    """Signed percentage difference of the actual from the planned dose, and whether it is a deviation."""

    pct: Decimal
    deviation: bool
    reasons: tuple[str, ...]
    rule_id: str = DEVIATION_RULE_ID
    rule_version: str = RULE_VERSION
    settings: dict[str, object] = field(default_factory=dict)


def pounds_to_kg(pounds: Number) -> Decimal:
    """Weight in kg from pounds (exact factor 0.45359237)."""
    return to_decimal(pounds, "weight_lb") * KG_PER_POUND


def inches_to_cm(inches: Number) -> Decimal:
    """Height in cm from inches (exact factor 2.54)."""
    return to_decimal(inches, "height_in") * CM_PER_INCH


def bsa(
    height_cm: Number, weight_kg: Number, formula: str | None = None, *, settings: RuleSettings | None = None
) -> Decimal:
    """Body surface area in m², unrounded (28 significant digits).

    ``formula`` is "mosteller", "haycock" or "dubois"; when omitted, setting ``dosing.bsa_formula`` decides
    (default Mosteller). Imperial measures must be converted first (:func:`inches_to_cm`, :func:`pounds_to_kg`).
    """
    name = _formula_name(formula, settings)
    height = _positive(height_cm, "height_cm")
    weight = _positive(weight_kg, "weight_kg")
    return _RESULT.plus(BSA_FORMULAS[name](height, weight))


def planned_dose(
    amount: Number,
    basis: str,
    *,
    height_cm: Number | None,
    weight_kg: Number,
    formula: str | None = None,
    bsa_round_dp: int | None = None,
    settings: RuleSettings | None = None,
) -> DoseResult:
    """Total dose for one administration from a per-kg or per-m² prescription.

    Per-m² doses use the BSA rounded half-up to ``bsa_round_dp`` places (setting ``dosing.bsa_round_dp``,
    default 2) before multiplying; the dose itself is not rounded. ``formula`` and ``bsa_round_dp`` override
    the settings when given. Height is needed only for per-m² bases.
    """
    if basis not in DOSE_BASES:
        raise ClinicalInputError("basis", f"{basis!r} is not one of {', '.join(DOSE_BASES)}")
    unit, multiplier, measure = DOSE_BASES[basis]
    per_unit = to_decimal(amount, "amount")
    if per_unit < 0:
        raise ClinicalInputError("amount", f"{per_unit} is negative")
    weight = _positive(weight_kg, "weight_kg")
    if measure == "kg":
        total = per_unit * multiplier * weight
        reason = f"{per_unit} {basis} x weight {weight} kg = {total} {unit}"
        height = None if height_cm is None else _positive(height_cm, "height_cm")
        return DoseResult(total, unit, None, None, None, height, weight, (reason,))
    if height_cm is None:
        raise ClinicalInputError("height_cm", f"needed for a {basis} dose")
    return _per_m2_dose(per_unit, basis, _positive(height_cm, "height_cm"), weight, formula, bsa_round_dp, settings)


def _per_m2_dose(
    per_unit: Decimal,
    basis: str,
    height: Decimal,
    weight: Decimal,
    formula: str | None,
    bsa_round_dp: int | None,
    settings: RuleSettings | None,
) -> DoseResult:
    unit, multiplier, _ = DOSE_BASES[basis]
    name = _formula_name(formula, settings)
    places = (settings or DEFAULT_SETTINGS).bsa_round_dp if bsa_round_dp is None else bsa_round_dp
    if places < 0:
        raise ClinicalInputError("bsa_round_dp", f"{places} is negative")
    unrounded = bsa(height, weight, name)
    rounded = unrounded.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    total = per_unit * multiplier * rounded
    conversion = f" (x {multiplier} IU/WU)" if multiplier != 1 else ""
    reasons = (
        f"BSA {name} height {height} cm, weight {weight} kg = {unrounded} m², rounded to {places} dp = {rounded} m²",
        f"{per_unit} {basis}{conversion} x BSA {rounded} m² = {total} {unit} (dose not rounded)",
    )
    used: dict[str, object] = {"dosing.bsa_formula": name, "dosing.bsa_round_dp": places}
    return DoseResult(total, unit, rounded, unrounded, name, height, weight, reasons, settings=used)


def dose_deviation(planned: Number, actual: Number, settings: RuleSettings | None = None) -> DeviationResult:
    """Deviation when |actual - planned| / planned x 100 > ``dosing.deviation_pct``.

    The default limit is 10; a difference of exactly 10 % is not a deviation.
    """
    rules = settings or DEFAULT_SETTINGS
    planned_amount = _positive(planned, "planned")
    actual_amount = to_decimal(actual, "actual")
    if actual_amount < 0:
        raise ClinicalInputError("actual", f"{actual_amount} is negative")
    limit = rules.dose_deviation_pct
    difference = actual_amount - planned_amount
    with localcontext(_RESULT):
        pct = difference * 100 / planned_amount
    # Compare without dividing so that a repeating decimal cannot tip a boundary case.
    deviation = abs(difference) * 100 > limit * planned_amount
    verdict = "deviation" if deviation else "within tolerance"
    comparison = ">" if deviation else "<="
    shown = pct.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    reason = (
        f"actual {actual_amount} vs planned {planned_amount}: {shown:+} %, "
        f"|difference| {comparison} {limit} % of planned (dosing.deviation_pct): {verdict}"
    )
    return DeviationResult(pct, deviation, (reason,), settings={"dosing.deviation_pct": str(limit)})


def _formula_name(formula: str | None, settings: RuleSettings | None) -> str:
    name = (settings or DEFAULT_SETTINGS).bsa_formula if formula is None else formula
    if name not in BSA_FORMULAS:
        raise ClinicalInputError("formula", f"{name!r} is not one of {', '.join(BSA_FORMULAS)}")
    return name


def _positive(value: Number, name: str) -> Decimal:
    result = to_decimal(value, name)
    if result <= 0:
        raise ClinicalInputError(name, f"{result} must be positive")
    return result
