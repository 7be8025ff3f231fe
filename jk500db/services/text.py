"""Text the database keeps: no control characters other than tab and line breaks.

A NUL or another control character pasted into a form is never part of what was observed, and it breaks what
reads the data later: PostgreSQL cannot store NUL at all (the save would fail with a database error), SAS
transport and XML 1.0 cannot carry these characters, and SQLite's own CSV rendering of an export ends a text at
a NUL (``jk500db.export.tidy_live``). Every text the ORM writes is therefore checked before the flush, on both
engines, and refused with the field and the character named, so nothing is half-written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from jk500db.errors import ValidationError

#: ASCII control characters other than tab, line feed and carriage return.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character_rule(text: str) -> str | None:
    """Why ``text`` may not be kept, or None when it may."""
    found = CONTROL_CHARACTERS.search(text)
    if found is None:
        return None
    return f"must not hold the control character U+{ord(found.group()):04X}; only tab and line breaks are allowed"


@cache
def _text_columns(mapper: sa.orm.Mapper[Any]) -> tuple[str, ...]:
    return tuple(
        attribute.key
        for attribute in mapper.column_attrs
        if any(isinstance(column.type, (sa.String, sa.Text)) for column in attribute.columns)
    )


def check_texts(session: Session, flush_context: UOWTransaction | None = None, instances: Any = None) -> None:
    """Refuse a new or changed text holding a control character (``before_flush``)."""
    for instances_of, values in ((session.new, _values), (session.dirty, _changed_values)):
        for instance in instances_of:  # (each ``session.new`` builds a new set: read once, not per object)
            state = sa.inspect(instance)
            for key, value in values(state):
                if isinstance(value, str) and (rule := control_character_rule(value)) is not None:
                    raise ValidationError(key, rule, table=state.mapper.local_table.description)


def _values(state: Any) -> Iterator[tuple[str, Any]]:
    """Every text of a new object."""
    for key in _text_columns(state.mapper):
        yield key, state.dict.get(key)


def _changed_values(state: Any) -> Iterator[tuple[str, Any]]:
    """The texts changed on a loaded object (its history; nothing is loaded)."""
    for key in _text_columns(state.mapper):
        for value in state.attrs[key].history.added:
            yield key, value


def install() -> None:
    """Check every session's flush, whatever writes through the ORM (idempotent)."""
    if not event.contains(Session, "before_flush", check_texts):
        event.listen(Session, "before_flush", check_texts)
