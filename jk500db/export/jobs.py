"""Exports asked for on the web page and run in the background: ask, run, and sweep up after them.

A full export of a large study takes minutes (ODM alone about a minute at 200 subjects), far longer than any
proxy lets a web request last, so the page asks for an export (:func:`create_job`, inside the request, which
commits it) and a background worker runs it (:func:`run_job`). The page then shows the job's state and, once
done, a link to its ZIP. Nothing here knows about Flask; ``admin/export_worker.py`` owns the thread.

Asking checks everything the runner would refuse (formats, the role's limits, identified data, the "as of"
moment) before the job exists, so a refused request leaves no job behind. The runner checks again when the job
runs: a role changed in between is honoured.

Running a job is a unit of work of its own, outside any request, so :func:`run_job` (like :func:`sweep` and
:func:`beat`) opens its own sessions and commits them itself, unlike the services, which only flush:

1. claim the job (queued -> running), committed at once so the page shows it;
2. read the data from one consistent state without blocking data entry: on SQLite, which uses the rollback
   journal (``jk500db.db``), a reader holding a transaction for minutes would block every writer's commit (the
   busy timeout is 10 s, then data entry fails), so the database is first copied with SQLite's backup API into
   the job's work folder (:func:`copy_sqlite_database`: in steps that a writer waits for one at a time) and the
   export reads the copy; on PostgreSQL the runner's REPEATABLE READ snapshot does not block writers and the
   export reads the database itself;
3. run ``jk500db.export.runner.run_export`` into the work folder, recording the format being written as it
   goes (each in a short transaction of its own);
4. write the deterministic ZIP (``jk500db.export.archive``) beside the others as ``job-<id>.zip.part`` and
   rename it when complete, so no half-written ZIP is ever offered;
5. in one transaction on the real database, add the ``export_record`` (the one the runner flushed into its
   reading session is rolled back with it: on SQLite that session is the copy) and mark the job done with the
   ZIP's name, size and SHA-256.

A failure marks the job failed with a message for the user (a refusal names its field and rule; anything else
says the export failed, and the traceback goes to the server's log, never to the page) and leaves no ZIP. The
work folder, which holds a copy of the whole database on SQLite, is removed in every case.

A job belongs to the server process that queued it. While the job waits or runs, that server beats its
``heartbeat_at`` (:func:`beat`); a job whose heartbeat is older than :data:`STALE_AFTER` was abandoned by a
server that stopped, and :func:`sweep` marks it failed. The sweep also deletes ZIPs older than the retention
period (identified data must not sit on the server for good; the job stays, marked expired) and whatever a
stopped server left in the export folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

from jk500db.db import create_engine, session_factory
from jk500db.errors import ValidationError
from jk500db.export.access import check_export
from jk500db.export.archive import data_moment, write_zip, zip_name
from jk500db.export.context import ExportFormat
from jk500db.export.runner import run_export, sha256_of
from jk500db.models import ExportJob, ExportRecord, User
from jk500db.models.vocabularies import ExportJobState, RoleCode

log = logging.getLogger(__name__)

#: How often the server holding a job beats its heartbeat while the job waits or runs.
HEARTBEAT_EVERY = dt.timedelta(seconds=30)
#: A waiting or running job whose heartbeat is older than this was abandoned by a server that stopped. Several
#: beats long, so a busy server that beats a little late is never taken for a stopped one.
STALE_AFTER = dt.timedelta(minutes=3)
#: Pages an SQLite copy takes per step (64 MB of 4 KB pages, a fraction of a second), and how often writes made
#: meanwhile may restart it before it is made in one step (``copy_sqlite_database``).
BACKUP_STEP_PAGES = 16_384
BACKUP_RESTARTS = 3
#: What the page says of an abandoned job.
ABANDONED = "the server stopped before the export finished; ask again"
#: What the page says when the export failed for a reason the user cannot act on (the log has the details).
UNEXPECTED = "the export failed on the server; ask again, and tell an administrator if it fails again"
#: ... and when the export file could not be written (a full or read-only disk).
NOT_WRITTEN = "the server could not write the export file (its disk may be full); tell an administrator"
#: The unfinished states: the job is queued in, or run by, a server process.
UNFINISHED = (ExportJobState.QUEUED, ExportJobState.RUNNING)
#: The request's fields as people read them, keyed by the names the runner's and this module's errors use.
FIELD_LABELS: dict[str, str] = {
    "format": "Formats",
    "identified": "Identified data",
    "as_of": "As of (UTC)",
    "password": "Password",
}

Clock = Callable[[], dt.datetime]
FormatHook = Callable[[ExportFormat], None]


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def refusal_text(error: ValidationError) -> str:
    """A refusal as the user reads it: "Formats: a monitor may not export sdtm"."""
    return f"{field_label(error.field)}: {error.rule}"


def _utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware UTC datetime")
    return now.astimezone(dt.UTC)


# --- where the files go --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportStorage:
    """The folder of finished ZIPs (``job-<id>.zip``) and of the jobs' work folders (``work/job-<id>``).

    Created on first use, readable by the server's account only: it holds exports of identified data, and while
    a job runs on SQLite, a copy of the whole database.
    """

    folder: Path

    def zip_path(self, job_id: int) -> Path:
        return self.folder / f"job-{job_id}.zip"

    def part_path(self, job_id: int) -> Path:
        return self.folder / f"job-{job_id}.zip.part"

    @property
    def work_folder(self) -> Path:
        return self.folder / "work"

    def work_path(self, job_id: int) -> Path:
        return self.work_folder / f"job-{job_id}"

    def prepare(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.work_folder.mkdir(mode=0o700, exist_ok=True)


#: Names this module writes in the storage folder, and the job each belongs to.
_ZIP_NAME = re.compile(r"job-(\d+)\.zip(\.part)?")
_WORK_NAME = re.compile(r"job-(\d+)")


# --- asking ----------------------------------------------------------------------------------------------------


def check_request(
    role: RoleCode, formats: Sequence[ExportFormat], identified: bool, as_of: dt.datetime | None, now: dt.datetime
) -> list[ExportFormat]:
    """The formats in the runner's order, if the runner would take the request now; else ValidationError, with the
    runner's own words (``jk500db.export.runner.run_export`` checks the same when the job runs)."""
    if not formats:
        raise ValidationError("format", "choose at least one format")
    check_export(role, set(formats), identified)
    if as_of is not None:
        if as_of.tzinfo is None:
            raise ValidationError("as_of", "give the time with its UTC offset, e.g. 2026-11-24T09:00:00Z")
        if as_of > _utc(now):
            raise ValidationError("as_of", "must not be in the future")
    return [f for f in ExportFormat if f in set(formats)]


