"""Export jobs (issue 6, the web page's exports in the background): ask, run, fail, sweep, expire. Both engines.

Jobs commit in sessions of their own, so this module builds a study of its own (the demo cohort) per engine
rather than use the shared, read-only export study. Each test asks for its exports as users of its own and looks
only at its own jobs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_change_context, system_context
from jk500db.db import create_engine
from jk500db.errors import ValidationError
from jk500db.export import runner
from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.jobs import (
    ABANDONED,
    NOT_WRITTEN,
    STALE_AFTER,
    UNEXPECTED,
    ExportStorage,
    SqliteCopy,
    beat,
    copy_sqlite_database,
    create_job,
    run_job,
    sweep,
)
from jk500db.export.runner import MANIFEST, run_export
from jk500db.models import AdverseEvent, AuditEvent, ExportJob, ExportRecord, SecurityEvent, User
from jk500db.models.vocabularies import ExportJobState, RoleCode, SecurityEventKind
from jk500db.services import accounts
from tests.conftest import ENGINES
from tests.export.conftest import study_database
from tests.factories import act, user

QUICK = [ExportFormat.TIDY, ExportFormat.AUDIT]
RETENTION = dt.timedelta(hours=24)


@pytest.fixture(scope="module", params=ENGINES)
def jobs_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A study of this module's own (the demo cohort), which the jobs commit into."""
    with study_database(request.param, tmp_path_factory.mktemp("export-jobs"), "jobs", generated=0) as url:
        yield url


