"""Trial design datasets (SDTMIG 3.4 §7): TA Trial Arms, TE Trial Elements, TV Trial Visits, TI Trial
Inclusion/Exclusion Criteria and TS Trial Summary, read from the study definition in force."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from jk500db.clinical.eligibility import CRITERIA_TEXT, EXCLUSION_CODES, INCLUSION_CODES, MAX_AGE_YEARS
from jk500db.export.datasets import Dataset, Value, Variable
from jk500db.export.sdtm.common import (
    ARM,
    ARMCD,
    ASSIGNED,
    DERIVED,
    ELEMENTS,
    EPOCHS,
    EXP,
    INTEGER,
    MAX_TEXT,
    PERM,
    PROTOCOL,
    REQ,
    SDTM_VERSION,
    SDTMIG_VERSION,
    TEXT,
    Record,
    SdtmStudy,
    iso_date,
    rule,
    split_text,
    var,
)

STUDY = var("STUDYID", "Study Identifier", core=REQ, origin=PROTOCOL)


def _domain(name: str) -> Variable:
    return var("DOMAIN", "Domain Abbreviation", core=REQ, origin=ASSIGNED, codelist="DOMAIN", values=(name,))


def _shape(variables: list[Variable], rows: Sequence[Mapping[str, Value]]) -> list[Record]:
    names = [variable.name for variable in variables]
    return [{name: row.get(name) for name in names} for row in rows]


# ------------------------------------------------------------------------------------------------ TA

TA_VARIABLES = [
    STUDY, _domain("TA"),
    var("ARMCD", "Planned Arm Code", TEXT, REQ, PROTOCOL, values=(ARMCD,)),
    var("ARM", "Description of Planned Arm", TEXT, REQ, PROTOCOL, values=(ARM,)),
    var("TAETORD", "Planned Order of Element within Arm", INTEGER, REQ, PROTOCOL),
    var("ETCD", "Element Code", TEXT, REQ, PROTOCOL, values=[e.etcd for e in ELEMENTS]),
    var("ELEMENT", "Description of Element", TEXT, PERM, PROTOCOL),
    var("TABRANCH", "Branch", TEXT, EXP, PROTOCOL,
        comment="Not applicable: a single-arm trial without branches, so TABRANCH is null for every element."),
    var("TATRANS", "Transition Rule", TEXT, EXP, PROTOCOL,
        comment="Not applicable: the elements follow one another in one fixed order with no choice between "
        "them (a subject who leaves the study ends the current element), so TATRANS is null for every element."),
    var("EPOCH", "Epoch", TEXT, REQ, PROTOCOL, codelist="EPOCH", values=EPOCHS),
]  # fmt: skip


def build_ta(study: SdtmStudy) -> Dataset:
    """TA: the one arm, lymphodepletion then IL-2 and JK500, as four elements (SDTMIG 3.4 §7.2.1)."""
    rows = [
        {"STUDYID": study.studyid, "DOMAIN": "TA", "ARMCD": ARMCD, "ARM": ARM, "TAETORD": element.taetord,
         "ETCD": element.etcd, "ELEMENT": element.element, "TABRANCH": None, "TATRANS": None, "EPOCH": element.epoch}
        for element in ELEMENTS
    ]  # fmt: skip
    return Dataset(
        "TA", "Trial Arms", "TRIAL DESIGN", "One record per planned Element per Arm",
        ("STUDYID", "ARMCD", "TAETORD"), TA_VARIABLES, _shape(TA_VARIABLES, rows),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ TE

TE_VARIABLES = [
    STUDY, _domain("TE"),
    var("ETCD", "Element Code", TEXT, REQ, PROTOCOL, values=[e.etcd for e in ELEMENTS]),
    var("ELEMENT", "Description of Element", TEXT, REQ, PROTOCOL),
    var("TESTRL", "Rule for Start of Element", TEXT, REQ, PROTOCOL),
    var("TEENRL", "Rule for End of Element", TEXT, PERM, PROTOCOL),
    var("TEDUR", "Planned Duration of Element", TEXT, PERM, PROTOCOL),
]  # fmt: skip


def build_te(study: SdtmStudy) -> Dataset:
    """TE: the elements and the rules that start and end them (SDTMIG 3.4 §7.2.2)."""
    rows = [
        {"STUDYID": study.studyid, "DOMAIN": "TE", "ETCD": e.etcd, "ELEMENT": e.element, "TESTRL": e.start_rule,
         "TEENRL": e.end_rule, "TEDUR": e.duration}
        for e in ELEMENTS
    ]  # fmt: skip
    return Dataset(
        "TE", "Trial Elements", "TRIAL DESIGN", "One record per planned Element", ("STUDYID", "ETCD"),
        TE_VARIABLES, _shape(TE_VARIABLES, rows),
    )


# ------------------------------------------------------------------------------------------------ TV

TV_VARIABLES = [
    STUDY, _domain("TV"),
    var("VISITNUM", "Visit Number", INTEGER, REQ, PROTOCOL),
    var("VISIT", "Visit Name", TEXT, PERM, PROTOCOL),
    var("VISITDY", "Planned Study Day of Visit", INTEGER, PERM, DERIVED,
        derivation="The visit's nominal day as an SDTM study day: days from the first lymphodepletion dose "
        "(RFSTDTC, protocol day -7) + 1 on or after it, days before it unchanged (SDTMIG 3.4 §4.4.4). "
        f"Rule {rule('visitdy')}"),
    var("ARMCD", "Planned Arm Code", TEXT, EXP, PROTOCOL,
        comment="Null for every visit: the one visit schedule applies to every arm, which SDTMIG 3.4 §7.3.1 "
        "writes as a null ARMCD."),
    var("TVSTRL", "Visit Start Rule", TEXT, REQ, PROTOCOL),
]  # fmt: skip


def build_tv(study: SdtmStudy) -> Dataset:
    """TV: the visit schedule in force, with each visit's nominal day and window (SDTMIG 3.4 §7.3.1)."""
    rows = []
    for visit in study.planned_visits:
        anchor = "the first lymphodepletion dose" if str(visit["anchor"]) == "lymphodepletion_start" else (
            "the first JK500 infusion"
        )
        nominal = visit["nominal_day"]
        start = f"{visit['label']}: day {nominal} from {anchor}" if nominal is not None else str(visit["label"])
        window = f", window {visit['window_before']} days before to {visit['window_after']} days after"
        rows.append({
            "STUDYID": study.studyid, "DOMAIN": "TV", "VISITNUM": visit["order"], "VISIT": visit["label"],
            "VISITDY": study.planned_study_day(visit), "ARMCD": None, "TVSTRL": start + window,
        })  # fmt: skip
    return Dataset(
        "TV", "Trial Visits", "TRIAL DESIGN", "One record per planned Visit per Arm", ("STUDYID", "VISITNUM"),
        TV_VARIABLES, _shape(TV_VARIABLES, rows),
    )


