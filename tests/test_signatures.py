"""Electronic signatures (ES-01, ES-03..ES-07, ES-09) on both engines."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import ChangeContext, set_change_context
from jk500db.errors import ValidationError
from jk500db.models import (
    AdverseEvent,
    AuditEvent,
    Base,
    EligibilityCriterion,
    Screening,
    SecurityEvent,
    Signature,
    User,
)
from jk500db.models.vocabularies import (
    ChangeSource,
    CriterionKind,
    CriterionStatus,
    Relatedness,
    RoleCode,
    SecurityEventKind,
    SignatureMeaning,
)
from jk500db.services import accounts, signatures
from jk500db.services.signatures import SignatureState, SigningRefused, mark_invalidated, sign, signature_status
from tests import factories

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PASSWORD = "violet tractor sings at dawn"


def make_user(session: Session, role: RoleCode = RoleCode.INVESTIGATOR, name: str = "Dr Mei Lin") -> User:
    return accounts.create_user(
        session,
        email=f"{role.value}.{uuid.uuid4().hex[:8]}@hospital.example",
        full_name=name,
        role=role,
        password=PASSWORD,
        must_change_password=False,
        now=NOW,
    )


def act(session: Session, user: User, reason: str | None = None) -> None:
    set_change_context(session, ChangeContext(user.id, user.full_name, ChangeSource.UI, reason))


def security_events(session: Session, user: User, kind: SecurityEventKind) -> list[SecurityEvent]:
    return list(
        session.scalars(
            sa.select(SecurityEvent)
            .where(SecurityEvent.user_id == user.id, SecurityEvent.kind == kind)
            .order_by(SecurityEvent.id)
        )
    )


class Casebook:
    """A subject with a screening and two eligibility criteria, an adverse event, and an investigator."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.investigator = make_user(session)
        self.subject = factories.subject(session)
        self.screening = Screening(subject_id=self.subject.id, screening_date=dt.date(2026, 2, 20))
        session.add(self.screening)
        session.flush()
        self.criteria = [
            EligibilityCriterion(
                subject_id=self.subject.id,
                screening_id=self.screening.id,
                code=code,
                kind=kind,
                status=CriterionStatus.PASS,
                evidence="per source",
                rule="eligibility v1",
            )
            for code, kind in (("IN1", CriterionKind.INCLUSION), ("EX1", CriterionKind.EXCLUSION))
        ]
        session.add_all(self.criteria)
        self.ae: AdverseEvent = factories.adverse_event(
            session, subject_id=self.subject.id, related_jk500=Relatedness.POSSIBLE
        )
        self.lab = factories.lab_result(session, subject_id=self.subject.id)
        session.flush()

    def sign(
        self,
        meaning: SignatureMeaning = SignatureMeaning.ELIGIBILITY_CONFIRMED,
        table: str = "screening",
        record_id: int | None = None,
        *,
        signer: User | None = None,
        password: str = PASSWORD,
        username: str | None = None,
    ) -> Signature:
        signer = signer or self.investigator
        act(self.session, signer)
        return sign(
            self.session,
            signer=signer,
            password=password,
            username=username if username is not None else signer.email,
            meaning=meaning,
            table_name=table,
            record_id=record_id if record_id is not None else self.screening.id,
            now=NOW,
        )

    def sign_ae(self) -> Signature:
        return self.sign(SignatureMeaning.AE_CAUSALITY_ASSESSED, "adverse_event", self.ae.id)

    def as_data_manager(self, reason: str = "correction per source") -> None:
        set_change_context(self.session, ChangeContext(77, "Dana Data-Manager", ChangeSource.UI, reason))


@pytest.fixture
def book(session: Session) -> Casebook:
    return Casebook(session)


# --- ES-01, ES-06: what a signature stores -----------------------------------------------------------------


