"""ADaM (ADaMIG 1.3): ADSL, one row per subject, and ADAE, one row per adverse event (OCCDS 1.0 structure).

Both are built from the export snapshot (``context.rows``), so ``--as-of`` gives the analysis data as they stood
then. The lead writes them with the shared XPT/CSV writer; define.xml describes them from the metadata on each
:class:`~jk500db.export.datasets.Variable` (label, type, core, origin, and for a derived variable the derivation
in words with the rule id and version, ``jk500.adam.<rule> v1``).

Definitions this module had to choose (CLINICAL_RULES.md and the registry leave them to the protocol; each is
also written into the variable's derivation so define.xml states it):

- **Safety population (SAFFL)**: received at least one dose of any study treatment: cyclophosphamide,
  fludarabine, IL-2 or JK500. Lymphodepletion is protocol treatment (SDTM RFXSTDTC is the first
  cyclophosphamide dose), so its toxicities belong to the safety analysis even when no cells followed.
- **Infused population (INFFL)**: at least one JK500 infusion started (an incomplete infusion counts).
- **DLT-evaluable (DLTEVFL)**: infused, and either an investigator-confirmed DLT with onset in the DLT window,
  or observed up to the end of the window (the last date with data is on or after day ``dlt.window_days``).
  A child who left the study, or died of a cause not confirmed as a DLT, before the window ended is not
  DLT-evaluable. The window is the clinical rule's (``jk500db.clinical.schedule.dlt_window``).
- **Response-evaluable (RSPEVFL)**: infused, with at least one ELN 2022 response assessment on or after day 0
  and before any stem-cell transplant whose derived category is not NE.
- **Treatment-emergent (TRTEMFL)**: onset on or after the first dose of study treatment (TRTSDT: the first
  lymphodepletion dose, or the first IL-2 dose or infusion should lymphodepletion be missing). Onset is a date,
  so an event on the day of the first dose counts as emergent (the cautious reading). There is one grade per AE
  record, so "worsening after treatment" is not judged separately.
- **Grades** (AETOXGR, AETOXGRN) are SDTM AE's: the investigator's CTCAE v5.0 grade, except for CRS and ICANS
  episodes graded from their linked assessments (AECAT), whose grade is the ASTCT 2019 episode maximum the
  derivations stored; AEINVGRN keeps the investigator's own grade of every event.
- **Worst-grade flags** (ADaM OCCDS 1.0 AOCCxxFL): computed among treatment-emergent events only, on AETOXGRN;
  "first" orders by grade descending, onset, then AE number.

**Day conventions.** ADAE carries two day counts, each under a name that says which it is:

- ASTDY and AENDY are ADaM *relative days*, anchored on ADSL.TRTSDT (the first dose of study treatment, which ADAE
  also carries): the anchor date is day 1, the day before it day -1, and there is no day 0
  (``jk500db.clinical.schedule.sdtm_study_day``). ADaMIG, Timing Variable Conventions (section 3.1.2 in v1.2;
  https://wiki-test.cdisc.org/display/TATOBA/Timing+Variable+Conventions), rule 8: "Variables whose names end in DY
  are relative day variables. In the ADaM as in the SDTM, there is no day 0. If there is a need to create a
  relative day variable that includes day 0, then its name must not end in DY"; rule 9: the anchor need not be
  DM.RFSTDTC, but it must be named in the variable-level metadata and be in ADSL or the dataset itself.
  TRTSDT is the first lymphodepletion dose whenever lymphodepletion was given, which is also SDTM RFSTDTC, so for
  those subjects ASTDY equals SDTM AESTDY.
- ASTPDAY and AENPDAY are the sponsor's *protocol days* the clinical rules use: day 0 is the first JK500 infusion
  and the day before it is day -1, with no gap (``jk500db.clinical.schedule.protocol_day``; CLINICAL_RULES.md
  "Day 0 = first JK500 infusion"). They include day 0, so by rule 8 they are not named *DY. The tables' "onset,
  protocol day" and the DLT window are on this scale.

**Dates** (TRTSDT, ASTDT, ...) are carried as ISO 8601 text with data type ``date``: ADaMIG's *DT variables are
numeric SAS dates (ADaMIG 1.3 section 3.1.4), which the transport writer makes from that type, with the display
format DATE9.; the CSV keeps the ISO 8601 text and define.xml says both. Dates of a timestamp are its UTC date, as
the derivations use for protocol days. No *DT here needs imputing, so there is no *DTF flag: every source is a
complete date column (``adverse_event.onset_date`` is required, ``end_date``, ``enrolled_on``, ``ended_on``,
``death_date`` and ``transplant_date`` are full dates or missing, infusion and dose times are timestamps). The
partial dates of the database (the diagnosis, relapse and remission of MH, prior therapies in CM) are not analysed
here; an ADaM date built from one would have to be imputed with a *DTF flag (ADaMIG 1.3, date imputation flags) or left
missing, and the transport writer refuses a partial date in a date variable rather than guess.

**Traceability** (ADaM OCCDS 1.0, identifier variables): ADAE.AESEQ is SDTM AE.AESEQ, taken from the AE dataset
built from the same snapshot (matched on USUBJID and AESPID, the AE number, which is unique within a subject), not
numbered again here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from jk500db.clinical import astct, eln, schedule
from jk500db.clinical.settings import RuleSettings
from jk500db.derivations.adverse_events import DLT_RULE, EPISODE_RULE, SUSPECTED
from jk500db.derivations.provenance import rule_label
from jk500db.export.context import ExportContext, SubjectKeys
from jk500db.export.datasets import Core, Dataset, DataType, Origin, Value, ValueLevel, Variable
from jk500db.export.sdtm.common import SdtmStudy, plain
from jk500db.export.sdtm.events import AE_SEQUENCE, AeSequence, build_ae
from jk500db.export.sdtm.special_purpose import DISPOSITION_TERMS, WITHDRAWAL_TERMS
from jk500db.export.snapshot import Row
from jk500db.models.vocabularies import (
    AeAction,
    AeOutcome,
    Agent,
    DltDecision,
    Relatedness,
    ResponseCategory,
)

#: Version of the ADaM derivations below; stored in every derivation text as ``jk500.adam.<rule> v<version>``.
ADAM_RULE_VERSION = "1"
#: ASTDY and AENDY v1 were protocol days with a day 0; v2 are ADaM relative days from TRTSDT (no day 0).
RELATIVE_DAY_RULE_VERSION = "2"
#: ELN 2022 categories from best to worst (the order of the ELN 2022 response table).
ELN_ORDER: tuple[str, ...] = eln.CATEGORIES
NY = ("N", "Y")
ELN_RULE = rule_label(eln.RESPONSE_RULE_ID, eln.RULE_VERSION)
EPISODE = rule_label(EPISODE_RULE, astct.RULE_VERSION)
ASTCT_SOURCE = "ASTCT 2019 consensus (Lee et al., Biol Blood Marrow Transplant 2019;25:625)"
#: The abbreviation as a word ("ICANS", "(ICANS)"), not inside another word.
ICANS_WORD = re.compile(r"\bICANS\b", re.IGNORECASE)


def adam_rule(name: str, version: str = ADAM_RULE_VERSION) -> str:
    """``jk500.adam.<name> v1``: the rule label every ADaM derivation cites (a rule whose meaning changed since
    version 1 gives its own version)."""
    return rule_label(f"jk500.adam.{name}", version)


# ---------------------------------------------------------------------------------------------------------------
# Reading the snapshot once: every row an analysis needs, grouped by subject, removed records left out.
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class SubjectRecords:
    """One subject's live (not removed) rows of the tables the analyses read."""

    keys: SubjectKeys
    subject: Row
    age: int | None = None
    consents: list[Row] = field(default_factory=list)
    administrations: list[Row] = field(default_factory=list)
    infusions: list[Row] = field(default_factory=list)
    adverse_events: list[Row] = field(default_factory=list)
    responses: list[Row] = field(default_factory=list)
    transplants: list[Row] = field(default_factory=list)
    crs: list[Row] = field(default_factory=list)
    icans: list[Row] = field(default_factory=list)
    deviations: list[Row] = field(default_factory=list)
    criteria: list[Row] = field(default_factory=list)
    history: Row | None = None
    death: Row | None = None
    end_of_study: Row | None = None
    #: the latest date the subject was seen: visits, response assessments, survival contacts, death.
    last_observed: dt.date | None = None

    @property
    def usubjid(self) -> str:
        return self.keys.usubjid

    @property
    def given(self) -> list[Row]:
        """Lymphodepletion and IL-2 doses actually given."""
        return [a for a in self.administrations if not a["not_given"]]

    @property
    def day0(self) -> dt.date | None:
        """Date of the first JK500 infusion: protocol day 0 and the DLT window's anchor."""
        return min(_dates(i["started_at"] for i in self.infusions), default=None)

    @property
    def transplant_date(self) -> dt.date | None:
        return min((t["transplant_date"] for t in self.transplants), default=None)


