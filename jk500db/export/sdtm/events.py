"""Events (SDTMIG 3.4 §6.2): AE Adverse Events with SUPPAE, and MH Medical History (the leukaemia's history).

AE terms are CTCAE v5.0 terms, which are MedDRA terms (NCI publishes each with its MedDRA code and SOC), so the
MedDRA hierarchy comes from the CTCAE term list in the database: AELLT/AEDECOD = the CTCAE term, AELLTCD/AEPTCD =
its MedDRA code, AESOC/AEBODSYS = its SOC, and AESOCCD/AEBDSYCD = the SOC's code, read from the CTCAE
"<SOC> - Other, specify" term of that SOC (whose MedDRA code is the SOC's own). The term list carries no HLT or
HLGT: those Expected variables are present and null. An "Other, specify" term is coded to its SOC only.

Grades: AETOXGR is the CTCAE v5.0 grade the investigator gave, except for cytokine release syndrome and ICANS
episodes graded from their CRS or ICANS assessments, whose AETOXGR is the ASTCT 2019 consensus grade (the
highest grade of the episode's assessments, derived). AECAT says which (CRS, ICANS); the value-level metadata
of AETOXGR states it for define.xml, and SUPPAE keeps the investigator's own grade beside the derived one.
"""

from __future__ import annotations

from dataclasses import dataclass

from jk500db.clinical import astct
from jk500db.derivations.adverse_events import DLT_RULE, EPISODE_RULE
from jk500db.derivations.provenance import rule_label
from jk500db.export.datasets import Dataset, ValueLevel
from jk500db.export.sdtm.common import (
    ASSIGNED,
    COLLECTED,
    DERIVED,
    DTC,
    EXP,
    INTEGER,
    NY,
    PERM,
    REQ,
    TEXT,
    Qualifier,
    Record,
    SdtmStudy,
    SuppCollector,
    common_values,
    ct,
    dy_variable,
    epoch_variable,
    finish,
    identifiers,
    iso_date,
    iso_partial,
    rule,
    var,
    yn,
)
from jk500db.export.snapshot import Row

CRS, ICANS = "CRS", "ICANS"
ASTCT = "ASTCT 2019 consensus grading (Lee et al., Biol Blood Marrow Transplant 2019;25:625-638)"
CTCAE = "NCI CTCAE v5.0 (27 November 2017)"
#: The rules (with the versions the database runs) behind the ASTCT grades of CRS and ICANS episodes.
EPISODE = rule_label(EPISODE_RULE, astct.RULE_VERSION)
CRS_GRADE_RULE = rule_label(astct.CRS_RULE_ID, astct.RULE_VERSION)
ICANS_GRADE_RULE = rule_label(astct.ICANS_RULE_ID, astct.RULE_VERSION)

#: AE causality (sponsor's five-point scale, AEREL has no CDISC codelist).
RELATEDNESS = ("NOT RELATED", "UNLIKELY", "POSSIBLE", "PROBABLE", "DEFINITE")
ACTIONS = {
    "dose_not_changed": "DOSE NOT CHANGED", "drug_interrupted": "DRUG INTERRUPTED",
    "drug_withdrawn": "DRUG WITHDRAWN", "dose_reduced": "DOSE REDUCED", "not_applicable": "NOT APPLICABLE",
    "unknown": "UNKNOWN",
}  # fmt: skip
OUTCOMES = {
    "recovered": "RECOVERED/RESOLVED", "recovering": "RECOVERING/RESOLVING",
    "not_recovered": "NOT RECOVERED/NOT RESOLVED", "recovered_with_sequelae": "RECOVERED/RESOLVED WITH SEQUELAE",
    "fatal": "FATAL", "unknown": "UNKNOWN",
}  # fmt: skip
#: (AE variable, adverse_event column, label) of the seriousness criteria (ICH E2A).
SERIOUSNESS = (
    ("AESCONG", "serious_congenital_anomaly", "Congenital Anomaly or Birth Defect"),
    ("AESDISAB", "serious_disability", "Persist or Signif Disability/Incapacity"),
    ("AESDTH", "serious_death", "Results in Death"),
    ("AESHOSP", "serious_hospitalisation", "Requires or Prolongs Hospitalization"),
    ("AESLIFE", "serious_life_threatening", "Is Life Threatening"),
    ("AESMIE", "serious_medically_important", "Other Medically Important Serious Event"),
)
MEDDRA_NOTE = "MedDRA as published with the CTCAE v5.0 term list (NCI)"
#: Why the MedDRA HLT and HLGT variables are empty.
NO_HLT = (
    "Null for every event: adverse events are coded to CTCAE v5.0 terms, whose NCI list gives each term's MedDRA code "
    "and SOC but no High Level Term or High Level Group Term, and the database holds no other MedDRA hierarchy."
)

