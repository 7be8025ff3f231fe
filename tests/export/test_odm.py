"""The CDISC ODM 1.3.2 export: valid against the schema, complete, faithful to the audit trail, reproducible.

The file is read back with lxml only (the schema in seed_data/schemas/odm132, and XPath), never with the
writer's own code. Tests that change data build their own small study in the ``session`` fixture's rolled-back
transaction; the others read the shared export study.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # lxml ships no type information
from sqlalchemy.orm import Session

from jk500db.db import create_engine
from jk500db.export import odm
from jk500db.export.context import ExportContext
from jk500db.export.schemas import ODM_132_XSD, schema
from jk500db.export.snapshot import open_snapshot
from jk500db.models import AdverseEvent, AuditEvent, LabResult, Subject, Visit
from jk500db.models.vocabularies import RoleCode, SignatureMeaning
from jk500db.services.records import remove_record, update_record
from jk500db.services.signatures import sign
from tests import factories

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}


@pytest.fixture(scope="module")
def odm_schema() -> etree.XMLSchema:
    return schema(ODM_132_XSD)


def export(session: Session, folder: Path, *, identified: bool = False, as_of: dt.datetime | None = None) -> Path:
    context = ExportContext(session, open_snapshot(session, as_of), folder, identified=identified)
    paths = odm.write(context)
    assert paths == [folder / "odm" / odm.FILE_NAME]
    return paths[0]


@pytest.fixture(scope="module")
def study_file(study_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export study's ODM file, written once per engine for the tests that only read it."""
    engine = create_engine(study_url)
    try:
        with Session(engine) as session:
            path = export(session, tmp_path_factory.mktemp("odm"))
            session.rollback()
    finally:
        engine.dispose()
    return path


def xpath(node: Any, path: str, **variables: Any) -> list[Any]:
    result = node.xpath(path, namespaces=NS, **variables)
    assert isinstance(result, list)
    return result


def one(node: Any, path: str, **variables: Any) -> Any:
    found = xpath(node, path, **variables)
    assert len(found) == 1, f"{path}: {len(found)} matches"
    return found[0]


# --- the schema -----------------------------------------------------------------------------------------------


def test_the_study_export_is_valid_against_the_odm_1_3_2_schema(study_file: Path, odm_schema: etree.XMLSchema) -> None:
    """ODM 1.3.2 (ODM1-3-2.xsd with its foundation schema); a Transactional file, as audit records need (§2.8)."""
    document = etree.parse(str(study_file))
    assert odm_schema.validate(document), odm_schema.error_log
    root = document.getroot()
    assert (root.get("ODMVersion"), root.get("FileType"), root.get("Granularity")) == ("1.3.2", "Transactional", "All")


@pytest.mark.parametrize(
    ("broken", "path"),
    [
        ("a SubjectData without its SubjectKey", "//odm:SubjectData"),
        ("an ItemGroupData without its ItemGroupOID", "//odm:ItemGroupData"),
        ("an AuditRecord without its DateTimeStamp", "//odm:AuditRecord/odm:DateTimeStamp"),
    ],
)
def test_a_document_missing_a_required_part_fails_validation(
    study_file: Path, odm_schema: etree.XMLSchema, broken: str, path: str
) -> None:
    """The schema check is real: ODM 1.3.2 requires SubjectKey, ItemGroupOID and an AuditRecord's DateTimeStamp."""
    document = etree.parse(str(study_file))
    target = xpath(document, path)[0]
    if target.tag.endswith("DateTimeStamp"):
        target.getparent().remove(target)
    else:
        del target.attrib["SubjectKey" if target.tag.endswith("SubjectData") else "ItemGroupOID"]
    assert not odm_schema.validate(document), broken


# --- completeness ---------------------------------------------------------------------------------------------


