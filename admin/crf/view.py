"""The model view of one case-report form: list, record page, first entry and correction with a reason.

Every write goes through ``jk500db.services.records`` (the one write path): first entry through ``add_record``,
a correction through ``update_record`` with the reason for change and the version the person saw, a removal
through ``remove_record``. The request commits once; a refusal (a hard edit check, a database rule, a stale
edit, a lock) rolls everything back, names the field and the rule beside the input, and shows the form again
with what was typed. A soft edit check saves and says which query it opened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import abort, flash, g, redirect, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_admin.helpers import get_form_data
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from admin.base_view import READ, Action, SecureModelView
from admin.crf.catalogue import IDENTIFIERS, Crf
from admin.crf.forms import (
    INTERNAL,
    REASON_FIELD,
    SEEN_EVENT_FIELD,
    VERSION_FIELD,
    CrfForm,
    choices_for,
    entries,
    form_class,
    label_of,
    model_values,
    unit_of,
)
from admin.extensions import db, utcnow
from admin.links import crf_endpoint
from admin.pages.base import words
from jk500db.errors import Jk500Error, ValidationError, validation_error_from_integrity
from jk500db.export.cells import neutralise_formula
from jk500db.models import AuditEvent, CtcaeTerm, Query, Subject, User, Visit
from jk500db.models.base import derived_columns
from jk500db.models.docs import column_doc
from jk500db.models.types import PartialDate, Vocabulary
from jk500db.models.vocabularies import QueryOrigin, QueryStatus, RoleCode
from jk500db.services import queries, records, sdv, signatures
from jk500db.services.locks import covering_locks, record_scope

#: Who does what on the forms (DESIGN.md roles): data managers enter and correct; monitors, investigators and
#: administrators read (monitors raise queries from the record page); statisticians use the de-identified
#: exports, never the identified forms. Nobody deletes: a record is removed with a reason and stays audited.
CRF_PERMISSIONS = {
    RoleCode.DATA_MANAGER: READ | {Action.CREATE, Action.EDIT, Action.EXPORT},
    RoleCode.MONITOR: READ | {Action.EXPORT},
    RoleCode.INVESTIGATOR: READ | {Action.EXPORT},
    RoleCode.ADMIN: READ,
}


def display(value: Any) -> str:
    """A stored value as a person reads it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Enum):
        return words(str(value.value))
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, (dt.date, PartialDate)):
        return value.isoformat()
    return str(value)


def _same(old: Any, new: Any) -> bool:
    """Equal as entered: 2.10 and 2.1 are different entries even though the numbers are equal."""
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return str(old) == str(new)
    if isinstance(old, Enum) or isinstance(new, Enum):
        return (None if old is None else str(old)) == (None if new is None else str(new))
    return bool(old == new)


class SubjectFilter(BaseSQLAFilter):
    """ "Subject equals 01-003" on any table with a subject_id, without a join in the list query."""

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        numbers = sa.select(Subject.id).where(Subject.subject_number == value.strip())
        return query.filter(self.column.in_(numbers))

    def operation(self) -> str:
        return "equals"


