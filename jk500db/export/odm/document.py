"""The ODM 1.3.2 document: study metadata, administrative data and clinical data with audit records and signatures.

Layout (ODM 1.3.2 §3.1; the order of the root's children is the schema's):

- ``Study`` per study: GlobalVariables; BasicDefinitions with every unit the items use; one MetaDataVersion (the
  study definition in force) with the Protocol, a StudyEventDef per scheduled visit code, one for unscheduled
  visits and one "Common" event for the forms that belong to the subject rather than a visit (AE log,
  medications...), a FormDef per CRF, an ItemGroupDef per clinical table, ItemDefs and CodeLists.
- ``AdminData`` per study: the staff who appear in the audit trail (printed names only, never e-mail), the sites,
  and a SignatureDef per signature meaning.
- ``ClinicalData`` per study: a SubjectData per subject keyed by USUBJID, its visits as StudyEventData, each
  CRF as FormData and each record's history as ItemGroupData elements (``history.py``).

The file is Transactional (§2.8: a Snapshot cannot carry audit records). It is written subject by subject as the
audit trail is read, so memory does not grow with the trail. Nothing in it comes from the clock: the creation
time is the newest moment the data include, and the FileOID names the audit position and head hash.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jk500db.audit.context import SYSTEM_ACTOR_ID
from jk500db.export.context import ExportContext, SubjectKeys
from jk500db.export.odm.audit import AuditReader
from jk500db.export.odm.history import (
    AuditEntry,
    Change,
    Kind,
    Placement,
    RecordKey,
    SignatureMark,
    Step,
    final_state,
    parse_moment,
    record_steps,
)
from jk500db.export.odm.model import (
    CTCAE_CODELIST_OID,
    ROW_UNITS,
    GroupSpec,
    ItemSpec,
    Link,
    Lookups,
    clinical_groups,
    codelist_oid,
    decode,
    form_oid,
    forms,
    location_oid,
    odm_text,
    unit_oid,
    user_oid,
    words,
)
from jk500db.export.odm.xml import XmlOut
from jk500db.export.snapshot import value_from_audit_text
from jk500db.models import Base
from jk500db.models.base import derived_columns
from jk500db.models.vocabularies import FormCode, RoleCode, SignatureMeaning

COMMON_EVENT = "COMMON"
UNSCHEDULED = "Unscheduled"

#: What each signature meaning states (21 CFR 11.50(b)); the sign-off page shows the signer the full statement.
MEANINGS: dict[SignatureMeaning, str] = {
    SignatureMeaning.ELIGIBILITY_CONFIRMED: "The investigator confirms the subject meets all eligibility criteria.",
    SignatureMeaning.AE_CAUSALITY_ASSESSED: (
        "The investigator assessed the adverse event's grade, seriousness and causality as recorded."
    ),
    SignatureMeaning.DLT_CONFIRMED: "The investigator's decision on whether the adverse event is a DLT.",
    SignatureMeaning.RESPONSE_CONFIRMED: "The investigator confirms the response assessment as recorded.",
    SignatureMeaning.CASEBOOK_REVIEWED: (
        "The investigator reviewed the subject's complete casebook and found it complete and accurate."
    ),
}
LEGAL_REASON = (
    "Electronic signature under 21 CFR Part 11 (11.50, 11.70, 11.200): printed name, date, time and meaning linked "
    "to the signed record; the signer re-entered username and password to sign."
)
USER_TYPES: dict[str, str] = {RoleCode.INVESTIGATOR.value: "Investigator", RoleCode.MONITOR.value: "Sponsor"}


@dataclass(frozen=True)
class EventDef:
    """A StudyEventDef: a visit code of the schedule, unscheduled visits, or the subject-level event."""

    code: str
    name: str
    order: int
    kind: str  # Scheduled, Unscheduled or Common
    repeating: bool
    forms: tuple[tuple[FormCode, bool], ...]  # form, mandatory

    @property
    def oid(self) -> str:
        return f"SE.{self.code}"


@dataclass
class StudyInfo:
    row: dict[str, Any]
    mdv_version: int
    mdv_name: str
    effective_on: dt.date
    events: list[EventDef]
    sites: list[dict[str, Any]]

    @property
    def code(self) -> str:
        return str(self.row["code"])

    @property
    def oid(self) -> str:
        return f"ST.{self.code}"

    @property
    def mdv_oid(self) -> str:
        return f"MDV.{self.mdv_version}"


@dataclass
class Inputs:
    """Everything the metadata and admin data need, read once before the clinical data stream."""

    groups: tuple[GroupSpec, ...]
    studies: list[StudyInfo]
    lookups: Lookups
    users: dict[int, dict[str, Any]]
    user_sites: dict[int, list[int]]
    ctcae: list[tuple[str, str]]  # (MedDRA code, term)
    units: list[str]
    row_units: dict[tuple[str, str], list[str]]
    created: str
    moved: set[RecordKey] = field(default_factory=set)


# ------------------------------------------------------------------------------------------------ reading


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return grouped


def _event_defs(
    definitions: list[dict[str, Any]],
    visit_defs: dict[int, list[dict[str, Any]]],
    expected: dict[int, list[dict[str, Any]]],
    visits: list[dict[str, Any]],
    groups: tuple[GroupSpec, ...],
) -> list[EventDef]:
    """Scheduled visit codes from every definition version (the newest wording wins), then codes only visits
    use (unscheduled), then the subject-level event."""
    active = max((d for d in definitions if d["active"]), key=lambda d: d["version"], default=None)
    by_form = forms(groups)
    visit_forms = [
        form for form, members in by_form.items() if any(g.visit_linked or g.table == "visit" for g in members)
    ]
    scheduled: dict[str, dict[str, Any]] = {}
    for definition in sorted(definitions, key=lambda d: d["version"]):
        for visit_def in visit_defs.get(definition["id"], []):
            scheduled[visit_def["code"]] = visit_def
    required: dict[str, set[FormCode]] = defaultdict(set)
    if active is not None:
        for visit_def in visit_defs.get(active["id"], []):
            for expectation in expected.get(visit_def["id"], []):
                if expectation["required"]:
                    required[visit_def["code"]].add(FormCode(expectation["form_code"]))
    repeated = {visit["visit_code"] for visit in visits if visit["sequence"] > 1}
    events = [
        EventDef(
            code=code,
            name=visit_def["label"],
            order=visit_def["order"],
            kind="Scheduled",
            repeating=code in repeated,
            forms=tuple((form, form in required[code]) for form in visit_forms),
        )
        for code, visit_def in sorted(scheduled.items(), key=lambda item: (item[1]["order"], item[0]))
    ]
    others = sorted({visit["visit_code"] for visit in visits} - set(scheduled))
    last = max((event.order for event in events), default=0)
    for offset, code in enumerate(others, start=1):
        name = "Unscheduled visit" if code == "UNS" else f"Visit {code} (not in the schedule)"
        events.append(EventDef(code, name, last + offset, UNSCHEDULED, True, tuple((f, False) for f in visit_forms)))
    events.append(
        EventDef(
            code=COMMON_EVENT,
            name="Subject-level forms (not tied to a visit)",
            order=last + len(others) + 1,
            kind="Common",
            repeating=False,
            forms=tuple((form, False) for form in by_form),
        )
    )
    return events


def _studies(context: ExportContext, groups: tuple[GroupSpec, ...], created: str) -> list[StudyInfo]:
    definitions = _by(list(context.rows("study_definition_version")), "study_id")
    visit_defs = _by(list(context.rows("visit_definition")), "definition_id")
    expected = _by(list(context.rows("expected_form")), "visit_definition_id")
    sites = _by(list(context.rows("site")), "study_id")
    visits_by_study: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for visit in context.rows("visit"):
        keys = context.subjects.get(visit["subject_id"])
        if keys is not None:
            visits_by_study[keys.study_code].append(
                {name: visit[name] for name in ("visit_code", "sequence", "unscheduled")}
            )
    studies = []
    for study in sorted(context.rows("study"), key=lambda row: row["code"]):
        own = definitions.get(study["id"], [])
        active = max((d for d in own if d["active"]), key=lambda d: d["version"], default=None)
        events = _event_defs(own, visit_defs, expected, visits_by_study[study["code"]], groups)
        studies.append(
            StudyInfo(
                row=study,
                mdv_version=active["version"] if active else 0,
                mdv_name=f"Study definition {active['label']}" if active else "No study definition loaded",
                effective_on=active["loaded_at"].date() if active else parse_moment(created).date(),
                events=events,
                sites=sorted(sites.get(study["id"], []), key=lambda row: row["code"]),
            )
        )
    return studies


def _creation_time(context: ExportContext, reader: AuditReader) -> str:
    """The newest moment the file includes: its newest audit event, or a later signing time (ODM 1.3.2 §2.10:
    every DateTimeStamp precedes CreationDateTime); never the clock, so two runs give the same file."""
    moments = []
    newest = reader.newest_time()
    if newest is not None:
        moments.append(parse_moment(newest))
    moments.extend(row["signed_at"] for row in context.rows("signature") if row["signed_at"] is not None)
    if not moments and context.snapshot.as_of is not None:
        moments.append(context.snapshot.as_of)
    return odm_text(max(moments, default=dt.datetime(1970, 1, 1, tzinfo=dt.UTC)))


def read_inputs(context: ExportContext, reader: AuditReader) -> Inputs:
    groups = clinical_groups(context.identified)
    created = _creation_time(context, reader)
    sites = list(context.rows("site"))
    ctcae_rows = sorted(context.rows("ctcae_term"), key=lambda row: (row["ctcae_version"], row["id"]))
    lookups = Lookups(
        site_codes={row["id"]: row["code"] for row in sites},
        visit_codes={row["id"]: row["code"] for row in context.rows("visit_definition")},
        meddra_codes={row["id"]: row["meddra_code"] for row in ctcae_rows},
    )
    ctcae: dict[str, str] = {}
    for row in ctcae_rows:
        ctcae.setdefault(row["meddra_code"], row["term"])
    users = {row["id"]: row for row in context.rows("user_account")}
    user_sites: dict[int, list[int]] = defaultdict(list)
    for row in context.rows("user_site"):
        user_sites[row["user_id"]].append(row["site_id"])
    for actor in reader.actors():
        users.setdefault(actor, {"id": actor, "full_name": None, "role_code": None})
    exported = {(group.table, item.name) for group in groups for item in group.items}
    row_units = {key: sorted(reader.values(key[0], column)) for key, column in ROW_UNITS.items() if key in exported}
    units = {item.unit for group in groups for item in group.items if item.unit} | {
        unit for values in row_units.values() for unit in values
    }
    return Inputs(
        groups=groups,
        studies=_studies(context, groups, created),
        lookups=lookups,
        users=users,
        user_sites=user_sites,
        ctcae=sorted(ctcae.items()),
        units=sorted(units, key=unit_oid),
        row_units=row_units,
        created=created,
        moved=reader.moved(),
    )


# --------------------------------------------------------------------------------------------- metadata


def _vocabularies(groups: tuple[GroupSpec, ...]) -> list[type[enum.StrEnum]]:
    found: dict[str, type[enum.StrEnum]] = {}
    for group in groups:
        for item in group.items:
            if item.vocabulary is not None:
                found.setdefault(codelist_oid(item.vocabulary), item.vocabulary)
    return [found[oid] for oid in sorted(found)]


def _item_def(out: XmlOut, item: ItemSpec, inputs: Inputs) -> None:
    attributes = {
        "OID": item.oid,
        "Name": item.name,
        "DataType": item.data_type,
        "Length": str(item.length) if item.length else None,
        "Origin": "Derived" if item.derived else "Collected",
        "Comment": item.comment,
    }
    with out.element("ItemDef", attributes):
        out.translated("Question", item.question)
        units = [item.unit] if item.unit else inputs.row_units.get((item.table, item.name), [])
        for unit in units:
            out.leaf("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(unit)})
        if item.codelist is not None:
            out.leaf("CodeListRef", {"CodeListOID": item.codelist})
        out.leaf("Alias", {"Context": "jk500db column", "Name": ", ".join(f"{item.table}.{c}" for c in item.columns)})


def _codelists(out: XmlOut, inputs: Inputs) -> None:
    for vocabulary in _vocabularies(inputs.groups):
        with out.element(
            "CodeList", {"OID": codelist_oid(vocabulary), "Name": vocabulary.__name__, "DataType": "text"}
        ):
            if vocabulary.__doc__:
                out.translated("Description", " ".join(vocabulary.__doc__.split()))
            for order, member in enumerate(vocabulary, start=1):
                with out.element("CodeListItem", {"CodedValue": member.value, "OrderNumber": str(order)}):
                    out.translated("Decode", decode(member))
    if any(item.link is Link.CTCAE for group in inputs.groups for item in group.items):
        attributes = {"OID": CTCAE_CODELIST_OID, "Name": "CTCAE terms", "DataType": "text"}
        with out.element("CodeList", attributes):
            out.translated("Description", "CTCAE terms by MedDRA code, as loaded in the database.")
            for code, term in inputs.ctcae:
                with out.element("CodeListItem", {"CodedValue": code}):
                    out.translated("Decode", term)


def _metadata_version(out: XmlOut, study: StudyInfo, inputs: Inputs) -> None:
    with out.element("MetaDataVersion", {"OID": study.mdv_oid, "Name": study.mdv_name}):
        with out.element("Protocol"):
            out.translated("Description", str(study.row["title"]))
            for event in study.events:
                # No visit happens for every subject (a screen failure stops at screening; a death ends the
                # schedule), so none is Mandatory; missed visits are recorded as such on the visit record.
                attributes = {"StudyEventOID": event.oid, "OrderNumber": str(event.order), "Mandatory": "No"}
                out.leaf("StudyEventRef", attributes)
        for event in study.events:
            attributes = {
                "OID": event.oid,
                "Name": event.name,
                "Repeating": "Yes" if event.repeating else "No",
                "Type": event.kind,
            }
            with out.element("StudyEventDef", attributes):
                for order, (form, required) in enumerate(event.forms, start=1):
                    attributes = {"FormOID": form_oid(form), "OrderNumber": str(order)}
                    out.leaf("FormRef", attributes | {"Mandatory": "Yes" if required else "No"})
        for form, members in forms(inputs.groups).items():
            with out.element("FormDef", {"OID": form_oid(form), "Name": words(form.value), "Repeating": "No"}):
                for order, group in enumerate(members, start=1):
                    attributes = {"ItemGroupOID": group.oid, "OrderNumber": str(order), "Mandatory": "No"}
                    out.leaf("ItemGroupRef", attributes)
        for group in inputs.groups:
            attributes = {"OID": group.oid, "Name": group.table, "Repeating": "Yes" if group.repeating else "No"}
            with out.element("ItemGroupDef", attributes):
                out.translated("Description", group.description)
                for order, item in enumerate(group.items, start=1):
                    attributes = {
                        "ItemOID": item.oid,
                        "OrderNumber": str(order),
                        "Mandatory": "Yes" if item.mandatory else "No",
                    }
                    out.leaf("ItemRef", attributes)
        for group in inputs.groups:
            for item in group.items:
                _item_def(out, item, inputs)
        _codelists(out, inputs)


def write_study(out: XmlOut, study: StudyInfo, inputs: Inputs) -> None:
    with out.element("Study", {"OID": study.oid}):
        with out.element("GlobalVariables"):
            out.leaf("StudyName", text=study.code)
            description = f"{study.row['title']} (sponsor {study.row['sponsor']}, {study.row['phase']})"
            out.leaf("StudyDescription", text=description)
            out.leaf("ProtocolName", text=str(study.row["registry_id"] or study.code))
        with out.element("BasicDefinitions"):
            for unit in inputs.units:
                with out.element("MeasurementUnit", {"OID": unit_oid(unit), "Name": unit}):
                    out.translated("Symbol", unit)
        _metadata_version(out, study, inputs)


def write_admin(out: XmlOut, study: StudyInfo, inputs: Inputs) -> None:
    site_codes = {site["id"]: site["code"] for site in study.sites}
    with out.element("AdminData", {"StudyOID": study.oid}):
        for user_id in sorted(inputs.users):
            user = inputs.users[user_id]
            role = user.get("role_code")
            user_type = USER_TYPES.get(str(role), "Other") if role is not None else "Other"
            with out.element("User", {"OID": user_oid(user_id), "UserType": user_type}):
                # Staff are named as they print on audit rows and signatures; e-mail addresses are never exported.
                name = user.get("full_name") or (
                    "System (named processes: loaders, derivations, command line)"
                    if user_id == SYSTEM_ACTOR_ID
                    else f"User {user_id}"
                )
                out.leaf("FullName", text=str(name))
                for site_id in sorted(inputs.user_sites.get(user_id, []), key=lambda s: site_codes.get(s, "")):
                    if site_id in site_codes:
                        out.leaf("LocationRef", {"LocationOID": location_oid(site_codes[site_id])})
        for site in study.sites:
            attributes = {"OID": location_oid(site["code"]), "Name": site["name"], "LocationType": "Site"}
            with out.element("Location", attributes):
                reference = {
                    "StudyOID": study.oid,
                    "MetaDataVersionOID": study.mdv_oid,
                    "EffectiveDate": study.effective_on.isoformat(),
                }
                out.leaf("MetaDataVersionRef", reference)
        for meaning in SignatureMeaning:
            with out.element("SignatureDef", {"OID": signature_oid(meaning), "Methodology": "Electronic"}):
                out.leaf("Meaning", text=MEANINGS[meaning])
                out.leaf("LegalReason", text=LEGAL_REASON)


def signature_oid(meaning: SignatureMeaning | str) -> str:
    return f"SD.{SignatureMeaning(meaning).value.upper()}"


# ----------------------------------------------------------------------------------------- clinical data


@dataclass
class SubjectData:
    """One subject's records, replayed from its audit events and placed in the ODM tree."""

    keys: SubjectKeys
    location: str
    inserted: Change | None
    #: visit id -> (event, repeat key, the visit's first change)
    visits: dict[int, tuple[EventDef, str | None, Change | None]]
    #: placement -> form -> [(group, record key, steps)]
    placed: dict[Placement, dict[FormCode, list[tuple[GroupSpec, int, list[Step]]]]]


