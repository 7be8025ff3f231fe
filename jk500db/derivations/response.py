"""ELN 2022 category of each response assessment."""

from __future__ import annotations

from jk500db.clinical import eln
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import RuleSettings
from jk500db.derivations.provenance import assign, reasons_text, rule_label, settings_json
from jk500db.derivations.subject_data import SubjectData, live
from jk500db.models import ResponseAssessment
from jk500db.models.vocabularies import ResponseCategory


def derive_response(assessment: ResponseAssessment, settings: RuleSettings) -> None:
    rule = rule_label(eln.RESPONSE_RULE_ID, eln.RULE_VERSION)
    if assessment.anc is None or assessment.plt is None:
        missing = " and ".join(n for n, v in (("ANC", assessment.anc), ("platelets", assessment.plt)) if v is None)
        assign(assessment, eln_category=None, mrd_negative=None, eln_reasons=f"not classified: {missing} missing",
               eln_rule=rule, eln_settings=None)  # fmt: skip
        return
    # Findings not recorded are read as absent, and each such reading is said in the reasons.
    notes = [
        f"{name} not recorded: taken as {reading}"
        for name, value, reading in (
            ("marrow adequacy", assessment.marrow_adequate, "adequate"),
            ("circulating blasts", assessment.circulating_blasts, "absent"),
            ("extramedullary disease", assessment.extramedullary, "absent"),
        )
        if value is None
    ]
    try:
        result = eln.classify(
            bm_blast_pct=assessment.bm_blast_pct,
            anc=assessment.anc,
            plt=assessment.plt,
            circulating_blasts=bool(assessment.circulating_blasts),
            extramedullary=bool(assessment.extramedullary),
            marrow_adequate=assessment.marrow_adequate is not False,
            baseline_bm_blast_pct=assessment.baseline_bm_blast_pct,
            mrd_pct=assessment.mrd_pct,
            mrd_threshold_pct=assessment.mrd_threshold_pct,
            settings=settings,
        )
    except ClinicalInputError as error:
        assign(assessment, eln_category=None, mrd_negative=None, eln_reasons=f"not classified: {error}",
               eln_rule=rule, eln_settings=None)  # fmt: skip
        return
    assign(
        assessment,
        eln_category=ResponseCategory(result.category),
        mrd_negative=result.mrd_negative,
        eln_reasons=reasons_text((*result.reasons, *notes)),
        eln_rule=rule_label(result.rule_id, result.rule_version),
        eln_settings=settings_json(result.settings),
    )


def derive_responses(data: SubjectData, settings: RuleSettings) -> None:
    for assessment in live(data.responses):
        derive_response(assessment, settings)