AE_VARIABLES = [
    *identifiers("AE"),
    var("AESPID", "Sponsor-Defined Identifier", TEXT, PERM, COLLECTED, derivation="The AE number on the CRF"),
    var("AETERM", "Reported Term for the Adverse Event", TEXT, REQ, COLLECTED,
        derivation="The investigator's words; the CTCAE term when none were written"),
    var("AELLT", "Lowest Level Term", TEXT, EXP, DERIVED, codelist="MedDRA", derivation=MEDDRA_NOTE),
    var("AELLTCD", "Lowest Level Term Code", INTEGER, EXP, DERIVED, codelist="MedDRA", derivation=MEDDRA_NOTE),
    var("AEDECOD", "Dictionary-Derived Term", TEXT, REQ, DERIVED, codelist="MedDRA",
        derivation="The CTCAE v5.0 term chosen on the CRF (a MedDRA term)"),
    var("AEPTCD", "Preferred Term Code", INTEGER, EXP, DERIVED, codelist="MedDRA", derivation=MEDDRA_NOTE),
    var("AEHLT", "High Level Term", TEXT, EXP, DERIVED, codelist="MedDRA",
        derivation="Not in the CTCAE term list: null (no MedDRA coding beyond CTCAE)", comment=NO_HLT),
    var("AEHLTCD", "High Level Term Code", INTEGER, EXP, DERIVED, codelist="MedDRA",
        derivation="Not in the CTCAE term list: null", comment=NO_HLT),
    var("AEHLGT", "High Level Group Term", TEXT, EXP, DERIVED, codelist="MedDRA",
        derivation="Not in the CTCAE term list: null", comment=NO_HLT),
    var("AEHLGTCD", "High Level Group Term Code", INTEGER, EXP, DERIVED, codelist="MedDRA",
        derivation="Not in the CTCAE term list: null", comment=NO_HLT),
    var("AECAT", "Category for Adverse Event", TEXT, PERM, DERIVED, values=(CRS, ICANS),
        derivation="CRS or ICANS for an episode graded from its linked CRS or ICANS assessments by ASTCT 2019; "
        f"null for other events. Rule {rule('aecat')}"),
    var("AEBODSYS", "Body System or Organ Class", TEXT, EXP, DERIVED, codelist="MedDRA",
        derivation="The CTCAE term's MedDRA SOC (the primary SOC is used for analysis)"),
    var("AEBDSYCD", "Body System or Organ Class Code", INTEGER, EXP, DERIVED, codelist="MedDRA",
        derivation=MEDDRA_NOTE + ": the code of the SOC's 'Other, specify' term"),
    var("AESOC", "Primary System Organ Class", TEXT, EXP, DERIVED, codelist="MedDRA", derivation=MEDDRA_NOTE),
    var("AESOCCD", "Primary System Organ Class Code", INTEGER, EXP, DERIVED, codelist="MedDRA",
        derivation=MEDDRA_NOTE + ": the code of the SOC's 'Other, specify' term"),
    var("AESER", "Serious Event", TEXT, EXP, COLLECTED, codelist="NY", values=NY),
    var("AEACN", "Action Taken with Study Treatment", TEXT, EXP, COLLECTED, codelist="ACN", values=ACTIONS.values()),
    var("AEREL", "Causality", TEXT, EXP, COLLECTED, values=RELATEDNESS,
        derivation="Causality to JK500, the investigational product; causality to IL-2 and to lymphodepletion is "
        "in SUPPAE (AERELIL2, AERELLD)"),
    var("AEOUT", "Outcome of Adverse Event", TEXT, PERM, COLLECTED, codelist="OUT", values=OUTCOMES.values()),
    *[var(name, label, TEXT, PERM, COLLECTED, codelist="NY", values=NY,
          derivation="Populated for serious events only") for name, _, label in SERIOUSNESS],
    var("AETOXGR", "Standard Toxicity Grade", TEXT, PERM, COLLECTED, values=("1", "2", "3", "4", "5"),
        derivation=f"{CTCAE} grade given by the investigator; for CRS and ICANS episodes (AECAT) the {ASTCT} grade "
        f"derived from the episode's assessments ({EPISODE}). See the value-level metadata, which gives each its "
        "origin."),
    epoch_variable("AESTDTC"),
    var("AESTDTC", "Start Date/Time of Adverse Event", DTC, EXP, COLLECTED),
    var("AEENDTC", "End Date/Time of Adverse Event", DTC, EXP, COLLECTED),
    dy_variable("AESTDY", "Study Day of Start of Adverse Event", "AESTDTC"),
    dy_variable("AEENDY", "Study Day of End of Adverse Event", "AEENDTC"),
    var("AEENRTPT", "End Relative to Reference Time Point", TEXT, PERM, COLLECTED, codelist="STENRF",
        values=("ONGOING",), derivation="ONGOING when the event was still ongoing at the last assessment"),
    var("AEENTPT", "End Reference Time Point", DTC, PERM, DERIVED,
        derivation="The subject's last known contact (DM.RFPENDTC) for ongoing events (SDTMIG 3.4 §4.4.7). "
        f"Rule {rule('entpt')}"),
]  # fmt: skip

