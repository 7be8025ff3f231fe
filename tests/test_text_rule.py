"""Text kept by the database holds no control characters other than tab and line breaks (both engines).

PostgreSQL cannot store NUL at all; SAS transport and XML cannot carry control characters; SQLite's rendering of
the tidy CSV ends a text at a NUL. The rule is checked before every flush (``jk500db.services.text``), so a value
pasted with such a character is refused by name and nothing is written.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.errors import ValidationError
from jk500db.models import AdverseEvent, LabResult
from jk500db.services.records import update_record
from jk500db.services.text import control_character_rule
from tests import factories


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x0b", "\x1b", "\x7f"])
def test_a_control_character_is_named(character: str) -> None:
    assert control_character_rule(f"fever{character}") == (
        f"must not hold the control character U+{ord(character):04X}; only tab and line breaks are allowed"
    )


def test_tab_and_line_breaks_are_text() -> None:
    assert control_character_rule("first line\r\nsecond\tline\rthird\n") is None


def test_a_new_record_with_a_nul_is_refused_and_nothing_is_written(session: Session) -> None:
    subject = factories.subject(session)
    before = session.scalar(sa.select(sa.func.count()).select_from(AdverseEvent))
    with pytest.raises(ValidationError) as caught:
        factories.adverse_event(session, subject_id=subject.id, verbatim="fever\x00 at night")
    assert (caught.value.table, caught.value.field) == ("adverse_event", "verbatim")
    assert "U+0000" in caught.value.rule
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(AdverseEvent)) == before


def test_an_edit_with_a_control_character_is_refused_and_the_record_keeps_its_value(session: Session) -> None:
    lab = factories.lab_result(session)
    session.commit()
    kept = lab.unit
    with pytest.raises(ValidationError, match=r"lab_result\.unit: .*U\+001B"):
        update_record(session, lab, {"unit": "10^9/L\x1b[0m"}, seen_version=lab.version, reason="pasted")
    session.rollback()
    session.expire_all()
    assert session.get(LabResult, lab.id).unit == kept == "10^9/L"  # type: ignore[union-attr]


def test_line_breaks_and_tabs_are_kept_as_typed(session: Session) -> None:
    subject = factories.subject(session)
    event = factories.adverse_event(session, subject_id=subject.id, verbatim="fever\r\nrigors\tat night")
    session.expire_all()
    assert session.get(AdverseEvent, event.id).verbatim == "fever\r\nrigors\tat night"  # type: ignore[union-attr]