@dataclass
class StudyData:
    """Everything ADSL, ADAE and the tables read, from one snapshot."""

    study: Row
    settings: RuleSettings
    #: the settings as ``key = value`` text, for derivation texts and the report header.
    settings_text: str
    regimen: dict[Agent, Row]
    terms: dict[int, Row]
    subjects: list[SubjectRecords]
    audit_position: int
    audit_head_hash: str | None
    as_of: dt.datetime | None

    @cached_property
    def _by_usubjid(self) -> dict[str, SubjectRecords]:
        return {s.usubjid: s for s in self.subjects}

    def subject(self, usubjid: str) -> SubjectRecords:
        return self._by_usubjid[usubjid]


#: StudyData list attribute -> table, for the one-to-many tables read per subject.
_SUBJECT_LISTS = {
    "consents": "consent",
    "administrations": "drug_administration",
    "infusions": "infusion",
    "adverse_events": "adverse_event",
    "responses": "response_assessment",
    "transplants": "transplant",
    "crs": "crs_assessment",
    "icans": "icans_assessment",
    "deviations": "protocol_deviation",
    "criteria": "eligibility_criterion",
}
_SUBJECT_SINGLES = {"history": "disease_history", "death": "death", "end_of_study": "end_of_study"}
#: table -> the columns whose dates say the subject was seen (for the last observation date). Laboratory samples
#: and vital signs are recorded at visits, so the visit dates stand for them without reading those large tables.
_OBSERVATION_DATES = {
    "visit": "visit_date",
    "response_assessment": "assessed_on",
    "survival_follow_up": "contact_date",
    "death": "death_date",
}
#: sort keys of each list, so the order never depends on primary keys.
_ORDER: dict[str, Callable[[Row], Any]] = {
    "consents": lambda r: (r["signed_on"], r["id"]),
    "administrations": lambda r: (str(r["agent"]), r["dose_number"]),
    "infusions": lambda r: r["infusion_number"],
    "adverse_events": lambda r: r["ae_number"],
    "responses": lambda r: (r["assessed_on"], r["id"]),
    "transplants": lambda r: r["transplant_date"],
    "crs": lambda r: (r["assessed_at"], r["id"]),
    "icans": lambda r: (r["assessed_at"], r["id"]),
    "deviations": lambda r: (r["occurred_on"], r["id"]),
    "criteria": lambda r: r["code"],
}


def utc_date(value: dt.date | dt.datetime | None) -> dt.date | None:
    """The (UTC) date of a date or timestamp."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    return value


def _dates(values: Iterable[dt.date | dt.datetime | None]) -> list[dt.date]:
    """The dates of ``values``, missing ones left out."""
    return [d for d in map(utc_date, values) if d is not None]


def _live(rows: Iterable[Row]) -> Iterator[Row]:
    """Rows not removed (a removed record was entered in error; its values stay in the audit trail)."""
    return (row for row in rows if row.get("removed_at") is None)


def collect(context: ExportContext) -> StudyData:
    """Read every table the analyses need once from the snapshot and group it by subject."""
    records = {row["id"]: SubjectRecords(context.subjects[row["id"]], row) for row in _live(context.rows("subject"))}
    for attribute, table in _SUBJECT_LISTS.items():
        for row in _live(context.rows(table)):
            if row["subject_id"] in records:
                getattr(records[row["subject_id"]], attribute).append(row)
    for attribute, table in _SUBJECT_SINGLES.items():
        for row in _live(context.rows(table)):
            if row["subject_id"] in records:
                setattr(records[row["subject_id"]], attribute, row)
    for subject in records.values():
        for attribute, key in _ORDER.items():
            getattr(subject, attribute).sort(key=key)
    _add_last_observed(context, records)
    _add_ages(context, records)
    study = _study_row(context, records.values())
    definition = _active_definition(context, study["id"])
    settings = _settings(context, definition)
    return StudyData(
        study=study,
        settings=settings,
        settings_text=", ".join(f"{k} = {_setting_text(v)}" for k, v in sorted(settings.as_mapping().items())),
        regimen=_regimen(context, definition),
        terms={row["id"]: row for row in context.rows("ctcae_term")},
        subjects=sorted(records.values(), key=lambda s: s.usubjid),
        audit_position=context.snapshot.audit_position,
        audit_head_hash=context.snapshot.audit_head_hash,
        as_of=context.snapshot.as_of,
    )


def _setting_text(value: object) -> str:
    """A setting as the study definition writes it: true/false, numbers and words bare."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _add_last_observed(context: ExportContext, records: dict[int, SubjectRecords]) -> None:
    for table, column in _OBSERVATION_DATES.items():
        for row in _live(context.rows(table)):
            subject = records.get(row["subject_id"])
            seen = utc_date(row[column])
            if subject is None or seen is None:
                continue
            if subject.last_observed is None or seen > subject.last_observed:
                subject.last_observed = seen