SUPPAE = (
    Qualifier("AERELIL2", "Causality to IL-2", COLLECTED, "INVESTIGATOR",
              "Sponsor's five-point scale: NOT RELATED, UNLIKELY, POSSIBLE, PROBABLE, DEFINITE."),
    Qualifier("AERELLD", "Causality to Lymphodepletion", COLLECTED, "INVESTIGATOR",
              "Causality to cyclophosphamide and fludarabine; five-point scale as AEREL."),
    Qualifier("AEDLT", "Dose-Limiting Toxicity", COLLECTED, "INVESTIGATOR",
              "The investigator's decision on a DLT candidate: Y confirmed, N not a DLT."),
    Qualifier("AEDLTCAN", "DLT Candidate", DERIVED, None,
              f"Y when the event starts in the DLT window (days 0-28 after the first JK500 infusion, settings "
              f"dlt.window_days and dlt.anchor) at or above grade dlt.min_grade and is not attributed to another "
              f"cause ({DLT_RULE} v1)."),
    Qualifier("AEATTROT", "Attributed to Disease or Other Treatment", COLLECTED, "INVESTIGATOR",
              "Attributed to progressive disease, concomitant disease or concomitant medication (excludes a DLT)."),
    Qualifier("AEINVGR", "Investigator-Assessed Toxicity Grade", COLLECTED, "INVESTIGATOR",
              "For CRS and ICANS episodes, whose AETOXGR is the derived ASTCT grade."),
    Qualifier("AEGRDRSN", "Reason Grade Differs from Derived", COLLECTED, "INVESTIGATOR"),
    Qualifier("AEEXPECT", "Expectedness", COLLECTED, "INVESTIGATOR",
              "EXPECTED or UNEXPECTED per the investigator's brochure."),
)  # fmt: skip


def _episodes(study: SdtmStudy) -> dict[int, str]:
    """AE id -> CRS or ICANS, for events with live CRS or ICANS assessments linked to them."""
    kinds: dict[int, str] = {}
    for table, kind in (("icans_assessment", ICANS), ("crs_assessment", CRS)):  # CRS wins if both are linked
        for row in study.rows(table):
            if row["adverse_event_id"] is not None:
                kinds[row["adverse_event_id"]] = kind
    return kinds


