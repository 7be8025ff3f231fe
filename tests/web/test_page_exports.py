"""The exports page (issue 6): each role sees the formats it may export and gives the password again; the export
runs as a background job, the page lists it and offers its ZIP - a deterministic archive whose manifest names
every file's SHA-256 - to its owner and administrators until the retention period ends. Refusals name the field
and record nothing; a wrong password counts toward lockout. Both engines.

The jobs run on the app's real worker thread; a test waits for them by polling the database, as the page does.
Exports take seconds each, so the statistician's downloads (tidy data and audit tables, twice) are made once per
module and engine and read by several tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from admin.export_worker import export_worker
from admin.extensions import db
from jk500db.export import runner
from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.jobs import ABANDONED, STALE_AFTER, UNEXPECTED
from jk500db.models import ExportJob, ExportRecord, SecurityEvent, Subject, User
from jk500db.models.vocabularies import ExportJobState, RoleCode, SecurityEventKind
from jk500db.services import accounts
from tests.test_web_access import (
    PASSWORD,
    Clock,
    MakeUser,
    built_app,
    csrf_token,
    log_in,
    redirects_to_login,
    security_events,
)

pytestmark = pytest.mark.usefixtures("demo_cohort")  # tests/web/conftest.py

QUICK = ["tidy", "audit"]
STATISTICIAN_NAME = "Stella Statistician"
#: How long a test waits for the worker to finish a job before it fails (an export takes seconds; CI is slower).
JOB_TIMEOUT_S = 180.0
FINISHED = (ExportJobState.DONE, ExportJobState.FAILED)


@contextmanager
def exporting_app(database_url: str, export_dir: Path, **config: Any) -> Iterator[Flask]:
    """The test app with its export folder under the test's temporary folder; its worker stopped at the end."""
    with built_app(database_url, JK500DB_EXPORT_DIR=export_dir, **config) as app:
        try:
            yield app
        finally:
            export_worker(app).stop(timeout=JOB_TIMEOUT_S)


@pytest.fixture
def app(database_url: str, clock: Clock, tmp_path: Path) -> Iterator[Flask]:
    """Overrides tests/test_web_access.py's ``app``: the exports go to this test's own folder."""
    with exporting_app(database_url, tmp_path / "exports", JK500DB_CLOCK=clock) as app:
        yield app


def csrf(client: FlaskClient) -> str:
    return csrf_token(client, "/exports/")


def request_export(client: FlaskClient, formats: list[str], password: str = PASSWORD, **fields: str) -> TestResponse:
    """POST the export form; the answer is the page again (refused) or a redirect to it (a job was queued)."""
    data: dict[str, str | list[str]] = {"csrf_token": csrf(client), "format": formats, "password": password, **fields}
    return client.post("/exports/jobs", data=data)


def download(client: FlaskClient, job_id: int) -> TestResponse:
    """GET a job's ZIP, read whole and closed (as a WSGI server closes it when the download ends)."""
    response = client.get(f"/exports/job/{job_id}/download")
    response.get_data()
    response.close()
    return response


def jobs_of(app: Flask, user_id: int) -> list[ExportJob]:
    with app.app_context():
        query = sa.select(ExportJob).where(ExportJob.user_id == user_id).order_by(ExportJob.id)
        return list(db.session.scalars(query))


