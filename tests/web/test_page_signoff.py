"""The investigator sign-off page (issue 5): the worklist by meaning, signing with username and password again
after the meaning is shown, refusals logged and counted toward lockout, invalidated signatures flagged without
writing on GET, a DLT decision recorded and signed in one POST, and a constant number of SQL statements.
Both engines (ES-01, ES-03..ES-06, ES-09, PW-04)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy.orm import Session

from admin.extensions import db
from admin.pages.signoff import MEANING_STATEMENTS, SignoffPage, current_content_hashes
from jk500db.audit.context import set_reason
from jk500db.derivations import CLOCK_KEY, derive_pending
from jk500db.models import (
    AdverseEvent,
    AuditEvent,
    EligibilityCriterion,
    Infusion,
    ResponseAssessment,
    Screening,
    Signature,
    Subject,
    User,
)
from jk500db.models.vocabularies import (
    CriterionStatus,
    DltDecision,
    Relatedness,
    ResponseCategory,
    RoleCode,
    SecurityEventKind,
    SignatureMeaning,
    SubjectStatus,
)
from jk500db.services import signatures
from jk500db.services.records import update_record
from tests import factories
from tests import test_web_access as web

UTC = dt.UTC
SETUP_NOW = dt.datetime(2026, 2, 25, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script>"
_numbers = itertools.count(1)


# --- the study ---------------------------------------------------------------------------------------------


@contextmanager
def setup(app: Flask) -> Iterator[Session]:
    """A session writing as the test actor outside any request, derived at the end and committed."""
    with app.app_context():
        session = db.session()
        session.info[CLOCK_KEY] = lambda: SETUP_NOW
        yield session
        derive_pending(session)
        session.commit()


@dataclass(frozen=True)
class Case:
    """An infused subject with a screening, a DLT candidate, another AE and a response assessment."""

    subject_number: str
    subject_id: int
    screening_id: int
    dlt_event_id: int
    event_id: int
    response_id: int

    def targets(self) -> list[tuple[SignatureMeaning, str, int]]:
        return [
            (SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", self.screening_id),
            (SignatureMeaning.AE_CAUSALITY_ASSESSED, "adverse_event", self.event_id),
            (SignatureMeaning.DLT_CONFIRMED, "adverse_event", self.dlt_event_id),
            (SignatureMeaning.RESPONSE_CONFIRMED, "response_assessment", self.response_id),
            (SignatureMeaning.CASEBOOK_REVIEWED, "subject", self.subject_id),
        ]


def add_case(app: Flask, *, eligible: bool = True, verbatim: str | None = None) -> Case:
    number = f"09-{next(_numbers):03d}"
    with setup(app) as session:
        subject = factories.subject(
            session,
            subject_number=number,
            screening_number=f"S{number}",
            status=SubjectStatus.INFUSED,
            enrolled_on=dt.date(2026, 2, 1),
        )
        session.add(
            Infusion(
                subject_id=subject.id,
                infusion_number=1,
                product_lot="L1",
                started_at=dt.datetime(2026, 2, 10, 9, 0, tzinfo=UTC),
            )
        )
        screening = Screening(
            subject_id=subject.id, screening_date=dt.date(2026, 1, 20), reference_date=dt.date(2026, 2, 3)
        )
        session.add(screening)
        session.flush()
        derive_pending(session)  # the criteria, derived from what is entered (mostly missing here)
        if eligible:  # the investigator's own view of each criterion the data cannot decide, with a reason
            set_reason(session, "verified against the source documents")
            criteria = session.scalars(
                sa.select(EligibilityCriterion).where(EligibilityCriterion.screening_id == screening.id)
            )
            for criterion in criteria:
                if criterion.status != CriterionStatus.PASS:
                    criterion.investigator_status = CriterionStatus.PASS
                    criterion.investigator_reason = "verified against the source documents"
        related = {
            "related_jk500": Relatedness.POSSIBLE,
            "related_il2": Relatedness.UNLIKELY,
            "related_lymphodepletion": Relatedness.PROBABLE,
        }
        dlt = factories.adverse_event(
            session,
            subject_id=subject.id,
            ae_number=1,
            grade=3,
            ctcae_term_id=factories.ctcae_term(session, "Febrile neutropenia").id,
            onset_date=dt.date(2026, 2, 12),
            **related,
        )
        other = factories.adverse_event(
            session,
            subject_id=subject.id,
            ae_number=2,
            grade=1,
            verbatim=verbatim,
            ctcae_term_id=factories.ctcae_term(session, "Nausea").id,
            onset_date=dt.date(2026, 2, 13),
            **related,
        )
        response = ResponseAssessment(
            subject_id=subject.id,
            assessed_on=dt.date(2026, 2, 24),
            bm_blast_pct=Decimal("2"),
            marrow_adequate=True,
            circulating_blasts=False,
            extramedullary=False,
            anc=Decimal("1.5"),
            plt=Decimal("150"),
            investigator_category=ResponseCategory.CR,
        )
        session.add(response)
        session.flush()
        case = Case(number, subject.id, screening.id, dlt.id, other.id, response.id)
    return case


def add_signatures(app: Flask, case: Case, signer_id: int) -> None:
    """Standing signatures of every meaning, stored as the service would (for reading tests; no password)."""
    with setup(app) as session:
        for meaning, table, record_id in case.targets():
            session.add(
                Signature(
                    user_id=signer_id,
                    printed_name="Anna Berg",
                    signed_at=SETUP_NOW,
                    meaning=meaning,
                    subject_id=case.subject_id,
                    table_name=table,
                    record_id=record_id,
                    record_version=version_of(session, table, record_id),
                    content_sha256=signatures.content_sha256(session, table, record_id),
                )
            )


def version_of(session: Session, table: str, record_id: int) -> int:
    models: dict[str, Any] = {
        "screening": Screening,
        "adverse_event": AdverseEvent,
        "response_assessment": ResponseAssessment,
        "subject": Subject,
    }
    return int(session.get_one(models[table], record_id).version)


# --- reading the page --------------------------------------------------------------------------------------


@dataclass
class Row:
    state: str
    cells: list[str]


class RowReader(HTMLParser):
    """The rows of one worklist table: each row's data-state and its cells' whitespace-folded text."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows = table_id, False, list[Row]()
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table":
            self.inside = values.get("id") == self.table_id
        elif self.inside and tag == "tr" and "data-state" in values:
            self.rows.append(Row(values["data-state"] or "", []))
        elif self.inside and self.rows and tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows(html: str, meaning: SignatureMeaning, subject_number: str) -> list[Row]:
    reader = RowReader(f"signoff-{meaning.value}")
    reader.feed(html)
    return [row for row in reader.rows if row.cells and row.cells[0] == subject_number]


