"""The one ModelView every model view derives from: it owns permissions (the GeoNature pattern).

Each view declares ``permissions``, a role × action matrix; ``can_create``/``can_edit``/``can_delete``/
``can_export``/``can_view_details`` are computed per request from the logged-in user's role, and a request
for an action the role lacks gets 403 even if it bypasses the menu (a hand-made POST to /edit/). Roles not
in the matrix cannot open the view at all: deny by default, and no role (admin included) is a superuser.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar

from flask import abort, flash, has_request_context, request
from flask.typing import ResponseReturnValue
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from admin.extensions import login_manager
from jk500db.errors import Jk500Error, validation_error_from_integrity
from jk500db.models import ClinicalRecord
from jk500db.models.vocabularies import RoleCode

log = logging.getLogger(__name__)


class Action(StrEnum):
    VIEW = "view"  # open the list
    DETAILS = "details"
    CREATE = "create"
    EDIT = "edit"
    DELETE = "delete"
    EXPORT = "export"


Permissions = Mapping[RoleCode, frozenset[Action]]

READ = frozenset({Action.VIEW, Action.DETAILS})
READ_WRITE = READ | {Action.CREATE, Action.EDIT}

#: Flask-Admin view methods that need more than VIEW.
ACTION_OF_VIEW_METHOD: dict[str, Action] = {
    "details_view": Action.DETAILS,
    "create_view": Action.CREATE,
    "edit_view": Action.EDIT,
    "ajax_update": Action.EDIT,
    "delete_view": Action.DELETE,
    "export": Action.EXPORT,
    "remove_view": Action.EDIT,  # soft removal of a clinical record, with a reason (admin.crf)
}


class SecureModelView(ModelView):
    #: role -> the actions it may take in this view. Roles missing here cannot open it.
    permissions: ClassVar[Permissions] = {}
    #: a clinical view (the default). Inline list editing is forbidden on it: it bypasses can_edit in
    #: Flask-Admin and would skip the reason for change.
    clinical: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.clinical and cls.column_editable_list:
            raise TypeError(f"{cls.__name__}: column_editable_list is not allowed on a clinical view")
        for role, actions in cls.permissions.items():
            if not isinstance(role, RoleCode) or not all(isinstance(a, Action) for a in actions):
                raise TypeError(f"{cls.__name__}.permissions must map RoleCode to a frozenset of Action")

    def __init__(self, model: type[Any], db: Any, **kwargs: Any) -> None:
        if isinstance(model, type) and issubclass(model, ClinicalRecord) and not self.clinical:
            raise TypeError(f"{type(self).__name__}: {model.__name__} is a clinical record; the view must be clinical")
        super().__init__(model, db, **kwargs)

    # -- permissions --

    def allows(self, action: Action) -> bool:
        """Whether the current user's role may take ``action`` here.

        Outside a request (Flask-Admin reads can_* while building the view) the answer is whether any role
        may, so the view prepares everything some role could need.
        """
        if not has_request_context():
            return any(action in actions for actions in self.permissions.values())
        if not current_user.is_authenticated:
            return False
        return action in self.permissions.get(current_user.role, frozenset())

    @property
    def can_create(self) -> bool:
        return self.allows(Action.CREATE)

    @property
    def can_edit(self) -> bool:
        return self.allows(Action.EDIT)

    @property
    def can_delete(self) -> bool:
        return self.allows(Action.DELETE)

    @property
    def can_export(self) -> bool:
        return self.allows(Action.EXPORT)

    @property
    def can_view_details(self) -> bool:
        return self.allows(Action.DETAILS)

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated) and self.allows(Action.VIEW)

    def inaccessible_callback(self, name: str, **kwargs: Any) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        abort(403)

    def _handle_view(self, name: str, **kwargs: Any) -> ResponseReturnValue | None:
        refused: ResponseReturnValue | None = super()._handle_view(name, **kwargs)
        if refused is not None:
            return refused
        if self.clinical and name in ("ajax_update", "action_view"):
            # Inline list edits and bulk actions would change clinical data without a reason for change, one
            # record at a time through the form being the only way; refuse them outright, for every role.
            abort(403)
        action = ACTION_OF_VIEW_METHOD.get(name)
        if action is not None and not self.allows(action):
            abort(403)
        if name == "action_view" and not self.is_action_allowed(request.form.get("action", "")):
            abort(403)  # Flask-Admin would silently skip it; say no
        return None

    def is_action_allowed(self, name: str) -> bool:
        """Bulk actions: "delete" needs DELETE, any other needs EDIT."""
        needed = Action.DELETE if name == "delete" else Action.EDIT
        return self.allows(needed) and bool(super().is_action_allowed(name))

    # -- errors --

    def handle_view_exception(self, exc: Exception) -> bool:
        """Flash the broken rule, never Flask-Admin's default raw database text."""
        if isinstance(exc, IntegrityError):
            flash(f"Not saved: {validation_error_from_integrity(exc)}", "error")
            return True
        if isinstance(exc, StaleDataError):
            flash(
                "Not saved: someone else changed this record meanwhile. Reload it and enter the change again.", "error"
            )
            return True
        if isinstance(exc, Jk500Error):
            flash(f"Not saved: {exc}", "error")
            return True
        if super().handle_view_exception(exc):  # WTForms validation errors; re-raises in debug mode
            return True
        log.exception("%s: unexpected error in a model view", type(self).__name__)
        flash(
            "Not saved: an unexpected error occurred. It has been logged; please tell the data management team.",
            "error",
        )
        return True
