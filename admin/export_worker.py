"""The app's export worker: runs the exports asked for on the web page in the background, one at a time.

``init_export_worker`` (called by the app factory) creates one worker per app, kept in
``app.extensions[EXTENSION_KEY]``, and sweeps once (``jk500db.export.jobs.sweep``): jobs left waiting or running
by a server that stopped are marked failed once their heartbeat is stale, expired ZIPs are deleted. The page
commits a job and hands its id to :meth:`ExportWorker.submit`.

Two daemon threads, each started when there is work and ending when there is none (so an app that never exports,
such as most test apps, starts no thread):

- the runner runs the queued jobs in order (``jk500db.export.jobs.run_job``); one export at a time is enough
  for a small team, and two would compete for the same CPU and disk;
- the keeper beats the heartbeat of this worker's waiting and running jobs every
  ``jk500db.export.jobs.HEARTBEAT_EVERY`` and sweeps, while a job waits or runs or a ZIP is still to expire.

Daemon threads do not hold the server up when it stops: a job cut short stays "running" until its heartbeat is
stale, when a sweep (of this server when it starts again, or of another one) marks it failed and removes what it
left in the export folder.

Configuration (app config, else the environment, else the default; see ``jk500db.config``):
``JK500DB_EXPORT_DIR`` (``<instance>/exports``) and ``JK500DB_EXPORT_RETENTION_HOURS`` (24).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from admin.extensions import db
from jk500db.config import export_dir, export_retention_hours
from jk500db.export.jobs import HEARTBEAT_EVERY, Clock, ExportStorage, SweepReport, beat, run_job, sweep

log = logging.getLogger(__name__)

EXTENSION_KEY = "jk500db_export_worker"


class ExportWorker:
    """A queue of export jobs and the threads that run them and keep them alive (module docstring)."""

    def __init__(
        self,
        engine: sa.Engine,
        storage: ExportStorage,
        *,
        clock: Clock,
        retention: dt.timedelta,
        beat_every: dt.timedelta = HEARTBEAT_EVERY,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.clock = clock
        self.retention = retention
        self.beat_every = beat_every
        self._lock = threading.Lock()
        self._queue: deque[int] = deque()
        #: jobs this worker holds: waiting in the queue or running.
        self._held: set[int] = set()
        self._runner: threading.Thread | None = None
        self._keeper: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- for the page and the app factory

    def submit(self, job_id: int) -> None:
        """Run the committed, queued job ``job_id`` after the ones before it."""
        with self._lock:
            if self._stopping.is_set():
                return  # the job stays queued; a sweep fails it once its heartbeat is stale
            self._queue.append(job_id)
            self._held.add(job_id)
            if self._runner is None:
                self._runner = self._start(self._run_queue, "jk500db-export-runner")
            if self._keeper is None:
                self._keeper = self._start(self._keep, "jk500db-export-keeper")

    def sweep_now(self) -> SweepReport:
        """Sweep now (``jk500db.export.jobs.sweep``); keep sweeping in the background while anything is left."""
        report = sweep(self.engine, self.storage, now=self.clock(), retention=self.retention)
        if report.abandoned:
            log.warning("export jobs %s were abandoned by a server that stopped; marked failed", report.abandoned)
        if report.watching:
            with self._lock:
                if self._keeper is None and not self._stopping.is_set():
                    self._keeper = self._start(self._keep, "jk500db-export-keeper")
        return report

    def busy(self) -> bool:
        """Whether a job is waiting or running here."""
        with self._lock:
            return bool(self._held)

    def stop(self, timeout: float | None = None) -> None:
        """Take no more jobs, drop the waiting ones (they stay queued in the database) and end the threads once
        the running job, if any, has finished (waiting at most ``timeout`` seconds)."""
        with self._lock:
            self._stopping.set()
            for job_id in self._queue:
                self._held.discard(job_id)
            self._queue.clear()
            threads = [t for t in (self._runner, self._keeper) if t is not None]
        for thread in threads:
            thread.join(timeout)

    # --- the threads

    @staticmethod
    def _start(target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _run_queue(self) -> None:
        while True:
            with self._lock:
                if self._stopping.is_set() or not self._queue:
                    self._runner = None
                    return
                job_id = self._queue.popleft()
            try:
                run_job(self.engine, job_id, self.storage, clock=self.clock)
            except Exception:  # the job could not even be recorded as failed (the database is gone?): log it
                log.exception("export job %s: the worker could not run it", job_id)
            finally:
                with self._lock:
                    self._held.discard(job_id)

    def _keep(self) -> None:
        while not self._stopping.wait(self.beat_every.total_seconds()):
            with self._lock:
                held = sorted(self._held)
            try:
                beat(self.engine, held, self.clock())
                report = sweep(self.engine, self.storage, now=self.clock(), retention=self.retention)
            except Exception:  # a database briefly out of reach: try again at the next beat
                log.exception("export jobs: heartbeat or sweep failed")
                continue
            if report.abandoned:
                log.warning("export jobs %s were abandoned by a server that stopped; marked failed", report.abandoned)
            with self._lock:
                if not self._held and not report.watching:
                    self._keeper = None
                    return
        with self._lock:
            self._keeper = None


def init_export_worker(app: Flask) -> ExportWorker:
    """The app's worker, configured from the app config, after one sweep (the server is starting)."""
    config = app.config
    config["JK500DB_EXPORT_DIR"] = export_dir(config.get("JK500DB_EXPORT_DIR"), instance_dir=Path(app.instance_path))
    config["JK500DB_EXPORT_RETENTION_HOURS"] = export_retention_hours(config.get("JK500DB_EXPORT_RETENTION_HOURS"))
    with app.app_context():
        engine = db.engine

    def clock() -> dt.datetime:
        now: dt.datetime = config["JK500DB_CLOCK"]()  # read at each call: tests move the clock
        return now

    worker = ExportWorker(
        engine,
        ExportStorage(config["JK500DB_EXPORT_DIR"]),
        clock=clock,
        retention=dt.timedelta(hours=config["JK500DB_EXPORT_RETENTION_HOURS"]),
    )
    app.extensions[EXTENSION_KEY] = worker
    try:
        worker.sweep_now()
    except Exception:  # the exports page can wait; data entry must not: the app starts anyway
        log.exception("export jobs: the sweep at start failed")
    return worker


def export_worker(app: Flask) -> ExportWorker:
    worker: ExportWorker = app.extensions[EXTENSION_KEY]
    return worker