def row(client: FlaskClient, meaning: SignatureMeaning, case: Case, index: int = 0) -> Row:
    found = rows(client.get(f"/signoff/?subject={case.subject_number}").text, meaning, case.subject_number)
    assert found, f"no {meaning} row for {case.subject_number}"
    return found[index]


def sign_path(meaning: SignatureMeaning, table: str, record_id: int) -> str:
    return f"/signoff/sign?meaning={meaning.value}&table={table}&id={record_id}"


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name}"
    return found.group(1)


def post_signature(client: FlaskClient, path: str, email: str, password: str = web.PASSWORD, **fields: Any) -> Any:
    """Open the signing page as a person would, then send its form with the credentials typed in again."""
    page = client.get(path).text
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "seen": hidden(page, "seen"),
        "seen_version": hidden(page, "seen_version"),
        "username": email,
        "password": password,
        **fields,
    }
    return client.post(path, data=data)


def signatures_on(app: Flask, table: str, record_id: int) -> list[Signature]:
    with app.app_context():
        query = sa.select(Signature).where(Signature.table_name == table, Signature.record_id == record_id)
        return list(db.session.scalars(query.order_by(Signature.id)))


def logged_in(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    assert web.log_in(client, user.email).status_code == 302
    return client


@contextmanager
def sql_writes(app: Flask) -> Iterator[list[str]]:
    """The INSERT, UPDATE and DELETE statements the app runs inside the block."""
    writes: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield writes
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


# --- who may do what ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "worklist", "signing_page"),
    [
        (RoleCode.INVESTIGATOR, 200, 200),
        (RoleCode.MONITOR, 200, 403),
        (RoleCode.ADMIN, 200, 403),
        (RoleCode.DATA_MANAGER, 200, 403),
        (RoleCode.STATISTICIAN, 403, 403),
    ],
)
def test_ES05_role_table(app: Flask, make_user: web.MakeUser, role: RoleCode, worklist: int, signing_page: int) -> None:
    case = add_case(app)
    path = sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id)
    anonymous = app.test_client()
    assert web.redirects_to_login(anonymous.get("/signoff/"))
    assert web.redirects_to_login(anonymous.get(path))
    client = logged_in(app, make_user(role))
    assert client.get("/signoff/").status_code == worklist
    assert client.get(path).status_code == signing_page


