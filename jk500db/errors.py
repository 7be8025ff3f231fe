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


def _constraint_info(name: str) -> tuple[str, str, str] | None:
    """(table, field, rule) of a named constraint in the models' metadata."""
    from jk500db.models import Base  # late: errors is imported by modules the models import

    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if constraint.name == name:
                info = getattr(constraint, "info", {}) or {}
                columns = [c.name for c in getattr(constraint, "columns", [])]
                field = info.get("field") or (columns[0] if columns else name)
                rule = info.get("rule") or _default_rule(constraint, columns)
                return table.name, field, rule
    return None


def _default_rule(constraint: object, columns: list[str]) -> str:
    import sqlalchemy as sa

    if isinstance(constraint, sa.UniqueConstraint):
        return "must be unique" + (f" together with {', '.join(columns[1:])}" if len(columns) > 1 else "")
    if isinstance(constraint, sa.ForeignKeyConstraint):
        return "must refer to an existing record"
    return "breaks a database rule"


def validation_error_from_integrity(exc: Exception) -> ValidationError:
    """Turn a database refusal (IntegrityError) into a ValidationError naming the field and the rule.

    PostgreSQL reports the constraint and column in the error's diagnostics; SQLite only in its message
    ("CHECK constraint failed: ck_subject_sex", "NOT NULL constraint failed: subject.birth_date").
    """
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    message = str(orig).splitlines()[0] if str(orig) else ""
    if diag is not None:  # PostgreSQL
        if diag.constraint_name:
            found = _constraint_info(diag.constraint_name)
            if found:
                return ValidationError(found[1], found[2], table=found[0])
        if diag.column_name and "null value" in message:
            return ValidationError(diag.column_name, "is required", table=diag.table_name)
    for prefix, rule in (("NOT NULL constraint failed: ", "is required"), ("UNIQUE constraint failed: ", None)):
        if message.startswith(prefix):
            columns = [c.strip() for c in message[len(prefix) :].split(",")]
            table, _, field = columns[0].partition(".")
            others = [c.partition(".")[2] for c in columns[1:]]
            return ValidationError(
                field,
                rule or ("must be unique" + (f" together with {', '.join(others)}" if others else "")),
                table=table,
            )
    if message.startswith("CHECK constraint failed: "):
        found = _constraint_info(message.removeprefix("CHECK constraint failed: ").strip())
        if found:
            return ValidationError(found[1], found[2], table=found[0])
    if "FOREIGN KEY" in message.upper():
        return ValidationError("reference", "must refer to an existing record")
    return ValidationError("record", "the database refused the change (no rule recorded for it)")
