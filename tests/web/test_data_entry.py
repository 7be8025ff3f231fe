"""Data entry (issue 5): a form for every case-report form, built from the model; first entry and correction go
through the records service; refusals name the field and the rule, keep what was typed and write nothing; a
correction needs a reason; a stale edit says who changed what; derived values are read-only. Both engines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin.crf.catalogue import CRFS
from admin.extensions import db
from jk500db.models import AdverseEvent, AuditEvent, Base, CtcaeTerm, DiseaseHistory, LabResult, Query, Subject, User
from jk500db.models.base import ClinicalRecord
from jk500db.models.vocabularies import QueryOrigin, QueryStatus, RoleCode
from jk500db.services.records import update_record
from tests.factories import act
from tests.test_web_access import MakeUser, csrf_token, log_in, statements_per_get

pytestmark = pytest.mark.usefixtures("demo_cohort")  # tests/web/conftest.py


def token(client: FlaskClient, path: str) -> str:
    return csrf_token(client, path)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'id="{name}" name="{name}" type="hidden" value="([^"]*)"', html)
    assert found, f"no hidden {name}"
    return found.group(1)


def subject_id(app: Flask, number: str) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(Subject.id).where(Subject.subject_number == number)))


def term_id(app: Flask, term: str) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(CtcaeTerm.id).where(CtcaeTerm.term == term)))


def ae_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(AdverseEvent)))


_numbers = iter(range(50, 999))


def new_ae(client: FlaskClient, app: Flask, subject: str = "01-003", **fields: str) -> Any:
    """POST a first entry of an adverse event as the logged-in user."""
    sid = subject_id(app, subject)
    data = {
        "subject_id": str(sid),
        "ae_number": str(next(_numbers)),
        "ctcae_term_id": str(term_id(app, "Nausea")),
        "onset_date": "2024-03-20",
        "grade": "2",
        "csrf_token": token(client, f"/crf/adverse_event/new/?subject_id={sid}"),
    }
    data.update(fields)
    return client.post(f"/crf/adverse_event/new/?subject_id={sid}", data=data)


def newest_ae(app: Flask) -> AdverseEvent:
    with app.app_context():
        event = db.session.scalar(sa.select(AdverseEvent).order_by(AdverseEvent.id.desc()).limit(1))
        assert event is not None
        db.session.expunge(event)
        return event


# --- every form, for every role ---------------------------------------------------------------------------


def test_every_clinical_table_has_a_form() -> None:
    tables = {m.local_table.name for m in Base.registry.mappers if issubclass(m.class_, ClinicalRecord)}
    assert {crf.table_name for crf in CRFS} == tables


@pytest.mark.parametrize("crf", CRFS, ids=lambda crf: crf.table_name)
def test_every_form_lists_shows_and_opens_for_the_data_manager(
    app: Flask, client: FlaskClient, make_user: MakeUser, crf: Any
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    listing = client.get(f"/crf/{crf.table_name}/")
    assert listing.status_code == 200, listing.text
    assert client.get(f"/crf/{crf.table_name}/new/?subject_id={subject_id(app, '01-003')}").status_code == 200
    with app.app_context():
        record_id = db.session.scalar(sa.select(crf.model.id).limit(1))
    if record_id is not None:  # the demo cohort fills most forms
        for path in (f"/crf/{crf.table_name}/details/?id={record_id}", f"/crf/{crf.table_name}/edit/?id={record_id}"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert "Traceback" not in page.text


@pytest.mark.parametrize(
    ("role", "reads", "writes"),
    [
        (RoleCode.DATA_MANAGER, True, True),
        (RoleCode.MONITOR, True, False),
        (RoleCode.INVESTIGATOR, True, False),
        (RoleCode.ADMIN, True, False),
        (RoleCode.STATISTICIAN, False, False),
    ],
)
def test_AC01_only_data_managers_enter_data_on_any_form(
    app: Flask, client: FlaskClient, make_user: MakeUser, role: RoleCode, reads: bool, writes: bool
) -> None:
    log_in(client, make_user(role).email)
    event = newest_ae(app)
    assert client.get("/crf/adverse_event/").status_code == (200 if reads else 403)
    assert client.get(f"/crf/adverse_event/details/?id={event.id}").status_code == (200 if reads else 403)
    assert client.get("/crf/adverse_event/new/").status_code == (200 if writes else 403)
    assert client.get(f"/crf/adverse_event/edit/?id={event.id}").status_code == (200 if writes else 403)
    before = ae_count(app)
    csrf = token(client, "/")
    posted = client.post(
        f"/crf/adverse_event/edit/?id={event.id}",
        data={"grade": "3", "seen_version": str(event.version), "reason_for_change": "x", "csrf_token": csrf},
    )
    assert (posted.status_code in (302, 200)) if writes else posted.status_code == 403
    assert client.post(f"/crf/adverse_event/remove/?id={event.id}", data={"csrf_token": csrf}).status_code in (
        (302,) if writes else (403,)
    )
    assert client.post("/crf/adverse_event/delete/", data={"id": event.id, "csrf_token": csrf}).status_code == 403
    assert ae_count(app) == before


def test_AC03_a_form_post_without_the_csrf_token_is_refused(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    before = ae_count(app)
    response = client.post("/crf/adverse_event/new/", data={"subject_id": subject_id(app, "01-003"), "grade": "2"})
    assert response.status_code == 400 and ae_count(app) == before


# --- what the form shows -----------------------------------------------------------------------------------


def test_forms_take_labels_help_units_and_choices_from_the_model(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    sid = subject_id(app, "01-003")
    ae = client.get(f"/crf/adverse_event/new/?subject_id={sid}").text
    assert "CTCAE term" in ae and "CTCAE v5.0 term (gives MedDRA code and SOC)." in ae  # the model's #: comment
    assert 'data-role="select2"' in ae  # the 837 terms are searchable
    assert "Febrile neutropenia (Blood and lymphatic system disorders)" in ae
    assert "Related JK500" in ae and "Possible" in ae  # vocabulary in words
    assert "derived_grade" not in ae and "dlt_candidate" not in ae  # computed, never typed
    vitals = client.get(f"/crf/vital_signs/new/?subject_id={sid}").text
    assert "Weight (kg)" in vitals and "Temperature (°C)" in vitals and "SpO2 (%)" in vitals
    history = client.get(f"/crf/disease_history/new/?subject_id={sid}").text
    assert 'name="diagnosis_date"' in history and "YYYY-MM" in history  # one partial-date input, not three
    # Visits offered are the subject's own, labelled by visit code.
    with app.app_context():
        others = db.session.scalars(
            sa.select(sa.literal_column("visit.id"))
            .select_from(sa.table("visit"))
            .where(sa.column("subject_id") != sid)
        ).all()
    labs = client.get(f"/crf/lab_result/new/?subject_id={sid}").text
    assert "D0" in labs or "SCR" in labs
    assert all(f'value="{other}"' not in labs.split('name="visit_id"')[1].split("</select>")[0] for other in others)


def test_a_subject_must_be_chosen_before_a_subject_form_opens(client: FlaskClient, make_user: MakeUser) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    page = client.get("/crf/adverse_event/new/").text
    assert 'id="choose-subject"' in page and "01-003" in page and 'name="grade"' not in page


# --- first entry -------------------------------------------------------------------------------------------


def test_first_entry_saves_derives_and_audits(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    user = make_user(RoleCode.DATA_MANAGER)
    log_in(client, user.email)
    response = new_ae(client, app, verbatim="nausea after IL-2", grade="3", serious="y",
                      serious_hospitalisation="y", awareness_at="2024-03-20T10:00")  # fmt: skip
    assert response.status_code == 302 and "/crf/adverse_event/details/" in response.location
    event = newest_ae(app)
    assert (event.grade, event.verbatim, event.serious) == (3, "nausea after IL-2", True)
    assert event.dlt_reasons  # the derivation pass ran at the commit
    record = client.get(response.location).text
    assert "Computed by the system" in record and "Dlt reasons" not in record and "DLT reasons" in record
    with app.app_context():
        actors = set(
            db.session.scalars(
                sa.select(AuditEvent.actor_id).where(
                    AuditEvent.table_name == "adverse_event", AuditEvent.row_key == str(event.id)
                )
            )
        )
    assert user.id in actors


def test_decimals_keep_the_digits_entered_and_partial_dates_are_not_imputed(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    sid = subject_id(app, "01-003")
    path = f"/crf/lab_result/new/?subject_id={sid}"
    response = client.post(
        path,
        data={"subject_id": sid, "test_code": "HGB", "specimen": "blood", "collected_at": "2024-03-21T08:30",
              "value": "102.10", "unit": "g/L", "lln": "110", "uln": "160", "csrf_token": token(client, path)},
    )  # fmt: skip
    assert response.status_code == 302, response.text
    with app.app_context():
        lab = db.session.scalar(sa.select(LabResult).order_by(LabResult.id.desc()).limit(1))
        assert lab is not None and str(lab.value) == "102.10" and lab.value == Decimal("102.10")
        assert lab.collected_at == dt.datetime(2024, 3, 21, 8, 30, tzinfo=dt.UTC)

    record_id = _disease_history_of(app, "01-003")
    edit = f"/crf/disease_history/edit/?id={record_id}"
    page = client.get(edit).text
    response = client.post(
        edit,
        data={"diagnosis_date": "2019-04", "seen_version": hidden(page, "seen_version"),
              "seen_event": hidden(page, "seen_event"), "reason_for_change": "diagnosis month from the referral letter",
              "csrf_token": token(client, edit)},
    )  # fmt: skip
    assert response.status_code == 302, response.text
    with app.app_context():
        history = db.session.get_one(DiseaseHistory, record_id)
        assert (history.diagnosis_year, history.diagnosis_month, history.diagnosis_day) == (2019, 4, None)


def _disease_history_of(app: Flask, number: str) -> int:
    with app.app_context():
        return int(
            db.session.scalar(sa.select(DiseaseHistory.id).join(Subject).where(Subject.subject_number == number))
        )


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"end_date": "2024-03-01"}, "end_date", "must not be before onset date"),  # the database's order rule
        ({"serious": "y"}, "awareness_at", "a serious event records when the site became aware"),
        ({"onset_date": "2099-01-01"}, "onset_date", "future"),  # EC-DATE-FUTURE, a hard edit check
        ({"grade": "7"}, "grade", "between 1 and 5"),
        ({"grade": "two"}, "grade", "Not a valid integer"),
        ({"ctcae_term_id": "999999"}, "ctcae_term_id", "not one of the choices"),
    ],
)
def test_a_refused_entry_names_the_field_and_rule_keeps_the_input_and_writes_nothing(
    app: Flask, client: FlaskClient, make_user: MakeUser, fields: dict[str, str], field: str, rule: str
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    before = ae_count(app)
    response = new_ae(client, app, verbatim="kept as typed", **fields)
    assert response.status_code == 200
    assert rule.lower() in response.text.lower()
    assert 'value="kept as typed"' in response.text  # nothing the person typed is lost
    invalid = re.search(
        rf'class="[^"]*is-invalid[^"]*"[^>]*name="{field}"|name="{field}"[^>]*class="[^"]*is-invalid', response.text
    )
    assert invalid or f'id="{field}"' in response.text
    assert "Traceback" not in response.text and "IntegrityError" not in response.text
    assert ae_count(app) == before


def test_a_pasted_control_character_is_refused_by_name_and_writes_nothing(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    """PostgreSQL cannot store NUL; the page says which field and character, not a database error."""
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    before = ae_count(app)
    response = new_ae(client, app, verbatim="fever\x00 at night")
    assert response.status_code == 200
    assert "verbatim" in response.text and "control character U+0000" in response.text
    assert "Traceback" not in response.text and "DataError" not in response.text
    assert ae_count(app) == before


def test_a_soft_edit_check_saves_and_shows_the_query_it_opened(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    response = new_ae(
        client, app, subject="01-002", grade="5", serious="y", serious_death="y", awareness_at="2024-03-20T10:00"
    )  # 01-002 has no death record: EC-AE-DEATH, a soft check
    assert response.status_code == 302
    page = client.get(response.location).text
    assert "a query was opened" in page and "no death is recorded" in page
    event = newest_ae(app)
    with app.app_context():
        query = db.session.scalar(
            sa.select(Query).where(Query.table_name == "adverse_event", Query.record_id == event.id)
        )
        assert query is not None and query.status == QueryStatus.OPEN and query.origin == QueryOrigin.EDIT_CHECK


def test_derived_values_cannot_be_posted(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    assert new_ae(client, app, grade="1", derived_grade="5", dlt_candidate="y", susar="y").status_code == 302
    event = newest_ae(app)
    assert event.derived_grade != 5 and event.susar is not True


def test_free_text_is_shown_as_text(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    response = new_ae(client, app, verbatim="<script>alert(1)</script>")
    record = client.get(response.location).text
    assert "<script>alert(1)</script>" not in record and "&lt;script&gt;alert(1)&lt;/script&gt;" in record


# --- corrections -------------------------------------------------------------------------------------------


def _edit(client: FlaskClient, event_id: int, **fields: str) -> tuple[str, dict[str, str]]:
    path = f"/crf/adverse_event/edit/?id={event_id}"
    page = client.get(path).text
    return path, {"seen_version": hidden(page, "seen_version"), "seen_event": hidden(page, "seen_event"),
                  "csrf_token": token(client, path), **fields}  # fmt: skip


def _as_form(event: AdverseEvent, **changes: str) -> dict[str, str]:
    """The AE's current values as the form posts them, with ``changes``."""
    values = {
        "ae_number": str(event.ae_number),
        "ctcae_term_id": str(event.ctcae_term_id),
        "onset_date": event.onset_date.isoformat(),
        "grade": str(event.grade),
        "verbatim": event.verbatim or "",
    }
    return {**values, **changes}