def test_only_investigators_see_sign_buttons(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    monitor = logged_in(app, make_user(RoleCode.MONITOR)).get(f"/signoff/?subject={case.subject_number}").text
    assert "read only: only investigators sign" in monitor and "/signoff/sign?" not in monitor
    investigator = logged_in(app, make_user(RoleCode.INVESTIGATOR)).get(f"/signoff/?subject={case.subject_number}")
    assert "/signoff/sign?" in investigator.text


@pytest.mark.parametrize("role", [RoleCode.MONITOR, RoleCode.ADMIN, RoleCode.DATA_MANAGER])
def test_ES05_ES09_a_signing_post_from_another_role_is_refused_and_logged(
    app: Flask, make_user: web.MakeUser, role: RoleCode
) -> None:
    case = add_case(app)
    user = make_user(role)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id)
    data = {"csrf_token": web.csrf_token(client, "/signoff/"), "username": user.email, "password": web.PASSWORD}
    assert client.post(path, data=data).status_code == 403
    assert signatures_on(app, "screening", case.screening_id) == []
    assert web.security_events(app, user)[-1] == SecurityEventKind.SIGNATURE_FAILED


def test_a_statistician_post_is_refused(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    user = make_user(RoleCode.STATISTICIAN)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id)
    data = {"csrf_token": web.csrf_token(client, "/"), "username": user.email, "password": web.PASSWORD}
    assert client.post(path, data=data).status_code == 403
    assert signatures_on(app, "screening", case.screening_id) == []


def test_a_signing_post_without_the_csrf_token_is_refused(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id)
    seen = hidden(client.get(path).text, "seen")
    response = client.post(path, data={"seen": seen, "username": user.email, "password": web.PASSWORD})
    assert response.status_code == 400
    assert signatures_on(app, "screening", case.screening_id) == []


# --- before signing ----------------------------------------------------------------------------------------


def test_every_meaning_has_a_statement() -> None:
    assert set(MEANING_STATEMENTS) == set(SignatureMeaning)
    assert all(text.startswith("I confirm") for text in MEANING_STATEMENTS.values())


@pytest.mark.parametrize("meaning", list(SignatureMeaning))
def test_ES03_the_meaning_printed_name_and_content_are_shown_before_signing(
    app: Flask, make_user: web.MakeUser, meaning: SignatureMeaning
) -> None:
    case = add_case(app)
    client = logged_in(app, make_user(RoleCode.INVESTIGATOR))
    _, table, record_id = next(t for t in case.targets() if t[0] is meaning)
    page = client.get(sign_path(meaning, table, record_id)).text
    assert str(escape(MEANING_STATEMENTS[meaning])) in page
    assert re.search(r'id="printed-name">Anna Berg<', page)
    assert f"Subject {case.subject_number}" in page
    # both components again, the password masked, nothing offered by the browser's memory (ES-03, PW-02)
    assert re.search(r'<input[^>]*name="username"[^>]*type="text"[^>]*autocomplete="off"', page)
    assert re.search(r'<input[^>]*name="password"[^>]*type="password"[^>]*autocomplete="off"', page)
    assert 'name="username" value' not in page


def test_the_eligibility_page_shows_the_criteria_and_the_derived_verdict(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    client = logged_in(app, make_user(RoleCode.INVESTIGATOR))
    page = client.get(sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id)).text
    assert "Derived verdict" in page and "IN1" in page and "EX8" in page
    assert page.index("IN1") < page.index("EX1")  # inclusion first, as the protocol lists them
    assert "verified against the source documents" in page


# --- signing -----------------------------------------------------------------------------------------------


