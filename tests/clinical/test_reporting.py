"""Expedited safety reporting clocks (jk500db.clinical.reporting)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from jk500db.clinical import reporting
from jk500db.clinical.numbers import ClinicalInputError
from jk500db.clinical.settings import RuleSettings

# ICH E2A III.A: calendar days, day 0 = first knowledge. Fatal or life-threatening SUSAR: no later than
# 7 calendar days, then as complete a report as possible within 8 additional calendar days; other SUSARs:
# no later than 15 calendar days.
DUE_TABLE = [
    (date(2024, 3, 1), True, date(2024, 3, 8), date(2024, 3, 16)),
    (date(2024, 3, 1), False, date(2024, 3, 16), None),
    (date(2024, 2, 25), True, date(2024, 3, 3), date(2024, 3, 11)),  # across leap day
    (date(2023, 12, 28), False, date(2024, 1, 12), None),  # across year end
]


@pytest.mark.parametrize(("known", "fatal", "initial", "follow_up"), DUE_TABLE)
def test_susar_due_dates_follow_ich_e2a(known: date, fatal: bool, initial: date, follow_up: date | None) -> None:
    assert reporting.susar_due_dates(known, fatal_or_life_threatening=fatal) == (initial, follow_up)


def test_fatal_susar_follow_up_is_day_15_eight_days_after_initial() -> None:
    initial, follow_up = reporting.susar_due_dates(date(2024, 3, 1), fatal_or_life_threatening=True)
    assert follow_up is not None
    assert (initial - date(2024, 3, 1)).days == 7
    assert (follow_up - initial).days == 8
    assert (follow_up - date(2024, 3, 1)).days == 15


def test_susar_clock_counts_calendar_days_from_date_of_timestamp() -> None:
    due = reporting.susar_due_dates(datetime(2024, 3, 1, 23, 59), fatal_or_life_threatening=False)
    assert due.initial_due == date(2024, 3, 16)
    assert type(due.initial_due) is date


# ICH E2A II.A.4 / CLINICAL_RULES.md: a SUSAR is serious, related and unexpected; an SAE judged unrelated,
# or expected per the investigator's brochure, is not a SUSAR.
SUSAR_TABLE = [
    (True, True, False, True),
    (True, True, True, False),
    (True, False, False, False),
    (True, False, True, False),
    (False, True, False, False),
    (False, True, True, False),
    (False, False, False, False),
    (False, False, True, False),
]


@pytest.mark.parametrize(("serious", "related", "expected", "susar"), SUSAR_TABLE)
def test_is_susar_only_when_serious_related_and_unexpected(
    serious: bool, related: bool, expected: bool, susar: bool
) -> None:
    assert reporting.is_susar(serious=serious, related=related, expected=expected) is susar


# CLINICAL_RULES.md: investigator -> sponsor SAE within 24 h of awareness (setting reporting.sae_to_sponsor_hours).
def test_sae_sponsor_due_is_24_hours_after_awareness() -> None:
    assert reporting.sae_sponsor_due(datetime(2024, 3, 1, 14, 30)) == datetime(2024, 3, 2, 14, 30)


def test_sae_sponsor_due_follows_hours_setting() -> None:
    settings = RuleSettings(sae_to_sponsor_hours=72)
    assert reporting.sae_sponsor_due(datetime(2024, 2, 28, 9, 0), settings) == datetime(2024, 3, 2, 9, 0)


def test_sae_sponsor_due_keeps_time_zone() -> None:
    aware = datetime(2024, 3, 30, 22, 0, tzinfo=timezone(timedelta(hours=8)))
    due = reporting.sae_sponsor_due(aware)
    assert due.tzinfo == aware.tzinfo
    assert due - aware == timedelta(hours=24)


def test_sae_sponsor_due_rejects_negative_hours() -> None:
    with pytest.raises(ClinicalInputError):
        reporting.sae_sponsor_due(datetime(2024, 3, 1), RuleSettings(sae_to_sponsor_hours=-1))


DUE = date(2024, 3, 8)
# Submission on the due date is on time; an unsubmitted report is pending through the due date.
STATUS_TABLE = [
    (date(2024, 3, 7), date(2024, 3, 10), "submitted"),
    (DUE, date(2024, 3, 10), "submitted"),
    (date(2024, 3, 9), date(2024, 3, 10), "submitted_late"),
    (None, date(2024, 3, 7), "pending"),
    (None, DUE, "pending"),
    (None, date(2024, 3, 9), "overdue"),
]


@pytest.mark.parametrize(("submitted", "today", "status"), STATUS_TABLE)
def test_report_status_compares_with_due_date_inclusive(submitted: date | None, today: date, status: str) -> None:
    assert reporting.report_status(DUE, submitted, today) == status


def test_report_status_with_timestamps_is_exact_to_the_second() -> None:
    due = datetime(2024, 3, 2, 14, 30)
    assert reporting.report_status(due, datetime(2024, 3, 2, 14, 30), datetime(2024, 3, 3)) == "submitted"
    assert reporting.report_status(due, datetime(2024, 3, 2, 14, 31), datetime(2024, 3, 3)) == "submitted_late"
    assert reporting.report_status(due, None, datetime(2024, 3, 2, 14, 31)) == "overdue"


def test_report_status_refuses_to_mix_dates_and_timestamps() -> None:
    with pytest.raises(ClinicalInputError):
        reporting.report_status(DUE, None, datetime(2024, 3, 7, 9, 0))
