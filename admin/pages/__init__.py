"""Pages that are not one table's list: the status matrix, the safety dashboard, the audit trail viewer...

Each module here defines ``PAGE``, a ``SecurePage`` subclass; ``init_pages`` registers every one, so a new
page is one new module.
"""

from __future__ import annotations

import importlib
import pkgutil

from flask_admin import Admin

from admin.pages.base import SecurePage


def page_classes() -> list[type[SecurePage]]:
    classes = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module.name == "base":
            continue
        page = getattr(importlib.import_module(f"{__name__}.{module.name}"), "PAGE", None)
        if page is not None:
            classes.append(page)
    return sorted(classes, key=lambda cls: cls.order)


def init_pages(admin: Admin) -> None:
    for cls in page_classes():
        admin.add_view(cls())
