"""Conventions every SDTM domain of the JK500 export shares (SDTMIG v3.4).

- **Identifiers** (SDTMIG 3.4 §5.2, DM): STUDYID is the study code; USUBJID is built once, by
  :attr:`~jk500db.export.context.SubjectKeys.usubjid`, as STUDYID-SITEID-SUBJID.
- **Dates** (§4.4.1 "Formats for Date/Time Variables", §4.4.2 "Date/Time Precision"): ISO 8601 extended format.
  A partial date keeps only the parts known (right truncation: "2023-05"), never imputed. Times are the UTC
  times the database stores, written with the ``Z`` designator §4.4.1 allows; seconds only when recorded.
- **Study day** (§4.4.4 "Use of the Study Day Variables"): --DY = date - RFSTDTC + 1 on or after RFSTDTC, date -
  RFSTDTC before it; there is no day 0. RFSTDTC = RFXSTDTC = the first lymphodepletion dose given (per protocol
  cyclophosphamide on day -7), the same reference as the database's own derived ``visit.study_day``. A partial
  date has no study day.
- **EPOCH** (§4.1.3.1 "EPOCH Variable Guidance"): the epoch of the Subject Elements (SE) element the --DTC (or
  --STDTC) falls in; null when the date is partial, before consent, or after the last element, never imputed.
- **--SEQ** (§4.1.7, §8.4): numbered 1, 2, ... within USUBJID after sorting each domain's records by their
  natural keys (dates, test codes, the CRF's own numbers such as the AE number), then by every exported value.
  Database ids are never used: a database restored from its audit trail, migrated to another engine or rebuilt
  from the seed files gives the same numbers, and so the same SUPP-- links.
- **Controlled terminology** (§4.3): values upper case as the CDISC codelists spell them (SEX M/F, NY Y/N).
- **Removed records** (``removed_at`` set) and everything belonging to a removed subject are left out.
- **Text over 200 characters** (§4.5.3.2 "Text Strings Greater than 200 Characters in Other Variables"): kept
  whole in the domains, which the transport writer splits into SUPP-- records; a SUPP-- value itself longer than
  200 characters continues in QNAM + 1, 2, ... (QVAL has no SUPP-- of its own), cut between words.
- Numbers stay ``Decimal`` as entered; exported derivations divide with ``Decimal`` and say how they round.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cached_property
from typing import Any

from jk500db.clinical.schedule import age_in_years, sdtm_study_day
from jk500db.export.context import ExportContext, SubjectKeys
from jk500db.export.datasets import Core, Dataset, DataType, Origin, Value, ValueLevel, Variable
from jk500db.export.snapshot import Row

SDTMIG_VERSION = "3.4"
SDTM_VERSION = "2.0"
#: Version of the derivation rules this package applies itself (study day, EPOCH, --SEQ, doses per basis, ...).
RULES_VERSION = "1"
#: The longest text a SAS v5 transport variable holds (SDTMIG 3.4 §4.5.3.2).
MAX_TEXT = 200
#: Decimal places of doses this export derives by dividing (mg/kg, mg/m², IU/m², cells/kg).
DOSE_PLACES = 4

#: One record of a dataset being built, variable name -> exported value.
Record = dict[str, Value]

# Core and origin shorthands keep the variable tables readable.
REQ, EXP, PERM = Core.REQUIRED, Core.EXPECTED, Core.PERMISSIBLE
COLLECTED, DERIVED, ASSIGNED, PROTOCOL = Origin.COLLECTED, Origin.DERIVED, Origin.ASSIGNED, Origin.PROTOCOL
TEXT, INTEGER, FLOAT, DTC = DataType.TEXT, DataType.INTEGER, DataType.FLOAT, DataType.DATETIME

NY = ("N", "Y")


def rule(name: str) -> str:
    """The label of one of this package's own derivation rules, e.g. ``sdtm.study_day v1``."""
    return f"sdtm.{name} v{RULES_VERSION}"


# --------------------------------------------------------------------------------------------- values


def ct(value: object) -> str | None:
    """A controlled-terminology value in upper case (stored codes are lower case with underscores)."""
    if value is None:
        return None
    return str(value).replace("_", " ").upper()


def yn(value: bool | None) -> str | None:
    """NY codelist: True "Y", False "N", unknown null (SDTMIG 3.4 §4.3.7)."""
    return None if value is None else ("Y" if value else "N")


def plain(value: Decimal | None) -> Decimal | None:
    """``value`` without exponent notation (the database may hand back ``1.000000E+7``), digits unchanged."""
    return None if value is None else Decimal(format(value, "f"))


def text(value: Decimal | int | None) -> str | None:
    """A number as the text it was entered as (for --ORRES and QVAL)."""
    if value is None:
        return None
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def divide(amount: Decimal | None, by: Decimal | None, places: int = DOSE_PLACES) -> Decimal | None:
    """``amount / by`` rounded half-up to ``places`` decimals, trailing zeros dropped; None when undefined."""
    if amount is None or by is None or by == 0:
        return None
    with localcontext() as context:
        context.prec = 40
        quotient = (amount / by).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return plain(quotient.normalize())


