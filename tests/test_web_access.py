"""The web app's access rules: login and logout, sessions (SE-01..SE-06), CSRF (AC-03), roles, error pages.

The app runs against its own migrated database per engine (users are committed, as a real request commits
them), with CSRF protection on and a clock the tests move.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask, has_request_context
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from admin import create_app
from admin.auth import POLL_HEADER, safe_next
from admin.base_view import READ, Action, Permissions, SecureModelView
from admin.extensions import db
from jk500db import migrate
from jk500db.audit.context import set_change_context
from jk500db.db import counting_statements, create_engine
from jk500db.errors import ConfigurationError, DatabaseNotReady
from jk500db.models import Role, SecurityEvent, Study, User
from jk500db.models.vocabularies import RoleCode, SecurityEventKind
from jk500db.services import accounts
from tests.conftest import ENGINES, TEST_CONTEXT, postgres_server_url

SECRET = "a fixed secret key for the tests, long enough"
PASSWORD = "violet tractor sings at dawn"


class Clock:
    """The app's clock (config JK500DB_CLOCK); tests move it forward."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(scope="module", params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of this module's own, migrated to head, per engine (the web app commits into it)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.sqlite3'}"
        admin_engine = None
    else:
        server = postgres_server_url()
        if server is None:
            pytest.skip("PostgreSQL tests need JK500DB_TEST_POSTGRES_URL")
        name = f"jk500db_web_{uuid.uuid4().hex[:10]}"
        admin_engine = sa.create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
            admin_engine.dispose()


def _setup_writes_as_test_actor(_session: Any, _transaction: Any, connection: sa.Connection) -> None:
    """Test set-up writes outside any request (users, a study): attribute them to the test actor."""
    if not has_request_context():
        set_change_context(connection, TEST_CONTEXT)


@contextmanager
def built_app(database_url: str, **config: Any) -> Iterator[Flask]:
    settings = {"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": SECRET, "WTF_CSRF_ENABLED": True}
    app = create_app({**settings, **config})
    if not sa.event.contains(db.session, "after_begin", _setup_writes_as_test_actor):
        sa.event.listen(db.session, "after_begin", _setup_writes_as_test_actor)
    try:
        yield app
    finally:
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(database_url: str, clock: Clock) -> Iterator[Flask]:
    with built_app(database_url, JK500DB_CLOCK=clock) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


MakeUser = Callable[..., User]


@pytest.fixture
def make_user(app: Flask) -> MakeUser:
    """Commit a user with a unique e-mail; returns it detached (ids and attributes stay readable)."""

    def make(role: RoleCode = RoleCode.DATA_MANAGER, must_change_password: bool = False, **kwargs: Any) -> User:
        with app.app_context():
            user = accounts.create_user(
                db.session(),
                email=f"user.{uuid.uuid4().hex[:8]}@hospital.example",
                full_name="Anna Berg",
                role=role,
                password=PASSWORD,
                must_change_password=must_change_password,
                **kwargs,
            )
            db.session.commit()
            db.session.refresh(user)
            _ = user.role.name
            db.session.expunge_all()
            return user

    return make


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path, follow_redirects=True)  # "/" sends data managers and monitors on to the matrix
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def log_in(client: FlaskClient, email: str, password: str = PASSWORD, next: str | None = None) -> Any:
    token = csrf_token(client)
    url = "/login" if next is None else f"/login?next={next}"
    return client.post(url, data={"email": email, "password": password, "csrf_token": token})


