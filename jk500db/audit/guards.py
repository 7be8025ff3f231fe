"""Data rules enforced in the database beside the audit trail: locks, SDV clearing, append-only sign-offs.

``ddl(dialect)`` returns the statements that create them; ``triggers.install`` runs them after the audit
triggers, so every migration to the head recreates them too. Like the audit triggers they are generated from
the model metadata and fire for every write path (ORM, Core, raw SQL through the app's engine).

- Locks: every clinical table refuses INSERT and UPDATE of a row covered by an active lock or freeze (both
  fix the data): a study lock covers every row; a subject lock the subject's rows; a visit lock the rows of
  that visit; a form lock the subject's rows of that form (at the lock's visit, or at any visit when the lock
  names none). A lock (not a freeze) also refuses new queries and messages on what it covers.
- SDV: an UPDATE that changes an audited column of a clinical row, or an INSERT of a new row, clears the
  uncleared SDV marks of the row's form; the clearing is an ordinary audited update of ``sdv_mark``, under the
  change's reason or, for an insert, the mark's own cleared_reason.
- Signatures and locks are append-only: never deleted, and the only change allowed is to fill in their
  closing columns (invalidated / unlocked) once.

SQLite 3.40 accepts only a literal message in RAISE(), so the SQLite triggers carry one statement per lock
level and mode; PostgreSQL builds the same words from the same table below.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from jk500db.audit.triggers import AuditedTable, audited_tables, quote_name
from jk500db.models import Base, ClinicalRecord
from jk500db.models.base import derived_columns
from jk500db.models.vocabularies import FormCode, LockLevel, LockMode

GUARD_PREFIX = "jk500_guard_"
LOCK_ERROR = "jk500-lock: "
GUARD_ERROR = "jk500-guard: "

#: Levels and modes in the order a refusal names them: the widest scope, and a lock before a freeze.
LEVEL_ORDER = (LockLevel.STUDY, LockLevel.SUBJECT, LockLevel.VISIT, LockLevel.FORM)
MODE_ORDER = (LockMode.LOCK, LockMode.FREEZE)
MODE_WORDS = {LockMode.LOCK: "locked", LockMode.FREEZE: "frozen"}
#: What a refusal says is refused.
DATA_CONSEQUENCE = "its data cannot change"
QUERY_CONSEQUENCE = "no new queries or messages"
#: How a form lock is named when the form is not known statically (a query names its table at run time).
ANY_FORM_LABEL = "the form"

#: Query tables guarded by locks (mode lock only: a freeze fixes the data but queries go on).
QUERY_TABLES = ("query", "query_message")


@dataclass(frozen=True)
class AppendOnlyTable:
    """A sign-off table whose rows are never deleted and only ever closed once."""

    name: str
    #: columns filled in, all together and only once, from NULL.
    closing_columns: tuple[str, ...]
    delete_message: str
    update_message: str


APPEND_ONLY_TABLES = (
    AppendOnlyTable(
        "signature",
        ("invalidated_at", "invalidated_reason"),
        "signatures are never deleted",
        "a signature cannot be changed; it can only be marked invalidated, once, with a reason",
    ),
    AppendOnlyTable(
        "record_lock",
        ("unlocked_by_id", "unlocked_at", "unlock_reason"),
        "locks are never deleted; unlock them with a reason",
        "a lock cannot be changed; it can only be unlocked, once, by a named user with a reason",
    ),
)


@dataclass(frozen=True)
class GuardedTable:
    """A clinical table and where its rows sit in the casebook: subject, visit and form."""

    audited: AuditedTable
    form: FormCode
    subject_column: str
    #: the column naming the row's visit; "id" for the visit table itself; None for subject-level forms.
    visit_column: str | None

    @property
    def name(self) -> str:
        return self.audited.name

    @property
    def derived(self) -> frozenset[str]:
        """Computed columns: a recomputation alone does not clear SDV (SDV checks entered data)."""
        return derived_columns(Base.metadata.tables[self.name])

    @property
    def entered_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.audited.columns if c not in self.derived)

    @property
    def trigger_names(self) -> tuple[str, ...]:
        whats = ("lock_insert", "lock_update", "sdv", "sdv_insert")
        return tuple(f"{GUARD_PREFIX}{self.name}_{what}" for what in whats)


def clinical_forms() -> dict[str, FormCode]:
    """Clinical table name -> the form (``__form__``) its rows belong to."""
    return {
        mapper.local_table.name: mapper.class_.__form__
        for mapper in Base.registry.mappers
        if issubclass(mapper.class_, ClinicalRecord) and isinstance(mapper.local_table, sa.Table)
    }


def visit_column(table: sa.Table) -> str | None:
    if table.name == "visit":
        return "id"
    return "visit_id" if "visit_id" in table.c else None


def guarded_tables() -> list[GuardedTable]:
    forms = clinical_forms()
    result = []
    for audited in audited_tables():
        if not audited.clinical:
            continue
        # Every clinical record belongs to a subject (the subject table is its own subject).
        assert audited.subject_column is not None, f"clinical table {audited.name} has no subject"
        result.append(
            GuardedTable(
                audited=audited,
                form=forms[audited.name],
                subject_column=audited.subject_column,
                visit_column=visit_column(Base.metadata.tables[audited.name]),
            )
        )
    return result


def _query_trigger_names() -> tuple[str, ...]:
    return (
        f"{GUARD_PREFIX}query_lock_insert",
        f"{GUARD_PREFIX}query_lock_update",
        f"{GUARD_PREFIX}query_message_lock_insert",
    )


def _append_only_trigger_names(table: AppendOnlyTable, dialect: str | None) -> tuple[str, ...]:
    actions = ("no_delete", "no_update") + (("no_truncate",) if dialect == "postgresql" else ())
    return tuple(f"{GUARD_PREFIX}{table.name}_{action}" for action in actions)


def expected_guard_names(dialect: str | None = None) -> set[str]:
    """Every guard trigger name; PostgreSQL's TRUNCATE guards only when ``dialect`` is "postgresql"."""
    names = {name for table in guarded_tables() for name in table.trigger_names}
    names |= set(_query_trigger_names())
    return names | {name for table in APPEND_ONLY_TABLES for name in _append_only_trigger_names(table, dialect)}


