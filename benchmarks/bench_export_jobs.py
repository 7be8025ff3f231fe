"""How long data entry waits to commit while an export runs: in the request (before) against as a job (after).

The exports page used to run the export inside the web request, in one database transaction. On SQLite, which
uses the rollback journal (``jk500db.db``), that transaction's read lock blocks every writer's commit for the
whole export: a data manager's save waits out the 10 s busy timeout and fails with "database is locked". The
export job (``jk500db.export.jobs``) first copies the database with SQLite's backup API (one read lock for the
copy's few seconds) and exports the copy; on PostgreSQL both read a REPEATABLE READ snapshot, which blocks no
writer.

For each engine and each way, the export runs in a thread while this one saves a data manager's correction (one
audited update of an adverse event's verbatim term, with a reason, as the CRF form saves it) every
``--every`` seconds until the export ends; the same saves with no export running are the baseline. Each save's
wall time from its first statement to the end of its commit (or its refusal) is its wait; a save refused by the
database counts as failed. The export thread shares this process, and its interpreter lock, with the saves, as
the web server's export worker shares the server process with the requests: part of a save's wait while an
export runs is that contention, not the database. Printed: the export's seconds, the saves'
median and longest wait and the failures, and on SQLite the database's size and how long the backup copy took.
Figures are printed, never asserted. Studies are built (and cached on SQLite) as ``benchmarks.bench_pages``
builds them.

    python -m benchmarks.bench_export_jobs [--subjects 200] [--formats tidy,audit] [--every 0.5]
                                           [--postgres URL] [--cache DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from benchmarks.bench_pages import Study, postgres_study, sqlite_study
from jk500db.audit.context import ChangeContext, set_change_context, system_context
from jk500db.db import create_engine
from jk500db.export.context import ExportFormat
from jk500db.export.jobs import BACKUP_STEP_PAGES, ExportStorage, copy_sqlite_database, create_job, run_job
from jk500db.export.runner import run_export
from jk500db.models import AdverseEvent, ExportJob, User
from jk500db.models.vocabularies import ChangeSource, ExportJobState, RoleCode
from jk500db.services.accounts import create_user

DEFAULT_CACHE = Path(tempfile.gettempdir()) / "jk500db-bench-cache"
NO_EXPORT = "no export (baseline)"
BENCH_PASSWORD = "saves must never wait for a long export"  # noqa: S105 -- a throwaway account's password


@dataclass
class Saves:
    """The data manager's saves while one export ran: each one's wait, and why the refused ones were refused."""

    waits: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    engine: str
    way: str
    export_s: float
    saves: Saves
    #: why the export itself failed, if it did.
    export_error: str | None = None

    def line(self) -> str:
        waits = sorted(self.saves.waits) or [0.0]
        p90 = waits[min(len(waits) - 1, int(len(waits) * 0.9))]
        outcome = "" if self.way == NO_EXPORT else ("export FAILED" if self.export_error else "export done")
        return (
            f"{self.engine:<11}{self.way:<22}{self.export_s:>9.1f}{len(waits):>7}"
            f"{statistics.median(waits) * 1000:>12.0f}{p90 * 1000:>9.0f}{waits[-1] * 1000:>9.0f}"
            f"{len(self.saves.failures):>8}  {outcome}"
        )


def _accounts(engine: sa.Engine) -> tuple[int, int, int]:
    """A statistician and a data manager of the benchmark's own, and the adverse event the saves correct."""
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        set_change_context(session, system_context("benchmark", reason="accounts for the export benchmark"))
        ids = []
        for role in (RoleCode.STATISTICIAN, RoleCode.DATA_MANAGER):
            account = create_user(
                session,
                email=f"timing.{role.value}.{time.time_ns()}@hospital.example",
                full_name=f"Bench {role.value.replace('_', ' ')}",
                role=role,
                password=BENCH_PASSWORD,
                must_change_password=False,
                now=now,
            )
            ids.append(account.id)
        live = sa.select(AdverseEvent.id).where(AdverseEvent.removed_at.is_(None))
        event = session.scalar(live.order_by(AdverseEvent.id).limit(1))
        session.commit()
    assert event is not None, "the study has adverse events"
    return ids[0], ids[1], event


def _save(engine: sa.Engine, data_manager: User, event_id: int, number: int, saves: Saves) -> None:
    """One correction, timed from its first statement to the end of its commit."""
    start = time.perf_counter()
    try:
        with Session(engine) as session:
            set_change_context(
                session, ChangeContext(data_manager.id, data_manager.full_name, ChangeSource.UI, "benchmark correction")
            )
            event = session.get_one(AdverseEvent, event_id)
            event.verbatim = f"benchmark correction {number}"
            session.commit()
    except sa.exc.OperationalError as error:
        saves.failures.append(str(error.orig).strip())
    saves.waits.append(time.perf_counter() - start)  # a refused save waited too, before it was refused


def _without_export(engine: sa.Engine, every: float, event_id: int, dm_id: int, count: int = 20) -> Run:
    """The baseline: the same saves with no export running."""
    with Session(engine, expire_on_commit=False) as session:
        data_manager = session.get_one(User, dm_id)
    saves = Saves()
    for number in range(count):
        _save(engine, data_manager, event_id, number, saves)
        time.sleep(every)
    return Run(engine.dialect.name, NO_EXPORT, 0.0, saves)


