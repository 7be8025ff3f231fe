"""The Flask-Admin instance, the home page and the error pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, current_app, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from admin import csp_nonce
from admin.crf import init_crf_views
from admin.extensions import db, login_manager
from admin.pages import init_pages
from jk500db.models import Study
from jk500db.models.vocabularies import RoleCode


class HomeView(AdminIndexView):
    """The home page at "/" (Flask-Admin's index view); logged-in users only."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated)

    def inaccessible_callback(self, name: str, **kwargs: object) -> ResponseReturnValue:
        return login_manager.unauthorized()

    @expose("/")
    def index(self) -> str:
        study_code = db.session.scalar(sa.select(Study.code).order_by(Study.id).limit(1))
        shortcuts = [
            (title, url_for(endpoint))
            for title, endpoint, roles in SHORTCUTS
            if current_user.role in roles and endpoint in current_app.view_functions
        ]
        return self.render("jk500/home.html", study_code=study_code, shortcuts=shortcuts)


#: The home page's shortcuts: (title, endpoint, roles). Data managers and monitors land on the status matrix
#: after logging in (``admin.auth.landing_page``); the home page gives them the way back to it.
SHORTCUTS: tuple[tuple[str, str, frozenset[RoleCode]], ...] = (
    ("Sign-off worklist", "signoff.index", frozenset({RoleCode.INVESTIGATOR})),
    ("Safety dashboard", "safety.index", frozenset({RoleCode.INVESTIGATOR, RoleCode.ADMIN, RoleCode.STATISTICIAN})),
    (
        "Status matrix",
        "matrix.index",
        frozenset({RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.ADMIN}),
    ),
    (
        "Queries",
        "queries.index",
        frozenset({RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.ADMIN}),
    ),
    ("Source-data verification", "sdv.index", frozenset({RoleCode.MONITOR})),
    ("Casebooks", "casebook.index", frozenset({RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR})),
    ("Locks and freezes", "locks.index", frozenset({RoleCode.ADMIN})),
    ("Audit trail", "audit.index", frozenset({RoleCode.ADMIN})),
    ("Exports", "exports.index", frozenset({RoleCode.STATISTICIAN, RoleCode.ADMIN})),
)


#: What each error page says; never the exception, a stack trace or an internal id.
ERROR_MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Go back, reload the page and try again."),
    403: ("Not allowed", "Your role does not give you access to this page."),
    404: ("Not found", "There is no page at this address."),
    405: ("Not allowed", "This page does not accept that kind of request."),
    500: (
        "Something went wrong",
        "The error has been logged. Please try again; if it keeps happening, tell the "
        "data management team what you were doing.",
    ),
}


def _error_page(code: int, title: str, message: str) -> ResponseReturnValue:
    return render_template("jk500/error.html", code=code, title=title, message=message), code


def handle_http_error(exc: HTTPException) -> ResponseReturnValue:
    code = exc.code or 500
    title, message = ERROR_MESSAGES.get(code, ERROR_MESSAGES[500] if code >= 500 else ERROR_MESSAGES[400])
    if code >= 500:
        db.session.rollback()  # the failed request's transaction must not leak into the page
    return _error_page(code, title, message)


def handle_csrf_error(exc: CSRFError) -> ResponseReturnValue:
    return _error_page(400, "Form expired", "Your form expired; reload and try again.")


def init_views(app: Flask) -> None:
    # Created here, not at import, so every app (and every test) gets its own views (flaskr).
    admin = Admin(
        app,
        name="JK500",
        index_view=HomeView(name="Home", url="/"),
        theme=Bootstrap4Theme(base_template="jk500/admin_base.html"),
        csp_nonce_generator=csp_nonce,
    )
    init_pages(admin)
    init_crf_views(admin)
    app.register_error_handler(CSRFError, handle_csrf_error)
    for code in ERROR_MESSAGES:
        app.register_error_handler(code, handle_http_error)