def test_ES01_ES06_signing_with_the_right_password_stores_a_signature_and_the_item_shows_signed(
    app: Flask, make_user: web.MakeUser, clock: web.Clock
) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    assert row(client, SignatureMeaning.ELIGIBILITY_CONFIRMED, case).state == "needs_signing"
    path = sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id) + "&back=/signoff/"
    response = post_signature(client, path, user.email.upper())  # the username as typed, any case
    assert response.status_code == 302 and response.headers["Location"] == "/signoff/"
    (signature,) = signatures_on(app, "screening", case.screening_id)
    with app.app_context():
        session = db.session()
        assert signature.meaning == SignatureMeaning.ELIGIBILITY_CONFIRMED
        assert (signature.user_id, signature.printed_name, signature.signed_at) == (user.id, "Anna Berg", clock.now)
        assert signature.record_version == session.get_one(Screening, case.screening_id).version
        assert signature.content_sha256 == signatures.content_sha256(session, "screening", case.screening_id)
    signed = row(client, SignatureMeaning.ELIGIBILITY_CONFIRMED, case)
    assert signed.state == "signed"
    assert f"by Anna Berg, {clock.now:%Y-%m-%d %H:%M} UTC · valid" in signed.cells[-2]
    assert web.security_events(app, user)[-1] == SecurityEventKind.LOGIN_SUCCEEDED  # no failure logged
    # signed and standing: the page shows it and offers no second signature of the same content
    page = client.get(path).text
    assert 'id="sign-standing"' in page and 'name="password"' not in page


def test_ES03_a_wrong_password_is_refused_logged_and_signs_nothing(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.RESPONSE_CONFIRMED, "response_assessment", case.response_id)
    response = post_signature(client, path, user.email, password="not my password")
    assert response.status_code == 200
    assert "Not signed: password: is not correct." in response.text
    assert signatures_on(app, "response_assessment", case.response_id) == []
    assert web.security_events(app, user)[-1] == SecurityEventKind.SIGNATURE_FAILED
    with app.app_context():
        assert db.session.get_one(User, user.id).failed_logins == 1


def test_ES03_PW04_repeated_wrong_passwords_lock_the_account(
    database_url: str, make_user: web.MakeUser, clock: web.Clock
) -> None:
    with web.built_app(
        database_url, JK500DB_CLOCK=clock, JK500DB_MAX_FAILED_LOGINS=3, JK500DB_LOCKOUT_MINUTES=10
    ) as app:
        case = add_case(app)
        user = make_user(RoleCode.INVESTIGATOR)
        client = logged_in(app, user)
        path = sign_path(SignatureMeaning.CASEBOOK_REVIEWED, "subject", case.subject_id)
        for attempt in range(3):
            response = post_signature(client, path, user.email, password=f"guess {attempt}")
            assert "Not signed: password: is not correct." in response.text
        assert "Your account is locked until 2026-03-02 09:10 UTC" in response.text
        kinds = web.security_events(app, user)
        assert kinds.count(SecurityEventKind.SIGNATURE_FAILED) == 3 and kinds[-1] == SecurityEventKind.LOCKED_OUT
        # locked: the right password no longer signs, and the next login is refused
        locked = post_signature(client, path, user.email)
        assert "Not signed: password: the account is locked; try again later." in locked.text
        assert web.log_in(app.test_client(), user.email).status_code == 200  # the login form again
        assert web.security_events(app, user)[-1] == SecurityEventKind.LOGIN_FAILED
        assert signatures_on(app, "subject", case.subject_id) == []
        clock.advance(minutes=11)  # the lockout is over
        assert web.log_in(app.test_client(), user.email).status_code == 302


def test_ES04_another_users_username_is_refused_and_logged(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    me, colleague = make_user(RoleCode.INVESTIGATOR), make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, me)
    path = sign_path(SignatureMeaning.AE_CAUSALITY_ASSESSED, "adverse_event", case.event_id)
    response = post_signature(client, path, colleague.email)  # the colleague's own, correct password
    assert "Not signed: username: must be your own username." in response.text
    assert signatures_on(app, "adverse_event", case.event_id) == []
    assert web.security_events(app, me)[-1] == SecurityEventKind.SIGNATURE_FAILED
    assert SecurityEventKind.SIGNATURE_FAILED not in web.security_events(app, colleague)