def log_out(client: FlaskClient) -> Any:
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def replay(app: Flask, cookie: str) -> FlaskClient:
    """A new browser carrying a captured session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def redirects_to_login(response: Any) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/login")


def statements_per_get(app: Flask, client: FlaskClient, path: str) -> int:
    """SQL statements the app runs while answering one GET of ``path``, which must succeed (pages pin it)."""
    with app.app_context():
        engine = db.engine
    with counting_statements(engine) as tally:
        response = client.get(path)
    assert response.status_code == 200, path
    return tally.statements


def security_events(app: Flask, user: User) -> list[SecurityEventKind]:
    with app.app_context():
        query = sa.select(SecurityEvent.kind).where(SecurityEvent.user_id == user.id).order_by(SecurityEvent.id)
        return list(db.session.scalars(query))


# --- login and logout --------------------------------------------------------------------------------------


def test_AC01_anonymous_user_is_sent_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2F"


def test_login_then_the_home_page_shows_name_role_and_study(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    with app.app_context():
        if db.session.scalar(sa.select(Study.id).where(Study.code == "JK500")) is None:
            db.session.add(
                Study(
                    code="JK500",
                    title="JK500 in r/r paediatric AML",
                    sponsor="Sponsor",
                    phase="Early Phase 1",
                    planned_enrolment=12,
                )
            )
            db.session.commit()
    user = make_user(RoleCode.INVESTIGATOR)
    response = log_in(client, user.email.upper())
    assert response.status_code == 302 and response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Anna Berg" in home.text
    assert "Investigator" in home.text
    assert "JK500" in home.text
    assert "Safety dashboard" in home.text  # the shortcuts of an investigator
    assert security_events(app, user)[-1] == SecurityEventKind.LOGIN_SUCCEEDED


def test_logout_ends_the_session_and_is_logged(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    user = make_user()
    log_in(client, user.email)
    response = log_out(client)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert redirects_to_login(client.get("/"))
    assert security_events(app, user)[-1] == SecurityEventKind.LOGOUT


def test_PW02_the_password_field_is_masked(client: FlaskClient) -> None:
    page = client.get("/login").text
    assert re.search(
        r'<input[^>]*name="password"[^>]*type="password"|<input[^>]*type="password"[^>]*name="password"', page
    )


def test_logout_is_a_post_only(client: FlaskClient) -> None:
    assert client.get("/logout").status_code == 405


def test_wrong_password_and_unknown_email_get_the_same_answer(client: FlaskClient, make_user: MakeUser) -> None:
    user = make_user()

    def answer(email: str, password: str) -> tuple[int, str]:
        response = log_in(client, email, password)
        # The form shows back the e-mail typed in it; everything else must be identical.
        text = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', "", response.text).replace(email, "EMAIL")
        return response.status_code, text

    wrong_password = answer(user.email, "not the password")
    unknown_email = answer("nobody.at.all@hospital.example", "not the password")
    assert wrong_password == unknown_email
    assert wrong_password[0] == 200
    assert "The e-mail or password is not correct" in wrong_password[1]


def test_PW04_locked_account_refuses_the_right_password_with_the_same_message(
    database_url: str, clock: Clock, make_user: MakeUser
) -> None:
    with built_app(database_url, JK500DB_CLOCK=clock, JK500DB_MAX_FAILED_LOGINS=3) as app:
        client = app.test_client()
        user = make_user()
        for _ in range(3):
            log_in(client, user.email, "not the password")
        refused = log_in(client, user.email)
        assert refused.status_code == 200
        assert "The e-mail or password is not correct" in refused.text
        assert SecurityEventKind.LOCKED_OUT in security_events(app, user)
        clock.advance(minutes=16)
        assert log_in(client, user.email).status_code == 302


def test_disabled_user_cannot_log_in(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    admin, user = make_user(RoleCode.ADMIN), make_user()
    with app.app_context():
        accounts.deactivate_user(
            db.session(),
            db.session.get(User, user.id),
            actor=db.session.get(User, admin.id),
            now=dt.datetime.now(dt.UTC),
        )
        db.session.commit()
    assert log_in(client, user.email).status_code == 200
    assert redirects_to_login(client.get("/"))


def test_demo_accounts_log_in_only_in_demo_mode(database_url: str, clock: Clock, make_user: MakeUser) -> None:
    user = make_user(demo=True)
    with built_app(database_url, JK500DB_CLOCK=clock) as app:
        assert log_in(app.test_client(), user.email).status_code == 200
    with built_app(database_url, JK500DB_CLOCK=clock, JK500DB_DEMO=True) as app:
        assert log_in(app.test_client(), user.email).status_code == 302


# --- PW-05: a one-time password must be changed, with the current one -------------------------------------


def test_PW05_one_time_password_must_be_changed_and_the_change_needs_the_current_one(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    user = make_user(must_change_password=True)
    assert log_in(client, user.email).headers["Location"] == "/matrix/"  # a data manager's landing page
    assert client.get("/matrix/").headers["Location"] == "/account/password"

    new = "a quiet harbour at midnight"
    token = csrf_token(client, "/account/password")
    wrong = client.post(
        "/account/password",
        data={"current_password": "not it", "new_password": new, "confirm": new, "csrf_token": token},
    )
    assert wrong.status_code == 200 and "Current password is not correct" in wrong.text

    done = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": new, "confirm": new, "csrf_token": token},
    )
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert client.get("/").status_code == 200  # still logged in, on a new session
    assert SecurityEventKind.PASSWORD_CHANGED in security_events(app, user)


def test_PW03_password_page_explains_a_refused_new_password(client: FlaskClient, make_user: MakeUser) -> None:
    user = make_user()
    log_in(client, user.email)
    token = csrf_token(client, "/account/password")
    response = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "short", "confirm": "short", "csrf_token": token},
    )
    assert response.status_code == 200
    assert "at least 12 characters" in response.text


# --- sessions ------------------------------------------------------------------------------------------------


def test_SE03_logout_invalidates_the_old_cookie_when_replayed(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    log_in(client, make_user().email)
    assert client.get("/").status_code == 200
    captured = session_cookie(client)
    assert replay(app, captured).get("/").status_code == 200  # the capture is a working session...
    log_out(client)
    assert redirects_to_login(replay(app, captured).get("/"))  # ...until logout, server-side


@pytest.mark.parametrize("change", ["deactivate", "role"])
def test_SE04_disabling_a_user_or_changing_their_role_ends_their_sessions(
    app: Flask, client: FlaskClient, make_user: MakeUser, change: str
) -> None:
    admin, user = make_user(RoleCode.ADMIN), make_user(RoleCode.DATA_MANAGER)
    log_in(client, user.email)
    assert client.get("/").status_code == 200
    with app.app_context():
        target, actor = db.session.get(User, user.id), db.session.get(User, admin.id)
        assert target is not None and actor is not None
        if change == "deactivate":
            accounts.deactivate_user(db.session(), target, actor=actor, now=dt.datetime.now(dt.UTC))
        else:
            accounts.set_role(db.session(), target, RoleCode.MONITOR, actor=actor, now=dt.datetime.now(dt.UTC))
        db.session.commit()
    assert redirects_to_login(client.get("/"))


def test_SE01_inactivity_timeout_forces_a_new_login(
    app: Flask, client: FlaskClient, clock: Clock, make_user: MakeUser
) -> None:
    user = make_user()
    log_in(client, user.email)
    for _ in range(3):  # activity keeps the session alive well past 15 minutes in total
        clock.advance(minutes=14)
        assert client.get("/").status_code == 200
    clock.advance(minutes=15, seconds=1)
    response = client.get("/")
    assert redirects_to_login(response)
    assert parse_qs(urlsplit(response.headers["Location"]).query)["next"] == ["/"]  # back to where they were
    assert security_events(app, user)[-1] == SecurityEventKind.SESSION_EXPIRED
    assert redirects_to_login(client.get("/"))  # and it stays ended


def test_SE01_idle_minutes_are_configurable(database_url: str, clock: Clock, make_user: MakeUser) -> None:
    with built_app(database_url, JK500DB_CLOCK=clock, JK500DB_IDLE_MINUTES=5) as app:
        client = app.test_client()
        log_in(client, make_user().email)
        clock.advance(minutes=5, seconds=1)
        assert redirects_to_login(client.get("/"))


def test_SE02_absolute_session_lifetime_ends_even_an_active_session(
    app: Flask, client: FlaskClient, clock: Clock, make_user: MakeUser
) -> None:
    log_in(client, make_user().email)
    for _ in range(12 * 6):  # a request every 10 minutes for 12 hours
        clock.advance(minutes=10)
        assert client.get("/").status_code == 200
    clock.advance(minutes=10)
    assert redirects_to_login(client.get("/"))


def test_SE05_login_starts_a_new_session_and_the_pre_login_cookie_stays_anonymous(
    app: Flask, client: FlaskClient, make_user: MakeUser
) -> None:
    token = csrf_token(client)
    before = session_cookie(client)  # e.g. planted by an attacker (session fixation)
    client.post("/login", data={"email": make_user().email, "password": PASSWORD, "csrf_token": token})
    after = session_cookie(client)
    assert after != before
    assert client.get("/").status_code == 200
    assert redirects_to_login(replay(app, before).get("/"))
    with app.test_request_context():
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        assert serializer is not None
        assert serializer.loads(before).get("csrf_token") != serializer.loads(after).get("csrf_token")


def test_SE06_session_cookie_is_secure_httponly_samesite_and_not_persistent(
    database_url: str, clock: Clock, make_user: MakeUser
) -> None:
    with built_app(database_url, JK500DB_CLOCK=clock, SESSION_COOKIE_SECURE=True) as app:
        client = app.test_client()
        user = make_user()
        page = client.get("/login", base_url="https://localhost")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        response = client.post(
            "/login",
            data={"email": user.email, "password": PASSWORD, "csrf_token": token},
            base_url="https://localhost",
            headers={"Referer": "https://localhost/login"},
        )
        assert response.status_code == 302
        cookies = response.headers.getlist("Set-Cookie")
        (session_set,) = [c for c in cookies if c.startswith("session=")]
        attributes = {part.strip().split("=")[0].lower() for part in session_set.split(";")[1:]}
        assert {"secure", "httponly", "samesite"} <= attributes
        assert "samesite=lax" in session_set.lower()
        assert not attributes & {"expires", "max-age"}  # ends with the browser: no persistent session
        assert not [c for c in cookies if c.startswith("remember_token=") and not c.startswith("remember_token=;")]
        assert client.get_cookie("remember_token") is None  # no remember-me


def test_SE06_secure_cookies_are_the_default_and_the_secret_key_persists_privately(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JK500DB_SECRET_KEY", raising=False)
    config = {"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path / "instance")}
    first = create_app(config)
    second = create_app(config)
    try:
        assert first.config["SESSION_COOKIE_SECURE"] is True
        assert first.config["SESSION_COOKIE_HTTPONLY"] is True
        key_file = tmp_path / "instance" / "secret_key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text().strip()
        assert len(first.config["SECRET_KEY"]) >= 64
    finally:
        for app in (first, second):
            with app.app_context():
                db.engine.dispose()


def test_a_secret_key_file_others_can_read_is_refused(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text("x" * 64)
    os.chmod(key_file, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        create_app({"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path)})


def test_insecure_cookies_are_allowed_only_in_demo_mode(database_url: str) -> None:
    config = {"DATABASE_URL": database_url, "SECRET_KEY": SECRET, "SESSION_COOKIE_SECURE": False}
    with pytest.raises(ConfigurationError, match="HTTPS"):
        create_app(config)
    app = create_app({**config, "JK500DB_DEMO": True})
    with app.app_context():
        db.engine.dispose()


STYLESHEET = "/static/admin/bootstrap/bootstrap4/css/bootstrap.min.css"


@pytest.mark.parametrize("path", ["/login", "/", "/no/such/page", STYLESHEET])
def test_SE06_security_headers_on_every_response(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no CDN or other origin
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    response.close()


def test_pages_are_not_cached(client: FlaskClient, make_user: MakeUser) -> None:
    log_in(client, make_user().email)
    assert client.get("/").headers["Cache-Control"] == "no-store"


# --- CSRF (AC-03) ------------------------------------------------------------------------------------------


def test_AC03_login_post_without_csrf_token_is_refused(client: FlaskClient, make_user: MakeUser) -> None:
    response = client.post("/login", data={"email": make_user().email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Your form expired; reload and try again" in response.text
    assert redirects_to_login(client.get("/"))


def test_AC03_logout_post_without_csrf_token_is_refused(client: FlaskClient, make_user: MakeUser) -> None:
    log_in(client, make_user().email)
    response = client.post("/logout")
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # still logged in


def test_AC03_a_forged_csrf_token_is_refused(client: FlaskClient, make_user: MakeUser) -> None:
    csrf_token(client)
    response = client.post("/login", data={"email": make_user().email, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400


# --- next ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/%0d%0aLocation:evil",
        "evil.example",
    ],
)
def test_next_to_another_host_is_refused(client: FlaskClient, make_user: MakeUser, target: str) -> None:
    response = log_in(client, make_user().email, next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/matrix/"  # the data manager's landing page, not the target


def test_next_within_the_site_is_followed(client: FlaskClient, make_user: MakeUser) -> None:
    response = log_in(client, make_user().email, next="/account/password")
    assert response.headers["Location"] == "/account/password"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/subjects?page=2", "/subjects?page=2"),
        ("/", "/"),
        (None, None),
        ("", None),
        ("//evil", None),
        ("/\\evil", None),
        ("https://evil", None),
        ("/a\nb", None),
        ("relative", None),
    ],
)
def test_safe_next(target: str | None, expected: str | None) -> None:
    assert safe_next(target) == expected


# --- Flask-Admin views and the permission matrix -------------------------------------------------------------


class RoleListView(SecureModelView):
    """A stand-in model view: monitors may read, nobody else may open it."""

    clinical = False
    permissions: ClassVar[Permissions] = {RoleCode.MONITOR: READ}


def add_role_view(app: Flask) -> RoleListView:
    view = RoleListView(Role, db, endpoint="rolelist", url="/rolelist")
    app.extensions["admin"][0].add_view(view)
    return view


def test_AC01_model_views_enforce_the_role_matrix_server_side(app: Flask, make_user: MakeUser) -> None:
    view = add_role_view(app)
    anonymous = app.test_client()
    assert redirects_to_login(anonymous.get("/rolelist/"))

    statistician = app.test_client()
    log_in(statistician, make_user(RoleCode.STATISTICIAN).email)
    assert statistician.get("/rolelist/").status_code == 403

    monitor = app.test_client()
    log_in(monitor, make_user(RoleCode.MONITOR).email)
    listing = monitor.get("/rolelist/")
    assert listing.status_code == 200 and "Investigator" in listing.text
    assert monitor.get("/rolelist/details/?id=monitor").status_code == 200
    # The menu offers no create or edit, and a hand-made request gets no further.
    assert monitor.get("/rolelist/new/").status_code == 403
    token = csrf_token(monitor, "/")
    assert monitor.post("/rolelist/edit/?id=monitor", data={"name": "x", "csrf_token": token}).status_code == 403
    assert monitor.post("/rolelist/delete/", data={"id": "monitor", "csrf_token": token}).status_code == 403
    assert (
        monitor.post(
            "/rolelist/action/", data={"action": "delete", "rowid": "monitor", "csrf_token": token}
        ).status_code
        == 403
    )
    assert monitor.get("/rolelist/export/csv/").status_code == 403
    assert (
        monitor.post(
            "/rolelist/ajax/update/", data={"list_form_pk": "monitor", "name": "x", "csrf_token": token}
        ).status_code
        == 403
    )
    with app.app_context():
        assert db.session.get(Role, RoleCode.MONITOR) is not None

    # Outside a request (as when Flask-Admin builds the view): what some role may do.
    assert view.can_view_details and not view.can_edit


def test_AC01_permission_flags_are_computed_from_the_current_role(app: Flask, make_user: MakeUser) -> None:
    view = add_role_view(app)
    client = app.test_client()
    log_in(client, make_user(RoleCode.MONITOR).email)
    with client:
        client.get("/")
        assert view.is_accessible()
        assert (view.can_view_details, view.can_create, view.can_edit, view.can_delete, view.can_export) == (
            True,
            False,
            False,
            False,
            False,
        )
        assert not view.is_action_allowed("delete")


def test_AC01_inline_list_editing_is_refused_on_a_clinical_view() -> None:
    with pytest.raises(TypeError, match="column_editable_list"):
        type("ClinicalListView", (SecureModelView,), {"column_editable_list": ["value"]})


def test_permissions_must_name_roles_and_actions() -> None:
    with pytest.raises(TypeError, match="permissions"):
        type("BadView", (SecureModelView,), {"clinical": False, "permissions": {"monitor": {"view"}}})
    assert Action.EDIT == "edit"


# --- error pages -----------------------------------------------------------------------------------------------


def test_error_pages_say_what_happened_and_nothing_internal(database_url: str, clock: Clock) -> None:
    with built_app(database_url, JK500DB_CLOCK=clock, PROPAGATE_EXCEPTIONS=False) as app:

        def broken() -> str:
            raise RuntimeError("internal detail 4711 from user_account")

        app.add_url_rule("/broken", "broken", broken)
        client = app.test_client()
        failed = client.get("/broken")
        assert failed.status_code == 500
        assert "Something went wrong" in failed.text
        assert "4711" not in failed.text and "Traceback" not in failed.text and "user_account" not in failed.text
        assert failed.headers["X-Frame-Options"] == "DENY"
        missing = client.get("/no/such/page")
        assert missing.status_code == 404 and "There is no page at this address" in missing.text


# --- start-up -----------------------------------------------------------------------------------------------------


def test_the_app_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    engine = create_engine(f"sqlite:///{empty}")
    with engine.connect():
        pass
    engine.dispose()
    with pytest.raises(DatabaseNotReady, match=r"not been initialised.*jk500db init"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{empty}"})


def test_the_app_refuses_a_missing_sqlite_file_without_creating_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite3"
    with pytest.raises(DatabaseNotReady, match="no database"):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{missing}"})
    assert not missing.exists()


def test_the_app_opens_sqlite_with_the_same_pragmas_as_the_cli(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite pragmas")
        assert db.session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert db.session.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert db.session.execute(sa.text("PRAGMA busy_timeout")).scalar() == 10_000


def test_derivations_in_a_request_read_the_apps_clock(app: Flask, clock: Clock) -> None:
    """Edit checks ("no date in the future") and report clocks run on the app's time, which tests can move."""
    from admin.extensions import db
    from jk500db.derivations.recompute import clock as derivation_clock

    with app.test_request_context("/"):
        db.session.execute(sa.select(1))  # begins the request's transaction
        assert derivation_clock(db.session()) == clock.now
        clock.advance(days=3)
        assert derivation_clock(db.session()) == clock.now


