"""CTCAE v5.0 grading of the trial's laboratory terms, febrile neutropenia and fever.

Source: NCI, Common Terminology Criteria for Adverse Events v5.0 (27 Nov 2017); the grade texts quoted next
to each table are copied from ``/work/shared/reference/CTCAE_v5.0_terms.csv``. How the printed ranges are read
is fixed by CLINICAL_RULES.md ("CTCAE v5.0 lab grading"):

- ``<A - B`` means ``B <= v < A`` and ``>A - B`` means ``A < v <= B``;
- in a grade text a semicolon means "or";
- comparisons are Decimal, from the value as entered: a ratio boundary is tested as ``v > k x ULN`` (one exact
  multiplication) rather than ``v / ULN > k``, so that creatinine 2.1 with ULN 0.7 is exactly 3.0 x ULN (G2);
- with no baseline known, the "baseline was normal" branch is used.

Readings this module had to choose (CLINICAL_RULES.md leaves them open):

- A missing LLN for a term whose LLN only bounds grade 1 (cytopenias, anaemia, hypokalaemia,
  hypophosphataemia) is not an error: the other criteria are graded and the reasons say grade 1 was not
  assessable. A missing ULN (ALT, AST, bilirubin, creatinine) or LLN (fibrinogen) is an error, because every
  grade of those terms is a multiple of it.
- Clinical flags grade on their own, as CTCAE's "; transfusion indicated" etc. are alternatives to the value.
  A flag the term's grade texts do not mention is not used, and the reasons say so (never silently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Literal

from jk500db.clinical.numbers import (
    ClinicalInputError,
    Number,
    canonical_unit,
    non_negative,
    rule_error,
    rule_number,
)
from jk500db.clinical.results import GradeResult
from jk500db.clinical.settings import DEFAULT_SETTINGS, RuleSettings

RULE_VERSION = "1"
LAB_RULE_PREFIX = "ctcae5.lab."
FEBRILE_NEUTROPENIA_RULE_ID = "ctcae5.febrile_neutropenia"
FEVER_RULE_ID = "ctcae5.fever"
SOURCE = "CTCAE v5.0"

# Units as the API spells them; "/uL" is the same as CTCAE's "/mm3".
PER_NANOLITRE = "10^9/L"
PER_MICROLITRE = "/uL"
G_PER_DL = "g/dL"
G_PER_L = "g/L"
MMOL_PER_L = "mmol/L"
U_PER_L = "U/L"
MG_PER_DL = "mg/dL"
UMOL_PER_L = "umol/L"

#: other spellings of the same unit -> the API's spelling
_UNIT_ALIASES: dict[str, str] = {"/mm3": PER_MICROLITRE, "µmol/L": UMOL_PER_L, "μmol/L": UMOL_PER_L}
#: 1 x 10^9/L = 1000 /uL (1 L = 10^6 uL), so a count per uL divided by 1000 is x10^9/L, exactly.
PER_MICROLITRE_PER_10E9_L = Decimal(1000)

# Exact products for ratio boundaries (k x ULN); 60 digits is far beyond any value a lab reports.
_EXACT = Context(prec=60)

Op = Literal["<", "<=", ">", ">="]
Flag = Literal[
    "transfusion_indicated",
    "symptomatic",
    "intervention_indicated",
    "oral_replacement_indicated",
    "hospitalization_indicated",
    "life_threatening",
]


@dataclass(frozen=True)
class Step:
    """One grade row: ``quantity <op> bound x scale`` gives ``grade``; ``printed`` is the CTCAE text it implements."""

    grade: int
    op: Op
    bound: Decimal
    printed: str


def _met(step: Step, quantity: Decimal, scale: Decimal) -> bool:
    limit = _EXACT.multiply(step.bound, scale)
    if step.op == "<":
        return quantity < limit
    if step.op == "<=":
        return quantity <= limit
    if step.op == ">":
        return quantity > limit
    return quantity >= limit


def _highest(steps: Sequence[Step], quantity: Decimal, scale: Decimal = Decimal(1)) -> Step | None:
    """The highest-grade step the quantity meets, or None."""
    met = [step for step in steps if _met(step, quantity, scale)]
    return max(met, key=lambda step: step.grade) if met else None


def _d(text: str) -> Decimal:
    return Decimal(text)


# --- Cytopenias (x10^9/L). G4 v < t3, G3 v < t2, G2 v < t1, G1 v < LLN; read literally even when a
# paediatric LLN lies below t1 (CLINICAL_RULES.md). Grade 1 is added per result because LLN is per result.


@dataclass(frozen=True)
class Cytopenia:
    term: str
    label: str
    steps: tuple[Step, ...]
    grade1_printed: str


CYTOPENIAS: dict[str, Cytopenia] = {
    # "Neutrophil count decreased": G1 "<LLN - 1500/mm3; <LLN - 1.5 x 10e9 /L", G2 "<1500 - 1000/mm3;
    # <1.5 - 1.0 x 10e9 /L", G3 "<1000 - 500/mm3; <1.0 - 0.5 x 10e9 /L", G4 "<500/mm3; <0.5 x 10e9 /L"
    "NEUT": Cytopenia(
        "Neutrophil count decreased",
        "ANC",
        (
            Step(2, "<", _d("1.5"), "<1.5 - 1.0 x 10e9 /L"),
            Step(3, "<", _d("1.0"), "<1.0 - 0.5 x 10e9 /L"),
            Step(4, "<", _d("0.5"), "<0.5 x 10e9 /L"),
        ),
        "<LLN - 1.5 x 10e9 /L",
    ),
    # "Platelet count decreased": G1 "<LLN - 75.0 x 10e9 /L", G2 "<75.0 - 50.0 x 10e9 /L",
    # G3 "<50.0 - 25.0 x 10e9 /L", G4 "<25.0 x 10e9 /L"
    "PLAT": Cytopenia(
        "Platelet count decreased",
        "PLT",
        (
            Step(2, "<", _d("75.0"), "<75.0 - 50.0 x 10e9 /L"),
            Step(3, "<", _d("50.0"), "<50.0 - 25.0 x 10e9 /L"),
            Step(4, "<", _d("25.0"), "<25.0 x 10e9 /L"),
        ),
        "<LLN - 75.0 x 10e9 /L",
    ),
    # "White blood cell decreased": G1 "<LLN - 3.0 x 10e9 /L", G2 "<3.0 - 2.0 x 10e9 /L",
    # G3 "<2.0 - 1.0 x 10e9 /L", G4 "<1.0 x 10e9 /L"
    "WBC": Cytopenia(
        "White blood cell decreased",
        "WBC",
        (
            Step(2, "<", _d("3.0"), "<3.0 - 2.0 x 10e9 /L"),
            Step(3, "<", _d("2.0"), "<2.0 - 1.0 x 10e9 /L"),
            Step(4, "<", _d("1.0"), "<1.0 x 10e9 /L"),
        ),
        "<LLN - 3.0 x 10e9 /L",
    ),
    # "Lymphocyte count decreased": G1 "<LLN - 0.8 x 10e9/L", G2 "<0.8 - 0.5 x 10e9 /L",
    # G3 "<0.5 - 0.2 x 10e9 /L", G4 "<0.2 x 10e9 /L"
    "LYM": Cytopenia(
        "Lymphocyte count decreased",
        "lymphocytes",
        (
            Step(2, "<", _d("0.8"), "<0.8 - 0.5 x 10e9 /L"),
            Step(3, "<", _d("0.5"), "<0.5 - 0.2 x 10e9 /L"),
            Step(4, "<", _d("0.2"), "<0.2 x 10e9 /L"),
        ),
        "<LLN - 0.8 x 10e9/L",
    ),
}

# --- Anaemia. "Anemia": G1 "Hemoglobin (Hgb) <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L",
# G2 "Hgb <10.0 - 8.0 g/dL; <6.2 - 4.9 mmol/L; <100 - 80g/L", G3 "Hgb <8.0 g/dL; <4.9 mmol/L; <80 g/L;
# transfusion indicated", G4 "Life-threatening consequences; urgent intervention indicated".
# Graded in the reported unit with CTCAE's own printed numbers (they are rounded, not exact conversions).
ANEMIA_TERM = "Anemia"
HGB_STEPS: dict[str, tuple[Step, ...]] = {
    G_PER_DL: (Step(2, "<", _d("10.0"), "Hgb <10.0 - 8.0 g/dL"), Step(3, "<", _d("8.0"), "Hgb <8.0 g/dL")),
    G_PER_L: (Step(2, "<", _d("100"), "<100 - 80g/L"), Step(3, "<", _d("80"), "<80 g/L")),
    MMOL_PER_L: (Step(2, "<", _d("6.2"), "<6.2 - 4.9 mmol/L"), Step(3, "<", _d("4.9"), "<4.9 mmol/L")),
}
HGB_GRADE1_PRINTED: dict[str, str] = {
    G_PER_DL: "Hemoglobin (Hgb) <LLN - 10.0 g/dL",
    G_PER_L: "<LLN - 100 g/L",
    MMOL_PER_L: "<LLN - 6.2 mmol/L",
}

# --- ALT / AST. "Alanine aminotransferase increased" and "Aspartate aminotransferase increased" (same text):
# G1 ">ULN - 3.0 x ULN if baseline was normal; 1.5 - 3.0 x baseline if baseline was abnormal",
# G2 ">3.0 - 5.0 x ULN ...; >3.0 - 5.0 x baseline ...", G3 ">5.0 - 20.0 x ULN ...; >5.0 - 20.0 x baseline ...",
# G4 ">20.0 x ULN if baseline was normal; >20.0 x baseline if baseline was abnormal".
# Abnormal baseline = baseline > ULN. Note the abnormal-baseline G1 lower bound 1.5 is inclusive (no ">").
TRANSAMINASE_NORMAL_BASELINE: tuple[Step, ...] = (
    Step(1, ">", _d("1"), ">ULN - 3.0 x ULN"),
    Step(2, ">", _d("3.0"), ">3.0 - 5.0 x ULN"),
    Step(3, ">", _d("5.0"), ">5.0 - 20.0 x ULN"),
    Step(4, ">", _d("20.0"), ">20.0 x ULN"),
)
TRANSAMINASE_ABNORMAL_BASELINE: tuple[Step, ...] = (
    Step(1, ">=", _d("1.5"), "1.5 - 3.0 x baseline"),
    Step(2, ">", _d("3.0"), ">3.0 - 5.0 x baseline"),
    Step(3, ">", _d("5.0"), ">5.0 - 20.0 x baseline"),
    Step(4, ">", _d("20.0"), ">20.0 x baseline"),
)

# --- Bilirubin. "Blood bilirubin increased": G1 ">ULN - 1.5 x ULN if baseline was normal; > 1.0 - 1.5 x
# baseline if baseline was abnormal", G2 ">1.5 - 3.0 x ULN ...; >1.5 - 3.0 x baseline ...",
# G3 ">3.0 - 10.0 x ULN ...; >3.0 - 10.0 x baseline ...", G4 ">10.0 x ULN ...; >10.0 x baseline ...".
BILIRUBIN_NORMAL_BASELINE: tuple[Step, ...] = (
    Step(1, ">", _d("1"), ">ULN - 1.5 x ULN"),
    Step(2, ">", _d("1.5"), ">1.5 - 3.0 x ULN"),
    Step(3, ">", _d("3.0"), ">3.0 - 10.0 x ULN"),
    Step(4, ">", _d("10.0"), ">10.0 x ULN"),
)
BILIRUBIN_ABNORMAL_BASELINE: tuple[Step, ...] = (
    Step(1, ">", _d("1.0"), "> 1.0 - 1.5 x baseline"),
    Step(2, ">", _d("1.5"), ">1.5 - 3.0 x baseline"),
    Step(3, ">", _d("3.0"), ">3.0 - 10.0 x baseline"),
    Step(4, ">", _d("10.0"), ">10.0 x baseline"),
)

# --- Creatinine. "Creatinine increased": G1 ">ULN - 1.5 x ULN", G2 ">1.5 - 3.0 x baseline; >1.5 - 3.0 x ULN",
# G3 ">3.0 x baseline; >3.0 - 6.0 x ULN", G4 ">6.0 x ULN". The grade is the higher of the two criteria;
# v5.0 has no baseline criterion in G1 or G4.
CREATININE_BY_ULN: tuple[Step, ...] = (
    Step(1, ">", _d("1"), ">ULN - 1.5 x ULN"),
    Step(2, ">", _d("1.5"), ">1.5 - 3.0 x ULN"),
    Step(3, ">", _d("3.0"), ">3.0 - 6.0 x ULN"),
    Step(4, ">", _d("6.0"), ">6.0 x ULN"),
)
CREATININE_BY_BASELINE: tuple[Step, ...] = (
    Step(2, ">", _d("1.5"), ">1.5 - 3.0 x baseline"),
    Step(3, ">", _d("3.0"), ">3.0 x baseline"),
)

# --- Hypokalaemia (mmol/L). "Hypokalemia": G1 "<LLN - 3.0 mmol/L", G2 "Symptomatic with <LLN - 3.0 mmol/L;
# intervention indicated", G3 "<3.0 - 2.5 mmol/L; hospitalization indicated", G4 "<2.5 mmol/L;
# life-threatening consequences".
HYPOKALEMIA_STEPS: tuple[Step, ...] = (
    Step(3, "<", _d("3.0"), "<3.0 - 2.5 mmol/L"),
    Step(4, "<", _d("2.5"), "<2.5 mmol/L"),
)
POTASSIUM_G2_FLOOR = _d("3.0")  # the "3.0" of "Symptomatic with <LLN - 3.0 mmol/L"

# --- Fibrinogen. "Fibrinogen decreased": G1 "<1.0 - 0.75 x LLN; if abnormal, <25% decrease from baseline",
# G2 "<0.75 - 0.5 x LLN; if abnormal, 25 - <50% decrease from baseline", G3 "<0.5 - 0.25 x LLN; if abnormal,
# 50 - <75% decrease from baseline", G4 "<0.25 x LLN; if abnormal, 75% decrease from baseline; absolute value
# <50 mg/dL". Abnormal baseline = baseline < LLN. The decrease is tested as (baseline - v) x 100 against
# pct x baseline, i.e. d = (baseline - v) / baseline x 100 without a division.
FIBRINOGEN_BY_LLN: tuple[Step, ...] = (
    Step(1, "<", _d("1.0"), "<1.0 - 0.75 x LLN"),
    Step(2, "<", _d("0.75"), "<0.75 - 0.5 x LLN"),
    Step(3, "<", _d("0.5"), "<0.5 - 0.25 x LLN"),
    Step(4, "<", _d("0.25"), "<0.25 x LLN"),
)
FIBRINOGEN_BY_DECREASE_PCT: tuple[Step, ...] = (
    Step(1, ">", _d("0"), "if abnormal, <25% decrease from baseline"),
    Step(2, ">=", _d("25"), "if abnormal, 25 - <50% decrease from baseline"),
    Step(3, ">=", _d("50"), "if abnormal, 50 - <75% decrease from baseline"),
    Step(4, ">=", _d("75"), "if abnormal, 75% decrease from baseline"),
)
#: "absolute value <50 mg/dL" (= 0.5 g/L), in each accepted unit
FIBRINOGEN_ABSOLUTE_G4: dict[str, Step] = {
    MG_PER_DL: Step(4, "<", _d("50"), "absolute value <50 mg/dL"),
    G_PER_L: Step(4, "<", _d("0.5"), "absolute value <50 mg/dL"),
}

# --- Febrile neutropenia. G3 "ANC <1000/mm3 with a single temperature of >38.3 degrees C (101 degrees F) or a
# sustained temperature of >=38 degrees C (100.4 degrees F) for more than one hour". G1 and G2 are " -".
FEBRILE_NEUTROPENIA_TERM = "Febrile neutropenia"
FN_PRINTED = (
    "ANC <1000/mm3 with a single temperature of >38.3 degrees C (101 degrees F) or a sustained temperature of "
    ">=38 degrees C (100.4 degrees F) for more than one hour"
)
FN_ANC_BELOW = _d("1.0")  # x10^9/L (= 1000/mm3)
FN_SINGLE_TEMP_ABOVE_C = _d("38.3")
FN_SUSTAINED_TEMP_C = _d("38.0")
FN_SUSTAINED_MORE_THAN_MIN = _d("60")

# --- Fever. G1 "38.0 - 39.0 degrees C (100.4 - 102.2 degrees F)", G2 ">39.0 - 40.0 degrees C",
# G3 ">40.0 degrees C (>104.0 degrees F) for <=24 hrs", G4 ">40.0 degrees C (>104.0 degrees F) for >24 hrs".
FEVER_TERM = "Fever"
FEVER_STEPS: tuple[Step, ...] = (
    Step(1, ">=", _d("38.0"), "38.0 - 39.0 degrees C"),
    Step(2, ">", _d("39.0"), ">39.0 - 40.0 degrees C"),
    Step(3, ">", _d("40.0"), ">40.0 degrees C (>104.0 degrees F) for <=24 hrs"),
)
FEVER_G4_MORE_THAN_HOURS = _d("24")
FEVER_G4_PRINTED = ">40.0 degrees C (>104.0 degrees F) for >24 hrs"


@dataclass(frozen=True)
class LabTest:
    """What a test code grades: its CTCAE term, units it accepts and the clinical flags its texts use."""

    term: str
    label: str
    units: tuple[str, ...]
    flags: frozenset[Flag] = frozenset()


_COUNT_UNITS = (PER_NANOLITRE, PER_MICROLITRE)
_RATIO_UNITS = (MG_PER_DL, UMOL_PER_L)

LAB_TESTS: dict[str, LabTest] = {
    **{code: LabTest(spec.term, spec.label, _COUNT_UNITS) for code, spec in CYTOPENIAS.items()},
    "HGB": LabTest(
        ANEMIA_TERM, "Hgb", (G_PER_DL, G_PER_L, MMOL_PER_L), frozenset({"transfusion_indicated", "life_threatening"})
    ),
    "ALT": LabTest("Alanine aminotransferase increased", "ALT", (U_PER_L,)),
    "AST": LabTest("Aspartate aminotransferase increased", "AST", (U_PER_L,)),
    "BILI": LabTest("Blood bilirubin increased", "bilirubin", _RATIO_UNITS),
    "CREAT": LabTest("Creatinine increased", "creatinine", _RATIO_UNITS),
    "K": LabTest(
        "Hypokalemia",
        "K",
        (MMOL_PER_L,),
        frozenset({"symptomatic", "intervention_indicated", "hospitalization_indicated", "life_threatening"}),
    ),
    "PHOS": LabTest(
        "Hypophosphatemia",
        "phosphate",
        (MMOL_PER_L, MG_PER_DL),
        frozenset({"oral_replacement_indicated", "hospitalization_indicated", "life_threatening"}),
    ),
    "FIBRINO": LabTest("Fibrinogen decreased", "fibrinogen", (G_PER_L, MG_PER_DL)),
}


@dataclass(frozen=True)
class Lab:
    """One validated result: value and limits in the unit graded (counts already in x10^9/L)."""

    code: str
    spec: LabTest
    value: Decimal
    unit: str
    lln: Decimal | None
    uln: Decimal | None
    baseline: Decimal | None
    flags: frozenset[Flag]
    entered: str  # the value as reported, with its unit, for the reasons

    @property
    def rule_id(self) -> str:
        return LAB_RULE_PREFIX + self.code

    def cite(self, printed: str) -> str:
        return f"({SOURCE} {self.spec.term}: {printed})"


@dataclass(frozen=True)
class Finding:
    grade: int
    reason: str


# --------------------------------------------------------------------------------------------- public API


def grade_lab(
    test: str,
    value: Number,
    unit: str,
    *,
    lln: Number | None = None,
    uln: Number | None = None,
    baseline: Number | None = None,
    transfusion_indicated: bool = False,
    symptomatic: bool = False,
    intervention_indicated: bool = False,
    oral_replacement_indicated: bool = False,
    hospitalization_indicated: bool = False,
    life_threatening: bool = False,
    settings: RuleSettings | None = None,
) -> GradeResult:
    """Grade one laboratory result by CTCAE v5.0.

    ``test`` is the CDISC LBTESTCD; ``lln``, ``uln`` and ``baseline`` are in the same unit as ``value``.
    ``baseline`` is the value at the anchor of setting ``ctcae.baseline_anchor`` (chosen by the caller).
    """
    rules = settings or DEFAULT_SETTINGS
    flags: dict[Flag, bool] = {
        "transfusion_indicated": transfusion_indicated,
        "symptomatic": symptomatic,
        "intervention_indicated": intervention_indicated,
        "oral_replacement_indicated": oral_replacement_indicated,
        "hospitalization_indicated": hospitalization_indicated,
        "life_threatening": life_threatening,
    }
    lab = _validated_lab(test, value, unit, lln, uln, baseline, flags)
    grade, reasons = _GRADERS[lab.code](lab)
    unused = [name for name, given in flags.items() if given and name not in lab.spec.flags]
    notes = [f"{name} is not a criterion of {SOURCE} {lab.spec.term}: not used" for name in unused]
    return GradeResult(
        grade=grade,
        reasons=(*reasons, *notes),
        rule_id=lab.rule_id,
        rule_version=RULE_VERSION,
        term=lab.spec.term,
        settings={"ctcae.baseline_anchor": rules.ctcae_baseline_anchor},
    )


def grade_febrile_neutropenia(
    *, anc: Number, unit: str, max_temp_c: Number, minutes_at_or_above_38: Number = 0
) -> GradeResult:
    """CTCAE v5.0 febrile neutropenia: grade 3 or 0 (grades 4-5 need clinical judgement, not numbers)."""
    rule = FEBRILE_NEUTROPENIA_RULE_ID
    count_unit = canonical_unit(unit, _COUNT_UNITS, "unit", rule, _UNIT_ALIASES)
    anc_value = non_negative(anc, "anc", rule)
    anc_10e9 = _to_10e9_per_l(anc_value, count_unit)
    temp = non_negative(max_temp_c, "max_temp_c", rule)
    minutes = non_negative(minutes_at_or_above_38, "minutes_at_or_above_38", rule)
    if minutes > 0 and temp < FN_SUSTAINED_TEMP_C:
        raise ClinicalInputError(
            "minutes_at_or_above_38", f"{rule}: {minutes} min at >= 38.0 °C but max_temp_c is {temp} °C"
        )
    cite = f"({SOURCE} {FEBRILE_NEUTROPENIA_TERM}: {FN_PRINTED})"
    anc_text = f"ANC {_count_text(anc_value, count_unit, anc_10e9)}"
    grade, reason = 0, ""
    if anc_10e9 >= FN_ANC_BELOW:
        reason = f"{anc_text} not < 1.0: grade 0 {cite}"
    elif temp > FN_SINGLE_TEMP_ABOVE_C:
        grade, reason = 3, f"{anc_text} < 1.0 and single temperature {temp} °C > 38.3: grade 3 {cite}"
    elif temp >= FN_SUSTAINED_TEMP_C and minutes > FN_SUSTAINED_MORE_THAN_MIN:
        grade, reason = 3, f"{anc_text} < 1.0 and >= 38.0 °C sustained {minutes} min > 60: grade 3 {cite}"
    else:
        reason = (
            f"{anc_text} < 1.0 but max temperature {temp} °C not > 38.3 and >= 38.0 °C sustained only "
            f"{minutes} min (needs > 60): grade 0 {cite}"
        )
    return GradeResult(grade, (reason,), rule, RULE_VERSION, FEBRILE_NEUTROPENIA_TERM, {})


def grade_fever(*, max_temp_c: Number, hours_above_40: Number = 0) -> GradeResult:
    """CTCAE v5.0 fever from the highest temperature (°C) and the time spent above 40.0 °C."""
    rule = FEVER_RULE_ID
    temp = non_negative(max_temp_c, "max_temp_c", rule)
    hours = non_negative(hours_above_40, "hours_above_40", rule)
    above_40 = FEVER_STEPS[-1]
    if hours > 0 and not _met(above_40, temp, Decimal(1)):
        raise ClinicalInputError("hours_above_40", f"{rule}: {hours} h above 40.0 °C but max_temp_c is {temp} °C")
    step = _highest(FEVER_STEPS, temp)
    if step is None:
        reason = f"max temperature {temp} °C < 38.0: grade 0 ({SOURCE} {FEVER_TERM}: G1 starts at 38.0 degrees C)"
        return GradeResult(0, (reason,), rule, RULE_VERSION, FEVER_TERM, {})
    if step.grade == above_40.grade and hours > FEVER_G4_MORE_THAN_HOURS:
        printed = FEVER_G4_PRINTED
        reason = f"max temperature {temp} °C > 40.0 for {hours} h > 24: grade 4 ({SOURCE} {FEVER_TERM}: {printed})"
        return GradeResult(4, (reason,), rule, RULE_VERSION, FEVER_TERM, {})
    duration = f" for {hours} h (<= 24)" if step.grade == above_40.grade else ""
    reason = f"max temperature {temp} °C{duration}: grade {step.grade} ({SOURCE} {FEVER_TERM}: {step.printed})"
    return GradeResult(step.grade, (reason,), rule, RULE_VERSION, FEVER_TERM, {})


# ------------------------------------------------------------------------------------------ validation


def _optional_positive(value: Number | None, field: str, rule: str) -> Decimal | None:
    """A reference limit or ratio denominator: zero would make every multiple of it meaningless."""
    if value is None:
        return None
    number = rule_number(value, field, rule)
    if number <= 0:
        raise rule_error(field, rule, f"{value!r} must be greater than 0")
    return number


def _validated_lab(
    test: str,
    value: Number,
    unit: str,
    lln: Number | None,
    uln: Number | None,
    baseline: Number | None,
    flags: dict[Flag, bool],
) -> Lab:
    code = test.strip().upper() if isinstance(test, str) else ""
    if code not in LAB_TESTS:
        raise rule_error("test", "ctcae5.lab", f"{test!r} is not graded; use one of {', '.join(LAB_TESTS)}")
    spec = LAB_TESTS[code]
    rule = LAB_RULE_PREFIX + code
    graded_unit = canonical_unit(unit, spec.units, "unit", rule, _UNIT_ALIASES)
    number = non_negative(value, "value", rule)
    lower = _optional_positive(lln, "lln", rule)
    upper = _optional_positive(uln, "uln", rule)
    base = non_negative(baseline, "baseline", rule) if baseline is not None else None
    for name, given in flags.items():
        if not isinstance(given, bool):
            raise rule_error(name, rule, f"expected True or False, got {given!r}")
    entered = f"{number} {graded_unit}"
    if graded_unit in _COUNT_UNITS:  # counts are graded in x10^9/L; LLN is given in the value's unit
        as_10e9 = _to_10e9_per_l(number, graded_unit)
        lower = None if lower is None else _to_10e9_per_l(lower, graded_unit)
        entered = _count_text(number, graded_unit, as_10e9)
        number, graded_unit = as_10e9, PER_NANOLITRE
    active = frozenset(name for name, given in flags.items() if given)
    return Lab(code, spec, number, graded_unit, lower, upper, base, active, entered)


def _to_10e9_per_l(count: Decimal, unit: str) -> Decimal:
    return count / PER_MICROLITRE_PER_10E9_L if unit == PER_MICROLITRE else count


def _count_text(entered: Decimal, unit: str, per_10e9_l: Decimal) -> str:
    if unit == PER_MICROLITRE:
        return f"{entered} /uL = {per_10e9_l} x10^9/L"
    return f"{per_10e9_l} x10^9/L"


def _require(limit: Decimal | None, field: str, lab: Lab, why: str) -> Decimal:
    if limit is None:
        raise rule_error(field, lab.rule_id, f"{field} is required: {why}")
    return limit


# ------------------------------------------------------------------------------------------ graders


def _decide(findings: list[Finding], notes: list[str], normal: str) -> tuple[int, list[str]]:
    """Highest grade wins; its finding(s) are the reasons, then notes. ``normal`` explains grade 0."""
    if not findings:
        return 0, [normal, *notes]
    top = max(finding.grade for finding in findings)
    return top, [finding.reason for finding in findings if finding.grade == top] + notes


def _lln_finding(lab: Lab, printed: str) -> Finding | None:
    """Grade 1 "<LLN" of the terms whose LLN only bounds grade 1; None when not met or no LLN."""
    if lab.lln is None or not lab.value < lab.lln:
        return None
    return Finding(1, f"{lab.spec.label} {lab.entered} < LLN {lab.lln}: grade 1 {lab.cite(printed)}")


def _not_assessable(what: str) -> str:
    return f"no LLN given: {what} not assessable"


def _normal(lab: Lab) -> str:
    """Grade-0 reason of the terms graded against LLN."""
    compared = "no grade criterion met" if lab.lln is None else f"not below LLN {lab.lln}"
    return f"{lab.spec.label} {lab.entered} {compared}: grade 0 ({SOURCE} {lab.spec.term})"


def _threshold_findings(lab: Lab, steps: Sequence[Step], unit_text: str) -> list[Finding]:
    step = _highest(steps, lab.value)
    if step is None:
        return []
    reason = (
        f"{lab.spec.label} {lab.entered} {step.op} {step.bound}{unit_text}: grade {step.grade} {lab.cite(step.printed)}"
    )
    return [Finding(step.grade, reason)]


def _flag_findings(lab: Lab, graded: dict[Flag, tuple[int, str]]) -> list[Finding]:
    return [
        Finding(grade, f"{flag.replace('_', ' ')}: grade {grade} {lab.cite(printed)}")
        for flag, (grade, printed) in graded.items()
        if flag in lab.flags
    ]


def _grade_by_lln(lab: Lab, findings: list[Finding], grade1_printed: str) -> tuple[int, list[str]]:
    """Add grade 1 (< LLN) to the other findings; it can only decide when nothing else was met."""
    below = _lln_finding(lab, grade1_printed)
    notes = [_not_assessable(f"grade 1 ({grade1_printed})")] if lab.lln is None and not findings else []
    return _decide(findings + ([below] if below else []), notes, _normal(lab))


def _grade_cytopenia(lab: Lab) -> tuple[int, list[str]]:
    spec = CYTOPENIAS[lab.code]
    return _grade_by_lln(lab, _threshold_findings(lab, spec.steps, ""), spec.grade1_printed)


def _grade_anemia(lab: Lab) -> tuple[int, list[str]]:
    findings = _threshold_findings(lab, HGB_STEPS[lab.unit], "")
    findings += _flag_findings(
        lab,
        {
            "transfusion_indicated": (3, "transfusion indicated"),
            "life_threatening": (4, "Life-threatening consequences; urgent intervention indicated"),
        },
    )
    return _grade_by_lln(lab, findings, HGB_GRADE1_PRINTED[lab.unit])


def _grade_by_ratio(lab: Lab, steps: Sequence[Step], reference: Decimal, name: str) -> Finding | None:
    step = _highest(steps, lab.value, reference)
    if step is None:
        return None
    ratio = _ratio_text(lab.value, reference)
    reason = (
        f"{lab.spec.label} {lab.entered} = {ratio} x {name} {reference}: grade {step.grade} {lab.cite(step.printed)}"
    )
    return Finding(step.grade, reason)


def _grade_liver(lab: Lab) -> tuple[int, list[str]]:
    uln = _require(lab.uln, "uln", lab, "every grade is a multiple of ULN or of an abnormal baseline")
    normal_steps, abnormal_steps = (
        (BILIRUBIN_NORMAL_BASELINE, BILIRUBIN_ABNORMAL_BASELINE)
        if lab.code == "BILI"
        else (TRANSAMINASE_NORMAL_BASELINE, TRANSAMINASE_ABNORMAL_BASELINE)
    )
    if lab.baseline is not None and lab.baseline > uln:
        branch = f"baseline {lab.baseline} > ULN {uln} (abnormal baseline)"
        finding = _grade_by_ratio(lab, abnormal_steps, lab.baseline, "baseline")
        lowest = abnormal_steps[0]
        normal = (
            f"{branch}; {lab.spec.label} {lab.entered} = {_ratio_text(lab.value, lab.baseline)} x baseline, "
            f"below grade 1 ({lowest.printed}): grade 0 ({SOURCE} {lab.spec.term})"
        )
    else:
        branch = (
            "no baseline: graded as normal baseline"
            if lab.baseline is None
            else (f"baseline {lab.baseline} <= ULN {uln} (normal baseline)")
        )
        finding = _grade_by_ratio(lab, normal_steps, uln, "ULN")
        normal = f"{branch}; {lab.spec.label} {lab.entered} not > ULN {uln}: grade 0 ({SOURCE} {lab.spec.term})"
    if finding is None:
        return 0, [normal]
    return finding.grade, [f"{branch}; {finding.reason}"]


def _grade_creatinine(lab: Lab) -> tuple[int, list[str]]:
    uln = _require(lab.uln, "uln", lab, "every grade of Creatinine increased has a ULN criterion")
    findings: list[Finding] = []
    by_uln = _grade_by_ratio(lab, CREATININE_BY_ULN, uln, "ULN")
    if by_uln is not None:
        findings.append(by_uln)
    notes = ["no baseline: baseline criterion (G2-G3) not applied"] if lab.baseline is None else []
    if lab.baseline is not None:
        if lab.baseline == 0:
            raise rule_error("baseline", lab.rule_id, "must be greater than 0 to grade by x baseline")
        by_baseline = _grade_by_ratio(lab, CREATININE_BY_BASELINE, lab.baseline, "baseline")
        if by_baseline is not None:
            findings.append(by_baseline)
    normal = f"creatinine {lab.entered} not > ULN {uln}"
    if lab.baseline is not None:
        normal += f" and not > 1.5 x baseline {lab.baseline}"
    return _decide(findings, notes, f"{normal}: grade 0 ({SOURCE} {lab.spec.term})")


def _grade_hypokalemia(lab: Lab) -> tuple[int, list[str]]:
    findings = _threshold_findings(lab, HYPOKALEMIA_STEPS, " mmol/L")
    findings += _flag_findings(
        lab,
        {
            "intervention_indicated": (2, "intervention indicated"),
            "hospitalization_indicated": (3, "hospitalization indicated"),
            "life_threatening": (4, "life-threatening consequences"),
        },
    )
    # "Symptomatic with <LLN - 3.0 mmol/L": below 3.0 the value alone is already grade 3.
    symptomatic_in_range = "symptomatic" in lab.flags and lab.value >= POTASSIUM_G2_FLOOR
    below = _lln_finding(lab, "<LLN - 3.0 mmol/L")
    if below is not None and symptomatic_in_range:
        printed = "Symptomatic with <LLN - 3.0 mmol/L"
        reason = f"K {lab.entered} in 3.0 - <LLN {lab.lln} and symptomatic: grade 2 {lab.cite(printed)}"
        findings.append(Finding(2, reason))
    notes: list[str] = []
    could_reach = 2 if symptomatic_in_range else 1
    if lab.lln is None and max((f.grade for f in findings), default=0) < could_reach:
        what = "grade 2 (Symptomatic with <LLN - 3.0 mmol/L)" if symptomatic_in_range else "grade 1 (<LLN - 3.0 mmol/L)"
        notes.append(_not_assessable(what))
    return _decide(findings + ([below] if below else []), notes, _normal(lab))


def _grade_hypophosphatemia(lab: Lab) -> tuple[int, list[str]]:
    # v5.0 prints no numbers: G1 "Laboratory finding only and intervention not indicated" is read as < LLN.
    findings = _flag_findings(
        lab,
        {
            "oral_replacement_indicated": (2, "Oral replacement therapy indicated"),
            "hospitalization_indicated": (3, "hospitalization or prolongation of existing hospitalization indicated"),
            "life_threatening": (4, "Life-threatening consequences"),
        },
    )
    return _grade_by_lln(lab, findings, "Laboratory finding only and intervention not indicated")


def _grade_fibrinogen(lab: Lab) -> tuple[int, list[str]]:
    lln = _require(
        lab.lln, "lln", lab, "Fibrinogen decreased is graded as x LLN or against an abnormal (< LLN) baseline"
    )
    findings: list[Finding] = []
    absolute = FIBRINOGEN_ABSOLUTE_G4[lab.unit]
    if _met(absolute, lab.value, Decimal(1)):
        reason = f"fibrinogen {lab.entered} < {absolute.bound} {lab.unit}: grade 4 {lab.cite(absolute.printed)}"
        findings.append(Finding(4, reason))
    if lab.baseline is not None and lab.baseline < lln:
        branch = f"baseline {lab.baseline} < LLN {lln} (abnormal baseline)"
        if lab.baseline == 0:
            raise rule_error("baseline", lab.rule_id, "must be greater than 0 to grade a % decrease from it")
        decrease_x100 = (lab.baseline - lab.value) * 100
        step = _highest(FIBRINOGEN_BY_DECREASE_PCT, decrease_x100, lab.baseline)
        pct = _ratio_text(decrease_x100, lab.baseline)
        if step is not None:
            reason = (
                f"{branch}; fibrinogen {lab.entered} is a {pct} % decrease: grade {step.grade} {lab.cite(step.printed)}"
            )
            findings.append(Finding(step.grade, reason))
        normal = f"{branch}; fibrinogen {lab.entered} is no decrease from baseline: grade 0 ({SOURCE} {lab.spec.term})"
    else:
        branch = (
            "no baseline: graded as normal baseline"
            if lab.baseline is None
            else (f"baseline {lab.baseline} >= LLN {lln} (normal baseline)")
        )
        by_lln = _grade_by_ratio(lab, FIBRINOGEN_BY_LLN, lln, "LLN")
        if by_lln is not None:
            findings.append(Finding(by_lln.grade, f"{branch}; {by_lln.reason}"))
        normal = f"{branch}; fibrinogen {lab.entered} not below LLN {lln}: grade 0 ({SOURCE} {lab.spec.term})"
    return _decide(findings, [], normal)


def _ratio_text(numerator: Decimal, denominator: Decimal) -> str:
    """A ratio for people to read: exact when it has <= 3 decimals, else rounded with '≈'."""
    ratio = _EXACT.divide(numerator, denominator)
    shown = ratio.quantize(Decimal("0.001"))
    return format(ratio, "f") if shown == ratio else f"≈{shown}"


_GRADERS = {
    "NEUT": _grade_cytopenia,
    "PLAT": _grade_cytopenia,
    "WBC": _grade_cytopenia,
    "LYM": _grade_cytopenia,
    "HGB": _grade_anemia,
    "ALT": _grade_liver,
    "AST": _grade_liver,
    "BILI": _grade_liver,
    "CREAT": _grade_creatinine,
    "K": _grade_hypokalemia,
    "PHOS": _grade_hypophosphatemia,
    "FIBRINO": _grade_fibrinogen,
}
#: CDISC LBTESTCD codes this module grades.
GRADED_TESTS = frozenset(_GRADERS)
