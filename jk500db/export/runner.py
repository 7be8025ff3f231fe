"""Run an export: every requested format from one consistent snapshot, a manifest, and a record of who exported.

The export is a folder. ``manifest.json`` says when and by whom it was made, which audit position and chain head
the data stand on (so the export can be tied to the audit trail and rebuilt with ``--as-of``), the database
revision, the clinical rule versions and settings, and the SHA-256 of every file. Apart from the manifest's
``requested_at`` and ``requested_by``, two exports of the same data are byte-identical.

The runner flushes an ``export_record`` row (ICH E6(R3) 4.2.2: who took which data out, when); the caller
commits it, as services do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.errors import ValidationError
from jk500db.export.access import check_export
from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.snapshot import open_snapshot
from jk500db.models import ExportRecord, User

MANIFEST = "manifest.json"
#: Modules that hold a clinical rule with a ``RULE_VERSION`` (stored with every value they derive).
RULE_MODULES = ("astct", "ctcae", "dosing", "eligibility", "eln", "plausibility", "reporting")
#: The writer of each format (``(context) -> list[Path]``) as (module, function), in the order they run;
#: imported when used, so a command that exports tidy data never loads matplotlib.
WRITERS: dict[ExportFormat, tuple[str, str]] = {
    ExportFormat.TIDY: ("jk500db.export.tidy", "write"),
    ExportFormat.SDTM: ("jk500db.export.cdisc_files", "write_sdtm"),
    ExportFormat.ADAM: ("jk500db.export.cdisc_files", "write_adam"),
    ExportFormat.ODM: ("jk500db.export.odm", "write"),
    ExportFormat.TABLES: ("jk500db.export.tables", "write"),
    ExportFormat.PLOTS: ("jk500db.export.plots", "write"),
    ExportFormat.AUDIT: ("jk500db.export.audit_tables", "write"),
}

Progress = Callable[[ExportFormat], None]


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: list[Path]
    manifest: dict[str, Any]
    record: ExportRecord


def writer(export_format: ExportFormat) -> Callable[[ExportContext], list[Path]]:
    module, function = WRITERS[export_format]
    write: Callable[[ExportContext], list[Path]] = getattr(importlib.import_module(module), function)
    return write


def run_export(
    session: Session,
    out_dir: Path,
    formats: Sequence[ExportFormat],
    *,
    user: User,
    identified: bool = False,
    as_of: dt.datetime | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write ``formats`` under ``out_dir`` (which must be new or empty) and flush the export record."""
    if not formats:
        raise ValidationError("format", "choose at least one format")
    check_export(user.role_code, set(formats), identified)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValidationError("out", f"{out_dir} is not empty; an export goes into a new folder of its own")
    if as_of is not None and as_of.tzinfo is None:
        raise ValidationError("as_of", "give the time with its UTC offset, e.g. 2026-11-24T09:00:00Z")
    requested_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    if as_of is not None and as_of > requested_at:
        raise ValidationError("as_of", "must not be in the future")
    _repeatable_read(session)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = ExportContext(
        session,
        open_snapshot(session, as_of),
        out_dir,
        identified=identified,
        requested_by=user.full_name,
        requested_at=requested_at,
    )
    ordered = [f for f in ExportFormat if f in set(formats)]
    files: list[Path] = []
    for export_format in ordered:
        if progress is not None:
            progress(export_format)
        files.extend(writer(export_format)(context))
    manifest = _manifest(context, ordered, files)
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    (out_dir / MANIFEST).write_text(text, encoding="utf-8")
    record = ExportRecord(
        exported_at=requested_at,
        user_id=user.id,
        formats=",".join(f.value for f in ordered),
        identified=identified,
        as_of=context.snapshot.as_of,
        audit_head_hash=context.snapshot.audit_head_hash,
        manifest_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    session.add(record)
    session.flush()
    return ExportResult(out_dir, files, manifest, record)


def _repeatable_read(session: Session) -> None:
    """On PostgreSQL, read every table and the audit position from one snapshot of the database.

    Must run before the transaction's first statement; SQLite's read transaction is already one snapshot.
    """
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_entry(root: Path, path: Path) -> dict[str, Any]:
    return {"path": path.relative_to(root).as_posix(), "sha256": sha256_of(path), "bytes": path.stat().st_size}


def _manifest(context: ExportContext, formats: list[ExportFormat], files: list[Path]) -> dict[str, Any]:
    snapshot = context.snapshot
    settings = [
        {"definition": row["definition_id"], "key": row["key"], "value": json.loads(row["value_json"])}
        for row in context.rows("rule_setting")
    ]
    definitions = {
        row["id"]: {"label": row["label"], "version": row["version"], "active": row["active"]}
        for row in context.rows("study_definition_version")
    }
    return {
        "requested_at": context.requested_at.isoformat().replace("+00:00", "Z"),
        "requested_by": context.requested_by,
        "formats": [f.value for f in formats],
        "identified": context.identified,
        "as_of": None if snapshot.as_of is None else snapshot.as_of.isoformat().replace("+00:00", "Z"),
        "audit": {
            "position": snapshot.audit_position,
            "head_hash": snapshot.audit_head_hash,
            "data_moment": snapshot.data_moment.isoformat().replace("+00:00", "Z"),
        },
        "database": {
            "engine": context.session.get_bind().dialect.name,
            "revision": migrate.current_revision(context.session.connection()),
        },
        "rule_versions": {
            name: importlib.import_module(f"jk500db.clinical.{name}").RULE_VERSION for name in RULE_MODULES
        },
        "study_definitions": [definitions[key] for key in sorted(definitions)],
        "rule_settings": sorted(settings, key=lambda s: (s["definition"], s["key"])),
        "files": [_file_entry(context.out_dir, path) for path in sorted(files)],
    }