def create_job(
    session: Session,
    user: User,
    formats: Sequence[ExportFormat],
    *,
    identified: bool = False,
    as_of: dt.datetime | None = None,
    now: dt.datetime,
) -> ExportJob:
    """Queue an export for ``user`` (flushed; the caller commits, then hands the job to a worker).

    Refused, it raises ValidationError and adds nothing. The same request while one is still waiting or running
    (a second click on the button) is refused too: it would only export the same data twice.
    """
    now = _utc(now)
    ordered = check_request(user.role_code, formats, identified, as_of, now)
    wanted = ",".join(f.value for f in ordered)
    as_of_utc = None if as_of is None else as_of.astimezone(dt.UTC)
    same = session.scalar(
        sa.select(ExportJob.requested_at)
        .where(
            ExportJob.user_id == user.id,
            ExportJob.state.in_(UNFINISHED),
            ExportJob.formats == wanted,
            ExportJob.identified == identified,
            ExportJob.as_of.is_(None) if as_of_utc is None else ExportJob.as_of == as_of_utc,
        )
        .limit(1)
    )
    if same is not None:
        asked = same.astimezone(dt.UTC).strftime("%H:%M:%S UTC")
        raise ValidationError("format", f"the same export, asked for at {asked}, is not finished yet; wait for it")
    job = ExportJob(
        user_id=user.id,
        requested_at=now,
        formats=wanted,
        identified=identified,
        as_of=as_of_utc,
        state=ExportJobState.QUEUED,
        heartbeat_at=now,
    )
    session.add(job)
    session.flush()
    return job


def job_formats(job: ExportJob) -> list[ExportFormat]:
    return [ExportFormat(value) for value in job.formats.split(",") if value]


# --- running ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    """What a finished export leaves to record: the export record's values and the ZIP."""

    record: dict[str, object]
    file_name: str
    file_bytes: int
    file_sha256: str


@dataclass(frozen=True)
class SqliteCopy:
    """How a copy of the SQLite database went (the benchmark prints it)."""

    #: how often writes made meanwhile restarted the copy in steps.
    restarts: int
    #: whether it was made in one step in the end, holding the read lock throughout.
    in_one_step: bool


