"""Generate a larger SYNTHETIC multi-site study for load tests and benchmarks.

``generate_study`` adds ``sites`` sites ("02", "03", ...; "01" comes from the study definition) and spreads
``subjects`` synthetic children over them, each with a plausible course: consent, disease history, screening
(about 10 % screen failures), lymphodepletion, IL-2 and JK500 infusions, visits on the definition's schedule with
realistic window jitter, about 15 lab results per lab visit, adverse events with CTCAE v5.0 terms, some CRS and
ICANS assessments, responses, survival contacts and dispositions. Only collected inputs are written; derived
columns stay NULL, as for the demo cohort. In a demo database (``jk500db init --demo``) the demo investigator then
signs each treated child's eligibility, dated before the first dose (LK-03, ``jk500db.demo.signoff``); that needs
the derived eligibility criteria, so the derivation pass runs then rather than at commit. Without the demo
accounts (a plain ``jk500db init`` has no accounts at all) there is nobody to sign, and eligibility stays unsigned.

Speed: rows are built as plain dicts and written with Core ``insert(table)`` executemany in batches (no ORM
objects). Primary keys of the tables other rows point at are assigned here, counting on from the current
maximum, so children can be built before their parents are written; PostgreSQL's sequences are moved past
them at the end. Everything is drawn from ``random.Random(seed)`` in a fixed order, so one seed gives one study.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.demo.cohort import CTCAE_VERSION, LabReference, load_lab_reference
from jk500db.demo.signoff import demo_investigator, sign_eligibility_before_treatment
from jk500db.models import (
    AdverseEvent,
    Base,
    ConcomitantMedication,
    Consent,
    CrsAssessment,
    CrsVasopressor,
    CtcaeTerm,
    Death,
    DiseaseHistory,
    DrugAdministration,
    EndOfStudy,
    ExpectedForm,
    IcansAssessment,
    Infusion,
    LabResult,
    MolecularMarker,
    PriorTherapy,
    ProtocolDeviation,
    ResponseAssessment,
    Screening,
    Site,
    Study,
    Subject,
    SurvivalFollowUp,
    Transplant,
    VirologyResult,
    Visit,
    VisitDefinition,
    VitalSigns,
)
from jk500db.models.vocabularies import FormCode, LabTest, VisitAnchor
from jk500db.services.study_definition import active_definition

STUDY_CODE = "JK500"
#: Site codes are two characters and "01" is the definition's own site, so at most 98 extra sites.
MAX_EXTRA_SITES = 98
#: Subject numbers are "SS-NNN": three digits of sequence per site.
MAX_SUBJECTS_PER_SITE = 999
FIRST_SCREENING = dt.date(2024, 1, 8)
ENROLMENT_DAYS = 730
#: Fixed data cut (never the wall clock): nothing happens after it.
DATA_CUT = dt.date(2026, 6, 30)
#: Subjects built before their rows are written (bounds memory; batches are what makes it fast).
BATCH_SUBJECTS = 200
#: Rows per executemany call.
CHUNK_ROWS = 5000
D = Decimal


def _table(model: type[Base]) -> sa.Table:
    # Declarative classes type __table__ as a FromClause; these models are all plain Tables.
    return cast(sa.Table, model.__table__)


#: Parents before children, so foreign keys hold at every insert.
INSERT_ORDER: tuple[sa.Table, ...] = tuple(
    _table(model)
    for model in (
        Subject,
        Consent,
        DiseaseHistory,
        MolecularMarker,
        PriorTherapy,
        Screening,
        VirologyResult,
        Visit,
        DrugAdministration,
        Infusion,
        VitalSigns,
        LabResult,
        AdverseEvent,
        CrsAssessment,
        CrsVasopressor,
        IcansAssessment,
        ConcomitantMedication,
        ResponseAssessment,
        Transplant,
        SurvivalFollowUp,
        ProtocolDeviation,
        EndOfStudy,
        Death,
    )
)
#: Tables whose ids other generated rows refer to; these ids are assigned here.
ID_TABLES: tuple[sa.Table, ...] = tuple(
    _table(model) for model in (Site, Subject, DiseaseHistory, Screening, Visit, Infusion, AdverseEvent, CrsAssessment)
)


# --- what a paediatric AML cohort looks like ---------------------------------------------------------------

#: (CTCAE term, relative frequency, weights of grades 1-4, onset window in protocol days).
AE_CATALOGUE: tuple[tuple[str, int, tuple[int, int, int, int], tuple[int, int]], ...] = (
    ("Nausea", 10, (70, 25, 5, 0), (-7, 5)),
    ("Vomiting", 8, (65, 30, 5, 0), (-7, 5)),
    ("Diarrhea", 6, (60, 30, 10, 0), (-3, 20)),
    ("Mucositis oral", 6, (40, 40, 20, 0), (0, 20)),
    ("Fever", 8, (70, 25, 5, 0), (0, 28)),
    ("Headache", 5, (80, 20, 0, 0), (0, 28)),
    ("Fatigue", 5, (70, 25, 5, 0), (0, 40)),
    ("Anorexia", 4, (60, 30, 10, 0), (-5, 30)),
    ("Abdominal pain", 4, (70, 25, 5, 0), (-5, 30)),
    ("Constipation", 4, (75, 25, 0, 0), (-5, 30)),
    ("Rash maculo-papular", 4, (70, 25, 5, 0), (0, 30)),
    ("Injection site reaction", 5, (90, 10, 0, 0), (0, 17)),
    ("Infusion related reaction", 3, (60, 35, 5, 0), (0, 17)),
    ("Hypokalemia", 5, (30, 30, 35, 5), (0, 30)),
    ("Hypophosphatemia", 3, (50, 40, 10, 0), (0, 30)),
    ("Hyponatremia", 2, (70, 0, 25, 5), (0, 30)),
    ("Hypoalbuminemia", 3, (40, 50, 10, 0), (0, 40)),
    ("Alanine aminotransferase increased", 5, (50, 30, 18, 2), (0, 30)),
    ("Aspartate aminotransferase increased", 4, (55, 30, 15, 0), (0, 30)),
    ("Blood bilirubin increased", 2, (50, 35, 15, 0), (0, 30)),
    ("Febrile neutropenia", 10, (0, 0, 95, 5), (3, 28)),
    ("Lung infection", 4, (0, 30, 60, 10), (5, 60)),
    ("Catheter related infection", 3, (0, 40, 60, 0), (0, 60)),
    ("Upper respiratory infection", 3, (40, 55, 5, 0), (10, 90)),
    ("Sepsis", 2, (0, 0, 40, 60), (10, 60)),
    ("Epistaxis", 3, (70, 25, 5, 0), (0, 30)),
    ("Hypotension", 2, (20, 50, 25, 5), (0, 20)),
    ("Hypoxia", 2, (0, 50, 45, 5), (0, 20)),
    ("Hypertension", 2, (40, 45, 15, 0), (0, 30)),
    ("Sinus tachycardia", 3, (70, 30, 0, 0), (0, 20)),
    ("Cough", 3, (70, 30, 0, 0), (0, 60)),
    ("Pruritus", 2, (75, 25, 0, 0), (0, 30)),
    ("Edema limbs", 2, (70, 30, 0, 0), (0, 30)),
    ("Tumor lysis syndrome", 1, (0, 0, 90, 10), (-7, 3)),
)
INFECTIONS = frozenset(
    {"Febrile neutropenia", "Lung infection", "Catheter related infection", "Sepsis", "Upper respiratory infection"}
)
#: Haematological toxicity of lymphodepletion: (term, probability, weights of grades 1-4).
CYTOPENIAS: tuple[tuple[str, float, tuple[int, int, int, int]], ...] = (
    ("Neutrophil count decreased", 0.9, (0, 0, 15, 85)),
    ("Platelet count decreased", 0.8, (0, 10, 40, 50)),
    ("Anemia", 0.7, (0, 40, 60, 0)),
    ("Lymphocyte count decreased", 0.4, (0, 0, 30, 70)),
    ("White blood cell decreased", 0.3, (0, 0, 40, 60)),
)
CRS_TERM = "Cytokine release syndrome"
#: CTCAE v5.0 has no ICANS term; trials record it under this term with the verbatim.
ICANS_TERM = "Nervous system disorders - Other, specify"
ICANS_VERBATIM = "Immune effector cell-associated neurotoxicity syndrome (ICANS)"
DEATH_TERMS = ("Sepsis", "Lung infection")
CRS_GRADES = (70, 22, 6, 2)
ICANS_GRADES = (55, 30, 15)

WHO_CLASSES = (
    ("AML with t(9;11)(p21.3;q23.3); KMT2A-MLLT3", "46,XY,t(9;11)(p21.3;q23.3)[20]", "intermediate", "KMT2A::MLLT3"),
    ("AML with mutated NPM1", "46,XX[20]", "favorable", "NPM1"),
    ("AML with inv(16)(p13.1q22); CBFB-MYH11", "46,XY,inv(16)(p13.1q22)[20]", "favorable", "CBFB::MYH11"),
    ("AML with t(8;21)(q22;q22.1); RUNX1-RUNX1T1", "46,XX,t(8;21)(q22;q22.1)[20]", "favorable", "RUNX1::RUNX1T1"),
    ("AML with myelodysplasia-related changes", "45,XY,-7[14]/46,XY[6]", "adverse", "monosomy 7"),
    ("AML with t(6;9)(p23;q34.1); DEK-NUP214", "46,XX,t(6;9)(p23;q34.1)[20]", "adverse", "DEK::NUP214"),
    ("Acute monoblastic and monocytic leukaemia", "47,XY,+8[12]/46,XY[8]", "intermediate", "FLT3-ITD"),
    ("Acute megakaryoblastic leukaemia", "46,XX,t(1;22)(p13.3;q13.1)[20]", "intermediate", "RBM15::MRTFA"),
    ("AML without maturation", "46,XY,t(7;12)(q36;p13)[16]/46,XY[4]", "adverse", "MNX1::ETV6"),
)
EXTRA_MARKERS = ("FLT3-ITD", "KIT exon 17", "WT1", "CEBPA", "TP53", "NRAS")
INDUCTIONS = (
    "DA 3+10 (daunorubicin, cytarabine)",
    "DAE (daunorubicin, cytarabine, etoposide)",
    "FLAG-Ida",
    "IA (idarubicin, cytarabine)",
)
SALVAGE = ("Venetoclax + azacitidine", "CLAG-M", "CAG (cytarabine, aclarubicin, G-CSF)", "Gilteritinib")
#: Screen-failure reasons and how often each occurs among screen failures.
SCREEN_FAILURES = (("hbsag", 3), ("cns", 3), ("infection", 2), ("organ", 2), ("late_relapse", 2), ("investigator", 1))
#: Median height (cm) and weight (kg) by completed year of age.
GROWTH = {
    1: (76, 10.0),
    2: (87, 12.5),
    3: (96, 14.3),
    4: (103, 16.3),
    5: (110, 18.4),
    6: (116, 20.7),
    7: (122, 23.1),
    8: (128, 25.8),
    9: (133, 28.6),
    10: (138, 32.0),
    11: (144, 35.6),
    12: (150, 40.0),
    13: (157, 45.0),
    14: (163, 50.0),
    15: (168, 55.0),
    16: (171, 59.0),
    17: (173, 62.0),
}
#: ELN 2022 category at D28 and how often it occurs. No PR: ELN needs the pre-treatment marrow blast % for it,
#: which the response form does not record, so a generated PR could never be derived as one.
RESPONSES = (("CR", 37), ("CRh", 8), ("CRi", 13), ("MLFS", 5), ("NR", 32), ("NE", 5))
REMISSIONS = frozenset({"CR", "CRh", "CRi"})
LAB_TESTS = (
    LabTest.NEUT,
    LabTest.PLAT,
    LabTest.WBC,
    LabTest.LYM,
    LabTest.HGB,
    LabTest.ALT,
    LabTest.AST,
    LabTest.BILI,
    LabTest.CREAT,
    LabTest.K,
    LabTest.PHOS,
    LabTest.FIBRINO,
    LabTest.CRP,
    LabTest.FERRITIN,
    LabTest.BLAST,
)
INFUSION_VISITS = ("INF1", "INF2", "INF3", "INF4", "INF5", "INF6")
#: Visits whose labs EX6 judges: eligibility takes the last result on or before the reference date, which is the
#: first lymphodepletion day, so the LD panel (drawn before the first dose) counts as well as screening's.
PRE_TREATMENT_VISITS = frozenset({"SCR", "LD"})
RELATEDNESS = ("not_related", "unlikely", "possible", "probable", "definite")


# --- results ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationSummary:
    """What ``generate_study`` wrote."""

    seed: int
    site_codes: tuple[str, ...]
    subject_numbers: tuple[str, ...]
    #: rows written per table.
    counts: Mapping[str, int]

    @property
    def subjects(self) -> int:
        return len(self.subject_numbers)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        return (
            f"{self.subjects} synthetic subjects at {len(self.site_codes)} sites "
            f"({self.site_codes[0]}-{self.site_codes[-1]}), {self.rows} rows, seed {self.seed}"
        )


# --- study context --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _VisitPlan:
    code: str
    definition_id: int
    anchor: VisitAnchor
    nominal_day: int
    before: int
    after: int
    forms: frozenset[FormCode]


@dataclass(frozen=True)
class _Study:
    study_id: int
    visits: tuple[_VisitPlan, ...]
    terms: Mapping[str, int]
    labs: Mapping[LabTest, LabReference]

    def visit(self, code: str) -> _VisitPlan:
        return next(plan for plan in self.visits if plan.code == code)


def _load_study(session: Session) -> _Study:
    study = session.scalar(sa.select(Study).where(Study.code == STUDY_CODE))
    definition = active_definition(session, STUDY_CODE)
    if study is None or definition is None:
        raise ValueError(f"load the {STUDY_CODE} study definition before generating a study")
    forms: dict[int, set[FormCode]] = defaultdict(set)
    for visit_id, form in session.execute(
        sa.select(ExpectedForm.visit_definition_id, ExpectedForm.form_code)
        .join(VisitDefinition)
        .where(VisitDefinition.definition_id == definition.id)
    ):
        forms[visit_id].add(form)
    plans = tuple(
        _VisitPlan(v.code, v.id, v.anchor, v.nominal_day or 0, v.window_before, v.window_after, frozenset(forms[v.id]))
        for v in definition.visits
    )
    wanted = {term for term, *_ in AE_CATALOGUE} | {term for term, *_ in CYTOPENIAS} | {CRS_TERM, ICANS_TERM}
    by_term = sa.select(CtcaeTerm.term, CtcaeTerm.id).where(
        CtcaeTerm.ctcae_version == CTCAE_VERSION, CtcaeTerm.term.in_(wanted)
    )
    terms = dict(session.execute(by_term).tuples().all())
    missing = sorted(wanted - set(terms))
    if missing:
        raise ValueError(f"load the CTCAE v5.0 terms before generating a study (missing: {', '.join(missing[:3])} ...)")
    return _Study(study.id, plans, terms, load_lab_reference())


# --- ids and rows ---------------------------------------------------------------------------------------------


class _Ids:
    """Next primary key per table, counting on from what the database already holds."""

    def __init__(self, session: Session) -> None:
        self._next = {table.name: (session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1 for table in ID_TABLES}

    def take(self, model: type[Base]) -> int:
        name = model.__tablename__
        value = self._next[name]
        self._next[name] = value + 1
        return value


class _Rows:
    """Rows waiting to be written, per table."""

    def __init__(self) -> None:
        self.pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.written: dict[str, int] = defaultdict(int)

    def add(self, model: type[Base], row: dict[str, Any]) -> None:
        self.pending[model.__tablename__].append(row)

    def write(self, session: Session) -> None:
        for table in INSERT_ORDER:
            rows = self.pending.pop(table.name, [])
            # executemany needs one set of keys per call; rows of a table differ only in optional columns.
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                by_keys[tuple(row)].append(row)
            for group in by_keys.values():
                for chunk in _chunks(group, CHUNK_ROWS):
                    session.execute(sa.insert(table), chunk)
            self.written[table.name] += len(rows)


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _sync_sequences(session: Session) -> None:
    """PostgreSQL: move each serial sequence past the ids assigned here (SQLite needs nothing)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ID_TABLES:
        sequence = session.scalar(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name})
        if sequence is None:
            continue
        # GREATEST: never move a sequence backwards past values another transaction may hold.
        highest = f"(SELECT coalesce(max(id), 1) FROM {table.name})"
        current = f"(SELECT last_value FROM {sequence})"
        session.execute(
            sa.text(f"SELECT setval(CAST(:sequence AS regclass), GREATEST({highest}, {current}))"),
            {"sequence": sequence},
        )