# ------------------------------------------------------------------------------------------------ TI

CATEGORIES = {"IN": "INCLUSION", "EX": "EXCLUSION"}

TI_VARIABLES = [
    STUDY, _domain("TI"),
    var("IETESTCD", "Inclusion/Exclusion Criterion Short Name", TEXT, REQ, PROTOCOL,
        values=(*INCLUSION_CODES, *EXCLUSION_CODES)),
    var("IETEST", "Inclusion/Exclusion Criterion", TEXT, REQ, PROTOCOL),
    var("IECAT", "Inclusion/Exclusion Category", TEXT, REQ, PROTOCOL, codelist="IECAT",
        values=tuple(CATEGORIES.values())),
    var("TIVERS", "Protocol Criteria Versions", TEXT, PERM, PROTOCOL),
]  # fmt: skip


def criterion_category(code: str) -> str:
    return CATEGORIES[code[:2]]


def build_ti(study: SdtmStudy) -> Dataset:
    """TI: the protocol's criteria IN1-IN4 and EX1-EX8 (SDTMIG 3.4 §7.4.1), worded as the protocol words them."""
    rows = [
        {"STUDYID": study.studyid, "DOMAIN": "TI", "IETESTCD": code, "IETEST": CRITERIA_TEXT[code],
         "IECAT": criterion_category(code), "TIVERS": study.protocol_version}
        for code in (*INCLUSION_CODES, *EXCLUSION_CODES)
    ]  # fmt: skip
    return Dataset(
        "TI", "Trial Inclusion/Exclusion Criteria", "TRIAL DESIGN", "One record per I/E criterion",
        ("STUDYID", "IETESTCD"), TI_VARIABLES, _shape(TI_VARIABLES, rows),
    )