class _TooManyRestarts(Exception):
    """Raised from the backup's progress callback to abort it (the sqlite3 module then finishes the backup)."""


def copy_sqlite_database(
    engine: Engine,
    target: Path,
    *,
    step_pages: int = BACKUP_STEP_PAGES,
    restarts: int = BACKUP_RESTARTS,
) -> SqliteCopy:
    """A consistent copy of ``engine``'s SQLite database at ``target``, by SQLite's online backup API.

    The copy goes ``step_pages`` at a time, each step under a read lock of its own: a writer that wants to
    commit meanwhile waits for one step at most (it takes SQLite's pending lock, so the next step lets it
    through first). A write from another connection restarts the copy from the beginning; after ``restarts``
    restarts (data entry too busy for the copy ever to finish between two saves) the copy is made in one step,
    holding one read lock throughout: seconds for a large study, during which writers wait (up to their busy
    timeout). The copy is scratch: written without a journal and without syncing.
    """
    pooled = engine.raw_connection()  # opened by jk500db.db: it has the busy timeout, so it waits for a writer
    try:
        source = pooled.driver_connection
        assert isinstance(source, sqlite3.Connection), "copy_sqlite_database is for SQLite databases"
        seen: dict[str, int] = {"restarts": 0}

        def progress(status: int, remaining: int, total: int) -> None:
            if status != sqlite3.SQLITE_OK:
                return  # a step that found a writer waiting copied nothing
            # A step that leaves as much to copy as the one before (or more) started again from the first page.
            if "remaining" in seen and remaining >= seen["remaining"]:
                seen["restarts"] += 1
                if seen["restarts"] > restarts:
                    raise _TooManyRestarts
            seen["remaining"] = remaining

        try:
            _backup(source, target, step_pages, progress)
            return SqliteCopy(seen["restarts"], in_one_step=False)
        except _TooManyRestarts:
            target.unlink(missing_ok=True)
        _backup(source, target, -1, None)
        return SqliteCopy(seen["restarts"], in_one_step=True)
    finally:
        pooled.close()


def _backup(
    source: sqlite3.Connection, target: Path, pages: int, progress: Callable[[int, int, int], object] | None
) -> None:
    copy = sqlite3.connect(target)
    try:
        copy.execute("PRAGMA journal_mode = OFF")
        copy.execute("PRAGMA synchronous = OFF")
        source.backup(copy, pages=pages, progress=progress)
    finally:
        copy.close()


@contextmanager
def _reading_session(engine: Engine, work: Path) -> Iterator[Session]:
    """A session reading one consistent state of the database without blocking writers (module docstring)."""
    if engine.dialect.name != "sqlite":
        with Session(engine) as session:
            # Before the first statement (the job reads its user first): the runner would set it only on a
            # session not yet in a transaction, and a READ COMMITTED export would see data entered while it runs.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session
        return
    copy = work / "database-copy.sqlite3"
    started = time.monotonic()
    made = copy_sqlite_database(engine, copy)
    log.info(
        "export: database copied in %.1f s (%d restart(s) by writes%s)",
        time.monotonic() - started,
        made.restarts,
        ", then in one step" if made.in_one_step else "",
    )
    copy_engine = create_engine(URL.create("sqlite", database=str(copy)))
    try:
        with Session(copy_engine) as session:
            yield session
    finally:
        copy_engine.dispose()
        copy.unlink(missing_ok=True)


def _rows_changed(session: Session, statement: sa.Update) -> int:
    """Run ``statement`` on the session's connection (Core: nothing to synchronise) and count the rows it changed."""
    return session.connection().execute(statement).rowcount


def _claim(engine: Engine, job_id: int, now: dt.datetime) -> bool:
    """queued -> running; False when the job is not waiting any more (a sweep gave it up, or it ran already)."""
    with session_factory(engine)() as session:
        claimed = _rows_changed(
            session,
            sa.update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.state == ExportJobState.QUEUED)
            .values(state=ExportJobState.RUNNING, started_at=now, heartbeat_at=now),
        )
        session.commit()
    return claimed == 1


def _note_format(engine: Engine, job_id: int, export_format: ExportFormat, now: dt.datetime) -> None:
    with session_factory(engine)() as session:
        session.execute(
            sa.update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.state == ExportJobState.RUNNING)
            .values(current_format=export_format.value, heartbeat_at=now)
        )
        session.commit()


