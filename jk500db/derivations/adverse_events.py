"""Per adverse event: the CRS/ICANS episode's maximum ASTCT grade, DLT candidacy and the reporting clocks."""

from __future__ import annotations

import datetime as dt

from jk500db.clinical import astct, reporting, schedule
from jk500db.clinical.settings import RuleSettings
from jk500db.derivations.provenance import assign, reasons_text, rule_label
from jk500db.derivations.subject_data import StudyContext, SubjectData, live
from jk500db.models import AdverseEvent
from jk500db.models.vocabularies import Expectedness, Relatedness, ReportStatus

#: Causality answers that make an event a suspected reaction ("a reasonable possibility", ICH E2A II.A.1).
SUSPECTED = frozenset({Relatedness.POSSIBLE, Relatedness.PROBABLE, Relatedness.DEFINITE})
EPISODE_RULE = "astct2019.episode_maximum"
DLT_RULE = "nct05519384.dlt_candidate"
#: Worst first: the AE's report status is that of its most pressing report.
STATUS_ORDER = (ReportStatus.OVERDUE, ReportStatus.PENDING, ReportStatus.SUBMITTED_LATE, ReportStatus.SUBMITTED)


def episode_grade(event: AdverseEvent) -> tuple[int | None, str | None]:
    """The highest ASTCT grade of the event's CRS or ICANS assessments (None without graded assessments)."""
    grades = [a.astct_grade for a in live(event.crs_assessments)] + [
        a.astct_grade for a in live(event.icans_assessments)
    ]
    graded = [g for g in grades if g is not None]
    if not graded:
        return None, None
    return max(graded), rule_label(EPISODE_RULE, astct.RULE_VERSION)


def dlt_candidacy(event: AdverseEvent, day0: dt.date | None, settings: RuleSettings) -> tuple[bool | None, str]:
    """In the window, at or above the grade setting, not attributed elsewhere; the investigator decides."""
    if settings.dlt_anchor != "first_infusion":
        return None, f"DLT anchor {settings.dlt_anchor!r} is not one this database computes"
    if day0 is None:
        return None, "no JK500 infusion recorded yet: the DLT window is not known"
    window = schedule.dlt_window(day0, settings)
    grade = max(event.grade, event.derived_grade or 0)
    reasons = [
        f"DLT window {window.start.isoformat()} to {window.end.isoformat()} (days 0-{settings.dlt_window_days} "
        f"after the first infusion; setting dlt.window_days)"
    ]
    in_window = window.start <= event.onset_date <= window.end
    reasons.append(f"onset {event.onset_date.isoformat()} is {'inside' if in_window else 'outside'} the window")
    severe = grade >= settings.dlt_min_grade
    reasons.append(
        f"grade {grade} (the higher of the investigator's and the derived grade) is "
        f"{'at or above' if severe else 'below'} grade {settings.dlt_min_grade} (setting dlt.min_grade)"
    )
    if event.attributed_elsewhere:
        reasons.append("attributed to progressive disease, concomitant disease or medication: not a DLT")
    candidate = in_window and severe and not event.attributed_elsewhere
    reasons.append(f"{rule_label(DLT_RULE, '1')}: {'a candidate awaiting' if candidate else 'not a candidate for'} "
                   "the investigator's confirmation")  # fmt: skip
    return candidate, reasons_text(reasons)


def _susar(event: AdverseEvent) -> bool | None:
    """Serious, suspected to be caused by a study treatment, and unexpected; None when not yet assessable."""
    if not event.serious:
        return False
    causality = (event.related_jk500, event.related_il2, event.related_lymphodepletion)
    suspected = any(c in SUSPECTED for c in causality)
    if not suspected:
        return None if any(c is None for c in causality) else False
    if event.expectedness is None:
        return None
    return reporting.is_susar(serious=True, related=True, expected=event.expectedness == Expectedness.EXPECTED)


def derive_reporting(event: AdverseEvent, settings: RuleSettings, now: dt.datetime) -> None:
    """Sponsor SAE deadline, SUSAR status and ICH E2A due dates; the status of the most pressing report."""
    if not event.serious or event.awareness_at is None:
        assign(event, sponsor_report_due_at=None, susar=False if not event.serious else None,
               regulator_initial_due_on=None, regulator_follow_up_due_on=None, report_status=None)  # fmt: skip
        return
    sponsor_due = reporting.sae_sponsor_due(event.awareness_at, settings)
    statuses = [reporting.report_status(sponsor_due, event.sponsor_reported_at, now)]
    susar = _susar(event)
    initial = follow_up = None
    if susar:
        fatal = event.serious_death or event.serious_life_threatening
        initial, follow_up = reporting.susar_due_dates(event.awareness_at.date(), fatal_or_life_threatening=fatal)
        statuses.append(reporting.report_status(initial, event.regulator_reported_on, now.date()))
    worst = next(s for s in STATUS_ORDER if s.value in statuses)
    assign(
        event,
        sponsor_report_due_at=sponsor_due,
        susar=susar,
        regulator_initial_due_on=initial,
        regulator_follow_up_due_on=follow_up,
        report_status=worst,
    )


def derive_adverse_events(data: SubjectData, study: StudyContext, now: dt.datetime) -> None:
    day0 = data.day0
    for event in live(data.adverse_events):
        grade, rule = episode_grade(event)
        assign(event, derived_grade=grade, derived_grade_rule=rule)
        candidate, reasons = dlt_candidacy(event, day0, study.settings)
        assign(event, dlt_candidate=candidate, dlt_reasons=reasons)
        derive_reporting(event, study.settings, now)