def test_every_subject_and_every_adverse_event_appears(study: Session, study_file: Path) -> None:
    """Counts reconcile with the database: one SubjectData per subject (USUBJID), one IG.ADVERSE_EVENT entity per
    adverse event, and the Remove transactions equal the removed events."""
    document = etree.parse(str(study_file))
    subjects = study.execute(sa.text("SELECT count(*) FROM subject")).scalar_one()
    keys = [node.get("SubjectKey") for node in xpath(document, "//odm:SubjectData")]
    assert len(keys) == len(set(keys)) == subjects == 36
    numbers = study.scalars(sa.select(Subject.subject_number)).all()
    assert {key.split("-", 2)[2] for key in keys} == set(numbers)

    adverse_events = study.execute(sa.text("SELECT count(*) FROM adverse_event")).scalar_one()
    removed = study.execute(sa.text("SELECT count(*) FROM adverse_event WHERE removed_at IS NOT NULL")).scalar_one()
    entities: dict[tuple[str, str], list[str]] = defaultdict(list)
    for group in xpath(document, "//odm:ItemGroupData[@ItemGroupOID='IG.ADVERSE_EVENT']"):
        subject = group.getparent().getparent().getparent().get("SubjectKey")
        entities[(subject, group.get("ItemGroupRepeatKey"))].append(group.get("TransactionType"))
    assert adverse_events > 0
    assert len(entities) == adverse_events
    assert all(kinds[0] == "Insert" for kinds in entities.values())
    assert sum(kinds[-1] == "Remove" for kinds in entities.values()) == removed


def replay(document: Any) -> dict[tuple[str, ...], dict[str, str]]:
    """Apply the file's transactions in document order (ODM 1.3.2 §2.9): the current values of every record."""
    records: dict[tuple[str, ...], dict[str, str]] = {}
    for group in xpath(document, "//odm:ItemGroupData"):
        form = group.getparent()
        event = form.getparent()
        subject = event.getparent()
        key = (
            subject.get("SubjectKey"),
            event.get("StudyEventOID"),
            event.get("StudyEventRepeatKey") or "",
            group.get("ItemGroupOID"),
            group.get("ItemGroupRepeatKey") or "",
        )
        kind = group.get("TransactionType")
        if kind == "Insert":
            assert key not in records, f"Insert of an existing record {key}"
            records[key] = {}
        elif kind == "Remove":
            del records[key]
            continue
        else:
            assert key in records, f"{kind} of a record that does not exist {key}"
        for item in xpath(group, "odm:ItemData"):
            if item.get("IsNull") == "Yes":
                records[key].pop(item.get("ItemOID"), None)
            else:
                records[key][item.get("ItemOID")] = item.get("Value")
    return records


def test_replaying_the_transactions_gives_the_values_in_the_database(study: Session, study_file: Path) -> None:
    """AT-04: the file holds every version; replayed in order (ODM 1.3.2 §2.10) it ends at the database's values,
    decimals exactly as entered."""
    records = replay(etree.parse(str(study_file)))
    labs = {key[-1]: values for key, values in records.items() if key[3] == "IG.LAB_RESULT"}
    rows = study.execute(sa.select(LabResult).where(LabResult.removed_at.is_(None))).scalars().all()
    assert len(labs) == len(rows) > 100
    for row in rows:
        values = labs[str(row.id)]
        assert values.get("IT.LAB_RESULT.VALUE") == (None if row.value is None else str(row.value))
        assert values["IT.LAB_RESULT.TEST_CODE"] == row.test_code.value
        assert values["IT.LAB_RESULT.COLLECTED_AT"] == row.collected_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert values.get("IT.LAB_RESULT.CTCAE_GRADE") == (None if row.ctcae_grade is None else str(row.ctcae_grade))
    events = {key[-1]: values for key, values in records.items() if key[3] == "IG.ADVERSE_EVENT"}
    for ae in study.execute(sa.select(AdverseEvent).where(AdverseEvent.removed_at.is_(None))).scalars():
        values = events[str(ae.id)]
        assert values["IT.ADVERSE_EVENT.GRADE"] == str(ae.grade)
        assert values["IT.ADVERSE_EVENT.ONSET_DATE"] == ae.onset_date.isoformat()
        assert values["IT.ADVERSE_EVENT.CTCAE_TERM"] == ae.term.meddra_code