def _export(
    engine: Engine, job: ExportJob, storage: ExportStorage, progress: Callable[[ExportFormat], None]
) -> _Result:
    """Steps 2 to 4 of the module docstring; the ZIP is at ``storage.zip_path(job.id)`` when this returns."""
    work = storage.work_path(job.id)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    part = storage.part_path(job.id)
    try:
        with _reading_session(engine, work) as reader:
            user = reader.get_one(User, job.user_id)
            if not user.active:
                raise ValidationError("account", "was disabled before the export ran")
            result = run_export(
                reader,
                work / "export",
                job_formats(job),
                user=user,
                identified=job.identified,
                as_of=job.as_of,
                now=job.requested_at,
                progress=progress,
            )
            record = result.record
            values: dict[str, object] = {
                "exported_at": record.exported_at,
                "user_id": record.user_id,
                "formats": record.formats,
                "identified": record.identified,
                "as_of": record.as_of,
                "audit_head_hash": record.audit_head_hash,
                "manifest_sha256": record.manifest_sha256,
            }
            reader.rollback()  # the record is written to the real database with the job's result (step 5)
        # Created for this job alone and readable by the server's account only (identified data).
        with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as target:
            write_zip(result.folder, target, data_moment(result))
        finished = _Result(values, zip_name(result), part.stat().st_size, sha256_of(part))
        os.replace(part, storage.zip_path(job.id))
        return finished
    finally:
        shutil.rmtree(work, ignore_errors=True)
        part.unlink(missing_ok=True)


def _finish(engine: Engine, job_id: int, result: _Result, now: dt.datetime) -> bool:
    """Step 5: the export record and the job's result, in one transaction; False if the job was given up."""
    with session_factory(engine)() as session:
        record = ExportRecord(**result.record)
        session.add(record)
        session.flush()
        done = _rows_changed(
            session,
            sa.update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.state == ExportJobState.RUNNING)
            .values(
                state=ExportJobState.DONE,
                current_format=None,
                finished_at=now,
                heartbeat_at=now,
                export_record_id=record.id,
                file_name=result.file_name,
                file_bytes=result.file_bytes,
                file_sha256=result.file_sha256,
            ),
        )
        if done != 1:
            session.rollback()
            return False
        session.commit()
    return True


def _fail(engine: Engine, job_id: int, message: str, now: dt.datetime) -> None:
    with session_factory(engine)() as session:
        session.execute(
            sa.update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.state.in_(UNFINISHED))
            .values(state=ExportJobState.FAILED, failure=message, current_format=None, finished_at=now)
        )
        session.commit()


def run_job(
    engine: Engine,
    job_id: int,
    storage: ExportStorage,
    *,
    clock: Clock,
    on_format: FormatHook | None = None,
) -> ExportJobState | None:
    """Run a queued job to the end (module docstring) and return its final state; None if it was not queued.

    ``on_format`` is called as each format starts, after the job records it (the tests write to the database
    from there, to show that data entry goes on while an export runs).
    """
    if not _claim(engine, job_id, _utc(clock())):
        return None
    with session_factory(engine)() as session:
        job = session.get_one(ExportJob, job_id)

    def progress(export_format: ExportFormat) -> None:
        _note_format(engine, job_id, export_format, _utc(clock()))
        if on_format is not None:
            on_format(export_format)

    try:
        storage.prepare()
        result = _export(engine, job, storage, progress)
    except ValidationError as error:
        _fail(engine, job_id, refusal_text(error), _utc(clock()))
        return ExportJobState.FAILED
    except OSError:
        log.exception("export job %s: the export could not be written", job_id)
        _fail(engine, job_id, NOT_WRITTEN, _utc(clock()))
        return ExportJobState.FAILED
    except Exception:
        log.exception("export job %s failed", job_id)
        _fail(engine, job_id, UNEXPECTED, _utc(clock()))
        return ExportJobState.FAILED
    try:
        finished = _finish(engine, job_id, result, _utc(clock()))
    except BaseException:
        storage.zip_path(job_id).unlink(missing_ok=True)
        raise
    if not finished:  # given up by a sweep while it ran (its server looked stopped): its ZIP is not offered
        log.warning("export job %s finished after it had been given up; its file is deleted", job_id)
        storage.zip_path(job_id).unlink(missing_ok=True)
        return ExportJobState.FAILED
    return ExportJobState.DONE


# --- keeping the jobs alive, and sweeping up after them --------------------------------------------------------


