"""Data exports (issue 6): choose formats, re-enter the password, download one ZIP of the export folder.

An export takes data out of the system, so it is asked for as a signature is: the password again, checked by
``jk500db.services.accounts.authenticate`` for the logged-in account; a wrong one is written to the security log
and counts toward lockout, as at the login page. Who may export which formats, and identified data, is
``jk500db.export.access`` (statisticians, investigators and data managers every format, monitors the data,
ODM and audit formats, only administrators identified data); the form offers only what the role may take, and
the runner refuses anything else a hand-made request asks for.

The export itself is ``jk500db.export.runner.run_export``, the same as ``jk500db export``: a folder with a
manifest of every file's SHA-256, and an ``export_record`` row committed here (AT-12). The folder is written
under a fresh temporary directory, zipped into an anonymous temporary file (deleted by the system when the
download ends) and removed before the response starts, so nothing of an export outlives the request and a
large one never sits in memory. The ZIP is deterministic: entries sorted by path, every entry dated with the
moment the data stand for (the newest audit event the snapshot includes) and given the same permissions, so
two exports of the same data at the same request time are the same bytes.

The page also lists the user's own previous exports; administrators see everyone's.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar

import sqlalchemy as sa
from flask import current_app, request, send_file
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import Session

from admin.extensions import db, utcnow
from admin.pages.base import SecurePage
from jk500db.errors import ValidationError
from jk500db.export.access import IDENTIFIED_ROLES, allowed_formats, check_export
from jk500db.export.context import ExportFormat
from jk500db.export.runner import ExportResult, run_export
from jk500db.models import ExportRecord, User
from jk500db.models.vocabularies import RoleCode
from jk500db.services.accounts import authenticate

#: What each format holds, as the form's checkboxes say it.
FORMAT_TEXT: dict[ExportFormat, tuple[str, str]] = {
    ExportFormat.TIDY: ("Tidy data", "one CSV per form, the same tables as one XLSX workbook, and a data dictionary"),
    ExportFormat.SDTM: ("SDTM", "SDTMIG 3.4 datasets as SAS transport (XPT) and CSV, with define.xml"),
    ExportFormat.ADAM: ("ADaM", "ADSL and ADAE as SAS transport (XPT) and CSV, with define.xml"),
    ExportFormat.ODM: ("CDISC ODM", "one ODM 1.3.2 XML file with every record's audit trail and signatures"),
    ExportFormat.TABLES: ("Tables", "the analysis tables and listings as CSV and one HTML report"),
    ExportFormat.PLOTS: ("Plots", "swimmer plot, AE heat map, ANC and platelet recovery, as PNG and SVG"),
    ExportFormat.AUDIT: ("Audit tables", "the audit trail, queries, SDV marks, signatures and locks as CSV"),
}
#: The form's fields as people read them, keyed by the names the runner's and the page's errors use.
FIELD_LABELS: dict[str, str] = {
    "format": "Formats",
    "identified": "Identified data",
    "as_of": "As of (UTC)",
    "password": "Password",
}
#: Previous exports listed at most.
HISTORY_SHOWN = 100
#: Permissions of every entry in the ZIP (a regular file, rw-r--r--), whatever the server's umask.
ZIP_FILE_MODE = 0o100644
#: "Made on Unix" in each entry, so the bytes do not depend on the server's operating system.
ZIP_UNIX = 3
#: Files are copied into the ZIP in blocks of this size, so memory stays flat however large the export.
COPY_BLOCK = 1 << 20
#: Roles that may open the page: each one may export at least one format.
EXPORTER_ROLES = frozenset(role for role in RoleCode if allowed_formats(role))


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


# --- the request -------------------------------------------------------------------------------------------


@dataclass
class ExportForm:
    """What the user sent, kept as text so a refused form comes back as it was (the password never comes back)."""

    formats: list[str] = field(default_factory=list)
    identified: bool = False
    as_of: str = ""
    #: form field -> what is wrong with it.
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, form: Mapping[str, str], formats: Sequence[str]) -> ExportForm:
        return cls(list(formats), form.get("identified") == "1", form.get("as_of", "").strip())

    def refuse(self, error: ValidationError) -> str:
        """Put ``error`` beside its field and return it as the page's summary says it."""
        self.errors[error.field] = error.rule
        return f"{field_label(error.field)}: {error.rule}"


@dataclass(frozen=True)
class ExportRequest:
    formats: list[ExportFormat]
    identified: bool
    as_of: dt.datetime | None


def parse_as_of(text: str) -> dt.datetime | None:
    """The "as of" moment: a date and time in UTC (the form's field has no offset; one given is honoured)."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("as_of", f"{text!r} is not a date and time such as 2026-11-24T09:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def parse_export_form(form: ExportForm) -> ExportRequest:
    if not form.formats:
        raise ValidationError("format", "choose at least one format")
    known = {f.value for f in ExportFormat}
    unknown = sorted(set(form.formats) - known)
    if unknown:
        raise ValidationError("format", f"there is no format {', '.join(unknown)}")
    chosen = [f for f in ExportFormat if f.value in set(form.formats)]
    return ExportRequest(chosen, form.identified, parse_as_of(form.as_of))


# --- the ZIP -----------------------------------------------------------------------------------------------


def zip_date_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    """A ZIP entry's date and time (no zone: UTC by convention here), clamped to what the format can hold."""
    moment = moment.astimezone(dt.UTC)
    year = min(max(moment.year, 1980), 2107)
    return (year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def write_zip(folder: Path, target: IO[bytes], moment: dt.datetime) -> None:
    """Every file under ``folder`` into ``target``: sorted by path, one date, one mode, streamed in blocks.

    Nothing of the server (clock, umask, file system order, operating system) reaches the bytes.
    """
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=zip_date_time(moment))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = ZIP_UNIX
            info.external_attr = ZIP_FILE_MODE << 16
            info.file_size = path.stat().st_size  # lets zipfile choose ZIP64 for a very large file up front
            with path.open("rb") as source, archive.open(info, "w") as entry:
                shutil.copyfileobj(source, entry, COPY_BLOCK)


