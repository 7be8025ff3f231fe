"""Interventions (SDTMIG 3.4 §6.1): EX Exposure with SUPPEX, CM Concomitant/Prior Medications, PR Procedures."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal

from jk500db.export.datasets import Dataset
from jk500db.export.sdtm.common import (
    ASSIGNED,
    COLLECTED,
    DERIVED,
    DOSE_PLACES,
    DTC,
    EXP,
    FLOAT,
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
    divide,
    dy_variable,
    epoch_variable,
    finish,
    identifiers,
    iso,
    iso_date,
    iso_partial,
    plain,
    rule,
    text,
    var,
    visit_variables,
    yn,
)
from jk500db.export.snapshot import Row

#: Route vocabulary -> CDISC ROUTE terms (C66729).
ROUTES = {
    "iv": "INTRAVENOUS", "sc": "SUBCUTANEOUS", "po": "ORAL", "im": "INTRAMUSCULAR",
    "inhaled": "RESPIRATORY (INHALATION)", "topical": "TOPICAL", "other": "OTHER",
}  # fmt: skip

# ------------------------------------------------------------------------------------------------ EX

#: agent -> (EXTRT, EXCAT, EXDOSFRM, order within a day: lymphodepletion, IL-2 0.5-1 h before JK500, JK500).
TREATMENTS = {
    "cyclophosphamide": ("CYCLOPHOSPHAMIDE", "LYMPHODEPLETION", "INJECTION", 1),
    "fludarabine": ("FLUDARABINE", "LYMPHODEPLETION", "INJECTION", 2),
    "il2": ("INTERLEUKIN-2", "CYTOKINE", "INJECTION", 3),
    "jk500": ("JK500 CELL INJECTION", "CELL THERAPY", "SUSPENSION", 4),
}
#: Protocol dose units of EXDOSU (SDTMIG 3.4 §6.1.3.1 EX: doses in protocol-specified units).
DOSE_UNITS = {"cyclophosphamide": "mg/kg", "fludarabine": "mg/m2", "il2": "IU/m2", "jk500": "cells/kg"}
EXDOSE_RULE = (
    "Dose in the protocol's unit from the dose as given: cyclophosphamide mg / weight (kg) used for the dose; "
    "fludarabine mg / BSA (m²) used for the dose, i.e. the BSA rounded half-up to the places of setting "
    "dosing.bsa_round_dp; IL-2 IU / that BSA; JK500 cells infused / weight (kg) of the infusion. Quotients are "
    f"exact Decimals rounded half-up to {DOSE_PLACES} decimal places; the dose as given is in SUPPEX EXACTDOS and "
    f"EXACTU. Rule {rule('exdose')}"
)

EX_VARIABLES = [
    *identifiers("EX"),
    var("EXSPID", "Sponsor-Defined Identifier", TEXT, PERM, COLLECTED,
        derivation="Dose number within the agent (fludarabine 1-5, IL-2 1-6) or JK500 infusion number"),
    var("EXTRT", "Name of Treatment", TEXT, REQ, ASSIGNED, values=[t[0] for t in TREATMENTS.values()]),
    var("EXCAT", "Category of Treatment", TEXT, PERM, ASSIGNED, values=[t[1] for t in TREATMENTS.values()]),
    var("EXDOSE", "Dose", FLOAT, EXP, DERIVED, derivation=EXDOSE_RULE),
    var("EXDOSU", "Dose Units", TEXT, EXP, PROTOCOL, codelist="UNIT", values=DOSE_UNITS.values()),
    var("EXDOSFRM", "Dose Form", TEXT, EXP, ASSIGNED, codelist="FRM", values=[t[2] for t in TREATMENTS.values()]),
    var("EXROUTE", "Route of Administration", TEXT, PERM, COLLECTED, codelist="ROUTE", values=ROUTES.values()),
    var("EXLOT", "Lot Number", TEXT, PERM, COLLECTED,
        derivation="JK500 product lot from the certificate of release; null for the other agents (not collected)"),
    var("EXADJ", "Reason for Dose Adjustment", TEXT, PERM, COLLECTED,
        derivation="Why a JK500 infusion was not completed, as written"),
    epoch_variable("EXSTDTC"),
    *visit_variables(),
    var("EXSTDTC", "Start Date/Time of Treatment", DTC, EXP, COLLECTED),
    var("EXENDTC", "End Date/Time of Treatment", DTC, EXP, COLLECTED),
    dy_variable("EXSTDY", "Study Day of Start of Treatment", "EXSTDTC"),
    dy_variable("EXENDY", "Study Day of End of Treatment", "EXENDTC"),
]  # fmt: skip

SUPPEX = (
    Qualifier("EXACTDOS", "Dose as Administered", COLLECTED,
              description="The total dose given, as entered (mg, IU, or viable cells for JK500)."),
    Qualifier("EXACTU", "Unit of Dose as Administered", COLLECTED),
    Qualifier("EXPLDOS", "Planned Dose", DERIVED,
              description="Protocol dose per basis x body measure (jk500db.clinical.dosing, rule in EXDOSRUL)."),
    Qualifier("EXDOSRUL", "Dose Derivation Rule", DERIVED),
    Qualifier("EXDEVFL", "Dose Deviation Flag", DERIVED,
              description="Y when |actual - planned| / planned exceeds setting dosing.deviation_pct (rule "
              "dosing.deviation v1)."),
    Qualifier("EXBSA", "Body Surface Area Used (m2)", DERIVED,
              description="BSA rounded half-up to setting dosing.bsa_round_dp, by setting dosing.bsa_formula."),
    Qualifier("EXWEIGHT", "Weight Used for the Dose (kg)", COLLECTED),
    Qualifier("VIABPCT", "Product Cell Viability (%)", COLLECTED,
              description="Viability of the JK500 product as released."),
    Qualifier("EXVOLML", "Volume Infused (mL)", COLLECTED),
    Qualifier("EXCOMPL", "Infusion Completed", COLLECTED),
)  # fmt: skip


def build_ex(study: SdtmStudy) -> list[Dataset]:
    """EX: every dose of cyclophosphamide, fludarabine and IL-2 given, and one record per JK500 infusion with
    its lot (SDTMIG 3.4 §6.1.3.1). Doses recorded as not given are not exposure and are left out."""
    supp = SuppCollector("EX")
    supp.define(*SUPPEX)
    rows: list[Record] = []
    for administration in study.administrations:
        if administration["not_given"]:
            continue
        rows.append(_administration(study, administration, supp))
    for infusion in study.infusions:
        rows.append(_infusion(study, infusion, supp))
    return finish(
        "EX", "Exposure", "INTERVENTIONS",
        "One record per protocol-specified study treatment, constant-dosing interval, per subject",
        ("STUDYID", "USUBJID", "EXTRT", "EXSPID"), EX_VARIABLES, rows,
        lambda row: (row["EXSTDTC"], _order(row), int(str(row["EXSPID"]))), study, supp,
    )  # fmt: skip


def _order(row: Record) -> int:
    return next(order for name, _, _, order in TREATMENTS.values() if name == row["EXTRT"])


def _ex_base(
    study: SdtmStudy, subject: SubjectFacts, agent: str, started: dt.datetime | None, ended: dt.datetime | None
) -> Record:
    name, category, form, _ = TREATMENTS[agent]
    start, end = iso(started), iso(ended)
    row = common_values(study, subject, "EX")
    row.update({
        "EXTRT": name, "EXCAT": category, "EXDOSU": DOSE_UNITS[agent], "EXDOSFRM": form,
        "EPOCH": subject.epoch(started), "EXSTDTC": start, "EXENDTC": end,
        "EXSTDY": subject.dy(start), "EXENDY": subject.dy(end),
    })  # fmt: skip
    return row


def _administration(study: SdtmStudy, administration: Row, supp: SuppCollector) -> Record:
    agent = str(administration["agent"])
    subject = study.subject(administration["subject_id"])
    row = _ex_base(study, subject, agent, administration["started_at"], administration["ended_at"])
    actual, weight = administration["actual_dose"], administration["weight_kg"]
    bsa = _bsa_used(administration)
    row.update({
        "EXSPID": str(administration["dose_number"]),
        "EXDOSE": divide(actual, weight if DOSE_UNITS[agent].endswith("/kg") else bsa),
        "EXROUTE": ROUTES.get(str(administration["route"])),
        **study.visit_values(administration["visit_id"]),
    })  # fmt: skip
    supp.add(row, "EXACTDOS", text(actual))
    supp.add(row, "EXACTU", str(administration["dose_unit"]))
    supp.add(row, "EXPLDOS", text(plain(administration["planned_dose"])))
    supp.add(row, "EXDOSRUL", administration["dose_rule"])
    supp.add(row, "EXDEVFL", yn(administration["deviation"]))
    supp.add(row, "EXBSA", text(bsa))
    supp.add(row, "EXWEIGHT", text(weight))
    return row


def _bsa_used(administration: Row) -> Decimal | None:
    """The BSA the dose was computed with: the stored unrounded BSA rounded as the settings it was derived with say."""
    bsa = administration["bsa_m2"]
    if bsa is None:
        return None
    settings = json.loads(administration["dose_settings"] or "{}")
    places = settings.get("dosing.bsa_round_dp")
    if places is None:
        return plain(bsa)
    return bsa.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)


def _infusion(study: SdtmStudy, infusion: Row, supp: SuppCollector) -> Record:
    subject = study.subject(infusion["subject_id"])
    row = _ex_base(study, subject, "jk500", infusion["started_at"], infusion["ended_at"])
    cells, weight = infusion["cells_infused"], infusion["weight_kg"]
    row.update({
        "EXSPID": str(infusion["infusion_number"]),
        "EXDOSE": divide(cells, weight),
        "EXROUTE": ROUTES["iv"],
        "EXLOT": infusion["product_lot"],
        "EXADJ": None if infusion["completed"] else infusion["not_completed_reason"],
        **study.visit_values(infusion["visit_id"]),
    })  # fmt: skip
    supp.add(row, "EXACTDOS", text(plain(cells)))
    supp.add(row, "EXACTU", "cells" if cells is not None else None)
    supp.add(row, "EXPLDOS", text(plain(infusion["planned_cells_per_kg"])))
    supp.add(row, "EXWEIGHT", text(weight))
    supp.add(row, "VIABPCT", text(infusion["viability_pct"]))
    supp.add(row, "EXVOLML", text(infusion["volume_ml"]))
    supp.add(row, "EXCOMPL", "Y" if infusion["completed"] else "N")
    return row


# ------------------------------------------------------------------------------------------------ CM

MEDICATION_CATEGORIES = {
    "tocilizumab": "TOCILIZUMAB", "corticosteroid": "CORTICOSTEROID", "anti_infective": "ANTI-INFECTIVE",
    "transfusion": "TRANSFUSION", "antipyretic": "ANTIPYRETIC", "other": "OTHER",
}  # fmt: skip
PRIOR_THERAPY = "PRIOR ANTI-LEUKEMIA THERAPY"

CM_VARIABLES = [
    *identifiers("CM"),
    var("CMSPID", "Sponsor-Defined Identifier", TEXT, PERM, COLLECTED,
        derivation="Line number of a prior therapy; null for concomitant medications"),
    var("CMTRT", "Reported Name of Drug, Med, or Therapy", TEXT, REQ, COLLECTED),
    var("CMCAT", "Category for Medication", TEXT, PERM, COLLECTED,
        values=(*MEDICATION_CATEGORIES.values(), PRIOR_THERAPY),
        derivation="The medication category of the concomitant-medication form; PRIOR ANTI-LEUKEMIA THERAPY for "
        "the prior-therapy form"),
    var("CMSCAT", "Subcategory for Medication", TEXT, PERM, COLLECTED,
        values=("INDUCTION", "CONSOLIDATION", "SALVAGE", "TARGETED", "OTHER"),
        derivation="Kind of prior therapy line"),
    var("CMINDC", "Indication", TEXT, PERM, COLLECTED),
    var("CMDOSE", "Dose per Administration", FLOAT, PERM, COLLECTED),
    var("CMDOSU", "Dose Units", TEXT, PERM, COLLECTED, codelist="UNIT"),
    var("CMDOSFRQ", "Dosing Frequency per Interval", TEXT, PERM, COLLECTED, codelist="FREQ",
        derivation="The frequency as written, in upper case"),
    var("CMROUTE", "Route of Administration", TEXT, PERM, COLLECTED, codelist="ROUTE", values=ROUTES.values()),
    epoch_variable("CMSTDTC"),
    var("CMSTDTC", "Start Date/Time of Medication", DTC, PERM, COLLECTED,
        derivation="Prior therapies: partial dates as collected (year or year-month), never imputed"),
    var("CMENDTC", "End Date/Time of Medication", DTC, PERM, COLLECTED),
    dy_variable("CMSTDY", "Study Day of Start of Medication", "CMSTDTC"),
    dy_variable("CMENDY", "Study Day of End of Medication", "CMENDTC"),
    var("CMENRTPT", "End Relative to Reference Time Point", TEXT, PERM, COLLECTED, codelist="STENRF",
        values=("ONGOING",), derivation="ONGOING when the form says the medication is still given"),
    var("CMENTPT", "End Reference Time Point", DTC, PERM, DERIVED,
        derivation=f"The subject's last known contact (DM.RFPENDTC) for ongoing medications. Rule {rule('entpt')}"),
]  # fmt: skip

SUPPCM = (
    Qualifier("CMAENO", "Related Adverse Event Number", COLLECTED,
              description="AESPID of the adverse event the medication treats."),
    Qualifier("CMNCRS", "Number of Courses", COLLECTED),
    Qualifier("CMBRESP", "Best Response to Therapy Line", COLLECTED),
    Qualifier("CMSTDIND", "Standard-Dose Induction", COLLECTED,
              description="Y when the line is a standard-dose induction course (counts toward criterion IN3)."),
)  # fmt: skip


def build_cm(study: SdtmStudy) -> list[Dataset]:
    """CM: concomitant medications and the lines of anti-leukaemia therapy before the trial (SDTMIG 3.4
    §6.1.2); prior transplants are procedures (PR)."""
    supp = SuppCollector("CM")
    supp.define(*SUPPCM)
    ae_numbers = {row["id"]: row["ae_number"] for row in study.rows("adverse_event")}
    rows: list[Record] = []
    for medication in study.rows("concomitant_medication"):
        subject = study.subject(medication["subject_id"])
        start, end = iso_date(medication["start_date"]), iso_date(medication["end_date"])
        row = common_values(study, subject, "CM")
        row.update({
            "CMTRT": medication["name"], "CMCAT": MEDICATION_CATEGORIES[str(medication["category"])],
            "CMINDC": medication["indication"], "CMDOSE": medication["dose"], "CMDOSU": medication["dose_unit"],
            "CMDOSFRQ": ct(medication["frequency"]), "CMROUTE": ROUTES.get(str(medication["route"])),
            **_timing(subject, start, end, medication["ongoing"]),
        })  # fmt: skip
        supp.add(row, "CMAENO", ae_numbers.get(medication["adverse_event_id"]))
        rows.append(row)
    for therapy in study.rows("prior_therapy"):
        if str(therapy["therapy_type"]) == "hsct":
            continue
        subject = study.subject(therapy["subject_id"])
        start = iso_partial(therapy["start_year"], therapy["start_month"], therapy["start_day"])
        end = iso_partial(therapy["end_year"], therapy["end_month"], therapy["end_day"])
        row = common_values(study, subject, "CM")
        row.update({
            "CMSPID": str(therapy["line_number"]), "CMTRT": therapy["regimen"], "CMCAT": PRIOR_THERAPY,
            "CMSCAT": ct(therapy["therapy_type"]), **_timing(subject, start, end, False),
        })  # fmt: skip
        supp.add(row, "CMNCRS", therapy["courses"])
        supp.add(row, "CMBRESP", ct(therapy["best_response"]))
        supp.add(row, "CMSTDIND", "Y" if therapy["standard_dose_induction"] else "N")
        rows.append(row)
    return finish(
        "CM", "Concomitant/Prior Medications", "INTERVENTIONS",
        "One record per recorded intervention occurrence or constant-dosing interval per subject",
        ("STUDYID", "USUBJID", "CMTRT", "CMSTDTC", "CMSEQ"), CM_VARIABLES, rows,
        lambda row: (row["CMCAT"] != PRIOR_THERAPY, row["CMSTDTC"], row["CMTRT"]), study, supp,
    )  # fmt: skip


def _timing(subject: SubjectFacts, start: str | None, end: str | None, ongoing: bool) -> Record:
    return {
        "EPOCH": subject.epoch_of(start),
        "CMSTDTC": start, "CMENDTC": end, "CMSTDY": subject.dy(start), "CMENDY": subject.dy(end),
        "CMENRTPT": "ONGOING" if ongoing else None,
        "CMENTPT": iso_date(subject.last_contact) if ongoing else None,
    }  # fmt: skip


# ------------------------------------------------------------------------------------------------ PR

HSCT = "HEMATOPOIETIC STEM CELL TRANSPLANT"
PRIOR_HSCT, POST_HSCT, PROCEDURE = "PRIOR HSCT", "HSCT AFTER JK500", "PROCEDURE"

PR_VARIABLES = [
    *identifiers("PR"),
    var("PRTRT", "Reported Name of Procedure", TEXT, REQ, COLLECTED),
    var("PRCAT", "Category", TEXT, PERM, ASSIGNED, values=(PROCEDURE, PRIOR_HSCT, POST_HSCT),
        derivation="The form the procedure comes from: procedures, prior therapy (transplant lines) or transplant "
        "after JK500"),
    var("PRINDC", "Indication", TEXT, PERM, COLLECTED),
    epoch_variable("PRSTDTC"),
    var("PRSTDTC", "Start Date/Time of Procedure", DTC, EXP, COLLECTED,
        derivation="Prior transplants: partial dates as collected, never imputed"),
    var("PRENDTC", "End Date/Time of Procedure", DTC, PERM, COLLECTED),
    dy_variable("PRSTDY", "Study Day of Start of Procedure", "PRSTDTC"),
]  # fmt: skip

SUPPPR = (
    Qualifier("PRDONOR", "Donor Type", COLLECTED),
    Qualifier("PRCONDRG", "Conditioning Regimen", COLLECTED),
    Qualifier("PRPRERSP", "ELN 2022 Response Before Transplant", COLLECTED),
)


def build_pr(study: SdtmStudy) -> list[Dataset]:
    """PR: procedures, transplants before the trial, and transplants after JK500 (SDTMIG 3.4 §6.1.5)."""
    supp = SuppCollector("PR")
    supp.define(*SUPPPR)
    rows: list[Record] = []
    for procedure in study.rows("procedure"):
        start = iso_date(procedure["performed_on"])
        rows.append(_pr_row(study, procedure["subject_id"], procedure["name"], PROCEDURE, start, None,
                            procedure["indication"]))  # fmt: skip
    prior_lines = set()
    for therapy in study.rows("prior_therapy"):
        if str(therapy["therapy_type"]) != "hsct":
            continue
        prior_lines.add(therapy["subject_id"])
        start = iso_partial(therapy["start_year"], therapy["start_month"], therapy["start_day"])
        end = iso_partial(therapy["end_year"], therapy["end_month"], therapy["end_day"])
        rows.append(_pr_row(study, therapy["subject_id"], therapy["regimen"], PRIOR_HSCT, start, end, None))
    for history in study.rows("disease_history"):
        # A transplant the history records without its own therapy line would otherwise be lost.
        if history["prior_hsct"] and history["subject_id"] not in prior_lines:
            start = iso_partial(history["prior_hsct_year"], history["prior_hsct_month"], history["prior_hsct_day"])
            rows.append(_pr_row(study, history["subject_id"], HSCT, PRIOR_HSCT, start, None, None))
    for transplant in study.rows("transplant"):
        start = iso_date(transplant["transplant_date"])
        row = _pr_row(study, transplant["subject_id"], HSCT, POST_HSCT, start, None, None)
        supp.add(row, "PRDONOR", ct(transplant["donor_type"]))
        supp.add(row, "PRCONDRG", transplant["conditioning"])
        supp.add(row, "PRPRERSP", ct(transplant["pre_transplant_response"]))
        rows.append(row)
    return finish(
        "PR", "Procedures", "INTERVENTIONS", "One record per recorded procedure per occurrence per subject",
        ("STUDYID", "USUBJID", "PRTRT", "PRSTDTC", "PRSEQ"), PR_VARIABLES, rows,
        lambda row: (row["PRSTDTC"], row["PRCAT"], row["PRTRT"]), study, supp,
    )  # fmt: skip


def _pr_row(
    study: SdtmStudy, subject_id: int, name: str, category: str, start: str | None, end: str | None,
    indication: str | None,
) -> Record:  # fmt: skip
    subject = study.subject(subject_id)
    row = common_values(study, subject, "PR")
    row.update({
        "PRTRT": name, "PRCAT": category, "PRINDC": indication, "EPOCH": subject.epoch_of(start),
        "PRSTDTC": start, "PRENDTC": end, "PRSTDY": subject.dy(start),
    })  # fmt: skip
    return row


def build_interventions(study: SdtmStudy) -> list[Dataset]:
    return [*build_ex(study), *build_cm(study), *build_pr(study)]
