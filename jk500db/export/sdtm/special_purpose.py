"""Special-purpose domains (SDTMIG 3.4 §5): DM Demographics, SE Subject Elements, SV Subject Visits; and DS
Disposition (§6.2.4), the consent milestones and how each subject left the study."""

from __future__ import annotations

import datetime as dt

from jk500db.export.datasets import Dataset, ValueLevel, Variable
from jk500db.export.sdtm.common import (
    ARM,
    ARMCD,
    ASSIGNED,
    COLLECTED,
    DERIVED,
    DTC,
    EXP,
    INTEGER,
    NY,
    PERM,
    PROTOCOL,
    REQ,
    TEXT,
    Record,
    SdtmStudy,
    SubjectFacts,
    common_values,
    dy_variable,
    epoch_variable,
    finish,
    identifiers,
    iso,
    iso_date,
    rule,
    var,
    visit_variables,
)
from jk500db.export.snapshot import Row

# ------------------------------------------------------------------------------------------------ DM

ARMNRS_SCREEN_FAILURE = "SCREEN FAILURE"
ARMNRS_NOT_ASSIGNED = "NOT ASSIGNED"
ARMNRS_NOT_TREATED = "ASSIGNED, NOT TREATED"


def dm_variables(identified: bool) -> list[Variable]:
    """DM (SDTMIG 3.4 §5.2). BRTHDTC only in identified exports; AGE at informed consent in every export."""
    variables = [
        var("STUDYID", "Study Identifier", core=REQ, origin=PROTOCOL),
        var("DOMAIN", "Domain Abbreviation", core=REQ, origin=ASSIGNED, codelist="DOMAIN", values=("DM",)),
        var("USUBJID", "Unique Subject Identifier", core=REQ, origin=DERIVED,
            derivation=f"STUDYID-SITEID-SUBJID, built once for every dataset. Rule {rule('usubjid')}"),
        var("SUBJID", "Subject Identifier for the Study", core=REQ),
        var("RFSTDTC", "Subject Reference Start Date/Time", DTC, EXP, DERIVED,
            derivation="Start of the first lymphodepletion dose given (cyclophosphamide, protocol day -7; the first "
            "fludarabine dose if cyclophosphamide was not given): the reference of every --DY. Equal to RFXSTDTC. "
            f"Null for subjects never treated. Rule {rule('rfstdtc')}"),
        var("RFENDTC", "Subject Reference End Date/Time", DTC, EXP, DERIVED,
            derivation="Date the subject left the study (end-of-study form, or death); null while the subject is "
            f"still in the study and for subjects never treated. Rule {rule('rfendtc')}"),
        var("RFXSTDTC", "Date/Time of First Study Treatment", DTC, EXP, DERIVED,
            derivation=f"Earliest EXSTDTC (the first lymphodepletion dose). Rule {rule('rfxstdtc')}"),
        var("RFXENDTC", "Date/Time of Last Study Treatment", DTC, EXP, DERIVED,
            derivation="Latest end (or start, when no end was recorded) of any study treatment: cyclophosphamide, "
            f"fludarabine, IL-2 or a JK500 infusion. Rule {rule('rfxendtc')}"),
        var("RFICDTC", "Date/Time of Informed Consent", DTC, EXP, DERIVED,
            derivation="Date the parent or guardian first signed the consent form (the DS milestone INFORMED "
            f"CONSENT OBTAINED). Rule {rule('rficdtc')}"),
        var("RFPENDTC", "Date/Time of End of Participation", DTC, EXP, DERIVED,
            derivation="Last known contact: the latest of consent, visit, dose, infusion, survival contact, "
            f"end-of-study and death dates. Rule {rule('rfpendtc')}"),
        var("DTHDTC", "Date/Time of Death", DTC, EXP, COLLECTED),
        var("DTHFL", "Subject Death Flag", TEXT, EXP, DERIVED, codelist="NY", values=("Y",),
            derivation=f"Y when a death form exists, else null. Rule {rule('dthfl')}"),
        var("SITEID", "Study Site Identifier", core=REQ, origin=ASSIGNED),
    ]  # fmt: skip
    if identified:
        variables.append(var("BRTHDTC", "Date/Time of Birth", DTC, PERM, COLLECTED))
    variables += [
        var("AGE", "Age", INTEGER, EXP, DERIVED,
            derivation="Completed years between the birth date and RFICDTC (a birthday counts as completed; a 29 "
            f"February birthday completes on 1 March in common years). Rule {rule('age')}"),
        var("AGEU", "Age Units", TEXT, EXP, ASSIGNED, codelist="AGEU", values=("YEARS",)),
        var("SEX", "Sex", TEXT, REQ, COLLECTED, codelist="SEX", values=("M", "F", "U", "UNDIFFERENTIATED")),
        var("RACE", "Race", TEXT, EXP, COLLECTED, codelist="RACE",
            comment="Not collected: the JK500 case-report forms have no race question (the demographics collected "
            "are sex and birth date), so RACE is null for every subject; it is kept because SDTMIG 3.4 §4.1.5 has "
            "Expected variables present."),
        var("ARMCD", "Planned Arm Code", TEXT, EXP, ASSIGNED, values=(ARMCD,)),
        var("ARM", "Description of Planned Arm", TEXT, EXP, ASSIGNED, values=(ARM,)),
        var("ACTARMCD", "Actual Arm Code", TEXT, EXP, DERIVED, values=(ARMCD,),
            derivation=f"JK500 when the subject received any study treatment, else null. Rule {rule('actarm')}"),
        var("ACTARM", "Description of Actual Arm", TEXT, EXP, DERIVED, values=(ARM,),
            derivation=f"As ACTARMCD. Rule {rule('actarm')}"),
        var("ARMNRS", "Reason Arm and/or Actual Arm is Null", TEXT, EXP, DERIVED, codelist="ARMNULRS",
            values=(ARMNRS_SCREEN_FAILURE, ARMNRS_NOT_ASSIGNED, ARMNRS_NOT_TREATED),
            derivation="SCREEN FAILURE for screen failures, NOT ASSIGNED while still in screening, ASSIGNED, NOT "
            f"TREATED for enrolled subjects without study treatment. Rule {rule('armnrs')}"),
        var("ACTARMUD", "Description of Unplanned Actual Arm", TEXT, EXP, DERIVED,
            derivation="The trial has one arm and no unplanned treatment: null for every subject.",
            comment="Not applicable: a single-arm trial in which every treated subject received the planned arm, "
            "so ACTARMUD is null for every subject."),
        var("COUNTRY", "Country", TEXT, REQ, ASSIGNED, codelist="COUNTRY",
            derivation="ISO 3166-1 alpha-3 code of the site's country"),
    ]  # fmt: skip
    return variables


