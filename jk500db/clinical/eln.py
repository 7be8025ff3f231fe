"""ELN 2022 response in AML (Döhner et al., Blood 2022;140:1345, response-criteria table).

Counts are x10^9/L, blasts are percentages. Every threshold below is quoted from the ELN 2022 table:

- leukaemia-free: bone-marrow blasts < 5 %, no circulating blasts, no extramedullary disease (EMD);
- CR:  leukaemia-free, ANC >= 1.0 and platelets >= 100;
- CRh: leukaemia-free, ANC >= 0.5 and platelets >= 50 ("if CRh used, CRi should only include patients not
  meeting the definition of CRh", so CRh is tested before CRi);
- CRi: "all CR criteria except for residual neutropenia < 1.0 or thrombocytopenia < 100" -- read as one
  lineage recovered (setting ``eln.cri_requires_one_lineage``, default true);
- MLFS: leukaemia-free, no recovery required; "marrow should not merely be aplastic" (adequate marrow);
- PR: all haematological criteria of CR, marrow blasts 5-25 % and a decrease of at least 50 % from the
  pre-treatment value;
- no response (NR): evaluable but none of the above;
- non-evaluable (NE): "patients lacking an adequate bone marrow response evaluation ... a technically
  suboptimal bone marrow sample precluding assessment" -- so an inadequate marrow is NE whatever it shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from jk500db.clinical.numbers import (
    ClinicalInputError,
    Number,
    optional_decimal,
    to_decimal,
)
from jk500db.clinical.settings import DEFAULT_SETTINGS, RuleSettings

RESPONSE_RULE_ID = "eln2022.response"
RELAPSE_RULE_ID = "eln2022.relapse"
ORR_RULE_ID = "nct05519384.orr"
RULE_VERSION = "1"

Category = Literal["CR", "CRh", "CRi", "MLFS", "PR", "NR", "NE"]
CATEGORIES: tuple[Category, ...] = ("CR", "CRh", "CRi", "MLFS", "PR", "NR", "NE")
#: Remissions after which MRD is reported and after which relapse is defined (ELN 2022).
REMISSIONS: frozenset[str] = frozenset({"CR", "CRh", "CRi"})

# ELN 2022 response table thresholds (x10^9/L, %).
LEUKAEMIA_FREE_BLASTS_BELOW = Decimal(5)
CR_ANC = Decimal("1.0")
CR_PLT = Decimal(100)
CRH_ANC = Decimal("0.5")
CRH_PLT = Decimal(50)
PR_BLASTS_MIN = Decimal(5)
PR_BLASTS_MAX = Decimal(25)
PR_MAX_FRACTION_OF_BASELINE = Decimal("0.5")  # "decrease ... by at least 50 %"
#: ELN 2022 relapse: circulating blasts "in at least 2 peripheral blood samples at least one week apart".
RELAPSE_BLOOD_SAMPLES_APART_DAYS = 7

#: ORR = CR + CRi + PR (registry NCT05519384); CRh is added by setting ``orr.includes_crh``.
ORR_ALWAYS: frozenset[str] = frozenset({"CR", "CRi", "PR"})


@dataclass(frozen=True)
class ResponseResult:
    """An ELN 2022 response with the criterion that decided it."""

    category: Category
    mrd_negative: bool | None
    reasons: tuple[str, ...]
    rule_id: str = RESPONSE_RULE_ID
    rule_version: str = RULE_VERSION
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Category with ELN's MRD suffix, e.g. ``CR MRD-negative``; plain category otherwise."""
        return f"{self.category} MRD-negative" if self.mrd_negative else self.category


@dataclass(frozen=True)
class RelapseResult:
    """Whether an assessment after CR/CRh/CRi is a haematological relapse."""

    relapse: bool
    reasons: tuple[str, ...]
    rule_id: str = RELAPSE_RULE_ID
    rule_version: str = RULE_VERSION


@dataclass(frozen=True)
class _Counts:
    blasts: Decimal
    anc: Decimal
    plt: Decimal
    circulating_blasts: bool
    extramedullary: bool

    def leukaemia_free(self) -> bool:
        return self.blasts < LEUKAEMIA_FREE_BLASTS_BELOW and not self.circulating_blasts and not self.extramedullary

    def cr_counts(self) -> bool:
        return self.anc >= CR_ANC and self.plt >= CR_PLT

    def describe(self) -> str:
        return (
            f"marrow blasts {self.blasts} %, ANC {self.anc}, PLT {self.plt}, "
            f"circulating blasts {'yes' if self.circulating_blasts else 'no'}, "
            f"extramedullary disease {'yes' if self.extramedullary else 'no'}"
        )


