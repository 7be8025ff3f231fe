"""Each subject's course on protocol days, read once from the export snapshot for every plot.

Rows come from ``jk500db.export.adam.collect`` (the snapshot through ``context.rows``, removed records left out),
so the plots show what ADaM and the tables show, ``--as-of`` included. Stored derived values are used as
stored: the ELN 2022 category and MRD-negative flag of each response assessment, and each AE's grade as ADAE
carries it (AETOXGRN: the ASTCT episode maximum for CRS and ICANS, else the investigator's CTCAE grade).
Days are protocol days from the clinical rule (``jk500db.clinical.schedule.protocol_day``: day 0 = first
JK500 infusion, no gap), of the UTC date of a timestamp, as the derivations count them.

A subject lymphodepleted but never infused has no day 0. Such a lane is aligned so that the first
lymphodepletion dose falls on the earliest day the regimen plans for lymphodepletion (cyclophosphamide,
day -7): the subject is then drawn where the protocol would have placed the course, and is marked as not
infused in every plot. A subject with neither (a screen failure, or awaiting treatment) has no course.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from jk500db.clinical import ctcae, schedule
from jk500db.export.adam import (
    StudyData,
    SubjectRecords,
    astct_category,
    collect,
    is_crs,
    is_icans,
    utc_date,
)
from jk500db.export.context import ExportContext
from jk500db.export.snapshot import Row
from jk500db.models.vocabularies import Agent, LabTest, Specimen

LYMPHODEPLETION = (Agent.CYCLOPHOSPHAMIDE, Agent.FLUDARABINE)
#: Adverse events drawn on the swimmer plot: CTCAE grade 3 or worse.
SEVERE_GRADE = 3
#: The counts the recovery curves draw.
COUNT_TESTS = (LabTest.NEUT, LabTest.PLAT)
#: Count units the CTCAE rule accepts -> divisor to ×10⁹/L (the rule grades counts in ×10⁹/L).
_COUNT_DIVISORS: dict[str, Decimal] = {
    ctcae.PER_NANOLITRE.casefold(): Decimal(1),
    ctcae.PER_MICROLITRE.casefold(): ctcae.PER_MICROLITRE_PER_10E9_L,
    "/mm3": ctcae.PER_MICROLITRE_PER_10E9_L,  # CTCAE prints counts per mm³; 1 mm³ = 1 µL
}


#: A subject's date -> its protocol day.
_Day = Callable[[dt.date | dt.datetime], int]


@dataclass(frozen=True)
class Response:
    day: int
    category: str
    mrd_negative: bool


@dataclass(frozen=True)
class SevereEvent:
    day: int
    grade: int


@dataclass(frozen=True)
class Episode:
    """A CRS or ICANS adverse event from onset to resolution (to the last observation while ongoing)."""

    kind: str
    start: int
    end: int
    grade: int
    ongoing: bool


@dataclass
class Course:
    """One subject's lane: what happened on which protocol day."""

    subject_id: int
    #: the SDTM SUBJID ("01-003"): the only name a subject has in a plot.
    label: str
    #: False: never infused, day 0 placed from the first lymphodepletion dose (module docstring).
    infused: bool
    day0: dt.date
    lymphodepletion: list[int] = field(default_factory=list)
    infusions: list[int] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    severe_events: list[SevereEvent] = field(default_factory=list)
    episodes: list[Episode] = field(default_factory=list)
    transplant: int | None = None
    death: int | None = None
    #: the last day the subject was seen or anything happened.
    last_day: int = 0
    #: still on study: no end-of-study form and no death.
    continuing: bool = False

    @property
    def lane_label(self) -> str:
        return self.label if self.infused else f"{self.label}*"

    @property
    def first_day(self) -> int:
        return min([*self.lymphodepletion, *self.infusions], default=self.last_day)


@dataclass(frozen=True)
class CountPoint:
    day: int
    #: ×10⁹/L, exact (converted from /µL with Decimal division before plotting).
    value: Decimal


