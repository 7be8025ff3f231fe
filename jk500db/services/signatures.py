"""Electronic signatures (21 CFR 11.50, 11.70, 11.200): who signed what, when, meaning what, and the exact content.

Signing asks for the username and the password every time (ES-03), and the username must be the signed-in
user's own (ES-04); only investigators sign (ES-05). A refused attempt is written to the security log and
counts toward lockout like a failed login: the refusal is raised after the flush, and the caller commits so
that it sticks, as it does for a failed login. A signature stores the signer's id, printed name, UTC time,
meaning, the record version and SHA-256 of the canonical signed content (ES-01, ES-06). The signature rows
are append-only in the database (ES-07), apart from noting, once, that a later change invalidated them.

Canonical content: the signed row's audited columns and version, plus what the meaning covers: a screening
brings its eligibility criteria, a subject (casebook review) every clinical row of the subject. Values are
turned into text the same way on both engines and hashed as sorted, compact JSON, so any change to the
content gives another hash and shows the signature needs re-signing.

Pages judge many signatures at once with ``signature_states``: each table involved is read once for all of them
(``content_sha256_many``), or the rows the page has already read are hashed (``content_sha256_of_rows``). Both
build the content with the same code as ``content_sha256``, so they cannot drift apart from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_reason
from jk500db.audit.guards import guarded_tables
from jk500db.audit.triggers import audited_tables
from jk500db.errors import ValidationError
from jk500db.models import Base, Signature, User
from jk500db.models.vocabularies import RoleCode, SecurityEventKind, SignatureMeaning
from jk500db.services.accounts import normalise_email, record_event, verify_password
from jk500db.services.locks import record_scope

#: The record tables each meaning can be given to.
MEANING_TABLES: dict[SignatureMeaning, frozenset[str]] = {
    SignatureMeaning.ELIGIBILITY_CONFIRMED: frozenset({"screening"}),
    SignatureMeaning.AE_CAUSALITY_ASSESSED: frozenset({"adverse_event"}),
    SignatureMeaning.DLT_CONFIRMED: frozenset({"adverse_event"}),
    SignatureMeaning.RESPONSE_CONFIRMED: frozenset({"response_assessment"}),
    SignatureMeaning.CASEBOOK_REVIEWED: frozenset({"subject"}),
}
#: Who may sign with each meaning (ES-05; DESIGN.md: the investigator signs).
MEANING_ROLES: dict[SignatureMeaning, frozenset[RoleCode]] = dict.fromkeys(
    SignatureMeaning, frozenset({RoleCode.INVESTIGATOR})
)


class SignatureState(StrEnum):
    VALID = "valid"
    INVALIDATED = "invalidated"  # the signed content changed: needs re-signing


class SigningRefused(ValidationError):
    """A signing attempt was refused and recorded in the security log (flushed): commit so it counts."""


# --- canonical content -------------------------------------------------------------------------------------

#: A record a signature can be given to: (table name, record id).
RecordKey = tuple[str, int]


@dataclass(frozen=True)
class Coverage:
    """Rows of ``table_name`` whose ``column`` holds the signed record's id belong to its signed content."""

    table_name: str
    column: str


def canonical_text(value: Any) -> str | None:
    """One text form per value, the same on both engines (enums by value, times in UTC ISO 8601)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, str, Decimal)):
        return str(value)
    raise TypeError(f"no canonical text for {type(value).__name__}")


@cache
def signed_columns(table_name: str) -> tuple[str, ...]:
    """The columns of a row that its signed content holds: the audited columns and the version."""
    audited = next(t for t in audited_tables() if t.name == table_name)
    return (*audited.columns, "version")


@cache
def covered(table_name: str) -> tuple[Coverage, ...]:
    """What else a signature on a ``table_name`` record covers: a screening its eligibility criteria, a subject
    (the casebook review) every clinical row of the subject, anything else nothing more."""
    if table_name == "screening":
        return (Coverage("eligibility_criterion", "screening_id"),)
    if table_name == "subject":
        return tuple(Coverage(t.name, t.subject_column) for t in guarded_tables() if t.name != "subject")
    return ()


def canonical_row(table_name: str, row: Any) -> dict[str, str | None]:
    """A row's signed columns as canonical text; ``row`` is anything with the columns as attributes (an ORM
    object, or a row read with those columns)."""
    return {name: canonical_text(getattr(row, name)) for name in signed_columns(table_name)}


def _content(table_name: str, record: Any, related: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    """The content of a signature on ``record``; ``related`` holds the rows it covers, by table."""
    return {
        "table": table_name,
        "record": canonical_row(table_name, record),
        "related": {
            name: [canonical_row(name, row) for row in sorted(rows, key=lambda row: row.id)]
            for name, rows in related.items()
        },
    }


def _sha256(content: Mapping[str, Any]) -> str:
    """SHA-256 of the content as sorted, compact JSON."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _read(session: Session, table_name: str, column: str, ids: Iterable[int]) -> dict[int, list[sa.Row[Any]]]:
    """The rows of ``table_name`` whose ``column`` is one of ``ids``, grouped by that column, in one statement."""
    table = Base.metadata.tables[table_name]
    names = dict.fromkeys(("id", column, *signed_columns(table_name)))  # in order, each once
    query = sa.select(*(table.c[name] for name in names)).where(table.c[column].in_(sorted(set(ids))))
    grouped: dict[int, list[sa.Row[Any]]] = defaultdict(list)
    for row in session.execute(query.order_by(table.c.id)):
        grouped[getattr(row, column)].append(row)
    return grouped


