"""Accounts service: passwords (PW-01..PW-06), lockout, and the security log (AT-11), on both engines."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import argon2
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import set_change_context
from jk500db.db import create_engine, session_factory
from jk500db.errors import ValidationError
from jk500db.models import Role, SecurityEvent, User
from jk500db.models.vocabularies import RoleCode, SecurityEventKind
from jk500db.services import accounts
from tests.conftest import ENGINES, TEST_CONTEXT

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
GOOD_PASSWORD = "violet tractor sings at dawn"


def new_email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}@hospital.example"


def make_user(
    session: Session,
    role: RoleCode = RoleCode.DATA_MANAGER,
    password: str = GOOD_PASSWORD,
    email: str | None = None,
    **kwargs: Any,
) -> User:
    return accounts.create_user(
        session, email=email or new_email(), full_name="Anna Berg", role=role, password=password, now=NOW, **kwargs
    )


def events(session: Session, user: User | None = None, kind: SecurityEventKind | None = None) -> list[SecurityEvent]:
    query = sa.select(SecurityEvent).order_by(SecurityEvent.id)
    if user is not None:
        query = query.where(SecurityEvent.user_id == user.id)
    if kind is not None:
        query = query.where(SecurityEvent.kind == kind)
    return list(session.scalars(query))


def kinds(session: Session, user: User) -> list[SecurityEventKind]:
    return [e.kind for e in events(session, user)]


# --- PW-02: hashing ----------------------------------------------------------------------------------------


def test_PW02_password_is_stored_as_an_argon2id_hash_never_in_clear(session: Session) -> None:
    user = make_user(session)
    session.expire_all()
    stored = session.scalar(sa.select(User.password_hash).where(User.id == user.id))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert GOOD_PASSWORD not in stored
    parameters = argon2.extract_parameters(stored)
    assert parameters.memory_cost >= 19 * 1024  # OWASP's argon2id floor: 19 MiB, 2 iterations
    assert parameters.time_cost >= 2
    assert accounts.verify_password(stored, GOOD_PASSWORD)
    assert not accounts.verify_password(stored, GOOD_PASSWORD.upper())


def test_PW02_verify_password_never_raises_on_a_broken_hash() -> None:
    assert accounts.verify_password("not a hash", GOOD_PASSWORD) is False


def test_PW02_hash_is_upgraded_at_login_when_the_parameters_were_weaker(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as weak:
        weak.setattr(accounts, "PASSWORD_HASHER", argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        user = make_user(session)
    assert argon2.extract_parameters(user.password_hash).memory_cost == 1024
    assert accounts.authenticate(session, user.email, GOOD_PASSWORD, now=NOW) is user
    assert argon2.extract_parameters(user.password_hash) == argon2.extract_parameters(
        accounts.PASSWORD_HASHER.hash("x")
    )


# --- PW-03: password rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["", "short", "elevenchars", "a" * 11])
def test_PW03_short_password_is_refused(password: str) -> None:
    with pytest.raises(ValidationError) as refused:
        accounts.validate_new_password(password, email="anna.berg@hospital.example")
    assert refused.value.field == "password"
    assert "12" in refused.value.rule


def test_PW03_twelve_characters_are_enough_and_no_composition_rules_apply() -> None:
    accounts.validate_new_password("glass meadow", email="anna.berg@hospital.example")  # 12, no digit or capital


@pytest.mark.parametrize(
    "password", ["password1234", "Qwerty123456", "QWERTYUIOP123", "iloveyou1234", "correct horse battery staple"]
)
def test_PW03_common_password_is_refused_whatever_its_case(password: str) -> None:
    with pytest.raises(ValidationError, match="too common") as refused:
        accounts.validate_new_password(password, email="anna.berg@hospital.example")
    assert refused.value.field == "password"


@pytest.mark.parametrize("password", ["anna.berg-spring-2026", "my name is Berg!!", "ANNA.BERG.loves.cats"])
def test_PW03_password_containing_the_email_name_is_refused(password: str) -> None:
    with pytest.raises(ValidationError, match="e-mail name"):
        accounts.validate_new_password(password, email="Anna.Berg@hospital.example")


def test_PW03_password_containing_the_study_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="study"):
        accounts.validate_new_password("my jk500 password", email="anna@hospital.example")


def test_PW03_common_password_list_is_our_own_lower_case_compilation() -> None:
    lines = accounts.COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#") and "our own compilation" in lines[0]
    entries = accounts.common_passwords()
    assert len(entries) >= 300
    assert all(entry == entry.lower() for entry in entries)
    assert sum(len(entry) >= accounts.MIN_PASSWORD_LENGTH for entry in entries) >= 50  # it must bite at 12+


def test_PW03_create_user_applies_the_password_rules(session: Session) -> None:
    with pytest.raises(ValidationError, match="12"):
        make_user(session, password="too short")


# --- PW-01: accounts ---------------------------------------------------------------------------------------


def test_PW01_email_is_normalised_to_lower_case_and_never_reused(session: Session) -> None:
    email = new_email("Anna.Berg").upper()
    user = make_user(session, email=f"  {email} ")
    assert user.email == email.lower()
    with pytest.raises(ValidationError) as refused:
        make_user(session, email=email.lower())
    assert refused.value.field == "email"


@pytest.mark.parametrize("email", ["anna", "anna@", "@hospital.example", "anna@localhost", "an na@hospital.example"])
def test_create_user_refuses_a_malformed_email(session: Session, email: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make_user(session, email=email)
    assert refused.value.field == "email"


def test_create_user_needs_a_printed_name_and_a_known_role(session: Session) -> None:
    with pytest.raises(ValidationError) as refused:
        accounts.create_user(
            session, email=new_email(), full_name="  ", role=RoleCode.MONITOR, password=GOOD_PASSWORD, now=NOW
        )
    assert refused.value.field == "full_name"
    with pytest.raises(ValidationError) as refused:
        accounts.create_user(
            session, email=new_email(), full_name="Anna Berg", role="superuser", password=GOOD_PASSWORD, now=NOW
        )
    assert refused.value.field == "role"


def test_AT11_account_creation_is_logged_with_the_admin_who_did_it(session: Session) -> None:
    admin = make_user(session, role=RoleCode.ADMIN)
    user = make_user(session, actor=admin)
    (created,) = events(session, user)
    assert created.kind == SecurityEventKind.ACCOUNT_CREATED
    assert created.actor_id == admin.id
    assert created.occurred_at == NOW
    assert user.must_change_password  # an admin-set password is a one-time password


# --- PW-06: no default accounts ----------------------------------------------------------------------------


def test_PW06_ensure_roles_creates_the_five_roles_and_no_user(session: Session) -> None:
    users_before = session.scalar(sa.select(sa.func.count()).select_from(User))
    accounts.ensure_roles(session)
    accounts.ensure_roles(session)  # idempotent
    roles = session.scalars(sa.select(Role)).all()
    assert {r.code for r in roles} == set(RoleCode)
    assert all(r.name and r.description for r in roles)
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == users_before


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_PW06_a_fresh_install_with_its_roles_has_no_account(fresh_database: str) -> None:
    engine = create_engine(fresh_database)
    try:
        migrate.upgrade(engine)
        with session_factory(engine)() as session:
            set_change_context(session, TEST_CONTEXT)
            accounts.ensure_roles(session)
            session.commit()
            assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
            assert session.scalar(sa.select(sa.func.count()).select_from(Role)) == len(RoleCode)
    finally:
        engine.dispose()


# --- login, lockout (PW-04) and the security log (AT-11) ---------------------------------------------------


def test_AT11_successful_and_failed_logins_are_logged_with_the_address(session: Session) -> None:
    user = make_user(session)
    assert accounts.authenticate(session, user.email.upper(), GOOD_PASSWORD, now=NOW, remote_addr="10.0.0.7") is user
    assert accounts.authenticate(session, user.email, "wrong password!", now=NOW, remote_addr="10.0.0.7") is None
    logged = events(session, user)[1:]
    assert [e.kind for e in logged] == [SecurityEventKind.LOGIN_SUCCEEDED, SecurityEventKind.LOGIN_FAILED]
    assert all(e.remote_addr == "10.0.0.7" for e in logged)
    assert all("wrong password!" not in (e.detail or "") for e in logged)  # never the password


def test_PW04_account_locks_after_consecutive_failures_and_refuses_the_right_password(session: Session) -> None:
    user = make_user(session)
    for attempt in range(3):
        assert (
            accounts.authenticate(session, user.email, f"wrong {attempt}", now=NOW, max_failures=3, lockout_minutes=15)
            is None
        )
    assert user.locked_until == NOW + dt.timedelta(minutes=15)
    (locked,) = events(session, user, SecurityEventKind.LOCKED_OUT)
    assert locked.occurred_at == NOW
    assert (
        accounts.authenticate(session, user.email, GOOD_PASSWORD, now=NOW + dt.timedelta(minutes=14), max_failures=3)
        is None
    )
    assert events(session, user, SecurityEventKind.LOGIN_FAILED)[-1].detail == "account locked"
    assert (
        accounts.authenticate(session, user.email, GOOD_PASSWORD, now=NOW + dt.timedelta(minutes=16), max_failures=3)
        is user
    )
    assert user.failed_logins == 0 and user.locked_until is None


def test_PW04_a_success_resets_the_count_of_consecutive_failures(session: Session) -> None:
    user = make_user(session)
    for _ in range(2):
        accounts.authenticate(session, user.email, "wrong password", now=NOW, max_failures=3)
    assert accounts.authenticate(session, user.email, GOOD_PASSWORD, now=NOW, max_failures=3) is user
    accounts.authenticate(session, user.email, "wrong password", now=NOW, max_failures=3)
    assert user.failed_logins == 1 and user.locked_until is None


def test_AT11_an_admin_unlock_is_logged_and_lets_the_user_in(session: Session) -> None:
    admin = make_user(session, role=RoleCode.ADMIN)
    user = make_user(session)
    for _ in range(5):
        accounts.authenticate(session, user.email, "wrong password", now=NOW)
    accounts.unlock_user(session, user, actor=admin, now=NOW)
    assert events(session, user)[-1].kind == SecurityEventKind.UNLOCKED
    assert accounts.authenticate(session, user.email, GOOD_PASSWORD, now=NOW) is user


class CountingHasher:
    """Wraps the real hasher and counts verifications."""

    def __init__(self, real: argon2.PasswordHasher) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, hash: str, password: str) -> bool:
        self.verified.append(hash)
        return self.real.verify(hash, password)

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_unknown_email_is_treated_like_a_wrong_password_no_enumeration(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(session)
    counting = CountingHasher(accounts.PASSWORD_HASHER)
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", counting)
    assert accounts.authenticate(session, "nobody@hospital.example", GOOD_PASSWORD, now=NOW) is None
    assert accounts.authenticate(session, user.email, "wrong password", now=NOW) is None
    # The same work on both paths: one argon2 verification, against hashes of the same cost.
    assert len(counting.verified) == 2
    dummy, real = counting.verified
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(real)
    (unknown,) = [
        e
        for e in events(session, kind=SecurityEventKind.LOGIN_FAILED)
        if e.user_id is None and "nobody@hospital.example" in (e.detail or "")
    ]
    assert unknown.detail is not None and unknown.detail.startswith("unknown e-mail")


def test_disabled_and_demo_accounts_cannot_log_in_where_they_should_not(session: Session) -> None:
    admin = make_user(session, role=RoleCode.ADMIN)
    disabled = make_user(session)
    accounts.deactivate_user(session, disabled, actor=admin, now=NOW)
    assert accounts.authenticate(session, disabled.email, GOOD_PASSWORD, now=NOW) is None
    assert events(session, disabled)[-1].detail == "account disabled"
    demo = make_user(session, demo=True)
    assert accounts.authenticate(session, demo.email, GOOD_PASSWORD, now=NOW, allow_demo=False) is None
    assert accounts.authenticate(session, demo.email, GOOD_PASSWORD, now=NOW, allow_demo=True) is demo


def test_timestamps_must_be_timezone_aware(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(ValueError, match="timezone-aware"):
        accounts.authenticate(session, user.email, GOOD_PASSWORD, now=dt.datetime(2026, 3, 2, 9, 0))


# --- PW-05: password change, and the events that end sessions (SE-03, SE-04) -------------------------------


def test_PW05_changing_the_password_needs_the_current_one(session: Session) -> None:
    user = make_user(session)
    epoch = user.session_epoch
    with pytest.raises(ValidationError) as refused:
        accounts.change_password(session, user, "not my password", "a brand new passphrase", now=NOW)
    assert refused.value.field == "current_password"
    assert accounts.verify_password(user.password_hash, GOOD_PASSWORD)

    later = NOW + dt.timedelta(days=1)
    accounts.change_password(session, user, GOOD_PASSWORD, "a brand new passphrase", now=later)
    assert accounts.verify_password(user.password_hash, "a brand new passphrase")
    assert user.password_changed_at == later
    assert not user.must_change_password
    assert user.session_epoch == epoch + 1
    assert events(session, user)[-1].kind == SecurityEventKind.PASSWORD_CHANGED


def test_PW05_the_new_password_must_differ_and_follow_the_rules(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(ValidationError, match="differ"):
        accounts.change_password(session, user, GOOD_PASSWORD, GOOD_PASSWORD, now=NOW)
    with pytest.raises(ValidationError, match="too common"):
        accounts.change_password(session, user, GOOD_PASSWORD, "password1234", now=NOW)


def test_AT11_an_admin_password_reset_is_logged_and_is_a_one_time_password(session: Session) -> None:
    admin = make_user(session, role=RoleCode.ADMIN)
    user = make_user(session, must_change_password=False)
    accounts.reset_password(session, user, "temporary harbour lights", actor=admin, now=NOW)
    assert user.must_change_password
    reset = events(session, user)[-1]
    assert (reset.kind, reset.actor_id) == (SecurityEventKind.PASSWORD_RESET, admin.id)


def test_SE03_logout_bumps_the_session_epoch_and_is_logged(session: Session) -> None:
    user = make_user(session)
    accounts.logout(session, user, now=NOW, remote_addr="10.0.0.7")
    assert user.session_epoch == 1
    assert events(session, user)[-1].kind == SecurityEventKind.LOGOUT


def test_SE04_deactivation_is_logged_and_ends_sessions(session: Session) -> None:
    admin = make_user(session, role=RoleCode.ADMIN)
    user = make_user(session)
    accounts.deactivate_user(session, user, actor=admin, now=NOW)
    assert not user.active and user.deactivated_at == NOW
    assert user.session_epoch == 1
    disabled = events(session, user)[-1]
    assert (disabled.kind, disabled.actor_id) == (SecurityEventKind.ACCOUNT_DISABLED, admin.id)
    with pytest.raises(ValidationError, match="already disabled"):
        accounts.deactivate_user(session, user, actor=admin, now=NOW)
    with pytest.raises(ValidationError, match="your own"):
        accounts.deactivate_user(session, admin, actor=admin, now=NOW)
    session.flush()
    assert session.get(User, user.id) is user  # disabled, never deleted (PW-01)


def test_SE04_role_change_is_logged_and_ends_sessions(session: Session) -> None:
    admin = make_user(session, role=RoleCode.ADMIN)
    user = make_user(session, role=RoleCode.DATA_MANAGER)
    accounts.set_role(session, user, RoleCode.MONITOR, actor=admin, now=NOW)
    assert user.role_code == RoleCode.MONITOR and user.session_epoch == 1
    changed = events(session, user)[-1]
    assert changed.kind == SecurityEventKind.ROLE_CHANGED
    assert changed.detail == "data_manager -> monitor"
    accounts.set_role(session, user, "monitor", actor=admin, now=NOW)  # no change: no event, sessions kept
    assert user.session_epoch == 1 and events(session, user)[-1].id == changed.id


# --- demo accounts -----------------------------------------------------------------------------------------


def test_demo_users_one_per_role_with_random_passwords_reset_on_rerun(session: Session) -> None:
    first = accounts.create_demo_users(session, now=NOW)
    assert set(first) == set(RoleCode)
    assert first[RoleCode.DATA_MANAGER][0] == "data.manager@demo.jk500.invalid"
    for role, (email, password) in first.items():
        user = accounts.authenticate(session, email, password, now=NOW)
        assert user is not None and user.role_code == role
        assert user.demo and not user.must_change_password
        accounts.validate_new_password(password, email=email)  # strong by our own rules

    second = accounts.create_demo_users(session, now=NOW)
    assert session.scalar(sa.select(sa.func.count()).select_from(User).where(User.demo)) >= len(RoleCode)
    for role in RoleCode:
        email, password = second[role]
        assert password != first[role][1]
        assert accounts.authenticate(session, email, first[role][1], now=NOW) is None
        assert accounts.authenticate(session, email, password, now=NOW) is not None


def test_demo_users_never_take_over_a_real_account(session: Session) -> None:
    make_user(session, email=accounts.demo_email(RoleCode.MONITOR))
    with pytest.raises(ValidationError, match="not a demo account"):
        accounts.create_demo_users(session, now=NOW)
