"""Study-day, age, calendar-month, DLT-window and visit-window arithmetic (jk500db.clinical.schedule)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.schedule import (
    add_months,
    age_in_years,
    dlt_window,
    protocol_day,
    sdtm_study_day,
    window_status,
)
from jk500db.clinical.settings import RuleSettings

DAY0 = date(2024, 3, 10)

# CLINICAL_RULES.md "Registered regimen": day 0 = first JK500 infusion, cell-therapy day = date - day 0,
# negative before, no gap. Regimen days: cyclophosphamide -7, fludarabine -6..-2, nothing on -1.
PROTOCOL_DAYS = [
    (date(2024, 3, 3), -7),
    (date(2024, 3, 4), -6),
    (date(2024, 3, 8), -2),
    (date(2024, 3, 9), -1),
    (date(2024, 3, 10), 0),
    (date(2024, 3, 11), 1),
    (date(2024, 4, 7), 28),
]


@pytest.mark.parametrize(("on", "expected"), PROTOCOL_DAYS)
def test_protocol_day_counts_from_day_zero_without_gap(on: date, expected: int) -> None:
    assert protocol_day(on, DAY0) == expected


# CDISC SDTMIG v3.4 section 4.4.4: --DY = date - RFSTDTC + 1 on/after RFSTDTC, date - RFSTDTC before; no day 0.
SDTM_DAYS = [
    (date(2024, 3, 3), -7),
    (date(2024, 3, 9), -1),
    (date(2024, 3, 10), 1),
    (date(2024, 3, 11), 2),
    (date(2024, 4, 7), 29),
]


@pytest.mark.parametrize(("on", "expected"), SDTM_DAYS)
def test_sdtm_study_day_has_no_day_zero(on: date, expected: int) -> None:
    assert sdtm_study_day(on, DAY0) == expected


def test_sdtm_and_protocol_day_differ_by_one_only_on_or_after_day_zero() -> None:
    assert sdtm_study_day(DAY0, DAY0) - protocol_day(DAY0, DAY0) == 1
    before = DAY0 - timedelta(days=3)
    assert sdtm_study_day(before, DAY0) == protocol_day(before, DAY0)


# Completed years; the birthday counts. Feb 29 birthdays complete the year on Mar 1 in common years
# (module docstring of schedule.age_in_years: the missing anniversary is taken as the next day).
AGES = [
    (date(2006, 5, 20), date(2024, 5, 19), 17),
    (date(2006, 5, 20), date(2024, 5, 20), 18),
    (date(2005, 5, 20), date(2024, 5, 19), 18),  # last day of age 18: IN1 still met
    (date(2005, 5, 20), date(2024, 5, 20), 19),
    (date(2012, 2, 29), date(2023, 2, 28), 10),
    (date(2012, 2, 29), date(2023, 3, 1), 11),
    (date(2012, 2, 29), date(2024, 2, 28), 11),
    (date(2012, 2, 29), date(2024, 2, 29), 12),
    (date(2020, 1, 1), date(2020, 1, 1), 0),
    (date(2019, 12, 31), date(2020, 12, 30), 0),
]


@pytest.mark.parametrize(("birth", "on", "expected"), AGES)
def test_age_in_years_counts_completed_years_with_birthday(birth: date, on: date, expected: int) -> None:
    assert age_in_years(birth, on) == expected


def test_age_before_birth_is_an_input_error() -> None:
    with pytest.raises(ClinicalInputError):
        age_in_years(date(2020, 1, 2), date(2020, 1, 1))


# Calendar months with end-of-month clamp (CLINICAL_RULES.md IN3 "six calendar months ... end-of-month clamp").
ADD_MONTHS = [
    (date(2023, 8, 31), 6, date(2024, 2, 29)),  # leap year
    (date(2022, 8, 31), 6, date(2023, 2, 28)),  # common year clamp
    (date(2100, 8, 31), 6, date(2101, 2, 28)),
    (date(2099, 8, 31), 6, date(2100, 2, 28)),  # 2100 is not a leap year
    (date(2024, 1, 15), 6, date(2024, 7, 15)),
    (date(2024, 3, 31), 1, date(2024, 4, 30)),
    (date(2024, 10, 31), 3, date(2025, 1, 31)),
    (date(2024, 12, 15), 1, date(2025, 1, 15)),
    (date(2024, 3, 31), -1, date(2024, 2, 29)),
    (date(2024, 1, 31), -2, date(2023, 11, 30)),
    (date(2024, 5, 5), 0, date(2024, 5, 5)),
    (date(2024, 5, 5), -17, date(2022, 12, 5)),
]


@pytest.mark.parametrize(("start", "months", "expected"), ADD_MONTHS)
def test_add_months_clamps_to_end_of_month(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_add_months_outside_calendar_is_an_input_error() -> None:
    with pytest.raises(ClinicalInputError):
        add_months(date(9999, 12, 1), 1)


# CLINICAL_RULES.md: DLT window days 0-28 inclusive after the first JK500 infusion (setting dlt.window_days).
def test_dlt_window_default_is_day_0_to_day_28_inclusive() -> None:
    start, end = dlt_window(DAY0)
    assert (start, end) == (DAY0, date(2024, 4, 7))
    assert protocol_day(end, DAY0) == 28


def test_dlt_window_follows_window_days_setting() -> None:
    assert dlt_window(DAY0, settings=RuleSettings(dlt_window_days=21)) == (DAY0, date(2024, 3, 31))


def test_dlt_window_rejects_negative_length() -> None:
    with pytest.raises(ClinicalInputError):
        dlt_window(DAY0, settings=RuleSettings(dlt_window_days=-1))


NOMINAL = date(2024, 6, 15)
# Visit window -3/+3 days, inclusive at both edges.
WINDOWS = [
    (date(2024, 6, 11), "early"),
    (date(2024, 6, 12), "in_window"),
    (date(2024, 6, 15), "in_window"),
    (date(2024, 6, 18), "in_window"),
    (date(2024, 6, 19), "late"),
]


@pytest.mark.parametrize(("actual", "expected"), WINDOWS)
def test_window_status_is_inclusive_at_both_edges(actual: date, expected: str) -> None:
    assert window_status(actual, NOMINAL, 3, 3) == expected


def test_zero_width_window_accepts_only_nominal_day() -> None:
    assert window_status(NOMINAL, NOMINAL, 0, 0) == "in_window"
    assert window_status(NOMINAL + timedelta(days=1), NOMINAL, 0, 0) == "late"


@pytest.mark.parametrize(("before", "after"), [(-1, 0), (0, -1)])
def test_window_status_rejects_negative_widths(before: int, after: int) -> None:
    with pytest.raises(ClinicalInputError):
        window_status(NOMINAL, NOMINAL, before, after)


@given(
    birth=st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)),
    first=st.integers(min_value=0, max_value=20_000),
    extra=st.integers(min_value=0, max_value=2_000),
)
def test_age_in_years_never_decreases_as_date_advances(birth: date, first: int, extra: int) -> None:
    earlier = birth + timedelta(days=first)
    later = earlier + timedelta(days=extra)
    assert age_in_years(birth, earlier) <= age_in_years(birth, later)


@given(
    start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    months=st.integers(min_value=-600, max_value=600),
)
def test_add_months_never_moves_day_later_and_lands_in_target_month(start: date, months: int) -> None:
    result = add_months(start, months)
    assert result.day <= start.day
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