def build_dm(study: SdtmStudy) -> Dataset:
    """DM: one record per subject who signed consent, screen failures included (SDTMIG 3.4 §5.2)."""
    identified = study.context.identified
    ages = study.ages_at_consent()
    births = _birth_dates(study) if identified else {}
    rows = []
    for subject_id, subject in study.subjects.items():
        row = common_values(study, subject, "DM")
        row.update(_dm_values(subject, ages.get(subject_id)))
        if identified:
            row["BRTHDTC"] = iso_date(births.get(subject_id))
        rows.append(row)
    variables = dm_variables(identified)
    names = [variable.name for variable in variables]
    return Dataset(
        "DM", "Demographics", "SPECIAL PURPOSE", "One record per subject", ("STUDYID", "USUBJID"), variables,
        [{name: row.get(name) for name in names} for row in rows],
    )


def _dm_values(subject: SubjectFacts, age: int | None) -> Record:
    treated = subject.first_dose is not None or subject.first_infusion is not None
    if subject.screen_failed:
        armnrs: str | None = ARMNRS_SCREEN_FAILURE
    elif not subject.assigned:
        armnrs = ARMNRS_NOT_ASSIGNED
    elif not treated:
        armnrs = ARMNRS_NOT_TREATED
    else:
        armnrs = None
    assigned = subject.assigned
    first = iso(subject.first_dose)
    return {
        "SUBJID": subject.keys.subject_number,
        "RFSTDTC": first,
        "RFENDTC": iso_date(subject.exit_date) if treated else None,
        "RFXSTDTC": first,
        "RFXENDTC": iso(subject.last_dose),
        "RFICDTC": iso_date(subject.consent_date),
        "RFPENDTC": iso_date(subject.last_contact),
        "DTHDTC": None if subject.death is None else iso_date(subject.death["death_date"]),
        "DTHFL": "Y" if subject.death is not None else None,
        "SITEID": subject.keys.site_code,
        "AGE": age,
        "AGEU": "YEARS" if age is not None else None,
        "SEX": str(subject.row["sex"]),
        "RACE": None,
        "ARMCD": ARMCD if assigned else None,
        "ARM": ARM if assigned else None,
        "ACTARMCD": ARMCD if assigned and treated else None,
        "ACTARM": ARM if assigned and treated else None,
        "ARMNRS": armnrs,
        "ACTARMUD": None,
        "COUNTRY": subject.country,
    }