def test_ES01_ES06_a_signature_stores_signer_printed_name_utc_time_meaning_version_and_content_hash(
    book: Casebook,
) -> None:
    signature = book.sign()
    book.session.expire(signature)
    assert signature.user_id == book.investigator.id
    assert signature.printed_name == "Dr Mei Lin"
    assert signature.signed_at == NOW and signature.signed_at.tzinfo is not None
    assert signature.meaning is SignatureMeaning.ELIGIBILITY_CONFIRMED
    assert (signature.subject_id, signature.table_name, signature.record_id) == (
        book.subject.id,
        "screening",
        book.screening.id,
    )
    assert signature.record_version == book.screening.version == 1
    assert signature.content_sha256 == signatures.content_sha256(book.session, "screening", book.screening.id)
    assert len(signature.content_sha256) == 64
    assert signature_status(book.session, signature) is SignatureState.VALID


def test_ES01_the_printed_name_is_a_snapshot(book: Casebook) -> None:
    signature = book.sign()
    act(book.session, book.investigator, "name change after marriage")
    book.investigator.full_name = "Dr Mei Lin-Wong"
    book.session.flush()
    book.session.expire(signature)
    assert signature.printed_name == "Dr Mei Lin"


def test_ES06_the_canonical_content_covers_the_record_and_what_the_meaning_signs() -> None:
    """The eligibility confirmation covers the criteria; the casebook review every clinical row of the subject."""
    assert signatures.covered("screening") == (signatures.Coverage("eligibility_criterion", "screening_id"),)
    casebook = {c.table_name: c.column for c in signatures.covered("subject")}
    assert {"lab_result", "adverse_event", "visit", "screening"} <= casebook.keys()
    assert set(casebook.values()) == {"subject_id"} and "subject" not in casebook
    assert signatures.covered("adverse_event") == ()


# --- ES-06: a later change invalidates ---------------------------------------------------------------------


def _screening_orm(book: Casebook) -> None:
    book.screening.cns_leukemia = True
    book.session.flush()


def _screening_raw_sql(book: Casebook) -> None:
    book.session.execute(
        sa.text("UPDATE screening SET screening_date = '2026-02-21' WHERE id = :id"), {"id": book.screening.id}
    )


def _criterion_core(book: Casebook) -> None:
    table = Base.metadata.tables["eligibility_criterion"]
    book.session.connection().execute(
        sa.update(table).where(table.c.id == book.criteria[1].id).values(status=CriterionStatus.FAIL.value)
    )


def _criterion_added(book: Casebook) -> None:
    book.session.add(
        EligibilityCriterion(
            subject_id=book.subject.id,
            screening_id=book.screening.id,
            code="IN2",
            kind=CriterionKind.INCLUSION,
            status=CriterionStatus.MISSING,
            evidence="not yet known",
            rule="eligibility v1",
        )
    )
    book.session.flush()


def _screening_removed(book: Casebook) -> None:
    book.screening.removed_at, book.screening.removed_reason = NOW, "entered for the wrong child"
    book.session.flush()


@pytest.mark.parametrize(
    "change", [_screening_orm, _screening_raw_sql, _criterion_core, _criterion_added, _screening_removed]
)
def test_ES06_a_change_to_signed_content_invalidates_the_signature(
    book: Casebook, change: Callable[[Casebook], None]
) -> None:
    signature = book.sign()
    book.as_data_manager()
    change(book)
    assert signature_status(book.session, signature) is SignatureState.INVALIDATED
    assert signatures.record_signatures(book.session, "screening", book.screening.id) == [
        (signature, SignatureState.INVALIDATED)
    ]


def test_ES06_an_ae_signature_is_invalidated_by_a_change_to_the_ae_and_shows_it_needs_resigning(
    book: Casebook,
) -> None:
    signature = book.sign_ae()
    book.as_data_manager("causality revised after the narrative")
    book.ae.related_jk500 = Relatedness.PROBABLE
    book.session.flush()
    assert signature_status(book.session, signature) is SignatureState.INVALIDATED

    act(book.session, book.investigator)
    assert mark_invalidated(book.session, signature, now=NOW) is True
    assert mark_invalidated(book.session, signature, now=NOW) is False  # once
    book.session.expire(signature)
    assert signature.invalidated_at == NOW
    assert signature.invalidated_reason == (
        "the signed content changed after signing (signed adverse_event version 1, now version 2)"
    )
    resigned = book.sign_ae()
    assert resigned.record_version == 2
    assert signature_status(book.session, resigned) is SignatureState.VALID
    assert signature_status(book.session, signature) is SignatureState.INVALIDATED