def beat(engine: Engine, job_ids: Sequence[int], now: dt.datetime) -> None:
    """The server holding ``job_ids`` is alive: their heartbeat is ``now``."""
    if not job_ids:
        return
    with session_factory(engine)() as session:
        session.execute(
            sa.update(ExportJob)
            .where(ExportJob.id.in_(list(job_ids)), ExportJob.state.in_(UNFINISHED))
            .values(heartbeat_at=_utc(now))
        )
        session.commit()


@dataclass
class SweepReport:
    #: jobs marked failed because their server stopped.
    abandoned: list[int] = field(default_factory=list)
    #: jobs whose ZIP was deleted at the end of the retention period.
    expired: list[int] = field(default_factory=list)
    #: files and folders removed from the export folder that no job needs any more.
    removed: list[str] = field(default_factory=list)
    #: whether anything is left to look after later: a job waiting or running, or a ZIP not yet expired.
    watching: bool = False


def sweep(
    engine: Engine,
    storage: ExportStorage,
    *,
    now: dt.datetime,
    retention: dt.timedelta,
    stale_after: dt.timedelta = STALE_AFTER,
) -> SweepReport:
    """Fail abandoned jobs, delete expired ZIPs and leftovers; the rows are committed before any file goes.

    Safe to run from several server processes at once, and while jobs run: it touches only what no waiting or
    running job needs.
    """
    now = _utc(now)
    report = SweepReport()
    with session_factory(engine)() as session:
        abandoned = sa.and_(ExportJob.state.in_(UNFINISHED), ExportJob.heartbeat_at < now - stale_after)
        report.abandoned = list(session.scalars(sa.select(ExportJob.id).where(abandoned).order_by(ExportJob.id)))
        if report.abandoned:
            session.execute(
                sa.update(ExportJob)
                .where(ExportJob.id.in_(report.abandoned), abandoned)
                .values(state=ExportJobState.FAILED, failure=ABANDONED, current_format=None, finished_at=now)
            )
        expired = sa.and_(
            ExportJob.state == ExportJobState.DONE,
            ExportJob.file_deleted_at.is_(None),
            ExportJob.finished_at <= now - retention,
        )
        report.expired = list(session.scalars(sa.select(ExportJob.id).where(expired).order_by(ExportJob.id)))
        if report.expired:
            session.execute(
                sa.update(ExportJob).where(ExportJob.id.in_(report.expired), expired).values(file_deleted_at=now)
            )
        session.commit()
        # What the files in the folder may still be needed for, read after the commit above.
        states = dict(
            session.execute(
                sa.select(ExportJob.id, ExportJob.state).where(
                    sa.or_(
                        ExportJob.state.in_(UNFINISHED),
                        sa.and_(ExportJob.state == ExportJobState.DONE, ExportJob.file_deleted_at.is_(None)),
                    )
                )
            )
            .tuples()
            .all()
        )
        # A job asked for after this read may already be writing its work folder: its id is higher, so it is
        # left alone (a sweep comes again).
        newest = session.scalar(sa.select(sa.func.max(ExportJob.id))) or 0
        session.rollback()
    report.watching = bool(states)
    report.removed = _remove_leftovers(storage, states, newest)
    return report


def _remove_leftovers(storage: ExportStorage, states: dict[int, ExportJobState], newest: int) -> list[str]:
    """Delete every ZIP, partial ZIP and work folder in ``storage`` that no job in ``states`` needs (of the jobs
    up to ``newest``, the highest id when ``states`` was read)."""
    removed: list[str] = []
    if not storage.folder.is_dir():
        return removed
    for path in sorted(storage.folder.iterdir()):
        found = _ZIP_NAME.fullmatch(path.name)
        if found is None or not path.is_file():
            continue  # not ours: left alone
        job_id = int(found.group(1))
        state = states.get(job_id)
        partial = found.group(2) is not None
        if job_id > newest or state in UNFINISHED or (state is ExportJobState.DONE and not partial):
            continue
        with suppress(FileNotFoundError):  # another server's sweep may have been first
            path.unlink()
            removed.append(path.name)
    if storage.work_folder.is_dir():
        for path in sorted(storage.work_folder.iterdir()):
            found = _WORK_NAME.fullmatch(path.name)
            if found is None or not path.is_dir():
                continue
            job_id = int(found.group(1))
            if job_id > newest or states.get(job_id) in UNFINISHED:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(f"{storage.work_folder.name}/{path.name}")
    return removed
