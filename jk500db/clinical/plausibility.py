"""Plausibility limits: lab values and body measurements that cannot be real in a living child.

Backs the edit check "lab value or body measurement outside plausible physiological limits", which refuses a
save. The limits are deliberately generous: they exist to catch typing errors (potassium 45 for 4.5, a g/L
haemoglobin saved as g/dL, a count per uL saved as x10^9/L, a weight of 250 kg that would drive every per-kg
dose), not to flag abnormal results. A value in range may still be wrong; a value out of range is refused.

- Limits are inclusive (the printed limit itself is plausible) and are the same physical quantity in every
  accepted unit: each row of ``LAB_LIMITS`` is written in its first unit, and the other units' limits are that
  limit times an exact Decimal factor, so the same quantity in two units always gets the same decision.
- Where a row cites a report, the limit is set beyond the most extreme value found reported; where it says
  "chosen", the limit is a judgement without a published source. The reasons are in the table, row by row.
- ``age_years`` is accepted by :func:`check_body` but does not narrow the limits: narrowing weight or height by
  age needs extreme-percentile growth data (WHO/CDC) that this module does not carry, and a growth-chart 3rd-97th
  percentile band would refuse real children. It is validated (a number >= 0) and otherwise ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from types import MappingProxyType

from jk500db.clinical.ctcae import (
    G_PER_DL,
    G_PER_L,
    MG_PER_DL,
    MMOL_PER_L,
    PER_MICROLITRE,
    PER_NANOLITRE,
    U_PER_L,
    UMOL_PER_L,
)
from jk500db.clinical.numbers import Number, canonical_unit, non_negative, rule_error

RULE_VERSION = "1"
LAB_RULE_PREFIX = "plausibility.lab."
BODY_RULE_PREFIX = "plausibility.body."
RULE_NAME = "physiological limits"

# Units beyond those CTCAE grading uses (ctcae.py); spelled as the demo laboratory prints them.
PERCENT = "%"
MG_PER_L = "mg/L"
UG_PER_L = "ug/L"
NG_PER_ML = "ng/mL"
PG_PER_ML = "pg/mL"

#: other spellings of the same unit -> the spelling used here (ctcae.py accepts the same aliases)
_UNIT_ALIASES: dict[str, str] = {
    "/mm3": PER_MICROLITRE,
    "µmol/L": UMOL_PER_L,
    "μmol/L": UMOL_PER_L,
    "µg/L": UG_PER_L,
    "μg/L": UG_PER_L,
}

# Unit families: accepted unit -> factor, value in that unit = value in the first unit x factor (exact).
#: 1 x10^9/L = 1000 /uL (1 L = 10^6 uL).
COUNT_UNITS = {PER_NANOLITRE: Decimal(1), PER_MICROLITRE: Decimal(1000)}
#: Hgb g/dL x 10 = g/L; g/dL x 0.6206 = mmol/L (Hb monomer, 16 114 g/mol; the SI factor labs use).
HGB_UNITS = {G_PER_DL: Decimal(1), G_PER_L: Decimal(10), MMOL_PER_L: Decimal("0.6206")}
#: bilirubin mg/dL x 17.1 = umol/L (584.7 g/mol).
BILI_UNITS = {MG_PER_DL: Decimal(1), UMOL_PER_L: Decimal("17.1")}
#: creatinine mg/dL x 88.4 = umol/L (113.12 g/mol).
CREAT_UNITS = {MG_PER_DL: Decimal(1), UMOL_PER_L: Decimal("88.4")}
#: phosphate (as phosphorus) mmol/L x 3.097 = mg/dL (P 30.97 g/mol).
PHOS_UNITS = {MMOL_PER_L: Decimal(1), MG_PER_DL: Decimal("3.097")}
#: fibrinogen g/L x 100 = mg/dL.
FIBRINO_UNITS = {G_PER_L: Decimal(1), MG_PER_DL: Decimal(100)}
#: CRP mg/L x 0.1 = mg/dL.
CRP_UNITS = {MG_PER_L: Decimal(1), MG_PER_DL: Decimal("0.1")}
#: ferritin ug/L and ng/mL are the same quantity.
FERRITIN_UNITS = {UG_PER_L: Decimal(1), NG_PER_ML: Decimal(1)}


@dataclass(frozen=True)
class Limits:
    """Inclusive ``low``-``high`` in the first of ``units``; ``source`` says where the numbers come from."""

    low: Decimal
    high: Decimal
    units: Mapping[str, Decimal]
    source: str

    @property
    def unit(self) -> str:
        return next(iter(self.units))


def _limits(low: str, high: str, units: Mapping[str, Decimal], source: str) -> Limits:
    return Limits(Decimal(low), Decimal(high), MappingProxyType(dict(units)), source)


# The limits. Each row: low, high (inclusive, in the row's first unit), the accepted units, and why: a row that
# cites a report sets its limit beyond the most extreme value found reported; "chosen" marks a judgement.
_NO_FLOOR = "low 0: a result below the assay's detection limit may be entered as 0"
_NO_FLOOR_COUNT = "low 0: counts reach 0 in aplasia after lymphodepletion"
_NO_MAXIMUM = "high chosen: no published maximum was located"

# fmt: off
LAB_LIMITS: dict[str, Limits] = {
    # The cited abstract prints "1450 x 10^6/l"; its title ("highest recorded count") shows x10^9/L is meant.
    "WBC": _limits("0", "2000", COUNT_UNITS,
        f"{_NO_FLOOR_COUNT}; high chosen above WBC 1450 x10^9/L in infant B-ALL, the highest found reported "
        "(Asees et al., Ann Med Surg 2023;85(12):6294-7, doi:10.1097/MS9.0000000000001476)"),
    "NEUT": _limits("0", "2000", COUNT_UNITS,
        f"{_NO_FLOOR_COUNT}; high chosen: the WBC limit, as a differential count is a part of the WBC"),
    "LYM": _limits("0", "2000", COUNT_UNITS,
        f"{_NO_FLOOR_COUNT}; high chosen: the WBC limit, as a differential count is a part of the WBC"),
    "PLAT": _limits("0", "10000", COUNT_UNITS,
        f"{_NO_FLOOR_COUNT}; high chosen above platelets 7283 x10^9/L in a 6-year-old with reactive thrombocytosis "
        "(de Lama Caro-Paton et al., An Pediatr (Engl Ed) 2014, doi:10.1016/j.anpede.2013.10.014)"),
    # The 1.4 and 0.7 g/dL survivals were found only as second-hand citations; the primary reports were not read.
    "HGB": _limits("0.5", "30", HGB_UNITS,
        "low chosen below survival reported at Hgb 2 g/dL (Blood 2013;122(21):4657, abstract) and, second-hand, "
        "at 1.4 and 0.7 g/dL; high chosen: 30 g/dL would need a haematocrit near 90 %"),
    "ALT": _limits("0", "50000", {U_PER_L: Decimal(1)}, f"{_NO_FLOOR}; {_NO_MAXIMUM}"),
    "AST": _limits("0", "50000", {U_PER_L: Decimal(1)}, f"{_NO_FLOOR}; {_NO_MAXIMUM}"),
    "BILI": _limits("0", "100", BILI_UNITS, f"{_NO_FLOOR}; {_NO_MAXIMUM}"),
    # The record holder is a young adult; a child has less muscle, so the limit is generous for this trial.
    "CREAT": _limits("0", "80", CREAT_UNITS,
        f"{_NO_FLOOR}; high chosen above creatinine 73.8 mg/dL, reported as the highest recorded "
        "(Case Rep Nephrol 2021;2021:6048919, doi:10.1155/2021/6048919)"),
    "K": _limits("0.5", "15", {MMOL_PER_L: Decimal(1)},
        "low chosen below K 0.9 mmol/L, reported as the lowest in the literature (ten Bos et al., Neth J Med "
        "2016, 'A case of extreme hypokalaemia'); high chosen above K 14 mmol/L with survival "
        "(Tran, South Med J 2005;98(7):729-32)"),
    "PHOS": _limits("0", "25", PHOS_UNITS,
        f"{_NO_FLOOR}; high chosen above phosphate 17.75 mmol/L in a 13-year-old after phosphate enemas, who "
        "survived (Biebl et al., Eur J Pediatr 2009;168(1):111)"),
    "FIBRINO": _limits("0", "15", FIBRINO_UNITS,
        f"low 0: fibrinogen is undetectable in consumptive coagulopathy; {_NO_MAXIMUM}"),
    "BLAST": _limits("0", "100", {PERCENT: Decimal(1)}, "0-100 %: the limits of a percentage of leukocytes"),
    "CRP": _limits("0", "1000", CRP_UNITS, f"{_NO_FLOOR}; {_NO_MAXIMUM}"),
    "FERRITIN": _limits("0", "2000000", FERRITIN_UNITS,
        f"{_NO_FLOOR}; high chosen far above ferritin > 50 000 ug/L, documented in 113 adults (Schram et al., "
        "Blood 2015;125(10):1548); no published maximum was located"),
    "IL6": _limits("0", "1000000", {PG_PER_ML: Decimal(1)}, f"{_NO_FLOOR}; {_NO_MAXIMUM}"),
}

#: The database's own CHECK ranges (models/vitals.py) are wider; these lie inside them (tested).
BODY_LIMITS: dict[str, Limits] = {
    # Doses are per kg: a 250 kg child must be refused. A heavier adolescent is possible but exceptional.
    "weight_kg": _limits("0.5", "200", {"kg": Decimal(1)},
        "chosen: 0.5 kg (below any child old enough for relapsed AML) to 200 kg; a real weight above 200 kg "
        "needs this limit reviewed"),
    "height_cm": _limits("30", "220", {"cm": Decimal(1)}, "chosen: 30 cm (extreme prematurity) to 220 cm"),
    "temperature_c": _limits("25", "45", {"°C": Decimal(1)},
        "the database's own CHECK range for body temperature (vital_signs.temperature_c, crs.max_temp_c)"),
    "heart_rate": _limits("20", "300", {"/min": Decimal(1)}, "chosen: 20-300 /min (infant SVT rates approach 300)"),
    "respiratory_rate": _limits("4", "120", {"/min": Decimal(1)}, "chosen: 4-120 /min (neonatal tachypnoea)"),
    "systolic_bp": _limits("30", "300", {"mmHg": Decimal(1)}, "chosen: 30-300 mmHg"),
    "diastolic_bp": _limits("10", "200", {"mmHg": Decimal(1)}, "chosen: 10-200 mmHg"),
    "spo2_pct": _limits("30", "100", {"%": Decimal(1)},
        "high 100 %: the physical maximum; low chosen at 30 % (oximeter accuracy is specified only over "
        "70-100 %, ISO 80601-2-61)"),
}
# fmt: on

# Exact products (limit x factor); 60 digits is far beyond any limit here.
_EXACT = Context(prec=60)


@dataclass(frozen=True)
class PlausibilityResult:
    """The decision and the limits it used, in the unit the value was given in."""

    plausible: bool
    low: Decimal
    high: Decimal
    unit: str
    reason: str
    rule_id: str
    rule_version: str
    source: str


def _plain(number: Decimal) -> str:
    """A limit for people to read: no exponent, no trailing zeros after the point."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _in_unit(limit: Decimal, factor: Decimal) -> Decimal:
    return Decimal(_plain(_EXACT.multiply(limit, factor)))


