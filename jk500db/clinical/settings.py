"""Protocol settings for rules that published sources allow to be read two ways.

The defaults are the ones CLINICAL_RULES.md gives; the study definition under ``seed_data/`` carries the same
keys (dotted, as in the protocol text) and the database stores the settings used with every derived value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

#: dotted key in the study definition -> attribute name here
_KEYS: dict[str, str] = {
    "dlt.window_days": "dlt_window_days",
    "dlt.anchor": "dlt_anchor",
    "dlt.min_grade": "dlt_min_grade",
    "orr.includes_crh": "orr_includes_crh",
    "dosing.bsa_formula": "bsa_formula",
    "dosing.bsa_round_dp": "bsa_round_dp",
    "dosing.deviation_pct": "dose_deviation_pct",
    "ctcae.baseline_anchor": "ctcae_baseline_anchor",
    "eln.cri_requires_one_lineage": "cri_requires_one_lineage",
    "eln.mrd_threshold_pct": "mrd_threshold_pct",
    "eligibility.relapse_window": "relapse_window_months",
    "icans.capd_for_developmental_delay": "capd_for_developmental_delay",
    "reporting.sae_to_sponsor_hours": "sae_to_sponsor_hours",
    "queries.closer_must_differ_from_answerer": "closer_must_differ_from_answerer",
    "queries.data_manager_may_close": "data_manager_may_close",
}


@dataclass(frozen=True)
class RuleSettings:
    """The named protocol settings, with CLINICAL_RULES.md's defaults."""

    #: DLT window length in days after the anchor, inclusive (days 0..28).
    dlt_window_days: int = 28
    #: what day 0 of the DLT window is: the first JK500 infusion.
    dlt_anchor: str = "first_infusion"
    #: lowest CTCAE grade that makes an AE in the window a DLT candidate.
    dlt_min_grade: int = 3
    #: ORR = CR + CRi + PR; with this set, CRh counts with CRi.
    orr_includes_crh: bool = True
    #: body-surface-area formula: mosteller, haycock or dubois.
    bsa_formula: str = "mosteller"
    #: BSA is rounded to this many decimal places before a dose is multiplied.
    bsa_round_dp: int = 2
    #: a dose deviates when |actual - planned| / planned exceeds this percentage.
    dose_deviation_pct: Decimal = Decimal("10")
    #: CTCAE baseline: last value on or before the first lymphodepletion dose.
    ctcae_baseline_anchor: str = "first_lymphodepletion"
    #: CRi needs at least one recovered lineage (ANC >= 1.0 or PLT >= 100); otherwise MLFS.
    cri_requires_one_lineage: bool = True
    #: flow MRD threshold (%) below which CR/CRh/CRi is MRD-negative.
    mrd_threshold_pct: Decimal = Decimal("0.1")
    #: IN3: relapse within this many calendar months after CR (end-of-month clamp).
    relapse_window_months: int = 6
    #: ICANS: children aged 12 or over with developmental delay are assessed with CAPD, not ICE.
    capd_for_developmental_delay: bool = True
    #: investigator -> sponsor SAE report deadline after awareness, in hours.
    sae_to_sponsor_hours: int = 24
    #: a query is closed by someone other than the person who answered it.
    closer_must_differ_from_answerer: bool = True
    #: data managers may close queries too (the issue allows it "per settings"; DESIGN.md's roles do not).
    data_manager_may_close: bool = False

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RuleSettings:
        """Build settings from the study definition's dotted keys; unknown keys are an error."""
        unknown = sorted(set(values) - set(_KEYS))
        if unknown:
            raise KeyError(f"unknown rule setting(s): {', '.join(unknown)}")
        defaults = cls()
        changes: dict[str, Any] = {}
        for key, value in values.items():
            attr = _KEYS[key]
            current = getattr(defaults, attr)
            changes[attr] = Decimal(str(value)) if isinstance(current, Decimal) else type(current)(value)
        return replace(defaults, **changes)

    def as_mapping(self) -> dict[str, Any]:
        """The settings under their dotted keys, JSON-ready (Decimals as strings)."""
        by_attr = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            key: str(by_attr[attr]) if isinstance(by_attr[attr], Decimal) else by_attr[attr]
            for key, attr in _KEYS.items()
        }


DEFAULT_SETTINGS = RuleSettings()
