"""The exports page (issue 6): each role sees the formats it may export, the password is asked again, and the
answer is a deterministic ZIP of the export folder whose manifest names every file's SHA-256. Refusals name the
field and record nothing; a wrong password counts toward lockout. Both engines.

Exports take seconds each, so the statistician's download (tidy data and audit tables, twice) is made once per
module and engine and read by several tests.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from admin.extensions import db
from jk500db.models import ExportRecord, Subject, User
from jk500db.models.vocabularies import RoleCode, SecurityEventKind
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


def csrf(client: FlaskClient) -> str:
    return csrf_token(client, "/exports/")


def request_export(client: FlaskClient, formats: list[str], password: str = PASSWORD, **fields: str) -> TestResponse:
    """POST the export form; the answer is read whole and closed (as a WSGI server closes it, ending the ZIP)."""
    data: dict[str, str | list[str]] = {"csrf_token": csrf(client), "format": formats, "password": password, **fields}
    response = client.post("/exports/download", data=data)
    response.get_data()
    response.close()
    return response


def offered_formats(page: str) -> list[str]:
    return re.findall(r'name="format" value="([a-z]+)"', page)


def exports_of(app: Flask, user_id: int) -> list[ExportRecord]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ExportRecord).where(ExportRecord.user_id == user_id)))


def birth_dates(app: Flask) -> set[str]:
    with app.app_context():
        return {day.isoformat() for day in db.session.scalars(sa.select(Subject.birth_date))}


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


@dataclass(frozen=True)
class Download:
    user_id: int
    first: TestResponse
    second: TestResponse
    birth_dates: set[str]
    #: what the two requests left in the temporary directory.
    leftovers: list[str]


@pytest.fixture(scope="module")
def statistician_downloads(database_url: str, demo_cohort: None, tmp_path_factory: pytest.TempPathFactory) -> Download:
    """A statistician asks twice for tidy data and audit tables, with the app's clock standing still."""
    scratch = tmp_path_factory.mktemp("export-temporary")
    with built_app(database_url, JK500DB_CLOCK=Clock()) as app, pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(scratch))  # where the page's workspaces go, to see them removed
        user = named_user(app, RoleCode.STATISTICIAN, STATISTICIAN_NAME)
        client = app.test_client()
        log_in(client, user.email)
        first, second = request_export(client, QUICK), request_export(client, QUICK)
        return Download(user.id, first, second, birth_dates(app), sorted(p.name for p in scratch.iterdir()))


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


def test_statisticians_find_the_page_on_their_home_page_and_in_the_menu(
    client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.STATISTICIAN).email)
    home = client.get("/").text
    shortcuts = home.split('id="shortcuts"', 1)[1].split("</div>", 1)[0]
    assert 'href="/exports/">Exports</a>' in shortcuts
    assert home.count('href="/exports/"') == 2, "the menu links it too"


# --- the download ------------------------------------------------------------------------------------------


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
    # Recorded (ICH E6(R3) 4.2.2): who, what, and the hash of the very manifest downloaded.
    records = exports_of(app, statistician_downloads.user_id)
    assert len(records) == 2
    assert {r.formats for r in records} == {"tidy,audit"} and not any(r.identified for r in records)
    assert {r.manifest_sha256 for r in records} == {hashlib.sha256(manifest_bytes).hexdigest()}
    # The export folder and the ZIP were temporary.
    assert statistician_downloads.leftovers == []


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
    response = request_export(client, ["tidy"], identified="1")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        subjects = archive.read("tidy/subject.csv").decode("utf-8")
        assert json.loads(archive.read("manifest.json"))["identified"] is True
    assert "birth_date" in subjects.splitlines()[0].split(",")
    assert any(day in subjects for day in birth_dates(app))
    assert [r.identified for r in exports_of(app, admin.id)] == [True]


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
    assert exports_of(app, user.id) == []
    assert SecurityEventKind.LOGIN_FAILED not in security_events(app, user)


def test_PW04_a_wrong_password_exports_nothing_and_counts_toward_lockout(app: Flask, make_user: MakeUser) -> None:
    client, user = logged_in(app, make_user, RoleCode.STATISTICIAN)
    response = request_export(client, ["tidy"], password="not my password at all")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "Not exported: Password: is not correct" in response.text
    assert exports_of(app, user.id) == []
    assert security_events(app, user)[-1] is SecurityEventKind.LOGIN_FAILED
    with app.app_context():
        assert db.session.get_one(User, user.id).failed_logins == 1
    for _ in range(app.config["JK500DB_MAX_FAILED_LOGINS"] - 1):
        response = request_export(client, ["tidy"], password="not my password at all")
    assert "Password: your account is locked until" in response.text
    assert SecurityEventKind.LOCKED_OUT in security_events(app, user)
    # Locked, even the right password exports nothing.
    assert "Not exported: Password: your account is locked" in request_export(client, ["tidy"]).text
    assert exports_of(app, user.id) == []


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
    rows = [row for row in history_rows(admin.get("/exports/").text) if STATISTICIAN_NAME in row]
    assert len(rows) == 2
    assert all(manifest_sha256 in row and "tidy, audit" in row and "live data" in row for row in rows)
