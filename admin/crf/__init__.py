"""Data entry: one model view per case-report form, grouped in the menu as the study runs."""

from __future__ import annotations

from flask_admin import Admin

from admin.crf.catalogue import CRFS
from admin.crf.view import CrfView


def init_crf_views(admin: Admin) -> None:
    for crf in CRFS:
        admin.add_view(CrfView(crf))