def installed_guard_names(connection: sa.Connection) -> set[str]:
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        # tgenabled 'D' is a disabled trigger: as good as missing.
        rows = connection.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'")
    return {name for (name,) in rows if name.startswith(GUARD_PREFIX)}


def missing_guards(connection: sa.Connection) -> list[str]:
    """Guard triggers that are missing or disabled, sorted (for ``audit verify``)."""
    return sorted(expected_guard_names(connection.dialect.name) - installed_guard_names(connection))


# ------------------------------------------------------------------------------------------- shared wording


def scope_label(level: LockLevel, form_label: str) -> str:
    return {
        LockLevel.STUDY: "the study",
        LockLevel.SUBJECT: "the subject",
        LockLevel.VISIT: "the visit",
        LockLevel.FORM: form_label,
    }[level]


def form_label(form: FormCode) -> str:
    return f"the {form.value} form"


def lock_message(level: LockLevel, mode: LockMode, form_text: str, consequence: str) -> str:
    return f"{LOCK_ERROR}{scope_label(level, form_text)} is {MODE_WORDS[mode]}: {consequence}"


def _level_condition(level: LockLevel, subject: str, visit: str, form: str) -> str:
    """SQL: lock ``l`` of ``level`` covers the row at (subject, visit, form); the same on both engines."""
    return {
        LockLevel.STUDY: "l.level = 'study'",
        LockLevel.SUBJECT: f"l.level = 'subject' AND l.subject_id = {subject}",
        LockLevel.VISIT: f"l.level = 'visit' AND l.visit_id = {visit}",
        LockLevel.FORM: f"l.level = 'form' AND l.subject_id = {subject} AND l.form_code = {form} "
        f"AND (l.visit_id IS NULL OR l.visit_id = {visit})",
    }[level]


def _record_form_sql(table: str) -> str:
    """SQL: the form code of a record named by its table (a query's ``table_name``), NULL if not clinical."""
    branches = " ".join(f"WHEN '{t.name}' THEN '{t.form.value}'" for t in guarded_tables())
    return f"CASE {table} {branches} ELSE NULL END"


