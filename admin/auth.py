"""Logging in and out, changing one's password, and the session rules (Part 11 SE-01..SE-06).

Flask's session is a signed cookie, so "ending a session server-side" means refusing cookies the server
has not revoked otherwise: each session carries the user's ``session_epoch`` (inside the Flask-Login id,
Flask-Login's "alternative token" pattern), and logout, disabling, role and password changes bump the
epoch in the database. A replayed cookie then names an old epoch and is refused (SE-03, SE-04).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import (
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from admin.extensions import db, login_manager, utcnow
from jk500db.audit.context import ChangeContext, set_change_context
from jk500db.derivations import CLOCK_KEY
from jk500db.errors import ValidationError
from jk500db.models import User
from jk500db.models.vocabularies import ChangeSource, RoleCode
from jk500db.services import accounts

bp = Blueprint("auth", __name__)

#: session keys (POSIX seconds, from the app clock).
LOGIN_AT = "jk500_login_at"
SEEN_AT = "jk500_seen_at"
#: Sent by a page that refreshes itself (the export jobs list): such a request is the browser's, not the user's,
#: so it must not keep an unattended session alive (SE-01). A plain reload says the same with ``?poll=1``.
POLL_HEADER = "X-JK500-Poll"
#: one message for every failed login, so it does not tell whether the account exists (no enumeration).
LOGIN_FAILED = "The e-mail or password is not correct, or the account is locked or disabled."
#: what a user who must change their password may still open.
OPEN_WHILE_PASSWORD_CHANGE_DUE = frozenset({"auth.change_password", "auth.logout"})


class Account(UserMixin):
    """The logged-in user as Flask-Login sees it; wraps the ORM ``User`` (jk500db knows nothing of Flask)."""

    def __init__(self, user: User) -> None:
        self.user = user
        # Kept as plain values: after a rollback the ORM user is expired, and reading it while the session is
        # opening its next connection (the after_begin listener below) would load it in the middle of that.
        self._id = user.id
        self._full_name = user.full_name

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.session_epoch}"

    @property
    def is_active(self) -> bool:
        return self.user.active

    @property
    def id(self) -> int:
        return self._id

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def full_name(self) -> str:
        return self._full_name

    @property
    def role(self) -> RoleCode:
        return self.user.role_code

    @property
    def role_name(self) -> str:
        return self.user.role.name

    @property
    def must_change_password(self) -> bool:
        return self.user.must_change_password


def load_user(token: str) -> Account | None:
    """The account named by the session, if the session is still valid (SE-03, SE-04)."""
    user_id, _, epoch = token.partition(":")
    if not user_id.isdigit() or not epoch.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_epoch != int(epoch):
        return None
    if user.demo and not current_app.config["JK500DB_DEMO"]:
        return None
    # Loading the user began this request's first transaction before Flask-Login knew the user, so
    # _write_as_current_user could not name them: do it here (later transactions get it from that hook).
    set_change_context(db.session(), ChangeContext(user.id, user.full_name, ChangeSource.UI))
    return Account(user)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site ("/subjects?page=2"); None for anything else.

    Refuses absolute and scheme-relative URLs ("//evil.example"), backslashes (browsers read "/\\evil" as
    "//evil") and control characters, so the login page cannot be used to send users elsewhere.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


class LoginForm(FlaskForm):
    email = StringField(
        "E-mail",
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username", "autofocus": True},
    )
    password = PasswordField("Password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"})


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired()], render_kw={"autocomplete": "current-password"}
    )
    new_password = PasswordField(
        f"New password (at least {accounts.MIN_PASSWORD_LENGTH} characters)",
        validators=[DataRequired()],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new_password", message="The two new passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


def start_session(user: User) -> None:
    """Log ``user`` in on a brand-new session: nothing of the session before login survives (SE-05)."""
    session.clear()
    login_user(Account(user), remember=False, fresh=True)  # no remember-me cookie, ever (SE-06)
    now = utcnow().timestamp()
    session[LOGIN_AT] = now
    session[SEEN_AT] = now


#: Where each role starts after logging in: data managers and monitors work from the status matrix (issue 5).
LANDING_ENDPOINTS: dict[RoleCode, str] = {RoleCode.DATA_MANAGER: "matrix.index", RoleCode.MONITOR: "matrix.index"}


def landing_page(role: RoleCode) -> str:
    endpoint = LANDING_ENDPOINTS.get(role, "admin.index")
    return url_for(endpoint if endpoint in current_app.view_functions else "admin.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(target or url_for("admin.index"))
    form = LoginForm()
    if form.validate_on_submit():
        config = current_app.config
        user = accounts.authenticate(
            db.session(),
            form.email.data,
            form.password.data,
            now=utcnow(),
            remote_addr=request.remote_addr,
            max_failures=config["JK500DB_MAX_FAILED_LOGINS"],
            lockout_minutes=config["JK500DB_LOCKOUT_MINUTES"],
            allow_demo=config["JK500DB_DEMO"],
        )
        db.session.commit()  # a failure is committed too: the lockout counter and the security log
        if user is not None:
            start_session(user)
            return redirect(target or landing_page(user.role_code))
        flash(LOGIN_FAILED, "error")
    return render_template("jk500/login.html", form=form, next=target)


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        accounts.logout(db.session(), current_user.user, now=utcnow(), remote_addr=request.remote_addr)
        db.session.commit()
    logout_user()
    session.clear()
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> ResponseReturnValue:
    form = PasswordForm()
    if form.validate_on_submit():
        user: User = current_user.user
        try:
            accounts.change_password(
                db.session(), user, form.current_password.data, form.new_password.data, now=utcnow()
            )
        except ValidationError as exc:
            db.session.rollback()
            field = form.current_password if exc.field == "current_password" else form.new_password
            field.errors.append(f"{field.label.text.split(' (')[0]} {exc.rule}.")
        else:
            db.session.commit()
            start_session(user)  # the change ended every session, this one included; carry on in a new one
            flash("Your password has been changed.", "info")
            return redirect(url_for("admin.index"))
    return render_template("jk500/password.html", form=form)


def _expire_session(reason: str) -> ResponseReturnValue:
    accounts.record_session_expired(
        db.session(), current_user.user, now=utcnow(), reason=reason, remote_addr=request.remote_addr
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash("Your session has expired; please log in again.", "info")
    target = safe_next(request.full_path.rstrip("?")) if request.method == "GET" else None
    return redirect(url_for("auth.login", next=target))


def _is_poll() -> bool:
    """Whether the request is a page refreshing itself rather than something the user did."""
    return request.headers.get(POLL_HEADER) == "1" or request.args.get("poll") == "1"


def enforce_session_rules() -> ResponseReturnValue | None:
    """Before every request: idle timeout (SE-01), absolute lifetime (SE-02), a due password change.

    A page's own polling is checked like any request but does not count as activity.
    """
    if request.endpoint is not None and request.endpoint.endswith("static"):
        return None
    if not current_user.is_authenticated:
        return None
    config = current_app.config
    now = utcnow().timestamp()
    login_at: Any = session.get(LOGIN_AT)
    seen_at: Any = session.get(SEEN_AT)
    if not isinstance(login_at, float | int) or not isinstance(seen_at, float | int):
        return _expire_session("session without timestamps")
    if now - login_at > config["JK500DB_SESSION_HOURS"] * 3600:
        return _expire_session(f"absolute lifetime of {config['JK500DB_SESSION_HOURS']} h reached")
    if now - seen_at > config["JK500DB_IDLE_MINUTES"] * 60:
        return _expire_session(f"inactive for more than {config['JK500DB_IDLE_MINUTES']} min")
    if not _is_poll():
        session[SEEN_AT] = now
    if current_user.must_change_password and request.endpoint not in OPEN_WHILE_PASSWORD_CHANGE_DUE:
        flash("Please choose a new password before you continue.", "info")
        return redirect(url_for("auth.change_password"))
    return None


def _write_as_current_user(_session: Session, _transaction: Any, connection: Any) -> None:
    """Every transaction a request begins writes as its signed-in user (the audit triggers need an actor).

    Applied at each transaction start because a commit ends the context. Reads the user Flask-Login has
    already loaded (``g._login_user``): asking ``current_user`` here would load it with a query, which
    begins a transaction and calls this again.
    """
    if not has_request_context():
        return
    # Derived values and edit checks ("no date in the future", report clocks) read the app's clock.
    _session.info[CLOCK_KEY] = utcnow
    account = g.get("_login_user")
    if isinstance(account, Account):
        set_change_context(connection, ChangeContext(account.id, account.full_name, ChangeSource.UI))


def init_auth(app: Flask) -> None:
    if not sa.event.contains(db.session, "after_begin", _write_as_current_user):  # one db for many test apps
        sa.event.listen(db.session, "after_begin", _write_as_current_user)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in."
    login_manager.login_message_category = "info"
    # "strong": a session used from another address or browser is emptied, not merely marked not fresh.
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)
    app.before_request(enforce_session_rules)
    app.register_blueprint(bp)
