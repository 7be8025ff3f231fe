"""The derivation pass: recompute derived values and run edit checks for what this transaction changed.

It runs when a session commits (``install`` registers it on every ``Session``), and services call
``derive_pending`` after their flush so the values are visible at once. A subject is recomputed whole:
its records depend on each other (a new infusion moves day 0, and with it every protocol day and the DLT
window), and a child's casebook is small. Values are assigned only where they change, so a recomputation
that changes nothing writes nothing.

Derived columns of a locked or frozen record are left as they are (nothing under a lock changes); unlocking
and running ``jk500db derive`` brings them up to date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from jk500db.audit.context import current_reason, has_actor, set_reason, transaction_key
from jk500db.derivations.adverse_events import derive_adverse_events
from jk500db.derivations.assessments import derive_assessments
from jk500db.derivations.changes import ChangedRecord, changed_records, last_event_id
from jk500db.derivations.doses import derive_doses
from jk500db.derivations.eligibility import derive_eligibility
from jk500db.derivations.labs import derive_labs
from jk500db.derivations.response import derive_responses
from jk500db.derivations.subject_data import CHUNK, StudyContext, SubjectData, load_subjects
from jk500db.derivations.visits import derive_visits
from jk500db.models import RecordLock, Subject, Visit
from jk500db.models.base import ClinicalRecord, SubjectRecord
from jk500db.services.locks import RecordScope, active_locks, lock_covers

#: ``Session.info`` key: a callable returning aware UTC now (the web app's clock; tests move time with it).
CLOCK_KEY = "jk500.clock"
#: ``Session.info`` key: {transaction key: last audit id already processed}.
PROCESSED_KEY = "jk500.derived_through"
DERIVATION_REASON = "derived values recomputed from changed inputs (rule and settings stored with each value)"


def clock(session: Session) -> dt.datetime:
    now: Callable[[], dt.datetime] | None = session.info.get(CLOCK_KEY)
    return now() if now else dt.datetime.now(dt.UTC)


def derive_subject(session: Session, data: SubjectData, study: StudyContext, now: dt.datetime) -> None:
    """Every derived value of one subject, in dependency order (grades before the episode maxima of AEs)."""
    derive_doses(data, study)
    derive_visits(data, study)
    derive_labs(data, study.settings)
    derive_assessments(data, study.settings)
    derive_adverse_events(data, study, now)
    derive_responses(data, study.settings)
    derive_eligibility(session, data, study)


@contextmanager
def _reason(session: Session) -> Iterator[None]:
    """Derived changes need a reason like any update; keep the user's when there is one."""
    previous = current_reason(session)
    if previous is None:
        set_reason(session, DERIVATION_REASON)
    try:
        yield
    finally:
        if previous is None:
            set_reason(session, None)


def _scope(record: ClinicalRecord) -> RecordScope:
    subject_id = record.id if isinstance(record, Subject) else cast(SubjectRecord, record).subject_id
    visit_id = record.id if isinstance(record, Visit) else getattr(record, "visit_id", None)
    return RecordScope(subject_id, visit_id, type(record).__form__)


def _hold_locked(session: Session, locks: list[RecordLock]) -> None:
    """Drop pending derived changes of records under a lock or freeze (the database would refuse them)."""
    for record in [*session.new, *session.dirty]:
        if isinstance(record, ClinicalRecord) and any(lock_covers(lock, _scope(record)) for lock in locks):
            if record in session.new:
                session.expunge(record)
            else:
                session.expire(record)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def recompute_subjects(
    session: Session, subject_ids: Iterable[int], *, changed: Iterable[ChangedRecord] = (), check: bool = True
) -> int:
    """Recompute the subjects' derived values, then run the edit checks on ``changed`` records; flush.

    Raises ``ValidationError`` when a hard edit check fails (the caller rolls the transaction back).
    Returns the number of subjects recomputed.
    """
    from jk500db.edit_checks.runner import run_edit_checks  # the checks read derivations' types

    now = clock(session)
    study = StudyContext.load(session, now.date())
    by_subject: dict[int, list[ChangedRecord]] = {}
    for record in changed:
        by_subject.setdefault(record.subject_id, []).append(record)
    ids = sorted(set(subject_ids) | set(by_subject))
    locks = active_locks(session)
    with _reason(session):
        for chunk in _chunks(ids):
            subjects = load_subjects(session, chunk)
            # No autoflush while deriving: changes to locked records must be dropped before anything is written.
            with session.no_autoflush:
                for data in subjects.values():
                    derive_subject(session, data, study, now)
                _hold_locked(session, locks)
            session.flush()
            if check:
                for subject_id, data in subjects.items():
                    run_edit_checks(session, data, by_subject.get(subject_id, []), study, now)
                session.flush()
    return len(ids)


def derive_pending(session: Session) -> int:
    """Recompute for the clinical records this transaction changed since the last pass; flush."""
    if not has_actor(session):
        return 0  # nothing can have been written without an actor
    session.flush()
    transaction = transaction_key(session)
    if transaction is None:
        return 0
    processed: dict[str, int] = session.info.setdefault(PROCESSED_KEY, {})
    changes = changed_records(session, transaction, processed.get(transaction, 0))
    if not changes:
        return 0
    count = recompute_subjects(session, {c.subject_id for c in changes}, changed=changes)
    # Our own writes are not inputs to another pass.
    session.info[PROCESSED_KEY] = {transaction: last_event_id(session, transaction)}
    return count


def _before_commit(session: Session) -> None:
    derive_pending(session)


def install() -> None:
    """Run the pass before every session commit, whatever wrote the data (idempotent)."""
    if not event.contains(Session, "before_commit", _before_commit):
        event.listen(Session, "before_commit", _before_commit)


def recompute_all(session: Session) -> int:
    """Every subject: after a settings change, an unlock, or data written outside a session."""
    ids = list(session.scalars(sa.select(Subject.id)))
    return recompute_subjects(session, ids, check=False)
