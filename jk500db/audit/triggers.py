"""Audit triggers, generated from the model metadata for SQLite and PostgreSQL.

Every audited table gets AFTER INSERT / UPDATE / DELETE row triggers that write one ``audit_event`` row per
changed field, so ORM, Core, bulk and raw-SQL writes are all captured. A write with no actor in the change
context is refused; so is an update or delete without a reason. Each audit row carries SHA-256 of the
previous row's hash and its own content (see ``chain``):

- SQLite serialises writers with its database lock, so reading the last row's hash inside the trigger gives
  commit order.
- PostgreSQL runs writers concurrently; the trigger takes a transaction-scoped advisory lock before reading
  the head, so the next writer waits until this one commits and then sees its rows: chain order is commit
  order.

Clinical records (``ClinicalRecord`` tables) refuse DELETE outright: they are marked removed instead. The
audit table refuses UPDATE, DELETE (and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from jk500db.audit.chain import HASHED_COLUMNS, POSTGRES_CHAIN_FUNCTION
from jk500db.models import Base, ClinicalRecord

#: Logs that are append-only themselves and are not audited field by field, and ``export_job``: the progress of
#: an export asked for on the web page, operational state rather than trial data. Auditing it would put each
#: state change and heartbeat of a background thread (which has no user to act as) into the chain, move the
#: audit position the next export stands on (two exports of the same data would no longer be the same bytes)
#: and export the job table with the data; what an export took out is recorded by ``export_record`` and the
#: security log's download events, which are append-only.
UNAUDITED_TABLES = frozenset({"audit_event", "security_event", "export_record", "export_job"})
#: Columns whose changes are not audit events, by table: login bookkeeping that the security log records (a
#: failed login has no actor to audit it under). Clinical records also skip ``version``, their optimistic-
#: locking counter; elsewhere a column called "version" is data (protocol_version.version).
EXCLUDED_COLUMNS: dict[str, frozenset[str]] = {
    "user_account": frozenset({"failed_logins", "locked_until", "session_epoch"}),
}
CLINICAL_EXCLUDED_COLUMNS = frozenset({"version"})
#: Rows that record their own reason for a change: when the change context has no reason and the update sets
#: this column, its text is the reason (a trigger clearing an SDV mark after an insert has no other).
REASON_COLUMNS: dict[str, str] = {
    "sdv_mark": "cleared_reason",
    "signature": "invalidated_reason",
    "record_lock": "unlock_reason",
}
CLINICAL_REASON_COLUMN = "removed_reason"
#: Columns audited as "changed" without their values.
MASKED_COLUMNS = frozenset({"password_hash"})
MASK = "[not shown]"
#: Key of the PostgreSQL advisory lock that orders the chain.
CHAIN_LOCK_KEY = 5_005_005
TRIGGER_PREFIX = "jk500_audit_"
ERROR_PREFIX = "jk500-audit: "


@dataclass(frozen=True)
class AuditedTable:
    name: str
    key_columns: tuple[str, ...]
    columns: tuple[str, ...]
    excluded: frozenset[str]
    subject_column: str | None
    clinical: bool
    reason_column: str | None = None

    def trigger_names(self, dialect: str) -> tuple[str, ...]:
        """SQLite has one update trigger per column (see sqlite_trigger_ddl); PostgreSQL one per table."""
        if dialect == "sqlite":
            actions = ["insert", *(f"update_{c}" for c in self.columns), "delete"]
        else:
            actions = ["insert", "update", "delete"]
        if self.clinical:
            actions.append("no_delete")
        return tuple(f"{TRIGGER_PREFIX}{self.name}_{action}" for action in actions)


def audited_tables(metadata: sa.MetaData = Base.metadata) -> list[AuditedTable]:
    clinical = {
        mapper.local_table.name
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, ClinicalRecord) and isinstance(mapper.local_table, sa.Table)
    }
    result = []
    for table in metadata.sorted_tables:
        if table.name in UNAUDITED_TABLES:
            continue
        subject = "subject_id" if "subject_id" in table.c else ("id" if table.name == "subject" else None)
        excluded = EXCLUDED_COLUMNS.get(table.name, frozenset())
        if table.name in clinical:
            excluded |= CLINICAL_EXCLUDED_COLUMNS
        result.append(
            AuditedTable(
                name=table.name,
                key_columns=tuple(c.name for c in table.primary_key.columns),
                columns=tuple(c.name for c in table.columns if c.name not in excluded),
                excluded=excluded,
                reason_column=CLINICAL_REASON_COLUMN if table.name in clinical else REASON_COLUMNS.get(table.name),
                subject_column=subject,
                clinical=table.name in clinical,
            )
        )
    return result


def expected_trigger_names(dialect: str, metadata: sa.MetaData = Base.metadata) -> set[str]:
    names = {name for table in audited_tables(metadata) for name in table.trigger_names(dialect)}
    names |= {f"{TRIGGER_PREFIX}audit_event_append_only_update", f"{TRIGGER_PREFIX}audit_event_append_only_delete"}
    if dialect != "sqlite":
        names.add(f"{TRIGGER_PREFIX}audit_event_append_only_truncate")
    return names


# --------------------------------------------------------------------------------------------------- SQLite


def quote_name(name: str) -> str:
    return f'"{name}"'


def _sqlite_value(row: str, column: str) -> str:
    if column in MASKED_COLUMNS:
        return f"CASE WHEN {row}.{quote_name(column)} IS NULL THEN NULL ELSE '{MASK}' END"
    return f"CAST({row}.{quote_name(column)} AS TEXT)"


def _sqlite_key(table: AuditedTable, row: str) -> str:
    return " || ',' || ".join(f"CAST({row}.{quote_name(c)} AS TEXT)" for c in table.key_columns)


def _sqlite_audit_insert(table: AuditedTable, action: str, column: str) -> str:
    row = "OLD" if action == "delete" else "NEW"
    old = _sqlite_value("OLD", column) if action != "insert" else "NULL"
    new = _sqlite_value("NEW", column) if action != "delete" else "NULL"
    if action == "update":
        condition = f"OLD.{quote_name(column)} IS NOT NEW.{quote_name(column)}"
    else:
        condition = f"{row}.{quote_name(column)} IS NOT NULL"
    subject = f"{row}.{quote_name(table.subject_column)}" if table.subject_column else "NULL"
    values = ", ".join(f"a.{c}" for c in HASHED_COLUMNS)
    # The condition sits inside the subquery so that an unchanged column costs no function calls at all.
    return f"""
    INSERT INTO audit_event ({", ".join(HASHED_COLUMNS)}, prev_hash, row_hash)
    SELECT {values}, a.prev_hash, jk500_chain(a.prev_hash, {values})
    FROM (SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now') AS occurred_at,
                 jk500_context('transaction_id') AS transaction_id,
                 CAST(jk500_context('actor_id') AS INTEGER) AS actor_id,
                 jk500_context('actor_name') AS actor_name,
                 jk500_context('source') AS source,
                 '{table.name}' AS table_name,
                 {_sqlite_key(table, row)} AS row_key,
                 {subject} AS subject_id,
                 '{column}' AS field_name,
                 '{action}' AS action,
                 {old} AS old_value,
                 {new} AS new_value,
                 {_sqlite_reason(table, action)} AS reason,
                 coalesce((SELECT row_hash FROM audit_event ORDER BY id DESC LIMIT 1), '') AS prev_hash
          WHERE {condition}) AS a;"""


def _sqlite_reason(table: AuditedTable, action: str) -> str:
    """The change context's reason, else the row's own reason column when this update sets it."""
    if action != "update" or table.reason_column is None:
        return "jk500_context('reason')"
    column = quote_name(table.reason_column)
    return f"coalesce(jk500_context('reason'), CASE WHEN OLD.{column} IS NOT NEW.{column} THEN NEW.{column} END)"


def _sqlite_checks(table: AuditedTable, action: str) -> list[str]:
    checks = [
        f"SELECT RAISE(ABORT, '{ERROR_PREFIX}no actor: every change needs a signed-in user or a named "
        f"process') WHERE jk500_context('actor_id') IS NULL;"
    ]
    if action != "insert":
        checks.append(
            f"SELECT RAISE(ABORT, '{ERROR_PREFIX}a reason for change is required to {action} "
            f"{table.name}') WHERE {_sqlite_reason(table, action)} IS NULL;"
        )
    return checks


def _sqlite_trigger(name: str, timing: str, table: str, when: str | None, body: list[str]) -> list[str]:
    condition = f" WHEN {when}" if when else ""
    return [
        f"DROP TRIGGER IF EXISTS {name}",
        f"CREATE TRIGGER {name} {timing} ON {quote_name(table)} FOR EACH ROW{condition} BEGIN\n    "
        + "\n    ".join(body)
        + "\nEND",
    ]


def sqlite_trigger_ddl(table: AuditedTable) -> list[str]:
    """Insert and delete: one trigger per table. Update: one trigger per column, fired only when that column
    changed, so editing one field runs one small trigger rather than a statement for every column."""
    statements = []
    for action in ("insert", "delete"):
        body = _sqlite_checks(table, action) + [_sqlite_audit_insert(table, action, c) for c in table.columns]
        statements += _sqlite_trigger(
            f"{TRIGGER_PREFIX}{table.name}_{action}", f"AFTER {action.upper()}", table.name, None, body
        )
    for column in table.columns:
        statements += _sqlite_trigger(
            f"{TRIGGER_PREFIX}{table.name}_update_{column}",
            f"AFTER UPDATE OF {quote_name(column)}",
            table.name,
            f"OLD.{quote_name(column)} IS NOT NEW.{quote_name(column)}",
            [*_sqlite_checks(table, "update"), _sqlite_audit_insert(table, "update", column)],
        )
    if table.clinical:
        refusal = (
            f"SELECT RAISE(ABORT, '{ERROR_PREFIX}clinical records are never deleted: mark the record removed, "
            "with a reason');"
        )
        statements += _sqlite_trigger(
            f"{TRIGGER_PREFIX}{table.name}_no_delete", "BEFORE DELETE", table.name, None, [refusal]
        )
    return statements


SQLITE_APPEND_ONLY = [
    f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}audit_event_append_only_update",
    f"CREATE TRIGGER {TRIGGER_PREFIX}audit_event_append_only_update BEFORE UPDATE ON audit_event BEGIN\n"
    f"    SELECT RAISE(ABORT, '{ERROR_PREFIX}the audit trail is append-only: rows cannot be changed');\nEND",
    f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}audit_event_append_only_delete",
    f"CREATE TRIGGER {TRIGGER_PREFIX}audit_event_append_only_delete BEFORE DELETE ON audit_event BEGIN\n"
    f"    SELECT RAISE(ABORT, '{ERROR_PREFIX}the audit trail is append-only: rows cannot be deleted');\nEND",
]


# ----------------------------------------------------------------------------------------------- PostgreSQL

POSTGRES_AUDIT_FUNCTION = (
    r"""
