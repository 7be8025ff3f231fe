"""Exact numbers for clinical arithmetic.

Rules compare printed boundaries (creatinine 2.1 with ULN 0.7 is exactly 3.0 x ULN, grade 2), which binary
floats get wrong. Every rule therefore converts its inputs here: ``str``, ``int`` and ``Decimal`` are taken
as they are; a ``float`` goes through ``str`` so that ``2.1`` stays ``Decimal("2.1")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

Number = str | int | float | Decimal


class ClinicalInputError(ValueError):
    """An input a rule cannot use; the message names the field and what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def to_decimal(value: Number, field: str) -> Decimal:
    """Return ``value`` as a finite Decimal, or raise ClinicalInputError naming ``field``."""
    if isinstance(value, bool):  # bool is an int subclass; True is never a lab value
        raise ClinicalInputError(field, "expected a number, got a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, float)):
        result = Decimal(str(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ClinicalInputError(field, f"{value!r} is not a number") from None
    else:
        raise ClinicalInputError(field, f"expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ClinicalInputError(field, f"{value!r} is not a finite number")
    return result


def optional_decimal(value: Number | None, field: str) -> Decimal | None:
    """Like :func:`to_decimal`, passing ``None`` (not recorded) through."""
    return None if value is None else to_decimal(value, field)


def rule_error(field: str, rule: str, message: str) -> ClinicalInputError:
    """An input error that names the rule refusing it, e.g. "lln: ctcae5.lab.ALT: '0' must be greater than 0"."""
    return ClinicalInputError(field, f"{rule}: {message}")


def rule_number(value: Number, field: str, rule: str) -> Decimal:
    """:func:`to_decimal`, with the rule named in the error."""
    try:
        return to_decimal(value, field)
    except ClinicalInputError as exc:
        raise rule_error(field, rule, str(exc).removeprefix(f"{field}: ")) from None


def non_negative(value: Number, field: str, rule: str) -> Decimal:
    number = rule_number(value, field, rule)
    if number < 0:
        raise rule_error(field, rule, f"{value!r} is negative")
    return number


def canonical_unit(unit: str, allowed: Sequence[str], field: str, rule: str, aliases: Mapping[str, str]) -> str:
    """The rule's own spelling of ``unit`` (case-insensitive, after ``aliases``), or an error listing them."""
    if not isinstance(unit, str):
        raise rule_error(field, rule, f"expected a unit string, got {type(unit).__name__}")
    spelled = unit.strip()
    spelled = aliases.get(spelled, spelled)
    for candidate in allowed:
        if candidate.lower() == spelled.lower():
            return candidate
    raise rule_error(field, rule, f"{unit!r} is not allowed; use one of {', '.join(allowed)}")
