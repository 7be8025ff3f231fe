"""Who is changing data, why, and from where, carried by the connection to the audit triggers.

SQLite: a dictionary in the connection's ``info`` that the registered SQL function ``jk500_context(key)``
reads; it is cleared when the transaction ends. PostgreSQL: transaction-local settings (``set_config(...,
true)``) that ``current_setting('jk500.<key>', true)`` reads; PostgreSQL clears them at commit or rollback.
A trigger that finds no actor refuses the write, so nothing is changed anonymously.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.models.vocabularies import ChangeSource

INFO_KEY = "jk500.audit"
#: The actor id of named processes (``jk500db init``, loaders); real users have ids from 1.
SYSTEM_ACTOR_ID = 0
SETTING_PREFIX = "jk500."


@dataclass(frozen=True)
class ChangeContext:
    """The actor of the writes in the current transaction and the reason for them."""

    actor_id: int
    actor_name: str
    source: ChangeSource
    reason: str | None = None

    def as_settings(self) -> dict[str, str | None]:
        return {
            "actor_id": str(self.actor_id),
            "actor_name": self.actor_name,
            "source": self.source.value,
            "reason": self.reason.strip() if self.reason and self.reason.strip() else None,
        }


def system_context(
    process: str, *, reason: str | None = None, source: ChangeSource = ChangeSource.CLI
) -> ChangeContext:
    """The context of a named process acting on nobody's behalf but the system's (e.g. "jk500db init")."""
    return ChangeContext(SYSTEM_ACTOR_ID, f"system: {process}", source, reason)


def _connection(target: Session | sa.Connection) -> sa.Connection:
    return target.connection() if isinstance(target, Session) else target


def set_change_context(target: Session | sa.Connection, context: ChangeContext) -> None:
    """Make ``context`` apply to every write until the current transaction ends."""
    _apply(_connection(target), context.as_settings())


def set_reason(target: Session | sa.Connection, reason: str | None) -> None:
    """Change only the reason for the writes that follow in this transaction."""
    _apply(_connection(target), {"reason": reason.strip() if reason and reason.strip() else None})


def current_reason(target: Session | sa.Connection) -> str | None:
    """The reason the writes of this transaction are audited under, if one was given."""
    connection = _connection(target)
    if connection.dialect.name == "sqlite":
        reason: str | None = connection.info.get(INFO_KEY, {}).get("reason")
        return reason
    value = connection.execute(sa.text("SELECT current_setting(:name, true)"), {"name": SETTING_PREFIX + "reason"})
    return value.scalar() or None


def has_actor(target: Session | sa.Connection) -> bool:
    """Whether this transaction has a change context, i.e. could have written anything at all."""
    connection = _connection(target)
    if connection.dialect.name == "sqlite":
        return connection.info.get(INFO_KEY, {}).get("actor_id") is not None
    value = connection.execute(sa.text("SELECT current_setting(:name, true)"), {"name": SETTING_PREFIX + "actor_id"})
    return bool(value.scalar())


def transaction_key(target: Session | sa.Connection) -> str | None:
    """The ``audit_event.transaction_id`` the triggers write for this transaction."""
    connection = _connection(target)
    if connection.dialect.name == "sqlite":
        key: str | None = connection.info.get(INFO_KEY, {}).get("transaction_id")
        return key
    return str(connection.execute(sa.text("SELECT pg_current_xact_id()::text")).scalar())


def _apply(connection: sa.Connection, settings: dict[str, str | None]) -> None:
    if connection.dialect.name == "sqlite":
        context = connection.info.setdefault(INFO_KEY, {})
        # PostgreSQL numbers its transactions; SQLite does not, so the context names this one.
        context.setdefault("transaction_id", uuid.uuid4().hex)
        context.update(settings)
        return
    for key, value in settings.items():
        # An empty string, not NULL: set_config() cannot store NULL, and the triggers treat '' as absent.
        connection.execute(
            sa.text("SELECT set_config(:name, :value, true)"), {"name": SETTING_PREFIX + key, "value": value or ""}
        )


def clear_sqlite_context(connection: Any) -> None:
    """Engine event: the context lives for one transaction, as PostgreSQL's local settings do."""
    connection.info.pop(INFO_KEY, None)
