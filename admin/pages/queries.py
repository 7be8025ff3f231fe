"""The query inbox: each role's open work on discrepancy notes, with answer, close and reopen.

Data managers see open queries first (they answer them), monitors answered ones (they close or reopen them).
Every action goes through ``jk500db.services.queries``, which enforces who may do what; a refusal is shown
as the rule it breaks and nothing is saved.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import selectinload

from admin.crf.catalogue import crf_of_table
from admin.crf.forms import label_of
from admin.extensions import db, utcnow
from admin.links import record_url
from admin.pages.base import SecurePage
from jk500db.errors import Jk500Error
from jk500db.models import Query, Subject, User
from jk500db.models.vocabularies import QueryStatus, RoleCode
from jk500db.services import queries
from jk500db.services.study_definition import rule_settings

#: The queue each role starts on.
DEFAULT_STATUS = {RoleCode.MONITOR: QueryStatus.ANSWERED}
PAGE_SIZE = 100
ACTIONS = ("answer", "close", "reopen")


def form_label(table_name: str) -> str:
    crf = crf_of_table(table_name)
    return crf.title if crf else table_name.replace("_", " ")


class QueryInbox(SecurePage):
    roles = frozenset({RoleCode.DATA_MANAGER, RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.ADMIN})
    title = "Queries"
    endpoint_name = "queries"
    order = 30

    def _status(self) -> QueryStatus | None:
        """The status filter: a vocabulary value, "all", or the role's default queue."""
        wanted = request.args.get("status")
        if wanted == "all":
            return None
        if wanted in {s.value for s in QueryStatus}:
            return QueryStatus(wanted)
        if wanted:
            flash(f"status: {wanted!r} is not a query status; showing the default", "error")
        return DEFAULT_STATUS.get(current_user.role, QueryStatus.OPEN)

    @expose("/")
    def index(self) -> str:
        status = self._status()
        statement = (
            sa.select(Query, Subject.subject_number)
            .join(Subject, Subject.id == Query.subject_id)
            .options(selectinload(Query.messages))
            .order_by(Query.opened_at.desc(), Query.id.desc())
            .limit(PAGE_SIZE)
        )
        if status is not None:
            statement = statement.where(Query.status == status)
        rows = db.session.execute(statement).all()
        return self.render(
            "jk500/queries.html",
            rows=rows,
            status=status.value if status else "all",
            statuses=[s.value for s in QueryStatus],
            form_label=form_label,
            field_label=label_of,
            record_url=record_url,
            page_size=PAGE_SIZE,
        )

    @expose("/act", methods=["POST"])
    def act(self) -> ResponseReturnValue:
        action = request.form.get("action", "")
        query = db.session.get(Query, request.form.get("query", type=int) or 0)
        back = redirect(url_for(".index", status=request.form.get("status") or None))
        if action not in ACTIONS or query is None:
            flash("Not saved: that query or action does not exist; reload the page", "error")
            return back
        try:
            self._apply(action, query, request.form.get("text", ""))
            db.session.commit()
        except Jk500Error as error:
            db.session.rollback()
            flash(f"Not saved: {error}", "error")
            return back
        flash(f"Query {action}ed." if action != "close" else "Query closed.", "info")
        return back

    def _apply(self, action: str, query: Query, text: str) -> None:
        session = db.session()
        actor = session.get_one(User, current_user.id)
        now = utcnow()
        handlers: dict[str, Any] = {
            "answer": lambda: queries.answer_query(session, query, actor=actor, text=text, now=now),
            "close": lambda: queries.close_query(
                session, query, actor=actor, text=text, settings=rule_settings(session), now=now
            ),
            "reopen": lambda: queries.reopen_query(session, query, actor=actor, text=text, now=now),
        }
        handlers[action]()


PAGE = QueryInbox
