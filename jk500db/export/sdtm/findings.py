"""Findings (SDTMIG 3.4 §6.3): LB Laboratory Test Results (with the bone-marrow blasts of the response form),
VS Vital Signs (with the derived BSA), IE Inclusion/Exclusion Criteria Not Met, RS Disease Response (ELN 2022),
and measurable residual disease: CP Cell Phenotype Findings (flow cytometry) and GF Genomics Findings (qPCR,
NGS)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from jk500db.clinical import eln
from jk500db.clinical.eligibility import CRITERIA_TEXT
from jk500db.derivations.provenance import rule_label
from jk500db.export.datasets import Core, Dataset, ValueLevel, Variable
from jk500db.export.sdtm.common import (
    ASSIGNED,
    COLLECTED,
    DERIVED,
    DTC,
    EXP,
    FLOAT,
    INTEGER,
    NY,
    PERM,
    PROTOCOL,
    REQ,
    TEXT,
    Qualifier,
    Record,
    SdtmStudy,
    SubjectFacts,
    SuppCollector,
    common_values,
    ct,
    dy_variable,
    epoch_variable,
    finish,
    identifiers,
    iso,
    iso_date,
    plain,
    rule,
    text,
    var,
    visit_variables,
)
from jk500db.export.sdtm.trial_design import criterion_category
from jk500db.export.snapshot import Row

SPECIMENS = {
    "blood": "BLOOD", "serum": "SERUM", "plasma": "PLASMA", "bone_marrow": "BONE MARROW",
    "csf": "CEREBROSPINAL FLUID",
}  # fmt: skip
MISSING_REASONS = {"not_done": "NOT DONE", "unknown": "UNKNOWN", "not_applicable": "NOT APPLICABLE"}
LOBXFL_RULE = (
    "Y on the last record with a result, per test (and specimen), dated before RFXSTDTC (the first "
    f"lymphodepletion dose); times compared when both have them. Rule {rule('lobxfl')}"
)


def _before_first_dose(subject: SubjectFacts, moment: dt.date | dt.datetime) -> bool:
    first = subject.first_dose
    if first is None:
        return False
    if isinstance(moment, dt.datetime):
        return moment < first
    return moment < first.date()


def flag_last_before_exposure(rows: Iterable[Record], prefix: str, group: tuple[str, ...]) -> None:
    """--LOBXFL (SDTMIG 3.4 §4.3.7: only Y is used): the last result before exposure per subject and test."""
    last: dict[tuple[object, ...], tuple[object, Record]] = {}
    for row in rows:
        moment = row.pop("_moment", None)
        if moment is None or not row.pop("_before", False) or row.get(f"{prefix}STRESC") is None:
            continue
        key = (row["USUBJID"], *(row.get(name) for name in group))
        if key not in last or str(last[key][0]) <= str(moment):
            last[key] = (moment, row)
    for _, row in last.values():
        row[f"{prefix}LOBXFL"] = "Y"


# ------------------------------------------------------------------------------------------------ LB

#: Stored LBTESTCD -> (CDISC LBTESTCD, LBTEST, LBCAT). Circulating blasts are recorded in % of leukocytes.
LAB_TESTS = {
    "NEUT": ("NEUT", "Neutrophils", "HEMATOLOGY"),
    "PLAT": ("PLAT", "Platelets", "HEMATOLOGY"),
    "WBC": ("WBC", "Leukocytes", "HEMATOLOGY"),
    "LYM": ("LYM", "Lymphocytes", "HEMATOLOGY"),
    "HGB": ("HGB", "Hemoglobin", "HEMATOLOGY"),
    "BLAST": ("BLASTLE", "Blasts/Leukocytes", "HEMATOLOGY"),
    "ALT": ("ALT", "Alanine Aminotransferase", "CHEMISTRY"),
    "AST": ("AST", "Aspartate Aminotransferase", "CHEMISTRY"),
    "BILI": ("BILI", "Bilirubin", "CHEMISTRY"),
    "CREAT": ("CREAT", "Creatinine", "CHEMISTRY"),
    "K": ("K", "Potassium", "CHEMISTRY"),
    "PHOS": ("PHOS", "Phosphate", "CHEMISTRY"),
    "CRP": ("CRP", "C Reactive Protein", "CHEMISTRY"),
    "FERRITIN": ("FERRITIN", "Ferritin", "CHEMISTRY"),
    "FIBRINO": ("FIBRINO", "Fibrinogen", "COAGULATION"),
    "IL6": ("IL6", "Interleukin 6", "IMMUNOLOGY"),
}
MARROW_BLASTS = ("BLASTNCE", "Blasts/Nucleated Cells", "HEMATOLOGY")
NRIND = ("LOW", "NORMAL", "HIGH")

LB_VARIABLES = [
    *identifiers("LB"),
    var("LBTESTCD", "Lab Test or Examination Short Name", TEXT, REQ, ASSIGNED, codelist="LBTESTCD",
        values=[t[0] for t in (*LAB_TESTS.values(), MARROW_BLASTS)]),
    var("LBTEST", "Lab Test or Examination Name", TEXT, REQ, ASSIGNED, codelist="LBTEST",
        values=[t[1] for t in (*LAB_TESTS.values(), MARROW_BLASTS)]),
    var("LBCAT", "Category for Lab Test", TEXT, EXP, ASSIGNED, values=[t[2] for t in LAB_TESTS.values()]),
    var("LBORRES", "Result or Finding in Original Units", TEXT, EXP, COLLECTED,
        derivation="The value exactly as written on the report"),
    var("LBORRESU", "Original Units", TEXT, EXP, COLLECTED, codelist="UNIT"),
    var("LBORNRLO", "Reference Range Lower Limit in Orig Unit", TEXT, EXP, COLLECTED,
        derivation="The lab's own lower limit for the child's age, as printed with the result"),
    var("LBORNRHI", "Reference Range Upper Limit in Orig Unit", TEXT, EXP, COLLECTED,
        derivation="The lab's own upper limit for the child's age, as printed with the result"),
    var("LBSTRESC", "Character Result/Finding in Std Format", TEXT, EXP, DERIVED,
        derivation="The numeric result as entered (no unit conversion: standard units are the reported units)"),
    var("LBSTRESN", "Numeric Result/Finding in Standard Units", FLOAT, EXP, DERIVED,
        derivation="The numeric result as entered, in the reported unit"),
    var("LBSTRESU", "Standard Units", TEXT, EXP, DERIVED, codelist="UNIT", derivation="LBORRESU"),
    var("LBSTNRLO", "Reference Range Lower Limit-Std Units", FLOAT, EXP, DERIVED, derivation="LBORNRLO as a number"),
    var("LBSTNRHI", "Reference Range Upper Limit-Std Units", FLOAT, EXP, DERIVED, derivation="LBORNRHI as a number"),
    var("LBNRIND", "Reference Range Indicator", TEXT, EXP, DERIVED, codelist="NRIND", values=NRIND,
        derivation=f"LOW below LBSTNRLO, HIGH above LBSTNRHI, else NORMAL; null without a result or a range. "
        f"Rule {rule('nrind')}"),
    var("LBSTAT", "Completion Status", TEXT, PERM, COLLECTED, codelist="ND", values=("NOT DONE",)),
    var("LBREASND", "Reason Test Not Done", TEXT, PERM, COLLECTED, values=MISSING_REASONS.values()),
    var("LBSPEC", "Specimen Type", TEXT, PERM, COLLECTED, codelist="SPECTYPE", values=SPECIMENS.values()),
    var("LBLOBXFL", "Last Observation Before Exposure Flag", TEXT, EXP, DERIVED, codelist="NY", values=("Y",),
        derivation=LOBXFL_RULE),
    var("LBTOX", "Toxicity", TEXT, PERM, DERIVED, derivation="The CTCAE v5.0 term the result was graded against"),
    var("LBTOXGR", "Standard Toxicity Grade", TEXT, PERM, DERIVED, values=("0", "1", "2", "3", "4", "5"),
        derivation="NCI CTCAE v5.0 grade computed from the value as entered, the lab's LLN/ULN and the baseline "
        "(setting ctcae.baseline_anchor) by jk500db.clinical.ctcae; 0 = no gradable abnormality. Rules used: "),
    epoch_variable("LBDTC"),
    *visit_variables(),
    var("LBDTC", "Date/Time of Specimen Collection", DTC, EXP, COLLECTED),
    dy_variable("LBDY", "Study Day of Specimen Collection", "LBDTC"),
]  # fmt: skip


def build_lb(study: SdtmStudy) -> list[Dataset]:
    """LB: every laboratory result, and the bone-marrow blasts of each response assessment (LBSPEC BONE
    MARROW), with the lab's reference range as collected and the derived CTCAE grade (SDTMIG 3.4 §6.3.5.6)."""
    rows: list[Record] = []
    rules: set[str] = set()
    for result in study.rows("lab_result"):
        rows.append(_lab_row(study, result))
        if result["grade_rule"]:
            rules.add(str(result["grade_rule"]))
    for assessment in study.rows("response_assessment"):
        if assessment["bm_blast_pct"] is not None:
            rows.append(_marrow_row(study, assessment))
    flag_last_before_exposure(rows, "LB", ("LBTESTCD", "LBSPEC"))
    variables = [_with_rules(v, rules) if v.name == "LBTOXGR" else v for v in LB_VARIABLES]
    return finish(
        "LB", "Laboratory Test Results", "FINDINGS",
        "One record per lab test per time point per visit per subject",
        ("STUDYID", "USUBJID", "LBTESTCD", "LBSPEC", "LBDTC", "LBSEQ"), variables, rows,
        lambda row: (row["LBDTC"], row["LBCAT"], row["LBTESTCD"], row["LBSPEC"]), study,
        value_level=[
            ValueLevel("LBORRES", "LBTESTCD EQ 'BLASTNCE'",
                       "Bone-marrow blasts, % of nucleated cells, from the response assessment form (LBSPEC BONE "
                       "MARROW).", COLLECTED),
            ValueLevel("LBORRES", "LBTESTCD NE 'BLASTNCE'", "The laboratory report's value as written (lab form).",
                       COLLECTED),
        ],
    )  # fmt: skip


