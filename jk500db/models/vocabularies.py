"""Controlled vocabularies. Stored values are lower-case codes; exports map them to CDISC terms.

Each class is a ``StrEnum`` so code compares against members, and the database refuses anything else
through the CHECK constraint that ``Vocabulary`` columns carry.
"""

from __future__ import annotations

from enum import StrEnum


class RoleCode(StrEnum):
    DATA_MANAGER = "data_manager"
    MONITOR = "monitor"
    INVESTIGATOR = "investigator"
    STATISTICIAN = "statistician"
    ADMIN = "admin"


class MissingReason(StrEnum):
    """Why a value is absent; kept in its own column, never inside the value."""

    NOT_DONE = "not_done"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"


class FormCode(StrEnum):
    """Case-report forms. A form instance is (subject, visit or none, form code)."""

    CONSENT = "consent"
    DEMOGRAPHICS = "demographics"
    DISEASE_HISTORY = "disease_history"
    PRIOR_THERAPY = "prior_therapy"
    SCREENING = "screening"
    VIROLOGY = "virology"
    ELIGIBILITY = "eligibility"
    LABS = "labs"
    VITALS = "vitals"
    LYMPHODEPLETION = "lymphodepletion"
    IL2 = "il2"
    INFUSION = "infusion"
    CRS = "crs"
    ICANS = "icans"
    ADVERSE_EVENTS = "adverse_events"
    CONMEDS = "conmeds"
    PROCEDURES = "procedures"
    RESPONSE = "response"
    TRANSPLANT = "transplant"
    DISPOSITION = "disposition"
    DEATH = "death"
    SURVIVAL = "survival"
    DEVIATIONS = "deviations"


class Sex(StrEnum):
    """CDISC SEX codelist (C66731)."""

    MALE = "M"
    FEMALE = "F"
    UNKNOWN = "U"
    UNDIFFERENTIATED = "UNDIFFERENTIATED"


class SubjectStatus(StrEnum):
    SCREENING = "screening"
    SCREEN_FAILED = "screen_failed"
    ENROLLED = "enrolled"
    LYMPHODEPLETION = "lymphodepletion"
    INFUSED = "infused"
    FOLLOW_UP = "follow_up"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    DIED = "died"


class ConsentKind(StrEnum):
    GUARDIAN_CONSENT = "guardian_consent"
    ASSENT = "assent"
    RECONSENT = "reconsent"


class ConsentSigner(StrEnum):
    PARENT = "parent"
    LEGAL_GUARDIAN = "legal_guardian"
    SUBJECT = "subject"


class VisitAnchor(StrEnum):
    """What a visit's nominal day counts from."""

    LYMPHODEPLETION_START = "lymphodepletion_start"  # day -7
    FIRST_INFUSION = "first_infusion"  # day 0