# ------------------------------------------------------------------------------------------ ISO 8601


def iso_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def iso_datetime(value: dt.datetime | None) -> str | None:
    """UTC date and time, to the minute, or to the second when seconds were recorded (SDTMIG 3.4 §4.4.2)."""
    if value is None:
        return None
    moment = value.astimezone(dt.UTC) if value.tzinfo else value
    pattern = "%Y-%m-%dT%H:%M" if moment.second == 0 and moment.microsecond == 0 else "%Y-%m-%dT%H:%M:%S"
    return moment.strftime(pattern) + "Z"


def iso(value: dt.date | dt.datetime | None) -> str | None:
    if isinstance(value, dt.datetime):
        return iso_datetime(value)
    return iso_date(value)


def iso_partial(year: int | None, month: int | None = None, day: int | None = None) -> str | None:
    """A partial date by right truncation: "2023", "2023-05" or "2023-05-17" (never imputed)."""
    if year is None:
        return None
    result = f"{year:04d}"
    if month is not None:
        result += f"-{month:02d}"
        if day is not None:
            result += f"-{day:02d}"
    return result


def complete_date(dtc: str | None) -> dt.date | None:
    """The date part of an ISO 8601 value when it is a complete date, else None (no study day, no epoch)."""
    if dtc is None or len(dtc) < 10:
        return None
    return dt.date.fromisoformat(dtc[:10])


def utc_date(value: dt.date | dt.datetime) -> dt.date:
    """The date of a date, or the UTC date of a timestamp (as the database's own study days take it)."""
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).date()
    return value


def study_day(dtc: str | None, reference: dt.date | None) -> int | None:
    """--DY of an ISO 8601 value against RFSTDTC's date (SDTMIG 3.4 §4.4.4); None for partial dates."""
    on = complete_date(dtc)
    if on is None or reference is None:
        return None
    return sdtm_study_day(on, reference)


# --------------------------------------------------------------------------------------- variables


def var(
    name: str,
    label: str,
    data_type: DataType = TEXT,
    core: Core = PERM,
    origin: Origin = COLLECTED,
    *,
    derivation: str | None = None,
    codelist: str | None = None,
    values: Iterable[str] = (),
    length: int | None = None,
    comment: str | None = None,
) -> Variable:
    """One variable's metadata; ``values`` are the codelist terms planned for this study (SDTMIG 3.4 §4.3.3);
    ``comment`` is what define.xml says beside origin and method, above all why an Expected variable is empty."""
    return Variable(
        name, label, data_type, core, origin, derivation, codelist, tuple(dict.fromkeys(values)), length, comment
    )


STUDY_DAY_RULE = (
    "Study day against DM.RFSTDTC (the first lymphodepletion dose given): date - RFSTDTC + 1 on or after it, "
    "date - RFSTDTC before it; no day 0; null for a partial date (SDTMIG 3.4 §4.4.4). Rule "
)
EPOCH_RULE = (
    "EPOCH of the SE element whose start/end interval contains the record's date/time (times compared when both "
    "have them; a date alone on the day an element starts belongs to that element); null for a partial date, "
    "before informed consent or after the last element (SDTMIG 3.4 §4.1.3.1). Rule "
)


def identifiers(domain: str) -> list[Variable]:
    """STUDYID, DOMAIN, USUBJID and --SEQ of a subject-level general-class domain."""
    return [
        var("STUDYID", "Study Identifier", core=REQ, origin=PROTOCOL),
        var("DOMAIN", "Domain Abbreviation", core=REQ, origin=ASSIGNED, codelist="DOMAIN", values=(domain,)),
        var("USUBJID", "Unique Subject Identifier", core=REQ, origin=DERIVED,
            derivation=f"STUDYID-SITEID-SUBJID, built once for every dataset. Rule {rule('usubjid')}"),
        seq_variable(domain),
    ]  # fmt: skip


def seq_variable(domain: str) -> Variable:
    return var(
        f"{domain}SEQ", "Sequence Number", INTEGER, REQ, DERIVED,
        derivation=f"1, 2, ... within USUBJID after sorting the records by their natural keys and then by every "
        f"exported value; never by database id, so two exports of the same data agree. Rule {rule('seq')}",
    )  # fmt: skip


def dy_variable(name: str, label: str, of: str) -> Variable:
    return var(name, label, INTEGER, PERM, DERIVED, derivation=f"{of}: {STUDY_DAY_RULE}{rule('study_day')}")


def epoch_variable(of: str, core: Core = PERM) -> Variable:
    return var(
        "EPOCH", "Epoch", TEXT, core, DERIVED, codelist="EPOCH", values=EPOCHS,
        derivation=f"From {of}: {EPOCH_RULE}{rule('epoch')}",
    )  # fmt: skip