def _astct_graded(event: Row) -> bool:
    rule_label = event["derived_grade_rule"]
    # A derived grade 0 means the assessments found no CRS/ICANS: the investigator's grade stands.
    return bool(event["derived_grade"]) and rule_label is not None and str(rule_label).startswith("astct")


def build_ae(study: SdtmStudy) -> list[Dataset]:
    """AE: every adverse event not removed (SDTMIG 3.4 §6.2.1), with causality to IL-2 and lymphodepletion, the
    DLT decision and candidacy, and the investigator's grade of CRS/ICANS episodes in SUPPAE."""
    supp = SuppCollector("AE")
    supp.define(*SUPPAE)
    episodes = _episodes(study)
    rows: list[Record] = []
    for event in study.rows("adverse_event"):
        rows.append(_ae_row(study, event, episodes, supp))
    datasets = finish(
        "AE", "Adverse Events", "EVENTS", "One record per adverse event per subject",
        ("STUDYID", "USUBJID", "AESPID"), AE_VARIABLES, rows,
        lambda row: (int(str(row["AESPID"])),), study, supp, ae_value_level(),
    )  # fmt: skip
    study.context.shared[AE_SEQUENCE] = AeSequence.of(next(dataset for dataset in datasets if dataset.name == "AE"))
    return datasets


#: ``ExportContext.shared`` key of the AE numbering of the export's snapshot (see :class:`AeSequence`).
AE_SEQUENCE = "sdtm.ae.sequence"


@dataclass(frozen=True)
class AeSequence:
    """SDTM AE.AESEQ by (USUBJID, AESPID), as the AE dataset of one export's snapshot numbers its records: ADaM's
    ADAE and the analysis tables take AESEQ from here (``jk500db.export.adam.sdtm_ae_sequence``)."""

    numbers: dict[tuple[str, str], int]

    @classmethod
    def of(cls, ae: Dataset) -> AeSequence:
        numbers: dict[tuple[str, str], int] = {}
        for row in ae.rows:
            sequence = row["AESEQ"]
            assert isinstance(sequence, int)
            numbers[(str(row["USUBJID"]), str(row["AESPID"]))] = sequence
        return cls(numbers)

    def aeseq(self, usubjid: str, aespid: str) -> int:
        try:
            return self.numbers[(usubjid, aespid)]
        except KeyError:
            # both datasets read the same snapshot with the same rules for removed records: a miss is a bug
            raise RuntimeError(f"ADAE: no SDTM AE record for {usubjid} AESPID {aespid} to take AESEQ from") from None


def ae_value_level() -> list[ValueLevel]:
    """Which AE terms are graded with ASTCT 2019 (CRS, ICANS) and which with CTCAE v5.0, with each one's origin.

    The ASTCT grades are the system's: jk500db.clinical.astct grades every CRS or ICANS assessment from its
    recorded signs, and the episode's grade is the highest of them (jk500db.derivations.adverse_events), stored with
    the rule and version; staff never type it (the investigator's own grade is SUPPAE.AEINVGR). So they are
    Derived, with the rule as the method. Every other grade is the investigator's clinical judgement against the
    CTCAE v5.0 term's grade texts, entered on the AE form (adverse_event.grade): Collected. (The database grades
    laboratory values by CTCAE itself, but those derived grades are LB.LBTOXGR, not AE records.)
    """
    crs_method = (
        f"AETOXGR = the highest ASTCT 2019 CRS grade among the CRS assessments linked to the adverse event "
        f"({EPISODE}); each assessment graded by {CRS_GRADE_RULE} from fever, hypotension and vasopressors, and "
        "oxygen support (jk500db.clinical.astct)."
    )
    icans_method = (
        f"AETOXGR = the highest ASTCT 2019 ICANS grade among the ICANS assessments linked to the adverse event "
        f"({EPISODE}); each assessment graded by {ICANS_GRADE_RULE} from the ICE score (age 12 and over) or the "
        "CAPD (under 12), consciousness, seizures, motor findings and cerebral oedema (jk500db.clinical.astct)."
    )
    return [
        ValueLevel(
            "AETOXGR", f"AECAT EQ '{CRS}'",
            f"Cytokine release syndrome (AEDECOD 'Cytokine release syndrome'): {ASTCT} CRS grade, the highest ASTCT "
            f"grade of the episode's CRS assessments, derived by the system ({EPISODE}).",
            DERIVED, crs_method,
        ),
        ValueLevel(
            "AETOXGR", f"AECAT EQ '{ICANS}'",
            f"Immune effector cell-associated neurotoxicity syndrome (CTCAE v5.0 has no ICANS term: AEDECOD "
            f"'Nervous system disorders - Other, specify', AETERM names ICANS): {ASTCT} ICANS grade (ICE score from "
            f"age 12, CAPD below), the highest of the episode's ICANS assessments, derived by the system ({EPISODE}).",
            DERIVED, icans_method,
        ),
        ValueLevel(
            "AETOXGR", f"AECAT NOTIN ('{CRS}', '{ICANS}')",
            f"Every other term: {CTCAE} grade as the investigator assessed it on the AE form (worst grade of the "
            "event).",
            COLLECTED,
        ),
    ]  # fmt: skip