@pytest.fixture
def engine(jobs_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(jobs_url)
    yield engine
    engine.dispose()


class Clock:
    """The jobs' clock: now, until a test moves it."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(tmp_path: Path) -> ExportStorage:
    return ExportStorage(tmp_path / "exports")


def committed_user(engine: sa.Engine, role: RoleCode) -> User:
    with Session(engine, expire_on_commit=False) as session:
        set_change_context(session, system_context("pytest export jobs", reason="a user for the export jobs"))
        account = user(session, role)
        session.commit()
        return account


def ask(
    engine: sa.Engine,
    account: User,
    formats: list[ExportFormat],
    now: dt.datetime,
    *,
    identified: bool = False,
    as_of: dt.datetime | None = None,
) -> int:
    with Session(engine) as session:
        job = create_job(session, account, formats, identified=identified, as_of=as_of, now=now)
        session.commit()
        return job.id


def job_of(engine: sa.Engine, job_id: int) -> ExportJob:
    with Session(engine, expire_on_commit=False) as session:
        return session.get_one(ExportJob, job_id)


def jobs_of(engine: sa.Engine, account: User) -> list[ExportJob]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(ExportJob).where(ExportJob.user_id == account.id)))


def records_of(engine: sa.Engine, account: User) -> list[ExportRecord]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(ExportRecord).where(ExportRecord.user_id == account.id)))


def left_in(storage: ExportStorage) -> list[str]:
    """What is in the export folder, work folders included, as paths relative to it."""
    if not storage.folder.exists():
        return []
    return sorted(p.relative_to(storage.folder).as_posix() for p in storage.folder.rglob("*"))


# --- a job from asking to its ZIP ------------------------------------------------------------------------------


def test_AT12_a_job_writes_the_runners_files_as_a_zip_and_records_the_export(
    engine: sa.Engine, storage: ExportStorage, clock: Clock, tmp_path: Path
) -> None:
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    job_id = ask(engine, statistician, QUICK, clock.now)
    queued = job_of(engine, job_id)
    assert queued.state is ExportJobState.QUEUED and queued.formats == "tidy,audit"
    seen: list[tuple[ExportFormat, str | None]] = []

    def on_format(export_format: ExportFormat) -> None:
        seen.append((export_format, job_of(engine, job_id).current_format))

    assert run_job(engine, job_id, storage, clock=clock, on_format=on_format) is ExportJobState.DONE
    # Progress: each format was recorded as the one being written, in the runner's order, before it was written.
    assert seen == [(ExportFormat.TIDY, "tidy"), (ExportFormat.AUDIT, "audit")]
    job = job_of(engine, job_id)
    assert job.state is ExportJobState.DONE and job.current_format is None and job.failure is None
    assert job.started_at == clock.now and job.finished_at == clock.now
    path = storage.zip_path(job_id)
    assert left_in(storage) == [path.name, "work"], "the work folder (and the database copy) are gone"
    assert job.file_bytes == path.stat().st_size
    assert job.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()

    # The ZIP holds exactly what the runner writes for the same request on the same data, byte for byte.
    with Session(engine) as session:
        account = session.get_one(User, statistician.id)
        direct = run_export(session, tmp_path / "direct", QUICK, user=account, now=job.requested_at)
        session.rollback()
    files = [p for p in direct.folder.rglob("*") if p.is_file()]
    expected = {p.relative_to(direct.folder).as_posix(): p.read_bytes() for p in files}
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == sorted(expected)
        assert {name: archive.read(name) for name in names} == expected
        manifest_bytes = archive.read(MANIFEST)
        manifest = json.loads(manifest_bytes)
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"], entry["path"]
    assert job.file_name == f"jk500_export_{manifest['audit']['position']}.zip"
    # Recorded once, in the real database, with the hash of the very manifest in the ZIP.
    (record,) = records_of(engine, statistician)
    assert job.export_record_id == record.id
    assert record.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
    assert (record.formats, record.identified, record.exported_at) == ("tidy,audit", False, job.requested_at)


def test_a_write_commits_while_an_export_runs_and_stays_out_of_it(
    engine: sa.Engine, storage: ExportStorage, clock: Clock, jobs_url: str
) -> None:
    """Data entry goes on during an export (issue 6, item "web export runs inside the request").

    The write below, made as each format starts, waits at most a quarter of a second for the database. On SQLite
    an export reading the live database inside one transaction would hold its read lock for the whole export
    and the write would fail with "database is locked"; the job reads a copy instead. On PostgreSQL the
    REPEATABLE READ snapshot never blocks a writer. Either way the export stands on the data as they were when it
    began: the written value is not in it.
    """
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    data_manager = committed_user(engine, RoleCode.DATA_MANAGER)
    with Session(engine) as session:
        event_id = session.scalar(sa.select(AdverseEvent.id).order_by(AdverseEvent.id).limit(1))
        assert event_id is not None
    job_id = ask(engine, statistician, QUICK, clock.now)
    written: list[str] = []
    writer = create_engine(jobs_url)

    def enter_data(export_format: ExportFormat) -> None:
        with writer.connect() as connection:
            if writer.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA busy_timeout = 250")
            else:
                connection.exec_driver_sql("SET lock_timeout = '250ms'")
            connection.commit()  # the session then begins, and commits, a transaction of its own
            with Session(bind=connection) as session:
                act(session, data_manager, reason=f"corrected while the {export_format} export ran")
                record = session.get_one(AdverseEvent, event_id)
                record.verbatim = f"entered during export job {job_id} ({export_format})"
                session.commit()
                written.append(record.verbatim)

    try:
        assert run_job(engine, job_id, storage, clock=clock, on_format=enter_data) is ExportJobState.DONE
    finally:
        writer.dispose()
    assert len(written) == len(QUICK), "every write committed"
    with Session(engine) as session:
        assert session.get_one(AdverseEvent, event_id).verbatim == written[-1]
        newest = session.scalar(sa.select(sa.func.max(AuditEvent.id)))
    with zipfile.ZipFile(storage.zip_path(job_id)) as archive:
        manifest = json.loads(archive.read(MANIFEST))
        contents = b"".join(archive.read(name) for name in archive.namelist())
    assert manifest["audit"]["position"] < (newest or 0)
    assert not any(text.encode() in contents for text in written)


# --- refusals and failures -------------------------------------------------------------------------------------


FUTURE = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("role", "formats", "identified", "as_of", "field"),
    [
        (RoleCode.MONITOR, [ExportFormat.SDTM], False, None, "format"),
        (RoleCode.STATISTICIAN, [], False, None, "format"),
        (RoleCode.STATISTICIAN, [ExportFormat.TIDY], True, None, "identified"),
        (RoleCode.DATA_MANAGER, [ExportFormat.TIDY], True, None, "identified"),
        (RoleCode.STATISTICIAN, [ExportFormat.TIDY], False, FUTURE, "as_of"),
        (RoleCode.STATISTICIAN, [ExportFormat.TIDY], False, dt.datetime(2026, 1, 1), "as_of"),  # no time zone
    ],
)
def test_AC01_a_refused_request_makes_no_job(
    engine: sa.Engine,
    clock: Clock,
    role: RoleCode,
    formats: list[ExportFormat],
    identified: bool,
    as_of: dt.timedelta | dt.datetime | None,
    field: str,
) -> None:
    account = committed_user(engine, role)
    moment = clock.now + as_of if isinstance(as_of, dt.timedelta) else as_of
    with pytest.raises(ValidationError) as refused:
        ask(engine, account, formats, clock.now, identified=identified, as_of=moment)
    assert refused.value.field == field
    # The runner refuses the same request with the same words (the page shows either).
    if formats:
        with Session(engine) as session, pytest.raises(ValidationError) as by_runner:
            run_export(session, Path("/nonexistent/never-written"), formats, user=session.get_one(User, account.id),
                       identified=identified, as_of=moment, now=clock.now)  # fmt: skip
        assert (by_runner.value.field, by_runner.value.rule) == (field, refused.value.rule)
    assert jobs_of(engine, account) == []


def test_the_same_request_while_the_first_is_unfinished_is_refused(engine: sa.Engine, clock: Clock) -> None:
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    ask(engine, statistician, QUICK, clock.now)
    with pytest.raises(ValidationError, match=r"the same export, asked for at .* is not finished yet"):
        ask(engine, statistician, list(reversed(QUICK)), clock.now)
    ask(engine, statistician, [ExportFormat.TIDY], clock.now)  # another request is another job
    assert len(jobs_of(engine, statistician)) == 2


def _failing_writer(context: ExportContext) -> list[Path]:
    """A writer that breaks half-way through its file, as one hitting a bug would."""
    folder = context.folder(ExportFormat.AUDIT)
    (folder / "audit_event.csv").write_text("id,occurred_at\n1,", encoding="utf-8")
    raise RuntimeError("writer bug: KeyError 'occurred_at' deep inside")


def test_a_failing_writer_leaves_a_failed_job_with_a_plain_message_and_no_zip(
    engine: sa.Engine, storage: ExportStorage, clock: Clock, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setitem(runner.WRITERS, ExportFormat.AUDIT, (__name__, "_failing_writer"))
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    job_id = ask(engine, statistician, QUICK, clock.now)
    with caplog.at_level(logging.ERROR, logger="jk500db.export.jobs"):
        assert run_job(engine, job_id, storage, clock=clock) is ExportJobState.FAILED
    job = job_of(engine, job_id)
    assert job.state is ExportJobState.FAILED and job.failure == UNEXPECTED
    assert job.finished_at == clock.now and job.current_format is None and job.file_name is None
    assert "writer bug" not in UNEXPECTED and "Error" not in UNEXPECTED
    # The details are in the server's log, with the traceback.
    (logged,) = [r for r in caplog.records if r.name == "jk500db.export.jobs"]
    assert logged.exc_info is not None and "writer bug" in str(logged.exc_info[1])
    assert records_of(engine, statistician) == []
    assert left_in(storage) == ["work"], "no ZIP, no partial ZIP, no work folder"


def test_an_export_folder_that_cannot_be_written_fails_the_job_with_a_message(
    engine: sa.Engine, tmp_path: Path, clock: Clock
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the export folder should be\n", encoding="utf-8")
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    job_id = ask(engine, statistician, [ExportFormat.TIDY], clock.now)
    assert run_job(engine, job_id, ExportStorage(blocked), clock=clock) is ExportJobState.FAILED
    assert job_of(engine, job_id).failure == NOT_WRITTEN
    assert records_of(engine, statistician) == []


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        ("role", "Formats: a monitor may not export sdtm"),
        ("disabled", "Account: was disabled before the export ran"),
    ],
)
def test_AC01_what_changed_between_asking_and_running_is_honoured(
    engine: sa.Engine, storage: ExportStorage, clock: Clock, change: str, failure: str
) -> None:
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    admin = committed_user(engine, RoleCode.ADMIN)
    job_id = ask(engine, statistician, [ExportFormat.SDTM], clock.now)
    with Session(engine) as session:
        set_change_context(session, system_context("pytest export jobs", reason="account changed"))
        account, actor = session.get_one(User, statistician.id), session.get_one(User, admin.id)
        if change == "role":
            accounts.set_role(session, account, RoleCode.MONITOR, actor=actor, now=clock.now)
        else:
            accounts.deactivate_user(session, account, actor=actor, now=clock.now)
        session.commit()
    assert run_job(engine, job_id, storage, clock=clock) is ExportJobState.FAILED
    assert job_of(engine, job_id).failure == failure
    assert records_of(engine, statistician) == []


# --- the sweep -------------------------------------------------------------------------------------------------


def test_the_sweep_fails_jobs_whose_server_stopped_and_leaves_live_ones(
    engine: sa.Engine, storage: ExportStorage, clock: Clock
) -> None:
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    abandoned = ask(engine, statistician, [ExportFormat.TIDY], clock.now)
    alive = ask(engine, statistician, [ExportFormat.AUDIT], clock.now)
    beat(engine, [alive], clock.now + STALE_AFTER)  # its server is still beating
    # What a server that stopped mid-export leaves behind, and what a live job is writing.
    storage.prepare()
    for job_id in (abandoned, alive):
        storage.part_path(job_id).write_bytes(b"PK half a zip")
        (storage.work_path(job_id) / "export").mkdir(parents=True)
    later = clock.now + STALE_AFTER + dt.timedelta(seconds=1)

    report = sweep(engine, storage, now=later, retention=RETENTION)
    assert abandoned in report.abandoned and alive not in report.abandoned
    gone = job_of(engine, abandoned)
    assert (gone.state, gone.failure, gone.finished_at) == (ExportJobState.FAILED, ABANDONED, later)
    assert job_of(engine, alive).state is ExportJobState.QUEUED
    assert left_in(storage) == sorted(
        [storage.part_path(alive).name, "work", f"work/job-{alive}", f"work/job-{alive}/export"]
    )
    assert report.watching, "a job still waits: the sweep must come again"
    # A worker that gets round to the abandoned job does not run it.
    assert run_job(engine, abandoned, storage, clock=clock) is None
    assert job_of(engine, abandoned).state is ExportJobState.FAILED


def test_a_zip_is_deleted_when_the_retention_ends_and_its_job_says_expired(
    engine: sa.Engine, storage: ExportStorage, clock: Clock
) -> None:
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    job_id = ask(engine, statistician, [ExportFormat.TIDY], clock.now)
    assert run_job(engine, job_id, storage, clock=clock) is ExportJobState.DONE
    path = storage.zip_path(job_id)
    orphan = storage.zip_path(0)  # a ZIP no job knows (a file another server's sweep missed)
    orphan.write_bytes(b"PK")
    newer = storage.work_path(10**9)  # a job asked for after the sweep read the jobs: left alone
    newer.mkdir(parents=True)
    unrelated = storage.folder / "README.txt"
    unrelated.write_text("not an export\n", encoding="utf-8")

    report = sweep(engine, storage, now=clock.now + RETENTION - dt.timedelta(seconds=1), retention=RETENTION)
    assert job_id not in report.expired and path.exists()
    assert orphan.name in report.removed and not orphan.exists() and unrelated.exists() and newer.exists()
    assert report.watching, "a ZIP is still to expire"

    report = sweep(engine, storage, now=clock.now + RETENTION, retention=RETENTION)
    assert job_id in report.expired and not path.exists()
    job = job_of(engine, job_id)
    assert job.state is ExportJobState.DONE and job.file_deleted_at == clock.now + RETENTION
    assert job.export_record_id is not None, "the record of the export stays"
    assert len(records_of(engine, statistician)) == 1
    assert unrelated.exists()


def test_job_files_are_readable_by_the_servers_account_only(
    engine: sa.Engine, storage: ExportStorage, clock: Clock
) -> None:
    statistician = committed_user(engine, RoleCode.STATISTICIAN)
    job_id = ask(engine, statistician, [ExportFormat.TIDY], clock.now)
    assert run_job(engine, job_id, storage, clock=clock) is ExportJobState.DONE
    assert storage.zip_path(job_id).stat().st_mode & 0o077 == 0
    assert storage.folder.stat().st_mode & 0o077 == 0
    assert re.fullmatch(r"jk500_export_\d+\.zip", job_of(engine, job_id).file_name or "")


# --- the SQLite copy -------------------------------------------------------------------------------------------


def _rows(database: Path) -> dict[str, int]:
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def test_an_sqlite_copy_is_made_in_steps_and_in_one_step_when_writes_keep_restarting_it(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Between two steps the copy lets writers commit; each write restarts it, and after a few restarts it is
    made in one step. Either way the copy is whole and consistent."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the copy is how SQLite exports avoid blocking writers; PostgreSQL reads a snapshot")
    source = Path(engine.url.database or "")
    quiet = copy_sqlite_database(engine, tmp_path / "quiet.sqlite3", step_pages=64)
    assert quiet == SqliteCopy(restarts=0, in_one_step=False)
    assert _rows(tmp_path / "quiet.sqlite3") == _rows(source)

    stop = threading.Event()
    saved: list[int] = []

    def enter_data() -> None:
        writer = create_engine(engine.url)
        try:
            while not stop.is_set():
                with Session(writer) as session:
                    session.add(SecurityEvent(occurred_at=dt.datetime.now(dt.UTC), kind=SecurityEventKind.LOGOUT))
                    session.commit()
                saved.append(1)
        finally:
            writer.dispose()

    thread = threading.Thread(target=enter_data)
    thread.start()
    try:
        while not saved:  # data entry is under way before the copy starts
            time.sleep(0.001)
        busy = copy_sqlite_database(engine, tmp_path / "busy.sqlite3", step_pages=64, restarts=2)
    finally:
        stop.set()
        thread.join()
    assert busy == SqliteCopy(restarts=3, in_one_step=True)
    copied = _rows(tmp_path / "busy.sqlite3")
    assert len(saved) > 3 and copied["audit_event"] == _rows(source)["audit_event"]