def test_AT01_a_correction_needs_a_reason_which_the_audit_trail_keeps(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    new_ae(client, app, verbatim="first words")
    event = newest_ae(app)
    path, data = _edit(client, event.id, **_as_form(event, verbatim="second words"))
    refused = client.post(path, data=data)
    assert refused.status_code == 200 and "a reason for change is required after first entry" in refused.text
    assert newest_ae(app).verbatim == "first words"

    data["reason_for_change"] = "transcription error: see source note"
    assert client.post(path, data=data).status_code == 302
    with app.app_context():
        row = db.session.scalar(
            sa.select(AuditEvent).where(
                AuditEvent.table_name == "adverse_event",
                AuditEvent.row_key == str(event.id),
                AuditEvent.field_name == "verbatim",
                AuditEvent.action == "update",
            )
        )
        assert row is not None
        assert (row.old_value, row.new_value, row.reason) == (
            "first words",
            "second words",
            "transcription error: see source note",
        )
    history = client.get(f"/crf/adverse_event/details/?id={event.id}").text
    assert "first words → second words" in history and "transcription error: see source note" in history


def test_AT02_a_stale_edit_is_refused_and_says_who_changed_what(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    new_ae(client, app, grade="2")
    event = newest_ae(app)
    path, data = _edit(client, event.id, **_as_form(event, verbatim="mine"), reason_for_change="my correction")

    with app.app_context():  # meanwhile, a colleague corrects the grade
        session = db.session()
        colleague = session.scalars(sa.select(User).where(User.role_code == RoleCode.DATA_MANAGER)).first()
        assert colleague is not None
        act(session, colleague)
        update_record(session, session.get_one(AdverseEvent, event.id), {"grade": 3}, seen_version=event.version,
                      reason="grade per the nurse's notes")  # fmt: skip
        session.commit()

    response = client.post(path, data=data)
    assert response.status_code == 200
    assert "after you opened it; nothing was saved" in response.text
    assert "Changed since you opened the form: Grade 2 → 3" in response.text
    assert 'value="mine"' in response.text  # what was typed is still there
    after = newest_ae(app)
    assert (after.grade, after.verbatim) == (3, None)


def test_removal_needs_a_reason_and_keeps_the_record_in_the_audit_trail(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    new_ae(client, app, verbatim="entered twice")
    event = newest_ae(app)
    path = f"/crf/adverse_event/remove/?id={event.id}"
    csrf = token(client, f"/crf/adverse_event/details/?id={event.id}")
    refused = client.post(
        path, data={"seen_version": event.version, "reason": " ", "csrf_token": csrf}, follow_redirects=True
    )
    assert "Not removed" in refused.text and newest_ae(app).removed_at is None
    client.post(path, data={"seen_version": event.version, "reason": "duplicate of AE 1", "csrf_token": csrf})
    assert newest_ae(app).removed_reason == "duplicate of AE 1"
    assert "entered twice" not in client.get("/crf/adverse_event/?flt0_0=01-003").text


# --- queries from the record page, export, statements -------------------------------------------------------


def test_a_monitor_raises_a_query_on_a_field_from_the_record_page(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    event = newest_ae(app)
    log_in(client, make_user(RoleCode.MONITOR).email)
    page = f"/crf/adverse_event/details/?id={event.id}"
    response = client.post(
        f"/crf/adverse_event/query/?id={event.id}",
        data={"field": "grade", "text": "Grade 3 per source?", "csrf_token": token(client, page)},
    )
    assert response.status_code == 302
    shown = client.get(page).text
    assert "Grade 3 per source?" in shown
    with app.app_context():
        query = db.session.scalar(sa.select(Query).where(Query.record_id == event.id, Query.field_name == "grade"))
        assert query is not None and query.origin == QueryOrigin.MANUAL


def test_csv_export_neutralises_formulas_and_leaves_out_birth_dates(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    new_ae(client, app, verbatim='=HYPERLINK("http://evil.example","click")')
    exported = client.get("/crf/adverse_event/export/csv/")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    verbatims = [row["Verbatim"] for row in rows]
    assert '\'=HYPERLINK("http://evil.example","click")' in verbatims
    assert not any(v.startswith(("=", "+", "@")) for v in verbatims)
    subjects = client.get("/crf/subject/export/csv/").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(subjects)))
    assert "Birth date" not in header and "birth_date" not in header and "Subject number" in header


def test_a_list_page_reads_with_a_constant_number_of_statements(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user(RoleCode.DATA_MANAGER).email)
    few = statements_per_get(app, client, "/crf/adverse_event/?flt0_0=01-006")
    many = statements_per_get(app, client, "/crf/adverse_event/")
    assert few == many