def _ae_row(study: SdtmStudy, event: Row, episodes: dict[int, str], supp: SuppCollector) -> Record:
    subject = study.subject(event["subject_id"])
    term = study.ctcae_terms[event["ctcae_term_id"]]
    other = bool(term["other_specify"])
    code = int(str(term["meddra_code"]))
    soc = str(term["soc"])
    soc_code = study.soc_codes.get(soc)
    astct = _astct_graded(event) and event["id"] in episodes
    grade = event["derived_grade"] if astct else event["grade"]
    serious = bool(event["serious"])
    start, end = iso_date(event["onset_date"]), iso_date(event["end_date"])
    row = common_values(study, subject, "AE")
    row.update({
        "AESPID": str(event["ae_number"]),
        "AETERM": event["verbatim"] or str(term["term"]),
        "AELLT": None if other else term["term"], "AELLTCD": None if other else code,
        "AEDECOD": term["term"], "AEPTCD": None if other else code,
        "AEHLT": None, "AEHLTCD": None, "AEHLGT": None, "AEHLGTCD": None,
        "AECAT": episodes[event["id"]] if astct else None,
        "AEBODSYS": soc, "AEBDSYCD": None if soc_code is None else int(soc_code),
        "AESOC": soc, "AESOCCD": None if soc_code is None else int(soc_code),
        "AESER": yn(serious), "AEACN": ACTIONS.get(str(event["action_taken"])) if event["action_taken"] else None,
        "AEREL": ct(event["related_jk500"]),
        "AEOUT": OUTCOMES.get(str(event["outcome"])) if event["outcome"] else None,
        "AETOXGR": None if grade is None else str(grade),
        "EPOCH": subject.epoch(event["onset_date"]),
        "AESTDTC": start, "AEENDTC": end, "AESTDY": subject.dy(start), "AEENDY": subject.dy(end),
        "AEENRTPT": "ONGOING" if event["ongoing"] else None,
        "AEENTPT": iso_date(subject.last_contact) if event["ongoing"] else None,
    })  # fmt: skip
    for name, column, _ in SERIOUSNESS:
        row[name] = yn(bool(event[column])) if serious else None
    supp.add(row, "AERELIL2", ct(event["related_il2"]))
    supp.add(row, "AERELLD", ct(event["related_lymphodepletion"]))
    supp.add(row, "AEDLT", {"confirmed": "Y", "not_a_dlt": "N"}.get(str(event["dlt_decision"])))
    supp.add(row, "AEDLTCAN", yn(event["dlt_candidate"]))
    supp.add(row, "AEATTROT", yn(bool(event["attributed_elsewhere"])))
    if astct:
        supp.add(row, "AEINVGR", str(event["grade"]))
    supp.add(row, "AEGRDRSN", event["grade_difference_reason"])
    supp.add(row, "AEEXPECT", ct(event["expectedness"]))
    return row


# ------------------------------------------------------------------------------------------------ MH

PRIMARY_DIAGNOSIS, DISEASE_HISTORY = "PRIMARY DIAGNOSIS", "DISEASE HISTORY"
AML = "Acute myeloid leukaemia"