def _add_ages(context: ExportContext, records: dict[int, SubjectRecords]) -> None:
    """Completed years at the first guardian consent (ADSL AGE, as SDTM DM.AGE).

    The birth date is identifying and never leaves this function: it is read from the snapshot itself (the
    de-identified ``context.rows`` leaves it out on purpose) only to compute the age.
    """
    for row in context.snapshot.rows("subject"):
        subject = records.get(row["id"])
        if subject is None:
            continue
        consents = [c["signed_on"] for c in subject.consents if str(c["kind"]) == "guardian_consent"]
        consented = min(consents or [c["signed_on"] for c in subject.consents], default=None)
        if consented is not None and row["birth_date"] <= consented:
            subject.age = schedule.age_in_years(row["birth_date"], consented)


def _study_row(context: ExportContext, subjects: Iterable[SubjectRecords]) -> Row:
    """The study the subjects belong to (the one with most subjects when a database holds several)."""
    studies = {row["code"]: row for row in context.rows("study")}
    counts: dict[str, int] = defaultdict(int)
    for subject in subjects:
        counts[subject.keys.study_code] += 1
    if not studies:
        return {"id": None, "code": "", "title": "", "registry_id": None, "sponsor": "", "phase": ""}
    code = max(sorted(studies), key=lambda c: counts.get(c, 0))
    return studies[code]


def _active_definition(context: ExportContext, study_id: int | None) -> int | None:
    """Id of the study definition in force: the active one with the highest version."""
    active = [row for row in context.rows("study_definition_version") if row["study_id"] == study_id and row["active"]]
    return max(active, key=lambda row: row["version"])["id"] if active else None


def _settings(context: ExportContext, definition: int | None) -> RuleSettings:
    values = {
        row["key"]: json.loads(row["value_json"])
        for row in context.rows("rule_setting")
        if row["definition_id"] == definition
    }
    return RuleSettings.from_mapping(values)


def _regimen(context: ExportContext, definition: int | None) -> dict[Agent, Row]:
    return {Agent(str(row["agent"])): row for row in context.rows("regimen_item") if row["definition_id"] == definition}


# ---------------------------------------------------------------------------------------------------------------
# Subject-level derivations shared by ADSL, ADAE and the tables.
# ---------------------------------------------------------------------------------------------------------------


def dlt_window(subject: SubjectRecords, settings: RuleSettings) -> schedule.DltWindow | None:
    """The subject's DLT window (clinical rule), None before the first infusion or with another anchor."""
    if subject.day0 is None or settings.dlt_anchor != "first_infusion":
        return None
    return schedule.dlt_window(subject.day0, settings)


def is_confirmed_dlt(event: Row) -> bool:
    return event["dlt_decision"] == DltDecision.CONFIRMED


def in_dlt_window(event: Row, window: schedule.DltWindow | None) -> bool:
    return window is not None and window.start <= event["onset_date"] <= window.end


def dlt_evaluable(subject: SubjectRecords, settings: RuleSettings) -> bool:
    """Infused, and a confirmed DLT in the window or observed to the window's last day (module docstring)."""
    window = dlt_window(subject, settings)
    if window is None:
        return False
    if any(is_confirmed_dlt(e) and in_dlt_window(e, window) for e in subject.adverse_events):
        return True
    return subject.last_observed is not None and subject.last_observed >= window.end


def response_assessments(subject: SubjectRecords) -> list[Row]:
    """Assessments that count for best response: on or after day 0 and before any stem-cell transplant."""
    if subject.day0 is None:
        return []
    transplant = subject.transplant_date
    return [
        r
        for r in subject.responses
        if r["assessed_on"] >= subject.day0 and (transplant is None or r["assessed_on"] < transplant)
    ]


@dataclass(frozen=True)
class BestResponse:
    """A subject's best ELN 2022 response and the assessment that showed it."""

    category: str
    mrd_negative: bool
    assessed_on: dt.date
    protocol_day: int
    #: the investigator's category at that assessment (shown beside the derived one).
    investigator_category: str | None

    @property
    def label(self) -> str:
        return f"{self.category} MRD-negative" if self.mrd_negative else self.category


def best_response(subject: SubjectRecords) -> BestResponse | None:
    """Best derived ELN 2022 category in ELN's order (CR > CRh > CRi > MLFS > PR > NR > NE); MRD-negative
    first within a category, then the earliest; None without a classified assessment."""
    classified = [r for r in response_assessments(subject) if r["eln_category"] is not None]
    if not classified or subject.day0 is None:
        return None
    best = min(
        classified,
        key=lambda r: (ELN_ORDER.index(str(r["eln_category"])), not r["mrd_negative"], r["assessed_on"]),
    )
    return BestResponse(
        str(best["eln_category"]),
        bool(best["mrd_negative"]),
        best["assessed_on"],
        schedule.protocol_day(best["assessed_on"], subject.day0),
        None if best["investigator_category"] is None else str(best["investigator_category"]),
    )


def orr_responder(subject: SubjectRecords, settings: RuleSettings) -> bool:
    """Any counted assessment in ORR = CR + CRi + PR (+ CRh per ``orr.includes_crh``): the clinical rule's."""
    return any(
        r["eln_category"] is not None and eln.counts_for_orr(str(r["eln_category"]), settings)
        for r in response_assessments(subject)
    )


def response_evaluable(subject: SubjectRecords) -> bool:
    return any(
        r["eln_category"] is not None and r["eln_category"] != ResponseCategory.NE
        for r in response_assessments(subject)
    )


def is_crs(event: Row, term: Row, subject: SubjectRecords) -> bool:
    """The CTCAE term "Cytokine release syndrome", or an event with CRS assessments linked to it."""
    return term["term"] == astct.CRS_TERM or any(a["adverse_event_id"] == event["id"] for a in subject.crs)


def is_icans(event: Row, term: Row, subject: SubjectRecords) -> bool:
    """An event with ICANS assessments linked, or named ICANS (CTCAE v5.0 has no term: "Other, specify")."""
    if any(a["adverse_event_id"] == event["id"] for a in subject.icans):
        return True
    words = f"{term['term']} {event['verbatim'] or ''}"
    return astct.ICANS_TERM.lower() in words.lower() or ICANS_WORD.search(words) is not None


def protocol_day(on: dt.date | None, subject: SubjectRecords) -> int | None:
    """Day with day 0 = first JK500 infusion (no gap); None before any infusion or without a date."""
    if on is None or subject.day0 is None:
        return None
    return schedule.protocol_day(on, subject.day0)


def relative_day(on: dt.date | None, anchor: Value) -> int | None:
    """ADaM *DY: day 1 = ``anchor`` (an ISO 8601 ADaM date such as TRTSDT), no day 0; None without either date.

    The SDTM study-day arithmetic, because ADaMIG's rule 8 for *DY is "as in the SDTM" (module docstring).
    """
    if on is None or not isinstance(anchor, str):
        return None
    return schedule.sdtm_study_day(on, dt.date.fromisoformat(anchor))


def iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def yn(flag: bool) -> str:
    return "Y" if flag else "N"


def y_or_null(flag: bool) -> str | None:
    return "Y" if flag else None


# ---------------------------------------------------------------------------------------------------------------
# Variable metadata.
# ---------------------------------------------------------------------------------------------------------------


