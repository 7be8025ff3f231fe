"""Every model of the trial, one module per clinical concept; importing this registers them all."""

from jk500db.models.adverse_event import SERIOUSNESS_CRITERIA, AdverseEvent
from jk500db.models.audit import AuditEvent, ExportJob, ExportRecord, SecurityEvent
from jk500db.models.base import Base, ClinicalRecord, SubjectRecord
from jk500db.models.crs import CrsAssessment, CrsVasopressor
from jk500db.models.disease import DiseaseHistory, MolecularMarker, PriorTherapy
from jk500db.models.disposition import Death, EndOfStudy, ProtocolDeviation, SurvivalFollowUp
from jk500db.models.icans import IcansAssessment
from jk500db.models.infusion import Infusion
from jk500db.models.lab import LabResult
from jk500db.models.medication import ConcomitantMedication, Procedure, Transplant
from jk500db.models.query import Query, QueryMessage
from jk500db.models.response import ResponseAssessment
from jk500db.models.review import RecordLock, SdvMark, Signature
from jk500db.models.screening import EligibilityCriterion, Screening, VirologyResult
from jk500db.models.study import (
    ExpectedForm,
    ProtocolVersion,
    RegimenItem,
    RuleSetting,
    Site,
    Study,
    StudyDefinitionVersion,
    VisitDefinition,
)
from jk500db.models.subject import Consent, Subject
from jk500db.models.terminology import CtcaeTerm
from jk500db.models.treatment import DrugAdministration
from jk500db.models.types import PartialDate, add_vocabulary_checks
from jk500db.models.users import Role, User, user_site
from jk500db.models.visit import FormStatus, Visit
from jk500db.models.vitals import VitalSigns

add_vocabulary_checks(Base.metadata)

__all__ = [
    "SERIOUSNESS_CRITERIA",
    "AdverseEvent",
    "AuditEvent",
    "Base",
    "ClinicalRecord",
    "ConcomitantMedication",
    "Consent",
    "CrsAssessment",
    "CrsVasopressor",
    "CtcaeTerm",
    "Death",
    "DiseaseHistory",
    "DrugAdministration",
    "EligibilityCriterion",
    "EndOfStudy",
    "ExpectedForm",
    "ExportJob",
    "ExportRecord",
    "FormStatus",
    "IcansAssessment",
    "Infusion",
    "LabResult",
    "MolecularMarker",
    "PartialDate",
    "PriorTherapy",
    "Procedure",
    "ProtocolDeviation",
    "ProtocolVersion",
    "Query",
    "QueryMessage",
    "RecordLock",
    "RegimenItem",
    "ResponseAssessment",
    "Role",
    "RuleSetting",
    "Screening",
    "SdvMark",
    "SecurityEvent",
    "Signature",
    "Site",
    "Study",
    "StudyDefinitionVersion",
    "Subject",
    "SubjectRecord",
    "SurvivalFollowUp",
    "Transplant",
    "User",
    "VirologyResult",
    "Visit",
    "VisitDefinition",
    "VitalSigns",
    "user_site",
]
