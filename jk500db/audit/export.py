"""Export the audit trail (whole study or one subject) as CSV, with the chain head hash.

The file is written for people as well as programs: ISO 8601 UTC times, every column named, and cell values
that a spreadsheet would run as a formula (starting with = + - @, tab or carriage return) prefixed with an
apostrophe, so opening the export cannot execute anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from jk500db.audit.chain import HASHED_COLUMNS
from jk500db.export.csvfiles import csv_writer
from jk500db.models import Subject

COLUMNS = ("id", *HASHED_COLUMNS, "prev_hash", "row_hash")
HEADERS = ("event", *HASHED_COLUMNS, "prev_hash", "row_hash")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 5_000


def neutralise(value: object) -> str:
    """The cell text, with a leading apostrophe where a spreadsheet would read a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class ExportSummary:
    events: int
    head_hash: str | None
    subject_number: str | None


def export_audit_csv(connection: sa.Connection, out: IO[str], *, subject_number: str | None = None) -> ExportSummary:
    subject_id = None
    if subject_number is not None:
        subject_id = connection.scalar(sa.select(Subject.id).where(Subject.subject_number == subject_number))
        if subject_id is None:
            raise LookupError(f"subject {subject_number!r} does not exist")
    writer = csv_writer(out)
    writer.writerow(HEADERS)
    where = "" if subject_id is None else "AND subject_id = :subject"
    last_id, events, head = 0, 0, None
    while True:
        rows = connection.execute(
            sa.text(f"SELECT {', '.join(COLUMNS)} FROM audit_event WHERE id > :last {where} ORDER BY id LIMIT {BATCH}"),
            {"last": last_id, "subject": subject_id},
        ).all()
        if not rows:
            break
        for row in rows:
            writer.writerow([neutralise(v) for v in row])
        events += len(rows)
        last_id = rows[-1].id
    # The head of the whole chain (not of the subject's extract): what a later verify must still reach.
    head = connection.scalar(sa.text("SELECT row_hash FROM audit_event ORDER BY id DESC LIMIT 1"))
    writer.writerow([])
    writer.writerow(["chain_head_hash", head or ""])
    return ExportSummary(events, head, subject_number)


def export_audit_file(connection: sa.Connection, path: Path, *, subject_number: str | None = None) -> ExportSummary:
    with path.open("w", newline="", encoding="utf-8") as handle:
        return export_audit_csv(connection, handle, subject_number=subject_number)
