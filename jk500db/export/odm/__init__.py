"""CDISC ODM 1.3.2 export: the study's metadata and every clinical record with its audit trail and signatures.

``write(context)`` writes one file, ``odm/jk500db_odm.xml``, valid against the ODM 1.3.2 schema
(``shared/reference/odm132/ODM1-3-2.xsd``). It is a Transactional file (ODM 1.3.2 §2.8): each record's entry,
corrections and removal appear in the order the audit trail recorded them, each with its AuditRecord (who, the
subject's site, when, the reason for change and the audit events it came from), and each electronic signature
where it was given. Replaying the file's transactions gives the data as they stand in the snapshot.

Decisions worth knowing when reading the file:

- Removed records are ``TransactionType="Remove"`` (ODM 1.3.2 §2.9), with the removal's reason; they are not
  left out, because a transactional file must show how the data came to be what they are.
- ItemGroupRepeatKey is the record's key in the database (stable from one export to the next); columns that link
  records hold the linked record's repeat key, so links can be followed inside the file.
- De-identified unless ``context.identified``: identifying columns have no ItemDef and none of their values or
  changes are written. Staff appear by printed name only; e-mail addresses are never exported.
- Byte-identical for the same database: nothing comes from the clock, every list is sorted, and the FileOID is
  built from the snapshot's audit position and head hash.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # lxml ships no type information

from jk500db import __version__
from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.odm.audit import AuditReader
from jk500db.export.odm.document import ClinicalWriter, read_inputs, write_admin, write_study
from jk500db.export.odm.model import clinical_groups, odm_text
from jk500db.export.odm.xml import XmlOut

FILE_NAME = "jk500db_odm.xml"

__all__ = ["FILE_NAME", "write"]


def _file_oid(context: ExportContext) -> str:
    head = (context.snapshot.audit_head_hash or "none")[:16]
    scope = "identified" if context.identified else "deidentified"
    return f"jk500db/odm/audit-{context.snapshot.audit_position}/{head}/{scope}"


def write(context: ExportContext) -> list[Path]:
    """Write the ODM file for ``context`` and return its path."""
    groups = clinical_groups(context.identified)
    reader = AuditReader(context.session, context.snapshot.audit_position, [g.table for g in groups] + ["signature"])
    inputs = read_inputs(context, reader)
    path = context.folder(ExportFormat.ODM) / FILE_NAME
    scope = "identified" if context.identified else "de-identified (no birth dates or names of children or families)"
    attributes = {
        "Description": f"JK500 clinical data with audit trail and signatures, {scope}",
        "FileType": "Transactional",
        "Granularity": "All",
        "FileOID": _file_oid(context),
        "CreationDateTime": inputs.created,
        "AsOfDateTime": odm_text(context.snapshot.as_of) if context.snapshot.as_of else inputs.created,
        "ODMVersion": "1.3.2",
        "Originator": "JK500 trial database",
        "SourceSystem": "jk500db",
        "SourceSystemVersion": __version__,
    }
    with path.open("wb") as stream, etree.xmlfile(stream, encoding="UTF-8") as xf:
        xf.write_declaration()
        out = XmlOut(xf)
        with out.element("ODM", attributes, root=True):
            for study in inputs.studies:
                write_study(out, study, inputs)
            for study in inputs.studies:
                write_admin(out, study, inputs)
            for study in inputs.studies:
                writer = ClinicalWriter(out, reader, inputs, study)
                with out.element("ClinicalData", {"StudyOID": study.oid, "MetaDataVersionOID": study.mdv_oid}):
                    subjects = [keys for keys in context.subjects.values() if keys.study_code == study.code]
                    for keys in sorted(subjects, key=lambda keys: (keys.usubjid, keys.subject_id)):
                        writer.write_subject(writer.subject(keys))

    return [path]