def test_every_reference_in_the_file_resolves(study_file: Path) -> None:
    """ODM 1.3.2 §2.11: every OID used is defined in the file (the schema does not check this)."""
    document = etree.parse(str(study_file))

    def defined(element: str) -> set[str]:
        return {node.get("OID") for node in xpath(document, f"//odm:{element}")}

    checks = {
        "ItemData/@ItemOID": defined("ItemDef"),
        "ItemGroupData/@ItemGroupOID": defined("ItemGroupDef"),
        "FormData/@FormOID": defined("FormDef"),
        "StudyEventData/@StudyEventOID": defined("StudyEventDef"),
        "UserRef/@UserOID": defined("User"),
        "LocationRef/@LocationOID": defined("Location"),
        "SiteRef/@LocationOID": defined("Location"),
        "MeasurementUnitRef/@MeasurementUnitOID": defined("MeasurementUnit"),
        "CodeListRef/@CodeListOID": defined("CodeList"),
    }
    for reference, targets in checks.items():
        used = set(xpath(document, f"//odm:{reference}"))
        assert used, reference
        assert used <= targets, f"{reference}: {sorted(used - targets)[:5]} are not defined"
    coded = {
        item.get("OID"): {value.get("CodedValue") for value in xpath(document, f"//odm:CodeList[@OID='{ref}']/*")}
        for item in xpath(document, "//odm:ItemDef[odm:CodeListRef]")
        for ref in [one(item, "odm:CodeListRef").get("CodeListOID")]
    }
    for item in xpath(document, "//odm:ItemData[@Value]"):
        allowed = coded.get(item.get("ItemOID"))
        assert allowed is None or item.get("Value") in allowed, (item.get("ItemOID"), item.get("Value"))
    # §3.1.4.1.1 and §3.1.4.1.1.1.1: a repeat key is present if and only if the definition is repeating.
    for data, definition, key in (
        ("StudyEventData", "StudyEventDef", "StudyEventRepeatKey"),
        ("ItemGroupData", "ItemGroupDef", "ItemGroupRepeatKey"),
    ):
        repeating = {node.get("OID"): node.get("Repeating") == "Yes" for node in xpath(document, f"//odm:{definition}")}
        oid = f"{definition.removesuffix('Def')}OID"
        for node in xpath(document, f"//odm:{data}"):
            assert (node.get(key) is not None) == repeating[node.get(oid)], (data, node.get(oid))


def test_two_exports_of_the_same_database_are_byte_identical(study: Session, study_file: Path, tmp_path: Path) -> None:
    """Reproducible: no clock, random id or unordered collection reaches the file."""
    again = export(study, tmp_path / "second")
    assert again.read_bytes() == study_file.read_bytes()
    root = etree.parse(str(again)).getroot()
    newest = study.scalar(sa.select(AuditEvent.occurred_at).order_by(AuditEvent.id.desc()).limit(1))
    assert newest is not None
    assert dt.datetime.fromisoformat(root.get("CreationDateTime")) == dt.datetime.fromisoformat(newest)
    assert str(open_snapshot(study).audit_position) in root.get("FileOID")


def test_no_birth_date_or_identifying_column_in_a_de_identified_export(
    study: Session, study_file: Path, tmp_path: Path
) -> None:
    """De-identified by default: no ItemDef or value of a birth date, screening number or signer name; an
    identified export has them (so the check can fail)."""
    text = study_file.read_text(encoding="utf-8")
    for hidden in ("IT.SUBJECT.BIRTH_DATE", "IT.SUBJECT.SCREENING_NUMBER", "IT.CONSENT.SIGNER_NAME"):
        assert hidden not in text
    identified = export(study, tmp_path / "identified", identified=True)
    document = etree.parse(str(identified))
    birth_dates = {value.get("Value") for value in xpath(document, "//odm:ItemData[@ItemOID='IT.SUBJECT.BIRTH_DATE']")}
    stored = {row.isoformat() for row in study.scalars(sa.select(Subject.birth_date))}
    assert birth_dates == stored
    assert "deidentified" in etree.parse(str(study_file)).getroot().get("FileOID")


# --- a small study of our own: edits, removals, signatures -----------------------------------------------------