def test_a_request_that_rolls_back_can_still_query_as_its_user(app: Flask, make_user: MakeUser) -> None:
    """After a rollback the ORM user is expired; the next transaction must still start as that user."""
    from flask_login import login_user

    from admin.auth import Account
    from admin.extensions import db

    user = make_user(RoleCode.MONITOR)
    with app.test_request_context("/"):
        login_user(Account(db.session.get_one(User, user.id)))
        db.session.execute(sa.select(1))
        db.session.rollback()
        assert db.session.scalar(sa.select(User.full_name).where(User.id == user.id)) == "Anna Berg"


def test_SE01_a_page_refreshing_itself_does_not_keep_an_idle_session_alive(
    app: Flask, client: FlaskClient, clock: Clock, make_user: MakeUser
) -> None:
    """The export page polls for its jobs every few seconds; that must not count as the user being there."""
    log_in(client, make_user().email)
    for _ in range(3):  # polled, by the script's header and by the no-script reload's ?poll=1
        clock.advance(minutes=5)
        assert client.get("/", headers={POLL_HEADER: "1"}).status_code == 200
        assert client.get("/?poll=1").status_code == 200
    clock.advance(seconds=1)  # 15 minutes and a second since the user last did anything
    assert redirects_to_login(client.get("/", headers={POLL_HEADER: "1"}))
