"""Protocol day, SDTM study day and window status of each visit."""

from __future__ import annotations

import datetime as dt

from jk500db.clinical import schedule
from jk500db.derivations.provenance import assign
from jk500db.derivations.subject_data import StudyContext, SubjectData, live
from jk500db.models import Visit
from jk500db.models.vocabularies import VisitAnchor, WindowStatus


def _anchor_date(anchor: VisitAnchor, data: SubjectData) -> dt.date | None:
    if anchor == VisitAnchor.FIRST_INFUSION:
        return data.day0
    start = data.first_lymphodepletion
    return start.date() if start else None


def window_status(visit: Visit, data: SubjectData, study: StudyContext) -> WindowStatus | None:
    """Early, in window or late against the schedule; None for unscheduled visits or an unknown anchor."""
    definition = visit.definition or study.visits.get(visit.visit_code)
    if visit.unscheduled or visit.visit_date is None or definition is None or definition.nominal_day is None:
        return None
    anchor = _anchor_date(definition.anchor, data)
    if anchor is None:
        return None
    nominal = anchor + dt.timedelta(days=definition.nominal_day)
    status = schedule.window_status(visit.visit_date, nominal, definition.window_before, definition.window_after)
    return WindowStatus(status)


def derive_visits(data: SubjectData, study: StudyContext) -> None:
    day0 = data.day0
    start = data.first_lymphodepletion
    for visit in live(data.visits):
        on = visit.visit_date
        assign(
            visit,
            protocol_day=schedule.protocol_day(on, day0) if on and day0 else None,
            study_day=schedule.sdtm_study_day(on, start.date()) if on and start else None,
            window_status=window_status(visit, data, study),
        )