MH_VARIABLES = [
    *identifiers("MH"),
    var("MHTERM", "Reported Term for the Medical History", TEXT, REQ, COLLECTED,
        derivation="The WHO 2016 classification as the pathology report words it; for the relapse record, "
        "'Relapse of acute myeloid leukaemia'"),
    var("MHDECOD", "Dictionary-Derived Term", TEXT, PERM, ASSIGNED, codelist="MedDRA",
        values=(AML, "Acute myeloid leukaemia recurrent"),
        derivation="MedDRA preferred term assigned for the trial's disease (not coded from free text)"),
    var("MHCAT", "Category for Medical History", TEXT, PERM, ASSIGNED, values=(PRIMARY_DIAGNOSIS, DISEASE_HISTORY)),
    var("MHSTDTC", "Start Date/Time of Medical History Event", DTC, PERM, COLLECTED,
        derivation="Diagnosis or relapse date as collected: year, year-month or full date (right truncation), never "
        "imputed"),
]  # fmt: skip

SUPPMH = (
    Qualifier("MHAMLWHO", "AML by WHO 2016", COLLECTED, description="Criterion IN2."),
    Qualifier("MHKARYO", "Karyotype (ISCN)", COLLECTED),
    Qualifier("MHGENRSK", "ELN 2022 Genetic Risk at Diagnosis", COLLECTED),
    Qualifier("MHNINDUC", "Number of Standard Induction Courses", COLLECTED, description="Criterion IN3."),
    Qualifier("MHBRINDC", "Best Response After Induction", COLLECTED, description="Criterion IN3."),
    Qualifier("MHCR1DTC", "Date of First Complete Remission", COLLECTED,
              description="ISO 8601, partial when only the year or month is known."),
)  # fmt: skip


def build_mh(study: SdtmStudy) -> list[Dataset]:
    """MH: the AML diagnosis and the relapse that led to the trial (SDTMIG 3.4 §6.2.6), partial dates kept."""
    supp = SuppCollector("MH")
    supp.define(*SUPPMH)
    rows: list[Record] = []
    for history in study.rows("disease_history"):
        subject = study.subject(history["subject_id"])
        diagnosis = common_values(study, subject, "MH")
        diagnosis.update({
            "MHTERM": history["who2016_class"] or AML, "MHDECOD": AML, "MHCAT": PRIMARY_DIAGNOSIS,
            "MHSTDTC": iso_partial(history["diagnosis_year"], history["diagnosis_month"], history["diagnosis_day"]),
        })  # fmt: skip
        supp.add(diagnosis, "MHAMLWHO", yn(history["aml_who2016"]))
        supp.add(diagnosis, "MHKARYO", history["karyotype"])
        supp.add(diagnosis, "MHGENRSK", ct(history["genetic_risk"]))
        supp.add(diagnosis, "MHNINDUC", history["induction_courses"])
        supp.add(diagnosis, "MHBRINDC", ct(history["best_response_after_induction"]))
        supp.add(diagnosis, "MHCR1DTC", iso_partial(history["cr_year"], history["cr_month"], history["cr_day"]))
        rows.append(diagnosis)
        relapse = iso_partial(history["relapse_year"], history["relapse_month"], history["relapse_day"])
        if relapse is not None:
            row = common_values(study, subject, "MH")
            row.update({
                "MHTERM": "Relapse of acute myeloid leukaemia", "MHDECOD": "Acute myeloid leukaemia recurrent",
                "MHCAT": DISEASE_HISTORY, "MHSTDTC": relapse,
            })  # fmt: skip
            rows.append(row)
    return finish(
        "MH", "Medical History", "EVENTS", "One record per medical history event per subject",
        ("STUDYID", "USUBJID", "MHCAT", "MHSTDTC", "MHSEQ"), MH_VARIABLES, rows,
        lambda row: (row["MHCAT"] != PRIMARY_DIAGNOSIS, row["MHSTDTC"]), study, supp,
    )  # fmt: skip


def build_events(study: SdtmStudy) -> list[Dataset]:
    return [*build_ae(study), *build_mh(study)]

