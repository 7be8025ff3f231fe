"""Expedited safety reporting clocks (ICH E2A, CLINICAL_RULES.md "Expedited safety reporting").

ICH E2A counts calendar days with day 0 = the sponsor's first knowledge of the minimum information:
fatal or life-threatening unexpected serious adverse drug reactions "as soon as possible but no later than
7 calendar days", followed by "as complete a report as possible within 8 additional calendar days" (day 15);
all other SUSARs "no later than 15 calendar days". The investigator -> sponsor SAE clock is a protocol
setting in hours (``reporting.sae_to_sponsor_hours``, default 24).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal, NamedTuple, TypeVar

from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import DEFAULT_SETTINGS, RuleSettings

RULE_ID = "ich_e2a.expedited"
RULE_VERSION = "1"

#: ICH E2A III.A.1 and III.A.2, calendar days from day 0 = first knowledge.
FATAL_OR_LT_INITIAL_DAYS = 7
FATAL_OR_LT_FOLLOW_UP_EXTRA_DAYS = 8
OTHER_SUSAR_DAYS = 15

ReportStatus = Literal["submitted", "submitted_late", "pending", "overdue"]
_When = TypeVar("_When", date, datetime)


class SusarDueDates(NamedTuple):
    """Due dates of the initial report and, for fatal/life-threatening cases, the complete follow-up."""

    initial_due: date
    follow_up_due: date | None


def _calendar_date(value: date) -> date:
    # Deadlines are in calendar days; a timestamp of first knowledge counts from its date.
    return value.date() if isinstance(value, datetime) else value


def susar_due_dates(first_knowledge: date, *, fatal_or_life_threatening: bool) -> SusarDueDates:
    """ICH E2A due dates: fatal/life-threatening day 7 and day 15 (8 days later); other SUSARs day 15."""
    day0 = _calendar_date(first_knowledge)
    if fatal_or_life_threatening:
        initial = day0 + timedelta(days=FATAL_OR_LT_INITIAL_DAYS)
        return SusarDueDates(initial, initial + timedelta(days=FATAL_OR_LT_FOLLOW_UP_EXTRA_DAYS))
    return SusarDueDates(day0 + timedelta(days=OTHER_SUSAR_DAYS), None)


def is_susar(*, serious: bool, related: bool, expected: bool) -> bool:
    """Suspected unexpected serious adverse reaction: serious, related and not expected per the IB."""
    return serious and related and not expected


def sae_sponsor_due(awareness: datetime, settings: RuleSettings | None = None) -> datetime:
    """Investigator -> sponsor SAE deadline: awareness + ``reporting.sae_to_sponsor_hours`` (default 24 h)."""
    rules = settings or DEFAULT_SETTINGS
    if rules.sae_to_sponsor_hours < 0:
        raise ClinicalInputError("reporting.sae_to_sponsor_hours", f"{rules.sae_to_sponsor_hours} is negative")
    return awareness + timedelta(hours=rules.sae_to_sponsor_hours)


def report_status(due: _When, submitted_on: _When | None, today: _When) -> ReportStatus:
    """Status of a report against its deadline; submission on the due date (or instant) is on time."""
    for name, value in (("submitted_on", submitted_on), ("today", today)):
        if value is not None and isinstance(value, datetime) != isinstance(due, datetime):
            raise ClinicalInputError(name, "compare dates with dates and timestamps with timestamps")
    if submitted_on is not None:
        return "submitted" if submitted_on <= due else "submitted_late"
    return "pending" if today <= due else "overdue"