CREATE OR REPLACE FUNCTION jk500_audit_row() RETURNS trigger
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    -- TG_ARGV: 0 subject column ('' if none), 1 key columns, 2 excluded columns, 3 masked columns,
    --         4 the row's own reason column ('' if none)
    key_columns text[] := string_to_array(TG_ARGV[1], ',');
    excluded text[] := string_to_array(TG_ARGV[2], ',');
    masked text[] := string_to_array(TG_ARGV[3], ',');
    action text := lower(TG_OP);
    old_row jsonb;
    new_row jsonb;
    row_data jsonb;
    actor text := nullif(current_setting('jk500.actor_id', true), '');
    actor_name text := current_setting('jk500.actor_name', true);
    source text := current_setting('jk500.source', true);
    reason text := nullif(current_setting('jk500.reason', true), '');
    tx text := pg_current_xact_id()::text;
    column_name text;
    old_value text;
    new_value text;
    row_key text;
    subject text;
    at text;
    prev text;
    fields text[] := '{}';
    olds text[] := '{}';
    news text[] := '{}';
    prevs text[] := '{}';
    hashes text[] := '{}';
BEGIN
    IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
    row_data := coalesce(new_row, old_row);
    FOR column_name IN SELECT jsonb_object_keys(row_data) LOOP
        CONTINUE WHEN column_name = ANY (excluded);
        old_value := old_row ->> column_name;
        new_value := new_row ->> column_name;
        CONTINUE WHEN old_value IS NOT DISTINCT FROM new_value;
        IF column_name = ANY (masked) THEN
            old_value := CASE WHEN old_value IS NULL THEN NULL ELSE '"""
    + MASK
    + r"""' END;
            new_value := CASE WHEN new_value IS NULL THEN NULL ELSE '"""
    + MASK
    + r"""' END;
        END IF;
        fields := fields || column_name;
        olds := olds || old_value;
        news := news || new_value;
    END LOOP;
    IF cardinality(fields) = 0 THEN
        RETURN NULL;
    END IF;
    IF actor IS NULL THEN
        RAISE EXCEPTION '"""
    + ERROR_PREFIX
    + r"""no actor: every change needs a signed-in user or a named process'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF reason IS NULL AND TG_OP = 'UPDATE' AND TG_ARGV[4] <> ''
       AND (old_row ->> TG_ARGV[4]) IS DISTINCT FROM (new_row ->> TG_ARGV[4]) THEN
        reason := nullif(new_row ->> TG_ARGV[4], '');
    END IF;
    IF TG_OP <> 'INSERT' AND reason IS NULL THEN
        RAISE EXCEPTION '"""
    + ERROR_PREFIX
    + r"""a reason for change is required to % %', action, TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT string_agg(row_data ->> k, ',' ORDER BY i) INTO row_key FROM unnest(key_columns) WITH ORDINALITY AS t(k, i);
    subject := CASE WHEN TG_ARGV[0] = '' THEN NULL ELSE row_data ->> TG_ARGV[0] END;
    -- Held until commit: the next writer waits, then reads the head this transaction wrote. While it is
    -- held nobody else appends, so the head is read once and the row's fields are chained here.
    PERFORM pg_advisory_xact_lock("""
    + str(CHAIN_LOCK_KEY)
    + r""");
    SELECT coalesce((SELECT row_hash FROM audit_event ORDER BY id DESC LIMIT 1), '') INTO prev;
    at := to_char(clock_timestamp(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    FOR i IN 1 .. cardinality(fields) LOOP
        prevs := prevs || prev;
        prev := jk500_chain(prev, at, tx, actor, actor_name, source, TG_TABLE_NAME, row_key, subject, fields[i],
                            action, olds[i], news[i], reason);
        hashes := hashes || prev;
    END LOOP;
    INSERT INTO audit_event (occurred_at, transaction_id, actor_id, actor_name, source, table_name, row_key,
                             subject_id, field_name, action, old_value, new_value, reason, prev_hash, row_hash)
    SELECT at, tx, actor::integer, actor_name, source, TG_TABLE_NAME, row_key, subject::integer, f, action, o, n,
           reason, p, h
    FROM unnest(fields, olds, news, prevs, hashes) WITH ORDINALITY AS t(f, o, n, p, h, i)
    ORDER BY i;
    RETURN NULL;
END
$$;
"""
)

