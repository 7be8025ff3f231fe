"""Engines and sessions.

SQLite is opened with the pragmas a clinical record needs on every connection: foreign keys enforced, a
busy timeout instead of instant "database is locked", synchronous=FULL so a committed write survives a power
cut, and the rollback journal (WAL only on SQLite 3.51.3 or newer, which fixed WAL-reset corruption).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session, sessionmaker

from jk500db.audit.chain import sqlite_chain
from jk500db.audit.context import INFO_KEY, clear_sqlite_context
from jk500db.config import database_url

#: SQLite releases whose WAL mode is safe for this use (see the module docstring).
SAFE_WAL_VERSION = (3, 51, 3)
BUSY_TIMEOUT_MS = 10_000


def sqlite_journal_mode(version: tuple[int, ...] = sqlite3.sqlite_version_info) -> str:
    return "WAL" if version >= SAFE_WAL_VERSION else "DELETE"


def _prepare_sqlite_connection(dbapi_connection: Any, record: Any) -> None:
    """Pragmas, and the SQL functions the audit triggers call (a connection without them cannot write)."""
    info = record.info

    def context_value(key: str) -> str | None:
        return info.get(INFO_KEY, {}).get(key)

    dbapi_connection.create_function("jk500_context", 1, context_value)
    dbapi_connection.create_function("jk500_chain", -1, sqlite_chain, deterministic=True)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute(f"PRAGMA journal_mode = {sqlite_journal_mode()}")
    finally:
        cursor.close()


def create_engine(url: str | URL | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: the configured database), with SQLite's pragmas set."""
    resolved = url if isinstance(url, URL) else database_url(url)
    if resolved.get_backend_name() == "sqlite":
        # pysqlite's own transaction handling issues BEGIN lazily and breaks SAVEPOINTs; let
        # SQLAlchemy emit BEGIN itself (SQLAlchemy docs, "Serializable isolation / Savepoints").
        kwargs.setdefault("connect_args", {}).setdefault("isolation_level", None)
    engine = sa.create_engine(resolved, **kwargs)
    from jk500db.derivations import install  # late: the derivations import the models and services
    from jk500db.services import text

    install()  # every session commit recomputes derived values and runs the edit checks
    text.install()  # every flush refuses control characters in text
    if resolved.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _prepare_sqlite_connection)
        event.listen(engine, "commit", clear_sqlite_context)
        event.listen(engine, "rollback", clear_sqlite_context)

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@dataclass
class StatementCount:
    statements: int = 0


@contextmanager
def counting_statements(engine: Engine) -> Iterator[StatementCount]:
    """Count the SQL statements ``engine`` runs inside the block (tests pin pages' counts; benchmarks print them)."""
    tally = StatementCount()

    def count(*_: Any) -> None:
        tally.statements += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield tally
    finally:
        event.remove(engine, "before_cursor_execute", count)
