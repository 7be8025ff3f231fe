"""User accounts: passwords, logins, lockout and the security log (Part 11 §11.300, ASVS V6).

Every operation records a ``SecurityEvent`` row (AT-11), flushes, and leaves the commit to the caller: a
failed login must be committed too, or the lockout counter would never move.

Sessions are ended server-side by bumping ``User.session_epoch``: the web app stores the epoch in the
session and refuses a session whose epoch is older (logout, disabling, role change, password change).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass
from pathlib import Path

import argon2
import sqlalchemy as sa
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

import jk500db
from jk500db.audit.context import ChangeContext, set_change_context, set_reason
from jk500db.errors import ValidationError
from jk500db.models import Role, SecurityEvent, User
from jk500db.models.vocabularies import ChangeSource, RoleCode, SecurityEventKind

#: ASVS 6.2.1 asks for at least 8; PW-03 sets 12.
MIN_PASSWORD_LENGTH = 12
#: the common-passwords list (our own compilation, see its header line).
COMMON_PASSWORDS_FILE = Path(jk500db.__file__).resolve().parent.parent / "seed_data" / "common_passwords.txt"
#: words of this system that make a password guessable (ASVS 6.2.11: context-specific words).
CONTEXT_WORDS = ("jk500",)
#: the domain of demo accounts; ".invalid" can never receive mail (RFC 2606).
DEMO_DOMAIN = "demo.jk500.invalid"

#: argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile). Parameters live in each hash, so
#: raising them later rehashes passwords at the next successful login (``check_needs_rehash``).
PASSWORD_HASHER = argon2.PasswordHasher()


@dataclass(frozen=True)
class RoleInfo:
    name: str
    description: str


#: The five roles, as DESIGN.md's table describes them.
ROLES: dict[RoleCode, RoleInfo] = {
    RoleCode.DATA_MANAGER: RoleInfo(
        "Data manager",
        "Enters and corrects visit data (with a reason after first entry), answers queries, sees what is "
        "missing or overdue. Never closes queries, signs, or exports identified data.",
    ),
    RoleCode.MONITOR: RoleInfo(
        "Monitor",
        "Reads everything, raises and closes queries, marks forms source-data-verified, reviews the audit "
        "trail. Never edits clinical data.",
    ),
    RoleCode.INVESTIGATOR: RoleInfo(
        "Investigator",
        "Reads, confirms eligibility, AE causality, DLTs and responses, and signs them electronically. Never "
        "edits data without the data manager's trail.",
    ),
    RoleCode.STATISTICIAN: RoleInfo(
        "Statistician",
        "Exports de-identified datasets, tables and plots. Never sees names or exact birth dates, never edits.",
    ),
    RoleCode.ADMIN: RoleInfo(
        "Administrator",
        "Manages users, roles, the study definition and locks. Never edits clinical data.",
    ),
}


# --- passwords ---------------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a wrong password or an unreadable hash (never raises)."""
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash(hasher: argon2.PasswordHasher) -> str:
    """A hash of a random password with the current parameters, verified when the e-mail is unknown.

    Verifying it costs what verifying a real hash costs, so response time does not tell whether an
    account exists (no user enumeration, ASVS 6.3.8).
    """
    return hasher.hash(secrets.token_urlsafe(16))


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def validate_new_password(password: str, *, email: str) -> None:
    """Raise ValidationError("password", rule) unless ``password`` may be chosen (PW-03, ASVS 6.2).

    Length and a common-passwords list only: ASVS 6.2.5 advises against composition rules.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters long")
    lowered = password.lower()
    if lowered in common_passwords():
        raise ValidationError("password", "is too common; choose one that is not on lists of frequent passwords")
    local = normalise_email(email).partition("@")[0]
    # The whole local part, and its longer pieces ("anna.smith" -> "smith"), are the first thing guessed.
    pieces = {local} | {p for p in local.replace("_", ".").replace("-", ".").split(".") if len(p) >= 4}
    if any(piece and piece in lowered for piece in pieces):
        raise ValidationError("password", "must not contain your e-mail name")
    if any(word in lowered for word in CONTEXT_WORDS):
        raise ValidationError("password", "must not contain the name of the study")


# --- accounts ----------------------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware UTC datetime")
    return now.astimezone(dt.UTC)


def record_event(
    session: Session,
    kind: SecurityEventKind,
    *,
    now: dt.datetime,
    user: User | None = None,
    actor: User | None = None,
    remote_addr: str | None = None,
    detail: str | None = None,
) -> SecurityEvent:
    """Add one security-log row (never a password in ``detail``)."""
    if (user is not None and user.id is None) or (actor is not None and actor.id is None):
        session.flush()  # the event refers to the account by id
    event = SecurityEvent(
        occurred_at=_check_aware(now),
        kind=kind,
        user_id=user.id if user is not None else None,
        actor_id=actor.id if actor is not None else None,
        remote_addr=remote_addr[:45] if remote_addr else None,
        detail=detail,
    )
    session.add(event)
    return event


def ensure_roles(session: Session) -> list[Role]:
    """Create the five roles, or bring their names and descriptions up to date. Creates no users (PW-06)."""
    roles = []
    for code, info in ROLES.items():
        role = session.get(Role, code)
        if role is None:
            role = Role(code=code, name=info.name, description=info.description)
            session.add(role)
        else:
            role.name, role.description = info.name, info.description
        roles.append(role)
    session.flush()
    return roles


def _role(session: Session, role: RoleCode | str) -> RoleCode:
    try:
        code = RoleCode(role)
    except ValueError:
        raise ValidationError("role", f"must be one of: {', '.join(RoleCode)}") from None
    if session.get(Role, code) is None:
        ensure_roles(session)
    return code


def create_user(
    session: Session,
    *,
    email: str,
    full_name: str,
    role: RoleCode | str,
    password: str,
    actor: User | None = None,
    demo: bool = False,
    must_change_password: bool = True,
    now: dt.datetime | None = None,
) -> User:
    """A new account. By default its password is a one-time password the user must change at first login."""
    now = _check_aware(now or _utcnow())
    address = normalise_email(email)
    local, at, domain = address.partition("@")
    if not at or not local or "." not in domain or len(address) > 254 or any(c.isspace() for c in address):
        raise ValidationError("email", "must be an e-mail address")
    name = " ".join(full_name.split())
    if not name:
        raise ValidationError("full_name", "is required (it is printed in the audit trail and on signatures)")
    if session.scalar(sa.select(User.id).where(User.email == address)) is not None:
        raise ValidationError("email", "is already used by an account (accounts are never reused)")
    validate_new_password(password, email=address)
    user = User(
        email=address,
        full_name=name,
        role_code=_role(session, role),
        password_hash=hash_password(password),
        active=True,
        must_change_password=must_change_password,
        password_changed_at=now,
        failed_logins=0,
        session_epoch=0,
        created_at=now,
        demo=demo,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        SecurityEventKind.ACCOUNT_CREATED,
        now=now,
        user=user,
        actor=actor,
        detail=f"role {user.role_code}" + (", demo account" if demo else ""),
    )
    session.flush()
    return user


def authenticate(
    session: Session,
    email: str,
    password: str,
    *,
    now: dt.datetime,
    remote_addr: str | None = None,
    max_failures: int = 5,
    lockout_minutes: int = 15,
    allow_demo: bool = True,
    purpose: str | None = None,
) -> User | None:
    """The user when ``password`` is right and the account may log in; otherwise None.

    Every path verifies one argon2 hash (a dummy one for an unknown e-mail) and returns the same None, so
    neither the answer nor its timing says whether the account exists. ``max_failures`` consecutive
    failures lock the account for ``lockout_minutes`` (PW-04); while locked even the right password fails.

    ``purpose`` (e.g. "an export") marks the password given again by someone already logged in, to confirm an
    act: a success is then logged as ``REAUTHENTICATED`` for that purpose, not as a login (the security log
    would otherwise show logins that never happened), and a failure is a failed login as at the login page,
    counted toward lockout, its detail naming the purpose.
    """
    now = _check_aware(now)
    address = normalise_email(email)
    user = session.scalar(sa.select(User).where(User.email == address))
    suffix = "" if purpose is None else f" (password given again for {purpose})"

    def failed(reason: str) -> None:
        record_event(
            session,
            SecurityEventKind.LOGIN_FAILED,
            now=now,
            user=user,
            remote_addr=remote_addr,
            detail=(reason if user is not None else f"{reason}: {address[:200]}") + suffix,
        )
        session.flush()

    if user is None:
        verify_password(_dummy_hash(PASSWORD_HASHER), password)
        failed("unknown e-mail")
        return None
    matches = verify_password(user.password_hash, password)
    if user.locked_until is not None and user.locked_until > now:
        failed("account locked")
        return None
    if not user.active:
        failed("account disabled")
        return None
    if user.demo and not allow_demo:
        failed("demo account outside demo mode")
        return None
    if not matches:
        user.failed_logins += 1
        failed(f"wrong password ({user.failed_logins} in a row)")
        if user.failed_logins >= max_failures:
            user.locked_until = now + dt.timedelta(minutes=lockout_minutes)
            record_event(
                session,
                SecurityEventKind.LOCKED_OUT,
                now=now,
                user=user,
                remote_addr=remote_addr,
                detail=f"{user.failed_logins} failed logins; locked for {lockout_minutes} minutes",
            )
            session.flush()
        return None
    user.failed_logins = 0
    user.locked_until = None
    if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
        # The user's own act (they just proved the password), recorded under their name.
        set_change_context(
            session,
            ChangeContext(user.id, user.full_name, ChangeSource.SYSTEM, "password hash upgraded at login"),
        )
        user.password_hash = hash_password(password)
    if purpose is None:
        record_event(session, SecurityEventKind.LOGIN_SUCCEEDED, now=now, user=user, remote_addr=remote_addr)
    else:
        record_event(
            session,
            SecurityEventKind.REAUTHENTICATED,
            now=now,
            user=user,
            actor=user,
            remote_addr=remote_addr,
            detail=f"password given again for {purpose}",
        )
    session.flush()
    return user


def logout(session: Session, user: User, *, now: dt.datetime, remote_addr: str | None = None) -> None:
    """End every session of ``user`` (SE-03: a replayed cookie carries the old epoch and is refused)."""
    user.session_epoch += 1
    record_event(session, SecurityEventKind.LOGOUT, now=now, user=user, remote_addr=remote_addr)
    session.flush()


def record_session_expired(
    session: Session, user: User, *, now: dt.datetime, reason: str, remote_addr: str | None = None
) -> None:
    record_event(session, SecurityEventKind.SESSION_EXPIRED, now=now, user=user, remote_addr=remote_addr, detail=reason)
    session.flush()


def change_password(session: Session, user: User, current: str, new: str, *, now: dt.datetime) -> None:
    """The user changes their own password; needs the current one (PW-05). Ends their other sessions."""
    if not verify_password(user.password_hash, current):
        raise ValidationError("current_password", "is not correct")
    if new == current:
        raise ValidationError("password", "must differ from the current password")
    validate_new_password(new, email=user.email)
    set_reason(session, "password changed by the account holder")
    user.password_hash = hash_password(new)
    user.password_changed_at = _check_aware(now)
    user.must_change_password = False
    user.session_epoch += 1
    record_event(session, SecurityEventKind.PASSWORD_CHANGED, now=now, user=user, actor=user)
    session.flush()


def reset_password(session: Session, user: User, new: str, *, actor: User, now: dt.datetime) -> None:
    """An administrator sets a one-time password; the user must change it at next login."""
    validate_new_password(new, email=user.email)
    set_reason(session, f"one-time password set by {actor.full_name}")
    user.password_hash = hash_password(new)
    user.password_changed_at = _check_aware(now)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    user.session_epoch += 1
    record_event(session, SecurityEventKind.PASSWORD_RESET, now=now, user=user, actor=actor)
    session.flush()


def unlock_user(session: Session, user: User, *, actor: User, now: dt.datetime) -> None:
    """An administrator lifts a lockout before it expires (PW-04)."""
    user.failed_logins = 0
    user.locked_until = None
    record_event(session, SecurityEventKind.UNLOCKED, now=now, user=user, actor=actor)
    session.flush()


def deactivate_user(session: Session, user: User, *, actor: User, now: dt.datetime) -> None:
    """Disable an account (never deleted, PW-01) and end its sessions at once (SE-04)."""
    if not user.active:
        raise ValidationError("active", "the account is already disabled")
    if actor.id == user.id:
        raise ValidationError("active", "you cannot disable your own account")
    now = _check_aware(now)
    set_reason(session, f"account disabled by {actor.full_name}")
    user.active = False
    user.deactivated_at = now
    user.session_epoch += 1
    record_event(session, SecurityEventKind.ACCOUNT_DISABLED, now=now, user=user, actor=actor)
    session.flush()


def set_role(session: Session, user: User, role: RoleCode | str, *, actor: User, now: dt.datetime) -> None:
    """Change a user's role; their sessions end so the new permissions apply at once (SE-04)."""
    code = _role(session, role)
    if code == user.role_code:
        return
    old = user.role_code
    set_reason(session, f"role changed to {code.value} by {actor.full_name}")
    user.role_code = code
    user.session_epoch += 1
    record_event(session, SecurityEventKind.ROLE_CHANGED, now=now, user=user, actor=actor, detail=f"{old} -> {code}")
    session.flush()