def _birth_dates(study: SdtmStudy) -> dict[int, dt.date]:
    # Only identified exports reach here, where context.rows keeps the birth date.
    return {row["id"]: row["birth_date"] for row in study.context.rows("subject") if row["id"] in study.subject_ids}


# ------------------------------------------------------------------------------------------------ SE

SE_VARIABLES = [
    *identifiers("SE"),
    var("ETCD", "Element Code", TEXT, REQ, DERIVED, values=("SCRN", "LD", "JK500", "FU"),
        derivation=f"The element whose start rule (TE.TESTRL) the subject's data meet. Rule {rule('se')}"),
    var("ELEMENT", "Description of Element", TEXT, PERM, DERIVED, derivation="TE.ELEMENT of ETCD"),
    var("TAETORD", "Planned Order of Element within Arm", INTEGER, PERM, DERIVED, derivation="TA.TAETORD of ETCD"),
    var("EPOCH", "Epoch", TEXT, PERM, DERIVED, codelist="EPOCH", values=("SCREENING", "TREATMENT", "FOLLOW-UP"),
        derivation="TA.EPOCH of ETCD"),
    var("SESTDTC", "Start Date/Time of Element", DTC, REQ, DERIVED,
        derivation="Consent date (SCRN), first lymphodepletion dose (LD), first IL-2 dose or JK500 infusion on day 0 "
        f"(JK500), first infusion + 29 days (FU). Rule {rule('se')}"),
    var("SEENDTC", "End Date/Time of Element", DTC, EXP, DERIVED,
        derivation="Start of the next element, or the day the subject left the study; null while the element "
        f"lasts. Rule {rule('se')}"),
    dy_variable("SESTDY", "Study Day of Start of Element", "SESTDTC"),
    dy_variable("SEENDY", "Study Day of End of Element", "SEENDTC"),
]  # fmt: skip