def _derived(
    name: str,
    label: str,
    data_type: DataType,
    how: str,
    rule: str,
    *,
    core: Core = Core.PERMISSIBLE,
    codelist: str | None = None,
    values: tuple[str, ...] = (),
) -> Variable:
    return Variable(
        name, label, data_type, core, Origin.DERIVED, f"{how} ({rule})", codelist=codelist, codelist_values=values
    )


def _from(
    name: str,
    label: str,
    data_type: DataType,
    source: str,
    *,
    core: Core = Core.PERMISSIBLE,
    codelist: str | None = None,
    values: tuple[str, ...] = (),
) -> Variable:
    """A variable copied from its SDTM predecessor (``source`` is "DM.AGE" and the like)."""
    return Variable(name, label, data_type, core, Origin.PREDECESSOR, source, codelist=codelist, codelist_values=values)


TEXT, INTEGER, FLOAT, DATE = DataType.TEXT, DataType.INTEGER, DataType.FLOAT, DataType.DATE
REQ = Core.REQUIRED
#: ADaMIG 1.3 "Cond" has no member in the shared Core (SDTM's Req/Exp/Perm): conditional variables are Perm.
COND = Core.PERMISSIBLE

_KEY_VARIABLES = [
    _from("STUDYID", "Study Identifier", TEXT, "DM.STUDYID", core=REQ),
    _from("USUBJID", "Unique Subject Identifier", TEXT, "DM.USUBJID", core=REQ),
    _from("SUBJID", "Subject Identifier for the Study", TEXT, "DM.SUBJID", core=REQ),
    _from("SITEID", "Study Site Identifier", TEXT, "DM.SITEID", core=REQ),
]


def adsl_variables(settings_text: str) -> list[Variable]:
    window = "DLT window = days 0 to dlt.window_days after the first JK500 infusion (clinical rule schedule.dlt_window)"
    return [
        *_KEY_VARIABLES,
        _from("AGE", "Age", INTEGER, "DM.AGE (completed years at the guardian's consent)", core=REQ),
        _from("AGEU", "Age Units", TEXT, "DM.AGEU", core=REQ, codelist="AGEU", values=("YEARS",)),
        _derived(
            "AGEGR1",
            "Pooled Age Group 1",
            TEXT,
            "'<12' when AGE < 12, else '>=12' (the ICANS instrument changes at the 12th birthday: CAPD/ICE)",
            adam_rule("agegr1"),
            values=("<12", ">=12"),
        ),
        _from("SEX", "Sex", TEXT, "DM.SEX", core=REQ, codelist="SEX", values=("F", "M", "U", "UNDIFFERENTIATED")),
        _derived(
            "TRT01P",
            "Planned Treatment for Period 01",
            TEXT,
            "'JK500' for an enrolled subject (single arm: lymphodepletion, IL-2 and JK500); 'NOT ASSIGNED' otherwise",
            adam_rule("trt01p"),
            core=REQ,
        ),
        _derived(
            "TRT01A",
            "Actual Treatment for Period 01",
            TEXT,
            "'JK500' when INFFL = 'Y'; 'NO JK500 INFUSION' when SAFFL = 'Y' without an infusion; null otherwise",
            adam_rule("trt01a"),
            core=COND,
        ),
        _derived(
            "ENRLFL",
            "Enrolled Population Flag",
            TEXT,
            "'Y' when the subject was enrolled (eligibility confirmed, enrolment date recorded), else 'N'",
            adam_rule("enrlfl"),
            core=COND,
            codelist="NY",
            values=NY,
        ),
        _derived(
            "SAFFL",
            "Safety Population Flag",
            TEXT,
            "'Y' when at least one dose of cyclophosphamide, fludarabine or IL-2 was given (not marked not given) "
            "or a JK500 infusion was started, else 'N'; lymphodepletion is protocol treatment",
            adam_rule("saffl"),
            core=COND,
            codelist="NY",
            values=NY,
        ),
        _derived(
            "INFFL",
            "Infused Population Flag",
            TEXT,
            "'Y' when at least one JK500 infusion was started (completed or not), else 'N'",
            adam_rule("inffl"),
            core=COND,
            codelist="NY",
            values=NY,
        ),
        _derived(
            "DLTEVFL",
            "DLT-Evaluable Population Flag",
            TEXT,
            f"'Y' when INFFL = 'Y' and either an investigator-confirmed DLT had onset in the DLT window or the "
            f"last date with data (LSTOBSDT) is on or after the window's last day (DLTWEDT), else 'N'; {window}; "
            f"settings {settings_text}",
            adam_rule("dltevfl"),
            core=COND,
            codelist="NY",
            values=NY,
        ),
        _derived(
            "RSPEVFL",
            "Response-Evaluable Population Flag",
            TEXT,
            "'Y' when INFFL = 'Y' and at least one response assessment on or after day 0 and before any stem-cell "
            f"transplant has a derived ELN 2022 category other than NE ({ELN_RULE}), else 'N'",
            adam_rule("rspevfl"),
            core=COND,
            codelist="NY",
            values=NY,
        ),
        _derived("ENRLDT", "Date of Enrollment", DATE, "subject.enrolled_on", adam_rule("enrldt")),
        _derived(
            "TRTSDT",
            "Date of First Exposure to Treatment",
            DATE,
            "Date (UTC) of the first dose of any study treatment given: the first lymphodepletion dose (protocol "
            "day -7, SDTM RFXSTDTC) whenever lymphodepletion was given, else the first IL-2 dose or JK500 "
            "infusion",
            adam_rule("trtsdt"),
            core=COND,
        ),
        _derived(
            "TRTEDT",
            "Date of Last Exposure to Treatment",
            DATE,
            "Date (UTC) of the last dose of any study treatment given: lymphodepletion, IL-2 or JK500 infusion",
            adam_rule("trtedt"),
            core=COND,
        ),
        _derived(
            "INFSDT",
            "Date of First JK500 Infusion",
            DATE,
            "Date (UTC) the first JK500 infusion started: protocol day 0",
            adam_rule("infsdt"),
        ),
        _derived(
            "INFEDT",
            "Date of Last JK500 Infusion",
            DATE,
            "Date (UTC) the last JK500 infusion started",
            adam_rule("infedt"),
        ),
        _derived(
            "INFNUM",
            "Number of JK500 Infusions Received",
            INTEGER,
            "Count of JK500 infusions started (removed records excluded)",
            adam_rule("infnum"),
        ),
        _derived(
            "INFPDKG",
            "Planned JK500 Dose/Infusion (cells/kg)",
            FLOAT,
            "Protocol dose of the study definition in force (regimen item JK500, cells/kg), for enrolled subjects",
            adam_rule("infpdkg"),
        ),
        _derived(
            "INF1DKG",
            "JK500 Dose at First Infusion (cells/kg)",
            FLOAT,
            "infusion.dose_cells_per_kg of infusion 1 = cells infused / weight (kg), as stored by the dose "
            "derivation; not rounded",
            adam_rule("inf1dkg"),
        ),
        _derived(
            "INFCUMKG",
            "Cumulative JK500 Dose (cells/kg)",
            FLOAT,
            "Sum of infusion.dose_cells_per_kg over the infusions received (exact decimal sum); null when a "
            "received infusion has no cell dose",
            adam_rule("infcumkg"),
        ),
        _derived("DLTWEDT", "Last Day of DLT Window", DATE, window, adam_rule("dltwedt")),
        _derived(
            "LSTOBSDT",
            "Date of Last Observation",
            DATE,
            "Latest date among visit dates (laboratory samples and vital signs are taken at visits), response "
            "assessments, survival contacts and death",
            adam_rule("lstobsdt"),
        ),
        _derived(
            "EOSSTT",
            "End of Study Status",
            TEXT,
            "'COMPLETED' or 'DISCONTINUED' from the end-of-study form (screen failure, withdrawal, death, loss to "
            "follow-up are discontinuations); 'ONGOING' without one",
            adam_rule("eosstt"),
            codelist="EOSSTT",
            values=("COMPLETED", "DISCONTINUED", "ONGOING"),
        ),
        _derived(
            "DCSREAS",
            "Reason for Discontinuation from Study",
            TEXT,
            "end_of_study.status in words (SCREEN FAILURE, WITHDRAWAL BY SUBJECT/PARENT/GUARDIAN, WITHDRAWAL BY "
            "INVESTIGATOR/SPONSOR, DEATH, LOST TO FOLLOW-UP); null unless discontinued",
            adam_rule("dcsreas"),
        ),
        _derived("EOSDT", "End of Study Date", DATE, "end_of_study.ended_on", adam_rule("eosdt")),
        _derived(
            "DTHFL",
            "Subject Death Flag",
            TEXT,
            "'Y' when a death form exists, else null",
            adam_rule("dthfl"),
            values=("Y",),
        ),
        _derived("DTHDT", "Date of Death", DATE, "death.death_date", adam_rule("dthdt")),
        _derived("DTHCAUS", "Cause of Death", TEXT, "death.cause in upper case words", adam_rule("dthcaus")),
        _derived(
            "HSCTDT",
            "Date of Stem-Cell Transplant after JK500",
            DATE,
            "Earliest transplant.transplant_date (censors response follow-up)",
            adam_rule("hsctdt"),
        ),
    ]


