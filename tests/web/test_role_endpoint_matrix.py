"""Every URL rule of the app, for every role and for an anonymous visitor: the status the server answers (AC-01).

The expected access is written out here, endpoint by endpoint, from the roles table of DESIGN.md; it is not read
back from the views, so a view that lets in a role it should not is caught. A URL rule that this table does not
name fails the test: a new endpoint must say who may use it. POSTs carry a valid CSRF token (a role refusal is
a 403, not a form error); a second test shows every POST without a token is refused (AC-03). Both engines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from admin.crf.catalogue import CRFS
from admin.extensions import db
from jk500db.models import Base
from jk500db.models.vocabularies import RoleCode
from tests.test_web_access import MakeUser, log_in

DM, MON, INV, STAT, ADM = (
    RoleCode.DATA_MANAGER,
    RoleCode.MONITOR,
    RoleCode.INVESTIGATOR,
    RoleCode.STATISTICIAN,
    RoleCode.ADMIN,
)
EVERYONE = frozenset(RoleCode)
CLINICAL_READERS = frozenset({DM, MON, INV, ADM})  # statisticians see de-identified exports only
NOBODY: frozenset[RoleCode] = frozenset()


@dataclass(frozen=True)
class Access:
    """Who gets past the role check for a GET and for a POST of one endpoint."""

    get: frozenset[RoleCode] = NOBODY
    post: frozenset[RoleCode] = NOBODY


#: Pages and actions that are not a form's model view.
PAGES: dict[str, Access] = {
    "admin.index": Access(get=EVERYONE),
    "auth.change_password": Access(get=EVERYONE, post=EVERYONE),
    "matrix.index": Access(get=CLINICAL_READERS),
    "safety.index": Access(get=EVERYONE),  # counts and grades by subject number: no identifiers
    "queries.index": Access(get=CLINICAL_READERS),
    "queries.act": Access(post=CLINICAL_READERS),  # the service then says who may answer, close or reopen
    "audit.index": Access(get=frozenset({MON, INV, ADM})),
    "audit.verify_chain": Access(post=frozenset({MON, INV, ADM})),
    "casebook.index": Access(get=CLINICAL_READERS),
    "casebook.subject": Access(get=CLINICAL_READERS),
    "sdv.index": Access(get=CLINICAL_READERS),
    "sdv.mark": Access(post=CLINICAL_READERS),  # the service lets only monitors mark (test_page_sdv)
    "signoff.index": Access(get=CLINICAL_READERS),
    "signoff.sign": Access(get=frozenset({INV}), post=CLINICAL_READERS),  # the service signs for investigators only
    "locks.index": Access(get=frozenset({ADM})),
    "locks.create": Access(post=frozenset({ADM})),
    "locks.unlock": Access(post=frozenset({ADM})),
    # Every role exports something (jk500db/export/access.py); asking then limits formats and identified data.
    "exports.index": Access(get=EVERYONE),
    "exports.start": Access(post=EVERYONE),
    # A job's ZIP: its owner and administrators; anyone else (and a job that does not exist) gets 404 from the page.
    "exports.download": Access(get=EVERYONE),
}

#: Every form's model view: data managers enter and correct; the other clinical roles read (and export, apart
#: from administrators); nobody deletes, edits inline or runs bulk actions.
FORM_VIEW: dict[str, Access] = {
    "index_view": Access(get=CLINICAL_READERS),
    "details_view": Access(get=CLINICAL_READERS),
    "create_view": Access(get=frozenset({DM}), post=frozenset({DM})),
    "edit_view": Access(get=frozenset({DM}), post=frozenset({DM})),
    "export": Access(get=frozenset({DM, MON, INV})),
    "ajax_lookup": Access(get=CLINICAL_READERS),
    "raise_query": Access(post=CLINICAL_READERS),  # the service lets monitors and data managers open queries
    "remove_view": Access(post=frozenset({DM})),
    "delete_view": Access(),
    "ajax_update": Access(),
    "action_view": Access(),
}

#: Open to anyone (no login needed).
PUBLIC = frozenset({"auth.login", "auth.logout", "static", "admin.static"})


def expected(endpoint: str) -> Access:
    if endpoint in PAGES:
        return PAGES[endpoint]
    view, _, method = endpoint.partition(".")
    if view.startswith("crf_") and method in FORM_VIEW:
        return FORM_VIEW[method]
    raise AssertionError(f"{endpoint}: no expected access in this test's table; say who may use it")


pytestmark = pytest.mark.usefixtures("demo_cohort")  # tests/web/conftest.py


def _first_ids(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            crf.table_name: db.session.scalar(sa.select(crf.model.id).order_by(crf.model.id).limit(1)) or 1
            for crf in CRFS
        }


def urls(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, URL) for every rule, its arguments filled from the demo cohort."""
    ids = _first_ids(app)
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        path = rule.rule
        path = path.replace("<subject_number>", "01-003").replace("<int:lock_id>", "1").replace("<int:job_id>", "1")
        path = path.replace("<export_type>", "csv")
        assert "<" not in path, f"{rule.rule}: this test does not know how to fill its arguments"
        view = rule.endpoint.partition(".")[0]
        if view.startswith("crf_") and rule.endpoint.split(".")[1] in {
            "details_view", "edit_view", "raise_query", "remove_view"
        }:  # fmt: skip
            path += f"?id={ids[view.removeprefix('crf_')]}"
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((rule.endpoint, method, path))
    return found


def _token(client: FlaskClient) -> str:
    page = client.get("/account/password") if client.get("/").status_code != 302 else client.get("/login")
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_every_rule_has_an_expected_access(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in PUBLIC:
            expected(rule.endpoint)


@pytest.mark.parametrize("role", [*RoleCode, None], ids=lambda r: r.value if r else "anonymous")
def test_AC01_every_url_answers_each_role_as_the_roles_table_says(
    app: Flask, client: FlaskClient, make_user: MakeUser, role: RoleCode | None
) -> None:
    if role is not None:
        log_in(client, make_user(role).email)
    token = _token(client)
    wrong = []
    for endpoint, method, path in urls(app):
        if method == "GET":
            status = client.get(path).status_code
        else:
            status = client.post(path, data={"csrf_token": token}).status_code
        if role is None:
            ok = status == 302
            want = "302 to the login page"
        else:
            access = expected(endpoint)
            allowed = role in (access.get if method == "GET" else access.post)
            ok = status < 500 and (status != 403 if allowed else status == 403)
            want = "allowed (not 403, no error)" if allowed else "403"
        if not ok:
            wrong.append(f"{method} {path} ({endpoint}): got {status}, want {want}")
    assert not wrong, "\n".join(wrong)


def test_AC03_every_post_without_a_csrf_token_is_refused(app: Flask, client: FlaskClient, make_user: MakeUser) -> None:
    log_in(client, make_user(DM).email)
    wrong = [
        f"POST {path}: {status}"
        for endpoint, method, path in urls(app)
        if method == "POST" and (status := client.post(path, data={}).status_code) != 400
    ]
    assert not wrong, "\n".join(wrong)


def test_the_matrix_covers_every_clinical_table(app: Flask) -> None:
    tables = {m.local_table.name for m in Base.registry.mappers if hasattr(m.class_, "__form__")}
    endpoints = {r.endpoint.partition(".")[0] for r in app.url_map.iter_rules()}
    assert {f"crf_{table}" for table in tables} <= endpoints
