"""Alembic environment: the models' metadata is the target; batch mode on SQLite (ALTER is limited there).

A caller may hand over an open connection in ``config.attributes["connection"]`` (the CLI and the tests do,
so a migration runs inside their transaction); otherwise the configured database URL is used.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection

from jk500db.audit import guards, triggers
from jk500db.db import create_engine
from jk500db.models import Base
from jk500db.models.types import ExactDecimal, UTCDateTime, Vocabulary

config = context.config
target_metadata = Base.metadata


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write our column types so migrations do not depend on the vocabularies' Python enums.

    A Vocabulary is a plain VARCHAR in the database; its CHECK constraint is rendered on its own.
    """
    if kind != "type":
        return False
    if isinstance(obj, Vocabulary):
        return f"sa.String(length={obj.impl_instance.length})"
    if isinstance(obj, (ExactDecimal, UTCDateTime)):
        autogen_context.imports.add("import jk500db.models.types")
        return f"jk500db.models.types.{type(obj).__name__}()"
    return False


def _note_applied(**_kwargs: Any) -> None:
    config.attributes["versions_applied"] = config.attributes.get("versions_applied", 0) + 1


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        on_version_apply=_note_applied,
    )


def run_migrations_offline() -> None:
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")


def _run(connection: Connection) -> None:
    _configure(connection)
    sqlite = connection.dialect.name == "sqlite"
    with context.begin_transaction():
        if sqlite:
            # Batch mode rebuilds a table under a temporary name and renames it back. SQLite's modern RENAME
            # re-parses every trigger that mentions the table, and the guard triggers on other tables mention
            # it while it is briefly missing; the legacy rename does not. Triggers are recreated below.
            connection.exec_driver_sql("PRAGMA legacy_alter_table = ON")
        try:
            context.run_migrations()
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA legacy_alter_table = OFF")
        # A migration may rebuild a table (SQLite's batch mode does), dropping its triggers: after migrations
        # that reach the head, (re)create every audit trigger from the current models. Only then: a run that
        # applied nothing (alembic check, current) must not quietly repair triggers someone removed, which
        # `jk500db audit verify` is there to report.
        if not config.attributes.get("versions_applied"):
            return
        revision = context.get_context().get_current_revision()
        if revision == context.get_head_revision():
            triggers.install(connection)
        elif revision is None:
            triggers.uninstall_functions(connection)
            guards.uninstall_functions(connection)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine()
    try:
        with engine.begin() as connection:  # committed on leaving, with everything _run did
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