def test_ES06_a_change_outside_the_signed_content_leaves_the_signature_valid(book: Casebook) -> None:
    signature = book.sign_ae()
    eligibility = book.sign()
    book.as_data_manager()
    book.lab.value = Decimal("0.5")
    other_ae = factories.adverse_event(book.session, subject_id=book.subject.id, ae_number=2)
    other_ae.grade = 3
    book.session.flush()
    assert signature_status(book.session, signature) is SignatureState.VALID
    assert signature_status(book.session, eligibility) is SignatureState.VALID
    assert mark_invalidated(book.session, signature) is False


def test_ES06_a_casebook_review_is_invalidated_by_a_change_to_any_of_the_subjects_data(book: Casebook) -> None:
    review = book.sign(SignatureMeaning.CASEBOOK_REVIEWED, "subject", book.subject.id)
    assert signature_status(book.session, review) is SignatureState.VALID
    book.as_data_manager()
    book.lab.value = Decimal("0.5")
    book.session.flush()
    assert signature_status(book.session, review) is SignatureState.INVALIDATED


def test_ES06_the_content_hash_is_the_same_on_every_read(book: Casebook) -> None:
    first = signatures.content_sha256(book.session, "subject", book.subject.id)
    book.session.expire_all()
    assert signatures.content_sha256(book.session, "subject", book.subject.id) == first


# --- ES-06: many signatures judged at once -------------------------------------------------------------------


def test_ES06_batched_hashes_are_the_hashes_of_one_record_at_a_time(book: Casebook) -> None:
    other = factories.adverse_event(book.session, subject_id=book.subject.id, ae_number=2)
    keys = [
        ("screening", book.screening.id),
        ("adverse_event", book.ae.id),
        ("adverse_event", other.id),
        ("subject", book.subject.id),
        ("lab_result", book.lab.id),
    ]
    one_at_a_time = {key: signatures.content_sha256(book.session, *key) for key in keys}
    assert len(set(one_at_a_time.values())) == len(keys)
    assert signatures.content_sha256_many(book.session, [*keys, ("adverse_event", 999_999)]) == one_at_a_time
    # From rows already read (ORM objects, as a page holds them), no statement needed: the same hashes.
    read: dict[str, list[object]] = {
        "screening": [book.screening], "eligibility_criterion": [*book.criteria], "adverse_event": [book.ae, other],
        "subject": [book.subject], "lab_result": [book.lab],
    }  # fmt: skip
    rows = {c.table_name: read.get(c.table_name, []) for c in signatures.covered("subject")} | read
    assert {key: signatures.content_sha256_of_rows(*key, rows) for key in keys} == one_at_a_time
    assert signatures.content_sha256_of_rows("adverse_event", 999_999, rows) is None


def test_ES06_signature_states_judges_many_signatures_as_signature_status_does(book: Casebook) -> None:
    eligibility, causality = book.sign(), book.sign_ae()
    review = book.sign(SignatureMeaning.CASEBOOK_REVIEWED, "subject", book.subject.id)
    signed = [eligibility, causality, review]
    assert signatures.signature_states(book.session, signed) == dict.fromkeys(
        [s.id for s in signed], SignatureState.VALID
    )

    book.as_data_manager("causality revised after the narrative")
    book.ae.related_jk500 = Relatedness.PROBABLE  # in the AE's signed content and the casebook's, not eligibility's
    book.session.flush()
    expected = {
        eligibility.id: SignatureState.VALID,
        causality.id: SignatureState.INVALIDATED,
        review.id: SignatureState.INVALIDATED,
    }
    assert signatures.signature_states(book.session, signed) == expected
    assert {s.id: signature_status(book.session, s) for s in signed} == expected
    rows: dict[str, list[object]] = {c.table_name: [] for c in signatures.covered("subject")}
    rows |= {"screening": [book.screening], "eligibility_criterion": list(book.criteria)}
    rows |= {"adverse_event": [book.ae], "lab_result": [book.lab], "subject": [book.subject]}
    assert signatures.signature_states(book.session, signed, rows=rows) == expected