def _with_rules(variable: Variable, rules: set[str]) -> Variable:
    used = ", ".join(sorted(rules)) if rules else "none in these data"
    return var(variable.name, variable.label, variable.data_type, variable.core, variable.origin,
               derivation=f"{variable.derivation}{used}.", values=variable.codelist_values)  # fmt: skip


def _nrind(value: Decimal | None, low: Decimal | None, high: Decimal | None) -> str | None:
    if value is None or (low is None and high is None):
        return None
    if low is not None and value < low:
        return "LOW"
    if high is not None and value > high:
        return "HIGH"
    return "NORMAL"


def _lab_row(study: SdtmStudy, result: Row) -> Record:
    subject = study.subject(result["subject_id"])
    code, name, category = LAB_TESTS[str(result["test_code"])]
    value = plain(result["value"])
    collected = iso(result["collected_at"])
    reason = result["value_missing_reason"]
    original = result["value_text"] or text(value)
    row = common_values(study, subject, "LB")
    row.update({
        "LBTESTCD": code, "LBTEST": name, "LBCAT": category,
        "LBORRES": original, "LBORRESU": result["unit"] if original is not None else None,
        "LBORNRLO": text(result["lln"]), "LBORNRHI": text(result["uln"]),
        "LBSTRESC": text(value) if value is not None else None, "LBSTRESN": value,
        "LBSTRESU": result["unit"] if value is not None else None,
        "LBSTNRLO": plain(result["lln"]), "LBSTNRHI": plain(result["uln"]),
        "LBNRIND": _nrind(value, result["lln"], result["uln"]),
        "LBSTAT": "NOT DONE" if original is None and reason is not None else None,
        "LBREASND": MISSING_REASONS.get(str(reason)) if original is None and reason is not None else None,
        "LBSPEC": SPECIMENS[str(result["specimen"])],
        "LBTOX": result["ctcae_term"],
        "LBTOXGR": None if result["ctcae_grade"] is None else str(result["ctcae_grade"]),
        "EPOCH": subject.epoch(result["collected_at"]), **study.visit_values(result["visit_id"]),
        "LBDTC": collected, "LBDY": subject.dy(collected),
        "_moment": result["collected_at"], "_before": _before_first_dose(subject, result["collected_at"]),
    })  # fmt: skip
    return row