@dataclass
class PlotData:
    """Everything the three plots draw."""

    study_code: str
    #: "data at audit event N (YYYY-MM-DD HH:MM UTC)": the moment the data stand for, never the clock.
    data_note: str
    #: subjects with a course (lymphodepleted or infused), by subject number.
    courses: list[Course]
    #: subjects in the snapshot without any study treatment (not drawn on the swimmer or recovery plots).
    untreated: int
    #: subject label -> heat-map row key -> worst grade, for every subject with an adverse event.
    worst_grades: dict[str, dict[str, int]]
    #: subjects without any adverse event (not drawn on the heat map).
    without_events: int
    #: the earliest planned lymphodepletion day of the regimen (-7), used to place lanes of non-infused subjects.
    lymphodepletion_day: int | None


def read(context: ExportContext) -> PlotData:
    """The courses and worst grades of every live subject in the snapshot."""
    data = collect(context)
    planned_day = _first_lymphodepletion_day(data)
    subjects = sorted(data.subjects, key=lambda s: s.keys.subject_number)
    courses = [c for c in (_course(data, s, planned_day) for s in subjects) if c is not None]
    worst = {s.keys.subject_number: _worst_grades(data, s) for s in subjects if s.adverse_events}
    snapshot = context.snapshot
    moment = snapshot.data_moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    return PlotData(
        study_code=str(data.study["code"]),
        data_note=f"Data at audit event {snapshot.audit_position} ({moment} UTC).",
        courses=courses,
        untreated=len(subjects) - len(courses),
        worst_grades=worst,
        without_events=len(subjects) - len(worst),
        lymphodepletion_day=planned_day,
    )


def _first_lymphodepletion_day(data: StudyData) -> int | None:
    """The earliest protocol day the regimen plans a lymphodepletion dose on ("-7" for cyclophosphamide)."""
    days = [
        int(day)
        for agent in LYMPHODEPLETION
        if agent in data.regimen
        for day in str(data.regimen[agent]["days"]).split(",")
        if day.strip()
    ]
    return min(days, default=None)


def _dates(values: Iterable[dt.date | dt.datetime | None]) -> list[dt.date]:
    return sorted(d for d in map(utc_date, values) if d is not None)


def _utc_day(on: dt.date | dt.datetime) -> dt.date:
    """The date of a date, or the UTC date of a timestamp (as the derivations count protocol days)."""
    return on.astimezone(dt.UTC).date() if isinstance(on, dt.datetime) else on


def _course(data: StudyData, subject: SubjectRecords, planned_day: int | None) -> Course | None:
    lymphodepletion = _dates(a["started_at"] for a in subject.given if a["agent"] in LYMPHODEPLETION)
    day0 = subject.day0
    infused = day0 is not None
    if day0 is None:
        if not lymphodepletion or planned_day is None:
            return None
        day0 = lymphodepletion[0] - dt.timedelta(days=planned_day)
    course = Course(subject.keys.subject_id, subject.keys.subject_number, infused, day0)

    def day(on: dt.date | dt.datetime) -> int:
        return schedule.protocol_day(_utc_day(on), course.day0)

    course.lymphodepletion = [day(d) for d in lymphodepletion]
    course.infusions = [day(d) for d in _dates(i["started_at"] for i in subject.infusions)]
    course.responses = [
        Response(day(r["assessed_on"]), str(r["eln_category"]), bool(r["mrd_negative"]))
        for r in subject.responses
        if r["eln_category"] is not None
    ]
    _add_events(data, subject, course, day)
    if subject.transplant_date is not None:
        course.transplant = day(subject.transplant_date)
    if subject.death is not None:
        course.death = day(subject.death["death_date"])
    course.last_day = _last_day(subject, course, day)
    # an ongoing episode runs to the last observation
    course.episodes = [
        Episode(e.kind, e.start, course.last_day if e.ongoing else e.end, e.grade, e.ongoing) for e in course.episodes
    ]
    course.continuing = subject.end_of_study is None and subject.death is None
    return course