POSTGRES_GUARD_FUNCTIONS = (
    r"""
CREATE OR REPLACE FUNCTION jk500_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '"""
    + ERROR_PREFIX
    + r"""%', TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
END
$$;
"""
)


def postgres_trigger_ddl(table: AuditedTable) -> list[str]:
    args = ", ".join(
        f"'{a}'"
        for a in (
            table.subject_column or "",
            ",".join(table.key_columns),
            ",".join(sorted(table.excluded)),
            ",".join(sorted(MASKED_COLUMNS)),
            table.reason_column or "",
        )
    )
    statements = []
    for action in ("insert", "update", "delete"):
        name = f"{TRIGGER_PREFIX}{table.name}_{action}"
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {quote_name(table.name)}")
        statements.append(
            f"CREATE TRIGGER {name} AFTER {action.upper()} ON {quote_name(table.name)} "
            f"FOR EACH ROW EXECUTE FUNCTION jk500_audit_row({args})"
        )
    if table.clinical:
        name = f"{TRIGGER_PREFIX}{table.name}_no_delete"
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {quote_name(table.name)}")
        statements.append(
            f"CREATE TRIGGER {name} BEFORE DELETE ON {quote_name(table.name)} FOR EACH ROW EXECUTE FUNCTION "
            "jk500_refuse_change('clinical records are never deleted: mark the record removed, with a reason')"
        )
    return statements