def _marrow_row(study: SdtmStudy, assessment: Row) -> Record:
    subject = study.subject(assessment["subject_id"])
    code, name, category = MARROW_BLASTS
    value = plain(assessment["bm_blast_pct"])
    on = iso_date(assessment["assessed_on"])
    row = common_values(study, subject, "LB")
    row.update({
        "LBTESTCD": code, "LBTEST": name, "LBCAT": category,
        "LBORRES": text(value), "LBORRESU": "%", "LBSTRESC": text(value), "LBSTRESN": value, "LBSTRESU": "%",
        "LBSPEC": SPECIMENS["bone_marrow"],
        "EPOCH": subject.epoch(assessment["assessed_on"]), **study.visit_values(assessment["visit_id"]),
        "LBDTC": on, "LBDY": subject.dy(on),
        "_moment": assessment["assessed_on"], "_before": _before_first_dose(subject, assessment["assessed_on"]),
    })  # fmt: skip
    return row


# ------------------------------------------------------------------------------------------------ VS

#: vital_signs column -> (VSTESTCD, VSTEST, unit).
VITALS = {
    "temperature_c": ("TEMP", "Temperature", "C"),
    "heart_rate": ("HR", "Heart Rate", "beats/min"),
    "respiratory_rate": ("RESP", "Respiratory Rate", "breaths/min"),
    "systolic_bp": ("SYSBP", "Systolic Blood Pressure", "mmHg"),
    "diastolic_bp": ("DIABP", "Diastolic Blood Pressure", "mmHg"),
    "spo2_pct": ("OXYSAT", "Oxygen Saturation", "%"),
    "weight_kg": ("WEIGHT", "Weight", "kg"),
    "height_cm": ("HEIGHT", "Height", "cm"),
    "bsa_m2": ("BSA", "Body Surface Area", "m2"),
}
TIMEPOINTS = {"pre_infusion": ("PRE-INFUSION", 1), "post_infusion": ("POST-INFUSION", 2)}
#: The ELN 2022 response rule, with the version the database runs (RS value-level method).
ELN_RESPONSE_RULE = rule_label(eln.RESPONSE_RULE_ID, eln.RULE_VERSION)
BSA_RULE = (
    "Body surface area from HEIGHT and WEIGHT of the same measurement by the formula of setting "
    "dosing.bsa_formula (default Mosteller sqrt(H x W / 3600)), computed in Decimal to 28 significant digits and "
    "not rounded (jk500db.clinical.dosing.bsa, rule version 1)."
)