def _record_visit_sql(table: str, record: str) -> str:
    """SQL: the visit of a record named by table and key (NULL for subject-level forms)."""
    branches = []
    for t in guarded_tables():
        if t.visit_column == "id":
            branches.append(f"WHEN '{t.name}' THEN {record}")
        elif t.visit_column is not None:
            visit = f"SELECT {quote_name(t.visit_column)} FROM {quote_name(t.name)} WHERE id = {record}"
            branches.append(f"WHEN '{t.name}' THEN ({visit})")
    return f"CASE {table} {' '.join(branches)} ELSE NULL END"


# --------------------------------------------------------------------------------------------------- SQLite


def _sqlite_trigger(name: str, timing: str, table: str, body: list[str], when: str | None = None) -> list[str]:
    condition = f" WHEN {when}" if when else ""
    return [
        f"DROP TRIGGER IF EXISTS {name}",
        f"CREATE TRIGGER {name} {timing} ON {quote_name(table)} FOR EACH ROW{condition} BEGIN\n    "
        + "\n    ".join(body)
        + "\nEND",
    ]


def _sqlite_lock_refusals(
    scopes: list[str], modes: tuple[LockMode, ...], form_text: str, consequence: str, has_visit: bool
) -> list[str]:
    """One RAISE per level and mode (SQLite's RAISE takes a literal); ``scopes`` are row-scope subqueries."""
    statements = []
    for level in LEVEL_ORDER:
        if level is LockLevel.VISIT and not has_visit:
            continue
        condition = _level_condition(level, "r.subject_id", "r.visit_id", "r.form_code")
        for mode in modes:
            covered = " OR ".join(
                f"EXISTS (SELECT 1 FROM record_lock AS l, {scope} AS r WHERE l.unlocked_at IS NULL "
                f"AND l.mode = '{mode.value}' AND {condition})"
                for scope in scopes
            )
            message = lock_message(level, mode, form_text, consequence)
            statements.append(f"SELECT RAISE(ABORT, '{message}') WHERE {covered};")
    return statements


def _sqlite_row_scope(table: GuardedTable, row: str) -> str:
    visit = f"{row}.{quote_name(table.visit_column)}" if table.visit_column else "NULL"
    return (
        f"(SELECT {row}.{quote_name(table.subject_column)} AS subject_id, {visit} AS visit_id, "
        f"'{table.form.value}' AS form_code)"
    )


def _sqlite_sdv_clear(table: GuardedTable, rows: tuple[str, ...] = ("OLD", "NEW")) -> str:
    """Clear the form's marks; ``rows`` is ("NEW",) after an insert (a new row in a verified form)."""
    subject = quote_name(table.subject_column)
    visit = ""
    if table.visit_column:
        column = quote_name(table.visit_column)
        visit = f" AND (visit_id IS NULL OR visit_id IN ({', '.join(f'{r}.{column}' for r in rows)}))"
    # SQLAlchemy's SQLite DATETIME text, with six fraction digits, so the ORM reads the value back.
    now = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
    return (
        f"UPDATE sdv_mark SET cleared_at = {now}, cleared_reason = 'changed: {table.name} ' || NEW.id "
        f"WHERE cleared_at IS NULL AND form_code = '{table.form.value}' "
        f"AND subject_id IN ({', '.join(f'{r}.{subject}' for r in rows)}){visit};"
    )


def sqlite_table_ddl(table: GuardedTable) -> list[str]:
    insert_name, update_name, sdv_name, sdv_insert_name = table.trigger_names

    def refusals(scopes: list[str]) -> list[str]:
        has_visit = table.visit_column is not None
        return _sqlite_lock_refusals(scopes, MODE_ORDER, form_label(table.form), DATA_CONSEQUENCE, has_visit)

    changed = " OR ".join(f"OLD.{quote_name(c)} IS NOT NEW.{quote_name(c)}" for c in table.entered_columns)
    return (
        _sqlite_trigger(insert_name, "BEFORE INSERT", table.name, refusals([_sqlite_row_scope(table, "NEW")]))
        # A row may neither change inside a locked scope nor be moved into or out of one.
        + _sqlite_trigger(
            update_name,
            "BEFORE UPDATE",
            table.name,
            refusals([_sqlite_row_scope(table, "OLD"), _sqlite_row_scope(table, "NEW")]),
        )
        + _sqlite_trigger(sdv_name, "AFTER UPDATE", table.name, [_sqlite_sdv_clear(table)], when=f"({changed})")
        + _sqlite_trigger(sdv_insert_name, "AFTER INSERT", table.name, [_sqlite_sdv_clear(table, ("NEW",))])
    )