def demo_email(role: RoleCode) -> str:
    return f"{role.value.replace('_', '.')}@{DEMO_DOMAIN}"


def create_demo_users(session: Session, *, now: dt.datetime) -> dict[RoleCode, tuple[str, str]]:
    """One demo account per role with a fresh random password: {role: (email, password)}.

    Run again, it resets the existing demo accounts and returns new passwords (the old ones are not
    recoverable). Refuses to touch a non-demo account that happens to hold a demo address.
    """
    now = _check_aware(now)
    credentials: dict[RoleCode, tuple[str, str]] = {}
    ensure_roles(session)
    for role in RoleCode:
        email = demo_email(role)
        password = secrets.token_urlsafe(15)  # 20 characters, 120 bits
        user = session.scalar(sa.select(User).where(User.email == email))
        if user is None:
            create_user(
                session,
                email=email,
                full_name=f"Demo {ROLES[role].name}",
                role=role,
                password=password,
                demo=True,
                must_change_password=False,
                now=now,
            )
        elif not user.demo:
            raise ValidationError("email", f"{email} belongs to an account that is not a demo account")
        else:
            set_reason(session, "demo account reset by jk500db init --demo")
            user.password_hash = hash_password(password)
            user.password_changed_at = now
            user.must_change_password = False
            user.failed_logins = 0
            user.locked_until = None
            user.session_epoch += 1
            user.role_code = role
            user.active, user.deactivated_at = True, None
            record_event(session, SecurityEventKind.PASSWORD_RESET, now=now, user=user, detail="demo account reset")
        credentials[role] = (email, password)
    session.flush()
    return credentials