VS_VARIABLES = [
    *identifiers("VS"),
    var("VSTESTCD", "Vital Signs Test Short Name", TEXT, REQ, ASSIGNED, codelist="VSTESTCD",
        values=[t[0] for t in VITALS.values()]),
    var("VSTEST", "Vital Signs Test Name", TEXT, REQ, ASSIGNED, codelist="VSTEST",
        values=[t[1] for t in VITALS.values()]),
    var("VSORRES", "Result or Finding in Original Units", TEXT, EXP, COLLECTED,
        derivation="As entered; BSA is derived (see the value-level metadata)"),
    var("VSORRESU", "Original Units", TEXT, EXP, ASSIGNED, codelist="VSRESU", values=[t[2] for t in VITALS.values()]),
    var("VSSTRESC", "Character Result/Finding in Std Format", TEXT, EXP, DERIVED, derivation="VSORRES"),
    var("VSSTRESN", "Numeric Result/Finding in Standard Units", FLOAT, EXP, DERIVED, derivation="VSORRES as a number"),
    var("VSSTRESU", "Standard Units", TEXT, EXP, ASSIGNED, codelist="VSRESU", values=[t[2] for t in VITALS.values()]),
    var("VSLOBXFL", "Last Observation Before Exposure Flag", TEXT, EXP, DERIVED, codelist="NY", values=("Y",),
        derivation=LOBXFL_RULE),
    var("VSDRVFL", "Derived Flag", TEXT, PERM, DERIVED, codelist="NY", values=("Y",),
        derivation="Y on BSA records, derived from the HEIGHT and WEIGHT records of the same measurement"),
    epoch_variable("VSDTC"),
    *visit_variables(),
    var("VSDTC", "Date/Time of Measurements", DTC, EXP, COLLECTED),
    dy_variable("VSDY", "Study Day of Vital Signs", "VSDTC"),
    var("VSTPT", "Planned Time Point Name", TEXT, PERM, COLLECTED, values=[t[0] for t in TIMEPOINTS.values()],
        derivation="Before or after a JK500 infusion; null for routine measurements"),
    var("VSTPTNUM", "Planned Time Point Number", INTEGER, PERM, ASSIGNED),
    var("VSTPTREF", "Time Point Reference", TEXT, PERM, DERIVED, derivation="JK500 INFUSION <infusion number>"),
    var("VSRFTDTC", "Date/Time of Reference Time Point", DTC, PERM, DERIVED,
        derivation="Start of the JK500 infusion of VSTPTREF"),
]  # fmt: skip


