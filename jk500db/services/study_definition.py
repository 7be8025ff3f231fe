"""Load the study definition file (seed_data/jk500_study.toml) into the database, versioned.

Loading an unchanged file again is a no-op (matched by its SHA-256). A changed file becomes a new version
beside the old ones, which are kept for the record and marked inactive; code reads the active version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.clinical.settings import RuleSettings
from jk500db.errors import ValidationError
from jk500db.models import (
    ExpectedForm,
    ProtocolVersion,
    RegimenItem,
    RuleSetting,
    Site,
    Study,
    StudyDefinitionVersion,
    VisitDefinition,
)
from jk500db.models.vocabularies import Agent, DoseBasis, FormCode, Route, VisitAnchor

SEED_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "seed_data"
DEFAULT_DEFINITION = SEED_DATA_DIR / "jk500_study.toml"


def _require(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ValidationError(f"{where}.{key}", "is required in the study definition")
    return table[key]


def _vocab(enum_cls: Any, value: Any, where: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise ValidationError(where, f"{value!r} is not one of: {allowed}") from None


def parse_definition(text: str) -> dict[str, Any]:
    """Parse and check the definition; every problem names its place in the file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError("study definition", f"is not valid TOML: {exc}") from None
    for section in ("study", "sites", "regimen", "visits", "settings"):
        _require(data, section, "definition")
    _require(data, "label", "definition")
    for i, item in enumerate(data["regimen"]):
        where = f"regimen[{i}]"
        _vocab(Agent, _require(item, "agent", where), f"{where}.agent")
        _vocab(DoseBasis, _require(item, "dose_basis", where), f"{where}.dose_basis")
        _vocab(Route, _require(item, "route", where), f"{where}.route")
        if Decimal(str(_require(item, "dose_amount", where))) <= 0:
            raise ValidationError(f"{where}.dose_amount", "must be greater than zero")
    codes = set()
    for i, visit in enumerate(data["visits"]):
        where = f"visits[{i}]"
        code = _require(visit, "code", where)
        if code in codes:
            raise ValidationError(f"{where}.code", f"visit code {code!r} is used twice")
        codes.add(code)
        _vocab(VisitAnchor, _require(visit, "anchor", where), f"{where}.anchor")
        for form in visit.get("forms", []):
            _vocab(FormCode, form, f"{where}.forms")
        for key in ("window_before", "window_after"):
            if visit.get(key, 0) < 0:
                raise ValidationError(f"{where}.{key}", "must not be negative")
    try:
        RuleSettings.from_mapping({k: v["value"] for k, v in data["settings"].items()})
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError("settings", str(exc).strip("'\"")) from None
    return data


def _upsert_study(session: Session, data: dict[str, Any]) -> Study:
    spec = data["study"]
    study = session.scalar(sa.select(Study).where(Study.code == spec["code"]))
    if study is None:
        study = Study(code=spec["code"])
        session.add(study)
    for key in ("title", "registry_id", "sponsor", "phase", "planned_enrolment"):
        setattr(study, key, spec.get(key))
    session.flush()
    for spec_site in data["sites"]:
        site = session.scalar(sa.select(Site).where(Site.study_id == study.id, Site.code == spec_site["code"]))
        if site is None:
            site = Site(study_id=study.id, code=spec_site["code"])
            session.add(site)
        site.name = spec_site["name"]
        site.country = spec_site["country"]
    for spec_version in data.get("protocol_versions", []):
        exists = session.scalar(
            sa.select(ProtocolVersion).where(
                ProtocolVersion.study_id == study.id, ProtocolVersion.version == spec_version["version"]
            )
        )
        if exists is None:
            session.add(
                ProtocolVersion(
                    study_id=study.id, version=spec_version["version"], effective_on=spec_version["effective_on"]
                )
            )
    session.flush()
    return study


def load_study_definition(
    session: Session, path: Path = DEFAULT_DEFINITION, *, now: dt.datetime | None = None
) -> StudyDefinitionVersion:
    """Load ``path``; return the definition version now in force (new, or the existing identical one)."""
    raw = path.read_bytes()
    data = parse_definition(raw.decode("utf-8"))
    digest = hashlib.sha256(raw).hexdigest()
    study = _upsert_study(session, data)
    existing = session.scalar(
        sa.select(StudyDefinitionVersion).where(
            StudyDefinitionVersion.study_id == study.id, StudyDefinitionVersion.source_sha256 == digest
        )
    )
    if existing is not None:
        return existing
    previous = session.scalars(
        sa.select(StudyDefinitionVersion).where(
            StudyDefinitionVersion.study_id == study.id, StudyDefinitionVersion.active.is_(True)
        )
    ).all()
    for old in previous:
        old.active = False
    last = session.scalar(
        sa.select(sa.func.max(StudyDefinitionVersion.version)).where(StudyDefinitionVersion.study_id == study.id)
    )
    definition = StudyDefinitionVersion(
        study_id=study.id,
        version=(last or 0) + 1,
        label=data["label"],
        source_file=path.name,
        source_sha256=digest,
        source_text=raw.decode("utf-8"),
        loaded_at=now or dt.datetime.now(dt.UTC),
        active=True,
    )
    session.add(definition)
    session.flush()
    for item in data["regimen"]:
        session.add(
            RegimenItem(
                definition_id=definition.id,
                agent=Agent(item["agent"]),
                dose_amount=Decimal(str(item["dose_amount"])),
                dose_basis=DoseBasis(item["dose_basis"]),
                route=Route(item["route"]),
                days=",".join(str(d) for d in item["days"]),
                planned_doses=len(item["days"]),
                timing=item.get("timing"),
            )
        )
    for order, spec in enumerate(data["visits"], start=1):
        visit = VisitDefinition(
            definition_id=definition.id,
            code=spec["code"],
            label=spec["label"],
            order=order,
            anchor=VisitAnchor(spec["anchor"]),
            nominal_day=spec.get("nominal_day"),
            window_before=spec.get("window_before", 0),
            window_after=spec.get("window_after", 0),
        )
        visit.expected_forms = [ExpectedForm(form_code=FormCode(f)) for f in spec.get("forms", [])]
        session.add(visit)
    for key, spec in data["settings"].items():
        session.add(
            RuleSetting(
                definition_id=definition.id,
                key=key,
                value_json=json.dumps(spec["value"]),
                description=spec.get("description"),
            )
        )
    session.flush()
    return definition


def active_definition(session: Session, study_code: str = "JK500") -> StudyDefinitionVersion | None:
    return session.scalar(
        sa.select(StudyDefinitionVersion)
        .join(Study)
        .where(Study.code == study_code, StudyDefinitionVersion.active.is_(True))
        .order_by(StudyDefinitionVersion.version.desc())
        .limit(1)
    )


def rule_settings(session: Session, study_code: str = "JK500") -> RuleSettings:
    """The protocol settings in force (the defaults when no definition is loaded yet)."""
    return definition_settings(active_definition(session, study_code))


def definition_settings(definition: StudyDefinitionVersion | None) -> RuleSettings:
    """The settings a loaded definition carries (the defaults for none)."""
    if definition is None:
        return RuleSettings()
    return RuleSettings.from_mapping({s.key: json.loads(s.value_json) for s in definition.settings})