# ------------------------------------------------------------------------------------------------ TS

#: Registry phase (ClinicalTrials.gov) -> CDISC TPHASE term; "Early Phase 1" is ClinicalTrials.gov's former "Phase 0".
PHASES = {
    "early phase 1": "PHASE 0 TRIAL",
    "phase 0": "PHASE 0 TRIAL",
    "phase 1": "PHASE I TRIAL",
    "phase 1/phase 2": "PHASE I/II TRIAL",
    "phase 2": "PHASE II TRIAL",
    "phase 3": "PHASE III TRIAL",
}
ROUTES = {"iv": "INTRAVENOUS", "sc": "SUBCUTANEOUS", "po": "ORAL", "im": "INTRAMUSCULAR"}

TS_VARIABLES = [
    STUDY, _domain("TS"),
    var("TSSEQ", "Sequence Number", INTEGER, REQ, DERIVED,
        derivation="1, 2, ... within TSPARMCD, in the order the values are listed"),
    var("TSPARMCD", "Trial Summary Parameter Short Name", TEXT, REQ, ASSIGNED, codelist="TSPARMCD"),
    var("TSPARM", "Trial Summary Parameter", TEXT, REQ, ASSIGNED, codelist="TSPARM"),
    var("TSVAL", "Parameter Value", TEXT, EXP, PROTOCOL),
    var("TSVALNF", "Parameter Value Null Flavor", TEXT, PERM, ASSIGNED, codelist="ISO 21090 NullFlavor",
        values=("NI",)),
    var("TSVALCD", "Parameter Value Code", TEXT, EXP, ASSIGNED),
    var("TSVCDREF", "Name of the Reference Terminology", TEXT, EXP, ASSIGNED, codelist="DICTNAM"),
    var("TSVCDVER", "Version of the Reference Terminology", TEXT, EXP, ASSIGNED,
        comment="Null: the references named in TSVCDREF (the ClinicalTrials.gov registry, ISO 8601, ISO 3166-1 "
        "alpha-3) are cited without a version."),
]  # fmt: skip