def _sqlite_query_scope(table: str, record: str, subject: str, source: str = "") -> str:
    return (
        f"(SELECT {subject} AS subject_id, {_record_visit_sql(table, record)} AS visit_id, "
        f"{_record_form_sql(table)} AS form_code{source})"
    )


def sqlite_query_ddl() -> list[str]:
    insert_name, update_name, message_name = _query_trigger_names()
    query_scope = _sqlite_query_scope("NEW.table_name", "NEW.record_id", "NEW.subject_id")
    message_scope = _sqlite_query_scope(
        "q.table_name", "q.record_id", "q.subject_id", ' FROM "query" AS q WHERE q.id = NEW.query_id'
    )

    def refusals(scope: str) -> list[str]:
        return _sqlite_lock_refusals([scope], (LockMode.LOCK,), ANY_FORM_LABEL, QUERY_CONSEQUENCE, True)

    return (
        _sqlite_trigger(insert_name, "BEFORE INSERT", "query", refusals(query_scope))
        + _sqlite_trigger(update_name, "BEFORE UPDATE", "query", refusals(query_scope))
        + _sqlite_trigger(message_name, "BEFORE INSERT", "query_message", refusals(message_scope))
    )


def sqlite_append_only_ddl(table: AppendOnlyTable) -> list[str]:
    delete_name, update_name = _append_only_trigger_names(table, "sqlite")
    fixed = [c.name for c in Base.metadata.tables[table.name].columns if c.name not in table.closing_columns]
    allowed = " AND ".join(
        [f"OLD.{quote_name(c)} IS NEW.{quote_name(c)}" for c in fixed]
        + [f"OLD.{quote_name(c)} IS NULL AND NEW.{quote_name(c)} IS NOT NULL" for c in table.closing_columns]
    )
    return _sqlite_trigger(
        delete_name, "BEFORE DELETE", table.name, [f"SELECT RAISE(ABORT, '{GUARD_ERROR}{table.delete_message}');"]
    ) + _sqlite_trigger(
        update_name,
        "BEFORE UPDATE",
        table.name,
        [f"SELECT RAISE(ABORT, '{GUARD_ERROR}{table.update_message}');"],
        when=f"NOT ({allowed})",
    )


# ----------------------------------------------------------------------------------------------- PostgreSQL


def _pg_case(expression: str, labels: dict[str, str], default: str) -> str:
    branches = " ".join(f"WHEN '{key}' THEN '{label}'" for key, label in labels.items())
    return f"CASE {expression} {branches} ELSE {default} END"


def _pg_lock_function() -> str:
    """``jk500_refuse_if_locked``: raise with the wording above when an active lock covers the scope."""
    levels = {level.value: scope_label(level, "") for level in LEVEL_ORDER if level is not LockLevel.FORM}
    level_rank = " ".join(f"WHEN '{level.value}' THEN {i}" for i, level in enumerate(LEVEL_ORDER))
    mode_rank = " ".join(f"WHEN '{mode.value}' THEN {i}" for i, mode in enumerate(MODE_ORDER))
    covers = " OR ".join(f"({_level_condition(level, 'subject', 'visit', 'form')})" for level in LEVEL_ORDER)
    label = _pg_case("hit.level", levels, "form_label")
    mode = _pg_case("hit.mode", {m.value: w for m, w in MODE_WORDS.items()}, "hit.mode")
    return f"""
CREATE OR REPLACE FUNCTION jk500_refuse_if_locked(form text, form_label text, subject integer, visit integer,
                                                  modes text[], consequence text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    hit record;
BEGIN
    SELECT l.level, l.mode INTO hit FROM record_lock AS l
    WHERE l.unlocked_at IS NULL AND l.mode = ANY (modes) AND ({covers})
    ORDER BY CASE l.level {level_rank} END, CASE l.mode {mode_rank} END
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%', '{LOCK_ERROR}' || {label} || ' is ' || {mode} || ': ' || consequence
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;
"""