def finished_jobs(app: Flask, user_id: int, count: int = 1) -> list[ExportJob]:
    """The user's jobs, once there are ``count`` and the worker has finished them all (polled, as the page polls)."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        jobs = jobs_of(app, user_id)
        if len(jobs) >= count and all(job.state in FINISHED for job in jobs):
            return jobs
        if time.monotonic() > deadline:
            pytest.fail(f"the worker did not finish the jobs in {JOB_TIMEOUT_S:.0f} s: {[j.state for j in jobs]}")
        time.sleep(0.05)


def exports_of(app: Flask, user_id: int) -> list[ExportRecord]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ExportRecord).where(ExportRecord.user_id == user_id)))


def security_log(app: Flask, user: User) -> list[tuple[SecurityEventKind, str | None]]:
    with app.app_context():
        query = sa.select(SecurityEvent.kind, SecurityEvent.detail).where(SecurityEvent.user_id == user.id)
        return list(db.session.execute(query.order_by(SecurityEvent.id)).tuples())


def birth_dates(app: Flask) -> set[str]:
    with app.app_context():
        return {day.isoformat() for day in db.session.scalars(sa.select(Subject.birth_date))}


def offered_formats(page: str) -> list[str]:
    return re.findall(r'name="format" value="([a-z]+)"', page)


def member_texts(archive: zipfile.ZipFile) -> Iterator[tuple[str, bytes]]:
    """Every file's bytes, and for a workbook the XML parts inside it (an XLSX is itself a ZIP)."""
    for name in archive.namelist():
        data = archive.read(name)
        if name.endswith(".xlsx"):
            with zipfile.ZipFile(io.BytesIO(data)) as workbook:
                for part in workbook.namelist():
                    yield f"{name}:{part}", workbook.read(part)
        else:
            yield name, data


def named_user(app: Flask, role: RoleCode, full_name: str) -> User:
    with app.app_context():
        user = accounts.create_user(
            db.session(),
            email=f"exporter.{uuid.uuid4().hex[:8]}@hospital.example",
            full_name=full_name,
            role=role,
            password=PASSWORD,
            must_change_password=False,
        )
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def logged_in(app: Flask, make_user: MakeUser, role: RoleCode) -> tuple[FlaskClient, User]:
    client = app.test_client()
    user = make_user(role)
    log_in(client, user.email)
    return client, user


def job_rows(page: str) -> dict[int, str]:
    """The list of jobs: job id -> the row's HTML."""
    section = page.split('id="export-jobs"', 1)[1].split("</section>", 1)[0]
    return {int(i): row for i, row in re.findall(r'<tr id="export-job-(\d+)"(.*?)</tr>', section, flags=re.S)}


@dataclass(frozen=True)
class Download:
    user_id: int
    jobs: list[ExportJob]
    first: TestResponse
    second: TestResponse
    birth_dates: set[str]
    #: what the export folder holds once both jobs are done.
    left: list[str]


@pytest.fixture(scope="module")
def statistician_downloads(database_url: str, demo_cohort: None, tmp_path_factory: pytest.TempPathFactory) -> Download:
    """A statistician asks twice for tidy data and audit tables, with the app's clock standing still."""
    folder = tmp_path_factory.mktemp("exports")
    with exporting_app(database_url, folder, JK500DB_CLOCK=Clock()) as app:
        user = named_user(app, RoleCode.STATISTICIAN, STATISTICIAN_NAME)
        client = app.test_client()
        log_in(client, user.email)
        responses = []
        for count in (1, 2):  # one after the other: the same request is refused while the first is unfinished
            assert request_export(client, QUICK).status_code == 302
            jobs = finished_jobs(app, user.id, count)
            responses.append(download(client, jobs[-1].id))
        left = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
        return Download(user.id, jobs, responses[0], responses[1], birth_dates(app), left)


# --- who sees what -----------------------------------------------------------------------------------------

ALL = ["tidy", "sdtm", "adam", "odm", "tables", "plots", "audit"]


@pytest.mark.parametrize(
    ("role", "formats", "identified"),
    [
        (RoleCode.STATISTICIAN, ALL, False),
        (RoleCode.INVESTIGATOR, ALL, False),
        (RoleCode.DATA_MANAGER, ALL, False),
        (RoleCode.MONITOR, ["tidy", "odm", "audit"], False),
        (RoleCode.ADMIN, ALL, True),
    ],
)
def test_AC01_each_role_is_offered_only_the_formats_it_may_export(
    client: FlaskClient, make_user: MakeUser, role: RoleCode, formats: list[str], identified: bool
) -> None:
    assert redirects_to_login(client.get("/exports/"))
    log_in(client, make_user(role).email)
    page = client.get("/exports/")
    assert page.status_code == 200
    assert offered_formats(page.text) == formats
    assert ('name="identified"' in page.text) is identified
    assert re.search(r'<input[^>]*type="password"[^>]*name="password"', page.text)
    assert "No export jobs yet." in page.text and "for 24 hours" in page.text  # the retention period, stated