def _last_day(subject: SubjectRecords, course: Course, day: _Day) -> int:
    """The last day anything is known of the subject: seen, left the study, or any event drawn."""
    ended = None if subject.end_of_study is None else subject.end_of_study["ended_on"]
    days = [day(d) for d in (subject.last_observed, ended) if d is not None]
    days += [d for d in (course.death, course.transplant) if d is not None]
    days += [*course.lymphodepletion, *course.infusions, *(r.day for r in course.responses)]
    days += [e.day for e in course.severe_events] + [e.end for e in course.episodes]
    return max(days)


def event_grade(event: Row, subject: SubjectRecords) -> int:
    """The grade ADAE's AETOXGRN carries: the stored ASTCT episode maximum for CRS/ICANS, else the CTCAE grade."""
    derived = event["derived_grade"] if astct_category(event, subject) is not None else None
    return int(str(derived if derived is not None else event["grade"]))


def _add_events(data: StudyData, subject: SubjectRecords, course: Course, day: _Day) -> None:
    for event in subject.adverse_events:
        term = data.terms[event["ctcae_term_id"]]
        grade = event_grade(event, subject)
        kind = "CRS" if is_crs(event, term, subject) else "ICANS" if is_icans(event, term, subject) else None
        start = day(event["onset_date"])
        if kind is not None:
            end = day(event["end_date"]) if event["end_date"] is not None else start
            course.episodes.append(Episode(kind, start, max(start, end), grade, event["end_date"] is None))
        elif grade >= SEVERE_GRADE:
            course.severe_events.append(SevereEvent(start, grade))
    course.severe_events.sort(key=lambda e: (e.day, e.grade))
    course.episodes.sort(key=lambda e: (e.start, e.kind, e.end, e.grade))


def term_label(term: Row, verbatim: str | None) -> str:
    """The heat map's row: the CTCAE term, or for an "Other, specify" term the investigator's words (ICANS has no
    CTCAE v5.0 term of its own and is recorded so)."""
    if term["other_specify"] and verbatim:
        return f"{verbatim} (other, specify)"
    return str(term["term"])


def _worst_grades(data: StudyData, subject: SubjectRecords) -> dict[str, int]:
    worst: dict[str, int] = {}
    for event in subject.adverse_events:
        label = term_label(data.terms[event["ctcae_term_id"]], event["verbatim"])
        worst[label] = max(worst.get(label, 0), event_grade(event, subject))
    return worst


def count_series(context: ExportContext, courses: list[Course]) -> tuple[dict[int, dict[str, list[CountPoint]]], int]:
    """Blood ANC and platelet results of the subjects with a course, by subject id and test code, in day order.

    Streams ``lab_result`` (the largest table) and keeps only these two tests. Returns the series and the
    number of results left out because their unit is not a count unit the CTCAE rule knows.
    """
    day0 = {course.subject_id: course.day0 for course in courses}
    series: dict[int, dict[str, list[tuple[dt.datetime, int, CountPoint]]]] = defaultdict(lambda: defaultdict(list))
    unknown_unit = 0
    for row in context.rows("lab_result"):
        if row["test_code"] not in COUNT_TESTS or row["subject_id"] not in day0 or row["value"] is None:
            continue
        if row["removed_at"] is not None or row["specimen"] != Specimen.BLOOD:
            continue
        divisor = _COUNT_DIVISORS.get(str(row["unit"] or "").strip().casefold())
        if divisor is None:
            unknown_unit += 1
            continue
        on = _utc_day(row["collected_at"])
        point = CountPoint(schedule.protocol_day(on, day0[row["subject_id"]]), row["value"] / divisor)
        series[row["subject_id"]][str(row["test_code"])].append((row["collected_at"], row["id"], point))
    # in collection order, the row id breaking ties, so the curve never depends on the order rows were read
    ordered = {
        subject_id: {test: [p for *_, p in sorted(points, key=lambda t: t[:2])] for test, points in tests.items()}
        for subject_id, tests in series.items()
    }
    return ordered, unknown_unit