def test_a_screening_that_fails_a_criterion_cannot_be_signed_eligible(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app, eligible=False)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    item = row(client, SignatureMeaning.ELIGIBILITY_CONFIRMED, case)
    assert item.state == "needs_signing" and "Cannot be signed yet: not every criterion is met" in item.cells[-2]
    path = sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id)
    page = client.get(path).text
    assert 'id="sign-blocked"' in page and 'name="password"' not in page
    data = {"csrf_token": hidden(page, "csrf_token"), "username": user.email, "password": web.PASSWORD}
    assert "Not signed: this cannot be signed yet" in client.post(path, data=data).text
    assert signatures_on(app, "screening", case.screening_id) == []


def test_content_changed_after_the_page_was_opened_is_not_signed(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.RESPONSE_CONFIRMED, "response_assessment", case.response_id)
    page = client.get(path).text
    with setup(app) as session:
        response = session.get_one(ResponseAssessment, case.response_id)
        update_record(session, response, {"plt": Decimal("140")}, seen_version=response.version, reason="typo")
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "seen": hidden(page, "seen"),
        "username": user.email,
        "password": web.PASSWORD,
    }
    answer = client.post(path, data=data).text
    assert "Not saved: the record changed after you opened this page" in answer
    assert ">140<" in answer  # the page now shows what would be signed
    assert signatures_on(app, "response_assessment", case.response_id) == []


# --- invalidation ------------------------------------------------------------------------------------------


def test_ES06_a_change_after_signing_flags_the_item_without_writing_and_it_can_be_signed_again(
    app: Flask, make_user: web.MakeUser
) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id)
    assert post_signature(client, path, user.email).status_code == 302
    with setup(app) as session:
        screening = session.get_one(Screening, case.screening_id)
        update_record(
            session,
            screening,
            {"infection_details": "none known"},
            seen_version=screening.version,
            reason="completed from the source",
        )
    with sql_writes(app) as writes:
        flagged = row(client, SignatureMeaning.ELIGIBILITY_CONFIRMED, case)
        client.get(path)
    assert writes == []  # GETs show the invalidation; they never record it
    assert flagged.state == "invalidated"
    assert "Signature invalidated" in flagged.cells[-2]
    assert "the signed content changed after signing (signed screening version" in flagged.cells[-2]
    assert "(not yet recorded on the signature)" in flagged.cells[-2]
    assert "Sign again" in flagged.cells[-1]
    (first,) = signatures_on(app, "screening", case.screening_id)
    assert first.invalidated_at is None

    assert post_signature(client, path, user.email).status_code == 302  # signed again; the old one recorded
    old, new = signatures_on(app, "screening", case.screening_id)
    assert old.invalidated_at is not None and "the signed content changed after signing" in (
        old.invalidated_reason or ""
    )
    assert new.invalidated_at is None
    assert row(client, SignatureMeaning.ELIGIBILITY_CONFIRMED, case).state == "signed"
    assert old.invalidated_reason in client.get(path).text  # the signing page's history gives the stored reason


def test_ES06_a_change_to_a_criterion_alone_invalidates_the_eligibility_signature(
    app: Flask, make_user: web.MakeUser
) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    post_signature(
        client, sign_path(SignatureMeaning.ELIGIBILITY_CONFIRMED, "screening", case.screening_id), user.email
    )
    with setup(app) as session:
        criterion = session.scalars(
            sa.select(EligibilityCriterion).where(
                EligibilityCriterion.screening_id == case.screening_id,
                EligibilityCriterion.investigator_status.is_not(None),
            )
        ).first()
        assert criterion is not None
        update_record(
            session,
            criterion,
            {"investigator_reason": "verified against the hospital record"},
            seen_version=criterion.version,
            reason="clearer reason",
        )
    flagged = row(client, SignatureMeaning.ELIGIBILITY_CONFIRMED, case)
    assert flagged.state == "invalidated"
    assert "the eligibility criteria changed since" in flagged.cells[-2]