def _pg_data_lock_function() -> str:
    modes = ", ".join(f"'{m.value}'" for m in MODE_ORDER)
    return f"""
CREATE OR REPLACE FUNCTION jk500_guard_lock() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- TG_ARGV: 0 form code, 1 subject column, 2 visit column ('' when the table has none)
    row_data jsonb;
    rows_data jsonb[] := ARRAY[to_jsonb(NEW)];
BEGIN
    -- A row may neither change inside a locked scope nor be moved into or out of one.
    IF TG_OP = 'UPDATE' THEN rows_data := ARRAY[to_jsonb(OLD)] || rows_data; END IF;
    FOREACH row_data IN ARRAY rows_data LOOP
        PERFORM jk500_refuse_if_locked(
            TG_ARGV[0], 'the ' || TG_ARGV[0] || ' form', (row_data ->> TG_ARGV[1])::integer,
            CASE WHEN TG_ARGV[2] = '' THEN NULL ELSE (row_data ->> TG_ARGV[2])::integer END,
            ARRAY[{modes}], '{DATA_CONSEQUENCE}');
    END LOOP;
    RETURN NEW;
END
$$;
"""


def _pg_query_lock_function() -> str:
    return f"""
CREATE OR REPLACE FUNCTION jk500_guard_query_lock() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    q_subject integer;
    q_table text;
    q_record integer;
BEGIN
    IF TG_TABLE_NAME = 'query_message' THEN
        SELECT subject_id, table_name, record_id INTO q_subject, q_table, q_record FROM "query"
        WHERE id = NEW.query_id;
    ELSE
        q_subject := NEW.subject_id;
        q_table := NEW.table_name;
        q_record := NEW.record_id;
    END IF;
    PERFORM jk500_refuse_if_locked(
        {_record_form_sql("q_table")}, '{ANY_FORM_LABEL}', q_subject, {_record_visit_sql("q_table", "q_record")},
        ARRAY['{LockMode.LOCK.value}'], '{QUERY_CONSEQUENCE}');
    RETURN NEW;
END
$$;
"""


POSTGRES_SDV_FUNCTION = r"""
CREATE OR REPLACE FUNCTION jk500_guard_sdv() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- TG_ARGV: 0 form code, 1 subject column, 2 visit column ('' when none), 3 columns that do not
    --         count as a change of entered data (unaudited and derived)
    unaudited text[] := string_to_array(TG_ARGV[3], ',');
    old_row jsonb;
    new_row jsonb := to_jsonb(NEW);
BEGIN
    -- After an insert (a new row in a verified form) there is no old row; after an update, only a change
    -- to an entered (audited, not derived) column counts.
    IF TG_OP = 'UPDATE' THEN
        old_row := to_jsonb(OLD);
        IF (old_row - unaudited) = (new_row - unaudited) THEN
            RETURN NULL;
        END IF;
    END IF;
    UPDATE sdv_mark SET cleared_at = clock_timestamp(),
                        cleared_reason = 'changed: ' || TG_TABLE_NAME || ' ' || (new_row ->> 'id')
    WHERE cleared_at IS NULL AND form_code = TG_ARGV[0]
      AND subject_id IN ((old_row ->> TG_ARGV[1])::integer, (new_row ->> TG_ARGV[1])::integer)
      AND (TG_ARGV[2] = '' OR visit_id IS NULL
           OR visit_id IN ((old_row ->> TG_ARGV[2])::integer, (new_row ->> TG_ARGV[2])::integer));
    RETURN NULL;
END
$$;
"""

POSTGRES_APPEND_ONLY_FUNCTION = (
    r"""
CREATE OR REPLACE FUNCTION jk500_guard_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- TG_ARGV: 0 closing columns (filled in together, once, from NULL), 1 delete message, 2 update message
    closing text[] := string_to_array(TG_ARGV[0], ',');
    old_row jsonb;
    new_row jsonb;
    column_name text;
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RAISE EXCEPTION '%', '"""
    + GUARD_ERROR
    + r"""' || TG_ARGV[1] USING ERRCODE = 'insufficient_privilege';
    END IF;
    old_row := to_jsonb(OLD);
    new_row := to_jsonb(NEW);
    IF (old_row - closing) IS DISTINCT FROM (new_row - closing) THEN
        RAISE EXCEPTION '%', '"""
    + GUARD_ERROR
    + r"""' || TG_ARGV[2] USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOREACH column_name IN ARRAY closing LOOP
        IF old_row ->> column_name IS NOT NULL OR new_row ->> column_name IS NULL THEN
            RAISE EXCEPTION '%', '"""
    + GUARD_ERROR
    + r"""' || TG_ARGV[2] USING ERRCODE = 'insufficient_privilege';
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
"""
)

