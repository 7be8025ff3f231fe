"""The export runner: manifest, reproducibility, ``--as-of``, who may export what, and the command line."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import set_change_context, system_context
from jk500db.cli import EX_DATAERR, main
from jk500db.db import create_engine
from jk500db.errors import ValidationError
from jk500db.export.context import ExportFormat
from jk500db.export.runner import MANIFEST, RULE_MODULES, run_export
from jk500db.models import AuditEvent, ExportRecord, LabResult, Subject, User
from jk500db.models.vocabularies import RoleCode
from tests.conftest import ENGINES
from tests.export.conftest import study_database
from tests.factories import TEST_PASSWORD, act, user

QUICK = [ExportFormat.TIDY, ExportFormat.AUDIT]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_manifest_names_every_file_with_its_hash_and_the_data_it_stands_on(
    study: Session, tmp_path: Path
) -> None:
    statistician = user(study, RoleCode.STATISTICIAN, full_name="Stella Statistician")
    result = run_export(study, tmp_path / "out", QUICK, user=statistician)
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text(encoding="utf-8"))
    listed = {entry["path"]: entry for entry in manifest["files"]}
    on_disk = _files(tmp_path / "out")
    assert set(listed) == set(on_disk) - {MANIFEST}
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(on_disk[path]).hexdigest()
        assert entry["bytes"] == len(on_disk[path])
    head = study.execute(sa.select(AuditEvent.id, AuditEvent.row_hash).order_by(AuditEvent.id.desc())).first()
    assert head is not None
    newest = study.scalar(sa.select(AuditEvent.occurred_at).where(AuditEvent.id == head.id))
    moment = dt.datetime.fromisoformat(newest or "").astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    assert manifest["audit"] == {"position": head.id, "head_hash": head.row_hash, "data_moment": moment}
    assert manifest["database"]["revision"] == migrate.head_revision()
    assert set(manifest["rule_versions"]) == set(RULE_MODULES)
    assert manifest["rule_settings"], "the study definition's rule settings belong in the manifest"
    assert manifest["requested_by"] == "Stella Statistician" and manifest["identified"] is False
    assert manifest["formats"] == ["tidy", "audit"]
    # ICH E6(R3) 4.2.2: the export is recorded, with the manifest's own hash.
    record = study.get(ExportRecord, result.record.id)
    assert record is not None and record.user_id == statistician.id and record.formats == "tidy,audit"
    manifest_bytes = on_disk[MANIFEST]
    assert record.manifest_sha256 == hashlib.sha256(manifest_bytes).hexdigest()
    assert record.audit_head_hash == head.row_hash


def test_the_same_data_give_the_same_files(study: Session, tmp_path: Path) -> None:
    statistician = user(study, RoleCode.STATISTICIAN)
    run_export(study, tmp_path / "a", QUICK, user=statistician)
    run_export(study, tmp_path / "b", QUICK, user=statistician)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    manifests = [json.loads(files.pop(MANIFEST)) for files in (first, second)]
    assert first == second
    for manifest in manifests:
        del manifest["requested_at"]
    assert manifests[0] == manifests[1]


@pytest.mark.parametrize(
    ("role", "formats", "identified", "field"),
    [
        (RoleCode.MONITOR, [ExportFormat.SDTM], False, "format"),
        (RoleCode.MONITOR, [ExportFormat.TABLES], False, "format"),
        (RoleCode.DATA_MANAGER, [ExportFormat.TIDY], True, "identified"),
        (RoleCode.STATISTICIAN, [ExportFormat.TIDY], True, "identified"),
        (RoleCode.INVESTIGATOR, [ExportFormat.TIDY], True, "identified"),
    ],
)
def test_roles_are_refused_the_exports_they_may_not_make(
    study: Session, tmp_path: Path, role: RoleCode, formats: list[ExportFormat], identified: bool, field: str
) -> None:
    """AC-01: monitors take no analysis outputs; only administrators export identified data. Nothing written."""
    with pytest.raises(ValidationError) as refused:
        run_export(study, tmp_path / "out", formats, user=user(study, role), identified=identified)
    assert refused.value.field == field
    assert not (tmp_path / "out").exists()
    assert study.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) == 0


def test_an_administrator_may_export_identified_data(study: Session, tmp_path: Path) -> None:
    run_export(study, tmp_path / "out", [ExportFormat.TIDY], user=user(study, RoleCode.ADMIN), identified=True)
    assert "birth_date" in (tmp_path / "out" / "tidy" / "subject.csv").read_text(encoding="utf-8").splitlines()[0]


def test_an_export_never_mixes_with_an_earlier_one(study: Session, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.csv").write_text("x\n")
    with pytest.raises(ValidationError, match="not empty"):
        run_export(study, tmp_path / "out", QUICK, user=user(study, RoleCode.STATISTICIAN))


# --- as of a moment ------------------------------------------------------------------------------------------------


@pytest.fixture(params=ENGINES)
def small_study(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A study of its own (the demo cohort only) that a test may change."""
    with study_database(request.param, tmp_path, "asof", generated=0) as url:
        yield url