class Casebook:
    """One subject with an adverse event, a data manager who corrects it and an investigator who signs it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.data_manager = factories.user(session, RoleCode.DATA_MANAGER, full_name="Dana Manager")
        self.investigator = factories.user(session, RoleCode.INVESTIGATOR, full_name="Dr Ivo Vestigator")
        factories.act(session, self.data_manager)
        self.subject = factories.subject(session)
        self.ae = factories.adverse_event(session, subject_id=self.subject.id, grade=2)
        self.lab = factories.lab_result(session, subject_id=self.subject.id, value=Decimal("0.40"))
        session.commit()

    def usubjid(self) -> str:
        return f"TEST-01-{self.subject.subject_number}"

    def pause(self) -> None:
        """Let the database clock move on, so the next change has a later audit time (SQLite counts ms)."""
        time.sleep(0.01)

    def correct_grade(self, grade: int, reason: str) -> None:
        self.pause()
        factories.act(self.session, self.data_manager)
        update_record(self.session, self.ae, {"grade": grade}, seen_version=self.ae.version, reason=reason)
        self.session.commit()

    def remove_lab(self, reason: str) -> None:
        self.pause()
        factories.act(self.session, self.data_manager)
        now = dt.datetime.now(dt.UTC)
        remove_record(self.session, self.lab, seen_version=self.lab.version, reason=reason, now=now)
        self.session.commit()

    def sign_ae(self) -> dt.datetime:
        self.pause()
        factories.act(self.session, self.investigator)
        signed_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        sign(
            self.session,
            signer=self.investigator,
            password=factories.TEST_PASSWORD,
            username=self.investigator.email,
            meaning=SignatureMeaning.AE_CAUSALITY_ASSESSED,
            table_name="adverse_event",
            record_id=self.ae.id,
            now=signed_at,
        )
        self.session.commit()
        return signed_at


@pytest.fixture
def casebook(session: Session) -> Casebook:
    return Casebook(session)


GRADE = "IT.ADVERSE_EVENT.GRADE"


def ae_elements(document: Any) -> list[Any]:
    return xpath(document, "//odm:ItemGroupData[@ItemGroupOID='IG.ADVERSE_EVENT']")


def graded(document: Any) -> list[Any]:
    """The adverse event's elements that set its grade (derivations add their own Updates between them)."""
    return [element for element in ae_elements(document) if xpath(element, f"odm:ItemData[@ItemOID='{GRADE}']")]


def audit_events(session: Session, table: str, row: int, field: str) -> list[AuditEvent]:
    query = sa.select(AuditEvent).where(
        AuditEvent.table_name == table, AuditEvent.row_key == str(row), AuditEvent.field_name == field
    )
    return list(session.scalars(query.order_by(AuditEvent.id)))


def test_an_edited_value_carries_its_audit_record_with_the_reason(
    session: Session, casebook: Casebook, tmp_path: Path, odm_schema: etree.XMLSchema
) -> None:
    """AT-10, AT-03, AT-04: the first entry and the correction are both in the file, in order, each with who (a
    User with a printed name, never an e-mail), where, when (the audit time) and why (ODM 1.3.2 §3.1.4.1.2)."""
    casebook.correct_grade(3, "Source document says grade 3")
    document = etree.parse(str(export(session, tmp_path)))
    assert odm_schema.validate(document), odm_schema.error_log

    grades = [(element, one(element, f"odm:ItemData[@ItemOID='{GRADE}']")) for element in graded(document)]
    assert [(element.get("TransactionType"), item.get("Value")) for element, item in grades] == [
        ("Insert", "2"),
        ("Update", "3"),
    ]
    updated = grades[1][0]
    audit = one(updated, "odm:AuditRecord")
    assert one(audit, "odm:ReasonForChange").text == "Source document says grade 3"
    user = one(audit, "odm:UserRef").get("UserOID")
    assert user == f"USR.{casebook.data_manager.id}"
    assert one(audit, "odm:LocationRef").get("LocationOID") == "LOC.01"
    edit = audit_events(session, "adverse_event", casebook.ae.id, "grade")[-1]
    assert one(audit, "odm:DateTimeStamp").text == edit.occurred_at
    assert str(edit.id) in one(audit, "odm:SourceID").text
    assert one(document, "//odm:User[@OID=$oid]/odm:FullName", oid=user).text == "Dana Manager"
    assert casebook.data_manager.email not in etree.tostring(document).decode()
    assert one(updated.getparent().getparent().getparent(), "self::odm:SubjectData").get("SubjectKey") == (
        casebook.usubjid()
    )