def test_the_state_filter_lists_invalidated_items(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    add_signatures(app, case, user.id)
    with setup(app) as session:
        event = session.get_one(AdverseEvent, case.event_id)
        update_record(session, event, {"grade": 2}, seen_version=event.version, reason="per source")
    client = logged_in(app, user)
    html = client.get(f"/signoff/?subject={case.subject_number}&state=invalidated").text
    assert [r.state for r in rows(html, SignatureMeaning.AE_CAUSALITY_ASSESSED, case.subject_number)] == ["invalidated"]
    # the casebook covers every record of the subject: it is invalidated too; the others stand
    assert rows(html, SignatureMeaning.CASEBOOK_REVIEWED, case.subject_number)[0].state == "invalidated"
    assert rows(html, SignatureMeaning.ELIGIBILITY_CONFIRMED, case.subject_number) == []
    signed = client.get(f"/signoff/?subject={case.subject_number}&state=signed&meaning=eligibility_confirmed").text
    assert rows(signed, SignatureMeaning.ELIGIBILITY_CONFIRMED, case.subject_number)[0].state == "signed"
    assert 'id="signoff-casebook_reviewed"' not in signed  # one meaning only


def test_a_bad_filter_is_named_not_an_error(app: Flask, make_user: web.MakeUser) -> None:
    client = logged_in(app, make_user(RoleCode.MONITOR))
    response = client.get("/signoff/?subject=99-999&meaning=bogus&state=nope")
    assert response.status_code == 200
    assert "There is no such subject" in response.text
    assert "There is no such signature meaning" in response.text and "There is no such state" in response.text


# --- DLT decisions -----------------------------------------------------------------------------------------


def test_a_dlt_decision_is_recorded_and_signed_in_one_post(
    app: Flask, make_user: web.MakeUser, clock: web.Clock
) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    item = row(client, SignatureMeaning.DLT_CONFIRMED, case)
    assert item.cells[1] == "1" and "not decided" in item.cells[5]
    # the causality is signed first: recording the decision changes the event, so that signature falls
    causality = sign_path(SignatureMeaning.AE_CAUSALITY_ASSESSED, "adverse_event", case.dlt_event_id)
    assert post_signature(client, causality, user.email).status_code == 302
    path = sign_path(SignatureMeaning.DLT_CONFIRMED, "adverse_event", case.dlt_event_id)
    assert "a causality signature on this event will need signing again" in client.get(path).text
    response = post_signature(
        client, path, user.email, decision="confirmed", reason="meets the protocol DLT definition"
    )
    assert response.status_code == 302
    with app.app_context():
        event = db.session.get_one(AdverseEvent, case.dlt_event_id)
        assert event.dlt_decision == DltDecision.CONFIRMED
        assert (event.dlt_decided_by_id, event.dlt_decided_at) == (user.id, clock.now)
        reasons = db.session.scalars(
            sa.select(AuditEvent.reason).where(
                AuditEvent.table_name == "adverse_event",
                AuditEvent.row_key == str(event.id),
                AuditEvent.field_name == "dlt_decision",
            )
        ).all()
        assert reasons == ["meets the protocol DLT definition"]
        version = event.version
    causality_signature, dlt_signature = signatures_on(app, "adverse_event", case.dlt_event_id)
    assert dlt_signature.meaning == SignatureMeaning.DLT_CONFIRMED and dlt_signature.record_version == version
    assert causality_signature.invalidated_at is not None  # recorded by the signing POST
    decided = row(client, SignatureMeaning.DLT_CONFIRMED, case)
    assert decided.state == "signed" and "confirmed DLT" in decided.cells[5]
    assert row(client, SignatureMeaning.AE_CAUSALITY_ASSESSED, case).state == "invalidated"


def test_a_dlt_decision_on_a_record_changed_since_is_refused_with_who_changed_it(
    app: Flask, make_user: web.MakeUser
) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.DLT_CONFIRMED, "adverse_event", case.dlt_event_id)
    page = client.get(path).text
    with setup(app) as session:
        event = session.get_one(AdverseEvent, case.dlt_event_id)
        update_record(session, event, {"outcome": "recovered"}, seen_version=event.version, reason="follow-up")
    data = {
        "csrf_token": hidden(page, "csrf_token"),
        "seen_version": hidden(page, "seen_version"),
        "decision": "not_a_dlt",
        "reason": "resolved quickly",
        "username": user.email,
        "password": web.PASSWORD,
    }
    answer = client.post(path, data=data).text
    assert "Not saved: this record was changed by" in answer and "after you opened it" in answer
    assert signatures_on(app, "adverse_event", case.dlt_event_id) == []
    with app.app_context():
        assert db.session.get_one(AdverseEvent, case.dlt_event_id).dlt_decision is None