def test_as_of_rebuilds_the_data_before_an_edit_and_as_of_now_equals_the_live_export(
    small_study: str, tmp_path: Path
) -> None:
    engine = create_engine(small_study)
    try:
        with Session(engine) as session:
            set_change_context(session, system_context("pytest exports", reason="export test set-up"))
            statistician, data_manager = user(session, RoleCode.STATISTICIAN), user(session, RoleCode.DATA_MANAGER)
            session.commit()
            before_edit = dt.datetime.fromisoformat(
                session.scalars(sa.select(AuditEvent.occurred_at).order_by(AuditEvent.id.desc())).first() or ""
            )
            time.sleep(0.01)  # the edit's audit events come strictly later than the moment asked for
            with_value = sa.select(LabResult).where(LabResult.value.is_not(None)).order_by(LabResult.id)
            lab = session.scalars(with_value).first()
            assert lab is not None
            old_value = lab.value
            act(session, data_manager, reason="transcription error corrected")
            lab.value, lab.value_text = old_value + 1, str(old_value + 1)
            session.commit()
            lab_id, new_value, statistician_id = lab.id, lab.value, statistician.id

        def export(folder: str, as_of: dt.datetime | None) -> Path:
            with Session(engine) as session:
                account = session.get(User, statistician_id)
                assert account is not None
                run_export(session, tmp_path / folder, QUICK, user=account, as_of=as_of)
                session.commit()
            return tmp_path / folder

        def lab_value(folder: Path) -> str:
            import csv

            with (folder / "tidy" / "lab_result.csv").open(encoding="utf-8") as handle:
                return next(r["value"] for r in csv.DictReader(handle) if int(r["record"]) == lab_id)

        old = export("old", before_edit)
        assert lab_value(old) == str(old_value)
        live = export("live", None)
        assert lab_value(live) == str(new_value)
        now = export("now", dt.datetime.now(dt.UTC))
        live_files, now_files = _files(live), _files(now)
        live_manifest, now_manifest = json.loads(live_files.pop(MANIFEST)), json.loads(now_files.pop(MANIFEST))
        # The audit tables end where the data stand; the live export's record of the earlier exports differs.
        assert live_files == now_files
        assert live_manifest["audit"]["position"] < now_manifest["audit"]["position"] or (
            live_manifest["audit"] == now_manifest["audit"]
        )
        assert json.loads((old / MANIFEST).read_text())["as_of"] == before_edit.isoformat().replace("+00:00", "Z")
    finally:
        engine.dispose()


def test_as_of_in_the_future_is_refused(study: Session, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="future") as refused:
        run_export(
            study, tmp_path / "out", QUICK, user=user(study, RoleCode.STATISTICIAN),
            as_of=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )  # fmt: skip
    assert refused.value.field == "as_of"


# --- the command line ----------------------------------------------------------------------------------------------


def test_the_command_exports_for_a_signed_in_statistician_and_refuses_a_wrong_password(
    small_study: str, tmp_path: Path
) -> None:
    engine = create_engine(small_study)
    with Session(engine) as session:
        set_change_context(session, system_context("pytest exports", reason="export test set-up"))
        email = user(session, RoleCode.STATISTICIAN).email
        session.commit()
    engine.dispose()
    env = {"JK500DB_DATABASE_URL": small_study, "JK500DB_INSTANCE_DIR": str(tmp_path)}
    out = tmp_path / "export"
    args = ["export", "--out", str(out), "--format", "tidy", "--format", "audit", "--user", email]
    wrong = CliRunner().invoke(main, args, env={**env, "JK500DB_PASSWORD": "not the password"})
    assert wrong.exit_code == EX_DATAERR and "--user" in wrong.output and "Traceback" not in wrong.output
    assert not out.exists()
    done = CliRunner().invoke(main, args, env={**env, "JK500DB_PASSWORD": TEST_PASSWORD})
    assert done.exit_code == 0, done.output
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["formats"] == ["tidy", "audit"] and (out / "tidy" / "subject.csv").exists()
    signed_in = {**env, "JK500DB_PASSWORD": TEST_PASSWORD}
    identified = CliRunner().invoke(main, [*args[:2], str(tmp_path / "id"), *args[3:], "--identified"], env=signed_in)
    assert identified.exit_code == EX_DATAERR and "identified" in identified.output
    bad_time = CliRunner().invoke(main, [*args, "--as-of", "yesterday"], env=signed_in)
    assert bad_time.exit_code == EX_DATAERR and "--as-of" in bad_time.output


def test_a_de_identified_export_of_every_format_holds_no_birth_date_and_an_identified_one_does(
    study: Session, tmp_path: Path
) -> None:
    """Issue 6: de-identified by default. Every file of every format is searched for every child's birth date."""
    birth_dates = [d.isoformat().encode() for d in study.scalars(sa.select(Subject.birth_date))]
    assert birth_dates
    run_export(study, tmp_path / "deidentified", list(ExportFormat), user=user(study, RoleCode.STATISTICIAN))
    files = _files(tmp_path / "deidentified")
    assert {path.split("/")[0] for path in files} >= {f.value for f in ExportFormat}
    for path, data in files.items():
        leaked = [d.decode() for d in birth_dates if d in data]
        assert not leaked, f"{path} holds birth dates {leaked[:3]}"
    audit_trail = files["audit/audit_trail.csv"].decode()
    assert "[withheld: identifying]" in audit_trail
    run_export(study, tmp_path / "identified", [ExportFormat.AUDIT], user=user(study, RoleCode.ADMIN), identified=True)
    assert birth_dates[0] in (tmp_path / "identified" / "audit" / "audit_trail.csv").read_bytes()
