"""The audit trail, queries, SDV and signatures as tables of their own (issue 6, item 7).

Reviewers get the oversight records in the same export as the data they are about, at the same audit
position: ``audit_trail.csv`` holds every event up to the position the data stand on, with the chain hashes, so
``jk500db audit verify`` on the database and a recomputation over the file can both reach the head hash the
manifest names. Subjects are named by USUBJID and staff by their printed name; internal ids stay out, except
record keys, which the audit trail itself uses. A de-identified export withholds the old and new values of
identifying columns (birth dates, names, e-mail addresses), so those events cannot be rehashed from the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from jk500db.audit.chain import HASHED_COLUMNS
from jk500db.export.context import ExportContext, ExportFormat, is_identifying
from jk500db.export.csvfiles import write_csv
from jk500db.export.snapshot import BATCH
from jk500db.models import AuditEvent

#: What a de-identified audit trail shows instead of a birth date, a name or an e-mail address. Those rows'
#: hashes can then be checked only against the database (``jk500db audit verify``), not recomputed from the file.
WITHHELD = "[withheld: identifying]"


def write(context: ExportContext) -> list[Path]:
    folder = context.folder(ExportFormat.AUDIT)
    staff = {row["id"]: row["full_name"] for row in context.snapshot.rows("user_account")}
    paths = [
        _audit_trail(context, folder / "audit_trail.csv"),
        _queries(context, staff, folder / "queries.csv"),
        _query_messages(context, staff, folder / "query_messages.csv"),
        _sdv(context, staff, folder / "sdv.csv"),
        _signatures(context, folder / "signatures.csv"),
        _locks(context, staff, folder / "locks.csv"),
    ]
    return paths


def _usubjid(context: ExportContext, subject_id: int | None) -> str | None:
    return None if subject_id is None else context.subjects[subject_id].usubjid


def _audit_trail(context: ExportContext, path: Path) -> Path:
    columns = [AuditEvent.id, *(getattr(AuditEvent, name) for name in HASHED_COLUMNS), AuditEvent.prev_hash]
    columns.append(AuditEvent.row_hash)
    old_value, new_value = 1 + HASHED_COLUMNS.index("old_value"), 1 + HASHED_COLUMNS.index("new_value")

    def rows() -> Iterator[list[Any]]:
        # Keyset pages by id: flat memory and no long-lived cursor, whatever the length of the trail.
        last = 0
        while True:
            page = context.session.execute(
                sa.select(*columns)
                .where(AuditEvent.id > last, AuditEvent.id <= context.snapshot.audit_position)
                .order_by(AuditEvent.id)
                .limit(BATCH)
            ).all()
            if not page:
                return
            for event in page:
                # The hashed text exactly as stored (what the chain hashes cover), then the subject's USUBJID;
                # except that a de-identified export withholds the values of identifying columns.
                values = list(event)
                if not context.identified and is_identifying(event.table_name, event.field_name or ""):
                    values[old_value] = None if event.old_value is None else WITHHELD
                    values[new_value] = None if event.new_value is None else WITHHELD
                yield [*values, _usubjid(context, event.subject_id)]
            last = page[-1].id

    write_csv(path, ["event", *HASHED_COLUMNS, "prev_hash", "row_hash", "usubjid"], rows())
    return path


def _queries(context: ExportContext, staff: dict[int, str], path: Path) -> Path:
    header = ["query", "usubjid", "table", "record", "field", "status", "origin", "rule", "opened_by", "opened_at"]
    header += ["answered_by", "answered_at", "closed_by", "closed_at"]
    write_csv(
        path,
        header,
        (
            [
                q["id"], _usubjid(context, q["subject_id"]), q["table_name"], q["record_id"], q["field_name"],
                q["status"], q["origin"], q["rule_id"], staff.get(q["opened_by_id"]), q["opened_at"],
                staff.get(q["answered_by_id"]), q["answered_at"], staff.get(q["closed_by_id"]), q["closed_at"],
            ]
            for q in context.rows("query")
        ),
    )  # fmt: skip
    return path


def _query_messages(context: ExportContext, staff: dict[int, str], path: Path) -> Path:
    write_csv(
        path,
        ["message", "query", "author", "written_at", "status_after", "text"],
        (
            [m["id"], m["query_id"], staff.get(m["author_id"]), m["written_at"], m["status_after"], m["text"]]
            for m in context.rows("query_message")
        ),
    )
    return path


def _sdv(context: ExportContext, staff: dict[int, str], path: Path) -> Path:
    visits = {row["id"]: row["visit_code"] for row in context.rows("visit")}
    write_csv(
        path,
        ["mark", "usubjid", "visit", "form", "verified_by", "verified_at", "state", "cleared_at", "cleared_reason"],
        (
            [
                s["id"], _usubjid(context, s["subject_id"]), visits.get(s["visit_id"]), s["form_code"],
                staff.get(s["verified_by_id"]), s["verified_at"], "cleared" if s["cleared_at"] else "verified",
                s["cleared_at"], s["cleared_reason"],
            ]
            for s in context.rows("sdv_mark")
        ),
    )  # fmt: skip
    return path


def _signatures(context: ExportContext, path: Path) -> Path:
    header = ["signature", "usubjid", "meaning", "signer", "signed_at", "table", "record", "record_version"]
    header += ["content_sha256", "state", "invalidated_at", "invalidated_reason"]
    write_csv(
        path,
        header,
        (
            [
                s["id"], _usubjid(context, s["subject_id"]), s["meaning"], s["printed_name"], s["signed_at"],
                s["table_name"], s["record_id"], s["record_version"], s["content_sha256"],
                "invalidated" if s["invalidated_at"] else "valid", s["invalidated_at"], s["invalidated_reason"],
            ]
            for s in context.rows("signature")
        ),
    )  # fmt: skip
    return path


def _locks(context: ExportContext, staff: dict[int, str], path: Path) -> Path:
    visits = {row["id"]: row["visit_code"] for row in context.rows("visit")}
    locks = context.rows("record_lock")
    header = ["lock", "level", "mode", "usubjid", "visit", "form", "locked_by", "locked_at", "reason"]
    header += ["unlocked_by", "unlocked_at", "unlock_reason"]
    write_csv(
        path,
        header,
        (
            [
                lock["id"], lock["level"], lock["mode"], _usubjid(context, lock["subject_id"]),
                visits.get(lock["visit_id"]), lock["form_code"], staff.get(lock["locked_by_id"]), lock["locked_at"],
                lock["reason"],
                staff.get(lock["unlocked_by_id"]), lock["unlocked_at"], lock["unlock_reason"],
            ]
            for lock in locks
        ),
    )  # fmt: skip
    return path