ADSL_KEYS = ("STUDYID", "USUBJID")


def build_adsl(data: StudyData) -> Dataset:
    rows = [_adsl_row(data, subject) for subject in data.subjects]
    return Dataset(
        name="ADSL",
        label="Subject-Level Analysis Dataset",
        dataset_class="SUBJECT LEVEL ANALYSIS DATASET",
        structure="One record per subject",
        keys=ADSL_KEYS,
        variables=adsl_variables(data.settings_text),
        rows=rows,
    )


def _treatment_dates(subject: SubjectRecords) -> list[dt.date]:
    return sorted(_dates([a["started_at"] for a in subject.given] + [i["started_at"] for i in subject.infusions]))


def _planned_cells_per_kg(jk500: Row | None) -> Decimal | None:
    return plain(jk500["dose_amount"]) if jk500 is not None and str(jk500["dose_basis"]) == "cells/kg" else None


def _cumulative_dose(subject: SubjectRecords) -> Decimal | None:
    doses = [i["dose_cells_per_kg"] for i in subject.infusions]
    if not doses or any(d is None for d in doses):
        return None
    return plain(sum(doses, Decimal(0)))


def end_of_study(subject: SubjectRecords) -> tuple[str, str | None]:
    """(EOSSTT, DCSREAS) from the end-of-study form; DCSREAS in the terms of SDTM DS.DSDECOD (the same tables)."""
    form = subject.end_of_study
    if form is None:
        return "ONGOING", None
    status = str(form["status"])
    if status == "completed":
        return "COMPLETED", None
    if status == "withdrawn":
        return "DISCONTINUED", WITHDRAWAL_TERMS.get(str(form["withdrawal_by"] or ""), "WITHDRAWAL")
    return "DISCONTINUED", DISPOSITION_TERMS.get(status, status.upper())


def _adsl_row(data: StudyData, subject: SubjectRecords) -> dict[str, Value]:
    keys = subject.keys
    infused = bool(subject.infusions)
    safety = infused or bool(subject.given)
    enrolled = subject.subject["enrolled_on"] is not None
    dates = _treatment_dates(subject)
    window = dlt_window(subject, data.settings)
    jk500 = data.regimen.get(Agent.JK500)
    status, reason = end_of_study(subject)
    first = subject.infusions[0] if subject.infusions else None
    return {
        "STUDYID": keys.study_code,
        "USUBJID": keys.usubjid,
        "SUBJID": keys.subject_number,
        "SITEID": keys.site_code,
        "AGE": subject.age,
        "AGEU": "YEARS",
        "AGEGR1": None if subject.age is None else ("<12" if subject.age < 12 else ">=12"),
        "SEX": str(subject.subject["sex"]),
        "TRT01P": "JK500" if enrolled else "NOT ASSIGNED",
        "TRT01A": "JK500" if infused else ("NO JK500 INFUSION" if safety else None),
        "ENRLFL": yn(enrolled),
        "SAFFL": yn(safety),
        "INFFL": yn(infused),
        "DLTEVFL": yn(dlt_evaluable(subject, data.settings)),
        "RSPEVFL": yn(infused and response_evaluable(subject)),
        "ENRLDT": iso(subject.subject["enrolled_on"]),
        "TRTSDT": iso(dates[0]) if dates else None,
        "TRTEDT": iso(dates[-1]) if dates else None,
        "INFSDT": iso(subject.day0),
        "INFEDT": iso(max(_dates(i["started_at"] for i in subject.infusions), default=None)),
        "INFNUM": len(subject.infusions),
        "INFPDKG": _planned_cells_per_kg(jk500) if enrolled else None,
        "INF1DKG": plain(first["dose_cells_per_kg"]) if first is not None else None,
        "INFCUMKG": _cumulative_dose(subject),
        "DLTWEDT": iso(window.end) if window else None,
        "LSTOBSDT": iso(subject.last_observed),
        "EOSSTT": status,
        "DCSREAS": reason,
        "EOSDT": iso(subject.end_of_study["ended_on"]) if subject.end_of_study else None,
        "DTHFL": "Y" if subject.death else None,
        "DTHDT": iso(subject.death["death_date"]) if subject.death else None,
        "DTHCAUS": str(subject.death["cause"]).replace("_", " ").upper() if subject.death else None,
        "HSCTDT": iso(subject.transplant_date),
    }


# ---------------------------------------------------------------------------------------------------------------
# ADAE
# ---------------------------------------------------------------------------------------------------------------

