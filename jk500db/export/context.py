"""What every export writer is given: the snapshot to read, who the export is for, and where to write.

Each format is one module with one entry point, ``write(context) -> list[Path]``, that writes its files under
``context.folder(<format>)`` and returns them; ``jk500db.export.runner`` calls the writers, hashes every file
into the manifest and records the export. Writers read clinical rows only from ``context.snapshot`` (so
``--as-of`` works for every format) and reference data that is not clinical (the CTCAE list, the study
definition) from the same snapshot too: it is audited like the rest.

De-identified by default: unless ``identified`` is set (admins only), no writer may emit a birth date, a
guardian's or child's name, or any other column listed in :data:`IDENTIFYING_COLUMNS`; age at consent is given
instead of the birth date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session

from jk500db.export.snapshot import Row, Snapshot, TextRow


class ExportFormat(StrEnum):
    TIDY = "tidy"
    SDTM = "sdtm"
    ADAM = "adam"
    ODM = "odm"
    TABLES = "tables"
    PLOTS = "plots"
    AUDIT = "audit"


#: Columns that identify a child or a family, by table: left out of de-identified exports.
IDENTIFYING_COLUMNS: dict[str, frozenset[str]] = {
    "subject": frozenset({"birth_date", "screening_number"}),
    "consent": frozenset({"signer_name"}),
    "user_account": frozenset({"email", "password_hash"}),
}


def is_identifying(table: str, column: str) -> bool:
    return column in IDENTIFYING_COLUMNS.get(table, frozenset())


@dataclass(frozen=True)
class SubjectKeys:
    """How one subject is named in every export (SDTM's STUDYID, SITEID, SUBJID and USUBJID, built once)."""

    subject_id: int
    study_code: str
    site_code: str
    subject_number: str  # SUBJID, "01-003"

    @property
    def usubjid(self) -> str:
        return f"{self.study_code}-{self.site_code}-{self.subject_number}"


@dataclass
class ExportContext:
    """One export run: read from ``snapshot``, write under ``out_dir``."""

    session: Session
    snapshot: Snapshot
    out_dir: Path
    identified: bool = False
    #: who asked for it (printed name), for the manifest and the report headers.
    requested_by: str = "system"
    #: UTC time the export was asked for; goes into the manifest only, never into data files (reproducible).
    requested_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    #: What one writer derives from the snapshot and others need too, built once per export: SDTM AE's
    #: numbering (AESEQ), which ADaM and the analysis tables take over. Keyed by the builder's constant.
    shared: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    def folder(self, export_format: ExportFormat) -> Path:
        path = self.out_dir / export_format.value
        path.mkdir(parents=True, exist_ok=True)
        return path

    def rows(self, table: str) -> Iterator[Row]:
        """The snapshot's rows of ``table``, without identifying columns unless the export is identified."""
        hidden = frozenset() if self.identified else IDENTIFYING_COLUMNS.get(table, frozenset())
        for row in self.snapshot.rows(table):
            yield {name: value for name, value in row.items() if name not in hidden} if hidden else row

    def text_rows(self, table: str) -> Iterator[TextRow]:
        """:meth:`rows` with values as the audit trail writes them (see ``Snapshot.text_rows``)."""
        hidden = frozenset() if self.identified else IDENTIFYING_COLUMNS.get(table, frozenset())
        for row in self.snapshot.text_rows(table):
            yield {name: value for name, value in row.items() if name not in hidden} if hidden else row

    @cached_property
    def subjects(self) -> dict[int, SubjectKeys]:
        """subject id -> its keys, for every subject in the snapshot (removed ones included)."""
        studies = {row["id"]: row["code"] for row in self.snapshot.rows("study")}
        sites = {row["id"]: (studies[row["study_id"]], row["code"]) for row in self.snapshot.rows("site")}
        keys = {}
        for row in self.snapshot.rows("subject"):
            study_code, site_code = sites[row["site_id"]]
            keys[row["id"]] = SubjectKeys(row["id"], study_code, site_code, row["subject_number"])
        return keys
