"""Everything the derivations of one subject read, loaded once per recomputation.

Removed records are not inputs: a removed lab result is no longer anyone's baseline, a removed infusion no
longer anchors day 0. Their own derived values stay as they were when they were removed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from jk500db.clinical.settings import RuleSettings
from jk500db.models import (
    AdverseEvent,
    Consent,
    CrsAssessment,
    Death,
    DiseaseHistory,
    DrugAdministration,
    EligibilityCriterion,
    IcansAssessment,
    Infusion,
    LabResult,
    RegimenItem,
    ResponseAssessment,
    Screening,
    Subject,
    VirologyResult,
    Visit,
    VisitDefinition,
    VitalSigns,
)
from jk500db.models.base import ClinicalRecord
from jk500db.models.vocabularies import Agent
from jk500db.services.study_definition import active_definition, definition_settings

#: Agents whose first dose starts lymphodepletion (day -7) and is SDTM's RFSTDTC.
LYMPHODEPLETION_AGENTS = frozenset({Agent.CYCLOPHOSPHAMIDE, Agent.FLUDARABINE})

R = TypeVar("R", bound=ClinicalRecord)


@dataclass(frozen=True)
class StudyContext:
    """The study definition in force: settings, visit schedule and regimen."""

    settings: RuleSettings
    visits: dict[str, VisitDefinition]
    regimen: dict[Agent, RegimenItem]
    today: dt.date

    @classmethod
    def load(cls, session: Session, today: dt.date) -> StudyContext:
        definition = active_definition(session)
        if definition is None:
            return cls(definition_settings(None), {}, {}, today)
        return cls(
            settings=definition_settings(definition),
            visits={v.code: v for v in definition.visits},
            regimen={item.agent: item for item in definition.regimen},
            today=today,
        )


def live(records: Iterable[R]) -> list[R]:
    """Records not removed. (Vocabulary fields may hold plain text on objects built in this session and not yet
    reloaded, so the derivations compare and print them as text, never through ``.value``.)"""
    return [r for r in records if r.removed_at is None]


@dataclass
class SubjectData:
    subject: Subject
    screening: Screening | None = None
    history: DiseaseHistory | None = None
    death: Death | None = None
    consents: list[Consent] = field(default_factory=list)
    virology: list[VirologyResult] = field(default_factory=list)
    criteria: list[EligibilityCriterion] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    administrations: list[DrugAdministration] = field(default_factory=list)
    infusions: list[Infusion] = field(default_factory=list)
    labs: list[LabResult] = field(default_factory=list)
    vitals: list[VitalSigns] = field(default_factory=list)
    crs: list[CrsAssessment] = field(default_factory=list)
    icans: list[IcansAssessment] = field(default_factory=list)
    adverse_events: list[AdverseEvent] = field(default_factory=list)
    responses: list[ResponseAssessment] = field(default_factory=list)

    @property
    def first_lymphodepletion(self) -> dt.datetime | None:
        """Start of the first cyclophosphamide or fludarabine dose given: day -7, SDTM's RFSTDTC."""
        starts = [
            a.started_at
            for a in live(self.administrations)
            if a.agent in LYMPHODEPLETION_AGENTS and not a.not_given and a.started_at is not None
        ]
        return min(starts, default=None)

    @property
    def day0(self) -> dt.date | None:
        """Date of the first JK500 infusion (protocol day 0, the DLT window's anchor)."""
        starts = [i.started_at for i in live(self.infusions)]
        return min(starts).date() if starts else None

    def visit_by_id(self, visit_id: int | None) -> Visit | None:
        return next((v for v in self.visits if v.id == visit_id), None)


#: SubjectData attribute -> model, for the one-to-many lists loaded by subject id.
_LISTS: dict[str, type[Any]] = {
    "consents": Consent,
    "virology": VirologyResult,
    "criteria": EligibilityCriterion,
    "visits": Visit,
    "administrations": DrugAdministration,
    "infusions": Infusion,
    "labs": LabResult,
    "vitals": VitalSigns,
    "crs": CrsAssessment,
    "icans": IcansAssessment,
    "adverse_events": AdverseEvent,
    "responses": ResponseAssessment,
}
_SINGLES: dict[str, type[Any]] = {"screening": Screening, "history": DiseaseHistory, "death": Death}
#: Subjects per IN (...) list: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def load_subjects(session: Session, subject_ids: Iterable[int]) -> dict[int, SubjectData]:
    """One query per table for all the subjects (in chunks), not one per subject and table.

    Objects already in the session are refreshed from the database (the caller has flushed), collections
    included: an AE loaded before a CRS assessment was added must see it.
    """
    fresh = {"populate_existing": True}
    ids = sorted(set(subject_ids))
    result: dict[int, SubjectData] = {}
    for chunk in _chunks(ids):
        for subject in session.scalars(sa.select(Subject).where(Subject.id.in_(chunk)).execution_options(**fresh)):
            result[subject.id] = SubjectData(subject)
        for name, model in _SINGLES.items():
            singles = sa.select(model).where(model.subject_id.in_(chunk)).execution_options(**fresh)
            for record in session.scalars(singles):
                if record.removed_at is None:
                    setattr(result[record.subject_id], name, record)
        for name, model in _LISTS.items():
            statement = (
                sa.select(model).where(model.subject_id.in_(chunk)).order_by(model.id).execution_options(**fresh)
            )
            if model is CrsAssessment:
                statement = statement.options(selectinload(CrsAssessment.vasopressors))
            if model is AdverseEvent:
                statement = statement.options(
                    selectinload(AdverseEvent.term),
                    selectinload(AdverseEvent.crs_assessments),
                    selectinload(AdverseEvent.icans_assessments),
                )
            if model is Visit:
                statement = statement.options(selectinload(Visit.definition))
            for record in session.scalars(statement):
                getattr(result[record.subject_id], name).append(record)
    return result
