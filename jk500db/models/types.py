"""Column types and constraint helpers shared by every model.

- ``ExactDecimal``: values as entered. PostgreSQL keeps them in NUMERIC; SQLite has no exact decimal
  storage (its NUMERIC affinity turns "2.10" into the float 2.1), so there they are kept as text.
- ``UTCDateTime``: timezone-aware UTC in Python, TIMESTAMPTZ on PostgreSQL, UTC text on SQLite.
- ``Vocabulary``: a controlled list stored as its string values, with a CHECK constraint named after the
  column added by ``add_vocabulary_checks`` (SQLAlchemy's own Enum names the CHECK after the enum class, so two
  columns sharing a vocabulary would collide).
- ``PartialDate``: a year, year-month or full date in three integer columns, so the database can check it.

Every CHECK carries ``info={"field": ..., "rule": ...}`` so a refusal can be reported by field and rule.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal number kept exactly as entered (scale included) on both engines."""

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float) or not isinstance(
            value, Decimal
        ):  # never trust a binary float: go through its shortest repr
            value = Decimal(str(value))
        if not value.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A moment in time, always timezone-aware UTC in Python; naive datetimes are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        return dt.datetime

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("a timestamp must be timezone-aware (UTC); got a naive or non-datetime value")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Vocabulary(TypeDecorator[Any]):
    """A value from a ``StrEnum``; stored as the member's value, checked by the database."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum_class: type[enum.StrEnum]) -> None:
        self.enum_class = enum_class
        super().__init__(length=max(len(m.value) for m in enum_class))

    @property
    def values(self) -> list[str]:
        return [m.value for m in self.enum_class]

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_class(value).value  # raises ValueError for a value outside the list

    def process_result_value(self, value: Any, dialect: Dialect) -> enum.StrEnum | None:
        return None if value is None else self.enum_class(value)

    def copy(self, **kw: Any) -> Vocabulary:
        return Vocabulary(self.enum_class)


def add_vocabulary_checks(metadata: sa.MetaData) -> None:
    """Give every Vocabulary column a CHECK constraint ``ck_<table>_<column>`` (once; idempotent).

    Done over the finished metadata rather than in a column event, because copies of a table (Alembic's
    autogenerate makes them) would fire the event again and duplicate the constraint.
    """
    for table in metadata.tables.values():
        present = {str(c.name) for c in table.constraints}
        for column in table.columns:
            if not isinstance(column.type, Vocabulary):
                continue
            if f"ck_{table.name}_{column.name}" in present:
                continue
            allowed = ", ".join(f"'{v}'" for v in column.type.values)
            table.append_constraint(
                sa.CheckConstraint(
                    f"{column.name} IN ({allowed})",
                    name=column.name,
                    info={"field": column.name, "rule": f"must be one of: {', '.join(column.type.values)}"},
                )
            )


def check(sql: str, name: str, *, field: str, rule: str) -> sa.CheckConstraint:
    """A named CHECK constraint that knows which field and rule it enforces."""
    return sa.CheckConstraint(sql, name=name, info={"field": field, "rule": rule})


def range_check(column: str, low: int | str | None, high: int | str | None) -> sa.CheckConstraint:
    """``low <= column <= high`` (either bound optional). CAST because SQLite keeps exact decimals as text."""
    value = f"CAST({column} AS NUMERIC)"
    parts = []
    if low is not None:
        parts.append(f"{value} >= {low}")
    if high is not None:
        parts.append(f"{value} <= {high}")
    if low is not None and high is not None:
        rule = f"must be between {low} and {high}"
    elif low is not None:
        rule = f"must be at least {low}"
    else:
        rule = f"must be at most {high}"
    return check(f"{column} IS NULL OR ({' AND '.join(parts)})", f"{column}_range", field=column, rule=rule)


def positive_check(column: str) -> sa.CheckConstraint:
    """``column > 0`` when given."""
    return check(
        f"{column} IS NULL OR CAST({column} AS NUMERIC) > 0",
        f"{column}_positive",
        field=column,
        rule="must be greater than zero",
    )


def order_check(later: str, earlier: str) -> sa.CheckConstraint:
    """``later >= earlier`` where both are known (dates and UTC timestamps compare in both engines)."""
    return check(
        f"{later} IS NULL OR {earlier} IS NULL OR {later} >= {earlier}",
        f"{later}_after_{earlier}",
        field=later,
        rule=f"must not be before {earlier.replace('_', ' ')}",
    )


def value_or_reason_check(value: str, reason: str) -> sa.CheckConstraint:
    """Exactly one of a value and its missing-data reason: the reason never hides inside the value."""
    return check(
        f"({value} IS NULL) <> ({reason} IS NULL)",
        f"{value}_or_{reason}",
        field=value,
        rule=f"give either a value or a reason it is missing ({reason.replace('_', ' ')}), not both",
    )


def requires_check(column: str, condition: str, rule: str) -> sa.CheckConstraint:
    """``column`` must be given when ``condition`` holds (e.g. a date when the event happened)."""
    return check(f"NOT ({condition}) OR {column} IS NOT NULL", f"{column}_required", field=column, rule=rule)


@dataclass(frozen=True)
class PartialDate:
    """A date known to the year, the month or the day (ISO 8601 truncation, never imputed)."""

    year: int | None
    month: int | None = None
    day: int | None = None

    def __composite_values__(self) -> tuple[int | None, int | None, int | None]:
        return self.year, self.month, self.day

    def __post_init__(self) -> None:
        if self.year is None and (self.month is not None or self.day is not None):
            raise ValueError("a partial date needs its year")
        if self.month is None and self.day is not None:
            raise ValueError("a partial date with a day needs its month")
        if self.day is not None:
            dt.date(self.year or 1, self.month or 1, self.day)  # raises for 2023-02-30
        elif self.month is not None and not 1 <= self.month <= 12:
            raise ValueError("month must be 1 to 12")

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """'2023', '2023-04' or '2023-04-17'."""
        parts = text.strip().split("-")
        if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
            raise ValueError(f"{text!r} is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD")
        numbers = [int(p) for p in parts] + [None] * (3 - len(parts))
        return cls(numbers[0], numbers[1], numbers[2])

    @classmethod
    def from_date(cls, value: dt.date) -> PartialDate:
        return cls(value.year, value.month, value.day)

    @property
    def is_complete(self) -> bool:
        return self.day is not None

    def as_date(self) -> dt.date | None:
        """The full date, or None when only the year or month is known (no imputation)."""
        if self.year is None or self.month is None or self.day is None:
            return None
        return dt.date(self.year, self.month, self.day)

    def isoformat(self) -> str:
        if self.year is None:
            return ""
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        return text

    def __str__(self) -> str:
        return self.isoformat()


def partial_date_checks(prefix: str) -> tuple[sa.CheckConstraint, ...]:
    """Database checks for the three columns ``<prefix>_year``, ``_month``, ``_day`` of a PartialDate."""
    y, m, d = f"{prefix}_year", f"{prefix}_month", f"{prefix}_day"
    return (
        check(
            f"{y} IS NULL OR {y} BETWEEN 1900 AND 2100",
            f"{y}_range",
            field=prefix,
            rule="year must be between 1900 and 2100",
        ),
        check(
            f"{m} IS NULL OR ({m} BETWEEN 1 AND 12 AND {y} IS NOT NULL)",
            f"{m}_range",
            field=prefix,
            rule="month must be 1 to 12 and needs a year",
        ),
        check(
            f"{d} IS NULL OR ({d} BETWEEN 1 AND 31 AND {m} IS NOT NULL)",
            f"{d}_range",
            field=prefix,
            rule="day must be 1 to 31 and needs a month",
        ),
    )