def _ts_parameters(study: SdtmStudy) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """(TSPARMCD, TSPARM, TSVAL, TSVALCD, TSVCDREF) from the study, its definition and its data."""
    s = study.study
    phase = str(s["phase"])
    subjects = list(study.subjects.values())
    consents = [subject.consent_date for subject in subjects if subject.consent_date is not None]
    countries = sorted({str(site["country"]) for site in study.sites.values() if site["study_id"] == s["id"]})
    jk500 = study.regimen.get("jk500")
    params: list[tuple[str, str, str | None, str | None, str | None]] = [
        ("TITLE", "Trial Title", str(s["title"]), None, None),
        ("REGID", "Registry Identifier", s["registry_id"], s["registry_id"], "ClinicalTrials.gov"),
        ("SPONSOR", "Clinical Study Sponsor", str(s["sponsor"]), None, None),
        ("TPHASE", "Trial Phase Classification", PHASES.get(phase.lower(), phase.upper()), None, None),
        ("STYPE", "Study Type", "INTERVENTIONAL", None, None),
        ("INTMODEL", "Intervention Model", "SINGLE GROUP", None, None),
        ("INTTYPE", "Intervention Type", "BIOLOGIC", None, None),
        ("TTYPE", "Trial Type", "SAFETY", None, None),
        ("TTYPE", "Trial Type", "EFFICACY", None, None),
        ("TBLIND", "Trial Blinding Schema", "OPEN LABEL", None, None),
        ("RANDOM", "Trial is Randomized", "N", None, None),
        ("TCNTRL", "Control Type", "NONE", None, None),
        ("NARMS", "Planned Number of Arms", "1", None, None),
        ("HLTSUBJI", "Healthy Subject Indicator", "N", None, None),
        ("INDIC", "Trial Disease/Condition Indication", "Relapsed/refractory acute myeloid leukemia in children",
         None, None),
        ("TRT", "Investigational Therapy or Treatment", "JK500 CELL INJECTION", None, None),
        ("PLANSUB", "Planned Number of Subjects", str(s["planned_enrolment"]), None, None),
        ("ACTSUB", "Actual Number of Subjects", str(sum(1 for subject in subjects if subject.assigned)), None, None),
        ("AGEMAX", "Planned Maximum Age of Subjects", f"P{MAX_AGE_YEARS}Y", None, "ISO 8601"),
        ("SEXPOP", "Sex of Participants", "BOTH", None, None),
        ("SSTDTC", "Study Start Date", iso_date(min(consents, default=None)), None, "ISO 8601"),
        ("SDTIGVER", "SDTM IG Version", SDTMIG_VERSION, None, None),
        ("SDTMVER", "SDTM Version", SDTM_VERSION, None, None),
    ]  # fmt: skip
    params += [("FCNTRY", "Planned Country of Investigational Sites", c, c, "ISO 3166-1 alpha-3") for c in countries]
    if jk500 is not None:
        params += [
            ("DOSE", "Dose per Administration", format(jk500["dose_amount"], "f"), None, None),
            ("DOSU", "Dose Units", str(jk500["dose_basis"]), None, None),
            ("ROUTE", "Route of Administration", ROUTES.get(str(jk500["route"]), ct_upper(jk500["route"])), None,
             None),
        ]  # fmt: skip
    if study.context.snapshot.as_of is not None:
        params.append(("DCUTDTC", "Data Cutoff Date", iso_date(study.context.snapshot.as_of.date()), None, "ISO 8601"))
    return params


def ct_upper(value: object) -> str:
    return str(value).upper()


def build_ts(study: SdtmStudy) -> Dataset:
    """TS: one record per trial summary parameter value (SDTMIG 3.4 §7.4.2). A value longer than 200 characters
    continues in TSVAL1, TSVAL2, ... (§7.4.2 assumption on long values)."""
    counters: dict[str, int] = defaultdict(int)
    rows: list[Record] = []
    longest = 1
    for code, name, value, value_code, reference in _ts_parameters(study):
        counters[code] += 1
        pieces = split_text(value) if value else []
        longest = max(longest, len(pieces))
        row: Record = {
            "STUDYID": study.studyid, "DOMAIN": "TS", "TSSEQ": counters[code], "TSPARMCD": code, "TSPARM": name,
            "TSVAL": pieces[0] if pieces else None, "TSVALNF": None if value else "NI",
            "TSVALCD": value_code, "TSVCDREF": reference, "TSVCDVER": None,
        }  # fmt: skip
        for index, piece in enumerate(pieces[1:], start=1):
            row[f"TSVAL{index}"] = piece
        rows.append(row)
    variables = list(TS_VARIABLES)
    position = [v.name for v in variables].index("TSVAL") + 1
    for index in range(1, longest):
        variables.insert(position + index - 1, var(f"TSVAL{index}", f"Parameter Value {index}", TEXT, PERM, PROTOCOL,
                                                   length=MAX_TEXT))  # fmt: skip
    return Dataset(
        "TS", "Trial Summary", "TRIAL DESIGN", "One record per trial summary parameter value",
        ("STUDYID", "TSPARMCD", "TSSEQ"), variables, _shape(variables, rows),
    )  # fmt: skip


def build_trial_design(study: SdtmStudy) -> list[Dataset]:
    return [build_ta(study), build_te(study), build_ti(study), build_ts(study), build_tv(study)]