# --- small helpers ---------------------------------------------------------------------------------------------


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)


def _dec(value: float, places: int) -> Decimal:
    return D(repr(round(value, places))).quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _pick(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([name for name, _ in options], weights=[weight for _, weight in options])[0]


def _grade(rng: random.Random, weights: Sequence[int]) -> int:
    return rng.choices(range(1, len(weights) + 1), weights=weights)[0]


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = [
        31,
        29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    return dt.date(year, month, min(day.day, last))


def _partial(rng: random.Random, day: dt.date, prefix: str) -> dict[str, int | None]:
    """A date as the record has it: usually complete, sometimes only the month or the year."""
    precision = rng.choices(("day", "month", "year"), weights=(70, 22, 8))[0]
    return {
        f"{prefix}_year": day.year,
        f"{prefix}_month": day.month if precision != "year" else None,
        f"{prefix}_day": day.day if precision == "day" else None,
    }


# --- one subject ------------------------------------------------------------------------------------------------


@dataclass
class _Course:
    """The subject's path through the trial, decided before any row is built."""

    screen_failure: str | None
    ld: dt.date = FIRST_SCREENING
    d0: dt.date = FIRST_SCREENING
    #: last day anything can happen (death, withdrawal, loss to follow-up, or the data cut).
    stop: dt.date = DATA_CUT
    ending: str | None = None  # died, withdrawn, lost_to_follow_up, completed, or None (in follow-up)
    death_by_ae: bool = False
    infusions: int = 6
    response: str = "NR"
    relapse_visit: str | None = None
    transplant_after: str | None = None
    fatal_ae_id: int | None = None
    visit_days: dict[str, dt.date] = field(default_factory=dict)
    visit_ids: dict[str, int] = field(default_factory=dict)
    #: (ANC, PLT) of each response assessment, so the same visit's blood count agrees with it.
    response_counts: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)


class _SubjectBuilder:
    """Builds every row of one synthetic subject."""

    def __init__(
        self,
        rng: random.Random,
        study: _Study,
        rows: _Rows,
        ids: _Ids,
        site_id: int,
        number: str,
        screening_on: dt.date,
    ) -> None:
        self.rng = rng
        self.study = study
        self.rows = rows
        self.ids = ids
        self.number = number
        self.screening_on = screening_on
        self.subject_id = ids.take(Subject)
        self.site_id = site_id
        age = rng.choices(range(1, 18), weights=[4, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 5])[0]
        self.birth = screening_on - dt.timedelta(days=365 * age + rng.randint(20, 340))
        self.age = _age(self.birth, screening_on)
        median_height, median_weight = GROWTH[max(1, min(17, self.age))]
        self.height = _dec(median_height * rng.uniform(0.94, 1.06), 1)
        self.weight = _dec(median_weight * rng.uniform(0.85, 1.18), 1)
        self.sex = rng.choice(("M", "F"))
        self.ae_number = 0
        self.subject_row: dict[str, Any] = {}
        self.course = _Course(screen_failure=_pick(rng, SCREEN_FAILURES) if rng.random() < 0.10 else None)

    # The order of calls fixes the order of random draws: keep it stable for reproducibility.
    def build(self) -> None:
        self._plan_course()
        self._subject()
        self._consents()
        self._history()
        self._screening()
        self._visits()
        treated = self.course.screen_failure is None
        if treated:
            self._responses()
        self._labs()
        if treated:
            self._treatment()
            self._adverse_events()
            self._follow_up()
        self._disposition()

    # --- course ---------------------------------------------------------------------------------------------

    def _plan_course(self) -> None:
        rng, course = self.rng, self.course
        course.ld = self.screening_on + dt.timedelta(days=rng.randint(7, 20))
        course.d0 = course.ld + dt.timedelta(days=7)
        if course.screen_failure is not None:
            course.ending, course.stop = "screen_failed", self.screening_on + dt.timedelta(days=rng.randint(2, 6))
            return
        course.response = _pick(rng, RESPONSES)
        fate = rng.random()
        if fate < 0.10:
            course.ending, course.death_by_ae = "died", rng.random() < 0.4
            survival_days = rng.randint(20, 60) if course.death_by_ae else rng.randint(60, 500)
            course.stop = course.d0 + dt.timedelta(days=survival_days)
        elif fate < 0.15:
            course.ending, course.stop = "withdrawn", course.d0 + dt.timedelta(days=rng.randint(4, 200))
        elif fate < 0.17:
            course.ending, course.stop = "lost_to_follow_up", course.d0 + dt.timedelta(days=rng.randint(90, 500))
        course.stop = min(course.stop, DATA_CUT)
        if course.response in REMISSIONS:
            course.relapse_visit = rng.choice(("M3", "M6", "M12", "M18", None, None, None))
            course.transplant_after = rng.choice(("M2", "M3", None, None, None))

    # --- records ---------------------------------------------------------------------------------------------

    def _subject(self) -> None:
        course = self.course
        enrolled = self.screening_on + dt.timedelta(days=self.rng.randint(2, 6))
        self.subject_row = {
            "id": self.subject_id,
            "site_id": self.site_id,
            "subject_number": self.number,
            "screening_number": f"S{self.number}",
            "sex": self.sex,
            "birth_date": self.birth,
            "status": "follow_up",
            "enrolled_on": None if course.screen_failure else enrolled,
            "synthetic": True,
        }
        self.rows.add(Subject, self.subject_row)

    def _consents(self) -> None:
        signed = self.screening_on - dt.timedelta(days=self.rng.randint(0, 3))
        withdrawn = self.course.stop if self.course.ending == "withdrawn" else None
        self._add(
            Consent,
            kind="guardian_consent",
            document_version="1.0",
            signed_on=signed,
            signer=self.rng.choices(("parent", "legal_guardian"), weights=(85, 15))[0],
            signer_name=f"Synthetic guardian of {self.number}",
            withdrawn_on=withdrawn,
        )
        if self.age >= 8:
            self._add(
                Consent,
                kind="assent",
                document_version="1.0-assent",
                signed_on=signed,
                signer="subject",
                signer_name=f"Synthetic child {self.number}",
                withdrawn_on=withdrawn,
            )

    def _history(self) -> None:
        rng = self.rng
        who, karyotype, risk, marker = rng.choice(WHO_CLASSES)
        diagnosis = self.screening_on - dt.timedelta(days=rng.randint(150, 700))
        refractory = rng.random() < 0.55 and self.course.screen_failure != "late_relapse"
        history_id = self.ids.take(DiseaseHistory)
        row: dict[str, Any] = {
            "id": history_id,
            "who2016_class": who,
            "aml_who2016": True,
            "karyotype": karyotype,
            "genetic_risk": risk,
            "apl": False,
            "cml": False,
            "mixed_phenotype": False,
            "prior_hsct": False,
            **_partial(rng, diagnosis, "diagnosis"),
        }
        if refractory:
            row.update(induction_courses=2, best_response_after_induction=rng.choice(("NR", "PR", "NR")))
        else:
            # A relapse within six months of CR makes IN3; the late-relapse screen failure misses it.
            relapse = self.screening_on - dt.timedelta(days=rng.randint(10, 40))
            months_after = 9 if self.course.screen_failure == "late_relapse" else rng.randint(2, 5)
            cr = _add_months(relapse, -months_after) - dt.timedelta(days=rng.randint(0, 20))
            row.update(
                induction_courses=rng.choice((1, 2)),
                best_response_after_induction="CR",
                cr_year=cr.year,
                cr_month=cr.month,
                cr_day=cr.day,
                relapse_year=relapse.year,
                relapse_month=relapse.month,
                relapse_day=relapse.day,
            )
        self._add(DiseaseHistory, **row)
        for name in (marker, *rng.sample(EXTRA_MARKERS, rng.randint(0, 2))):
            detected = name == marker or rng.random() < 0.3
            self._add(
                MolecularMarker,
                history_id=history_id,
                marker=name,
                result="detected" if detected else "not_detected",
                vaf_pct=_dec(rng.uniform(5, 48), 1) if detected and rng.random() < 0.5 else None,
            )
        self._prior_therapies(diagnosis, refractory)

    def _prior_therapies(self, diagnosis: dt.date, refractory: bool) -> None:
        rng = self.rng
        start = diagnosis + dt.timedelta(days=rng.randint(2, 10))
        lines = [(rng.choice(INDUCTIONS), "induction", True, 2 if refractory else 1, "NR" if refractory else "CR")]
        if rng.random() < 0.6:
            lines.append((rng.choice(SALVAGE), "salvage", False, rng.randint(1, 3), rng.choice(("NR", "PR", "CR"))))
        for number, (regimen, kind, induction, courses, response) in enumerate(lines, start=1):
            end = min(start + dt.timedelta(days=30 * courses), self.screening_on - dt.timedelta(days=7))
            self._add(
                PriorTherapy,
                line_number=number,
                regimen=regimen,
                therapy_type=kind,
                standard_dose_induction=induction,
                courses=courses,
                best_response=response,
                **_partial(rng, start, "start"),
                **_partial(rng, max(start, end), "end"),
            )
            start = max(start, end) + dt.timedelta(days=rng.randint(14, 40))

    def _screening(self) -> None:
        failure = self.course.screen_failure
        screening_id = self.ids.take(Screening)
        self._add(
            Screening,
            id=screening_id,
            screening_date=self.screening_on,
            reference_date=self.course.ld,
            cns_status="cns3" if failure == "cns" else "cns1",
            cns_leukemia=failure == "cns",
            congenital_syndrome="none",
            active_systemic_infection=failure == "infection",
            infection_details="Invasive aspergillosis on CT" if failure == "infection" else None,
            prior_trial_drug=False,
            significant_disease_within_28_days=False,
            major_surgery=False,
            major_surgery_expected=False,
            live_vaccine=False,
            live_vaccine_planned_within_6_months=False,
            investigator_excludes=failure == "investigator",
            investigator_exclusion_reason="Poor performance status" if failure == "investigator" else None,
        )
        for test in ("hiv_ab", "hbsag", "hbeag", "hcv_ab", "tp_ab"):
            positive = failure == "hbsag" and test == "hbsag"
            self._add(
                VirologyResult,
                screening_id=screening_id,
                test=test,
                result="positive" if positive else "negative",
                sampled_on=self.screening_on,
            )

    # --- visits ----------------------------------------------------------------------------------------------

    def _visits(self) -> None:
        course = self.course
        self._visit("SCR", self.screening_on)
        if course.screen_failure is not None:
            return
        previous = self.screening_on
        for plan in self.study.visits[1:]:
            anchor = course.ld if plan.anchor is VisitAnchor.LYMPHODEPLETION_START else course.d0
            # Never on or before the previous visit, however the jitter falls.
            day = anchor + dt.timedelta(days=plan.nominal_day + self._jitter(plan))
            day = max(day, previous + dt.timedelta(days=1))
            if day > course.stop:
                break
            previous = day
            if plan.code.startswith("M") and self.rng.random() < 0.03:
                self._visit(plan.code, None, missed="Family unable to attend")
                continue
            self._visit(plan.code, day)
        course.infusions = sum(code in course.visit_days for code in INFUSION_VISITS)

    def _jitter(self, plan: _VisitPlan) -> int:
        """Days from nominal: mostly inside the window, now and then just outside it."""
        if plan.code == "INF1" or (plan.before == 0 and plan.after == 0):
            return 0
        draw = self.rng.random()
        if draw < 0.05:
            if self.rng.random() < 0.7:
                return plan.after + self.rng.randint(1, 3)  # late is commoner than early
            return -(plan.before + self.rng.randint(1, 2))
        if draw < 0.35:
            return 0
        return self.rng.randint(-plan.before, plan.after)

    def _visit(self, code: str, day: dt.date | None, missed: str | None = None) -> None:
        visit_id = self.ids.take(Visit)
        self._add(
            Visit,
            id=visit_id,
            visit_definition_id=self.study.visit(code).definition_id,
            visit_code=code,
            sequence=1,
            unscheduled=False,
            visit_date=day,
            status="missed" if missed else "completed",
            missed_reason=missed,
        )
        self.course.visit_ids[code] = visit_id
        if day is not None:
            self.course.visit_days[code] = day

    # --- treatment -------------------------------------------------------------------------------------------

    def _treatment(self) -> None:
        rng, course = self.rng, self.course
        bsa = D(str(round(math.sqrt(float(self.height) * float(self.weight) / 3600), 2)))
        measured = dict(height_cm=self.height, weight_kg=self.weight, measured_on=self.screening_on)
        ld_visit = course.visit_ids.get("LD")
        self._dose("cyclophosphamide", 1, ld_visit, course.ld, D(60) * self.weight, "mg", "iv", measured, 10)
        for number in range(1, 6):
            day = course.ld + dt.timedelta(days=number)
            self._dose("fludarabine", number, ld_visit, day, D(25) * bsa, "mg", "iv", measured, 0.5)
        lot = f"JK500-{course.d0:%y%m}-{rng.randint(1, 99):02d}"
        for number in range(1, course.infusions + 1):
            code = f"INF{number}"
            day, visit_id = course.visit_days[code], course.visit_ids[code]
            self._dose("il2", number, visit_id, day, D(1_000_000) * bsa, "IU", "sc", measured, 10000, hour=1)
            infusion_id = self.ids.take(Infusion)
            cells = (self.weight * D(10_000_000) * D(str(round(rng.uniform(0.9, 1.1), 2)))).quantize(D("1E6"))
            self._add(
                Infusion,
                id=infusion_id,
                visit_id=visit_id,
                infusion_number=number,
                started_at=_at(day, 2),
                ended_at=_at(day, 2, rng.randint(20, 45)),
                product_lot=f"{lot}-{number:02d}",
                cells_infused=cells,
                weight_kg=self.weight,
                viability_pct=_dec(rng.uniform(85, 97), 1),
                volume_ml=_dec(float(self.weight) * 1.5, 0),
                infusion_reaction=False,
                completed=True,
            )
            for timepoint, hour in (("pre_infusion", 1), ("post_infusion", 3)):
                self._vitals(visit_id, day, hour, timepoint, infusion_id)

    def _dose(
        self,
        agent: str,
        number: int,
        visit_id: int | None,
        day: dt.date,
        planned: Decimal,
        unit: str,
        route: str,
        measured: Mapping[str, Any],
        step: float,
        hour: int = 2,
    ) -> None:
        """One dose as the pharmacy rounds it; about 2 % deviate by more than 10 %."""
        factor = self.rng.uniform(1.12, 1.2) if self.rng.random() < 0.02 else self.rng.uniform(0.98, 1.02)
        actual = _dec(round(float(planned) * factor / step) * step, 1 if step < 1 else 0)
        self._add(
            DrugAdministration,
            visit_id=visit_id,
            agent=agent,
            dose_number=number,
            route=route,
            started_at=_at(day, hour, 15),
            ended_at=None if route == "sc" else _at(day, hour + 1),
            actual_dose=actual,
            dose_unit=unit,
            not_given=False,
            **measured,
        )
        if factor > 1.1:
            self._add(
                ProtocolDeviation,
                occurred_on=day,
                category="dosing",
                severity="minor",
                description=f"{agent} dose {number}: {actual} {unit} given, {factor - 1:.0%} above the prescribed dose",
                reported_on=day + dt.timedelta(days=2),
            )

    def _vitals(self, visit_id: int, day: dt.date, hour: int, timepoint: str, infusion_id: int | None = None) -> None:
        rng = self.rng
        young = self.age < 6
        self._add(
            VitalSigns,
            visit_id=visit_id,
            infusion_id=infusion_id,
            timepoint=timepoint,
            measured_at=_at(day, hour, rng.randint(0, 59)),
            temperature_c=_dec(rng.gauss(36.8, 0.3), 1),
            heart_rate=int(rng.gauss(110 if young else 85, 10)),
            respiratory_rate=int(rng.gauss(24 if young else 18, 2)),
            systolic_bp=int(rng.gauss(95 if young else 110, 8)),
            diastolic_bp=int(rng.gauss(58 if young else 68, 6)),
            spo2_pct=D(rng.choice((97, 98, 99, 100))),
            weight_kg=self.weight if timepoint == "routine" else None,
            height_cm=self.height if timepoint == "routine" else None,
        )

    # --- labs -------------------------------------------------------------------------------------------------

    def _labs(self) -> None:
        for plan in self.study.visits:
            day = self.course.visit_days.get(plan.code)
            if day is None:
                continue
            if FormCode.VITALS in plan.forms:
                self._vitals(self.course.visit_ids[plan.code], day, 1, "routine")
            if FormCode.LABS in plan.forms:
                self._lab_panel(plan.code, day)

    def _lab_panel(self, code: str, day: dt.date) -> None:
        rng = self.rng
        age = min(_age(self.birth, day), 18)
        collected = _at(day, 0, rng.randint(0, 59))
        counts = self._counts(code)
        for test in LAB_TESTS:
            reference = self.study.labs[test]
            lln, uln = reference.limits(age)
            pre_treatment = code in PRE_TREATMENT_VISITS
            value = counts[test] if test in counts else self._chemistry(test, lln, uln, pre_treatment=pre_treatment)
            if test is LabTest.ALT and self.course.screen_failure == "organ" and uln is not None:
                value = uln * 3  # EX6: ALT above 2 x ULN
            self._add(
                LabResult,
                visit_id=self.course.visit_ids[code],
                test_code=test.value,
                specimen=reference.specimen.value,
                collected_at=collected,
                value_text=str(value),
                value=value,
                unit=reference.unit,
                lln=lln,
                uln=uln,
                transfusion_indicated=test is LabTest.HGB and value < D(7),
            )

    def _counts(self, code: str) -> dict[LabTest, Decimal]:
        """Blood counts: low at screening, aplastic after lymphodepletion, recovering by response."""
        rng, course = self.rng, self.course
        recovered = course.response in REMISSIONS and code in ("D28", "M2", "M3", "M6") and code != course.relapse_visit
        assessed = course.response_counts.get(code)
        phase = {
            "SCR": 1.0,
            "LD": 0.9,
            "INF1": 0.3,
            "INF2": 0.12,
            "INF3": 0.06,
            "INF4": 0.06,
            "INF5": 0.1,
            "INF6": 0.2,
            "D21": 0.5,
        }.get(code, 3.0 if recovered else 0.6)
        neut = _dec(max(0.01, rng.uniform(0.3, 1.2) * phase), 2)
        plat = _dec(max(3.0, rng.uniform(20, 70) * (phase if phase < 1 else phase * 1.5)), 0)
        if assessed is not None:
            neut, plat = assessed
        lym = _dec(max(0.02, rng.uniform(0.8, 2.0) * min(phase * 1.5, 1.2)), 2)
        blasts = D(0) if recovered else _dec(rng.uniform(0, 30 if code in ("SCR", "LD") else 15), 0)
        wbc = _dec(float(neut + lym) + rng.uniform(0.05, 0.5) + float(blasts) / 20, 2)
        hgb = _dec(rng.uniform(6.6, 10.5) if not recovered else rng.uniform(10, 13), 1)
        return {
            LabTest.NEUT: neut,
            LabTest.PLAT: plat,
            LabTest.LYM: lym,
            LabTest.WBC: wbc,
            LabTest.HGB: hgb,
            LabTest.BLAST: blasts,
        }

    def _chemistry(self, test: LabTest, lln: Decimal | None, uln: Decimal | None, *, pre_treatment: bool) -> Decimal:
        """Mostly within the reference range; inflammation markers and transaminases now and then raised
        (never before treatment, where a raised transaminase would exclude the child under EX6)."""
        low, high = float(lln or 0), float(uln or 1)
        if test in (LabTest.CRP, LabTest.FERRITIN) and self.rng.random() < 0.2:
            return _dec(high * self.rng.uniform(1.5, 12), 0)
        if test in (LabTest.ALT, LabTest.AST) and self.rng.random() < 0.06 and not pre_treatment:
            return _dec(high * self.rng.uniform(1.2, 6), 0)
        places = 0 if high >= 20 else 1 if high >= 3 else 2
        return _dec(low + (high - low) * self.rng.uniform(0.15, 0.85), places)

    # --- adverse events ---------------------------------------------------------------------------------------

    def _adverse_events(self) -> None:
        rng, course = self.rng, self.course
        for term, probability, weights in CYTOPENIAS:
            if rng.random() < probability:
                self._ae(
                    term,
                    course.ld + dt.timedelta(days=rng.randint(2, 8)),
                    _grade(rng, weights),
                    duration=rng.randint(10, 40),
                    lymphodepletion="probable",
                )
        catalogue = [(term, weight) for term, weight, *_ in AE_CATALOGUE]
        details = {term: (grades, window) for term, _, grades, window in AE_CATALOGUE}
        for _ in range(rng.randint(1, 6)):
            term = rng.choices([t for t, _ in catalogue], weights=[w for _, w in catalogue])[0]
            grades, (first, last) = details[term]
            self._ae(
                term,
                course.d0 + dt.timedelta(days=rng.randint(first, last)),
                _grade(rng, grades),
                duration=rng.randint(1, 14),
            )
        if rng.random() < 0.35:
            self._crs_episode()
        if rng.random() < 0.08:
            self._icans_episode()
        if course.ending == "died" and course.death_by_ae:
            course.fatal_ae_id = self._ae(
                rng.choice(DEATH_TERMS), course.stop - dt.timedelta(days=rng.randint(0, 5)), 5, duration=0, fatal=True
            )

    def _ae(
        self,
        term: str,
        onset: dt.date,
        grade: int,
        *,
        duration: int,
        lymphodepletion: str | None = None,
        verbatim: str | None = None,
        fatal: bool = False,
    ) -> int | None:
        """One adverse event; returns its id, or None when it would fall after the subject's last day."""
        rng, course = self.rng, self.course
        if onset > course.stop or onset < course.ld:
            return None
        ae_id = self.ids.take(AdverseEvent)
        self.ae_number += 1
        end = onset + dt.timedelta(days=duration)
        ongoing = end > course.stop and not fatal
        serious = (
            fatal or (grade >= 3 and term in INFECTIONS and rng.random() < 0.5) or (grade == 4 and rng.random() < 0.2)
        )
        immune = term in (CRS_TERM, ICANS_TERM)  # the expected toxicities of NK cells + IL-2
        related = "probable" if immune else RELATEDNESS[min(4, max(0, int(rng.gauss(2, 1))))]
        row: dict[str, Any] = {
            "id": ae_id,
            "ae_number": self.ae_number,
            "ctcae_term_id": self.study.terms[term],
            "verbatim": verbatim or (term if term != ICANS_TERM else None),
            "onset_date": onset,
            "end_date": None if ongoing else min(end, course.stop),
            "ongoing": ongoing,
            "grade": grade,
            "serious": serious,
            "serious_death": fatal,
            "serious_life_threatening": serious and grade >= 4,
            "serious_hospitalisation": (serious and grade < 4) or fatal,
            "related_jk500": "unlikely" if lymphodepletion else related,
            "related_il2": rng.choice(RELATEDNESS[:3]),
            "related_lymphodepletion": lymphodepletion or rng.choice(RELATEDNESS[:4]),
            "attributed_elsewhere": grade >= 3 and not immune and rng.random() < 0.3,
            "expectedness": "expected" if rng.random() < 0.85 else "unexpected",
            "action_taken": "dose_not_changed" if onset <= course.d0 + dt.timedelta(days=17) else "not_applicable",
            "outcome": "fatal" if fatal else "not_recovered" if ongoing else "recovered",
        }
        row.update(self._reporting(onset, serious))
        self._add(AdverseEvent, **row)
        if term in INFECTIONS:
            self._conmed("Meropenem", "anti_infective", term, ae_id, onset, duration)
        return ae_id

    def _reporting(self, onset: dt.date, serious: bool) -> dict[str, Any]:
        """SAE clocks: awareness, and the report to the sponsor (about one in ten late, a few not yet sent)."""
        if not serious:
            return {"awareness_at": None, "sponsor_reported_at": None}
        aware = _at(onset, self.rng.randint(0, 12), self.rng.randint(0, 59))
        draw = self.rng.random()
        if draw < 0.03:
            return {"awareness_at": aware, "sponsor_reported_at": None}
        hours = self.rng.uniform(26, 80) if draw < 0.13 else self.rng.uniform(1, 20)
        return {"awareness_at": aware, "sponsor_reported_at": aware + dt.timedelta(hours=round(hours, 1))}

    def _crs_episode(self) -> None:
        rng = self.rng
        grade = _grade(rng, CRS_GRADES)
        onset = self.course.d0 + dt.timedelta(days=rng.choice((0, 1, 3, 4, 7, 8)))
        ae_id = self._ae(CRS_TERM, onset, grade, duration=rng.randint(1, 5), verbatim="Cytokine release syndrome")
        if ae_id is None:
            return
        if grade >= 2:
            self._conmed(
                "Tocilizumab", "tocilizumab", "cytokine release syndrome", ae_id, onset, 0, dose=D(8), unit="mg/kg"
            )
        for step in range(rng.randint(1, 3)):
            if onset + dt.timedelta(days=step) > self.course.stop:
                break
            self._crs_assessment(
                ae_id,
                onset + dt.timedelta(days=step),
                grade if step == 0 else max(1, grade - step),
                treated=step > 0 and grade >= 2,
            )

    def _crs_assessment(self, ae_id: int, day: dt.date, grade: int, *, treated: bool) -> None:
        """Inputs that the ASTCT 2019 table grades as ``grade``."""
        rng = self.rng
        assessment_id = self.ids.take(CrsAssessment)
        device, flow, hypotension = "room_air", None, False
        pressors: tuple[str, ...] = ()
        if grade == 2:
            if rng.random() < 0.5:
                hypotension = True
            else:
                device, flow = "nasal_cannula", _dec(rng.choice((1, 2, 3, 4)), 0)
        elif grade == 3:
            if rng.random() < 0.5:
                hypotension, pressors = True, ("norepinephrine",)
            else:
                device = rng.choice(("facemask", "high_flow_nasal_cannula", "non_rebreather"))
        elif grade == 4:
            hypotension, pressors = True, ("norepinephrine", "epinephrine")
        self._add(
            CrsAssessment,
            id=assessment_id,
            adverse_event_id=ae_id,
            assessed_at=_at(day, rng.randint(0, 23)),
            max_temp_c=_dec(rng.uniform(38.1, 40.2), 1),
            prior_crs_treated=treated,
            hypotension=hypotension,
            oxygen_device=device,
            oxygen_flow_l_min=flow,
            intubated_for_airway_only=False,
            tocilizumab_given=grade >= 2 and not treated,
            steroids_given=grade >= 3,
            other_cause=False,
            death=False,
        )
        for drug in pressors:
            self._add(CrsVasopressor, assessment_id=assessment_id, drug=drug)

    def _icans_episode(self) -> None:
        rng = self.rng
        grade = _grade(rng, ICANS_GRADES)
        onset = self.course.d0 + dt.timedelta(days=rng.randint(2, 10))
        ae_id = self._ae(ICANS_TERM, onset, grade, duration=rng.randint(1, 4), verbatim=ICANS_VERBATIM)
        if ae_id is None:
            return
        age = _age(self.birth, onset)
        scores: dict[str, Any]
        if age >= 12:
            scores = {"ice_score": {1: rng.randint(7, 9), 2: rng.randint(3, 6), 3: rng.randint(0, 2)}[grade]}
        else:
            scores = self._capd_answers(grade)
        self._add(
            IcansAssessment,
            adverse_event_id=ae_id,
            assessed_at=_at(onset, rng.randint(0, 23)),
            developmental_delay=False,
            unable_to_perform=False,
            consciousness="awakens_to_voice" if grade == 2 else "alert",
            global_aphasia=False,
            seizure="none",
            motor_weakness=False,
            raised_icp="none",
            other_cause=False,
            death=False,
            **scores,
        )
        if grade >= 2:
            self._conmed("Dexamethasone", "corticosteroid", "ICANS", ae_id, onset, 3, dose=D("0.15"), unit="mg/kg")

    def _capd_answers(self, grade: int) -> dict[str, str]:
        """Eight CAPD answers whose total is 1-8 (grades 1-2) or 9 or more (grade 3)."""
        answers = ["never", "rarely", "sometimes", "often", "always"]
        severity = 1 if grade < 3 else 3  # points per item drawn towards the abnormal end
        items: dict[str, str] = {}
        for item in range(1, 9):
            points = min(4, self.rng.randint(0, severity))
            # Items 1-4 are reverse-scored: "always" is healthy.
            items[f"capd_{item}"] = answers[4 - points] if item <= 4 else answers[points]
        total = sum(
            4 - answers.index(items[f"capd_{i}"]) if i <= 4 else answers.index(items[f"capd_{i}"]) for i in range(1, 9)
        )
        if total == 0 or (grade < 3 and total > 8):
            items = {f"capd_{i}": ("often" if i == 1 else "always") if i <= 4 else "never" for i in range(1, 9)}
        elif grade == 3 and total < 9:
            items.update(capd_5="always", capd_6="often", capd_7="always")
        return items

    def _conmed(
        self,
        name: str,
        category: str,
        indication: str,
        ae_id: int | None,
        start: dt.date,
        days: int,
        dose: Decimal | None = None,
        unit: str | None = None,
    ) -> None:
        end = start + dt.timedelta(days=days)
        ongoing = end > self.course.stop
        self._add(
            ConcomitantMedication,
            name=name,
            category=category,
            indication=indication,
            adverse_event_id=ae_id,
            dose=dose,
            dose_unit=unit,
            route="iv",
            start_date=start,
            end_date=None if ongoing else end,
            ongoing=ongoing,
        )

    # --- response and follow-up ------------------------------------------------------------------------------

    def _responses(self) -> None:
        course = self.course
        category = course.response
        for plan in self.study.visits:
            day = course.visit_days.get(plan.code)
            if day is None or FormCode.RESPONSE not in plan.forms:
                continue
            if plan.code == course.relapse_visit:
                category = "NR"
            self._response(plan.code, day, category)
            if category not in REMISSIONS or plan.code == course.transplant_after:
                break  # no response follow-up after failure, relapse or transplant
            category = "CR" if self.rng.random() < 0.8 else category

    def _response(self, code: str, day: dt.date, category: str) -> None:
        """Marrow and blood findings that ELN 2022 classifies as ``category``."""
        rng = self.rng
        r = rng.uniform
        blasts, anc, plt = _dec(r(0.2, 4.5), 1), _dec(r(1.0, 3.5), 2), _dec(r(100, 300), 0)
        adequate, circulating = True, False
        if category == "CRh":
            anc, plt = _dec(r(0.5, 0.99), 2), _dec(r(50, 99), 0)
        elif category == "CRi":  # one lineage recovered, not the other
            if rng.random() < 0.5:
                anc, plt = _dec(r(1.0, 2.5), 2), _dec(r(20, 49), 0)
            else:
                anc = _dec(r(0.1, 0.49), 2)
        elif category == "MLFS":
            anc, plt = _dec(r(0.05, 0.49), 2), _dec(r(5, 49), 0)
        elif category == "NR":
            blasts, anc, plt = _dec(r(12, 80), 1), _dec(r(0.05, 0.9), 2), _dec(r(5, 60), 0)
            circulating = rng.random() < 0.6
        elif category == "NE":
            adequate = False
        mrd = _dec(r(0.005, 0.6), 3) if category in REMISSIONS and rng.random() < 0.8 else None
        self.course.response_counts[code] = (anc, plt)
        self._add(
            ResponseAssessment,
            visit_id=self.course.visit_ids[code],
            assessed_on=day,
            bm_blast_pct=blasts,
            marrow_adequate=adequate,
            bm_cellularity_pct=_dec(r(10, 80), 0),
            circulating_blasts=circulating,
            extramedullary=False,
            anc=anc,
            plt=plt,
            mrd_method="flow" if mrd is not None else None,
            mrd_pct=mrd,
            mrd_threshold_pct=D("0.1") if mrd is not None else None,
            investigator_category=category,
        )
        transplant_on = day + dt.timedelta(days=rng.randint(14, 40))
        if code == self.course.transplant_after and category in REMISSIONS and transplant_on <= self.course.stop:
            self._add(
                Transplant,
                transplant_date=transplant_on,
                donor_type=rng.choice(("matched_sibling", "matched_unrelated", "haploidentical", "cord_blood")),
                conditioning="busulfan, fludarabine, ATG",
                pre_transplant_response=category,
            )

    def _follow_up(self) -> None:
        course = self.course
        order = [plan.code for plan in self.study.visits]
        relapse_at = order.index(course.relapse_visit) if course.relapse_visit else len(order)
        for position, plan in enumerate(self.study.visits):
            day = course.visit_days.get(plan.code)
            if day is None or FormCode.SURVIVAL not in plan.forms:
                continue
            in_remission = course.response in REMISSIONS and position < relapse_at
            self._add(
                SurvivalFollowUp,
                contact_date=day,
                vital_status="alive",
                disease_status="in remission" if in_remission else "active disease",
                new_therapy=None if in_remission else self.rng.choice(SALVAGE),
            )
        for code, day in course.visit_days.items():
            plan = self.study.visit(code)
            anchor = course.ld if plan.anchor is VisitAnchor.LYMPHODEPLETION_START else course.d0
            offset = (day - anchor).days - plan.nominal_day
            if (offset > plan.after or offset < -plan.before) and self.rng.random() < 0.5:
                self._add(
                    ProtocolDeviation,
                    occurred_on=day,
                    category="visit window",
                    severity="minor",
                    description=f"{code} on day {offset:+d} from nominal, outside its window",
                    reported_on=day + dt.timedelta(days=self.rng.randint(1, 10)),
                )

    def _disposition(self) -> None:
        course = self.course
        ending = course.ending
        if ending is None and "M24" in course.visit_days:
            ending = "completed"
        if ending is None:
            return
        self.subject_row["status"] = {
            "screen_failed": "screen_failed",
            "died": "died",
            "withdrawn": "withdrawn",
            "completed": "completed",
            "lost_to_follow_up": "lost_to_follow_up",
        }.get(ending, "follow_up")
        reasons = {
            "screen_failed": f"Screen failure: {course.screen_failure}",
            "withdrawn": "Guardian withdrew consent",
            "lost_to_follow_up": "Family could not be contacted after three attempts",
        }
        ended = course.visit_days["M24"] if ending == "completed" else course.stop
        self._add(
            EndOfStudy,
            status=ending,
            ended_on=ended,
            reason=reasons.get(ending),
            withdrawal_by="guardian" if ending == "withdrawn" else None,
        )
        if ending == "died":
            fatal = course.fatal_ae_id
            self._add(
                Death,
                death_date=course.stop,
                cause="adverse_event" if fatal else "disease_progression",
                adverse_event_id=fatal,
                autopsy=False,
            )

    def _add(self, model: type[Base], **values: Any) -> None:
        values["subject_id"] = self.subject_id
        self.rows.add(model, values)


# --- the study --------------------------------------------------------------------------------------------------


def _check(subjects: int, sites: int) -> None:
    if sites < 1 or sites > MAX_EXTRA_SITES:
        raise ValueError(f"sites must be 1 to {MAX_EXTRA_SITES} (site codes are two digits; 01 is taken)")
    if subjects < 1:
        raise ValueError("subjects must be at least 1")
    if subjects > MAX_SUBJECTS_PER_SITE * sites:
        raise ValueError(
            f"{subjects} subjects do not fit in {sites} sites: subject numbers SS-NNN allow "
            f"{MAX_SUBJECTS_PER_SITE} per site, so at most {MAX_SUBJECTS_PER_SITE * sites}"
        )


def _create_sites(session: Session, study: _Study, sites: int, ids: _Ids) -> list[tuple[int, str]]:
    codes = [f"{number:02d}" for number in range(2, sites + 2)]
    taken = set(session.scalars(sa.select(Site.code).where(Site.study_id == study.study_id, Site.code.in_(codes))))
    if taken:
        raise ValueError(f"sites {', '.join(sorted(taken))} already exist: generate into a fresh database")
    created = [(ids.take(Site), code) for code in codes]
    session.execute(
        sa.insert(_table(Site)),
        [
            {
                "id": site_id,
                "study_id": study.study_id,
                "code": code,
                "name": f"Synthetic Children's Hospital {code}",
                "country": "CHN",
            }
            for site_id, code in created
        ],
    )
    return created


def _assignments(subjects: int, sites: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(site id, subject number) for every subject, spread evenly and in screening order."""
    per_site = [subjects // len(sites) + (1 if index < subjects % len(sites) else 0) for index in range(len(sites))]
    sequence = [0] * len(sites)
    result: list[tuple[int, str]] = []
    while len(result) < subjects:
        for index, (site_id, code) in enumerate(sites):
            if sequence[index] < per_site[index]:
                sequence[index] += 1
                result.append((site_id, f"{code}-{sequence[index]:03d}"))
    return result


def generate_study(session: Session, *, subjects: int, sites: int, seed: int) -> GenerationSummary:
    """Add ``sites`` synthetic sites and ``subjects`` synthetic subjects; flush only, never commit."""
    _check(subjects, sites)
    study = _load_study(session)
    session.flush()
    rng = random.Random(seed)  # noqa: S311 -- synthetic test data, not security
    ids = _Ids(session)
    site_rows = _create_sites(session, study, sites, ids)
    rows = _Rows()
    assignments = _assignments(subjects, site_rows)
    for index, (site_id, number) in enumerate(assignments):
        screening_on = FIRST_SCREENING + dt.timedelta(days=index * ENROLMENT_DAYS // subjects + rng.randint(0, 3))
        _SubjectBuilder(rng, study, rows, ids, site_id, number, screening_on).build()
        if (index + 1) % BATCH_SUBJECTS == 0:
            rows.write(session)
    rows.write(session)
    _sync_sequences(session)
    counts = {"site": len(site_rows), **{name: count for name, count in rows.written.items() if count}}
    signer = demo_investigator(session)
    if signer is not None:  # LK-03: treated children's eligibility signed before their first dose
        counts["signature"] = sign_eligibility_before_treatment(session, signer, site_ids=[i for i, _ in site_rows])
    site_codes = tuple(code for _, code in site_rows)
    return GenerationSummary(seed, site_codes, tuple(number for _, number in assignments), counts)