def zip_name(result: ExportResult) -> str:
    return f"jk500_export_{result.manifest['audit']['position']}.zip"


# --- previous exports --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    exported_at: dt.datetime
    exported_by: str
    formats: str
    identified: bool
    as_of: dt.datetime | None
    manifest_sha256: str


def read_history(session: Session, user_id: int | None) -> list[HistoryRow]:
    """The newest exports, of one user or (``None``) of everyone: one statement."""
    query = (
        sa.select(ExportRecord, User.full_name)
        .join(User, User.id == ExportRecord.user_id)
        .order_by(ExportRecord.id.desc())
        .limit(HISTORY_SHOWN)
    )
    if user_id is not None:
        query = query.where(ExportRecord.user_id == user_id)
    return [
        HistoryRow(
            record.exported_at,
            full_name,
            ", ".join(record.formats.split(",")),
            record.identified,
            record.as_of,
            record.manifest_sha256,
        )
        for record, full_name in session.execute(query).tuples()
    ]


# --- the page ----------------------------------------------------------------------------------------------


class ExportsPage(SecurePage):
    roles: ClassVar[frozenset[RoleCode]] = EXPORTER_ROLES
    title = "Exports"
    endpoint_name = "exports"
    order = 50

    def _render(self, form: ExportForm | None = None, error: str | None = None) -> str:
        role: RoleCode = current_user.role
        everyone = role is RoleCode.ADMIN
        return self.render(
            "jk500/exports.html",
            form=form or ExportForm(),
            error=error,
            formats=[(f.value, *FORMAT_TEXT[f]) for f in ExportFormat if f in allowed_formats(role)],
            may_identify=role in IDENTIFIED_ROLES,
            history=read_history(db.session(), None if everyone else current_user.id),
            everyone=everyone,
            history_shown=HISTORY_SHOWN,
            field_label=field_label,
        )

    @expose("/")
    def index(self) -> str:
        return self._render()

    @expose("/download", methods=["POST"])
    def download(self) -> ResponseReturnValue:
        # CSRFProtect (global) has already refused a POST without a valid token before this runs.
        form = ExportForm.from_request(request.form, request.form.getlist("format"))
        password = request.form.get("password", "")
        try:
            wanted = parse_export_form(form)
            # The role's limits before the password: being refused a format is not a failed login.
            check_export(current_user.role, set(wanted.formats), wanted.identified)
            if not password:
                raise ValidationError("password", "enter your password: an export takes data out of the system")
        except ValidationError as error:
            return self._render(form, f"Not exported: {form.refuse(error)}")
        user = self._reauthenticate(password)
        if user is None:
            return self._render(form, f"Not exported: {form.refuse(self._password_refusal())}")
        workspace = Path(tempfile.mkdtemp(prefix="jk500-export-"))
        try:
            return self._export(user, wanted, workspace)
        except ValidationError as error:
            db.session.rollback()
            return self._render(form, f"Not exported: {form.refuse(error)}")
        finally:
            shutil.rmtree(workspace, ignore_errors=True)

    def _reauthenticate(self, password: str) -> User | None:
        """The logged-in account again, if ``password`` is its password; the attempt is committed either way."""
        config = current_app.config
        session = db.session()
        user = authenticate(
            session,
            current_user.email,
            password,
            now=utcnow(),
            remote_addr=request.remote_addr,
            max_failures=int(config["JK500DB_MAX_FAILED_LOGINS"]),
            lockout_minutes=int(config["JK500DB_LOCKOUT_MINUTES"]),
            allow_demo=bool(config["JK500DB_DEMO"]),
        )
        session.commit()  # a refusal is in the security log and counts toward lockout, as at the login page
        return user

    def _password_refusal(self) -> ValidationError:
        user = db.session.get_one(User, current_user.id)
        if user.locked_until is not None and user.locked_until > utcnow():
            until = user.locked_until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            return ValidationError("password", f"your account is locked until {until} after too many wrong passwords")
        return ValidationError("password", "is not correct (wrong passwords count toward locking your account)")

    def _export(self, user: User, wanted: ExportRequest, workspace: Path) -> ResponseReturnValue:
        """Run the export into ``workspace``, commit its record, and answer with the ZIP (``workspace`` is the
        caller's to remove: the ZIP is an anonymous temporary file of its own)."""
        session = db.session()
        result = run_export(
            session,
            workspace / "export",
            wanted.formats,
            user=user,
            identified=wanted.identified,
            as_of=wanted.as_of,
            now=utcnow(),
        )
        moment = dt.datetime.fromisoformat(result.manifest["audit"]["data_moment"])
        session.commit()
        # Not a `with` block: the file must outlive this function; send_file closes it when the download ends,
        # and the system deletes it then (it has no name in the file system).
        archive = tempfile.TemporaryFile(prefix="jk500-export-", suffix=".zip")  # noqa: SIM115
        try:
            write_zip(result.folder, archive, moment)
            size = archive.tell()
            archive.seek(0)
        except BaseException:
            archive.close()
            raise
        response = send_file(archive, mimetype="application/zip", as_attachment=True, download_name=zip_name(result))
        response.content_length = size
        return response


PAGE = ExportsPage