def _ae_signature_invalidated_by_a_regrade(book: Casebook) -> Signature:
    """An AE causality signature, then the AE regraded by the data manager and the signature marked invalid."""
    signature = book.sign_ae()
    book.as_data_manager()
    book.ae.grade = 3
    book.session.flush()
    act(book.session, book.investigator)
    assert mark_invalidated(book.session, signature, now=NOW)
    return signature


def test_ES06_signature_states_keeps_a_recorded_invalidation_and_judges_the_new_signature(book: Casebook) -> None:
    signature = _ae_signature_invalidated_by_a_regrade(book)
    resigned = book.sign_ae()
    assert signatures.signature_states(book.session, [signature, resigned]) == {
        signature.id: SignatureState.INVALIDATED,
        resigned.id: SignatureState.VALID,
    }


@pytest.mark.parametrize(
    ("meaning", "table"),
    [
        (SignatureMeaning.ELIGIBILITY_CONFIRMED, "adverse_event"),
        (SignatureMeaning.AE_CAUSALITY_ASSESSED, "screening"),
        (SignatureMeaning.CASEBOOK_REVIEWED, "lab_result"),
    ],
)
def test_ES05_a_meaning_is_given_only_to_the_records_it_belongs_to(
    book: Casebook, meaning: SignatureMeaning, table: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        book.sign(meaning, table, book.ae.id)
    assert caught.value.field == "meaning"


# --- ES-03, ES-04, ES-05: who can sign -----------------------------------------------------------------------


def test_ES03_a_wrong_password_fails_is_logged_and_counts_toward_lockout(book: Casebook) -> None:
    investigator = book.investigator
    for attempt in range(1, 6):
        with pytest.raises(SigningRefused) as caught:
            book.sign(password="wrong password entirely")
        assert caught.value.field == "password"
        assert investigator.failed_logins == attempt
    failures = security_events(book.session, investigator, SecurityEventKind.SIGNATURE_FAILED)
    assert [e.detail for e in failures] == [f"wrong password ({n} in a row)" for n in range(1, 6)]
    assert len(security_events(book.session, investigator, SecurityEventKind.LOCKED_OUT)) == 1
    assert investigator.locked_until == NOW + dt.timedelta(minutes=15)
    with pytest.raises(SigningRefused, match="locked"):
        book.sign()  # even the right password, while locked
    assert book.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0


def test_ES03_a_signature_without_the_password_fails(book: Casebook) -> None:
    with pytest.raises(SigningRefused) as caught:
        book.sign(password="")
    assert caught.value.field == "password"


def test_ES03_a_correct_password_resets_the_failure_count(book: Casebook) -> None:
    with pytest.raises(SigningRefused):
        book.sign(password="not it")
    book.sign()
    assert book.investigator.failed_logins == 0


def test_ES04_signing_with_another_users_credentials_is_refused_and_logged(book: Casebook) -> None:
    colleague = make_user(book.session, name="Dr Other")
    with pytest.raises(SigningRefused) as caught:
        book.sign(username=colleague.email)  # A is signed in and types B's username with A's password
    assert caught.value.field == "username"
    (event,) = security_events(book.session, book.investigator, SecurityEventKind.SIGNATURE_FAILED)
    assert colleague.email in (event.detail or "")
    assert event.actor_id == book.investigator.id
    assert book.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0
    assert colleague.failed_logins == 0


def test_ES04_the_username_is_matched_as_logins_match_it(book: Casebook) -> None:
    signature = book.sign(username=f"  {book.investigator.email.upper()} ")
    assert signature.user_id == book.investigator.id


@pytest.mark.parametrize("role", [RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.STATISTICIAN, RoleCode.ADMIN])
def test_ES05_only_an_investigator_signs(book: Casebook, role: RoleCode) -> None:
    user = make_user(book.session, role, name="Not An Investigator")
    with pytest.raises(SigningRefused) as caught:
        book.sign(signer=user)
    assert caught.value.field == "role"
    assert len(security_events(book.session, user, SecurityEventKind.SIGNATURE_FAILED)) == 1
    assert book.session.scalar(sa.select(sa.func.count()).select_from(Signature)) == 0


# --- ES-07: append-only --------------------------------------------------------------------------------------


def test_ES07_a_signature_cannot_be_deleted(book: Casebook) -> None:
    signature = book.sign()
    act(book.session, book.investigator, "mistake")
    with pytest.raises(sa.exc.DatabaseError, match="jk500-guard: signatures are never deleted"):
        book.session.execute(sa.text("DELETE FROM signature WHERE id = :id"), {"id": signature.id})


@pytest.mark.parametrize(
    "assignment",
    [
        "content_sha256 = '" + "0" * 64 + "'",
        "printed_name = 'Someone Else'",
        "meaning = 'casebook_reviewed'",
        "invalidated_reason = 'half an invalidation'",
    ],
)
def test_ES07_a_signature_cannot_be_edited(book: Casebook, assignment: str) -> None:
    signature = book.sign()
    act(book.session, book.investigator, "edit")
    with pytest.raises(sa.exc.DatabaseError, match="jk500-guard: a signature cannot be changed"):
        book.session.execute(sa.text(f"UPDATE signature SET {assignment} WHERE id = :id"), {"id": signature.id})


def test_ES07_a_signature_is_marked_invalidated_once_and_never_revalidated(book: Casebook) -> None:
    signature = _ae_signature_invalidated_by_a_regrade(book)
    session = book.session
    act(session, book.investigator, "undo")
    for assignment in ("invalidated_at = NULL, invalidated_reason = NULL", "invalidated_reason = 'other words'"):
        with pytest.raises(sa.exc.DatabaseError, match="a signature cannot be changed"), session.begin_nested():
            session.execute(sa.text(f"UPDATE signature SET {assignment} WHERE id = :id"), {"id": signature.id})


def test_ES07_a_signature_table_cannot_be_truncated(book: Casebook, dialect: str) -> None:
    if dialect != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement")
    book.sign()
    with pytest.raises(sa.exc.DatabaseError, match="signatures are never deleted"):
        book.session.execute(sa.text("TRUNCATE signature"))


# --- ES-09: signing events in the audit trail ---------------------------------------------------------------


def test_ES09_signing_events_are_in_the_audit_trail(book: Casebook) -> None:
    with pytest.raises(SigningRefused):
        book.sign(password="wrong password entirely")
    signature = book.sign()
    rows = list(
        book.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.table_name == "signature", AuditEvent.row_key == str(signature.id))
        )
    )
    by_field = {r.field_name: r for r in rows}
    assert {r.action for r in rows} == {"insert"}
    assert {r.actor_id for r in rows} == {book.investigator.id}
    assert by_field["meaning"].new_value == "eligibility_confirmed"
    assert by_field["printed_name"].new_value == "Dr Mei Lin"
    assert by_field["content_sha256"].new_value == signature.content_sha256
    assert {r.subject_id for r in rows} == {book.subject.id}
    (failure,) = security_events(book.session, book.investigator, SecurityEventKind.SIGNATURE_FAILED)
    assert failure.occurred_at == NOW

    book.as_data_manager()
    book.screening.cns_leukemia = False
    book.session.flush()
    act(book.session, book.investigator)
    mark_invalidated(book.session, signature, now=NOW)
    invalidation = list(
        book.session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.table_name == "signature",
                AuditEvent.row_key == str(signature.id),
                AuditEvent.action == "update",
            )
        )
    )
    assert {r.field_name for r in invalidation} == {"invalidated_at", "invalidated_reason"}
    assert {r.reason for r in invalidation} == {"signed content changed after signing: the signature needs re-signing"}
