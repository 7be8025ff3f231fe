"""The study, its sites and protocol versions, and the versioned study definition.

The study definition (visit schedule, regimen, expected forms, rule settings) is data under seed_data/,
loaded into these tables so code reads it from the database, never from constants.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base
from jk500db.models.types import Vocabulary, check, positive_check
from jk500db.models.vocabularies import Agent, DoseBasis, FormCode, Route, VisitAnchor


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: sponsor's study code, the SDTM STUDYID (e.g. "JK500").
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    #: full title as registered.
    title: Mapped[str] = mapped_column(sa.Text)
    #: registry identifier (ClinicalTrials.gov NCT number).
    registry_id: Mapped[str | None] = mapped_column(sa.String(20))
    #: sponsor organisation.
    sponsor: Mapped[str]
    #: trial phase as registered (e.g. "Early Phase 1").
    phase: Mapped[str] = mapped_column(sa.String(40))
    #: number of subjects the protocol plans to treat.
    planned_enrolment: Mapped[int]

    sites: Mapped[list[Site]] = relationship(back_populates="study", order_by="Site.code")
    protocol_versions: Mapped[list[ProtocolVersion]] = relationship(back_populates="study")
    definitions: Mapped[list[StudyDefinitionVersion]] = relationship(
        back_populates="study", order_by="StudyDefinitionVersion.version"
    )

    __table_args__ = (positive_check("planned_enrolment"),)


class Site(Base):
    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: study the site takes part in.
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id"))
    #: two-digit site number, the first part of every subject number (SDTM SITEID).
    code: Mapped[str] = mapped_column(sa.String(2))
    #: hospital name.
    name: Mapped[str]
    #: ISO 3166-1 alpha-3 country code (SDTM COUNTRY).
    country: Mapped[str] = mapped_column(sa.String(3))

    study: Mapped[Study] = relationship(back_populates="sites")

    __table_args__ = (
        sa.UniqueConstraint("study_id", "code"),
        check("length(code) = 2", "code_format", field="code", rule="site code is two digits, e.g. 01"),
    )


class ProtocolVersion(Base):
    __tablename__ = "protocol_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: study the protocol belongs to.
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id"))
    #: version label as printed on the protocol (e.g. "2.0").
    version: Mapped[str] = mapped_column(sa.String(20))
    #: date the version took effect after ethics approval.
    effective_on: Mapped[dt.date]

    study: Mapped[Study] = relationship(back_populates="protocol_versions")

    __table_args__ = (sa.UniqueConstraint("study_id", "version"),)


class StudyDefinitionVersion(Base):
    """One loaded version of the study definition file; the newest active one is in force."""

    __tablename__ = "study_definition_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: study the definition describes.
    study_id: Mapped[int] = mapped_column(sa.ForeignKey("study.id"))
    #: 1, 2, ... in load order.
    version: Mapped[int]
    #: the definition's own version label (from the file).
    label: Mapped[str] = mapped_column(sa.String(40))
    #: file it was loaded from, relative to seed_data/.
    source_file: Mapped[str]
    #: SHA-256 of the file's bytes: a reload of an unchanged file is a no-op.
    source_sha256: Mapped[str] = mapped_column(sa.String(64))
    #: the whole file as loaded, kept for the record.
    source_text: Mapped[str] = mapped_column(sa.Text)
    #: when it was loaded (UTC).
    loaded_at: Mapped[dt.datetime]
    #: the definition in force is the active one with the highest version.
    active: Mapped[bool] = mapped_column(default=True)

    study: Mapped[Study] = relationship(back_populates="definitions")
    visits: Mapped[list[VisitDefinition]] = relationship(back_populates="definition", order_by="VisitDefinition.order")
    regimen: Mapped[list[RegimenItem]] = relationship(back_populates="definition")
    settings: Mapped[list[RuleSetting]] = relationship(back_populates="definition")

    __table_args__ = (
        sa.UniqueConstraint("study_id", "version"),
        sa.UniqueConstraint("study_id", "source_sha256"),
    )


class VisitDefinition(Base):
    """A scheduled visit: when it falls (nominal day from its anchor) and how far it may move."""

    __tablename__ = "visit_definition"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: definition version this visit belongs to.
    definition_id: Mapped[int] = mapped_column(sa.ForeignKey("study_definition_version.id"))
    #: short code (e.g. "SCR", "D-7", "D0", "D28"), the SDTM VISIT label's key.
    code: Mapped[str] = mapped_column(sa.String(20))
    #: name shown to users and exported as SDTM VISIT.
    label: Mapped[str]
    #: position in the schedule (SDTM VISITNUM).
    order: Mapped[int]
    #: what the nominal day counts from.
    anchor: Mapped[VisitAnchor] = mapped_column(Vocabulary(VisitAnchor))
    #: nominal day relative to the anchor's own protocol day (day 0 = first JK500 infusion).
    nominal_day: Mapped[int | None]
    #: days the visit may fall before its nominal day.
    window_before: Mapped[int] = mapped_column(default=0)
    #: days the visit may fall after its nominal day.
    window_after: Mapped[int] = mapped_column(default=0)

    definition: Mapped[StudyDefinitionVersion] = relationship(back_populates="visits")
    expected_forms: Mapped[list[ExpectedForm]] = relationship(back_populates="visit_definition")

    __table_args__ = (
        sa.UniqueConstraint("definition_id", "code"),
        sa.UniqueConstraint("definition_id", "order"),
        check("window_before >= 0", "window_before_range", field="window_before", rule="must not be negative"),
        check("window_after >= 0", "window_after_range", field="window_after", rule="must not be negative"),
    )


class ExpectedForm(Base):
    """A form the schedule expects at a visit (drives the status matrix)."""

    __tablename__ = "expected_form"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the visit.
    visit_definition_id: Mapped[int] = mapped_column(sa.ForeignKey("visit_definition.id"))
    #: the form expected there.
    form_code: Mapped[FormCode] = mapped_column(Vocabulary(FormCode))
    #: false when the form is only filled if something happened (e.g. CRS assessment).
    required: Mapped[bool] = mapped_column(default=True)

    visit_definition: Mapped[VisitDefinition] = relationship(back_populates="expected_forms")

    __table_args__ = (sa.UniqueConstraint("visit_definition_id", "form_code"),)


class RegimenItem(Base):
    """A registered treatment: agent, dose and basis, and the protocol days it is given."""

    __tablename__ = "regimen_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: definition version this regimen belongs to.
    definition_id: Mapped[int] = mapped_column(sa.ForeignKey("study_definition_version.id"))
    #: what is given.
    agent: Mapped[Agent] = mapped_column(Vocabulary(Agent))
    #: dose per basis unit (60 for 60 mg/kg).
    dose_amount: Mapped[Decimal]
    #: what the dose is multiplied by.
    dose_basis: Mapped[DoseBasis] = mapped_column(Vocabulary(DoseBasis))
    #: route of administration.
    route: Mapped[Route] = mapped_column(Vocabulary(Route))
    #: protocol days of the doses, comma-separated (e.g. "-6,-5,-4,-3,-2"); day 0 = first JK500 infusion.
    days: Mapped[str]
    #: number of doses the protocol plans.
    planned_doses: Mapped[int]
    #: timing note as the protocol words it (e.g. "0.5-1 h before each JK500 infusion").
    timing: Mapped[str | None] = mapped_column(sa.Text)

    definition: Mapped[StudyDefinitionVersion] = relationship(back_populates="regimen")

    __table_args__ = (
        sa.UniqueConstraint("definition_id", "agent"),
        positive_check("dose_amount"),
        positive_check("planned_doses"),
    )


class RuleSetting(Base):
    """A named protocol setting for a rule that can be read two ways (CLINICAL_RULES.md)."""

    __tablename__ = "rule_setting"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: definition version the setting belongs to.
    definition_id: Mapped[int] = mapped_column(sa.ForeignKey("study_definition_version.id"))
    #: dotted key, e.g. "dlt.window_days".
    key: Mapped[str] = mapped_column(sa.String(80))
    #: value as JSON text (numbers as strings keep their decimals).
    value_json: Mapped[str] = mapped_column(sa.Text)
    #: what the setting decides, for the reader of the definition.
    description: Mapped[str | None] = mapped_column(sa.Text)

    definition: Mapped[StudyDefinitionVersion] = relationship(back_populates="settings")

    __table_args__ = (sa.UniqueConstraint("definition_id", "key"),)