def test_a_removed_record_is_a_remove_transaction_with_its_reason(
    session: Session, casebook: Casebook, tmp_path: Path
) -> None:
    """ODM 1.3.2 §2.9: removal is TransactionType="Remove" after the record's Insert, not an omission."""
    casebook.remove_lab("Entered on the wrong subject")
    document = etree.parse(str(export(session, tmp_path)))
    labs = xpath(document, "//odm:ItemGroupData[@ItemGroupOID='IG.LAB_RESULT']")
    kinds = [lab.get("TransactionType") for lab in labs]
    assert (kinds[0], kinds[-1], kinds.count("Remove")) == ("Insert", "Remove", 1)  # derivations update between
    assert one(labs[0], "odm:ItemData[@ItemOID='IT.LAB_RESULT.VALUE']").get("Value") == "0.40"
    assert one(labs[0], "odm:ItemData[@ItemOID='IT.LAB_RESULT.VALUE']/odm:MeasurementUnitRef").get(
        "MeasurementUnitOID"
    ) == one(document, "//odm:MeasurementUnit[@Name='10^9/L']").get("OID")
    assert one(labs[-1], "odm:AuditRecord/odm:ReasonForChange").text == "Entered on the wrong subject"
    assert xpath(labs[-1], "odm:ItemData") == []
    assert not any(key[3] == "IG.LAB_RESULT" for key in replay(document))


def test_a_signature_is_exported_where_it_was_given(
    session: Session, casebook: Casebook, tmp_path: Path, odm_schema: etree.XMLSchema
) -> None:
    """ES-02, ES-01: the signature appears with signer, meaning and time on the record it signs, after the
    changes made before it and before the ones made after it (ODM 1.3.2 §2.10, §3.1.4.1.3)."""
    signed_at = casebook.sign_ae()
    casebook.correct_grade(4, "Investigator regraded after the signature")
    document = etree.parse(str(export(session, tmp_path)))
    assert odm_schema.validate(document), odm_schema.error_log

    elements = ae_elements(document)
    kinds = [element.get("TransactionType") for element in elements]
    assert kinds.count("Context") == 1
    signed = elements[kinds.index("Context")]
    entered, regraded = graded(document)
    assert elements.index(entered) < elements.index(signed) < elements.index(regraded)
    assert one(regraded, f"odm:ItemData[@ItemOID='{GRADE}']").get("Value") == "4"
    assert one(signed, "odm:AuditRecord/odm:UserRef").get("UserOID") == f"USR.{casebook.investigator.id}"
    signature = one(signed, "odm:Signature")
    assert one(signature, "odm:UserRef").get("UserOID") == f"USR.{casebook.investigator.id}"
    assert one(signature, "odm:SignatureRef").get("SignatureOID") == "SD.AE_CAUSALITY_ASSESSED"
    assert dt.datetime.fromisoformat(one(signature, "odm:DateTimeStamp").text) == signed_at
    assert one(document, "//odm:SignatureDef[@OID='SD.AE_CAUSALITY_ASSESSED']/odm:Meaning").text
    assert one(document, "//odm:User[@OID=$oid]/odm:FullName", oid=f"USR.{casebook.investigator.id}").text == (
        "Dr Ivo Vestigator"
    )
    created = dt.datetime.fromisoformat(document.getroot().get("CreationDateTime"))
    stamps = [dt.datetime.fromisoformat(node.text) for node in xpath(document, "//odm:DateTimeStamp")]
    assert max(stamps) <= created


def test_an_export_as_of_a_moment_before_an_edit_has_only_the_old_value(
    session: Session, casebook: Casebook, tmp_path: Path
) -> None:
    """--as-of: the audit trail is read only up to the snapshot's position."""
    entered = audit_events(session, "adverse_event", casebook.ae.id, "grade")[0]
    casebook.correct_grade(3, "Source document says grade 3")
    # A millisecond later: SQLite writes milliseconds, and the snapshot compares audit times as text.
    moment = dt.datetime.fromisoformat(entered.occurred_at) + dt.timedelta(milliseconds=1)
    document = etree.parse(str(export(session, tmp_path, as_of=moment)))
    assert [element.get("TransactionType") for element in graded(document)] == ["Insert"]
    assert "Source document says grade 3" not in etree.tostring(document).decode()
    assert dt.datetime.fromisoformat(document.getroot().get("AsOfDateTime")) == moment