def visit_variables(with_visitdy: bool = False) -> list[Variable]:
    """VISITNUM, VISIT (and VISITDY) as SDTMIG 3.4 §4.4.5 "Clinical Encounters and Visits" assigns them."""
    variables = [
        var("VISITNUM", "Visit Number", FLOAT, EXP, DERIVED, derivation=VISITNUM_RULE),
        var("VISIT", "Visit Name", TEXT, PERM, DERIVED, derivation=VISIT_RULE),
    ]
    if with_visitdy:
        variables.append(var("VISITDY", "Planned Study Day of Visit", INTEGER, PERM, PROTOCOL))
    return variables


VISITNUM_RULE = (
    "Planned visits: the schedule position in the study definition (TV.VISITNUM). Unplanned visits: the number "
    "of the last planned visit on or before the visit's date + sequence/100 (3.01 is the first unplanned visit "
    f"after visit 3), so the numbers sort chronologically (SDTMIG 3.4 §4.4.5). Rule {rule('visitnum')}"
)
VISIT_RULE = (
    f"Planned visits: the study definition's visit label; unplanned: 'Unscheduled <VISITNUM>'. Rule {rule('visit')}"
)


# --------------------------------------------------------------------------------- trial design facts

#: EPOCH codelist terms of this trial (TA.EPOCH).
SCREENING, TREATMENT, FOLLOW_UP = "SCREENING", "TREATMENT", "FOLLOW-UP"
EPOCHS = (SCREENING, TREATMENT, FOLLOW_UP)
ARMCD = "JK500"
ARM = "Cyclophosphamide and fludarabine, then IL-2 and JK500 NK cells"
#: The JK500 element lasts from the first infusion to the end of the DLT window (days 0-28 inclusive).
TREATMENT_ELEMENT_DAYS = 29


@dataclass(frozen=True)
class ElementDefinition:
    etcd: str
    element: str
    taetord: int
    epoch: str
    start_rule: str
    end_rule: str
    duration: str | None


ELEMENTS: tuple[ElementDefinition, ...] = (
    ElementDefinition(
        "SCRN", "Screening", 1, SCREENING,
        "Informed consent signed by the parent or guardian",
        "First lymphodepletion dose, or leaving the study before it (screen failure, withdrawal)",
        None,
    ),
    ElementDefinition(
        "LD", "Lymphodepletion", 2, TREATMENT,
        "First lymphodepletion dose (cyclophosphamide 60 mg/kg, protocol day -7)",
        "First IL-2 dose or JK500 infusion (day 0), or leaving the study before it",
        "P7D",
    ),
    ElementDefinition(
        "JK500", "IL-2 and JK500 infusions", 3, TREATMENT,
        "First IL-2 dose or JK500 infusion, whichever comes first (protocol day 0, IL-2 0.5-1 h before the cells)",
        f"Protocol day {TREATMENT_ELEMENT_DAYS} (the DLT window is days 0-28), or leaving the study before it",
        f"P{TREATMENT_ELEMENT_DAYS}D",
    ),
    ElementDefinition(
        "FU", "Follow-up", 4, FOLLOW_UP,
        f"Protocol day {TREATMENT_ELEMENT_DAYS} after the first JK500 infusion",
        "End of study: completion at month 24, withdrawal, loss to follow-up or death",
        None,
    ),
)  # fmt: skip
ELEMENT_BY_CODE = {element.etcd: element for element in ELEMENTS}

Moment = dt.date | dt.datetime


@dataclass(frozen=True)
class SubjectElement:
    """One element a subject actually passed through (SE), with its bounds."""

    definition: ElementDefinition
    start: Moment
    end: Moment | None
    #: the last element of a subject who left the study includes its end date (the day they left).
    end_inclusive: bool = False

    def contains(self, moment: Moment) -> bool:
        if not _at_or_after(moment, self.start):
            return False
        if self.end is None:
            return True
        return _before(moment, self.end, inclusive=self.end_inclusive)


def _at_or_after(moment: Moment, start: Moment) -> bool:
    if isinstance(moment, dt.datetime) and isinstance(start, dt.datetime):
        return moment >= start
    return utc_date(moment) >= utc_date(start)


def _before(moment: Moment, end: Moment, *, inclusive: bool) -> bool:
    if isinstance(moment, dt.datetime) and isinstance(end, dt.datetime):
        return moment <= end if inclusive else moment < end
    return utc_date(moment) <= utc_date(end) if inclusive else utc_date(moment) < utc_date(end)


@dataclass(frozen=True)
class VisitKey:
    """How one visit is named in every domain (SDTMIG 3.4 §4.4.5)."""

    visitnum: Decimal
    visit: str
    visitdy: int | None
    planned: bool