def build_vs(study: SdtmStudy) -> list[Dataset]:
    """VS: one record per measurement taken (SDTMIG 3.4 §6.3.13), BSA included as a derived record."""
    infusions = {row["id"]: row for row in study.infusions}
    rows: list[Record] = []
    for vitals in study.rows("vital_signs"):
        subject = study.subject(vitals["subject_id"])
        measured = iso(vitals["measured_at"])
        timepoint = TIMEPOINTS.get(str(vitals["timepoint"]))
        infusion = infusions.get(vitals["infusion_id"]) if vitals["infusion_id"] is not None else None
        for column, (code, name, unit) in VITALS.items():
            value = vitals[column]
            if value is None:
                continue
            number = plain(value) if isinstance(value, Decimal) else Decimal(value)
            row = common_values(study, subject, "VS")
            row.update({
                "VSTESTCD": code, "VSTEST": name, "VSORRES": text(number), "VSORRESU": unit,
                "VSSTRESC": text(number), "VSSTRESN": number, "VSSTRESU": unit,
                "VSDRVFL": "Y" if code == "BSA" else None,
                "EPOCH": subject.epoch(vitals["measured_at"]), **study.visit_values(vitals["visit_id"]),
                "VSDTC": measured, "VSDY": subject.dy(measured),
                "VSTPT": None if timepoint is None else timepoint[0],
                "VSTPTNUM": None if timepoint is None else timepoint[1],
                "VSTPTREF": None if infusion is None else f"JK500 INFUSION {infusion['infusion_number']}",
                "VSRFTDTC": None if infusion is None else iso(infusion["started_at"]),
                "_moment": vitals["measured_at"], "_before": _before_first_dose(subject, vitals["measured_at"]),
            })  # fmt: skip
            rows.append(row)
    flag_last_before_exposure(rows, "VS", ("VSTESTCD",))
    return finish(
        "VS", "Vital Signs", "FINDINGS", "One record per vital sign measurement per time point per visit per subject",
        ("STUDYID", "USUBJID", "VSTESTCD", "VSDTC", "VSSEQ"), VS_VARIABLES, rows,
        lambda row: (row["VSDTC"], row["VSTPTNUM"], row["VSTESTCD"]), study,
        value_level=[
            ValueLevel("VSORRES", "VSTESTCD EQ 'BSA'", f"Origin Derived. {BSA_RULE}", DERIVED, BSA_RULE),
            ValueLevel("VSORRES", "VSTESTCD NE 'BSA'",
                       "Origin Collected: the measurement as entered on the vital signs form.", COLLECTED),
        ],
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ IE

IE_VARIABLES = [
    *identifiers("IE"),
    var("IETESTCD", "Inclusion/Exclusion Criterion Short Name", TEXT, REQ, PROTOCOL,
        values=tuple(CRITERIA_TEXT)),
    var("IETEST", "Inclusion/Exclusion Criterion", TEXT, REQ, PROTOCOL, derivation="TI.IETEST"),
    var("IECAT", "Inclusion/Exclusion Category", TEXT, REQ, PROTOCOL, codelist="IECAT",
        values=("INCLUSION", "EXCLUSION")),
    var("IEORRES", "I/E Criterion Original Result", TEXT, REQ, DERIVED, codelist="NY", values=NY,
        derivation="N for an inclusion criterion not met, Y for an exclusion criterion that applies: the status "
        "jk500db.clinical.eligibility derived from the screening data (evidence in SUPPIE.IEEVID), or the "
        "investigator's status where it differs (reason in SUPPIE.IEINVRSN)"),
    var("IESTRESC", "I/E Criterion Result in Std Format", TEXT, REQ, DERIVED, codelist="NY", values=NY,
        derivation="IEORRES"),
    epoch_variable("IEDTC"),
    *visit_variables(),
    var("IEDTC", "Date/Time of Collection", DTC, PERM, COLLECTED, derivation="The screening date"),
    dy_variable("IEDY", "Study Day of Collection", "IEDTC"),
]  # fmt: skip

SUPPIE = (
    Qualifier("IEEVID", "Evidence for the Criterion Status", DERIVED,
              description="The values and the rule that decided the derived status, as the database stores them."),
    Qualifier("IERULE", "Eligibility Rule and Version", DERIVED),
    Qualifier("IEINVRSN", "Investigator's Reason for Status", COLLECTED, "INVESTIGATOR",
              description="Why the investigator's status differs from the derived one."),
)


def build_ie(study: SdtmStudy) -> list[Dataset]:
    """IE: the criteria each subject did not meet (SDTMIG 3.4 §6.3.4: only criteria not met are recorded)."""
    supp = SuppCollector("IE")
    supp.define(*SUPPIE)
    screenings = {row["id"]: row for row in study.rows("screening")}
    screening_visits = _screening_visits(study, screenings.values())
    rows: list[Record] = []
    for criterion in study.rows("eligibility_criterion"):
        status = str(criterion["investigator_status"] or criterion["status"])
        if status != "fail":
            continue
        subject = study.subject(criterion["subject_id"])
        screening = screenings.get(criterion["screening_id"])
        on = None if screening is None else screening["screening_date"]
        code = str(criterion["code"])
        result = "N" if criterion_category(code) == "INCLUSION" else "Y"
        collected = iso_date(on)
        row = common_values(study, subject, "IE")
        row.update({
            "IETESTCD": code, "IETEST": CRITERIA_TEXT[code], "IECAT": criterion_category(code),
            "IEORRES": result, "IESTRESC": result, "EPOCH": subject.epoch(on),
            **study.visit_values(screening_visits.get(criterion["subject_id"])),
            "IEDTC": collected, "IEDY": subject.dy(collected),
        })  # fmt: skip
        supp.add(row, "IEEVID", criterion["evidence"])
        supp.add(row, "IERULE", criterion["rule"])
        supp.add(row, "IEINVRSN", criterion["investigator_reason"])
        rows.append(row)
    return finish(
        "IE", "Inclusion/Exclusion Criteria Not Met", "FINDINGS",
        "One record per inclusion/exclusion criterion not met per subject",
        ("STUDYID", "USUBJID", "IETESTCD"), IE_VARIABLES, rows,
        lambda row: (row["IECAT"] != "INCLUSION", row["IETESTCD"]), study, supp,
    )  # fmt: skip


def _screening_visits(study: SdtmStudy, screenings: Iterable[Row]) -> dict[int, int]:
    """Subject id -> the visit held on the screening date (IE's VISITNUM)."""
    dates = {row["subject_id"]: row["screening_date"] for row in screenings}
    return {
        visit["subject_id"]: visit["id"] for visit in study.visits
        if visit["visit_date"] is not None and dates.get(visit["subject_id"]) == visit["visit_date"]
        and study.visit_keys[visit["id"]].planned
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------ RS

ELN = "ELN 2022"
RESPONSES = ("CR", "CRH", "CRI", "MLFS", "PR", "NR", "NE")
RS_VARIABLES = [
    *identifiers("RS"),
    var("RSTESTCD", "Assessment Short Name", TEXT, REQ, ASSIGNED, codelist="ONCRTSCD", values=("OVRLRESP",)),
    var("RSTEST", "Assessment Name", TEXT, REQ, ASSIGNED, codelist="ONCRTS", values=("Overall Response",)),
    var("RSCAT", "Category for Assessment", TEXT, EXP, ASSIGNED, codelist="ONCRSCAT", values=(ELN,),
        derivation="Response criteria of the European LeukemiaNet 2022 (Döhner et al., Blood 2022;140:1345)"),
    var("RSORRES", "Result or Finding in Original Units", TEXT, EXP, COLLECTED,
        derivation="The ELN 2022 category as the database writes it (CR, CRh, CRi, MLFS, PR, NR, NE)"),
    var("RSSTRESC", "Character Result/Finding in Std Format", TEXT, EXP, DERIVED,
        values=RESPONSES, derivation="RSORRES in upper case"),
    var("RSEVAL", "Evaluator", TEXT, PERM, ASSIGNED, codelist="EVAL", values=("INVESTIGATOR",),
        derivation="INVESTIGATOR on the investigator's assessment; null on the category the database derived"),
    var("RSDRVFL", "Derived Flag", TEXT, PERM, DERIVED, codelist="NY", values=("Y",),
        derivation="Y on the category derived by jk500db.clinical.eln from the marrow and blood findings"),
    epoch_variable("RSDTC"),
    *visit_variables(),
    var("RSDTC", "Date/Time of Assessment", DTC, EXP, COLLECTED,
        derivation="Date of the marrow examination (or of the blood count when no marrow was taken)"),
    dy_variable("RSDY", "Study Day of Assessment", "RSDTC"),
]  # fmt: skip

SUPPRS = (
    Qualifier("RSMRDNEG", "MRD Negative", DERIVED,
              description="ELN 2022 MRD-negative suffix for CR/CRh/CRi: MRD below the assay threshold (flow "
              "default setting eln.mrd_threshold_pct)."),
    Qualifier("RSRULE", "Response Rule and Version", DERIVED),
    Qualifier("RSREASON", "Reasons for the Derived Category", DERIVED),
    Qualifier("RSINVRSN", "Investigator's Reason for Category", COLLECTED, "INVESTIGATOR"),
)


def build_rs(study: SdtmStudy) -> list[Dataset]:
    """RS: the ELN 2022 overall response of each assessment, derived and as the investigator assessed it
    (SDTMIG 3.4 §6.3.9.3), told apart by RSEVAL and RSDRVFL."""
    supp = SuppCollector("RS")
    supp.define(*SUPPRS)
    rows: list[Record] = []
    for assessment in study.rows("response_assessment"):
        subject = study.subject(assessment["subject_id"])
        derived = assessment["eln_category"]
        if derived is not None:
            row = _rs_row(study, subject, assessment, str(derived), evaluator=None)
            supp.add(row, "RSMRDNEG", None if assessment["mrd_negative"] is None else
                     ("Y" if assessment["mrd_negative"] else "N"))  # fmt: skip
            supp.add(row, "RSRULE", assessment["eln_rule"])
            supp.add(row, "RSREASON", assessment["eln_reasons"])
            rows.append(row)
        if assessment["investigator_category"] is not None:
            row = _rs_row(study, subject, assessment, str(assessment["investigator_category"]), "INVESTIGATOR")
            supp.add(row, "RSINVRSN", assessment["investigator_reason"])
            rows.append(row)
    return finish(
        "RS", "Disease Response and Clin Classification", "FINDINGS",
        "One record per response assessment per time point per visit per subject per assessor",
        ("STUDYID", "USUBJID", "RSTESTCD", "RSDTC", "RSEVAL", "RSSEQ"), RS_VARIABLES, rows,
        lambda row: (row["RSDTC"], row["RSEVAL"] is not None), study, supp,
        value_level=[
            ValueLevel("RSORRES", "RSDRVFL EQ 'Y'",
                       f"Origin Derived: ELN 2022 category computed by jk500db.clinical.eln ({ELN_RESPONSE_RULE}) "
                       "from marrow blasts, blood counts, circulating blasts and extramedullary disease; rule in "
                       "SUPPRS.RSRULE.", DERIVED,
                       f"The ELN 2022 category (Dohner et al., Blood 2022;140:1345) that {ELN_RESPONSE_RULE} "
                       "computes from the assessment's marrow blasts, neutrophils, platelets, circulating blasts "
                       "and extramedullary disease, with the settings stored beside it (SUPPRS.RSRULE)."),
            ValueLevel("RSORRES", "RSEVAL EQ 'INVESTIGATOR'",
                       "Origin Collected: the investigator's ELN 2022 category.", COLLECTED),
        ],
    )  # fmt: skip


def _rs_row(study: SdtmStudy, subject: SubjectFacts, assessment: Row, category: str, evaluator: str | None) -> Record:
    on = iso_date(assessment["assessed_on"])
    row = common_values(study, subject, "RS")
    row.update({
        "RSTESTCD": "OVRLRESP", "RSTEST": "Overall Response", "RSCAT": ELN,
        "RSORRES": category, "RSSTRESC": ct(category), "RSEVAL": evaluator,
        "RSDRVFL": "Y" if evaluator is None else None,
        "EPOCH": subject.epoch(assessment["assessed_on"]), **study.visit_values(assessment["visit_id"]),
        "RSDTC": on, "RSDY": subject.dy(on),
    })  # fmt: skip
    return row


# ---------------------------------------------------------------------------------------- CP and GF (MRD)

MRD_CODE, MRD_NAME = "MRD", "Measurable Residual Disease"
MRD_THRESHOLD = Qualifier("{}THRESH", "MRD Assay Threshold (%)", COLLECTED,
                          description="The assay's threshold; below it the result is MRD-negative.")


#: CP and GF name the same concepts with different labels (SDTMIG 3.4 §6.3.5.3, §6.3.5.4).
MRD_LABELS = {
    "CP": {
        "TESTCD": "Test or Examination Short Name", "TEST": "Name of Measurement, Test or Examination",
        "CAT": "Category", "SPEC": "Specimen Type", "DTC": "Date/Time of Collection",
        "DY": "Study Day of Visit/Collection/Exam",
    },
    "GF": {
        "TESTCD": "Short Name of Genomic Measurement", "TEST": "Name of Genomic Measurement",
        "CAT": "Category for Genomic Finding", "SPEC": "Specimen Material Type",
        "DTC": "Date/Time of Specimen Collection", "DY": "Study Day of Specimen Collection",
    },
}  # fmt: skip


def _mrd_variables(prefix: str, methods: tuple[str, ...], method_core: Core, extra: list[Variable]) -> list[Variable]:
    labels = MRD_LABELS[prefix]
    return [
        *identifiers(prefix),
        var(f"{prefix}TESTCD", labels["TESTCD"], TEXT, REQ, ASSIGNED, values=(MRD_CODE,),
            derivation="Sponsor-defined code: measurable residual disease, % of nucleated marrow cells"),
        var(f"{prefix}TEST", labels["TEST"], TEXT, REQ, ASSIGNED, values=(MRD_NAME,)),
        *extra,
        var(f"{prefix}CAT", labels["CAT"], TEXT, PERM, ASSIGNED, values=(MRD_NAME.upper(),)),
        var(f"{prefix}ORRES", "Result or Finding in Original Units", TEXT, EXP, COLLECTED),
        var(f"{prefix}ORRESU", "Original Units", TEXT, PERM, ASSIGNED, codelist="UNIT", values=("%",)),
        var(f"{prefix}STRESC", "Result or Finding in Standard Format", TEXT, EXP, DERIVED, derivation=f"{prefix}ORRES"),
        var(f"{prefix}STRESN", "Numeric Result/Finding in Standard Units", FLOAT, PERM, DERIVED,
            derivation=f"{prefix}ORRES as a number"),
        var(f"{prefix}STRESU", "Standard Units", TEXT, PERM, ASSIGNED, codelist="UNIT", values=("%",)),
        var(f"{prefix}SPEC", labels["SPEC"], TEXT, PERM, ASSIGNED, codelist="SPECTYPE", values=("BONE MARROW",)),
        var(f"{prefix}METHOD", "Method of Test or Examination", TEXT, method_core, COLLECTED, codelist="METHOD",
            values=methods),
        epoch_variable(f"{prefix}DTC"),
        *visit_variables(),
        var(f"{prefix}DTC", labels["DTC"], DTC, EXP, COLLECTED, derivation="Date of the marrow examination"),
        dy_variable(f"{prefix}DY", labels["DY"], f"{prefix}DTC"),
    ]  # fmt: skip


CP_VARIABLES = _mrd_variables(
    "CP", ("FLOW CYTOMETRY",), PERM,
    [var("CPMRKSTR", "Marker String", TEXT, EXP, COLLECTED,
         comment="Not collected: the JK500 response form records the flow MRD result and the assay threshold, not "
         "the leukaemia-associated immunophenotype, so CPMRKSTR is null for every record.")],
)
GF_VARIABLES = _mrd_variables(
    "GF", ("QUANTITATIVE POLYMERASE CHAIN REACTION", "NEXT GENERATION SEQUENCING"), EXP,
    [var("GFREFID", "Reference ID", TEXT, EXP, COLLECTED,
         comment="Not collected: the JK500 response form records no specimen identifier, so GFREFID is null for "
         "every record.")],
)
GF_METHODS = {"qpcr": "QUANTITATIVE POLYMERASE CHAIN REACTION", "ngs": "NEXT GENERATION SEQUENCING"}


def build_mrd(study: SdtmStudy) -> list[Dataset]:
    """Measurable residual disease: flow cytometry in CP (SDTMIG 3.4 §6.3.5.3), qPCR and NGS in GF (§6.3.5.4)."""
    domains: dict[str, tuple[list[Record], SuppCollector]] = {}
    for prefix in ("CP", "GF"):
        supp = SuppCollector(prefix)
        supp.define(Qualifier(MRD_THRESHOLD.qnam.format(prefix), MRD_THRESHOLD.qlabel, MRD_THRESHOLD.origin,
                              description=MRD_THRESHOLD.description))  # fmt: skip
        domains[prefix] = ([], supp)
    for assessment in study.rows("response_assessment"):
        method = assessment["mrd_method"]
        if method is None or assessment["mrd_pct"] is None:
            continue
        prefix = "CP" if str(method) == "flow" else "GF"
        rows, supp = domains[prefix]
        subject = study.subject(assessment["subject_id"])
        value = plain(assessment["mrd_pct"])
        on = iso_date(assessment["assessed_on"])
        row = common_values(study, subject, prefix)
        row.update({
            f"{prefix}TESTCD": MRD_CODE, f"{prefix}TEST": MRD_NAME, f"{prefix}CAT": MRD_NAME.upper(),
            f"{prefix}ORRES": text(value), f"{prefix}ORRESU": "%", f"{prefix}STRESC": text(value),
            f"{prefix}STRESN": value, f"{prefix}STRESU": "%", f"{prefix}SPEC": "BONE MARROW",
            f"{prefix}METHOD": "FLOW CYTOMETRY" if prefix == "CP" else GF_METHODS[str(method)],
            "EPOCH": subject.epoch(assessment["assessed_on"]), **study.visit_values(assessment["visit_id"]),
            f"{prefix}DTC": on, f"{prefix}DY": subject.dy(on),
        })  # fmt: skip
        supp.add(row, f"{prefix}THRESH", text(assessment["mrd_threshold_pct"]))
        rows.append(row)
    cp_rows, cp_supp = domains["CP"]
    gf_rows, gf_supp = domains["GF"]
    return [
        *finish("CP", "Cell Phenotype Findings", "FINDINGS",
                "One record per test per specimen per timepoint per visit per subject",
                ("STUDYID", "USUBJID", "CPTESTCD", "CPDTC", "CPSEQ"), CP_VARIABLES, cp_rows,
                lambda row: (row["CPDTC"],), study, cp_supp),
        *finish("GF", "Genomics Findings", "FINDINGS",
                "One record per finding per observation per biospecimen per subject",
                ("STUDYID", "USUBJID", "GFTESTCD", "GFMETHOD", "GFDTC", "GFSEQ"), GF_VARIABLES, gf_rows,
                lambda row: (row["GFDTC"], row["GFMETHOD"]), study, gf_supp),
    ]  # fmt: skip


def build_findings(study: SdtmStudy) -> list[Dataset]:
    return [*build_lb(study), *build_vs(study), *build_ie(study), *build_rs(study), *build_mrd(study)]