class ClinicalWriter:
    """Replays each subject's audit events and writes its SubjectData."""

    def __init__(self, out: XmlOut, reader: AuditReader, inputs: Inputs, study: StudyInfo) -> None:
        self.out = out
        self.reader = reader
        self.inputs = inputs
        self.study = study
        self.groups = {group.table: group for group in inputs.groups}
        self.order = {group.table: index for index, group in enumerate(inputs.groups)}
        self.events = {event.code: event for event in study.events}
        self.derived = {table: derived_columns(Base.metadata.tables[table]) for table in self.groups}

    def _value(self, item: ItemSpec, state: dict[str, str | None]) -> str | None:
        return item.text(state, self.inputs.lookups)

    def _signatures(self, records: dict[RecordKey, list[AuditEntry]]) -> dict[RecordKey, list[SignatureMark]]:
        table = Base.metadata.tables["signature"]
        marks: dict[RecordKey, list[SignatureMark]] = defaultdict(list)
        for (name, _key), entries in records.items():
            if name != "signature" or entries[0].action != "insert":
                continue
            state = final_state(entries)
            row = {column: value_from_audit_text(table.c[column], text) for column, text in state.items()}
            marks[(row["table_name"], str(row["record_id"]))].append(SignatureMark(entries[0], row))
        return marks

    def _visit(self, visit_id: int, states: dict[int, dict[str, str | None]]) -> tuple[EventDef, str | None]:
        state = states.get(visit_id)
        if state is None:  # a visit filed under another subject: read its own history
            state = states[visit_id] = final_state(self.reader.record(("visit", str(visit_id))))
        code = state.get("visit_code") or "UNS"
        event = self.events.get(code) or self.events.get("UNS") or self.events[COMMON_EVENT]
        return event, (state.get("sequence") or "1") if event.repeating else None

    def subject(self, keys: SubjectKeys) -> SubjectData:
        records = self.reader.subject_records(keys.subject_id)
        for key in list(records):
            if key in self.inputs.moved:
                records[key] = self.reader.record(key)
        marks = self._signatures(records)
        visit_states = {int(key[1]): final_state(entries) for key, entries in records.items() if key[0] == "visit"}
        subject_state = final_state(records.get(("subject", str(keys.subject_id)), []))
        site_code = self.inputs.lookups.site_codes.get(int(subject_state.get("site_id") or 0), keys.site_code)
        data = SubjectData(keys, location_oid(site_code), None, {}, defaultdict(lambda: defaultdict(list)))
        visit_inserts: dict[int, Change] = {}
        ordered = sorted(records.items(), key=lambda item: (self.order.get(item[0][0], -1), int(item[0][1])))
        for key, entries in ordered:
            group = self.groups.get(key[0])
            if group is None:  # the signature rows: they are marks on the records they sign
                continue
            steps = record_steps(group, key[1], entries, marks.get(key, []), self._value, self.derived[group.table])
            by_place: dict[Placement, list[Step]] = defaultdict(list)
            for step in steps:
                if step.placement.subject_id == keys.subject_id:
                    by_place[step.placement].append(step)
            for place, place_steps in by_place.items():
                data.placed[place][group.form].append((group, int(key[1]), place_steps))
                first = place_steps[0]
                if group.table == "subject" and first.kind is Kind.INSERT and data.inserted is None:
                    data.inserted = first.change
                if group.table == "visit" and place.visit_id is not None and first.kind is Kind.INSERT:
                    visit_inserts.setdefault(place.visit_id, first.change)
        for place in data.placed:
            if place.visit_id is not None:
                event, repeat = self._visit(place.visit_id, visit_states)
                data.visits[place.visit_id] = (event, repeat, visit_inserts.get(place.visit_id))
        if data.inserted is None:  # the subject row itself was never inserted here: its first event stands for it
            entry = next(iter(records.get(("subject", str(keys.subject_id)), [])), None)
            data.inserted = Change([entry]) if entry is not None else None
        return data

    # ------------------------------------------------------------------------------------------- output

    def audit_record(self, change: Change, location: str, edit_point: str | None) -> None:
        entry = change.first
        with self.out.element("AuditRecord", {"EditPoint": edit_point}):
            self.out.leaf("UserRef", {"UserOID": user_oid(entry.actor_id)})
            self.out.leaf("LocationRef", {"LocationOID": location})
            self.out.leaf("DateTimeStamp", text=entry.occurred_at)
            if entry.reason:
                self.out.leaf("ReasonForChange", text=entry.reason)
            self.out.leaf("SourceID", text=change.source_id)

    def signature(self, mark: SignatureMark, location: str) -> None:
        row = mark.row
        with self.out.element("Signature"):
            self.out.leaf("UserRef", {"UserOID": user_oid(row["user_id"])})
            self.out.leaf("LocationRef", {"LocationOID": location})
            self.out.leaf("SignatureRef", {"SignatureOID": signature_oid(row["meaning"])})
            self.out.leaf("DateTimeStamp", text=odm_text(row["signed_at"]))

    def step(self, group: GroupSpec, record: int, step: Step, location: str) -> None:
        attributes = {
            "ItemGroupOID": group.oid,
            "ItemGroupRepeatKey": str(record) if group.repeating else None,
            "TransactionType": step.kind.value,
        }
        with self.out.element("ItemGroupData", attributes):
            if step.kind is Kind.CONTEXT:
                edit_point = None
            else:
                edit_point = "DataManagement" if step.derived_only else "Monitoring"
            self.audit_record(step.change, location, edit_point)
            if step.signature is not None:
                self.signature(step.signature, location)
            for item, value, unit in step.values:
                attributes = {"ItemOID": item.oid, "Value": value, "IsNull": None if value is not None else "Yes"}
                if unit is not None and value is not None:
                    with self.out.element("ItemData", attributes):
                        self.out.leaf("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(unit)})
                else:
                    self.out.leaf("ItemData", attributes)

    def _event_order(self, data: SubjectData) -> Iterator[Placement]:
        common = [place for place in data.placed if place.visit_id is None]
        visits = [place for place in data.placed if place.visit_id is not None]

        def visit_key(place: Placement) -> tuple[int, int, int]:
            assert place.visit_id is not None
            event, repeat, _first = data.visits[place.visit_id]
            return event.order, int(repeat or 0), place.visit_id

        yield from common
        yield from sorted(visits, key=visit_key)

    def write_subject(self, data: SubjectData) -> None:
        with self.out.element("SubjectData", {"SubjectKey": data.keys.usubjid, "TransactionType": Kind.INSERT.value}):
            if data.inserted is not None:
                self.audit_record(data.inserted, data.location, "Monitoring")
            self.out.leaf("SiteRef", {"LocationOID": data.location})
            for place in self._event_order(data):
                if place.visit_id is None:
                    event, repeat, first = self.events[COMMON_EVENT], None, None
                else:
                    event, repeat, first = data.visits[place.visit_id]
                attributes: dict[str, str | None] = {"StudyEventOID": event.oid, "StudyEventRepeatKey": repeat}
                if first is not None:
                    attributes["TransactionType"] = Kind.INSERT.value
                with self.out.element("StudyEventData", attributes):
                    if first is not None:
                        self.audit_record(first, data.location, "Monitoring")
                    for form in FormCode:
                        members = data.placed[place].get(form)
                        if not members:
                            continue
                        with self.out.element("FormData", {"FormOID": form_oid(form)}):
                            for group, record, steps in members:
                                for step in steps:
                                    self.step(group, record, step, data.location)