def classify(
    *,
    bm_blast_pct: Number | None,
    anc: Number,
    plt: Number,
    circulating_blasts: bool = False,
    extramedullary: bool = False,
    marrow_adequate: bool = True,
    baseline_bm_blast_pct: Number | None = None,
    mrd_pct: Number | None = None,
    mrd_threshold_pct: Number | None = None,
    settings: RuleSettings | None = None,
) -> ResponseResult:
    """Classify one response assessment by ELN 2022.

    ``mrd_threshold_pct`` overrides the setting ``eln.mrd_threshold_pct`` (flow default 0.1 %) when given.
    """
    rules = settings or DEFAULT_SETTINGS
    threshold = to_decimal(
        rules.mrd_threshold_pct if mrd_threshold_pct is None else mrd_threshold_pct, "mrd_threshold_pct"
    )
    used = {
        "eln.cri_requires_one_lineage": rules.cri_requires_one_lineage,
        "eln.mrd_threshold_pct": str(threshold),
    }
    blasts = optional_decimal(bm_blast_pct, "bm_blast_pct")
    counts_anc = _non_negative(anc, "anc")
    counts_plt = _non_negative(plt, "plt")
    baseline = optional_decimal(baseline_bm_blast_pct, "baseline_bm_blast_pct")
    mrd = optional_decimal(mrd_pct, "mrd_pct")
    for value, name in ((blasts, "bm_blast_pct"), (baseline, "baseline_bm_blast_pct"), (mrd, "mrd_pct")):
        if value is not None:
            _check_percentage(value, name)

    if blasts is None:
        return ResponseResult("NE", None, ("no bone-marrow blast count: non-evaluable (ELN 2022 NE)",), settings=used)
    if not marrow_adequate:
        reason = "bone-marrow sample not adequate for assessment: non-evaluable (ELN 2022 NE)"
        return ResponseResult("NE", None, (reason,), settings=used)

    counts = _Counts(blasts, counts_anc, counts_plt, circulating_blasts, extramedullary)
    category, reasons = _categorise(counts, baseline, rules.cri_requires_one_lineage)
    mrd_negative, mrd_reasons = _mrd_status(category, mrd, threshold)
    return ResponseResult(category, mrd_negative, (*reasons, *mrd_reasons), settings=used)


def _categorise(
    counts: _Counts, baseline: Decimal | None, cri_requires_one_lineage: bool
) -> tuple[Category, list[str]]:
    facts = counts.describe()
    if counts.leukaemia_free():
        return _remission_category(counts, cri_requires_one_lineage, facts)
    reasons = [f"{facts}: not leukaemia-free (needs blasts < 5 %, no circulating blasts, no EMD)"]
    pr_blasts = PR_BLASTS_MIN <= counts.blasts <= PR_BLASTS_MAX
    if not (counts.cr_counts() and pr_blasts and not counts.circulating_blasts and not counts.extramedullary):
        reasons.append("PR needs ANC >= 1.0, PLT >= 100, blasts 5-25 %, no circulating blasts or EMD: no response (NR)")
        return "NR", reasons
    if baseline is None:
        reasons.append("PR cannot be judged without the pre-treatment marrow blast %: non-evaluable (NE)")
        return "NE", reasons
    limit = baseline * PR_MAX_FRACTION_OF_BASELINE
    if counts.blasts <= limit:
        reasons.append(f"blasts {counts.blasts} % <= 50 % of pre-treatment {baseline} % and in 5-25 %: PR")
        return "PR", reasons
    reasons.append(f"blasts {counts.blasts} % > 50 % of pre-treatment {baseline} % ({limit} %): no response (NR)")
    return "NR", reasons