#: Dropped at migration base (SQLite's triggers die with their tables; PostgreSQL's functions do not).
POSTGRES_FUNCTIONS = (
    "jk500_guard_lock()",
    "jk500_guard_query_lock()",
    "jk500_guard_sdv()",
    "jk500_guard_append_only()",
    "jk500_refuse_if_locked(text, text, integer, integer, text[], text)",
)


def _pg_trigger(name: str, timing: str, table: str, function: str, level: str = "ROW") -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {name} ON {quote_name(table)}",
        f"CREATE TRIGGER {name} {timing} ON {quote_name(table)} FOR EACH {level} EXECUTE FUNCTION {function}",
    ]


def postgres_table_ddl(table: GuardedTable) -> list[str]:
    insert_name, update_name, sdv_name, sdv_insert_name = table.trigger_names
    where = f"'{table.form.value}', '{table.subject_column}', '{table.visit_column or ''}'"
    unaudited = ",".join(sorted(table.audited.excluded | table.derived))
    return (
        _pg_trigger(insert_name, "BEFORE INSERT", table.name, f"jk500_guard_lock({where})")
        + _pg_trigger(update_name, "BEFORE UPDATE", table.name, f"jk500_guard_lock({where})")
        + _pg_trigger(sdv_name, "AFTER UPDATE", table.name, f"jk500_guard_sdv({where}, '{unaudited}')")
        + _pg_trigger(sdv_insert_name, "AFTER INSERT", table.name, f"jk500_guard_sdv({where}, '{unaudited}')")
    )


def postgres_query_ddl() -> list[str]:
    insert_name, update_name, message_name = _query_trigger_names()
    return (
        _pg_trigger(insert_name, "BEFORE INSERT", "query", "jk500_guard_query_lock()")
        + _pg_trigger(update_name, "BEFORE UPDATE", "query", "jk500_guard_query_lock()")
        + _pg_trigger(message_name, "BEFORE INSERT", "query_message", "jk500_guard_query_lock()")
    )


def postgres_append_only_ddl(table: AppendOnlyTable) -> list[str]:
    delete_name, update_name, truncate_name = _append_only_trigger_names(table, "postgresql")
    function = (
        f"jk500_guard_append_only('{','.join(table.closing_columns)}', '{table.delete_message}', "
        f"'{table.update_message}')"
    )
    return (
        _pg_trigger(delete_name, "BEFORE DELETE", table.name, function)
        + _pg_trigger(update_name, "BEFORE UPDATE", table.name, function)
        + _pg_trigger(truncate_name, "BEFORE TRUNCATE", table.name, function, level="STATEMENT")
    )


# ------------------------------------------------------------------------------------------------ interface


def ddl(dialect: str) -> list[str]:
    """Statements creating the guard triggers for ``dialect`` ("sqlite" or "postgresql")."""
    tables = guarded_tables()
    if dialect == "sqlite":
        statements = [s for t in tables for s in sqlite_table_ddl(t)] + sqlite_query_ddl()
        return statements + [s for t in APPEND_ONLY_TABLES for s in sqlite_append_only_ddl(t)]
    statements = [
        _pg_lock_function(),
        _pg_data_lock_function(),
        _pg_query_lock_function(),
        POSTGRES_SDV_FUNCTION,
        POSTGRES_APPEND_ONLY_FUNCTION,
    ]
    statements += [s for t in tables for s in postgres_table_ddl(t)] + postgres_query_ddl()
    return statements + [s for t in APPEND_ONLY_TABLES for s in postgres_append_only_ddl(t)]


def uninstall_functions(connection: sa.Connection) -> None:
    """At migration base nothing of ours may remain: drop PostgreSQL's guard functions."""
    if connection.dialect.name != "sqlite":
        for function in POSTGRES_FUNCTIONS:
            connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {function}")