@dataclass
class SubjectFacts:
    """What every domain needs to know about one subject: keys, reference dates and elements."""

    keys: SubjectKeys
    row: Row
    country: str | None
    #: RFICDTC: the first guardian consent (or the first consent of any kind when there is none).
    consent_date: dt.date | None = None
    #: RFSTDTC = RFXSTDTC: start of the first lymphodepletion dose given.
    first_dose: dt.datetime | None = None
    #: start of the first JK500 infusion (protocol day 0).
    first_infusion: dt.datetime | None = None
    #: start of the first IL-2 dose (0.5-1 h before the first infusion): with it the JK500 element begins.
    first_il2: dt.datetime | None = None
    #: RFXENDTC: end (or start, when no end was recorded) of the last study treatment.
    last_dose: dt.datetime | None = None
    end_of_study: Row | None = None
    death: Row | None = None
    #: last date the subject is known to have been seen or contacted (RFPENDTC).
    last_contact: dt.date | None = None
    elements: list[SubjectElement] = field(default_factory=list)

    @property
    def usubjid(self) -> str:
        return self.keys.usubjid

    @property
    def reference_date(self) -> dt.date | None:
        """The date of RFSTDTC, the anchor of every --DY."""
        return None if self.first_dose is None else utc_date(self.first_dose)

    @property
    def exit_date(self) -> dt.date | None:
        """The day the subject left the study: end of study, or death when that is all that is recorded."""
        dates = [d for d in (self._eos_date, self._death_date) if d is not None]
        return min(dates, default=None)

    @property
    def _eos_date(self) -> dt.date | None:
        return None if self.end_of_study is None else self.end_of_study["ended_on"]

    @property
    def _death_date(self) -> dt.date | None:
        return None if self.death is None else self.death["death_date"]

    @property
    def screen_failed(self) -> bool:
        status = str(self.row["status"])
        return status == "screen_failed" or (
            self.end_of_study is not None and str(self.end_of_study["status"]) == "screen_failed"
        )

    @property
    def assigned(self) -> bool:
        """Enrolled on the single arm (eligibility confirmed)."""
        return not self.screen_failed and (self.row["enrolled_on"] is not None or self.first_dose is not None)

    def dy(self, dtc: str | None) -> int | None:
        return study_day(dtc, self.reference_date)

    def epoch(self, moment: Moment | None) -> str | None:
        """EPOCH of a complete date or a date/time (SDTMIG 3.4 §4.1.3.1); None when no element contains it."""
        if moment is None:
            return None
        for element in reversed(self.elements):
            if element.contains(moment):
                return element.definition.epoch
        return None

    def epoch_of(self, dtc: str | None) -> str | None:
        """EPOCH of an ISO 8601 value already formatted; partial dates have none."""
        if dtc is None or len(dtc) < 10:
            return None
        if len(dtc) > 10:
            return self.epoch(dt.datetime.fromisoformat(dtc.replace("Z", "+00:00")))
        return self.epoch(dt.date.fromisoformat(dtc))


def live(rows: Iterable[Row]) -> Iterator[Row]:
    """Rows not removed (``removed_at`` unset); tables without the column pass through."""
    for row in rows:
        if row.get("removed_at") is None:
            yield row


