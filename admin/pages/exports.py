"""Data exports (issue 6): choose formats, re-enter the password; the export runs in the background, then downloads.

An export takes data out of the system, so it is asked for as a signature is: the password again, checked by
``jk500db.services.accounts.authenticate`` for the logged-in account and logged as a re-authentication for an
export (not as a login); a wrong one is written to the security log and counts toward lockout, as at the login
page. Who may export which formats, and identified data, is ``jk500db.export.access`` (statisticians,
investigators and data managers every format, monitors the data, ODM and audit formats, only administrators
identified data); the form offers only what the role may take, and a hand-made request for anything else is
refused before any job exists.

A full export of a large study takes minutes, longer than any proxy lets a request last, so the form does not
answer with the ZIP. It queues an export job (``jk500db.export.jobs``), commits it, hands it to the app's
background worker (``admin.export_worker``) and redirects to the page (POST/redirect/GET), which lists the jobs -
the user's own, or everyone's for administrators - with their state and the format being written, and refreshes
that list by itself while one of the user's jobs is unfinished. A finished job offers its ZIP for download
(``/exports/job/<id>/download``: the job's owner or an administrator, if their role may still take what it
holds; every download is written to the security log) until the retention period
(``JK500DB_EXPORT_RETENTION_HOURS``) ends and the file is deleted; the job then says "expired". The ZIP is the
runner's export folder with its manifest of every file's SHA-256, made deterministic by
``jk500db.export.archive``; each export is also recorded in ``export_record`` (AT-12), listed below the jobs as
the previous exports.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import Session

from admin.export_worker import export_worker
from admin.extensions import db, utcnow
from admin.pages.base import SecurePage
from jk500db.errors import ValidationError
from jk500db.export.access import IDENTIFIED_ROLES, allowed_formats, check_export
from jk500db.export.context import ExportFormat
from jk500db.export.jobs import check_request, create_job, field_label, job_formats, refusal_text
from jk500db.models import ExportJob, ExportRecord, User
from jk500db.models.vocabularies import ExportJobState, RoleCode, SecurityEventKind
from jk500db.services.accounts import authenticate, record_event

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
#: Export jobs listed at most, and previous exports.
JOBS_SHOWN = 50
HISTORY_SHOWN = 100
#: What the password is given again for, in the security log.
REAUTHENTICATION_PURPOSE = "an export"
#: Roles that may open the page: each one may export at least one format.
EXPORTER_ROLES = frozenset(role for role in RoleCode if allowed_formats(role))


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
        return refusal_text(error)


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


# --- export jobs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRow:
    id: int
    requested_at: dt.datetime
    requested_by: str
    formats: str
    identified: bool
    as_of: dt.datetime | None
    #: queued, running, done, failed, or expired (done, its file deleted).
    state: str
    #: what the state column says beyond the state: the format being written, why it failed, the file's size.
    detail: str
    #: whether the job is the viewer's own and unfinished: the list refreshes itself while one is.
    waiting_for_me: bool
    file_name: str | None
    file_sha256: str | None


def _size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _state(job: ExportJob) -> tuple[str, str]:
    if job.state is ExportJobState.QUEUED:
        return "queued", "waiting for the export before it to finish"
    if job.state is ExportJobState.RUNNING:
        writing = FORMAT_TEXT[ExportFormat(job.current_format)][0] if job.current_format else None
        return "running", f"writing {writing}" if writing else "starting"
    if job.state is ExportJobState.FAILED:
        return "failed", job.failure or ""
    if job.file_deleted_at is not None:
        return "expired", "the file was deleted at the end of the retention period; ask again"
    return "done", _size(job.file_bytes or 0)


def _newest(model: type[ExportJob] | type[ExportRecord], user_id: int | None, limit: int) -> sa.Select[Any]:
    """The newest rows of ``model`` with the printed name of who asked, of one user or (``None``) of everyone."""
    query = sa.select(model, User.full_name).join(User, User.id == model.user_id).order_by(model.id.desc())
    if user_id is not None:
        query = query.where(model.user_id == user_id)
    return query.limit(limit)


def read_jobs(session: Session, viewer_id: int, user_id: int | None) -> list[JobRow]:
    """The newest export jobs, of one user or (``None``) of everyone: one statement."""
    rows = []
    for job, full_name in session.execute(_newest(ExportJob, user_id, JOBS_SHOWN)).tuples():
        state, detail = _state(job)
        rows.append(
            JobRow(
                id=job.id,
                requested_at=job.requested_at,
                requested_by=full_name,
                formats=", ".join(job.formats.split(",")),
                identified=job.identified,
                as_of=job.as_of,
                state=state,
                detail=detail,
                waiting_for_me=job.user_id == viewer_id and state in ("queued", "running"),
                file_name=job.file_name if state == "done" else None,
                file_sha256=job.file_sha256 if state == "done" else None,
            )
        )
    return rows


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
    query = _newest(ExportRecord, user_id, HISTORY_SHOWN)
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
        session = db.session()
        jobs = read_jobs(session, current_user.id, None if everyone else current_user.id)
        return self.render(
            "jk500/exports.html",
            form=form or ExportForm(),
            error=error,
            formats=[(f.value, *FORMAT_TEXT[f]) for f in ExportFormat if f in allowed_formats(role)],
            may_identify=role in IDENTIFIED_ROLES,
            jobs=jobs,
            jobs_shown=JOBS_SHOWN,
            waiting=any(job.waiting_for_me for job in jobs),
            retention_hours=current_app.config["JK500DB_EXPORT_RETENTION_HOURS"],
            history=read_history(session, None if everyone else current_user.id),
            everyone=everyone,
            history_shown=HISTORY_SHOWN,
            field_label=field_label,
        )

    @expose("/")
    def index(self) -> str:
        return self._render()

    @expose("/jobs", methods=["POST"])
    def start(self) -> ResponseReturnValue:
        # CSRFProtect (global) has already refused a POST without a valid token before this runs.
        form = ExportForm.from_request(request.form, request.form.getlist("format"))
        password = request.form.get("password", "")
        now = utcnow()
        try:
            wanted = parse_export_form(form)
            # The role's limits before the password: being refused a format is not a failed login.
            check_request(current_user.role, wanted.formats, wanted.identified, wanted.as_of, now)
            if not password:
                raise ValidationError("password", "enter your password: an export takes data out of the system")
        except ValidationError as error:
            return self._render(form, f"Not exported: {form.refuse(error)}")
        user = self._reauthenticate(password)
        if user is None:
            return self._render(form, f"Not exported: {form.refuse(self._password_refusal())}")
        session = db.session()
        try:
            job = create_job(session, user, wanted.formats, identified=wanted.identified, as_of=wanted.as_of, now=now)
        except ValidationError as error:
            session.rollback()
            return self._render(form, f"Not exported: {form.refuse(error)}")
        session.commit()  # committed before the worker looks for it
        export_worker(current_app).submit(job.id)
        flash(
            "Export asked for. It runs on the server: this list shows how far it has got, and a Download link when "
            "it is ready. You may leave the page meanwhile.",
            "info",
        )
        return redirect(url_for(".index"))

    @expose("/job/<int:job_id>/download")
    def download(self, job_id: int) -> ResponseReturnValue:
        """The finished job's ZIP, to its owner or an administrator; anyone else is told there is no such job."""
        session = db.session()
        job = session.get(ExportJob, job_id)
        if job is None or (job.user_id != current_user.id and current_user.role is not RoleCode.ADMIN):
            abort(404)
        try:  # the role may have changed since the export was asked for: what it may take now decides
            check_export(current_user.role, set(job_formats(job)), job.identified)
        except ValidationError as error:
            flash(f"Not downloaded: {refusal_text(error)}.", "error")
            return redirect(url_for(".index"))
        state, _detail = _state(job)
        if state != "done":
            message = {
                "expired": "that export's file was deleted at the end of the retention period; ask again",
                "failed": "that export failed; ask again",
            }.get(state, "that export is not finished yet")
            flash(f"Not downloaded: {message}.", "error")
            return redirect(url_for(".index"))
        path = export_worker(current_app).storage.zip_path(job.id)
        try:
            archive = path.open("rb")  # opened before it is logged: a sweep may delete the name, never this file
        except FileNotFoundError:
            flash("Not downloaded: that export's file is no longer on the server; ask again.", "error")
            return redirect(url_for(".index"))
        size = path.stat().st_size
        if size != job.file_bytes:
            archive.close()
            flash("Not downloaded: that export's file on the server is not the one written; ask again.", "error")
            return redirect(url_for(".index"))
        try:
            self._log_download(session, job)
        except BaseException:
            archive.close()
            raise
        response = send_file(archive, mimetype="application/zip", as_attachment=True, download_name=job.file_name)
        response.content_length = size
        return response

    def _log_download(self, session: Session, job: ExportJob) -> None:
        """Who took which file (security log); committed before the file is sent."""
        me = session.get_one(User, current_user.id)
        owner = "" if job.user_id == me.id else f", asked for by {session.get_one(User, job.user_id).full_name}"
        record_event(
            session,
            SecurityEventKind.EXPORT_DOWNLOADED,
            now=utcnow(),
            user=me,
            actor=me,
            remote_addr=request.remote_addr,
            detail=f"export job {job.id} ({job.formats}{', identified' if job.identified else ''}{owner}): "
            f"{job.file_name}, {job.file_bytes} bytes, SHA-256 {job.file_sha256}",
        )
        session.commit()

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
            purpose=REAUTHENTICATION_PURPOSE,
        )
        session.commit()  # a refusal is in the security log and counts toward lockout, as at the login page
        return user

    def _password_refusal(self) -> ValidationError:
        user = db.session.get_one(User, current_user.id)
        if user.locked_until is not None and user.locked_until > utcnow():
            until = user.locked_until.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
            return ValidationError("password", f"your account is locked until {until} after too many wrong passwords")
        return ValidationError("password", "is not correct (wrong passwords count toward locking your account)")


PAGE = ExportsPage
