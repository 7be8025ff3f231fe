"""Queries: who opens, answers, closes and reopens them (AC-01), every message and status change audited
(AT-01, AT-03), and locks (not freezes) stopping them in the database (LK-01). Both engines."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.history import record_history
from jk500db.clinical.settings import RuleSettings
from jk500db.errors import ValidationError
from jk500db.models import LabResult, Query, QueryMessage, Subject, User, Visit
from jk500db.models.vocabularies import LockLevel, LockMode, QueryOrigin, QueryStatus, RoleCode
from jk500db.services import locks
from jk500db.services.queries import answer_query, close_query, open_automatic_query, open_query, reopen_query
from tests import factories

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
#: hashed once: these tests never log in, and argon2 is slow on purpose.
SETTINGS = RuleSettings()


make_user = factories.user
act = factories.act


class Trial:
    """A subject with a lab result at a visit; one user of each working role."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.monitor = make_user(session, RoleCode.MONITOR)
        self.monitor_2 = make_user(session, RoleCode.MONITOR)
        self.data_manager = make_user(session, RoleCode.DATA_MANAGER)
        self.data_manager_2 = make_user(session, RoleCode.DATA_MANAGER)
        self.admin = make_user(session, RoleCode.ADMIN)
        self.subject: Subject = factories.subject(session)
        self.visit = Visit(subject_id=self.subject.id, visit_code="D1")
        session.add(self.visit)
        session.flush()
        self.lab: LabResult = factories.lab_result(session, subject_id=self.subject.id, visit_id=self.visit.id)

    def open(self, by: User | None = None, field: str | None = "value") -> Query:
        by = by or self.monitor
        act(self.session, by)
        return open_query(
            self.session,
            actor=by,
            subject_id=self.subject.id,
            table_name="lab_result",
            record_id=self.lab.id,
            field_name=field,
            text="ANC 0.4 but the source says 0.45?",
            now=NOW,
        )

    def answer(self, query: Query, by: User | None = None) -> QueryMessage:
        by = by or self.data_manager
        act(self.session, by)
        return answer_query(self.session, query, actor=by, text="corrected to 0.45", now=NOW)

    def close(self, query: Query, by: User | None = None, settings: RuleSettings = SETTINGS) -> QueryMessage:
        by = by or self.monitor
        act(self.session, by)
        return close_query(self.session, query, actor=by, text="resolved", settings=settings, now=NOW)

    def lock(self, level: LockLevel, mode: LockMode) -> None:
        act(self.session, self.admin)
        locks.lock(
            self.session, actor=self.admin, level=level, mode=mode, subject_id=self.subject.id, reason="review done"
        )


@pytest.fixture
def trial(session: Session) -> Trial:
    return Trial(session)


events_for = record_history


# --- opening ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [RoleCode.MONITOR, RoleCode.DATA_MANAGER])
@pytest.mark.parametrize("field", [None, "value"])
def test_AC01_a_monitor_or_data_manager_opens_a_query_on_a_record_or_one_field(
    trial: Trial, role: RoleCode, field: str | None
) -> None:
    opener = trial.monitor if role is RoleCode.MONITOR else trial.data_manager
    query = trial.open(by=opener, field=field)
    assert (query.status, query.origin, query.opened_by_id, query.field_name) == (
        QueryStatus.OPEN,
        QueryOrigin.MANUAL,
        opener.id,
        field,
    )
    assert [(m.author_id, m.status_after, m.text) for m in query.messages] == [
        (opener.id, QueryStatus.OPEN, "ANC 0.4 but the source says 0.45?")
    ]