def test_statisticians_find_the_page_on_their_home_page_and_in_the_menu(
    client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.STATISTICIAN).email)
    home = client.get("/").text
    shortcuts = home.split('id="shortcuts"', 1)[1].split("</div>", 1)[0]
    assert 'href="/exports/">Exports</a>' in shortcuts
    assert home.count('href="/exports/"') == 2, "the menu links it too"


# --- asking, waiting, downloading --------------------------------------------------------------------------


def test_asking_queues_a_job_and_redirects_to_the_page_which_refreshes_itself_until_it_is_done(
    app: Flask, make_user: MakeUser
) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    idle = client.get("/exports/").text
    assert '"export-jobs", "export-records"' not in idle and 'http-equiv="refresh"' not in idle
    export_worker(app).stop()  # the worker takes no job now: this one stays queued, as behind a long export
    response = request_export(client, ["tidy"])
    assert response.status_code == 302 and response.headers["Location"] == "/exports/"  # POST/redirect/GET
    page = client.get("/exports/").text
    assert "Export asked for." in page
    (job,) = jobs_of(app, user.id)
    assert job.state is ExportJobState.QUEUED and job.formats == "tidy"
    row = job_rows(page)[job.id]
    assert 'data-waiting="yes"' in row and "Queued" in row and "Download" not in row
    # The list refreshes itself (a script fetching the page again; a reload without scripts).
    assert 'id="export-jobs-waiting"' in page
    assert re.search(r'<script nonce="[^"]+">[^<]*"export-jobs", "export-records"', page)
    assert '<noscript><meta http-equiv="refresh"' in page
    # Once nothing of the user's is unfinished, the page stops refreshing.
    with app.app_context():
        db.session.get_one(ExportJob, job.id).state = ExportJobState.FAILED
        db.session.get_one(ExportJob, job.id).failure = "stopped for the test"
        db.session.commit()
    page = client.get("/exports/").text
    assert 'id="export-jobs-waiting"' not in page and 'http-equiv="refresh"' not in page
    assert '"export-jobs", "export-records"' not in page
    assert "Failed</strong>: stopped for the test" in job_rows(page)[job.id]


def test_AT12_a_statistician_downloads_a_zip_whose_manifest_lists_every_file_with_its_sha256(
    app: Flask, statistician_downloads: Download
) -> None:
    response = statistician_downloads.first
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.content_length == len(response.data)
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        manifest_bytes = archive.read("manifest.json")
        manifest = json.loads(manifest_bytes)
        listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
        assert set(listed) == set(names) - {"manifest.json"}
        for name, sha256 in listed.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == sha256, name
        assert {name.split("/")[0] for name in listed} == set(QUICK)
    position = manifest["audit"]["position"]
    assert response.headers["Content-Disposition"] == f"attachment; filename=jk500_export_{position}.zip"
    assert manifest["requested_by"] == STATISTICIAN_NAME and manifest["identified"] is False
    first_job = statistician_downloads.jobs[0]
    assert first_job.state is ExportJobState.DONE
    assert first_job.file_sha256 == hashlib.sha256(response.data).hexdigest()
    # Recorded (ICH E6(R3) 4.2.2): who, what, and the hash of the very manifest downloaded.
    records = exports_of(app, statistician_downloads.user_id)
    assert len(records) == 2
    assert {r.formats for r in records} == {"tidy,audit"} and not any(r.identified for r in records)
    assert {r.manifest_sha256 for r in records} == {hashlib.sha256(manifest_bytes).hexdigest()}
    assert {job.export_record_id for job in statistician_downloads.jobs} == {r.id for r in records}
    # The export folders and the database copies were temporary; the two ZIPs wait for the retention period.
    zips = [f"job-{job.id}.zip" for job in statistician_downloads.jobs]
    assert statistician_downloads.left == sorted([*zips, "work"])


def test_two_identical_requests_give_byte_identical_zips(statistician_downloads: Download) -> None:
    first, second = statistician_downloads.first.data, statistician_downloads.second.data
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        entries = archive.infolist()
    assert len({entry.date_time for entry in entries}) == 1, "every entry carries the data's moment"
    assert {entry.external_attr >> 16 for entry in entries} == {0o100644}