def content_sha256_many(session: Session, records: Iterable[RecordKey]) -> dict[RecordKey, str]:
    """The SHA-256 ``content_sha256`` gives each of ``records`` now, reading each table involved once.

    One statement for the records of each table and one for each table their signatures cover, however many
    records: a page judging many signatures costs what judging one costs. A record that does not exist is left
    out of the answer."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for table_name, record_id in records:
        wanted[table_name].add(record_id)
    hashes: dict[RecordKey, str] = {}
    for table_name, ids in sorted(wanted.items()):
        found = _read(session, table_name, "id", ids)
        related = {c.table_name: _read(session, c.table_name, c.column, found) for c in covered(table_name)}
        for record_id, (record,) in found.items():
            rows = {name: by_record.get(record_id, []) for name, by_record in related.items()}
            hashes[(table_name, record_id)] = _sha256(_content(table_name, record, rows))
    return hashes


def content_sha256_of_rows(table_name: str, record_id: int, rows: Mapping[str, Iterable[Any]]) -> str | None:
    """The SHA-256 ``content_sha256`` gives the record, from rows the caller has already read (ORM objects or
    rows with the signed columns, by table name); None when the record is not among them.

    ``rows`` must hold the record and every row of each covered table that names it (for a casebook review,
    every clinical row of the subject): a row left out changes the content, so the signature would look
    invalidated, never valid by mistake."""
    record = next((row for row in rows.get(table_name, ()) if row.id == record_id), None)
    if record is None:
        return None
    related = {
        c.table_name: [row for row in rows.get(c.table_name, ()) if getattr(row, c.column) == record_id]
        for c in covered(table_name)
    }
    return _sha256(_content(table_name, record, related))


def signed_content(session: Session, table_name: str, record_id: int) -> dict[str, Any]:
    """The canonical content a signature on this record covers."""
    found = _read(session, table_name, "id", [record_id]).get(record_id)
    if not found:
        raise ValidationError("record_id", f"no {table_name} record {record_id}")
    related = {
        c.table_name: _read(session, c.table_name, c.column, [record_id]).get(record_id, [])
        for c in covered(table_name)
    }
    return _content(table_name, found[0], related)


def content_sha256(session: Session, table_name: str, record_id: int) -> str:
    """SHA-256 of the canonical content a signature on this record covers (stored when it is signed)."""
    return _sha256(signed_content(session, table_name, record_id))


# --- signing -----------------------------------------------------------------------------------------------


def _refuse(session: Session, signer: User, field: str, rule: str, detail: str, now: dt.datetime) -> SigningRefused:
    record_event(session, SecurityEventKind.SIGNATURE_FAILED, now=now, user=signer, actor=signer, detail=detail)
    session.flush()
    return SigningRefused(field, rule)


def _check_password(
    session: Session, signer: User, password: str, now: dt.datetime, max_failures: int, lockout_minutes: int
) -> None:
    """As at login: a wrong password counts toward lockout, and a locked account cannot sign (ES-03, PW-04)."""
    matches = verify_password(signer.password_hash, password)  # always verified: timing says nothing
    if not signer.active:
        raise _refuse(session, signer, "active", "a disabled account cannot sign", "account disabled", now)
    if signer.locked_until is not None and signer.locked_until > now:
        raise _refuse(session, signer, "password", "the account is locked; try again later", "account locked", now)
    if matches:
        signer.failed_logins = 0
        return
    signer.failed_logins += 1
    refusal = _refuse(
        session, signer, "password", "is not correct", f"wrong password ({signer.failed_logins} in a row)", now
    )
    if signer.failed_logins >= max_failures:
        signer.locked_until = now + dt.timedelta(minutes=lockout_minutes)
        detail = f"{signer.failed_logins} failed password entries; locked for {lockout_minutes} minutes"
        record_event(session, SecurityEventKind.LOCKED_OUT, now=now, user=signer, detail=detail)
        session.flush()
    raise refusal


def _record_version(session: Session, table_name: str, record_id: int) -> int:
    table = Base.metadata.tables[table_name]
    version = session.scalar(sa.select(table.c.version).where(table.c.id == record_id))
    assert version is not None, "record_scope() found the record"
    return int(version)


def sign(
    session: Session,
    *,
    signer: User,
    password: str,
    username: str,
    meaning: SignatureMeaning,
    table_name: str,
    record_id: int,
    now: dt.datetime,
    max_failures: int = 5,
    lockout_minutes: int = 15,
) -> Signature:
    """Sign a record as the signed-in ``signer``, who re-enters username and password. Flushes, never commits.

    Raises SigningRefused (recorded in the security log) for a wrong role, username or password.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware UTC datetime")
    now = now.astimezone(dt.UTC)
    meaning = SignatureMeaning(meaning)
    if table_name not in MEANING_TABLES[meaning]:
        raise ValidationError("meaning", f"'{meaning.value}' is not a meaning a {table_name} record can be signed with")
    scope = record_scope(session, table_name, record_id)
    if signer.role_code not in MEANING_ROLES[meaning]:
        rule = f"your role ({signer.role_code.value}) cannot sign '{meaning.value}'"
        raise _refuse(session, signer, "role", rule, f"role {signer.role_code.value} may not sign {meaning.value}", now)
    if normalise_email(username) != signer.email:
        detail = f"username entered ({username.strip()[:200]}) is not the signed-in user's"
        raise _refuse(session, signer, "username", "must be your own username", detail, now)
    _check_password(session, signer, password, now, max_failures, lockout_minutes)
    signature = Signature(
        user_id=signer.id,
        printed_name=signer.full_name,
        signed_at=now,
        meaning=meaning,
        subject_id=scope.subject_id,
        table_name=table_name,
        record_id=record_id,
        record_version=_record_version(session, table_name, record_id),
        content_sha256=content_sha256(session, table_name, record_id),
    )
    session.add(signature)
    session.flush()
    return signature


