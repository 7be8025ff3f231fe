"""A clinical record's audit trail turned into ODM transactions (ODM 1.3.2 §2.9 Transactions, §2.10 ordering).

The audit trail holds one event per changed field. The events one statement wrote on one row (same transaction,
time, actor, reason and source) are one *change*; each change becomes one ItemGroupData element:

- the first entry of a record is ``Insert`` with every value it was entered with;
- a correction is ``Update`` with the values it changed (a value cleared is ``IsNull="Yes"``);
- marking a record removed is ``Remove``: ODM's "the entity must be deleted", which its note says "does not imply
  that all records of the data entity are expunged" — exactly a removal that the audit trail keeps. A record
  restored later is inserted again with all its values (after a Remove, the next transaction must be an Insert);
- a record moved to another visit or subject leaves its old place with ``Remove`` and enters the new one with
  ``Insert``, both under the audit record of the change that moved it;
- an electronic signature is a ``Context`` element carrying the Signature, placed where the database recorded it
  among the record's changes, so every change made before the signing comes before it (§2.10).

Each element carries the AuditRecord of its change (who, where, when, why and which audit events); the ItemData
inside inherit it, as §3.1.4.1.2 allows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from jk500db.export.odm.model import GroupSpec, ItemSpec

#: Key of a record in the audit trail: (table, row key).
RecordKey = tuple[str, str]


class AuditEntry(NamedTuple):
    """One row of ``audit_event``: one field of one row changed (a tuple: the trail is read row by row)."""

    id: int
    occurred_at: str
    transaction_id: str | None
    actor_id: int
    actor_name: str
    source: str
    table_name: str
    row_key: str
    field_name: str | None
    action: str
    new_value: str | None
    reason: str | None

    @property
    def statement_key(self) -> tuple[Any, ...]:
        return (self.transaction_id, self.occurred_at, self.action, self.actor_id, self.actor_name, self.reason,
                self.source)  # fmt: skip


@dataclass
class Change:
    """The audit events one statement wrote on one row: one transaction in the ODM file."""

    entries: list[AuditEntry]

    @property
    def first(self) -> AuditEntry:
        return self.entries[0]

    @property
    def action(self) -> str:
        return self.first.action

    @property
    def fields(self) -> dict[str, str | None]:
        return {entry.field_name: entry.new_value for entry in self.entries if entry.field_name is not None}

    @property
    def source_id(self) -> str:
        """Where the change is in the source system's audit trail (ODM SourceID)."""
        first, last = self.entries[0].id, self.entries[-1].id
        ids = str(first) if first == last else f"{first}-{last}"
        return f"jk500db audit_event {ids} ({self.first.source}, {self.first.actor_name})"


def changes(entries: Iterable[AuditEntry]) -> Iterator[Change]:
    """Consecutive events of one row written by one statement, as changes (a field seen twice starts another)."""
    current: list[AuditEntry] = []
    seen: set[str | None] = set()
    for entry in entries:
        if current and (entry.statement_key != current[0].statement_key or entry.field_name in seen):
            yield Change(current)
            current, seen = [], set()
        current.append(entry)
        seen.add(entry.field_name)
    if current:
        yield Change(current)


class Kind(StrEnum):
    """ODM TransactionType of an element."""

    INSERT = "Insert"
    UPDATE = "Update"
    REMOVE = "Remove"
    CONTEXT = "Context"


@dataclass(frozen=True)
class Placement:
    """Where a record sits in the ODM tree: its subject, and its visit (None: the subject-level event)."""

    subject_id: int
    visit_id: int | None


@dataclass(frozen=True)
class SignatureMark:
    """A signature on a record, and the audit event that recorded it (its place among the record's changes)."""

    recorded: AuditEntry
    row: dict[str, Any]


@dataclass
class Step:
    """One ItemGroupData element of a record."""

    kind: Kind
    placement: Placement
    #: the change whose AuditRecord the element carries (for a signature: the event recording it).
    change: Change
    #: (item, value, unit of the value when the row carries one); value None means the item was cleared (IsNull).
    values: list[tuple[ItemSpec, str | None, str | None]] = field(default_factory=list)
    signature: SignatureMark | None = None
    #: every changed column is derived: the system, not a person, changed the values (EditPoint).
    derived_only: bool = False


#: Reads an item's ODM value from a record's state (audit text per column).
ValueReader = Callable[[ItemSpec, dict[str, str | None]], str | None]


def _placement(group: GroupSpec, row_key: str, state: dict[str, str | None]) -> Placement | None:
    subject = state.get("id" if group.table == "subject" else "subject_id")
    if subject is None:
        return None
    if group.table == "visit":
        return Placement(int(subject), int(row_key))
    visit = state.get("visit_id") if group.visit_linked else None
    return Placement(int(subject), None if visit is None else int(visit))


def _unit_of(item: ItemSpec, state: dict[str, str | None]) -> str | None:
    return state.get(item.unit_column) if item.unit_column else None


def record_steps(
    group: GroupSpec,
    row_key: str,
    entries: Sequence[AuditEntry],
    signatures: Sequence[SignatureMark],
    reader: ValueReader,
    derived: frozenset[str],
) -> list[Step]:
    """The ODM elements of one record, in the order its audit events (and signatures) were recorded."""
    state: dict[str, str | None] = {}
    steps: list[Step] = []
    placement: Placement | None = None
    present = False
    pending = sorted(signatures, key=lambda mark: mark.recorded.id)

    def full(place: Placement, change: Change, kind: Kind) -> Step:
        values: list[tuple[ItemSpec, str | None, str | None]] = []
        for item in group.items:
            text = reader(item, state)
            if text is not None:
                values.append((item, text, _unit_of(item, state)))
        return Step(kind, place, change, values)

    def sign_until(position: int | None) -> None:
        while pending and (position is None or pending[0].recorded.id < position):
            mark = pending.pop(0)
            if present and placement is not None:
                change = Change([mark.recorded])
                steps.append(Step(Kind.CONTEXT, placement, change, signature=mark))

    for change in changes(entries):
        sign_until(change.first.id)
        before = dict(state)
        changed = change.fields
        state.update(changed)
        new_placement = _placement(group, row_key, state)
        removed = state.get("removed_at") is not None
        if new_placement is None:  # not a row of a subject (cannot happen for clinical tables): nothing to place
            continue
        if change.action == "insert" or not before:
            placement, present = new_placement, not removed
            if present:
                steps.append(full(placement, change, Kind.INSERT))
            continue
        touched = set(changed)
        moved = new_placement != placement
        if present and placement is not None:
            items = group.items_touching(touched)
            # A move sends every value to the new place instead; a removal first records what else it changed.
            if items and (removed or not moved):
                values = [(item, reader(item, state), _unit_of(item, state)) for item in items]
                steps.append(Step(Kind.UPDATE, placement, change, values, derived_only=touched <= derived))
            if removed or moved:
                steps.append(Step(Kind.REMOVE, placement, change))
                present = False
        if not removed and not present:  # restored, or arrived at its new place
            present = True
            steps.append(full(new_placement, change, Kind.INSERT))
        placement = new_placement
    sign_until(None)
    return steps


def final_state(entries: Iterable[AuditEntry]) -> dict[str, str | None]:
    """A row's audited columns (as audit text) after all of ``entries``."""
    state: dict[str, str | None] = {}
    for entry in entries:
        if entry.action == "delete":
            state = {}
        elif entry.field_name is not None:
            state[entry.field_name] = entry.new_value
    return state


def parse_moment(text: str) -> dt.datetime:
    """An audit ``occurred_at`` ("...T12:00:00.123Z" or with six digits) as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)