def test_a_de_identified_export_holds_no_birth_date(statistician_downloads: Download) -> None:
    """DESIGN.md: statisticians never see exact birth dates; the tidy subject table gives age at consent."""
    assert statistician_downloads.birth_dates
    with zipfile.ZipFile(io.BytesIO(statistician_downloads.first.data)) as archive:
        header = archive.read("tidy/subject.csv").decode("utf-8").splitlines()[0].split(",")
        assert "birth_date" not in header
        leaks = {
            name: sorted(day for day in statistician_downloads.birth_dates if day.encode() in data)
            for name, data in member_texts(archive)
        }
    assert {name: days for name, days in leaks.items() if days} == {}


def test_an_administrator_exports_identified_data_with_birth_dates(app: Flask, make_user: MakeUser) -> None:
    client, admin = logged_in(app, make_user, RoleCode.ADMIN)
    assert request_export(client, ["tidy"], identified="1").status_code == 302
    (job,) = finished_jobs(app, admin.id)
    assert job.state is ExportJobState.DONE and job.identified
    assert 'data-identified="yes"' in job_rows(client.get("/exports/").text)[job.id]
    response = download(client, job.id)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        subjects = archive.read("tidy/subject.csv").decode("utf-8")
        assert json.loads(archive.read("manifest.json"))["identified"] is True
    assert "birth_date" in subjects.splitlines()[0].split(",")
    assert any(day in subjects for day in birth_dates(app))
    assert [r.identified for r in exports_of(app, admin.id)] == [True]


def test_AC01_a_job_is_downloaded_by_its_owner_and_administrators_only(app: Flask, make_user: MakeUser) -> None:
    owner, statistician = logged_in(app, make_user, RoleCode.STATISTICIAN)
    assert request_export(owner, ["tidy"]).status_code == 302
    (job,) = finished_jobs(app, statistician.id)
    assert job.state is ExportJobState.DONE
    link = f'href="/exports/job/{job.id}/download"'
    assert link in job_rows(owner.get("/exports/").text)[job.id]
    assert download(owner, job.id).status_code == 200

    colleague, _ = logged_in(app, make_user, RoleCode.STATISTICIAN)
    assert job.id not in job_rows(colleague.get("/exports/").text)
    assert download(colleague, job.id).status_code == 404, "another user's job is not there for them"
    assert download(colleague, 10**9).status_code == 404

    administrator, admin = logged_in(app, make_user, RoleCode.ADMIN)
    row = job_rows(administrator.get("/exports/").text)[job.id]
    assert link in row and "Anna Berg" in row  # everyone's jobs, with who asked
    response = download(administrator, job.id)
    assert response.status_code == 200 and hashlib.sha256(response.data).hexdigest() == job.file_sha256

    # Every download is in the security log: who took which file.
    downloaded = SecurityEventKind.EXPORT_DOWNLOADED
    downloads = [detail for kind, detail in security_log(app, statistician) if kind is downloaded]
    assert downloads == [
        f"export job {job.id} (tidy): {job.file_name}, {job.file_bytes} bytes, SHA-256 {job.file_sha256}"
    ]
    (by_admin,) = [detail for kind, detail in security_log(app, admin) if kind is downloaded]
    assert f"export job {job.id} (tidy, asked for by Anna Berg)" in (by_admin or "")


def test_the_password_given_again_is_logged_as_a_reauthentication_not_a_login(
    app: Flask, make_user: MakeUser
) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    logins = security_events(app, user).count(SecurityEventKind.LOGIN_SUCCEEDED)
    assert request_export(client, ["tidy"]).status_code == 302
    assert security_events(app, user).count(SecurityEventKind.LOGIN_SUCCEEDED) == logins == 1
    assert security_log(app, user)[-1] == (SecurityEventKind.REAUTHENTICATED, "password given again for an export")
    finished_jobs(app, user.id)