def _while_exporting(engine: sa.Engine, export: Callable[[], None], every: float, event_id: int, dm_id: int) -> Run:
    with Session(engine, expire_on_commit=False) as session:
        data_manager = session.get_one(User, dm_id)
    saves = Saves()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            export()
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)

    thread = threading.Thread(target=target, name="bench-export")
    start = time.perf_counter()
    thread.start()
    number = 0
    while thread.is_alive():
        number += 1
        _save(engine, data_manager, event_id, number, saves)
        thread.join(every)
    seconds = time.perf_counter() - start
    return Run(engine.dialect.name, "", seconds, saves, repr(errors[0]) if errors else None)


def bench(kind: str, study: Study, formats: list[ExportFormat], every: float) -> list[Run]:
    engine = create_engine(study.url)
    runs = []
    try:
        statistician_id, dm_id, event_id = _accounts(engine)
        with tempfile.TemporaryDirectory(prefix="jk500db-bench-export-jobs-") as tmp:
            folder = Path(tmp)
            if kind == "sqlite":
                database = Path(make_url(study.url).database or "")
                size_mb = database.stat().st_size / 1e6
                start = time.perf_counter()
                copy_sqlite_database(engine, folder / "copy.sqlite3")
                copy_s = time.perf_counter() - start
                (folder / "copy.sqlite3").unlink()
                start = time.perf_counter()
                copy_sqlite_database(engine, folder / "copy.sqlite3", step_pages=-1)
                one_step_s = time.perf_counter() - start
                (folder / "copy.sqlite3").unlink()
                print(
                    f"  database {size_mb:.0f} MB; with no save going on, its backup copy takes {copy_s:.2f} s in "
                    f"steps of {BACKUP_STEP_PAGES} pages (a save waits for one step at most), {one_step_s:.2f} s in one"
                )

            runs.append(_without_export(engine, every, event_id, dm_id))

            def in_the_request() -> None:
                with Session(engine) as session:
                    user = session.get_one(User, statistician_id)
                    run_export(session, folder / "request", formats, user=user)
                    session.commit()

            run = _while_exporting(engine, in_the_request, every, event_id, dm_id)
            runs.append(Run(kind, "in the request (old)", run.export_s, run.saves, run.export_error))
            print(f"  in the request: {run.export_s:.1f} s")

            with Session(engine) as session:
                user = session.get_one(User, statistician_id)
                job_id = create_job(session, user, formats, now=dt.datetime.now(dt.UTC)).id
                session.commit()
            storage = ExportStorage(folder / "jobs")

            def as_a_job() -> None:
                state = run_job(engine, job_id, storage, clock=lambda: dt.datetime.now(dt.UTC))
                if state is not ExportJobState.DONE:
                    with Session(engine) as session:
                        raise RuntimeError(f"the job {state}: {session.get_one(ExportJob, job_id).failure}")

            run = _while_exporting(engine, as_a_job, every, event_id, dm_id)
            runs.append(Run(kind, "as a job (new)", run.export_s, run.saves, run.export_error))
            print(f"  as a job: {run.export_s:.1f} s")
    finally:
        engine.dispose()
    return runs


def main(argv: list[str]) -> None:
    # The job logs how its SQLite copy went (how long, restarted by how many saves, made in one step at last).
    logging.basicConfig(format="  %(message)s")
    logging.getLogger("jk500db.export.jobs").setLevel(logging.INFO)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--formats", default="tidy,audit", help="comma-separated formats (default tidy,audit)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between two saves (default 0.5)")
    parser.add_argument("--postgres", metavar="URL", help="also run on a fresh database on this server")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    formats = [ExportFormat(value) for value in args.formats.split(",")]
    sites = args.subjects // 500 + 1  # as benchmarks.bench_pages, so the two share their cached studies
    studies: list[tuple[str, AbstractContextManager[Study]]] = [
        ("sqlite", sqlite_study(args.cache, args.subjects, sites, args.seed))
    ]
    if args.postgres:
        studies.append(("postgresql", postgres_study(args.postgres, args.subjects, sites, args.seed)))
    runs: list[Run] = []
    for kind, context in studies:
        print(f"{kind}, {args.subjects} subjects, formats {','.join(f.value for f in formats)}:")
        with context as study:
            print(f"  {study.generated}")
            runs.extend(bench(kind, study, formats, args.every))
    print()
    print("Each save's wait, from its first statement to the end of its commit (a refused save: until refused):")
    print(
        f"{'engine':<11}{'export':<22}{'export s':>9}{'saves':>7}{'median ms':>12}{'p90 ms':>9}{'max ms':>9}"
        f"{'failed':>8}"
    )
    for run in runs:
        print(run.line())
    for run in runs:
        if run.saves.failures:
            print(f"{run.engine}, {run.way}: a save failed with: {run.saves.failures[0]}")
        if run.export_error:
            print(f"{run.engine}, {run.way}: the export failed with: {run.export_error}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
