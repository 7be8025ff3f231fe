"""ASTCT 2019 grades of CRS and ICANS assessments (with the ICANS instrument, age and CAPD total)."""

from __future__ import annotations

from jk500db.clinical import astct, schedule
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.results import GradeResult
from jk500db.clinical.settings import RuleSettings
from jk500db.derivations.provenance import assign, reasons_text, rule_label, settings_json
from jk500db.derivations.subject_data import SubjectData, live
from jk500db.models import CrsAssessment, IcansAssessment
from jk500db.models.vocabularies import IcansInstrument, OxygenDevice

AIRWAY_ONLY = (
    "intubated for airway protection only, without hypoxia: not counted as positive-pressure ventilation (ASTCT 2019)"
)


def _store(record: CrsAssessment | IcansAssessment, result: GradeResult, *notes: str) -> None:
    assign(
        record,
        astct_grade=result.grade,
        grade_reasons=reasons_text((*result.reasons, *notes)),
        grade_rule=rule_label(result.rule_id, result.rule_version),
        grade_settings=settings_json(result.settings),
    )


def _not_graded(record: CrsAssessment | IcansAssessment, error: ClinicalInputError, rule: str) -> None:
    assign(record, astct_grade=None, grade_reasons=f"not graded: {error}",
           grade_rule=rule_label(rule, astct.RULE_VERSION), grade_settings=None)  # fmt: skip


def derive_crs(assessment: CrsAssessment, settings: RuleSettings) -> None:
    oxygen = assessment.oxygen_device
    notes: tuple[str, ...] = ()
    if assessment.intubated_for_airway_only and oxygen == OxygenDevice.MECHANICAL_VENTILATION:
        oxygen, notes = OxygenDevice.ROOM_AIR, (AIRWAY_ONLY,)
    try:
        result = astct.grade_crs(
            max_temp_c=assessment.max_temp_c,
            prior_crs_treated=assessment.prior_crs_treated,
            hypotension=assessment.hypotension,
            vasopressors=[str(v.drug) for v in live(assessment.vasopressors)],
            oxygen=str(oxygen),
            oxygen_flow_l_min=assessment.oxygen_flow_l_min,
            other_cause=assessment.other_cause,
            death=assessment.death,
            settings=settings,
        )
    except ClinicalInputError as error:
        _not_graded(assessment, error, astct.CRS_RULE_ID)
        return
    _store(assessment, result, *notes)


def instrument(age_years: int, developmental_delay: bool, settings: RuleSettings) -> IcansInstrument:
    """ICE from the 12th birthday; CAPD before it, or later with developmental delay (setting)."""
    if age_years >= 12 and not (developmental_delay and settings.capd_for_developmental_delay):
        return IcansInstrument.ICE
    return IcansInstrument.CAPD


def derive_icans(assessment: IcansAssessment, data: SubjectData, settings: RuleSettings) -> None:
    age = schedule.age_in_years(data.subject.birth_date, assessment.assessed_at.date())
    tool = instrument(age, assessment.developmental_delay, settings)
    answers = [getattr(assessment, f"capd_{i}") for i in range(1, 9)]
    total = astct.capd_total([str(a) for a in answers]) if all(a is not None for a in answers) else None
    assign(assessment, age_years=age, instrument=tool, capd_total=total)
    try:
        result = astct.grade_icans(
            age_years=age,
            ice_score=assessment.ice_score if tool == IcansInstrument.ICE else None,
            capd_score=total if tool == IcansInstrument.CAPD else None,
            unable_to_perform=assessment.unable_to_perform,
            consciousness=str(assessment.consciousness),
            global_aphasia=assessment.global_aphasia,
            seizure=str(assessment.seizure),
            motor_weakness=assessment.motor_weakness,
            raised_icp=str(assessment.raised_icp),
            developmental_delay=assessment.developmental_delay,
            other_cause=assessment.other_cause,
            death=assessment.death,
            settings=settings,
        )
    except ClinicalInputError as error:
        _not_graded(assessment, error, astct.ICANS_RULE_ID)
        return
    _store(assessment, result)


def derive_assessments(data: SubjectData, settings: RuleSettings) -> None:
    for crs in live(data.crs):
        derive_crs(crs, settings)
    for icans in live(data.icans):
        derive_icans(icans, data, settings)
