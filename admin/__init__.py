"""The JK500 web app: ``create_app`` builds it from small ``init_*`` steps (the flaskr pattern).

Configuration, lowest precedence first: the defaults below, environment variables (``JK500DB_SECRET_KEY``,
``JK500DB_DATABASE_URL``, ``JK500DB_IDLE_MINUTES``, ``JK500DB_SESSION_HOURS``, ``JK500DB_DEMO``), then
``test_config``. Keys of our own:

- ``DATABASE_URL``: the database (default: ``jk500db.config.database_url()``); must be at the migration head.
- ``JK500DB_IDLE_MINUTES`` (15): inactivity timeout (SE-01). ``JK500DB_SESSION_HOURS`` (12): absolute
  session lifetime (SE-02).
- ``JK500DB_MAX_FAILED_LOGINS`` (5) and ``JK500DB_LOCKOUT_MINUTES`` (15): account lockout (PW-04).
- ``JK500DB_DEMO`` (False): a demo database; demo accounts may log in, cookies may go over plain http.
- ``JK500DB_CLOCK``: a callable returning aware UTC now; tests move time with it.
- ``JK500DB_EXPORT_DIR`` and ``JK500DB_EXPORT_RETENTION_HOURS`` (24): where the export page's ZIPs are kept and
  for how long (``jk500db.config``; environment variables or keys here).
- ``SESSION_COOKIE_SECURE``: True unless TESTING; False is accepted only in TESTING or demo mode (a demo
  served over http on localhost).
- ``INSTANCE_PATH``: where the persistent secret key lives (default ./instance, beside the default database).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, g, request

from admin.extensions import csrf, db
from jk500db import migrate
from jk500db.config import DEFAULT_INSTANCE_DIR, database_url
from jk500db.errors import ConfigurationError, DatabaseNotReady

SECRET_KEY_VARIABLE = "JK500DB_SECRET_KEY"  # noqa: S105  # the variable's name, not a secret
SECRET_KEY_FILE = "secret_key"  # noqa: S105  # a file name under the instance folder


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


DEFAULTS: dict[str, Any] = {
    "JK500DB_IDLE_MINUTES": 15,
    "JK500DB_SESSION_HOURS": 12,
    "JK500DB_MAX_FAILED_LOGINS": 5,
    "JK500DB_LOCKOUT_MINUTES": 15,
    "JK500DB_DEMO": False,
    "JK500DB_CLOCK": _utcnow,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    overrides = dict(test_config or {})
    instance_path = Path(overrides.pop("INSTANCE_PATH", None) or DEFAULT_INSTANCE_DIR).resolve()
    app = Flask(__name__, instance_path=str(instance_path))
    init_config(app, overrides)
    init_database(app)
    init_security(app)

    from admin import auth, export_worker, views  # late: they import this package's extensions

    auth.init_auth(app)
    views.init_views(app)
    export_worker.init_export_worker(app)  # the background exports; sweeps what a stopped server left
    return app


# --- configuration -----------------------------------------------------------------------------------------


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}: {raw!r} is not a whole number") from None


def init_config(app: Flask, overrides: Mapping[str, Any]) -> None:
    app.config.update(DEFAULTS)
    for name in ("JK500DB_IDLE_MINUTES", "JK500DB_SESSION_HOURS"):
        value = _env_int(name)
        if value is not None:
            app.config[name] = value
    if os.environ.get("JK500DB_DEMO", "").strip().lower() in ("1", "true", "yes"):
        app.config["JK500DB_DEMO"] = True
    if os.environ.get(SECRET_KEY_VARIABLE):
        app.config["SECRET_KEY"] = os.environ[SECRET_KEY_VARIABLE]
    app.config.update(overrides)

    url = database_url(app.config.get("DATABASE_URL"))
    if url.get_backend_name() == "sqlite" and url.database and not os.path.isabs(url.database):
        # Flask-SQLAlchemy would put a relative SQLite path under the instance folder; the CLI opens it
        # relative to the working directory. Resolve it here so both open the same file.
        url = url.set(database=str(Path(url.database).resolve()))
    app.config["DATABASE_URL"] = url
    app.config["SQLALCHEMY_DATABASE_URI"] = url

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secrets.token_hex(32) if app.testing else _persistent_secret_key(app)

    if "SESSION_COOKIE_SECURE" not in overrides:
        app.config["SESSION_COOKIE_SECURE"] = not app.testing
    if not app.config["SESSION_COOKIE_SECURE"] and not (app.testing or app.config["JK500DB_DEMO"]):
        raise ConfigurationError(
            "SESSION_COOKIE_SECURE is off: session cookies would travel unencrypted. That is allowed only for a "
            "demo served on this computer (JK500DB_DEMO=1); otherwise serve the app over HTTPS."
        )
    for name in (
        "JK500DB_IDLE_MINUTES",
        "JK500DB_SESSION_HOURS",
        "JK500DB_MAX_FAILED_LOGINS",
        "JK500DB_LOCKOUT_MINUTES",
    ):
        if not isinstance(app.config[name], int) or app.config[name] < 1:
            raise ConfigurationError(f"{name} must be a whole number of at least 1")


def _persistent_secret_key(app: Flask) -> str:
    """The key in instance/secret_key, created on first start, so a restart keeps everyone's session.

    Written with mode 0600 from the start (os.open, not chmod afterwards); a key others can read is refused,
    since whoever has it can forge a session for any account.
    """
    path = Path(app.instance_path) / SECRET_KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret_key(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        key = secrets.token_hex(32)
        handle.write(key + "\n")
    return key


def _read_secret_key(path: Path) -> str:
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"{path} can be read by other users; run `chmod 600 {path}` (or delete it to make a new key, "
            "which logs everyone out)"
        )
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigurationError(f"{path} is too short to be a secret key; delete it to make a new one")
    return key


# --- database ----------------------------------------------------------------------------------------------


def init_database(app: Flask) -> None:
    """Bind Flask-SQLAlchemy and refuse to start on a database that is not at the migration head."""
    url: sa.URL = app.config["DATABASE_URL"]
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Connecting would create an empty file and then complain that it is empty.
        raise DatabaseNotReady(f"there is no database at {url.database}; create it with `jk500db init`")
    db.init_app(app)
    with app.app_context():
        try:
            with db.engine.connect() as connection:
                migrate.ensure_current(connection)
        except sa.exc.OperationalError as exc:
            db.engine.dispose()
            raise DatabaseNotReady(f"cannot connect to the database {shown}: {str(exc.orig).strip()}") from None
        except DatabaseNotReady as exc:
            db.engine.dispose()
            raise DatabaseNotReady(
                f"{shown}: {exc}. The web app starts only on a database that is up to date "
                "(`jk500db init` creates or upgrades it)."
            ) from None


# --- HTTP security ------------------------------------------------------------------------------------------


def csp_nonce() -> str:
    """One nonce per response, for the <script>/<link> tags Flask-Admin marks with it."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    nonce: str = g.csp_nonce
    return nonce


def _security_headers(response: Response) -> Response:
    nonce = csp_nonce()
    response.headers["Content-Security-Policy"] = "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",  # Bootstrap draws some icons from data: URIs
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint is None or not request.endpoint.endswith("static"):
        # Pages show clinical data: keep them out of browser and proxy caches (and off the back button
        # after logout).
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def init_security(app: Flask) -> None:
    # Global CSRF protection: every POST needs the token (AC-03). Flask-Admin's SecureForm is not used, as
    # it clashes with the global check (DESIGN.md).
    csrf.init_app(app)
    app.after_request(_security_headers)
