"""The case-report forms of the study as the menu shows them: a title, a menu group and the columns listed.

Every clinical table of ``jk500db.models`` has one form; a test checks that none is missing, so a new table
cannot be left without a way to enter it.
"""

from __future__ import annotations

from dataclasses import dataclass

from jk500db.models import (
    AdverseEvent,
    ConcomitantMedication,
    Consent,
    CrsAssessment,
    CrsVasopressor,
    Death,
    DiseaseHistory,
    DrugAdministration,
    EligibilityCriterion,
    EndOfStudy,
    IcansAssessment,
    Infusion,
    LabResult,
    MolecularMarker,
    PriorTherapy,
    Procedure,
    ProtocolDeviation,
    ResponseAssessment,
    Screening,
    Subject,
    SurvivalFollowUp,
    Transplant,
    VirologyResult,
    Visit,
    VitalSigns,
)
from jk500db.models.base import ClinicalRecord

SCREENING = "Screening forms"
TREATMENT = "Treatment forms"
SAFETY = "Safety forms"
OUTCOME = "Outcome forms"


@dataclass(frozen=True)
class Crf:
    model: type[ClinicalRecord]
    #: menu label and page heading.
    title: str
    #: menu group.
    group: str
    #: columns of the list page after the subject (and visit), in order.
    listed: tuple[str, ...]
    #: entered columns that are not typed on this form: set by a workflow of their own (sign-off, the system).
    not_typed: tuple[str, ...] = ()

    @property
    def table_name(self) -> str:
        return str(self.model.__table__.name)  # type: ignore[attr-defined]


CRFS: tuple[Crf, ...] = (
    Crf(
        Subject,
        "Subjects (demographics)",
        SCREENING,
        ("subject_number", "sex", "status", "enrolled_on"),
        ("synthetic",),
    ),
    Crf(Consent, "Consent", SCREENING, ("kind", "document_version", "signed_on", "withdrawn_on")),
    Crf(DiseaseHistory, "Disease history", SCREENING, ("diagnosis_date", "genetic_risk", "induction_courses")),
    Crf(MolecularMarker, "Molecular markers", SCREENING, ("marker", "result", "vaf_pct")),
    Crf(PriorTherapy, "Prior therapy", SCREENING, ("line_number", "regimen", "therapy_type", "best_response")),
    Crf(
        Screening,
        "Screening",
        SCREENING,
        ("screening_date", "cns_status", "eligible_derived"),
        ("investigator_confirmed", "confirmed_by_id", "confirmed_at"),
    ),
    Crf(VirologyResult, "Virology", SCREENING, ("test", "result", "sampled_on")),
    Crf(EligibilityCriterion, "Eligibility criteria", SCREENING, ("code", "kind", "status", "investigator_status")),
    Crf(Visit, "Visits", TREATMENT, ("visit_code", "sequence", "visit_date", "status", "window_status")),
    Crf(VitalSigns, "Vital signs", TREATMENT, ("timepoint", "measured_at", "weight_kg", "height_cm", "bsa_m2")),
    Crf(LabResult, "Laboratory results", TREATMENT, ("test_code", "collected_at", "value", "unit", "ctcae_grade")),
    Crf(
        DrugAdministration,
        "Drug administration (lymphodepletion, IL-2)",
        TREATMENT,
        ("agent", "dose_number", "started_at", "actual_dose", "dose_unit", "planned_dose"),
    ),
    Crf(Infusion, "JK500 infusions", TREATMENT, ("infusion_number", "started_at", "product_lot", "dose_cells_per_kg")),
    Crf(
        AdverseEvent,
        "Adverse events",
        SAFETY,
        ("ae_number", "ctcae_term_id", "onset_date", "grade", "derived_grade", "serious", "dlt_candidate"),
        ("dlt_decision", "dlt_decided_by_id", "dlt_decided_at"),
    ),
    Crf(
        CrsAssessment,
        "CRS assessments",
        SAFETY,
        ("assessed_at", "max_temp_c", "hypotension", "oxygen_device", "astct_grade"),
    ),
    Crf(CrsVasopressor, "CRS vasopressors", SAFETY, ("assessment_id", "drug")),
    Crf(IcansAssessment, "ICANS assessments", SAFETY, ("assessed_at", "ice_score", "consciousness", "astct_grade")),
    Crf(ConcomitantMedication, "Concomitant medications", SAFETY, ("name", "category", "start_date", "ongoing")),
    Crf(Procedure, "Procedures", SAFETY, ("name", "performed_on")),
    Crf(
        ResponseAssessment,
        "Response assessments",
        OUTCOME,
        ("assessed_on", "bm_blast_pct", "eln_category", "investigator_category"),
    ),
    Crf(Transplant, "Transplant (HSCT)", OUTCOME, ("transplant_date", "donor_type")),
    Crf(EndOfStudy, "End of study", OUTCOME, ("status", "ended_on")),
    Crf(Death, "Death", OUTCOME, ("death_date", "cause")),
    Crf(SurvivalFollowUp, "Survival follow-up", OUTCOME, ("contact_date", "vital_status")),
    Crf(ProtocolDeviation, "Protocol deviations", OUTCOME, ("occurred_on", "category", "severity")),
)

GROUPS: tuple[str, ...] = (SCREENING, TREATMENT, SAFETY, OUTCOME)

#: Columns that identify a child directly: never exported from the lists (DESIGN.md: data managers do not
#: export identified data; statisticians use the de-identified exports).
IDENTIFIERS: dict[str, tuple[str, ...]] = {"subject": ("birth_date",), "consent": ("signer_name",)}


def crf_of_table(table_name: str) -> Crf | None:
    return next((crf for crf in CRFS if crf.table_name == table_name), None)