# --- status ------------------------------------------------------------------------------------------------


def signature_status(session: Session, signature: Signature) -> SignatureState:
    """Valid while the signed content hashes as it did at signing; any later change invalidates it."""
    if signature.invalidated_at is not None:
        return SignatureState.INVALIDATED
    current = content_sha256(session, signature.table_name, signature.record_id)
    return SignatureState.VALID if current == signature.content_sha256 else SignatureState.INVALIDATED


def signature_states(
    session: Session, signatures: Iterable[Signature], *, rows: Mapping[str, Iterable[Any]] | None = None
) -> dict[int, SignatureState]:
    """Whether each signature still stands, by signature id: ``signature_status`` for many signatures at once.

    The content is read with ``content_sha256_many`` (one statement per table involved, however many
    signatures), or, when the caller has already read the records, hashed from ``rows`` without reading
    anything (see ``content_sha256_of_rows`` for what ``rows`` must hold). A signature whose record is gone
    no longer stands."""
    signatures = list(signatures)
    pending = {(s.table_name, s.record_id) for s in signatures if s.invalidated_at is None}
    if rows is None:
        hashes: Mapping[RecordKey, str | None] = content_sha256_many(session, pending)
    else:
        hashes = {key: content_sha256_of_rows(*key, rows) for key in pending}
    return {
        s.id: SignatureState.VALID
        if s.invalidated_at is None and hashes.get((s.table_name, s.record_id)) == s.content_sha256
        else SignatureState.INVALIDATED
        for s in signatures
    }


def mark_invalidated(session: Session, signature: Signature, *, now: dt.datetime | None = None) -> bool:
    """Record, once, that a change invalidated ``signature``; True when it was newly marked."""
    if signature.invalidated_at is not None or signature_status(session, signature) is SignatureState.VALID:
        return False
    version = _record_version(session, signature.table_name, signature.record_id)
    set_reason(session, "signed content changed after signing: the signature needs re-signing")
    signature.invalidated_at = now or dt.datetime.now(dt.UTC)
    signature.invalidated_reason = (
        f"the signed content changed after signing (signed {signature.table_name} version "
        f"{signature.record_version}, now version {version})"
    )
    session.flush()
    return True


def record_signatures(session: Session, table_name: str, record_id: int) -> list[tuple[Signature, SignatureState]]:
    """Every signature on a record, oldest first, with whether it still stands."""
    signatures = session.scalars(
        sa.select(Signature)
        .where(Signature.table_name == table_name, Signature.record_id == record_id)
        .order_by(Signature.id)
    )
    return [(s, signature_status(session, s)) for s in signatures]
