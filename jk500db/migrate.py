"""Run the Alembic migrations from code (the CLI and the tests), and tell whether a database is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from jk500db.errors import DatabaseNotReady

#: migrations/ sits beside the package in the source tree (the project installs in editable mode).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` in one transaction."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), revision)


def ensure_known_revision(connection: Connection) -> str | None:
    """The database's revision, or DatabaseNotReady if this code does not know it (a newer release wrote it)."""
    revision = current_revision(connection)
    if revision is None:
        return None
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if revision not in known:
        raise DatabaseNotReady(
            f"the database is at migration {revision!r}, which this version of jk500db does not know; "
            "it was written by a newer release. Upgrade jk500db, or restore the matching backup."
        )
    return revision


def ensure_current(connection: Connection) -> None:
    """Refuse to work on a database that is not at the head revision."""
    revision = ensure_known_revision(connection)
    if revision != head_revision():
        raise DatabaseNotReady(
            "the database has not been initialised"
            if revision is None
            else f"the database is at migration {revision!r}, not the current {head_revision()!r}"
        )