def build_se(study: SdtmStudy) -> list[Dataset]:
    """SE: the elements each subject actually passed through (SDTMIG 3.4 §5.3)."""
    rows = []
    for subject in study.subjects.values():
        for element in subject.elements:
            start, end = iso(element.start), iso(element.end)
            row = common_values(study, subject, "SE")
            row.update({
                "ETCD": element.definition.etcd, "ELEMENT": element.definition.element,
                "TAETORD": element.definition.taetord, "EPOCH": element.definition.epoch,
                "SESTDTC": start, "SEENDTC": end, "SESTDY": subject.dy(start), "SEENDY": subject.dy(end),
            })  # fmt: skip
            rows.append(row)
    return finish(
        "SE", "Subject Elements", "SPECIAL PURPOSE", "One record per actual Element per subject",
        ("STUDYID", "USUBJID", "ETCD", "SESTDTC"), SE_VARIABLES, rows,
        lambda row: (row["TAETORD"], row["SESTDTC"]), study,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ SV

SV_VARIABLES = [
    var("STUDYID", "Study Identifier", core=REQ, origin=PROTOCOL),
    var("DOMAIN", "Domain Abbreviation", core=REQ, origin=ASSIGNED, codelist="DOMAIN", values=("SV",)),
    var("USUBJID", "Unique Subject Identifier", core=REQ, origin=DERIVED,
        derivation=f"STUDYID-SITEID-SUBJID, built once for every dataset. Rule {rule('usubjid')}"),
    *[v if v.name != "VISITNUM" else var("VISITNUM", "Visit Number", v.data_type, REQ, DERIVED, derivation=v.derivation)
      for v in visit_variables()],
    var("SVPRESP", "Pre-specified", TEXT, EXP, DERIVED, codelist="NY", values=("Y",),
        derivation=f"Y for a visit of the schedule (TV), null for an unscheduled visit. Rule {rule('sv')}"),
    var("SVOCCUR", "Occurrence", TEXT, EXP, COLLECTED, codelist="NY", values=NY,
        derivation="Y when the scheduled visit took place, N when it was missed; null for unscheduled visits"),
    var("SVREASOC", "Reason for Occur Value", TEXT, PERM, COLLECTED,
        derivation="Why a scheduled visit was missed, as written on the visit form"),
    var("VISITDY", "Planned Study Day of Visit", INTEGER, PERM, PROTOCOL,
        derivation="TV.VISITDY; null for unscheduled visits (SDTMIG 3.4 §4.4.5)"),
    var("SVSTDTC", "Start Date/Time of Observation", DTC, EXP, COLLECTED),
    var("SVENDTC", "End Date/Time of Observation", DTC, EXP, COLLECTED,
        derivation="The visit date: visits last one day"),
    dy_variable("SVSTDY", "Study Day of Start of Observation", "SVSTDTC"),
    dy_variable("SVENDY", "Study Day of End of Observation", "SVENDTC"),
]  # fmt: skip


def build_sv(study: SdtmStudy) -> list[Dataset]:
    """SV: every visit that took place and every scheduled visit missed (SDTMIG 3.4 §5.5: planned and actual
    visits). Visits still in the future, or no longer applicable, are not visits yet and are left out."""
    rows = []
    for visit in study.visits:
        status = str(visit["status"])
        if status not in ("completed", "missed"):
            continue
        key = study.visit_keys[visit["id"]]
        subject = study.subject(visit["subject_id"])
        on = iso_date(visit["visit_date"])
        row = common_values(study, subject, "SV")
        row.update({
            "VISITNUM": key.visitnum, "VISIT": key.visit, "VISITDY": key.visitdy,
            "SVPRESP": "Y" if key.planned else None,
            "SVOCCUR": ("Y" if status == "completed" else "N") if key.planned else None,
            "SVREASOC": visit["missed_reason"] if status == "missed" else None,
            "SVSTDTC": on, "SVENDTC": on, "SVSTDY": subject.dy(on), "SVENDY": subject.dy(on),
        })  # fmt: skip
        rows.append(row)
    rows.sort(key=lambda row: (str(row["USUBJID"]), row["VISITNUM"]))
    names = [variable.name for variable in SV_VARIABLES]
    return [Dataset(
        "SV", "Subject Visits", "SPECIAL PURPOSE", "One record per subject per actual or planned visit",
        ("STUDYID", "USUBJID", "VISITNUM"), SV_VARIABLES, [{n: row.get(n) for n in names} for row in rows],
        value_level=[
            ValueLevel("SVOCCUR", "SVPRESP EQ 'Y'", "Collected: the visit form's status (completed or missed).",
                       COLLECTED),
        ],
    )]  # fmt: skip


# ------------------------------------------------------------------------------------------------ DS

CONSENT_MILESTONES = {
    "guardian_consent": "INFORMED CONSENT OBTAINED",
    "assent": "INFORMED ASSENT OBTAINED",
    "reconsent": "INFORMED CONSENT OBTAINED",
}
#: What was signed, as DSTERM says it (with the document version).
CONSENT_TERMS = {"guardian_consent": "CONSENT SIGNED BY PARENT OR GUARDIAN", "assent": "ASSENT SIGNED BY THE CHILD",
                 "reconsent": "RE-CONSENT SIGNED"}  # fmt: skip
DISPOSITION_TERMS = {
    "completed": "COMPLETED",
    "screen_failed": "SCREEN FAILURE",
    "died": "DEATH",
    "lost_to_follow_up": "LOST TO FOLLOW-UP",
}
WITHDRAWAL_TERMS = {
    "guardian": "WITHDRAWAL BY PARENT/GUARDIAN",
    "subject": "WITHDRAWAL BY SUBJECT",
    "investigator": "PHYSICIAN DECISION",
    "sponsor": "STUDY TERMINATED BY SPONSOR",
}
PROTOCOL_MILESTONE, DISPOSITION_EVENT = "PROTOCOL MILESTONE", "DISPOSITION EVENT"
#: The parents' consent comes before the child's assent signed the same day.
_MILESTONE_ORDER = {"INFORMED CONSENT OBTAINED": 1, "INFORMED ASSENT OBTAINED": 2}

DS_VARIABLES = [
    *identifiers("DS"),
    var("DSTERM", "Reported Term for the Disposition Event", TEXT, REQ, COLLECTED,
        derivation="The end-of-study reason as written; for consent milestones, the milestone and the document "
        "version signed"),
    var("DSDECOD", "Standardized Disposition Term", TEXT, REQ, DERIVED,
        codelist="NCOMPLT / PROTMLST",
        values=(*CONSENT_MILESTONES.values(), *DISPOSITION_TERMS.values(), *WITHDRAWAL_TERMS.values()),
        derivation="The end-of-study status (and who withdrew the subject) or the consent kind, mapped to CDISC "
        f"terms. Rule {rule('dsdecod')}"),
    var("DSCAT", "Category for Disposition Event", TEXT, EXP, ASSIGNED, codelist="DSCAT",
        values=(PROTOCOL_MILESTONE, DISPOSITION_EVENT)),
    epoch_variable("DSSTDTC"),
    var("DSSTDTC", "Start Date/Time of Disposition Event", DTC, EXP, COLLECTED),
    dy_variable("DSSTDY", "Study Day of Start of Disposition Event", "DSSTDTC"),
]  # fmt: skip


def build_ds(study: SdtmStudy) -> list[Dataset]:
    """DS: consent, assent and re-consent milestones, and each subject's disposition (SDTMIG 3.4 §6.2.4)."""
    rows: list[Record] = []
    for consent in study.rows("consent"):
        subject = study.subject(consent["subject_id"])
        kind = str(consent["kind"])
        term = f"{CONSENT_TERMS[kind]}, DOCUMENT VERSION {consent['document_version']}"
        rows.append(_ds_row(study, subject, term, CONSENT_MILESTONES[kind], PROTOCOL_MILESTONE, consent["signed_on"]))
    for end in study.rows("end_of_study"):
        subject = study.subject(end["subject_id"])
        decod = _disposition(end)
        term = str(end["reason"]) if end["reason"] else decod
        rows.append(_ds_row(study, subject, term, decod, DISPOSITION_EVENT, end["ended_on"]))
    return finish(
        "DS", "Disposition", "EVENTS", "One record per disposition status or protocol milestone per subject",
        ("STUDYID", "USUBJID", "DSCAT", "DSDECOD", "DSSTDTC", "DSSEQ"), DS_VARIABLES, rows,
        lambda row: (row["DSSTDTC"], row["DSCAT"] != PROTOCOL_MILESTONE, _MILESTONE_ORDER.get(str(row["DSDECOD"]), 9)),
        study,
    )  # fmt: skip


def _disposition(end: Row) -> str:
    status = str(end["status"])
    if status == "withdrawn":
        return WITHDRAWAL_TERMS.get(str(end["withdrawal_by"]), "WITHDRAWAL BY SUBJECT")
    return DISPOSITION_TERMS[status]


def _ds_row(
    study: SdtmStudy, subject: SubjectFacts, term: str, decod: str, category: str, on: dt.date
) -> Record:
    start = iso_date(on)
    row = common_values(study, subject, "DS")
    row.update({
        "DSTERM": term, "DSDECOD": decod, "DSCAT": category, "EPOCH": subject.epoch(on),
        "DSSTDTC": start, "DSSTDY": subject.dy(start),
    })  # fmt: skip
    return row

