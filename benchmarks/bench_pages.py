"""Server time of the web UI's pages on a large synthetic study (issue 5: under 200 ms each at 2000 subjects).

A study is built as a user would build it: ``jk500db init --demo`` then ``jk500db demo --subjects N``, through
the real command line in a subprocess. On SQLite the database is cached (keyed by size, sites, seed and the
migration head), since generating 2000 subjects takes minutes; each run works on a copy, so logging in (which
writes security events) never changes the cached study. With ``--postgres URL`` the same study is generated
once into a template database on that server and each run works on a copy of it (``CREATE DATABASE ...
TEMPLATE``), dropped afterwards.

The app runs in-process (as ``jk500db serve`` configures a demo database) and the Flask test client logs in
through the real login form as the demo monitor, the one role that opens every page timed here. A page's
server time is the wall time of one ``client.get``: the whole request (session checks, SQL, templates) runs in
this process, with no network. Each page is fetched once to warm up, once to count its SQL statements (a
``before_cursor_execute`` listener, kept off the timed runs), then ``--runs`` times; the median and the 90th
percentile are printed, with the response size and the ratio to the baseline, the home page rendered for the
demo administrator (the smallest page: the session checks and the study's code). Whether each median is under the
200 ms target is printed, never asserted: absolute times vary from machine to machine.

    python -m benchmarks.bench_pages [--subjects 2000] [--sites 5] [--seed 0] [--runs 15]
                                     [--postgres URL] [--cache DIR] [--only TEXT] [--profile PATH]

``--sites`` defaults to one extra site per 500 subjects, as bench_audit generates (the CLI's own default, the
fewest sites of 999 subjects, would put 2000 subjects on 3 sites and make another study). ``--only casebook``
times only the pages whose path contains "casebook"; ``--profile /matrix/`` also prints the functions that take
the most time in one request of that page (cProfile inflates code made of many small calls: confirm a finding by
timing without it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from admin import create_app
from admin.extensions import db
from jk500db import migrate
from jk500db.cli import DEMO_CREDENTIALS_FILE
from jk500db.db import counting_statements
from jk500db.models import AdverseEvent, AuditEvent, LabResult, Query, Site, Subject
from jk500db.models.vocabularies import RoleCode

#: Issue 5: every page within this server time at 2000 subjects.
TARGET_MS = 200.0
#: Flask-Admin list views show this many rows per page (admin/crf/view.py); used to find the last page.
LIST_PAGE_SIZE = 50


@dataclass(frozen=True)
class Study:
    """A database ready for the app, and the demo logins `jk500db init --demo` wrote for it."""

    url: str
    logins: dict[RoleCode, tuple[str, str]]
    generated: str


@dataclass(frozen=True)
class Timing:
    label: str
    path: str
    status: int
    times: list[float]
    statements: int
    size: int

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p90_ms(self) -> float:
        if len(self.times) < 2:
            return self.median_ms
        return statistics.quantiles(self.times, n=10, method="inclusive")[8] * 1000


# --- building the study -------------------------------------------------------------------------------------


def _cli(url: str, instance: Path, *args: str) -> float:
    """Run ``jk500db <args>`` against ``url``; returns the seconds it took. Fails loudly with its output."""
    env = {**os.environ, "JK500DB_DATABASE_URL": url, "JK500DB_INSTANCE_DIR": str(instance)}
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 -- our own CLI, arguments built here
        [sys.executable, "-m", "jk500db.cli", *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"jk500db {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds


def _read_logins(instance: Path) -> dict[RoleCode, tuple[str, str]]:
    logins = {}
    for line in (instance / DEMO_CREDENTIALS_FILE).read_text().splitlines():
        role, email, password = line.split("\t")
        logins[RoleCode(role)] = (email, password)
    return logins


def _generate(url: str, instance: Path, subjects: int, sites: int, seed: int) -> str:
    init_seconds = _cli(url, instance, "init", "--demo")
    demo_seconds = _cli(url, instance, "demo", "--subjects", str(subjects), "--sites", str(sites), "--seed", str(seed))
    return f"generated: init --demo {init_seconds:.1f} s, demo --subjects {subjects} {demo_seconds:.1f} s"


def _cache_folder(cache: Path, subjects: int, sites: int, seed: int) -> Path:
    # The migration head is part of the key: a schema change makes a new study rather than a refused one. A
    # change to the generator alone does not: delete the folder (or pass another --cache) after one.
    return cache / f"pages-{subjects}subjects-{sites}sites-seed{seed}-{migrate.head_revision()}"


@contextmanager
def sqlite_study(cache: Path, subjects: int, sites: int, seed: int) -> Iterator[Study]:
    folder = _cache_folder(cache, subjects, sites, seed)
    database, instance, ready = folder / "study.sqlite3", folder / "instance", folder / "ready"
    if ready.exists():
        generated = f"reused the study cached in {folder} ({ready.read_text().strip()})"
    else:
        # A half-built folder (an interrupted run) is thrown away; "ready" is written last.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        generated = _generate(f"sqlite:///{database}", instance, subjects, sites, seed)
        ready.write_text(generated + "\n")
    with tempfile.TemporaryDirectory(prefix="jk500db-bench-pages-") as tmp:
        copy = Path(tmp) / "study.sqlite3"
        shutil.copyfile(database, copy)
        yield Study(f"sqlite:///{copy}", _read_logins(instance), generated)


@contextmanager
def postgres_study(server: str, subjects: int, sites: int, seed: int, cache: Path | None = None) -> Iterator[Study]:
    """A generated study in a database of its own on ``server``, dropped afterwards.

    With ``cache``, the study is generated once into a template database (keyed as the SQLite cache is, marked
    ready by its comment) and each run gets a copy made by ``CREATE DATABASE ... TEMPLATE``, a file copy on the
    server: 2000 subjects take half an hour to generate on PostgreSQL here, seconds to copy.
    """
    name = f"jk500db_bench_pages_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with tempfile.TemporaryDirectory(prefix="jk500db-bench-pages-") as tmp:
            if cache is None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                url = make_url(server).set(database=name).render_as_string(hide_password=False)
                instance = Path(tmp) / "instance"
                # `jk500db demo` itself vacuums and refreshes the planner statistics (VACUUM ANALYZE).
                generated = _generate(url, instance, subjects, sites, seed)
            else:
                template, instance, generated = _postgres_template(admin, server, cache, subjects, sites, seed)
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                url = make_url(server).set(database=name).render_as_string(hide_password=False)
            yield Study(url, _read_logins(instance), generated)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _postgres_template(
    admin: sa.Engine, server: str, cache: Path, subjects: int, sites: int, seed: int
) -> tuple[str, Path, str]:
    """The cached template database of this study (generated first if need be), its instance folder and note."""
    folder = cache / f"postgres-{_cache_folder(cache, subjects, sites, seed).name}"
    template = f"jk500db_bench_{subjects}s_{sites}x_{seed}_{migrate.head_revision()}"[:63]
    with admin.connect() as conn:
        note = conn.exec_driver_sql(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %(name)s",
            {"name": template},
        ).scalar()
    if note and note.startswith("ready:") and (folder / "instance").exists():
        return template, folder / "instance", f"reused the cached template database {template} ({note[6:].strip()})"
    shutil.rmtree(folder, ignore_errors=True)  # a half-built template (an interrupted run) is thrown away
    folder.mkdir(parents=True)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{template}"')
    url = make_url(server).set(database=template).render_as_string(hide_password=False)
    generated = _generate(url, folder / "instance", subjects, sites, seed)
    with admin.connect() as conn:  # written last: "ready" means complete
        conn.exec_driver_sql(f"COMMENT ON DATABASE \"{template}\" IS 'ready: {generated}'")
    return template, folder / "instance", generated


# --- the app and its pages ----------------------------------------------------------------------------------


@contextmanager
def demo_app(url: str) -> Iterator[Flask]:
    """The app as `jk500db serve` configures it for a demo database on this computer (not TESTING)."""
    with tempfile.TemporaryDirectory(prefix="jk500db-bench-instance-") as instance:
        app = create_app(
            {
                "DATABASE_URL": url,
                "JK500DB_DEMO": True,
                "SESSION_COOKIE_SECURE": False,
                "SECRET_KEY": secrets.token_hex(32),
                "INSTANCE_PATH": instance,
            }
        )
        try:
            yield app
        finally:
            with app.app_context():
                for engine in db.engines.values():
                    engine.dispose()


def logged_in(app: Flask, email: str, password: str) -> FlaskClient:
    """A client logged in through the real login form (CSRF token included)."""
    client = app.test_client()
    form = client.get("/login")
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text)
    if found is None:
        raise SystemExit("the login page has no CSRF token")
    client.post("/login", data={"email": email, "password": password, "csrf_token": found.group(1)})
    if client.get("/", follow_redirects=True).request.path.startswith("/login"):
        raise SystemExit(f"could not log in as {email}")
    return client


def study_size(app: Flask) -> dict[str, int]:
    counted = {"subjects": Subject, "adverse events": AdverseEvent, "lab results": LabResult}
    counted |= {"queries": Query, "audit events": AuditEvent}
    with app.app_context():
        return {
            name: db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for name, model in counted.items()
        }


def page_list(app: Flask) -> list[tuple[str, str]]:
    """(label, path) of every page timed. The casebook and record page are the largest of their kind: the
    subject with the most lab results, and that subject's adverse event with the most audit events."""
    with app.app_context():
        session = db.session()
        busiest = (
            sa.select(Subject.subject_number, Subject.id, Site.code)
            .join(Site, Site.id == Subject.site_id)
            .join(LabResult, LabResult.subject_id == Subject.id)
            .group_by(Subject.id, Subject.subject_number, Site.code)
            .order_by(sa.func.count().desc(), Subject.id)
            .limit(1)
        )
        subject = session.execute(busiest).first()
        # Grouped by the audit trail's row key (ix_audit_event_record), among this subject's events only.
        row_key = session.scalar(
            sa.select(AuditEvent.row_key)
            .where(AuditEvent.table_name == "adverse_event", AuditEvent.subject_id == (subject.id if subject else -1))
            .group_by(AuditEvent.row_key)
            .order_by(sa.func.count().desc(), AuditEvent.row_key)
            .limit(1)
        )
        ae_id = int(row_key) if row_key is not None and row_key.isdigit() else None
        if ae_id is None:
            ae_id = session.scalar(sa.select(sa.func.max(AdverseEvent.id)))
        labs = session.scalar(sa.select(sa.func.count()).select_from(LabResult)) or 0
    number, site = (subject.subject_number, subject.code) if subject else ("01-001", "01")
    last_lab_page = max(0, math.ceil(labs / LIST_PAGE_SIZE) - 1)
    # Pages beyond the last show the last (matrix, audit trail): the deepest OFFSET a person can reach.
    return [
        ("status matrix", "/matrix/"),
        ("status matrix, last page", "/matrix/?page=1000000"),
        (f"status matrix, site {site}", f"/matrix/?site={site}"),
        ("status matrix, site 01", "/matrix/?site=01"),
        ("adverse events list", "/crf/adverse_event/"),
        ("lab results list", "/crf/lab_result/"),
        ("lab results list, last page", f"/crf/lab_result/?page={last_lab_page}"),
        ("casebook index", "/casebook/"),
        (f"casebook {number}", f"/casebook/{number}"),
        ("adverse event record page", f"/crf/adverse_event/details/?id={ae_id}"),
        ("safety dashboard", "/safety/"),
        ("query inbox", "/queries/"),
        ("audit trail", "/audit/"),
        ("audit trail, last page", "/audit/?page=1000000"),
        (f"audit trail, subject {number}", f"/audit/?subject={number}"),
    ]