def test_a_failed_export_says_so_in_plain_words_and_offers_no_file(
    app: Flask, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(runner.WRITERS, ExportFormat.AUDIT, (__name__, "_failing_writer"))
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    assert request_export(client, QUICK).status_code == 302
    (job,) = finished_jobs(app, user.id)
    assert job.state is ExportJobState.FAILED
    page = client.get("/exports/").text
    row = job_rows(page)[job.id]
    assert f"Failed</strong>: {UNEXPECTED}" in row.replace("&#39;", "'")
    assert "Download" not in row and "Traceback" not in page and "writer bug" not in page
    assert exports_of(app, user.id) == []
    response = client.get(f"/exports/job/{job.id}/download")
    assert response.status_code == 302 and "Not downloaded: that export failed" in client.get("/exports/").text


def _failing_writer(context: ExportContext) -> list[Path]:
    raise RuntimeError("writer bug: KeyError 'occurred_at' deep inside")


def test_a_zip_expires_after_the_retention_period_and_the_job_stays(
    app: Flask, make_user: MakeUser, clock: Clock
) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    assert request_export(client, ["audit"]).status_code == 302
    (job,) = finished_jobs(app, user.id)
    path = export_worker(app).storage.zip_path(job.id)
    assert path.exists()
    clock.advance(hours=app.config["JK500DB_EXPORT_RETENTION_HOURS"])
    log_in(client, user.email)  # a day later: a new session
    export_worker(app).sweep_now()
    assert not path.exists()
    row = job_rows(client.get("/exports/").text)[job.id]
    assert "Expired</strong>: the file was deleted" in row and "Download" not in row
    response = client.get(f"/exports/job/{job.id}/download")
    assert response.status_code == 302
    assert "Not downloaded: that export&#39;s file was deleted" in client.get("/exports/").text
    assert len(exports_of(app, user.id)) == 1, "the record of the export stays"


def test_a_starting_server_fails_the_jobs_a_stopped_server_left(
    app: Flask, make_user: MakeUser, clock: Clock, database_url: str, tmp_path: Path
) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    with app.app_context():
        left = ExportJob(
            user_id=user.id,
            requested_at=clock.now,
            formats="tidy",
            identified=False,
            state=ExportJobState.RUNNING,
            current_format="tidy",
            started_at=clock.now,
            heartbeat_at=clock.now - STALE_AFTER - dt.timedelta(seconds=1),
        )
        db.session.add(left)
        db.session.commit()
        job_id = left.id
    (tmp_path / "exports" / "work" / f"job-{job_id}").mkdir(parents=True)  # its half-written export
    with exporting_app(database_url, tmp_path / "exports", JK500DB_CLOCK=clock):
        pass  # the app factory sweeps
    (job,) = jobs_of(app, user.id)
    assert (job.state, job.failure) == (ExportJobState.FAILED, ABANDONED)
    assert not (tmp_path / "exports" / "work" / f"job-{job_id}").exists()
    assert f"Failed</strong>: {ABANDONED}" in job_rows(client.get("/exports/").text)[job_id]


# --- refusals ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "formats", "fields", "field", "message"),
    [
        (RoleCode.MONITOR, ["sdtm"], {}, "format", "Formats: a monitor may not export sdtm"),
        (RoleCode.DATA_MANAGER, ["tidy"], {"identified": "1"}, "identified", "Identified data: only an administrator"),
        (RoleCode.STATISTICIAN, ["tidy"], {"identified": "1"}, "identified", "Identified data: only an administrator"),
        (RoleCode.STATISTICIAN, [], {}, "format", "Formats: choose at least one format"),
        (RoleCode.STATISTICIAN, ["spss"], {}, "format", "Formats: there is no format spss"),
        (RoleCode.STATISTICIAN, ["tidy"], {"as_of": "last Tuesday"}, "as-of", "As of (UTC): &#39;last Tuesday&#39;"),
        (RoleCode.STATISTICIAN, ["tidy"], {"as_of": "2099-01-01T00:00"}, "as-of", "As of (UTC): must not be in the"),
        (RoleCode.STATISTICIAN, ["tidy"], {"password": ""}, "password", "Password: enter your password"),
    ],
)
def test_AC01_a_refused_request_names_the_field_and_records_nothing(
    app: Flask,
    make_user: MakeUser,
    role: RoleCode,
    formats: list[str],
    fields: dict[str, str],
    field: str,
    message: str,
) -> None:
    client, user = logged_in(app, make_user, role)
    response = request_export(client, formats, **fields)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert f"Not exported: {message}" in response.text
    assert f'id="export-{field}-error"' in response.text, "the message stands beside its field too"
    assert "Traceback" not in response.text
    assert jobs_of(app, user.id) == [] and exports_of(app, user.id) == []
    assert SecurityEventKind.LOGIN_FAILED not in security_events(app, user)
    assert SecurityEventKind.REAUTHENTICATED not in security_events(app, user)