#: Causality as SDTM AEREL writes it (the sponsor's five-point scale in upper case).
RELATEDNESS = {
    Relatedness.NOT_RELATED: "NOT RELATED",
    Relatedness.UNLIKELY: "UNLIKELY",
    Relatedness.POSSIBLE: "POSSIBLE",
    Relatedness.PROBABLE: "PROBABLE",
    Relatedness.DEFINITE: "DEFINITE",
}
CRS, ICANS = "CRS", "ICANS"
OUTCOMES = {
    AeOutcome.RECOVERED: "RECOVERED/RESOLVED",
    AeOutcome.RECOVERING: "RECOVERING/RESOLVING",
    AeOutcome.NOT_RECOVERED: "NOT RECOVERED/NOT RESOLVED",
    AeOutcome.RECOVERED_WITH_SEQUELAE: "RECOVERED/RESOLVED WITH SEQUELAE",
    AeOutcome.FATAL: "FATAL",
    AeOutcome.UNKNOWN: "UNKNOWN",
}
ACTIONS = {
    AeAction.DOSE_NOT_CHANGED: "DOSE NOT CHANGED",
    AeAction.DRUG_INTERRUPTED: "DRUG INTERRUPTED",
    AeAction.DRUG_WITHDRAWN: "DRUG WITHDRAWN",
    AeAction.DOSE_REDUCED: "DOSE REDUCED",
    AeAction.NOT_APPLICABLE: "NOT APPLICABLE",
    AeAction.UNKNOWN: "UNKNOWN",
}
SERIOUSNESS = {
    "AESDTH": ("serious_death", "Results in Death"),
    "AESLIFE": ("serious_life_threatening", "Is Life Threatening"),
    "AESHOSP": ("serious_hospitalisation", "Requires or Prolongs Hospitalization"),
    "AESDISAB": ("serious_disability", "Persist or Signif Disability/Incapacity"),
    "AESCONG": ("serious_congenital_anomaly", "Congenital Anomaly or Birth Defect"),
    "AESMIE": ("serious_medically_important", "Other Medically Important Serious Event"),
}
#: (flag, label, grouping, worst grade first): ADaM OCCDS 1.0 first-occurrence flags.
OCCURRENCE_FLAGS = (
    ("AOCCFL", "1st Occurrence within Subject Flag", (), False),
    ("AOCCSFL", "1st Occurrence of SOC Flag", ("AEBODSYS",), False),
    ("AOCCPFL", "1st Occurrence of Preferred Term Flag", ("AEBODSYS", "AEDECOD"), False),
    ("AOCCIFL", "1st Max Sev./Int. Occurrence Flag", (), True),
    ("AOCCSIFL", "1st Max Sev./Int. Occur Within SOC Flag", ("AEBODSYS",), True),
    ("AOCCPIFL", "1st Max Sev./Int. Occur Within PT Flag", ("AEBODSYS", "AEDECOD"), True),
)
ADAE_KEYS = ("STUDYID", "USUBJID", "AESPID")
#: The two day conventions of ADAE in define.xml's words ({0} is the date, {1} the SDTM study day of the same
#: date); see the module docstring.
RELATIVE_DAY = (
    "{0} - TRTSDT + 1 when {0} is on or after TRTSDT, else {0} - TRTSDT, so TRTSDT is day 1, the day before it "
    "day -1 and there is no day 0 (ADaMIG timing variable conventions: no day 0 in a *DY variable); equals SDTM "
    "AE.{1} when TRTSDT is the date of DM.RFSTDTC (the first lymphodepletion dose); null when {0} or TRTSDT is null"
)
PROTOCOL_DAY = (
    "{0} - INFSDT in days, so day 0 is the first JK500 infusion (INFSDT) and the day before it day -1, with no "
    "gap (CLINICAL_RULES.md; the scale of the DLT window and the tables); named *DAY, not *DY, because it has a "
    "day 0; null when {0} is null or before any infusion"
)