def count_statements(app: Flask, client: FlaskClient, path: str) -> int:
    with app.app_context():
        engine = db.engine
    with counting_statements(engine) as tally:
        client.get(path)
    return tally.statements


def time_page(app: Flask, client: FlaskClient, label: str, path: str, runs: int) -> Timing:
    first = client.get(path)  # warm-up: templates compiled, caches filled
    if first.status_code != 200:
        return Timing(label, path, first.status_code, [], 0, 0)
    statements = count_statements(app, client, path)
    times = []
    size = 0
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        size = len(response.data)
    return Timing(label, path, 200, times, statements, size)


def profile_page(client: FlaskClient, path: str, top: int = 25) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    client.get(path)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(f"-- profile of one GET {path} (top {top} by cumulative time, then by own time)")
    print(out.getvalue())


# --- report -------------------------------------------------------------------------------------------------


def print_timings(kind: str, baseline: Timing, timings: list[Timing]) -> None:
    base = baseline.median_ms
    print(
        f"{kind}: baseline {baseline.label} ({baseline.path}): median {base:.1f} ms, p90 {baseline.p90_ms:.1f} ms, "
        f"{baseline.statements} SQL statements"
    )
    print(f"{'page':<34} {'median':>9} {'p90':>9} {'x base':>7} {'SQL':>5} {'size':>9}  under {TARGET_MS:.0f} ms")
    for t in timings:
        if t.status == 404:
            print(f"{t.label:<34} not available (404 at {t.path})")
            continue
        if t.status != 200:
            print(f"{t.label:<34} HTTP {t.status} at {t.path}")
            continue
        verdict = "yes" if t.median_ms < TARGET_MS else "NO"
        print(
            f"{t.label:<34} {t.median_ms:6.1f} ms {t.p90_ms:6.1f} ms {t.median_ms / base:6.1f}x {t.statements:5d}"
            f" {t.size / 1024:6.0f} KB  {verdict}"
        )