def limits_in(limits: Limits, unit: str) -> tuple[Decimal, Decimal]:
    """``limits`` converted exactly to ``unit`` (one of ``limits.units``)."""
    factor = limits.units[unit]
    return _in_unit(limits.low, factor), _in_unit(limits.high, factor)


# --------------------------------------------------------------------------------------------- public API


def check_lab(test_code: str, value: Number, unit: str) -> PlausibilityResult:
    """Is ``value`` (in ``unit``) a possible result of ``test_code`` (CDISC LBTESTCD) in a living child?"""
    code = test_code.strip().upper() if isinstance(test_code, str) else ""
    if code not in LAB_LIMITS:
        raise rule_error(
            "test_code", "plausibility.lab", f"{test_code!r} has no limits; use one of {', '.join(LAB_LIMITS)}"
        )
    rule = LAB_RULE_PREFIX + code
    limits = LAB_LIMITS[code]
    given_unit = canonical_unit(unit, tuple(limits.units), "unit", rule, _UNIT_ALIASES)
    number = non_negative(value, "value", rule)
    return _decide(code, number, given_unit, limits, rule)


def check_body(measure: str, value: Number, *, age_years: Number | None = None) -> PlausibilityResult:
    """Is ``value`` a possible ``measure`` (a key of ``BODY_LIMITS``, in its unit) of a living child?

    ``age_years`` is validated but does not change the limits (see the module docstring).
    """
    key = measure.strip().lower() if isinstance(measure, str) else ""
    if key not in BODY_LIMITS:
        raise rule_error(
            "measure", "plausibility.body", f"{measure!r} has no limits; use one of {', '.join(BODY_LIMITS)}"
        )
    rule = BODY_RULE_PREFIX + key
    limits = BODY_LIMITS[key]
    number = non_negative(value, "value", rule)
    if age_years is not None:
        non_negative(age_years, "age_years", rule)
    return _decide(key, number, limits.unit, limits, rule)


# ------------------------------------------------------------------------------------------ internals


def _decide(label: str, number: Decimal, unit: str, limits: Limits, rule: str) -> PlausibilityResult:
    low, high = limits_in(limits, unit)
    plausible = low <= number <= high
    where = "within" if plausible else "outside"
    reason = (
        f"{label} {number} {unit} is {where} the plausible range {_plain(low)}-{_plain(high)} {unit} "
        f"({RULE_NAME}, {rule})"
    )
    return PlausibilityResult(plausible, low, high, unit, reason, rule, RULE_VERSION, limits.source)
