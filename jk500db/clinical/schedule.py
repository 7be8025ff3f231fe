"""Study-day arithmetic: cell-therapy days, SDTM study days, ages, calendar months and visit windows.

Two day counts coexist (CLINICAL_RULES.md, "Registered regimen"): the cell-therapy protocol counts from
day 0 = first JK500 infusion with no gap (day -1 is the day before), whereas SDTM --DY has no day 0
(day 1 is the reference start, day -1 the day before). Mixing them shifts every pre-infusion date by one.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Literal, NamedTuple

from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import DEFAULT_SETTINGS, RuleSettings

WindowStatus = Literal["early", "in_window", "late"]


class DltWindow(NamedTuple):
    """First and last day of the DLT observation window, both inclusive."""

    start: date
    end: date


def protocol_day(on_date: date, day0_date: date) -> int:
    """Cell-therapy day: ``on_date - day0_date`` in days (day 0 = first JK500 infusion, negative before)."""
    return (on_date - day0_date).days


def sdtm_study_day(on_date: date, reference_start: date) -> int:
    """SDTM --DY: ``date - RFSTDTC + 1`` on or after the reference start, ``date - RFSTDTC`` before it.

    SDTMIG has no study day 0, so the day before RFSTDTC is -1 and RFSTDTC itself is 1.
    """
    difference = (on_date - reference_start).days
    return difference + 1 if difference >= 0 else difference


def age_in_years(birth_date: date, on_date: date) -> int:
    """Completed years of age on ``on_date``; the birthday itself counts as completed.

    A child born on 29 February has no anniversary in a common year; we take the next day, so the
    year is completed on 1 March (28 February is still the previous age). Comparing (month, day)
    tuples gives exactly that reading, since (2, 28) < (2, 29) <= (3, 1).
    """
    if on_date < birth_date:
        raise ClinicalInputError("on_date", f"{on_date.isoformat()} is before birth {birth_date.isoformat()}")
    before_birthday = (on_date.month, on_date.day) < (birth_date.month, birth_date.day)
    return on_date.year - birth_date.year - int(before_birthday)


def add_months(a_date: date, months: int) -> date:
    """``a_date`` plus ``months`` calendar months, clamping to the month's last day (31 Aug + 6 -> 28/29 Feb).

    Negative ``months`` go back in time with the same clamp.
    """
    month_index = a_date.year * 12 + (a_date.month - 1) + months
    year, month_zero_based = divmod(month_index, 12)
    month = month_zero_based + 1
    if not 1 <= year <= 9999:
        raise ClinicalInputError("months", f"{a_date.isoformat()} + {months} months is outside the calendar")
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(a_date.day, last_day))


def dlt_window(first_infusion_date: date, settings: RuleSettings | None = None) -> DltWindow:
    """DLT window, inclusive: anchor day 0 .. day ``dlt.window_days`` (default 28, i.e. 29 calendar days).

    ``first_infusion_date`` is the date of the ``dlt.anchor`` event (default: first JK500 infusion); the
    caller looks that date up, so this function only applies the window length.
    """
    rules = settings or DEFAULT_SETTINGS
    if rules.dlt_window_days < 0:
        raise ClinicalInputError("dlt.window_days", f"{rules.dlt_window_days} is negative")
    return DltWindow(first_infusion_date, first_infusion_date + timedelta(days=rules.dlt_window_days))


def window_status(actual_date: date, nominal_date: date, before_days: int, after_days: int) -> WindowStatus:
    """Whether a visit on ``actual_date`` is early, in its window or late around ``nominal_date``.

    The window is inclusive: exactly ``before_days`` early or ``after_days`` late is still in the window.
    """
    if before_days < 0:
        raise ClinicalInputError("before_days", f"{before_days} is negative")
    if after_days < 0:
        raise ClinicalInputError("after_days", f"{after_days} is negative")
    offset = (actual_date - nominal_date).days
    if offset < -before_days:
        return "early"
    if offset > after_days:
        return "late"
    return "in_window"