def test_the_same_export_asked_again_while_it_runs_is_refused(app: Flask, make_user: MakeUser) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    export_worker(app).stop()  # the first stays queued
    assert request_export(client, QUICK).status_code == 302
    response = request_export(client, QUICK)  # a second click
    assert response.status_code == 200
    assert "Not exported: Formats: the same export, asked for at 09:00:00 UTC, is not finished yet" in response.text
    assert len(jobs_of(app, user.id)) == 1


def test_PW04_a_wrong_password_exports_nothing_and_counts_toward_lockout(app: Flask, make_user: MakeUser) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    response = request_export(client, ["tidy"], password="not my password at all")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Not exported: Password: is not correct" in response.text
    assert jobs_of(app, user.id) == []
    kind, detail = security_log(app, user)[-1]
    assert kind is SecurityEventKind.LOGIN_FAILED
    assert detail == "wrong password (1 in a row) (password given again for an export)"
    with app.app_context():
        assert db.session.get_one(User, user.id).failed_logins == 1
    for _ in range(app.config["JK500DB_MAX_FAILED_LOGINS"] - 1):
        response = request_export(client, ["tidy"], password="not my password at all")
    assert "Password: your account is locked until" in response.text
    assert SecurityEventKind.LOCKED_OUT in security_events(app, user)
    # Locked, even the right password exports nothing.
    assert "Not exported: Password: your account is locked" in request_export(client, ["tidy"]).text
    assert jobs_of(app, user.id) == [] and exports_of(app, user.id) == []


# --- previous exports --------------------------------------------------------------------------------------


def history_rows(page: str) -> list[str]:
    table = page.split('id="export-history"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S)


def test_each_user_sees_their_own_exports_and_administrators_see_everyones(
    app: Flask, make_user: MakeUser, statistician_downloads: Download
) -> None:
    manifest_sha256 = exports_of(app, statistician_downloads.user_id)[0].manifest_sha256
    newcomer, _ = logged_in(app, make_user, RoleCode.STATISTICIAN)
    assert "No exports yet." in newcomer.get("/exports/").text
    admin, _ = logged_in(app, make_user, RoleCode.ADMIN)
    page = admin.get("/exports/").text
    rows = [row for row in history_rows(page) if STATISTICIAN_NAME in row]
    assert len(rows) == 2
    assert all(manifest_sha256 in row and "tidy, audit" in row and "live data" in row for row in rows)
    jobs = job_rows(page)
    assert all(STATISTICIAN_NAME in jobs[job.id] for job in statistician_downloads.jobs), "and everyone's jobs"


def test_AC01_a_download_is_refused_when_the_role_may_no_longer_take_the_export(
    app: Flask, make_user: MakeUser, clock: Clock
) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    assert request_export(client, ["tables"]).status_code == 302
    (job,) = finished_jobs(app, user.id)
    assert job.state is ExportJobState.DONE
    with app.app_context():
        session = db.session()
        admin = accounts.create_user(
            session,
            email=f"admin.{uuid.uuid4().hex[:8]}@hospital.example",
            full_name="Ada Admin",
            role=RoleCode.ADMIN,
            password=PASSWORD,
            must_change_password=False,
        )
        accounts.set_role(session, session.get_one(User, user.id), RoleCode.MONITOR, actor=admin, now=clock.now)
        session.commit()
    log_in(client, user.email)  # the role change ended the session
    response = client.get(f"/exports/job/{job.id}/download")
    assert response.status_code == 302
    assert "Not downloaded: Formats: a monitor may not export tables." in client.get("/exports/").text
    assert SecurityEventKind.EXPORT_DOWNLOADED not in security_events(app, user)