def adae_variables(settings_text: str) -> list[Variable]:
    relatedness = tuple(RELATEDNESS.values())
    occurrence = [
        _derived(
            name,
            label,
            TEXT,
            f"'Y' on the first treatment-emergent event (TRTEMFL = 'Y') per subject"
            f"{' and ' + ' and '.join(grouping) if grouping else ''}, ordered by "
            f"{'AETOXGRN descending, then ' if worst else ''}ASTDT, then AESPID; null otherwise",
            adam_rule(name.lower()),
            core=COND,
            values=("Y",),
        )
        for name, label, grouping, worst in OCCURRENCE_FLAGS
    ]
    dlt = rule_label(DLT_RULE, "1")
    return [
        *_KEY_VARIABLES,
        _from("AGE", "Age", INTEGER, "ADSL.AGE"),
        _from("SEX", "Sex", TEXT, "ADSL.SEX", codelist="SEX", values=("F", "M", "U", "UNDIFFERENTIATED")),
        _from("TRTA", "Actual Treatment", TEXT, "ADSL.TRT01A", core=COND),
        _from("SAFFL", "Safety Population Flag", TEXT, "ADSL.SAFFL", core=COND, codelist="NY", values=NY),
        _from("INFFL", "Infused Population Flag", TEXT, "ADSL.INFFL", codelist="NY", values=NY),
        _from("DLTEVFL", "DLT-Evaluable Population Flag", TEXT, "ADSL.DLTEVFL", codelist="NY", values=NY),
        _from("TRTSDT", "Date of First Exposure to Treatment", DATE, "ADSL.TRTSDT", core=COND),
        _from("INFSDT", "Date of First JK500 Infusion", DATE, "ADSL.INFSDT"),
        _from(
            "AESEQ",
            "Sequence Number",
            INTEGER,
            "AE.AESEQ of the SDTM AE record with the same USUBJID and AESPID (ADaM OCCDS 1.0: row traceability)",
            core=REQ,
        ),
        _from("AESPID", "Sponsor-Defined Identifier", TEXT, "AE.AESPID (AE number within the subject)", core=REQ),
        _from("AETERM", "Reported Term for the Adverse Event", TEXT, "AE.AETERM", core=REQ),
        _from("AEDECOD", "Dictionary-Derived Term", TEXT, "AE.AEDECOD (CTCAE v5.0 term = MedDRA PT)", core=REQ),
        _from("AEPTCD", "Preferred Term Code", INTEGER, "AE.AEPTCD (MedDRA code as NCI publishes it)"),
        _from("AEBODSYS", "Body System or Organ Class", TEXT, "AE.AEBODSYS (MedDRA SOC)", core=COND),
        _derived(
            "ASTDT",
            "Analysis Start Date",
            DATE,
            "adverse_event.onset_date (full date; never imputed)",
            adam_rule("astdt"),
            core=COND,
        ),
        _derived(
            "AENDT",
            "Analysis End Date",
            DATE,
            "adverse_event.end_date; null while ongoing",
            adam_rule("aendt"),
            core=COND,
        ),
        _derived(
            "ASTDY",
            "Analysis Start Relative Day",
            INTEGER,
            "Relative day of ASTDT anchored on TRTSDT (first dose of study treatment): "
            + RELATIVE_DAY.format("ASTDT", "AESTDY"),
            adam_rule("astdy", RELATIVE_DAY_RULE_VERSION),
        ),
        _derived(
            "AENDY",
            "Analysis End Relative Day",
            INTEGER,
            "Relative day of AENDT anchored on TRTSDT, as ASTDY: " + RELATIVE_DAY.format("AENDT", "AEENDY"),
            adam_rule("aendy", RELATIVE_DAY_RULE_VERSION),
        ),
        _derived(
            "ASTPDAY",
            "Start Day (day 0 = first JK500 infusion)",
            INTEGER,
            f"Protocol day of ASTDT: {PROTOCOL_DAY.format('ASTDT')}",
            adam_rule("astpday"),
        ),
        _derived(
            "AENPDAY",
            "End Day (day 0 = first JK500 infusion)",
            INTEGER,
            f"Protocol day of AENDT: {PROTOCOL_DAY.format('AENDT')}",
            adam_rule("aenpday"),
        ),
        _derived(
            "ADURN",
            "Analysis Duration (N)",
            INTEGER,
            "AENDT - ASTDT + 1 in days; null while ongoing",
            adam_rule("adurn"),
        ),
        _derived(
            "ADURU",
            "Analysis Duration Units",
            TEXT,
            "'DAYS' when ADURN is present",
            adam_rule("aduru"),
            values=("DAYS",),
        ),
        _derived(
            "AEONGO",
            "Ongoing at Last Assessment",
            TEXT,
            "'Y' when the AE form says the event is still ongoing (adverse_event.ongoing), else 'N'",
            adam_rule("aeongo"),
            codelist="NY",
            values=NY,
        ),
        _from(
            "AECAT",
            "Category for Adverse Event",
            TEXT,
            "AE.AECAT: CRS or ICANS for an episode graded by ASTCT 2019 from its linked assessments",
            values=(CRS, ICANS),
        ),
        _from(
            "AETOXGR",
            "Standard Toxicity Grade",
            TEXT,
            "AE.AETOXGR: the investigator's CTCAE v5.0 grade; for CRS and ICANS episodes (AECAT) the ASTCT 2019 "
            f"grade derived from the episode's assessments ({EPISODE}); see the value-level metadata",
            core=REQ,
            values=("1", "2", "3", "4", "5"),
        ),
        _derived(
            "AETOXGRN", "Standard Toxicity Grade (N)", INTEGER, "AETOXGR as a number", adam_rule("aetoxgrn"), core=REQ
        ),
        _derived(
            "AEINVGRN",
            "Investigator-Assessed Toxicity Grade (N)",
            INTEGER,
            "adverse_event.grade, the investigator's grade of the event (SUPPAE.AEINVGR for CRS and ICANS "
            "episodes); equals AETOXGRN unless AECAT is CRS or ICANS",
            adam_rule("aeinvgrn"),
            core=REQ,
        ),
        _from("AESER", "Serious Event", TEXT, "AE.AESER", core=COND, codelist="NY", values=NY),
        *[
            _from(name, label, TEXT, f"AE.{name} (null when the event is not serious)", codelist="NY", values=NY)
            for name, (_, label) in SERIOUSNESS.items()
        ],
        _from("AEREL", "Causality", TEXT, "AE.AEREL (relationship to JK500)", codelist="REL", values=relatedness),
        _from("AERELIL2", "Causality to IL-2", TEXT, "SUPPAE.AERELIL2", codelist="REL", values=relatedness),
        _from("AERELLD", "Causality to Lymphodepletion", TEXT, "SUPPAE.AERELLD", codelist="REL", values=relatedness),
        _derived(
            "ARELJK",
            "Analysis Causality to JK500",
            TEXT,
            "'RELATED' when AEREL is POSSIBLE, PROBABLE or DEFINITE (ICH E2A 'reasonable possibility'), "
            "'NOT RELATED' when NOT RELATED or UNLIKELY, null when not assessed",
            adam_rule("areljk"),
            values=("RELATED", "NOT RELATED"),
        ),
        _from(
            "AEACN",
            "Action Taken with Study Treatment",
            TEXT,
            "AE.AEACN",
            codelist="ACN",
            values=tuple(ACTIONS.values()),
        ),
        _from("AEOUT", "Outcome of Adverse Event", TEXT, "AE.AEOUT", codelist="OUT", values=tuple(OUTCOMES.values())),
        _derived(
            "TRTEMFL",
            "Treatment Emergent Analysis Flag",
            TEXT,
            "'Y' when ASTDT is on or after TRTSDT (first dose of study treatment; an onset on that day counts), "
            "null otherwise or when the subject received no study treatment",
            adam_rule("trtemfl"),
            core=COND,
            values=("Y",),
        ),
        *occurrence,
        _derived(
            "DLTWFL",
            "Onset in DLT Window Flag",
            TEXT,
            "'Y' when ASTDT is within days 0 to dlt.window_days after the first JK500 infusion (clinical rule "
            f"schedule.dlt_window; settings {settings_text}), null otherwise",
            adam_rule("dltwfl"),
            values=("Y",),
        ),
        _derived(
            "DLTCFL",
            "DLT Candidate Flag",
            TEXT,
            f"'Y' when the stored derivation adverse_event.dlt_candidate is true ({dlt}: in the window, grade at "
            "or above dlt.min_grade, not attributed elsewhere), null otherwise",
            adam_rule("dltcfl"),
            values=("Y",),
        ),
        _derived(
            "DLTFL",
            "Dose-Limiting Toxicity Flag",
            TEXT,
            "'Y' when the investigator confirmed the event as a DLT (adverse_event.dlt_decision = confirmed), "
            "null otherwise",
            adam_rule("dltfl"),
            values=("Y",),
        ),
        _derived(
            "DLTDEC",
            "Investigator DLT Decision",
            TEXT,
            "adverse_event.dlt_decision: 'CONFIRMED' or 'NOT A DLT'; null when not decided",
            adam_rule("dltdec"),
            values=("CONFIRMED", "NOT A DLT"),
        ),
        _derived(
            "CRSFL",
            "Cytokine Release Syndrome Flag",
            TEXT,
            f"'Y' when AEDECOD is '{astct.CRS_TERM}' or CRS assessments are linked to the event, null otherwise",
            adam_rule("crsfl"),
            values=("Y",),
        ),
        _derived(
            "ICANSFL",
            "ICANS Flag",
            TEXT,
            "'Y' when ICANS assessments are linked to the event or its term or verbatim names ICANS (CTCAE v5.0 "
            "has no ICANS term: 'Nervous system disorders - Other, specify'), null otherwise",
            adam_rule("icansfl"),
            values=("Y",),
        ),
    ]