POSTGRES_APPEND_ONLY = [
    f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}audit_event_append_only_update ON audit_event",
    f"CREATE TRIGGER {TRIGGER_PREFIX}audit_event_append_only_update BEFORE UPDATE ON audit_event FOR EACH ROW "
    "EXECUTE FUNCTION jk500_refuse_change('the audit trail is append-only: rows cannot be changed')",
    f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}audit_event_append_only_delete ON audit_event",
    f"CREATE TRIGGER {TRIGGER_PREFIX}audit_event_append_only_delete BEFORE DELETE ON audit_event FOR EACH ROW "
    "EXECUTE FUNCTION jk500_refuse_change('the audit trail is append-only: rows cannot be deleted')",
    f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}audit_event_append_only_truncate ON audit_event",
    f"CREATE TRIGGER {TRIGGER_PREFIX}audit_event_append_only_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION jk500_refuse_change('the audit trail is append-only: it cannot be "
    "truncated')",
]


def install(connection: sa.Connection) -> int:
    """(Re)create every audit trigger from the current metadata; return how many tables are audited."""
    tables = audited_tables()
    if connection.dialect.name == "sqlite":
        statements = [s for t in tables for s in sqlite_trigger_ddl(t)] + SQLITE_APPEND_ONLY
    else:
        statements = [POSTGRES_CHAIN_FUNCTION, POSTGRES_AUDIT_FUNCTION, POSTGRES_GUARD_FUNCTIONS]
        statements += [s for t in tables for s in postgres_trigger_ddl(t)] + POSTGRES_APPEND_ONLY
    from jk500db.audit import guards  # locks and SDV clearing: data rules enforced beside the audit

    statements += guards.ddl(connection.dialect.name)
    # Straight to the driver: the PL/pgSQL uses % in RAISE, which psycopg would read as a placeholder.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for statement in statements:
            cursor.execute(statement)
    finally:
        cursor.close()
    return len(tables)


def uninstall_functions(connection: sa.Connection) -> None:
    """At migration base nothing of ours may remain: drop PostgreSQL's functions (SQLite's die with tables)."""
    if connection.dialect.name != "sqlite":
        for function in ("jk500_audit_row()", "jk500_refuse_change()", "jk500_chain(text[])"):
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function}")


def installed_trigger_names(connection: sa.Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        # tgenabled 'D' is a disabled trigger: as good as missing.
        rows = connection.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'")
    return {name for (name,) in rows if name.startswith(TRIGGER_PREFIX)}