def test_a_refused_dlt_signature_keeps_no_decision_but_counts_the_failure_once(
    app: Flask, make_user: web.MakeUser
) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.DLT_CONFIRMED, "adverse_event", case.dlt_event_id)
    response = post_signature(client, path, user.email, password="wrong", decision="not_a_dlt", reason="resolved")
    assert "Not signed: password: is not correct." in response.text
    assert re.search(r'value="not_a_dlt" required\s+checked', response.text)  # the choice is kept, not the password
    with app.app_context():
        assert db.session.get_one(AdverseEvent, case.dlt_event_id).dlt_decision is None
        assert db.session.get_one(User, user.id).failed_logins == 1
    assert web.security_events(app, user).count(SecurityEventKind.SIGNATURE_FAILED) == 1
    assert signatures_on(app, "adverse_event", case.dlt_event_id) == []


def test_a_dlt_post_without_a_decision_names_the_rule(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    user = make_user(RoleCode.INVESTIGATOR)
    client = logged_in(app, user)
    path = sign_path(SignatureMeaning.DLT_CONFIRMED, "adverse_event", case.dlt_event_id)
    answer = post_signature(client, path, user.email, reason="x").text
    assert "Not saved: decision: choose whether this event is a DLT" in answer
    assert signatures_on(app, "adverse_event", case.dlt_event_id) == []


# --- what the list shows -----------------------------------------------------------------------------------


def test_the_worklist_shows_each_meanings_facts(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app)
    html = logged_in(app, make_user(RoleCode.INVESTIGATOR)).get(f"/signoff/?subject={case.subject_number}").text
    (eligibility,) = rows(html, SignatureMeaning.ELIGIBILITY_CONFIRMED, case.subject_number)
    assert eligibility.cells[1:3] == ["2026-01-20", "not evaluable (a criterion is missing)"]
    assert "derived missing, investigator pass" in eligibility.cells[3]
    first, second = rows(html, SignatureMeaning.AE_CAUSALITY_ASSESSED, case.subject_number)
    assert first.cells[1:6] == ["1", "Febrile neutropenia", "3", "possible / unlikely / probable", "no"]
    assert second.cells[2] == "Nausea"
    (dlt,) = rows(html, SignatureMeaning.DLT_CONFIRMED, case.subject_number)  # AE 2 (grade 1) is no candidate
    assert dlt.cells[1] == "1"
    (response,) = rows(html, SignatureMeaning.RESPONSE_CONFIRMED, case.subject_number)
    assert response.cells[1] == "2026-02-24" and response.cells[3].startswith("CR")
    (casebook,) = rows(html, SignatureMeaning.CASEBOOK_REVIEWED, case.subject_number)
    assert casebook.cells[1] == "Infused"


def test_free_text_is_escaped(app: Flask, make_user: web.MakeUser) -> None:
    case = add_case(app, verbatim=SCRIPT)
    client = logged_in(app, make_user(RoleCode.INVESTIGATOR))
    for path in (
        f"/signoff/?subject={case.subject_number}",
        sign_path(SignatureMeaning.AE_CAUSALITY_ASSESSED, "adverse_event", case.event_id),
    ):
        page = client.get(path).text
        assert SCRIPT not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_batched_hashes_agree_with_the_signature_service(app: Flask) -> None:
    case = add_case(app)
    keys = [(table, record_id) for _, table, record_id in case.targets()]
    with app.app_context():
        session = db.session()
        assert current_content_hashes(session, keys) == {key: signatures.content_sha256(session, *key) for key in keys}


def test_the_worklist_costs_the_same_number_of_statements_for_1_or_4_signed_subjects(
    app: Flask, make_user: web.MakeUser
) -> None:
    user = make_user(RoleCode.INVESTIGATOR)
    add_signatures(app, add_case(app), user.id)
    client = logged_in(app, user)
    client.get("/signoff/")  # warm up: the user and session are loaded
    few = statements_per_get(app, client)
    for _ in range(3):
        add_signatures(app, add_case(app), user.id)
    many = statements_per_get(app, client)
    assert many == few


def statements_per_get(app: Flask, client: FlaskClient) -> int:
    with sql_writes(app) as writes:
        count = web.statements_per_get(app, client, "/signoff/")
    assert writes == []
    return count


def test_the_page_is_in_the_menu_for_the_roles_that_may_open_it() -> None:
    assert SignoffPage.roles == frozenset(set(RoleCode) - {RoleCode.STATISTICIAN})
