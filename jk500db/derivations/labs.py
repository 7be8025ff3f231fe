"""CTCAE v5.0 grade of each laboratory result, against the subject's baseline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from jk500db.clinical import ctcae
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import RuleSettings
from jk500db.derivations.provenance import assign, reasons_text, rule_label, settings_json
from jk500db.derivations.subject_data import SubjectData, live
from jk500db.models import LabResult


def baseline_anchor(data: SubjectData, settings: RuleSettings) -> dt.datetime | None:
    """Setting ``ctcae.baseline_anchor``: the first lymphodepletion dose (default) or the first infusion."""
    if settings.ctcae_baseline_anchor == "first_infusion":
        return min((i.started_at for i in live(data.infusions)), default=None)
    return data.first_lymphodepletion


def baselines(data: SubjectData, settings: RuleSettings) -> tuple[dt.datetime | None, dict[tuple[str, str], LabResult]]:
    """The anchor, and per (test, unit) the last result with a value on or before it: the baseline."""
    anchor = baseline_anchor(data, settings)
    found: dict[tuple[str, str], LabResult] = {}
    if anchor is None:
        return None, found
    for r in live(data.labs):
        if r.value is not None and r.collected_at <= anchor:
            key = (str(r.test_code), r.unit or "")
            if key not in found or found[key].collected_at < r.collected_at:
                found[key] = r
    return anchor, found


def baseline(result: LabResult, anchor: dt.datetime | None, found: dict[tuple[str, str], LabResult]) -> Decimal | None:
    """Only results after the anchor are graded against the baseline (a pre-treatment value is graded against
    the normal range); a baseline in another unit is not comparable."""
    if anchor is None or result.collected_at <= anchor:
        return None
    earlier = found.get((str(result.test_code), result.unit or ""))
    return earlier.value if earlier else None


def derive_labs(data: SubjectData, settings: RuleSettings) -> None:
    anchor, found = baselines(data, settings)
    for result in live(data.labs):
        # CRP, ferritin, IL-6 and blasts are collected, not graded.
        if str(result.test_code) not in ctcae.GRADED_TESTS or result.value is None:
            reason = "not graded: no value" if result.value is None else "not graded: no CTCAE v5.0 lab term"
            assign(result, ctcae_grade=None, ctcae_term=None, grade_reasons=reason, grade_rule=None,
                   grade_settings=None, baseline_value=None)  # fmt: skip
            continue
        base = baseline(result, anchor, found)
        try:
            graded = ctcae.grade_lab(
                str(result.test_code),
                result.value,
                result.unit or "",
                lln=result.lln or None,  # a range written "0-40" has no lower limit to grade against
                uln=result.uln,
                baseline=base,
                transfusion_indicated=result.transfusion_indicated,
                symptomatic=result.symptomatic,
                intervention_indicated=result.intervention_indicated,
                oral_replacement_indicated=result.oral_replacement_indicated,
                hospitalization_indicated=result.hospitalization_indicated,
                life_threatening=result.life_threatening,
                settings=settings,
            )
        except ClinicalInputError as error:
            assign(result, ctcae_grade=None, ctcae_term=None, grade_reasons=f"not graded: {error}",
                   grade_rule=rule_label(ctcae.LAB_RULE_PREFIX + str(result.test_code), ctcae.RULE_VERSION),
                   grade_settings=None, baseline_value=base)  # fmt: skip
            continue
        assign(
            result,
            ctcae_grade=graded.grade,
            ctcae_term=graded.term,
            grade_reasons=reasons_text(graded.reasons),
            grade_rule=rule_label(graded.rule_id, graded.rule_version),
            grade_settings=settings_json(graded.settings),
            baseline_value=base,
        )