class CrfView(SecureModelView):
    permissions: ClassVar = CRF_PERMISSIONS
    can_set_page_size = False
    page_size = 50
    column_display_pk = False
    export_types: ClassVar = ["csv"]
    list_template = "jk500/crf_list.html"
    details_template = "jk500/crf_details.html"
    create_template = "jk500/crf_form.html"
    edit_template = "jk500/crf_form.html"

    def __init__(self, crf: Crf) -> None:
        self.crf = crf
        table: sa.Table = crf.model.__table__  # type: ignore[attr-defined]
        self.table_name = table.name
        self.has_subject = "subject_id" in table.c
        self.has_visit = "visit_id" in table.c
        lead = (["subject_id"] if self.has_subject else []) + (["visit_id"] if self.has_visit else [])
        self.column_list = lead + [name for name in crf.listed if name not in lead]
        self.column_details_list = self.column_list  # the record page lists its own fields (crf_details.html)
        self.column_labels = {name: label_of(name) for name in [*self.column_list, *(c.name for c in table.columns)]}
        self.column_formatters = {name: self._formatter(name) for name in self.column_list}
        self.column_sortable_list = [n for n in self.column_list if n in table.c]
        self.column_default_sort = ("id", True)
        self.column_export_list = [
            name
            for name in [c.name for c in table.columns]
            if name not in INTERNAL - {"removed_at", "removed_reason"} and name not in IDENTIFIERS.get(table.name, ())
        ]
        self.column_formatters_export = {name: self._export_formatter(name) for name in self.column_export_list}
        if self.has_subject:
            self.column_filters = [SubjectFilter(table.c.subject_id, "Subject")]
        elif table.name == "subject":
            self.column_filters = [SubjectFilter(table.c.id, "Subject")]
        super().__init__(
            crf.model,
            db,
            name=crf.title,
            category=crf.group,
            endpoint=crf_endpoint(table.name),
            url=f"/crf/{table.name}",
        )

    # -- the list ----------------------------------------------------------------------------------------

    def get_query(self) -> Any:
        return super().get_query().filter(self.model.removed_at.is_(None))

    def get_count_query(self) -> Any:
        return super().get_count_query().filter(self.model.removed_at.is_(None))

    def get_list(self, *args: Any, **kwargs: Any) -> Any:
        """One page of records, and the words for their subjects, visits and terms in one query each."""
        count, rows = super().get_list(*args, **kwargs)
        g.crf_labels = self._labels_for(list(rows))
        return count, rows

    def _labels_for(self, rows: list[Any]) -> dict[str, dict[int, str]]:
        session = db.session()
        labels: dict[str, dict[int, str]] = {}
        subject_ids = {r.subject_id for r in rows} if self.has_subject else set()
        if subject_ids:
            found = session.execute(sa.select(Subject.id, Subject.subject_number).where(Subject.id.in_(subject_ids)))
            labels["subject_id"] = {row.id: row.subject_number for row in found}
        visit_ids = {r.visit_id for r in rows if r.visit_id} if self.has_visit else set()
        if visit_ids:
            visits = session.execute(
                sa.select(Visit.id, Visit.visit_code, Visit.sequence).where(Visit.id.in_(visit_ids))
            )
            labels["visit_id"] = {v.id: v.visit_code + (f" #{v.sequence}" if v.sequence > 1 else "") for v in visits}
        if "ctcae_term_id" in self.column_list:
            term_ids = {r.ctcae_term_id for r in rows}
            terms = session.execute(sa.select(CtcaeTerm.id, CtcaeTerm.term).where(CtcaeTerm.id.in_(term_ids)))
            labels["ctcae_term_id"] = {t.id: t.term for t in terms}
        return labels

    def _formatter(self, name: str) -> Callable[..., str]:
        def format_cell(view: Any, context: Any, model: Any, column: str) -> str:
            value = getattr(model, name)
            lookup = g.get("crf_labels", {}).get(name)
            if lookup is not None and value is not None:
                return lookup.get(value, "—")
            return display(value)

        return format_cell

    # -- export: spreadsheet-safe, no direct identifiers --------------------------------------------------

    def _export_formatter(self, name: str) -> Callable[..., Any]:
        def format_cell(view: Any, context: Any, model: Any, column: str) -> Any:
            value = getattr(model, name)
            if value is None:
                return ""
            if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                return str(value)
            return neutralise_formula(display(value))

        return format_cell

    # -- the forms ---------------------------------------------------------------------------------------

    def scaffold_form(self) -> type[CrfForm]:
        return CrfForm  # the real form is built for each request, with that request's choices

    def _subject_of_request(self) -> int | None:
        if not self.has_subject:
            return None
        return request.values.get("subject_id", type=int)

    def create_form(self, obj: Any = None) -> CrfForm:
        subject_id = self._subject_of_request()
        cls = form_class(self.crf, db.session(), subject_id=subject_id, editing=False)
        form = cls(get_form_data(), obj=obj)
        if request.method == "GET":
            for name in ("subject_id", "visit_id"):
                given = request.args.get(name, type=int)
                if name in form and given:
                    form[name].data = given
        return form

    def edit_form(self, obj: Any = None) -> CrfForm:
        cls = form_class(self.crf, db.session(), subject_id=getattr(obj, "subject_id", None), editing=True)
        form = cls(get_form_data(), obj=obj)
        if request.method == "GET" and obj is not None:
            form[VERSION_FIELD].data = str(obj.version)
            form[SEEN_EVENT_FIELD].data = str(self._newest_event(obj.id))
        return form

    def _newest_event(self, record_id: int) -> int:
        newest = db.session.scalar(
            sa.select(sa.func.max(AuditEvent.id)).where(
                AuditEvent.table_name == self.table_name, AuditEvent.row_key == str(record_id)
            )
        )
        return int(newest or 0)

    def _changed_since(self, model: Any, seen_event: int) -> list[str]:
        """What others changed in the record after the form was opened: field, old and new value, who, when."""
        events = db.session.scalars(
            sa.select(AuditEvent)
            .where(
                AuditEvent.table_name == self.table_name,
                AuditEvent.row_key == str(model.id),
                AuditEvent.id > seen_event,
            )
            .order_by(AuditEvent.id)
        ).all()
        derived = derived_columns(self.model.__table__)
        history = self._history(model, [e for e in events if e.field_name not in derived])
        return [
            f"{field} {old} → {new} ({entry['who']}, {entry['when']})"
            for entry in history
            for field, old, new in entry["changes"]
        ]

    def create_model(self, form: CrfForm) -> Any:
        record = self.model()
        for name, value in model_values(self.crf, form):
            setattr(record, name, value)
        started = utcnow()
        if not self._save(form, lambda: records.add_record(db.session(), record)):
            return False
        self._announce_queries(record, started)
        return record

    def update_model(self, form: CrfForm, model: Any) -> bool:
        changes = {
            name: value for name, value in model_values(self.crf, form) if not _same(getattr(model, name), value)
        }
        if not changes:
            flash("Nothing was changed, so nothing was saved.", "info")
            return True
        seen = int(form[VERSION_FIELD].data or 0)
        reason = form[REASON_FIELD].data
        started = utcnow()
        if not self._save(
            form, lambda: records.update_record(db.session(), model, changes, seen_version=seen, reason=reason)
        ):
            if model.version != seen:  # a stale edit: say what the others changed
                changed = self._changed_since(model, int(form[SEEN_EVENT_FIELD].data or 0))
                if changed:
                    flash("Changed since you opened the form: " + "; ".join(changed), "warning")
            return False
        self._announce_queries(model, started)
        return True

    def _save(self, form: CrfForm, write: Callable[[], None]) -> bool:
        """Write and commit; on any refusal roll back, and say what and where."""
        session = db.session()
        try:
            write()
            session.commit()  # derived values and edit checks run here too (before_commit)
        except IntegrityError as exc:
            session.rollback()
            self._refused(form, validation_error_from_integrity(exc))
            return False
        except Jk500Error as exc:
            session.rollback()
            self._refused(form, exc)
            return False
        return True

    def _refused(self, form: CrfForm, error: Jk500Error) -> None:
        if isinstance(error, ValidationError):
            for name in (error.field, f"{error.field}_date", f"{error.field}_id"):
                if name in form:
                    form[name].errors = [*form[name].errors, error.rule]
                    break
        flash(f"Not saved: {error}", "error")

    def handle_view_exception(self, exc: Exception) -> bool:
        db.session.rollback()
        return super().handle_view_exception(exc)

    def _announce_queries(self, record: Any, since: dt.datetime) -> None:
        """A soft edit check saved the data and opened a query: say so, with the query's words."""
        opened = db.session.scalars(
            sa.select(Query).where(
                Query.table_name == self.table_name,
                Query.record_id == record.id,
                Query.origin != QueryOrigin.MANUAL,
                Query.status == QueryStatus.OPEN,
                Query.opened_at >= since,
            )
        ).all()
        for query in opened:
            text = query.messages[0].text if query.messages else ""
            flash(f"Saved, and a query was opened on {label_of(query.field_name or 'record')}: {text}", "warning")

    def get_save_return_url(self, model: Any, is_created: bool = False) -> str:
        return self.get_url(".details_view", id=model.id)

    # -- the record page ---------------------------------------------------------------------------------

    def render(self, template: str, **kwargs: Any) -> str:
        model = kwargs.get("model")
        if template == self.details_template and model is not None:
            kwargs.update(self._record_page(model))
        if template == self.create_template or template == self.edit_template:
            kwargs.update(self._form_page(model))
        return str(super().render(template, **kwargs))

    def _subject_number(self, model: Any) -> str | None:
        subject_id = model.id if self.table_name == "subject" else getattr(model, "subject_id", None)
        if subject_id is None:
            return None
        return db.session.scalar(sa.select(Subject.subject_number).where(Subject.id == subject_id))

    def _form_page(self, model: Any) -> dict[str, Any]:
        subject_id = getattr(model, "subject_id", None) if model is not None else self._subject_of_request()
        number = None
        if subject_id is not None:
            number = db.session.scalar(sa.select(Subject.subject_number).where(Subject.id == subject_id))
        return {
            "crf": self.crf,
            "subject_number": number,
            "needs_subject": self.has_subject and model is None and subject_id is None,
            "subjects": choices_for(db.session(), "subject", None) if self.has_subject and model is None else [],
            "derived": self._derived(model) if model is not None else [],
            "reason_field": REASON_FIELD,
        }

    def _derived(self, model: Any) -> list[tuple[str, str, str]]:
        table: sa.Table = self.model.__table__
        return [
            (label_of(name), display(getattr(model, name)), column_doc(self.model, name).removeprefix("derived: "))
            for name in [c.name for c in table.columns]
            if name in derived_columns(table)
        ]

    def _entered(self, model: Any) -> list[tuple[str, str, str]]:
        session = db.session()
        shown = []
        for entry in entries(self.crf):
            value = getattr(model, entry.name)
            text = display(value)
            foreign = next(iter(entry.column.foreign_keys), None)
            if foreign is not None and value is not None:
                target = foreign.column.table.name
                subject_id = getattr(model, "subject_id", None)
                text = (
                    dict(choices_for(session, target, subject_id)).get(value, "—")
                    if target != "ctcae_term"
                    else (session.get_one(CtcaeTerm, value).term)
                )
            unit = unit_of(entry.name)
            shown.append((label_of(entry.name), text + (f" {unit}" if unit and value is not None else ""), entry.name))
        return shown

    def _stored_text(self, name: str, raw: str | None, subject_id: int | None, keys: dict[str, dict[Any, str]]) -> str:
        """An audited value (stored as text) as the form shows it: words for codes, labels for linked records."""
        if raw is None:
            return "—"
        table: sa.Table = self.model.__table__
        column = table.c.get(name)
        if column is None:
            return raw
        if isinstance(column.type, sa.Boolean):
            return {"1": "Yes", "true": "Yes", "0": "No", "false": "No"}.get(raw.lower(), raw)
        if isinstance(column.type, Vocabulary):
            return words(raw)
        foreign = next(iter(column.foreign_keys), None)
        if foreign is None:
            return raw
        target = foreign.column.table.name
        if target == "user_account":
            return "(a user)"
        if target not in keys:
            keys[target] = dict(choices_for(db.session(), target, subject_id)) if target != "ctcae_term" else {}
        if target == "ctcae_term" and raw.isdigit() and int(raw) not in keys[target]:
            term = db.session.get(CtcaeTerm, int(raw))
            keys[target][int(raw)] = term.term if term else "—"
        return keys[target].get(int(raw), "(a removed record)") if raw.isdigit() else raw

    def _history(self, model: Any, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
        """The record's audit events, one entry per transaction: when, who, what, the changes and the reason."""
        subject_id = model.id if self.table_name == "subject" else getattr(model, "subject_id", None)
        keys: dict[str, dict[Any, str]] = {}
        entries_by_transaction: dict[str, dict[str, Any]] = {}
        for event in events:
            if event.field_name in INTERNAL - {"removed_at", "removed_reason"}:
                continue
            key = event.transaction_id or f"event {event.id}"
            entry = entries_by_transaction.setdefault(
                key,
                {
                    "when": event.occurred_at.replace("T", " ")[:16] + " UTC",
                    "who": event.actor_name,
                    "action": words(str(event.action)),
                    "reason": event.reason or "",
                    "changes": [],
                },
            )
            if event.field_name:
                entry["changes"].append(
                    (
                        label_of(event.field_name),
                        self._stored_text(event.field_name, event.old_value, subject_id, keys),
                        self._stored_text(event.field_name, event.new_value, subject_id, keys),
                    )
                )
        return list(entries_by_transaction.values())

    def _record_page(self, model: Any) -> dict[str, Any]:
        session = db.session()
        scope = record_scope(session, self.table_name, model.id)
        events = session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.table_name == self.table_name, AuditEvent.row_key == str(model.id))
            .order_by(AuditEvent.id)
        ).all()
        record_queries = session.scalars(
            sa.select(Query)
            .where(Query.table_name == self.table_name, Query.record_id == model.id)
            .order_by(Query.opened_at.desc())
        ).all()
        sdv_state = (
            sdv.sdv_status(session, scope.subject_id, scope.visit_id, scope.form_code) if scope.form_code else None
        )
        return {
            "crf": self.crf,
            "subject_number": self._subject_number(model),
            "entered": self._entered(model),
            "derived": self._derived(model),
            "history": self._history(model, events),
            "record_queries": record_queries,
            "sdv_state": sdv_state,
            "signatures": signatures.record_signatures(session, self.table_name, model.id),
            "locks": covering_locks(session, scope),
            "fields": [(entry.columns[0], label_of(entry.name)) for entry in entries(self.crf)],
            "may_raise_query": current_user.role in queries.OPENERS,
            "may_remove": self.can_edit,
            "words": words,
            "label_of": label_of,
            "display": display,
        }

    # -- actions from the record page ---------------------------------------------------------------------

    @expose("/query/", methods=("POST",))
    def raise_query(self) -> ResponseReturnValue:
        """A monitor or data manager raises a query on the record or one of its fields."""
        record = self.get_one(request.args.get("id", ""))
        if record is None:
            abort(404)
        field = request.form.get("field") or None
        if field is not None and field not in self.model.__table__.c:
            field = None
        session = db.session()
        try:
            queries.open_query(
                session,
                actor=session.get_one(User, current_user.id),
                subject_id=record.id if self.table_name == "subject" else record.subject_id,
                table_name=self.table_name,
                record_id=record.id,
                field_name=field,
                text=request.form.get("text", ""),
                now=utcnow(),
            )
            session.commit()
            flash("Query opened.", "info")
        except Jk500Error as exc:
            session.rollback()
            flash(f"Not saved: {exc}", "error")
        return redirect(self.get_url(".details_view", id=record.id))

    @expose("/remove/", methods=("POST",))
    def remove_view(self) -> ResponseReturnValue:
        """Remove a record entered in error: kept in the audit trail, hidden from the lists, with a reason."""
        if not self.can_edit:
            abort(403)
        record = self.get_one(request.args.get("id", ""))
        if record is None:
            abort(404)
        session = db.session()
        try:
            records.remove_record(
                session,
                record,
                seen_version=request.form.get("seen_version", type=int) or 0,
                reason=request.form.get("reason", ""),
                now=utcnow(),
            )
            session.commit()
        except Jk500Error as exc:
            session.rollback()
            flash(f"Not removed: {exc}", "error")
            return redirect(self.get_url(".details_view", id=record.id))
        flash("Record removed; its values stay in the audit trail.", "info")
        return redirect(self.get_url(".index_view"))