def lab_places(document: Any) -> list[tuple[str, str | None, str]]:
    """(SubjectKey, StudyEventRepeatKey, TransactionType) of every lab element, in document order."""
    places = []
    for lab in xpath(document, "//odm:ItemGroupData[@ItemGroupOID='IG.LAB_RESULT']"):
        event = lab.getparent().getparent()
        places.append(
            (event.getparent().get("SubjectKey"), event.get("StudyEventRepeatKey"), lab.get("TransactionType"))
        )
    return places


def test_a_record_moved_to_another_visit_leaves_one_and_enters_the_other(
    session: Session, casebook: Casebook, tmp_path: Path, odm_schema: etree.XMLSchema
) -> None:
    """ODM 1.3.2 §2.7, §2.9: a record's visit is part of its key, so a move is a Remove from the old visit and an
    Insert with every value into the new one, both under the audit record (and reason) of the move."""
    first, second = (
        Visit(subject_id=casebook.subject.id, visit_code="UNS", sequence=number, unscheduled=True) for number in (1, 2)
    )
    session.add_all([first, second])
    session.flush()
    update_record(session, casebook.lab, {"visit_id": first.id}, seen_version=casebook.lab.version, reason="Visit 1")
    session.commit()
    casebook.pause()
    reason = "Sample was taken at the second unscheduled visit"
    update_record(session, casebook.lab, {"visit_id": second.id}, seen_version=casebook.lab.version, reason=reason)
    session.commit()

    document = etree.parse(str(export(session, tmp_path)))
    assert odm_schema.validate(document), odm_schema.error_log
    subject = casebook.usubjid()
    places = [place for place in lab_places(document) if place[2] in ("Insert", "Remove")]
    assert places == [
        (subject, None, "Insert"),  # entered without a visit: the subject-level event
        (subject, None, "Remove"),
        (subject, "1", "Insert"),
        (subject, "1", "Remove"),
        (subject, "2", "Insert"),
    ]
    second_visit = one(document, "//odm:StudyEventData[@StudyEventRepeatKey='2']")
    lab = one(second_visit, ".//odm:ItemGroupData[@ItemGroupOID='IG.LAB_RESULT'][@TransactionType='Insert']")
    assert one(lab, "odm:AuditRecord/odm:ReasonForChange").text == reason
    assert one(lab, "odm:ItemData[@ItemOID='IT.LAB_RESULT.VALUE']").get("Value") == "0.40"
    labs = [key for key in replay(document) if key[3] == "IG.LAB_RESULT"]
    assert labs == [(subject, "SE.UNS", "2", "IG.LAB_RESULT", str(casebook.lab.id))]


def test_a_record_moved_to_another_subject_is_removed_from_the_first(
    session: Session, casebook: Casebook, tmp_path: Path
) -> None:
    """A record corrected onto another subject leaves the first subject's data with the reason and enters the
    second one's with all its values (its history is filed under both subjects in the audit trail)."""
    other = factories.subject(session, subject_number="01-002", screening_number="S002")
    casebook.pause()
    factories.act(session, casebook.data_manager)
    reason = "Result belongs to subject 01-002"
    update_record(session, casebook.lab, {"subject_id": other.id}, seen_version=casebook.lab.version, reason=reason)
    session.commit()

    document = etree.parse(str(export(session, tmp_path)))
    places = [place for place in lab_places(document) if place[2] in ("Insert", "Remove")]
    assert places == [
        ("TEST-01-01-001", None, "Insert"),
        ("TEST-01-01-001", None, "Remove"),
        ("TEST-01-01-002", None, "Insert"),
    ]
    removed = xpath(document, "//odm:ItemGroupData[@ItemGroupOID='IG.LAB_RESULT'][@TransactionType='Remove']")[0]
    assert one(removed, "odm:AuditRecord/odm:ReasonForChange").text == reason
    labs = [key for key in replay(document) if key[3] == "IG.LAB_RESULT"]
    assert [key[0] for key in labs] == ["TEST-01-01-002"]
