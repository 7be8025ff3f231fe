"""Errors users see. Each names what is wrong in words a data manager can act on; none is a raw database text."""

from __future__ import annotations


class Jk500Error(Exception):
    """Base of the errors this package raises on purpose."""


class ConfigurationError(Jk500Error):
    """The database URL or another setting is missing or wrong."""


class DatabaseNotReady(Jk500Error):
    """The database is missing tables or is at a revision this code does not know."""


class ValidationError(Jk500Error):
    """A value breaks a rule. ``field`` names the field, ``rule`` the rule broken."""

    def __init__(self, field: str, rule: str, *, table: str | None = None) -> None:
        self.field = field
        self.rule = rule
        self.table = table
        where = f"{table}.{field}" if table else field
        super().__init__(f"{where}: {rule}")
