"""``jk500db audit verify``: is the audit trail whole, and does it account for every live value?

Three checks, each naming the first bad event or row and the kind of damage:

1. Triggers: every audited table still has its triggers (a dropped or disabled trigger means writes may go
   unrecorded).
2. Chain: walking the events in order, each stored hash must equal SHA-256 of its predecessor's hash and its
   own content. A hash that does not match its content is an *edited* row; a predecessor hash that matches
   no earlier row is a *deleted* row (or a truncated start); one that matches an earlier row than the
   immediate predecessor means the rows in between were *inserted*.
3. Live data: replaying the events gives the last audited value of every field of every row; each live row
   must match it (same text conversion as the triggers). A difference is a change made outside the audit,
   for example with the sqlite3 shell after dropping the triggers.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from jk500db.audit import guards
from jk500db.audit.chain import GENESIS, HASHED_COLUMNS
from jk500db.audit.triggers import (
    MASK,
    MASKED_COLUMNS,
    AuditedTable,
    audited_tables,
    expected_trigger_names,
    installed_trigger_names,
)

#: How many recent hashes to remember when telling an insertion from a deletion.
RECENT_HASHES = 10_000
BATCH = 20_000


@dataclass(frozen=True)
class Damage:
    kind: str  # "audit row edited" | "audit row deleted" | "audit row inserted" | "trigger missing" | ...
    detail: str
    event_id: int | None = None


@dataclass
class VerifyReport:
    events: int = 0
    head_hash: str | None = None
    damage: list[Damage] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.damage

    def first(self) -> Damage | None:
        return self.damage[0] if self.damage else None


def verify(connection: sa.Connection, *, check_live_data: bool = True) -> VerifyReport:
    report = VerifyReport()
    _check_triggers(connection, report)
    _check_chain(connection, report)
    if check_live_data:
        for table in audited_tables():
            _check_live_table(connection, table, report)
    return report


def _check_triggers(connection: sa.Connection, report: VerifyReport) -> None:
    missing = sorted(expected_trigger_names(connection.dialect.name) - installed_trigger_names(connection))
    missing += guards.missing_guards(connection)  # locks, SDV clearing, append-only signatures and locks
    if missing:
        report.damage.append(
            Damage("trigger missing", f"{len(missing)} audit trigger(s) missing or disabled, e.g. {missing[0]}")
        )


def _events(connection: sa.Connection, columns: str) -> Iterator[Any]:
    """Stream audit events in id order, in batches (memory stays flat however long the trail)."""
    last_id = 0
    while True:
        rows = connection.execute(
            sa.text(f"SELECT id, {columns} FROM audit_event WHERE id > :last ORDER BY id LIMIT {BATCH}"),
            {"last": last_id},
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def _check_chain(connection: sa.Connection, report: VerifyReport) -> None:
    columns = ", ".join([*HASHED_COLUMNS, "prev_hash", "row_hash"])
    content_end = 1 + len(HASHED_COLUMNS)  # row = (id, *hashed columns, prev_hash, row_hash)
    previous_hash = GENESIS
    recent: OrderedDict[str, int] = OrderedDict()  # hash -> event id, for telling insertions from deletions
    sha256 = hashlib.sha256
    for row in _events(connection, columns):
        event_id, prev_hash, row_hash = row[0], row[content_end], row[content_end + 1]
        report.events += 1
        # Inlined chain.canonical(): this loop is the verifier's hot path (tens of thousands of rows a second).
        parts = [f"{len(prev_hash or GENESIS)}:{prev_hash or GENESIS}"]
        for value in row[1:content_end]:
            if value is None:
                parts.append("~")
            else:
                text = value if isinstance(value, str) else str(value)
                parts.append(f"{len(text)}:{text}")
        if sha256("|".join(parts).encode("utf-8")).hexdigest() != row_hash:
            report.damage.append(
                Damage("audit row edited", f"event {event_id}: its content no longer matches its hash", event_id)
            )
        elif (prev_hash or GENESIS) != previous_hash:
            if prev_hash in recent:
                inserted_after = recent[prev_hash]
                report.damage.append(
                    Damage(
                        "audit row inserted",
                        f"event(s) after {inserted_after} and before {event_id} are not part of the chain",
                        inserted_after + 1 if inserted_after + 1 < event_id else event_id,
                    )
                )
            else:
                report.damage.append(
                    Damage(
                        "audit row deleted", f"the event before event {event_id} is missing from the chain", event_id
                    )
                )
        previous_hash = row_hash or ""
        recent[previous_hash] = event_id
        if len(recent) > RECENT_HASHES:
            recent.popitem(last=False)
    report.head_hash = previous_hash or None
    report.damage.sort(key=lambda d: (d.event_id is None, d.event_id or 0))


def _audited_state(connection: sa.Connection, table: AuditedTable) -> dict[str, dict[str, str | None] | None]:
    """row key -> {field: last audited value}, or None for a row whose last event deleted it."""
    state: dict[str, dict[str, str | None] | None] = {}
    # One indexed range per table (ix_audit_event_record), streamed: not a scan of the whole trail per table.
    # (Options on the statement: Connection.execution_options() would change the connection for good.)
    rows = connection.execute(
        sa.text(
            "SELECT row_key, field_name, action, new_value FROM audit_event WHERE table_name = :t ORDER BY id"
        ).execution_options(stream_results=True, yield_per=BATCH),
        {"t": table.name},
    )
    for row in rows:
        if row.action == "delete":
            state[row.row_key] = None
            continue
        fields = state.get(row.row_key)
        if fields is None:
            fields = state[row.row_key] = {}
        fields[row.field_name] = row.new_value
    return state


def live_audit_text(
    connection: sa.Connection, table: AuditedTable, *, in_key_order: bool = False
) -> Iterator[tuple[str, dict[str, str | None]]]:
    """Live rows as (row key, {column: text}), converted to text exactly as the triggers convert them.

    Exports read rows this way too (``jk500db.export.snapshot``): the text is the audit trail's own, so a live
    export and one rebuilt from the trail cannot differ in how a value is written.
    """
    columns = table.columns
    order = " ORDER BY " + ", ".join(f'"{k}"' for k in table.key_columns) if in_key_order else ""
    if connection.dialect.name == "sqlite":
        select = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
        rows = connection.exec_driver_sql(f'SELECT {select} FROM "{table.name}"{order}')
        for batch in rows.partitions(BATCH):  # fetchmany: row-by-row fetchone was a third of an export's time
            for values in batch:
                row = dict(zip(columns, values, strict=True))
                yield ",".join(row[k] or "" for k in table.key_columns), row
        return
    connection.exec_driver_sql("SET LOCAL TimeZone = 'UTC'")  # as the trigger function's own setting
    # ``to_jsonb(column) #>> '{}'`` is the text ``to_jsonb(row) ->> 'column'`` gives, which the trigger stores;
    # made by the server column by column, it spares a JSON document per row and its parsing in Python.
    select = ", ".join(f"""to_jsonb(t."{c}") #>> '{{}}'""" for c in columns)
    rows = connection.exec_driver_sql(f'SELECT {select} FROM "{table.name}" AS t{order}')
    for batch in rows.partitions(BATCH):
        for values in batch:
            row = dict(zip(columns, values, strict=True))
            yield ",".join(row[k] or "" for k in table.key_columns), row


def _check_live_table(connection: sa.Connection, table: AuditedTable, report: VerifyReport) -> None:
    state = _audited_state(connection, table)
    seen = set()
    for key, live in live_audit_text(connection, table):
        seen.add(key)
        audited = state.get(key)
        if audited is None:
            what = "was deleted in the audit trail but exists" if key in state else "has no audited insert"
            report.damage.append(Damage("data changed outside the audit", f"{table.name} row {key} {what}"))
            return
        for column in table.columns:
            live_value, audited_value = live[column], audited.get(column)
            if column in MASKED_COLUMNS:
                live_value = None if live_value is None else MASK
            if live_value != audited_value:
                report.damage.append(
                    Damage(
                        "data changed outside the audit",
                        f"{table.name} row {key}, field {column}: live value {live_value!r}, "
                        f"last audited value {audited_value!r}",
                    )
                )
                return
    for key, audited in state.items():
        if audited is not None and key not in seen:
            report.damage.append(
                Damage("data changed outside the audit", f"{table.name} row {key} was removed without an audit event")
            )
            return
