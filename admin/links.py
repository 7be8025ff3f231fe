"""Addresses of the data-entry forms, for pages that link to a record (casebook, matrix, SDV, sign-off, queries).

Each case-report-form table has one model view at ``/crf/<table>/`` with the endpoint ``crf_<table>``
(``admin.crf``). Pages ask here instead of building the URL themselves, so the scheme lives in one place.
"""

from __future__ import annotations

from flask import current_app, url_for


def crf_endpoint(table_name: str) -> str:
    return f"crf_{table_name}"


def _has(endpoint: str) -> bool:
    return endpoint in current_app.view_functions


def record_url(table_name: str, record_id: int, *, back: str | None = None) -> str | None:
    """The page of one record (values, derived values with reasons, history; an Edit button for those who may),
    or None when the table has no form."""
    endpoint = f"{crf_endpoint(table_name)}.details_view"
    if not _has(endpoint):
        return None
    return url_for(endpoint, id=record_id, url=back) if back else url_for(endpoint, id=record_id)


def new_record_url(table_name: str, *, subject_id: int, visit_id: int | None = None) -> str | None:
    """The blank form for a new record of the subject (at the visit, when the form belongs to one)."""
    endpoint = f"{crf_endpoint(table_name)}.create_view"
    if not _has(endpoint):
        return None
    if visit_id is None:
        return url_for(endpoint, subject_id=subject_id)
    return url_for(endpoint, subject_id=subject_id, visit_id=visit_id)


def casebook_url(subject_number: str) -> str | None:
    """The subject's casebook (admin/pages/casebook.py), or None when the page is not installed."""
    endpoint = "casebook.subject"
    return url_for(endpoint, subject_number=subject_number) if _has(endpoint) else None
