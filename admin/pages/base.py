"""The one base of every page: deny by default, by role (as ``SecureModelView`` does for model views)."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import abort
from flask.typing import ResponseReturnValue
from flask_admin import BaseView
from flask_login import current_user

from admin.extensions import login_manager
from jk500db.models.vocabularies import RoleCode


def words(code: str) -> str:
    """A stored code or a table or column name as a person reads it: "lost_to_follow_up" -> "Lost to follow up".

    Codes already in capitals are standard codes (CDISC LBTESTCD "NEUT", SEX "M") and stay as they are.
    """
    if code.isupper():
        return code
    return code.replace("_", " ").strip().capitalize()


class SecurePage(BaseView):
    #: roles that may open the page; any other role gets 403, anonymous visitors the login page.
    roles: ClassVar[frozenset[RoleCode]] = frozenset()
    #: menu label, endpoint and URL.
    title: ClassVar[str] = ""
    endpoint_name: ClassVar[str] = ""
    #: position in the menu (lower first).
    order: ClassVar[int] = 100

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(name=self.title, endpoint=self.endpoint_name, url=f"/{self.endpoint_name}", **kwargs)

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated) and current_user.role in self.roles

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        abort(403)