def build_adae(data: StudyData, adsl: Dataset, sequence: AeSequence) -> Dataset:
    """ADAE; ``sequence`` gives each event its SDTM AESEQ (:func:`sdtm_ae_sequence`).

    Required, since AESEQ is (OCCDS 1.0): the exported ADAE (:func:`build_adam`) and the ADAE the analysis tables
    compute from (``jk500db.export.tables.analysis``) are the same rows, each traceable to its SDTM AE record.
    """
    by_subject = {row["USUBJID"]: row for row in adsl.rows}
    rows: list[dict[str, Value]] = []
    for subject in data.subjects:
        subject_rows = [
            _adae_row(data, subject, by_subject[subject.usubjid], event, sequence) for event in subject.adverse_events
        ]
        _flag_occurrences(subject_rows)
        rows.extend(subject_rows)
    return Dataset(
        name="ADAE",
        label="Adverse Events Analysis Dataset",
        dataset_class="OCCURRENCE DATA STRUCTURE",
        structure="One record per adverse event per subject",
        keys=ADAE_KEYS,
        variables=adae_variables(data.settings_text),
        rows=rows,
        # copied from SDTM AE.AETOXGR (Predecessor) whatever the scale; SDTM's define.xml gives each its origin
        value_level=[
            ValueLevel("AETOXGR", f"AECAT EQ '{CRS}'", f"{ASTCT_SOURCE} CRS grade: the episode's highest ({EPISODE})"),
            ValueLevel(
                "AETOXGR", f"AECAT EQ '{ICANS}'", f"{ASTCT_SOURCE} ICANS grade: the episode's highest ({EPISODE})"
            ),
            ValueLevel("AETOXGR", "AECAT IS NULL", "NCI CTCAE v5.0 grade as the investigator assessed it"),
        ],
    )


def astct_category(event: Row, subject: SubjectRecords) -> str | None:
    """CRS or ICANS when the event's grade is the ASTCT episode maximum of its linked assessments (as SDTM AECAT).

    A derived grade of 0 (the assessments found no CRS or ICANS) leaves the investigator's grade standing; CRS
    wins when both kinds of assessment are linked.
    """
    rule = event["derived_grade_rule"]
    if not event["derived_grade"] or rule is None or not str(rule).startswith("astct"):
        return None
    if any(a["adverse_event_id"] == event["id"] for a in subject.crs):
        return CRS
    if any(a["adverse_event_id"] == event["id"] for a in subject.icans):
        return ICANS
    return None


def _relatedness(value: Any) -> str | None:
    return None if value is None else RELATEDNESS[Relatedness(str(value))]


def _adae_row(
    data: StudyData, subject: SubjectRecords, adsl: dict[str, Value], event: Row, sequence: AeSequence
) -> dict[str, Value]:
    term = data.terms[event["ctcae_term_id"]]
    window = dlt_window(subject, data.settings)
    onset, end = event["onset_date"], event["end_date"]
    start = adsl["TRTSDT"]
    emergent = isinstance(start, str) and onset >= dt.date.fromisoformat(start)
    related = event["related_jk500"]
    decision = event["dlt_decision"]
    category = astct_category(event, subject)
    grade = event["derived_grade"] if category is not None else event["grade"]
    row: dict[str, Value] = {name: adsl[name] for name in ("STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "SEX")}
    row.update(
        TRTA=adsl["TRT01A"],
        SAFFL=adsl["SAFFL"],
        INFFL=adsl["INFFL"],
        DLTEVFL=adsl["DLTEVFL"],
        TRTSDT=adsl["TRTSDT"],
        INFSDT=adsl["INFSDT"],
        AESEQ=sequence.aeseq(subject.usubjid, str(event["ae_number"])),
        AESPID=str(event["ae_number"]),
        AETERM=event["verbatim"] or term["term"],
        AEDECOD=term["term"],
        AEPTCD=None if term["other_specify"] else int(str(term["meddra_code"])),
        AEBODSYS=term["soc"],
        ASTDT=iso(onset),
        AENDT=iso(end),
        ASTDY=relative_day(onset, start),
        AENDY=relative_day(end, start),
        ASTPDAY=protocol_day(onset, subject),
        AENPDAY=protocol_day(end, subject),
        ADURN=(end - onset).days + 1 if end is not None else None,
        ADURU="DAYS" if end is not None else None,
        AEONGO=yn(event["ongoing"]),
        AECAT=category,
        AETOXGR=str(grade),
        AETOXGRN=grade,
        AEINVGRN=event["grade"],
        AESER=yn(event["serious"]),
    )
    row.update({name: yn(event[column]) if event["serious"] else None for name, (column, _) in SERIOUSNESS.items()})
    row.update(
        AEREL=_relatedness(related),
        AERELIL2=_relatedness(event["related_il2"]),
        AERELLD=_relatedness(event["related_lymphodepletion"]),
        ARELJK=None if related is None else ("RELATED" if related in SUSPECTED else "NOT RELATED"),
        AEACN=None if event["action_taken"] is None else ACTIONS[AeAction(str(event["action_taken"]))],
        AEOUT=None if event["outcome"] is None else OUTCOMES[AeOutcome(str(event["outcome"]))],
        TRTEMFL=y_or_null(emergent),
    )
    row.update({name: None for name, *_ in OCCURRENCE_FLAGS})
    row.update(
        DLTWFL=y_or_null(in_dlt_window(event, window)),
        DLTCFL=y_or_null(bool(event["dlt_candidate"])),
        DLTFL=y_or_null(is_confirmed_dlt(event)),
        DLTDEC=None if decision is None else str(decision).replace("_", " ").upper(),
        CRSFL=y_or_null(is_crs(event, term, subject)),
        ICANSFL=y_or_null(is_icans(event, term, subject)),
    )
    return row


def _flag_occurrences(rows: list[dict[str, Value]]) -> None:
    """ADaM OCCDS first-occurrence flags among one subject's treatment-emergent events."""
    emergent = [row for row in rows if row["TRTEMFL"] == "Y"]
    for name, _, grouping, worst in OCCURRENCE_FLAGS:
        seen: set[tuple[Value, ...]] = set()

        def order(row: dict[str, Value], worst: bool = worst) -> tuple[Any, ...]:
            grade = row["AETOXGRN"]
            assert isinstance(grade, int)
            return (-grade if worst else 0, row["ASTDT"], int(str(row["AESPID"])))

        for row in sorted(emergent, key=order):
            group = tuple(row[g] for g in grouping)
            if group not in seen:
                seen.add(group)
                row[name] = "Y"


def sdtm_ae_sequence(context: ExportContext, data: StudyData) -> AeSequence:
    """AESEQ of every SDTM AE record, from the AE dataset built as the SDTM export builds it.

    Taken rather than numbered again so that ADAE can never disagree with AE (ADaM OCCDS 1.0: "copied from SDTM
    AE.AESEQ"). An export that wrote SDTM first left the numbering in ``context.shared``; otherwise AE is built
    here, once per export. Without adverse events there is nothing to take, and the SDTM study (which wants one
    study in the database) is not read.
    """
    if not any(subject.adverse_events for subject in data.subjects):
        return AeSequence({})
    if AE_SEQUENCE not in context.shared:
        build_ae(SdtmStudy(context))
    sequence = context.shared[AE_SEQUENCE]
    assert isinstance(sequence, AeSequence)
    return sequence


def build_adam(context: ExportContext) -> list[Dataset]:
    """ADSL and ADAE from the export's snapshot (the lead writes them with the shared XPT/CSV writer)."""
    data = collect(context)
    adsl = build_adsl(data)
    return [adsl, build_adae(data, adsl, sdtm_ae_sequence(context, data))]