class SdtmStudy:
    """Study-level and subject-level facts read once from the export snapshot and shared by every domain.

    Rows are read only through ``context.rows`` (de-identified unless the export is identified). The one
    exception is the birth date, which de-identified exports never emit but need for AGE at consent; it is
    read from the snapshot by :meth:`ages_at_consent` and never leaves that method.
    """

    def __init__(self, context: ExportContext) -> None:
        self.context = context

    # ----- reading

    def rows(self, table: str) -> Iterator[Row]:
        """Live rows of ``table`` that belong to no subject or to a live subject."""
        subjects = self.subject_ids
        for row in live(self.context.rows(table)):
            subject_id = row.get("subject_id")
            if subject_id is None or subject_id in subjects:
                yield row

    def by_subject(self, table: str) -> dict[int, list[Row]]:
        grouped: dict[int, list[Row]] = defaultdict(list)
        for row in self.rows(table):
            grouped[row["subject_id"]].append(row)
        return grouped

    # ----- the study and its definition

    @cached_property
    def study(self) -> Row:
        studies = list(self.context.rows("study"))
        if len(studies) != 1:
            raise ValueError(f"an SDTM export describes one study; the database holds {len(studies)}")
        return studies[0]

    @property
    def studyid(self) -> str:
        return str(self.study["code"])

    @cached_property
    def sites(self) -> dict[int, Row]:
        return {row["id"]: row for row in self.context.rows("site")}

    @cached_property
    def definition(self) -> Row | None:
        """The study definition in force: the active version with the highest number."""
        active = [row for row in self.context.rows("study_definition_version") if row["active"]]
        return max(active, key=lambda row: row["version"], default=None)

    @cached_property
    def visit_definitions(self) -> dict[int, Row]:
        """Every visit definition (any version), by id: a visit keeps the definition it was scheduled under."""
        return {row["id"]: row for row in self.context.rows("visit_definition")}

    @cached_property
    def planned_visits(self) -> list[Row]:
        """The schedule in force (TV), in order."""
        if self.definition is None:
            return []
        current = self.definition["id"]
        return sorted(
            (row for row in self.visit_definitions.values() if row["definition_id"] == current),
            key=lambda row: row["order"],
        )

    @cached_property
    def regimen(self) -> dict[str, Row]:
        """Agent -> regimen item of the definition in force."""
        if self.definition is None:
            return {}
        current = self.definition["id"]
        return {str(row["agent"]): row for row in self.context.rows("regimen_item") if row["definition_id"] == current}

    @cached_property
    def lymphodepletion_day(self) -> int:
        """Protocol day of the first lymphodepletion dose (day 0 = first JK500 infusion); -7 by the registry."""
        days = [
            int(day)
            for agent in ("cyclophosphamide", "fludarabine")
            if agent in self.regimen
            for day in str(self.regimen[agent]["days"]).split(",")
            if day.strip()
        ]
        return min(days, default=-7)

    def planned_study_day(self, definition: Row) -> int | None:
        """VISITDY: a visit's nominal day as an SDTM study day (RFSTDTC = the first lymphodepletion dose)."""
        nominal = definition["nominal_day"]
        if nominal is None:
            return None
        offset = nominal if str(definition["anchor"]) == "lymphodepletion_start" else nominal - self.lymphodepletion_day
        return offset + 1 if offset >= 0 else offset

    @cached_property
    def ctcae_terms(self) -> dict[int, Row]:
        return {row["id"]: row for row in self.context.rows("ctcae_term")}

    @cached_property
    def soc_codes(self) -> dict[str, str]:
        """MedDRA SOC name -> SOC code, read from the CTCAE "<SOC> - Other, specify" terms, whose code is the SOC's."""
        return {str(row["soc"]): str(row["meddra_code"]) for row in self.ctcae_terms.values() if row["other_specify"]}

    @cached_property
    def protocol_version(self) -> str | None:
        versions = [row for row in self.context.rows("protocol_version") if row["study_id"] == self.study["id"]]
        latest = max(versions, key=lambda row: row["effective_on"], default=None)
        return None if latest is None else str(latest["version"])

    # ----- subjects

    @cached_property
    def subject_ids(self) -> frozenset[int]:
        """Subjects not removed."""
        return frozenset(self._subject_rows)

    @cached_property
    def _subject_rows(self) -> dict[int, Row]:
        return {row["id"]: row for row in live(self.context.rows("subject"))}

    @cached_property
    def subjects(self) -> dict[int, SubjectFacts]:
        """Every live subject's facts, in USUBJID order."""
        keys = self.context.subjects
        facts = {}
        for subject_id, row in sorted(self._subject_rows.items(), key=lambda item: keys[item[0]].usubjid):
            site = self.sites.get(row["site_id"])
            facts[subject_id] = SubjectFacts(keys[subject_id], row, None if site is None else str(site["country"]))
        self._add_reference_dates(facts)
        for subject in facts.values():
            subject.elements = _elements(subject)
        return facts

    def subject(self, subject_id: int) -> SubjectFacts:
        return self.subjects[subject_id]

    def _add_reference_dates(self, facts: dict[int, SubjectFacts]) -> None:
        for row in self.rows("consent"):
            subject = facts[row["subject_id"]]
            subject.consent_date = _first_consent(subject.consent_date, row, self._guardian_consented)
        for row in self.administrations:
            if row["not_given"]:
                continue
            subject = facts[row["subject_id"]]
            start = row["started_at"]
            if start is not None and str(row["agent"]) in ("cyclophosphamide", "fludarabine"):
                subject.first_dose = _earliest(subject.first_dose, start)
            if str(row["agent"]) == "il2":
                subject.first_il2 = _earliest(subject.first_il2, start)
            subject.last_dose = _latest(subject.last_dose, row["ended_at"] or start)
        for row in self.infusions:
            subject = facts[row["subject_id"]]
            subject.first_infusion = _earliest(subject.first_infusion, row["started_at"])
            subject.last_dose = _latest(subject.last_dose, row["ended_at"] or row["started_at"])
        for row in self.rows("end_of_study"):
            facts[row["subject_id"]].end_of_study = row
        for row in self.rows("death"):
            facts[row["subject_id"]].death = row
        for subject_id, dates in self._contact_dates().items():
            facts[subject_id].last_contact = max(dates)

    @cached_property
    def _guardian_consented(self) -> frozenset[int]:
        return frozenset(row["subject_id"] for row in self.rows("consent") if str(row["kind"]) == "guardian_consent")

    def _contact_dates(self) -> dict[int, list[dt.date]]:
        """Dates the subject was seen or contacted: visits, doses, infusions, survival contacts, end, death."""
        dates: dict[int, list[dt.date]] = defaultdict(list)
        for row in self.visits:
            if row["visit_date"] is not None:
                dates[row["subject_id"]].append(row["visit_date"])
        for row in [*self.administrations, *self.infusions]:
            if row["started_at"] is not None:
                dates[row["subject_id"]].append(utc_date(row["started_at"]))
        for table, column in (("consent", "signed_on"), ("survival_follow_up", "contact_date"),
                              ("end_of_study", "ended_on"), ("death", "death_date")):  # fmt: skip
            for row in self.rows(table):
                dates[row["subject_id"]].append(row[column])
        return dates

    def ages_at_consent(self) -> dict[int, int]:
        """Completed years of age at informed consent (DM.AGE); the birth date itself stays here.

        Read from the snapshot rather than ``context.rows``, which leaves the birth date out of
        de-identified exports: AGE is what those exports give instead of it (ExportContext docstring).
        """
        ages = {}
        for row in self.context.snapshot.rows("subject"):
            subject = self.subjects.get(row["id"])
            if subject is not None and subject.consent_date is not None:
                ages[row["id"]] = age_in_years(row["birth_date"], subject.consent_date)
        return ages

    # ----- rows several domains share

    @cached_property
    def administrations(self) -> list[Row]:
        return list(self.rows("drug_administration"))

    @cached_property
    def infusions(self) -> list[Row]:
        return list(self.rows("infusion"))

    @cached_property
    def visits(self) -> list[Row]:
        return list(self.rows("visit"))

    @cached_property
    def visit_keys(self) -> dict[int, VisitKey]:
        """Visit id -> VISITNUM, VISIT and VISITDY (SDTMIG 3.4 §4.4.5)."""
        keys: dict[int, VisitKey] = {}
        by_subject: dict[int, list[Row]] = defaultdict(list)
        for row in self.visits:
            by_subject[row["subject_id"]].append(row)
        for rows in by_subject.values():
            planned = [(row, self._definition_of(row)) for row in rows]
            for row, definition in planned:
                if definition is not None:
                    number = Decimal(definition["order"])
                    label, visitdy = str(definition["label"]), self.planned_study_day(definition)
                    keys[row["id"]] = VisitKey(number, label, visitdy, True)
            dated = sorted(
                (row["visit_date"], keys[row["id"]].visitnum) for row, _ in planned
                if row["id"] in keys and row["visit_date"] is not None
            )  # fmt: skip
            for row, definition in planned:
                if definition is None:
                    previous = max((n for on, n in dated if row["visit_date"] and on <= row["visit_date"]), default=0)
                    number = Decimal(previous) + Decimal(row["sequence"]) / 100
                    keys[row["id"]] = VisitKey(number, f"Unscheduled {number}", None, False)
        return keys

    def _definition_of(self, visit: Row) -> Row | None:
        """The schedule entry of a planned visit; None for an unscheduled one."""
        if visit["unscheduled"]:
            return None
        if visit["visit_definition_id"] is not None:
            return self.visit_definitions.get(visit["visit_definition_id"])
        return next((row for row in self.planned_visits if row["code"] == visit["visit_code"]), None)

    def visit_values(self, visit_id: int | None) -> dict[str, Value]:
        """VISITNUM and VISIT of a record's visit (null without one)."""
        key = None if visit_id is None else self.visit_keys.get(visit_id)
        if key is None:
            return {"VISITNUM": None, "VISIT": None}
        return {"VISITNUM": key.visitnum, "VISIT": key.visit}