def _remission_category(counts: _Counts, cri_requires_one_lineage: bool, facts: str) -> tuple[Category, list[str]]:
    lead = f"{facts}: leukaemia-free"
    if counts.cr_counts():
        return "CR", [f"{lead}, ANC >= 1.0 and PLT >= 100: CR"]
    if counts.anc >= CRH_ANC and counts.plt >= CRH_PLT:
        return "CRh", [f"{lead}, ANC >= 0.5 and PLT >= 50 (not both CR counts): CRh"]
    one_lineage = counts.anc >= CR_ANC or counts.plt >= CR_PLT
    if one_lineage:
        return "CRi", [f"{lead}, one lineage recovered (ANC >= 1.0 or PLT >= 100), not CRh: CRi"]
    if not cri_requires_one_lineage:
        reason = f"{lead}, no lineage recovered; eln.cri_requires_one_lineage is false: CRi"
        return "CRi", [reason]
    return "MLFS", [f"{lead}, no lineage recovered (ANC < 1.0 and PLT < 100), adequate marrow: MLFS"]


def _mrd_status(category: Category, mrd: Decimal | None, threshold: Decimal) -> tuple[bool | None, list[str]]:
    if category not in REMISSIONS:
        return None, []
    if mrd is None:
        return None, ["MRD not recorded: MRD status unknown"]
    if mrd < threshold:
        return True, [f"MRD {mrd} % < threshold {threshold} %: {category} MRD-negative"]
    return False, [f"MRD {mrd} % >= threshold {threshold} %: MRD-positive"]


def is_relapse(
    *,
    prior_category: str,
    bm_blast_pct: Number | None = None,
    circulating_blast_dates: Iterable[date] = (),
    new_extramedullary: bool = False,
) -> RelapseResult:
    """Haematological relapse after CR/CRh/CRi (ELN 2022).

    Relapse = marrow blasts >= 5 %, or circulating blasts in 2 samples >= 7 days apart, or new EMD.
    ``circulating_blast_dates`` are the dates of blood samples showing blasts.
    """
    if prior_category not in CATEGORIES:
        raise ClinicalInputError("prior_category", f"{prior_category!r} is not an ELN 2022 category")
    if prior_category not in REMISSIONS:
        reason = f"prior response {prior_category}: relapse is defined only after CR, CRh or CRi"
        return RelapseResult(False, (reason,))
    blasts = optional_decimal(bm_blast_pct, "bm_blast_pct")
    if blasts is not None:
        _check_percentage(blasts, "bm_blast_pct")
    reasons = [
        *_marrow_relapse(blasts),
        *_blood_relapse(sorted(circulating_blast_dates)),
        *(["new extramedullary disease: relapse"] if new_extramedullary else []),
    ]
    if reasons:
        return RelapseResult(True, tuple(reasons))
    checked = "marrow blasts not recorded" if blasts is None else f"marrow blasts {blasts} % < 5 %"
    return RelapseResult(False, (f"{checked}; no circulating blasts 7 days apart; no new EMD: no relapse",))


def _marrow_relapse(blasts: Decimal | None) -> list[str]:
    if blasts is not None and blasts >= LEUKAEMIA_FREE_BLASTS_BELOW:
        return [f"marrow blasts {blasts} % >= 5 %: relapse"]
    return []


def _blood_relapse(dates: list[date]) -> list[str]:
    if len(dates) >= 2 and (dates[-1] - dates[0]).days >= RELAPSE_BLOOD_SAMPLES_APART_DAYS:
        gap = (dates[-1] - dates[0]).days
        return [
            f"circulating blasts on {dates[0].isoformat()} and {dates[-1].isoformat()}"
            f" ({gap} days apart, >= 7): relapse"
        ]
    return []


def counts_for_orr(category: str, settings: RuleSettings | None = None) -> bool:
    """Whether a best response counts towards ORR = CR + CRi + PR (+ CRh with ``orr.includes_crh``)."""
    if category not in CATEGORIES:
        raise ClinicalInputError("category", f"{category!r} is not an ELN 2022 category")
    rules = settings or DEFAULT_SETTINGS
    return category in ORR_ALWAYS or (category == "CRh" and rules.orr_includes_crh)


def _non_negative(value: Number, name: str) -> Decimal:
    result = to_decimal(value, name)
    if result < 0:
        raise ClinicalInputError(name, f"{result} is negative")
    return result


def _check_percentage(value: Decimal, name: str) -> None:
    if not Decimal(0) <= value <= Decimal(100):
        raise ClinicalInputError(name, f"{value} is not a percentage (0-100)")
