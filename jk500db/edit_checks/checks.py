"""The trial's edit checks. Each names the rule it enforces; the registry runs them on every changed record.

Checks registered on two models watch both sides of a rule between records (a consent date moved after the
screening date is refused whichever of the two was edited).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from jk500db.clinical import plausibility
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.derivations.subject_data import LYMPHODEPLETION_AGENTS, live
from jk500db.edit_checks.registry import CheckContext, Severity, edit_check
from jk500db.models import (
    AdverseEvent,
    Base,
    Consent,
    DrugAdministration,
    EligibilityCriterion,
    Infusion,
    LabResult,
    ResponseAssessment,
    Screening,
    Visit,
    VitalSigns,
)
from jk500db.models.base import ClinicalRecord, derived_columns
from jk500db.models.vocabularies import Agent, ConsentKind, QueryOrigin, WindowStatus

#: Dates that look ahead by design: the planned first treatment date, and report deadlines.
PLANNED_DATES = frozenset({("screening", "reference_date")})
#: A date may be "tomorrow" in UTC at a site east of Greenwich (UTC+14 at most).
FUTURE_DATE_TOLERANCE = dt.timedelta(days=1)
#: Clock skew allowed between a site's device and the server for timestamps.
FUTURE_TIME_TOLERANCE = dt.timedelta(minutes=10)


def _first_guardian_consent(ctx: CheckContext) -> dt.date | None:
    dates = [c.signed_on for c in live(ctx.data.consents) if c.kind == ConsentKind.GUARDIAN_CONSENT]
    return min(dates, default=None)


@edit_check(
    "EC-DATE-CONSENT",
    [(Screening, "screening_date"), (Consent, "signed_on")],
    Severity.HARD,
    "consent must be signed on or before the screening date",
)
def consent_before_screening(_: Any, ctx: CheckContext) -> str | None:
    consent, screening = _first_guardian_consent(ctx), ctx.data.screening
    if consent is None or screening is None or consent <= screening.screening_date:
        return None
    return f"guardian consent {consent.isoformat()} is after screening {screening.screening_date.isoformat()}"


def _lymphodepletion_starts(ctx: CheckContext) -> list[dt.datetime]:
    return [
        a.started_at
        for a in live(ctx.data.administrations)
        if a.agent in LYMPHODEPLETION_AGENTS and a.started_at is not None
    ]


@edit_check(
    "EC-DATE-LYMPHODEPLETION",
    [(DrugAdministration, "started_at"), (Screening, "screening_date")],
    Severity.HARD,
    "lymphodepletion must start on or after the screening date",
)
def screening_before_lymphodepletion(_: Any, ctx: CheckContext) -> str | None:
    screening, starts = ctx.data.screening, _lymphodepletion_starts(ctx)
    if screening is None or not starts or min(starts).date() >= screening.screening_date:
        return None
    return (
        f"lymphodepletion {min(starts).date().isoformat()} is before screening {screening.screening_date.isoformat()}"
    )


@edit_check(
    "EC-DATE-INFUSION",
    [(Infusion, "started_at"), (DrugAdministration, "started_at")],
    Severity.HARD,
    "a JK500 infusion must start after lymphodepletion has started",
)
def lymphodepletion_before_infusion(_: Any, ctx: CheckContext) -> str | None:
    starts, infusions = _lymphodepletion_starts(ctx), [i.started_at for i in live(ctx.data.infusions)]
    if not starts or not infusions or min(infusions) >= min(starts):
        return None
    return (
        f"infusion at {min(infusions):%Y-%m-%d %H:%M} UTC is before lymphodepletion at {min(starts):%Y-%m-%d %H:%M} UTC"
    )


@edit_check("EC-DATE-AE-END", [(AdverseEvent, "end_date")], Severity.HARD, "an AE cannot end before its onset")
def ae_end_after_onset(event: AdverseEvent, _: CheckContext) -> str | None:
    if event.end_date is None or event.end_date >= event.onset_date:
        return None
    return f"end {event.end_date.isoformat()} is before onset {event.onset_date.isoformat()}"


def _python_type(column: sa.Column[Any]) -> type | None:
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _dated_columns(model: type[Any]) -> list[str]:
    table = Base.metadata.tables[model.__tablename__]
    derived = derived_columns(table)
    return [
        c.name
        for c in table.columns
        if c.name not in derived and (table.name, c.name) not in PLANNED_DATES and c.name != "removed_at"
        if _python_type(c) in (dt.date, dt.datetime)
    ]


def future_dates(record: ClinicalRecord, ctx: CheckContext) -> str | None:
    for name in _dated_columns(type(record)):
        value = getattr(record, name)
        if isinstance(value, dt.datetime) and value > ctx.now + FUTURE_TIME_TOLERANCE:
            return f"{name} {value:%Y-%m-%d %H:%M} UTC is in the future"
        if type(value) is dt.date and value > ctx.now.date() + FUTURE_DATE_TOLERANCE:
            return f"{name} {value.isoformat()} is in the future"
    return None


def _register_future_dates() -> None:
    """Every dated clinical form watches its own dates (one registration per model, on its first date)."""
    for mapper in Base.registry.mappers:
        model = mapper.class_
        if issubclass(model, ClinicalRecord):
            columns = _dated_columns(model)
            if columns:
                edit_check("EC-DATE-FUTURE", [(model, columns[0])], Severity.HARD, "a date cannot be in the future")(
                    future_dates
                )


_register_future_dates()


@edit_check("EC-VISIT-WINDOW", [(Visit, "visit_date")], Severity.SOFT, "visit outside its protocol window")
def visit_window(visit: Visit, _: CheckContext) -> str | None:
    if visit.window_status in (None, WindowStatus.IN_WINDOW):
        return None
    return f"visit {visit.visit_code} on {visit.visit_date} is {str(visit.window_status).replace('_', ' ')}"


@edit_check(
    "EC-DOSE-DEVIATION",
    [(DrugAdministration, "actual_dose")],
    Severity.SOFT,
    "dose differs from the planned dose by more than setting dosing.deviation_pct",
)
def dose_deviation(administration: DrugAdministration, ctx: CheckContext) -> str | None:
    if not administration.deviation:
        return None
    return (
        f"{administration.agent!s} dose {administration.dose_number}: {administration.actual_dose} "
        f"{administration.dose_unit!s} given, {administration.planned_dose} planned "
        f"({administration.deviation_pct:+.1f} %, limit {ctx.study.settings.dose_deviation_pct} %)"
    )


@edit_check("EC-LAB-PLAUSIBLE", [(LabResult, "value")], Severity.HARD, "value outside plausible physiological limits")
def lab_plausible(result: LabResult, _: CheckContext) -> str | None:
    if result.value is None or result.unit is None:
        return None
    try:
        verdict = plausibility.check_lab(str(result.test_code), result.value, result.unit)
    except ClinicalInputError:
        return None  # a unit the limits do not know: the grade says "not graded" and why
    return None if verdict.plausible else verdict.reason


#: Body measurements checked for plausibility, by form: weight and height drive every dose.
BODY_MEASURES: dict[type[Any], tuple[str, ...]] = {
    VitalSigns: ("weight_kg", "height_cm", "temperature_c", "heart_rate", "respiratory_rate", "systolic_bp",
                 "diastolic_bp", "spo2_pct"),
    DrugAdministration: ("weight_kg", "height_cm"),
    Infusion: ("weight_kg",),
}  # fmt: skip


def body_plausible(record: Any, _: CheckContext) -> str | None:
    for measure in BODY_MEASURES[type(record)]:
        value = getattr(record, measure)
        if value is None:
            continue
        try:
            verdict = plausibility.check_body(measure, value)
        except ClinicalInputError as error:
            return str(error)  # e.g. a negative weight: refused with the rule it breaks
        if not verdict.plausible:
            return verdict.reason
    return None


for _model, _measures in BODY_MEASURES.items():
    edit_check(
        "EC-BODY-PLAUSIBLE", [(_model, _measures[0])], Severity.HARD, "value outside plausible physiological limits"
    )(body_plausible)


@edit_check(
    "EC-INFUSION-FLUDARABINE",
    [(Infusion, "started_at")],
    Severity.SOFT,
    "an infusion is recorded before all fludarabine doses are",
)
def infusion_after_fludarabine(_: Infusion, ctx: CheckContext) -> str | None:
    item = ctx.study.regimen.get(Agent.FLUDARABINE)
    planned = item.planned_doses if item else 5
    recorded = sum(1 for a in live(ctx.data.administrations) if a.agent == Agent.FLUDARABINE)
    if recorded >= planned:
        return None
    return f"{recorded} of {planned} fludarabine doses recorded (given or not given)"


@edit_check("EC-AE-DEATH", [(AdverseEvent, "grade")], Severity.SOFT, "a grade 5 AE needs a death record")
def grade5_needs_death(event: AdverseEvent, ctx: CheckContext) -> str | None:
    if event.grade != 5 or ctx.data.death is not None:
        return None
    return f"AE {event.ae_number} is grade 5 (death) but no death is recorded"


@edit_check("EC-MRD-METHOD", [(ResponseAssessment, "mrd_method")], Severity.HARD, "an MRD value needs its method")
def mrd_needs_method(assessment: ResponseAssessment, _: CheckContext) -> str | None:
    if assessment.mrd_pct is None or assessment.mrd_method is not None:
        return None
    return f"MRD {assessment.mrd_pct} % has no method"


# ------------------------------------------------------------------ investigator differs from the derivation


@edit_check(
    "MISMATCH-AE-GRADE",
    [(AdverseEvent, "grade")],
    Severity.SOFT,
    "the investigator's grade differs from the derived ASTCT episode maximum",
    QueryOrigin.DERIVATION_MISMATCH,
)
def ae_grade_differs(event: AdverseEvent, _: CheckContext) -> str | None:
    if event.derived_grade is None or event.derived_grade == event.grade:
        return None
    why = f"; reason given: {event.grade_difference_reason}" if event.grade_difference_reason else "; give a reason"
    return f"investigator grade {event.grade}, derived {event.derived_grade} ({event.derived_grade_rule}){why}"


@edit_check(
    "MISMATCH-RESPONSE",
    [(ResponseAssessment, "investigator_category")],
    Severity.SOFT,
    "the investigator's response differs from the derived ELN 2022 category",
    QueryOrigin.DERIVATION_MISMATCH,
)
def response_differs(assessment: ResponseAssessment, _: CheckContext) -> str | None:
    mine, derived = assessment.investigator_category, assessment.eln_category
    if mine is None or derived is None or mine == derived:
        return None
    why = f"; reason given: {assessment.investigator_reason}" if assessment.investigator_reason else "; give a reason"
    return f"investigator {mine}, derived {derived} ({assessment.eln_rule}){why}"


@edit_check(
    "MISMATCH-ELIGIBILITY",
    [(EligibilityCriterion, "investigator_status")],
    Severity.SOFT,
    "the investigator's view of a criterion differs from the derived status",
    QueryOrigin.DERIVATION_MISMATCH,
)
def criterion_differs(criterion: EligibilityCriterion, _: CheckContext) -> str | None:
    mine = criterion.investigator_status
    if mine is None or mine == criterion.status:
        return None
    return (
        f"{criterion.code}: investigator {mine}, derived {criterion.status}; "
        f"reason given: {criterion.investigator_reason}"
    )
