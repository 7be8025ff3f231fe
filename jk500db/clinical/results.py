"""Result objects shared by the grading rules."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GradeResult:
    """A computed grade with the criterion that decided it.

    ``grade`` 0 means no gradable abnormality (no CRS, no ICANS). ``reasons`` are sentences a reviewer can
    read next to the value; ``rule_id`` and ``rule_version`` are stored with every derived value.
    """

    grade: int
    reasons: tuple[str, ...]
    rule_id: str
    rule_version: str
    term: str | None = None
    settings: dict[str, object] = field(default_factory=dict)