@pytest.mark.parametrize("role", [RoleCode.INVESTIGATOR, RoleCode.STATISTICIAN, RoleCode.ADMIN])
def test_AC01_other_roles_cannot_open_a_query(trial: Trial, role: RoleCode) -> None:
    user = make_user(trial.session, role)
    with pytest.raises(ValidationError) as caught:
        trial.open(by=user)
    assert caught.value.field == "role"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_id": 999_999}, "record_id"),
        ({"table_name": "user_account"}, "table_name"),
        ({"field_name": "no_such_field"}, "field_name"),
        ({"text": "  "}, "text"),
    ],
)
def test_a_query_names_an_existing_record_field_and_says_something(
    trial: Trial, changes: dict[str, object], field: str
) -> None:
    act(trial.session, trial.monitor)
    arguments: dict[str, object] = {
        "subject_id": trial.subject.id,
        "table_name": "lab_result",
        "record_id": trial.lab.id,
        "field_name": "value",
        "text": "please check",
    }
    arguments.update(changes)
    with pytest.raises(ValidationError) as caught:
        open_query(trial.session, actor=trial.monitor, **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_query_on_another_subjects_record_is_refused(trial: Trial) -> None:
    other = factories.subject(trial.session, subject_number="01-002", screening_number="S002")
    act(trial.session, trial.monitor)
    with pytest.raises(ValidationError) as caught:
        open_query(
            trial.session,
            actor=trial.monitor,
            subject_id=other.id,
            table_name="lab_result",
            record_id=trial.lab.id,
            text="?",
        )
    assert caught.value.field == "subject_id"


def test_an_edit_check_opens_one_query_per_discrepancy_with_no_person_as_opener(trial: Trial) -> None:
    def raise_it() -> Query:
        return open_automatic_query(
            trial.session,
            rule_id="LAB-RANGE-01",
            subject_id=trial.subject.id,
            table_name="lab_result",
            record_id=trial.lab.id,
            field_name="value",
            text="value below the lower limit of normal; please confirm",
        )

    first = raise_it()
    assert (first.origin, first.rule_id, first.opened_by_id) == (QueryOrigin.EDIT_CHECK, "LAB-RANGE-01", None)
    assert [(m.author_id, m.status_after) for m in first.messages] == [(None, QueryStatus.OPEN)]
    assert raise_it() is first  # the check ran again on the next save: same conversation
    trial.answer(first)
    trial.close(first)
    assert raise_it().id != first.id  # a closed discrepancy that comes back is a new query


# --- answering, closing, reopening ---------------------------------------------------------------------------


def test_a_query_goes_open_answered_closed_with_every_message_kept(trial: Trial) -> None:
    query = trial.open()
    trial.answer(query)
    assert (query.status, query.answered_by_id, query.answered_at) == (QueryStatus.ANSWERED, trial.data_manager.id, NOW)
    trial.close(query)
    assert (query.status, query.closed_by_id, query.closed_at) == (QueryStatus.CLOSED, trial.monitor.id, NOW)
    trial.session.expire(query)
    assert [(m.author_id, m.status_after) for m in query.messages] == [
        (trial.monitor.id, QueryStatus.OPEN),
        (trial.data_manager.id, QueryStatus.ANSWERED),
        (trial.monitor.id, QueryStatus.CLOSED),
    ]


@pytest.mark.parametrize("role", [RoleCode.MONITOR, RoleCode.INVESTIGATOR, RoleCode.STATISTICIAN, RoleCode.ADMIN])
def test_AC01_only_a_data_manager_answers(trial: Trial, role: RoleCode) -> None:
    query = trial.open()
    with pytest.raises(ValidationError) as caught:
        trial.answer(query, by=make_user(trial.session, role))
    assert caught.value.field == "role"
    assert query.status is QueryStatus.OPEN


@pytest.mark.parametrize("role", [RoleCode.INVESTIGATOR, RoleCode.STATISTICIAN, RoleCode.ADMIN])
def test_AC01_only_a_monitor_or_data_manager_closes(trial: Trial, role: RoleCode) -> None:
    query = trial.open()
    trial.answer(query)
    with pytest.raises(ValidationError) as caught:
        trial.close(query, by=make_user(trial.session, role))
    assert caught.value.field == "role"


#: The study where data managers may close queries too (setting queries.data_manager_may_close).
DM_CLOSE = RuleSettings(data_manager_may_close=True)


def test_AC01_by_default_a_data_manager_does_not_close_queries(trial: Trial) -> None:
    """DESIGN.md's roles: data managers answer queries, monitors close them (segregation of duties)."""
    query = trial.open()
    trial.answer(query)
    with pytest.raises(ValidationError) as caught:
        trial.close(query, by=trial.data_manager_2)
    assert caught.value.field == "role"
    trial.close(query, by=trial.monitor)
    assert query.status is QueryStatus.CLOSED


def test_the_person_who_answered_cannot_close_when_the_settings_say_so(trial: Trial) -> None:
    query = trial.open()
    trial.answer(query)
    with pytest.raises(ValidationError) as caught:
        trial.close(query, by=trial.data_manager, settings=DM_CLOSE)
    assert caught.value.field == "closed_by_id"
    trial.close(query, by=trial.data_manager_2, settings=DM_CLOSE)  # another data manager may
    assert query.status is QueryStatus.CLOSED


def test_the_answerer_may_close_when_the_setting_is_off(trial: Trial) -> None:
    query = trial.open()
    trial.answer(query)
    trial.close(
        query,
        by=trial.data_manager,
        settings=RuleSettings(closer_must_differ_from_answerer=False, data_manager_may_close=True),
    )
    assert query.status is QueryStatus.CLOSED


def test_a_monitor_reopens_an_answered_query_and_it_can_be_answered_again(trial: Trial) -> None:
    query = trial.open()
    trial.answer(query)
    act(trial.session, trial.data_manager)
    with pytest.raises(ValidationError, match="role"):
        reopen_query(trial.session, query, actor=trial.data_manager, text="reopen")
    act(trial.session, trial.monitor_2)
    reopen_query(trial.session, query, actor=trial.monitor_2, text="source still says 0.47")
    assert query.status is QueryStatus.OPEN
    trial.answer(query)
    assert [m.status_after for m in query.messages] == [
        QueryStatus.OPEN,
        QueryStatus.ANSWERED,
        QueryStatus.OPEN,
        QueryStatus.ANSWERED,
    ]


def test_the_status_only_moves_along_the_workflow(trial: Trial) -> None:
    query = trial.open()
    act(trial.session, trial.monitor)
    with pytest.raises(ValidationError, match="an open query cannot be reopened"):
        reopen_query(trial.session, query, actor=trial.monitor, text="?")
    trial.answer(query)
    with pytest.raises(ValidationError, match="an answered query cannot be answered"):
        trial.answer(query, by=trial.data_manager_2)
    trial.close(query)
    with pytest.raises(ValidationError, match="a closed query cannot be answered"):
        trial.answer(query)
    with pytest.raises(ValidationError, match="a closed query cannot be closed"):
        trial.close(query, by=trial.monitor_2)


# --- audit -------------------------------------------------------------------------------------------------


def test_AT01_AT03_every_message_and_status_change_is_audited_with_actor_and_reason(trial: Trial) -> None:
    query = trial.open()
    trial.answer(query)
    trial.close(query)
    query_events = events_for(trial.session, "query", query.id)
    status_changes = [
        (e.old_value, e.new_value, e.actor_id, e.reason) for e in query_events if e.field_name == "status"
    ]
    assert status_changes == [
        (None, "open", trial.monitor.id, None),
        ("open", "answered", trial.data_manager.id, "query answered"),
        ("answered", "closed", trial.monitor.id, "query closed"),
    ]
    message_events = [
        e
        for m in query.messages
        for e in events_for(trial.session, "query_message", m.id)
        if e.field_name == "text" and e.action == "insert"
    ]
    assert [(e.new_value, e.actor_id) for e in message_events] == [
        ("ANC 0.4 but the source says 0.45?", trial.monitor.id),
        ("corrected to 0.45", trial.data_manager.id),
        ("resolved", trial.monitor.id),
    ]
    assert {e.subject_id for e in query_events} == {trial.subject.id}


# --- locks: a freeze allows queries, a lock does not -------------------------------------------------------


def test_LK01_a_frozen_subject_still_takes_queries_and_answers(trial: Trial) -> None:
    trial.lock(LockLevel.SUBJECT, LockMode.FREEZE)
    query = trial.open()
    trial.answer(query)
    trial.close(query)
    assert query.status is QueryStatus.CLOSED


def test_LK01_a_locked_subject_refuses_new_queries_and_messages(trial: Trial) -> None:
    query = trial.open()
    trial.lock(LockLevel.SUBJECT, LockMode.LOCK)
    with pytest.raises(ValidationError) as caught:
        trial.open()
    assert caught.value.field == "lock"
    with pytest.raises(ValidationError, match="locked"):
        trial.answer(query)
    assert query.status is QueryStatus.OPEN


def test_LK01_the_database_refuses_queries_and_messages_on_locked_data_whatever_the_path(trial: Trial) -> None:
    query = trial.open()
    trial.lock(LockLevel.SUBJECT, LockMode.LOCK)
    session = trial.session
    act(session, trial.monitor, "late question")
    refused = "jk500-lock: the subject is locked: no new queries or messages"
    with pytest.raises(sa.exc.DatabaseError, match=refused), session.begin_nested():
        session.execute(
            sa.insert(Query).values(
                subject_id=trial.subject.id,
                table_name="lab_result",
                record_id=trial.lab.id,
                status="open",
                origin="manual",
                opened_by_id=trial.monitor.id,
                opened_at=NOW,
            )
        )
    with pytest.raises(sa.exc.DatabaseError, match=refused), session.begin_nested():
        session.execute(
            sa.text(
                "INSERT INTO query_message (query_id, author_id, written_at, text, status_after) "
                "VALUES (:q, :a, '2026-03-02 09:00:00.000000', 'psst', 'open')"
            ),
            {"q": query.id, "a": trial.monitor.id},
        )
    with pytest.raises(sa.exc.DatabaseError, match=refused), session.begin_nested():
        session.execute(sa.text("UPDATE query SET status = 'answered' WHERE id = :q"), {"q": query.id})


def test_LK01_a_visit_lock_stops_queries_on_that_visit_only(trial: Trial) -> None:
    other_lab = factories.lab_result(trial.session, subject_id=trial.subject.id, test_code="PLAT")  # no visit
    act(trial.session, trial.admin)
    locks.lock(
        trial.session,
        actor=trial.admin,
        level=LockLevel.VISIT,
        mode=LockMode.LOCK,
        subject_id=trial.subject.id,
        visit_id=trial.visit.id,
        reason="visit reviewed",
    )
    with pytest.raises(ValidationError, match="locked"):
        trial.open()
    act(trial.session, trial.monitor)
    query = open_query(
        trial.session,
        actor=trial.monitor,
        subject_id=trial.subject.id,
        table_name="lab_result",
        record_id=other_lab.id,
        text="platelets?",
    )
    assert query.status is QueryStatus.OPEN
    with pytest.raises(sa.exc.DatabaseError, match="jk500-lock: the visit is locked: no new queries"):
        trial.session.execute(
            sa.insert(Query).values(
                subject_id=trial.subject.id,
                table_name="lab_result",
                record_id=trial.lab.id,
                status="open",
                origin="manual",
                opened_by_id=trial.monitor.id,
                opened_at=NOW,
            )
        )