class VisitStatus(StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    MISSED = "missed"
    NOT_APPLICABLE = "not_applicable"


class WindowStatus(StrEnum):
    EARLY = "early"
    IN_WINDOW = "in_window"
    LATE = "late"


class FormStatusCode(StrEnum):
    NOT_STARTED = "not_started"
    INCOMPLETE = "incomplete"
    COMPLETE = "complete"


class DoseBasis(StrEnum):
    MG_PER_KG = "mg/kg"
    MG_PER_M2 = "mg/m2"
    IU_PER_M2 = "IU/m2"
    WU_PER_M2 = "WU/m2"
    CELLS_PER_KG = "cells/kg"


class DoseUnit(StrEnum):
    MG = "mg"
    IU = "IU"
    CELLS = "cells"


class Agent(StrEnum):
    """Study treatments given before and with JK500."""

    CYCLOPHOSPHAMIDE = "cyclophosphamide"
    FLUDARABINE = "fludarabine"
    IL2 = "il2"
    JK500 = "jk500"


class Route(StrEnum):
    IV = "iv"
    SC = "sc"
    PO = "po"
    IM = "im"
    INHALED = "inhaled"
    TOPICAL = "topical"
    OTHER = "other"


class BsaFormula(StrEnum):
    MOSTELLER = "mosteller"
    HAYCOCK = "haycock"
    DUBOIS = "dubois"


class TherapyType(StrEnum):
    INDUCTION = "induction"
    CONSOLIDATION = "consolidation"
    SALVAGE = "salvage"
    HSCT = "hsct"
    TARGETED = "targeted"
    OTHER = "other"


class ResponseCategory(StrEnum):
    """ELN 2022 response categories (Döhner et al., Blood 2022;140:1345)."""

    CR = "CR"
    CRH = "CRh"
    CRI = "CRi"
    MLFS = "MLFS"
    PR = "PR"
    NR = "NR"
    NE = "NE"


class PriorResponse(StrEnum):
    """Best response to earlier therapy as the history records it (may be unknown)."""

    CR = "CR"
    CRH = "CRh"
    CRI = "CRi"
    MLFS = "MLFS"
    PR = "PR"
    NR = "NR"
    UNKNOWN = "unknown"


class MarkerResult(StrEnum):
    DETECTED = "detected"
    NOT_DETECTED = "not_detected"
    INDETERMINATE = "indeterminate"


class GeneticRisk(StrEnum):
    """ELN 2022 genetic risk at diagnosis."""

    FAVORABLE = "favorable"
    INTERMEDIATE = "intermediate"
    ADVERSE = "adverse"


class VirologyTest(StrEnum):
    HIV_AB = "hiv_ab"
    HBSAG = "hbsag"
    HBEAG = "hbeag"
    HCV_AB = "hcv_ab"
    TP_AB = "tp_ab"


class SerologyResult(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    INDETERMINATE = "indeterminate"


class CnsStatus(StrEnum):
    """CNS involvement by CSF findings (CNS1 none, CNS2 blasts < 5 WBC/uL, CNS3 >= 5 or clinical)."""

    CNS1 = "cns1"
    CNS2 = "cns2"
    CNS3 = "cns3"


class CongenitalSyndrome(StrEnum):
    """EX2's list; "none" is recorded explicitly so a blank is never read as absent."""

    NONE = "none"
    DOWN = "down"
    FANCONI_ANAEMIA = "fanconi_anaemia"
    BLOOM = "bloom"
    KOSTMANN = "kostmann"
    CONGENITAL_APLASTIC_ANAEMIA = "congenital_aplastic_anaemia"
    OTHER = "other"


class CriterionKind(StrEnum):
    INCLUSION = "inclusion"
    EXCLUSION = "exclusion"


class CriterionStatus(StrEnum):
    """pass: inclusion met or exclusion absent; fail: the opposite; missing: not evaluable."""

    PASS = "pass"
    FAIL = "fail"
    MISSING = "missing"


class LabTest(StrEnum):
    """CDISC LBTESTCD codes collected by this trial."""

    NEUT = "NEUT"
    PLAT = "PLAT"
    WBC = "WBC"
    LYM = "LYM"
    HGB = "HGB"
    ALT = "ALT"
    AST = "AST"
    BILI = "BILI"
    CREAT = "CREAT"
    K = "K"
    PHOS = "PHOS"
    FIBRINO = "FIBRINO"
    BLAST = "BLAST"  # circulating blasts (%)
    CRP = "CRP"
    FERRITIN = "FERRITIN"
    IL6 = "IL6"


class Specimen(StrEnum):
    BLOOD = "blood"
    SERUM = "serum"
    PLASMA = "plasma"
    BONE_MARROW = "bone_marrow"
    CSF = "csf"


class VitalTimepoint(StrEnum):
    PRE_INFUSION = "pre_infusion"
    POST_INFUSION = "post_infusion"
    ROUTINE = "routine"


class OxygenDevice(StrEnum):
    """ASTCT 2019 oxygen support, lowest to highest."""

    ROOM_AIR = "room_air"
    BLOW_BY = "blow_by"
    NASAL_CANNULA = "nasal_cannula"
    HIGH_FLOW_NASAL_CANNULA = "high_flow_nasal_cannula"
    FACEMASK = "facemask"
    NON_REBREATHER = "non_rebreather"
    VENTURI = "venturi"
    CPAP = "cpap"
    BIPAP = "bipap"
    MECHANICAL_VENTILATION = "mechanical_ventilation"


class Vasopressor(StrEnum):
    NOREPINEPHRINE = "norepinephrine"
    EPINEPHRINE = "epinephrine"
    DOPAMINE = "dopamine"
    PHENYLEPHRINE = "phenylephrine"
    VASOPRESSIN = "vasopressin"


class IcansInstrument(StrEnum):
    ICE = "ice"  # age >= 12
    CAPD = "capd"  # age < 12, or developmental delay


class CapdAnswer(StrEnum):
    NEVER = "never"
    RARELY = "rarely"
    SOMETIMES = "sometimes"
    OFTEN = "often"
    ALWAYS = "always"


class Consciousness(StrEnum):
    ALERT = "alert"
    AWAKENS_SPONTANEOUSLY = "awakens_spontaneously"
    AWAKENS_TO_VOICE = "awakens_to_voice"
    AWAKENS_TO_TACTILE = "awakens_to_tactile"
    UNAROUSABLE = "unarousable"


class Seizure(StrEnum):
    NONE = "none"
    RAPIDLY_RESOLVING = "rapidly_resolving"
    PROLONGED = "prolonged"


class RaisedIcp(StrEnum):
    NONE = "none"
    FOCAL_EDEMA = "focal_edema"
    DIFFUSE_EDEMA = "diffuse_edema"


class Relatedness(StrEnum):
    """Five-point causality scale."""

    NOT_RELATED = "not_related"
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"


class Expectedness(StrEnum):
    EXPECTED = "expected"
    UNEXPECTED = "unexpected"


class AeAction(StrEnum):
    """CDISC ACN codelist, lower case."""

    DOSE_NOT_CHANGED = "dose_not_changed"
    DRUG_INTERRUPTED = "drug_interrupted"
    DRUG_WITHDRAWN = "drug_withdrawn"
    DOSE_REDUCED = "dose_reduced"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"


class AeOutcome(StrEnum):
    """CDISC OUT codelist, lower case."""

    RECOVERED = "recovered"
    RECOVERING = "recovering"
    NOT_RECOVERED = "not_recovered"
    RECOVERED_WITH_SEQUELAE = "recovered_with_sequelae"
    FATAL = "fatal"
    UNKNOWN = "unknown"


class DltDecision(StrEnum):
    CONFIRMED = "confirmed"
    NOT_A_DLT = "not_a_dlt"


class MedicationCategory(StrEnum):
    TOCILIZUMAB = "tocilizumab"
    CORTICOSTEROID = "corticosteroid"
    ANTI_INFECTIVE = "anti_infective"
    TRANSFUSION = "transfusion"
    ANTIPYRETIC = "antipyretic"
    OTHER = "other"


class DonorType(StrEnum):
    MATCHED_SIBLING = "matched_sibling"
    MATCHED_UNRELATED = "matched_unrelated"
    HAPLOIDENTICAL = "haploidentical"
    CORD_BLOOD = "cord_blood"
    AUTOLOGOUS = "autologous"
    OTHER = "other"


class MrdMethod(StrEnum):
    FLOW = "flow"  # SDTM CP domain
    QPCR = "qpcr"  # SDTM GF domain
    NGS = "ngs"  # SDTM GF domain


class DispositionStatus(StrEnum):
    COMPLETED = "completed"
    SCREEN_FAILED = "screen_failed"
    WITHDRAWN = "withdrawn"
    DIED = "died"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


class WithdrawalBy(StrEnum):
    GUARDIAN = "guardian"
    SUBJECT = "subject"
    INVESTIGATOR = "investigator"
    SPONSOR = "sponsor"


class DeathCause(StrEnum):
    DISEASE_PROGRESSION = "disease_progression"
    ADVERSE_EVENT = "adverse_event"
    OTHER = "other"
    UNKNOWN = "unknown"


class VitalStatus(StrEnum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"


class DeviationSeverity(StrEnum):
    MAJOR = "major"
    MINOR = "minor"


class QueryStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class QueryOrigin(StrEnum):
    MANUAL = "manual"
    EDIT_CHECK = "edit_check"
    DERIVATION_MISMATCH = "derivation_mismatch"


class LockLevel(StrEnum):
    FORM = "form"
    VISIT = "visit"
    SUBJECT = "subject"
    STUDY = "study"


class LockMode(StrEnum):
    FREEZE = "freeze"  # queries still possible, data fixed
    LOCK = "lock"  # nothing changes


class SignatureMeaning(StrEnum):
    ELIGIBILITY_CONFIRMED = "eligibility_confirmed"
    AE_CAUSALITY_ASSESSED = "ae_causality_assessed"
    DLT_CONFIRMED = "dlt_confirmed"
    RESPONSE_CONFIRMED = "response_confirmed"
    CASEBOOK_REVIEWED = "casebook_reviewed"


class AuditAction(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class ChangeSource(StrEnum):
    UI = "ui"
    CLI = "cli"
    IMPORT = "import"
    SYSTEM = "system"


class SecurityEventKind(StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    LOCKED_OUT = "locked_out"
    UNLOCKED = "unlocked"
    SESSION_EXPIRED = "session_expired"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_DISABLED = "account_disabled"
    ROLE_CHANGED = "role_changed"
    SIGNATURE_FAILED = "signature_failed"
    #: the password given again, right, to confirm an act (an export) by someone already logged in; not a login.
    REAUTHENTICATED = "reauthenticated"
    #: a finished export's ZIP fetched from the exports page (who took the file, which job, its SHA-256).
    EXPORT_DOWNLOADED = "export_downloaded"


class ExportJobState(StrEnum):
    """Where an export asked for on the web page stands (``jk500db.export.jobs``)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ReportStatus(StrEnum):
    PENDING = "pending"
    OVERDUE = "overdue"
    SUBMITTED = "submitted"
    SUBMITTED_LATE = "submitted_late"