def _first_consent(current: dt.date | None, row: Row, guardian_consented: frozenset[int]) -> dt.date | None:
    # RFICDTC is the parents' consent; a child's assent or a re-consent counts only when no consent exists.
    if row["subject_id"] in guardian_consented and str(row["kind"]) != "guardian_consent":
        return current
    on: dt.date = row["signed_on"]
    return on if current is None else min(current, on)


def _earliest(current: dt.datetime | None, moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return current
    return moment if current is None else min(current, moment)


def _latest(current: dt.datetime | None, moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return current
    return moment if current is None else max(current, moment)


def _elements(subject: SubjectFacts) -> list[SubjectElement]:
    """The elements a subject passed through (SDTMIG 3.4 §5.3 SE, §7.2.2 TE): screening, lymphodepletion,
    IL-2 and JK500, follow-up. An element the subject has not reached is absent; one still running is open."""
    exit_date = subject.exit_date
    elements: list[SubjectElement] = []
    if subject.consent_date is not None:
        elements.append(SubjectElement(ELEMENT_BY_CODE["SCRN"], subject.consent_date, subject.first_dose or exit_date))
    treatment = subject.first_infusion and _earliest(subject.first_infusion, subject.first_il2)
    if subject.first_dose is not None:
        elements.append(SubjectElement(ELEMENT_BY_CODE["LD"], subject.first_dose, treatment or exit_date))
    if subject.first_infusion is not None and treatment is not None:
        # the DLT window, and so the element, counts from the first infusion's date (protocol day 0)
        follow_up = utc_date(subject.first_infusion) + dt.timedelta(days=TREATMENT_ELEMENT_DAYS)
        left_early = exit_date is not None and exit_date <= follow_up
        reached = (exit_date is not None and exit_date > follow_up) or (
            exit_date is None and subject.last_contact is not None and subject.last_contact >= follow_up
        )
        end: Moment | None = exit_date if left_early else (follow_up if reached else None)
        elements.append(SubjectElement(ELEMENT_BY_CODE["JK500"], treatment, end))
        if reached:
            elements.append(SubjectElement(ELEMENT_BY_CODE["FU"], follow_up, exit_date))
    if elements and exit_date is not None and elements[-1].end is not None:
        last = elements[-1]
        elements[-1] = SubjectElement(last.definition, last.start, exit_date, end_inclusive=True)
    return elements


# ------------------------------------------------------------------------------------- --SEQ and SUPP--


def _sortable(value: Value) -> tuple[int, Any]:
    # None first, then the value; a column holds one type, so values compare among themselves.
    return (0, "") if value is None else (1, value)


def number_records(
    rows: list[Record],
    domain: str,
    natural_key: Callable[[Record], Sequence[Value]],
    variables: Sequence[Variable],
    supp: SuppCollector | None = None,
) -> list[Record]:
    """Sort by USUBJID and ``natural_key``, then by every variable and SUPP-- value; give --SEQ 1, 2, ... within
    USUBJID. Records that still tie are identical in everything exported, so their order cannot show."""
    names = [variable.name for variable in variables]

    def content(row: Record) -> tuple[Any, ...]:
        values = tuple((0, "") if row.get(name) is None else (1, str(row.get(name))) for name in names)
        return values + (supp.signature(row) if supp is not None else ())

    keyed = sorted(
        (((row["USUBJID"], tuple(_sortable(value) for value in natural_key(row))), row) for row in rows),
        key=lambda pair: pair[0],
    )
    ordered: list[Record] = []
    # Only records whose natural keys tie are ordered by their content (rare, and costly to compute for all).
    for _, group in itertools.groupby(keyed, key=lambda pair: pair[0]):
        tied = [row for _, row in group]
        ordered.extend(sorted(tied, key=content) if len(tied) > 1 else tied)
    counters: dict[Any, int] = defaultdict(int)
    for row in ordered:
        counters[row["USUBJID"]] += 1
        row[f"{domain}SEQ"] = counters[row["USUBJID"]]
    return ordered


@dataclass(frozen=True)
class Qualifier:
    """A supplemental qualifier's metadata (SDTMIG 3.4 §8.4): QNAM, QLABEL, origin, evaluator, description."""

    qnam: str
    qlabel: str
    origin: Origin = COLLECTED
    evaluator: str | None = None
    description: str | None = None

    def summary(self) -> str:
        """What define.xml's value-level metadata says of this qualifier's QVAL."""
        text = f"{self.qlabel}. Origin {self.origin.value}."
        return f"{text} {self.description}" if self.description else text


@dataclass
class SuppCollector:
    """SUPP-- values gathered while a parent domain is built, bound to parent rows until --SEQ is known."""

    domain: str
    qualifiers: dict[str, Qualifier] = field(default_factory=dict)
    _items: list[tuple[Record, str, str]] = field(default_factory=list)
    _by_row: dict[int, list[tuple[str, str]]] | None = None

    def define(self, *qualifiers: Qualifier) -> None:
        for qualifier in qualifiers:
            self.qualifiers[qualifier.qnam] = qualifier

    def add(self, row: Record, qnam: str, value: object) -> None:
        """Qualify ``row`` with ``value`` (skipped when null: QVAL is Required)."""
        if value is None or value == "":
            return
        if qnam not in self.qualifiers:
            raise KeyError(f"SUPP{self.domain}: {qnam} is not defined")
        self._items.append((row, qnam, value if isinstance(value, str) else str(value)))
        self._by_row = None

    @property
    def has_records(self) -> bool:
        return bool(self._items)

    def signature(self, row: Record) -> tuple[tuple[str, str], ...]:
        """The (QNAM, QVAL) pairs qualifying ``row``: part of what tells two records apart for --SEQ."""
        if self._by_row is None:
            self._by_row = defaultdict(list)
            for parent, qnam, value in self._items:
                self._by_row[id(parent)].append((qnam, value))
        return tuple(sorted(self._by_row.get(id(row), ())))

    def dataset(self, studyid: str) -> Dataset:
        """SUPP-- for the parent rows, which must have their --SEQ by now (SDTMIG 3.4 §8.4.1)."""
        seq = f"{self.domain}SEQ"
        rows: list[Record] = []
        for parent, qnam, value in self._items:
            qualifier = self.qualifiers[qnam]
            for index, chunk in enumerate(split_text(value)):
                name = qnam if index == 0 else continuation_name(qnam, index)
                rows.append({
                    "STUDYID": studyid, "RDOMAIN": self.domain, "USUBJID": parent["USUBJID"],
                    "IDVAR": seq, "IDVARVAL": str(parent[seq]), "QNAM": name, "QLABEL": qualifier.qlabel,
                    "QVAL": chunk, "QORIG": qualifier.origin.value, "QEVAL": qualifier.evaluator,
                })  # fmt: skip
        rows.sort(key=lambda r: (r["USUBJID"], int(str(r["IDVARVAL"])), str(r["QNAM"])))
        # each qualifier's own origin (QORIG): a derived one (AEDLTCAN) gets its own method in define.xml
        value_level = [
            ValueLevel("QVAL", f"QNAM EQ '{q.qnam}'", q.summary(), q.origin,
                       (q.description or f"{q.qlabel}, as the database's derivation stored it with the derived "
                        "value.") if q.origin is DERIVED else None)
            for q in sorted(self.qualifiers.values(), key=lambda q: q.qnam)
        ]  # fmt: skip
        return Dataset(
            name=f"SUPP{self.domain}",
            label=f"Supplemental Qualifiers for {self.domain}",
            dataset_class="RELATIONSHIP",
            structure="One record per supplemental qualifier per related parent domain record",
            keys=("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
            variables=supp_variables(self.domain, self.qualifiers.values(), sorted({str(row["QNAM"]) for row in rows})),
            rows=rows,
            value_level=value_level,
        )


def supp_variables(domain: str, qualifiers: Iterable[Qualifier], qnams: Iterable[str] = ()) -> list[Variable]:
    """SUPPQUAL variables (SDTMIG 3.4 §8.4.1); ``qnams`` adds the continuations of values over 200 characters."""
    defined = sorted(qualifiers, key=lambda q: q.qnam)
    evaluators = [q.evaluator for q in defined if q.evaluator]
    return [
        var("STUDYID", "Study Identifier", core=REQ, origin=PROTOCOL),
        var("RDOMAIN", "Related Domain Abbreviation", core=REQ, origin=ASSIGNED, codelist="DOMAIN", values=(domain,)),
        var("USUBJID", "Unique Subject Identifier", core=REQ, origin=DERIVED, derivation="As in the parent domain"),
        var("IDVAR", "Identifying Variable", core=EXP, origin=ASSIGNED, values=(f"{domain}SEQ",)),
        var("IDVARVAL", "Identifying Variable Value", core=EXP, origin=DERIVED,
            derivation=f"{domain}SEQ of the parent record"),
        var("QNAM", "Qualifier Variable Name", core=REQ, origin=ASSIGNED, values=[*(q.qnam for q in defined), *qnams]),
        var("QLABEL", "Qualifier Variable Label", core=REQ, origin=ASSIGNED),
        var("QVAL", "Data Value", core=REQ, origin=COLLECTED),
        var("QORIG", "Origin", core=REQ, origin=ASSIGNED, values=[q.origin.value for q in defined]),
        var("QEVAL", "Evaluator", core=EXP, origin=ASSIGNED, codelist="EVAL", values=evaluators,
            comment="The evaluator of a subjective qualifier (the investigator's judgement); null for objective, "
            "collected or derived values, as SDTMIG 3.4 §8.4.1 says."),
    ]  # fmt: skip


def split_text(value: str, limit: int = MAX_TEXT) -> list[str]:
    """``value`` in pieces of at most ``limit`` characters, cut just before a blank where there is one.

    No piece ends in a blank (SAS drops trailing blanks); the blank opens the next piece, so joining the pieces
    gives the text back exactly. The transport writer cuts parent variables the same way.
    """
    pieces = []
    rest = value
    while len(rest) > limit:
        cut = next((i for i in range(limit, 0, -1) if rest[i] == " " and rest[i - 1] != " "), limit)
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def continuation_name(name: str, index: int) -> str:
    """QNAM for the ``index``-th continuation of a long ``name`` value: AETERM1, ..., within 8 characters."""
    suffix = str(index)
    return name[: 8 - len(suffix)] + suffix


def finish(
    name: str,
    label: str,
    dataset_class: str,
    structure: str,
    keys: tuple[str, ...],
    variables: list[Variable],
    rows: list[Record],
    natural_key: Callable[[Record], Sequence[Value]],
    study: SdtmStudy,
    supp: SuppCollector | None = None,
    value_level: list[ValueLevel] | None = None,
) -> list[Dataset]:
    """Number a general-class domain's records and return the domain (and its SUPP--, when it has records).

    Text longer than 200 characters stays whole here: the transport writer (``jk500db.export.xpt``) moves the rest
    to SUPP-- records as SDTMIG 3.4 §4.5.3.2 says, for the XPT and the CSV alike.
    """
    ordered = number_records(rows, name, natural_key, variables, supp)
    names = [variable.name for variable in variables]
    shaped = [{n: row.get(n) for n in names} for row in ordered]
    parent = Dataset(name, label, dataset_class, structure, keys, variables, shaped, value_level or [])
    # the SUPP-- items hold the unshaped rows, which carry the same --SEQ
    return [parent, supp.dataset(study.studyid)] if supp is not None and supp.has_records else [parent]


def common_values(study: SdtmStudy, subject: SubjectFacts, domain: str) -> Record:
    return {"STUDYID": study.studyid, "DOMAIN": domain, "USUBJID": subject.usubjid}