def bench(kind: str, study: Study, runs: int, only: str | None, profile: str | None) -> None:
    print(f"{kind}: {study.generated}")
    with demo_app(study.url) as app:
        size = study_size(app)
        print(f"{kind}: study of " + ", ".join(f"{count:,} {name}" for name, count in size.items()))
        monitor = logged_in(app, *study.logins[RoleCode.MONITOR])
        administrator = logged_in(app, *study.logins[RoleCode.ADMIN])
        # The home page sends monitors on to the matrix; administrators get the page itself. Timed before and
        # after the pages, and the two merged, so a machine that slows down mid-run skews the ratios less.
        before = time_page(app, administrator, "home page (administrator)", "/", runs)
        pages = [(label, path) for label, path in page_list(app) if only is None or only in path]
        timings = [time_page(app, monitor, label, path, runs) for label, path in pages]
        after = time_page(app, administrator, before.label, before.path, runs)
        baseline = replace(after, times=before.times + after.times)
        print_timings(kind, baseline, timings)
        if profile:
            profile_page(monitor, profile)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=int(os.environ.get("JK500DB_BENCH_SUBJECTS", "2000")))
    # Subject numbers allow 999 per site; one extra site per 500 subjects, as bench_audit generates.
    parser.add_argument("--sites", type=int, help="extra sites (default: one per 500 subjects)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", default=os.environ.get("JK500DB_TEST_POSTGRES_URL"))
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("JK500DB_BENCH_CACHE") or Path(tempfile.gettempdir()) / "jk500db-bench-cache"),
    )
    parser.add_argument("--only", metavar="TEXT", help="time only the pages whose path contains TEXT")
    parser.add_argument("--profile", metavar="PATH", help="also profile one GET of this page (e.g. /matrix/)")
    args = parser.parse_args(argv)
    args.sites = args.sites or args.subjects // 500 + 1
    with sqlite_study(args.cache, args.subjects, args.sites, args.seed) as study:
        bench("sqlite", study, args.runs, args.only, args.profile)
    if args.postgres:
        with postgres_study(args.postgres, args.subjects, args.sites, args.seed, args.cache) as study:
            bench("postgresql", study, args.runs, args.only, args.profile)
    else:
        print("postgresql: skipped (give --postgres URL or set JK500DB_TEST_POSTGRES_URL)")


if __name__ == "__main__":
    main(sys.argv[1:])
