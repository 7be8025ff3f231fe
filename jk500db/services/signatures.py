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
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from enum import Enum, StrEnum
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


def _text(value: Any) -> str | None:
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


def _signed_columns(table_name: str) -> list[sa.Column[Any]]:
    audited = next(t for t in audited_tables() if t.name == table_name)
    table = Base.metadata.tables[table_name]
    return [table.c[name] for name in (*audited.columns, "version")]


def _rows(session: Session, table_name: str, where: sa.ColumnElement[bool]) -> list[dict[str, str | None]]:
    columns = _signed_columns(table_name)
    query = sa.select(*columns).where(where).order_by(Base.metadata.tables[table_name].c.id)
    return [{c.name: _text(v) for c, v in zip(columns, row, strict=True)} for row in session.execute(query)]


def _related(table_name: str, record_id: int) -> list[tuple[str, sa.ColumnElement[bool]]]:
    """What else a signature on this table covers: (table, rows) pairs."""
    tables = Base.metadata.tables
    if table_name == "screening":
        return [("eligibility_criterion", tables["eligibility_criterion"].c.screening_id == record_id)]
    if table_name == "subject":  # the casebook: every clinical row of the subject
        return [(t.name, tables[t.name].c.subject_id == record_id) for t in guarded_tables() if t.name != "subject"]
    return []


def signed_content(session: Session, table_name: str, record_id: int) -> dict[str, Any]:
    """The canonical content a signature on this record covers."""
    rows = _rows(session, table_name, Base.metadata.tables[table_name].c.id == record_id)
    if not rows:
        raise ValidationError("record_id", f"no {table_name} record {record_id}")
    related = {name: _rows(session, name, where) for name, where in _related(table_name, record_id)}
    return {"table": table_name, "record": rows[0], "related": related}


def content_sha256(session: Session, table_name: str, record_id: int) -> str:
    content = signed_content(session, table_name, record_id)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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
