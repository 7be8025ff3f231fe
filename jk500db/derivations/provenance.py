"""How a derived value records where it came from: rule id and version, and the settings used."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

#: Reasons are stored as one text, one sentence per line.
REASON_SEPARATOR = "\n"


def rule_label(rule_id: str, version: str) -> str:
    """E.g. ``ctcae5.lab.NEUT v1``: what ``*_rule`` columns hold."""
    return f"{rule_id} v{version}"


def settings_json(settings: Mapping[str, object]) -> str:
    """The settings a value was derived with, as stable JSON (sorted keys, Decimals as text)."""
    return json.dumps({k: str(v) if isinstance(v, Decimal) else v for k, v in settings.items()}, sort_keys=True)


def reasons_text(reasons: Iterable[str]) -> str:
    return REASON_SEPARATOR.join(reasons)


def _same(current: Any, new: Any) -> bool:
    # 2.10 and 2.1 are the same number, and a vocabulary member equals its text: a recomputation must not
    # rewrite (and re-audit) an equal value.
    if current is None or new is None:
        return current is None and new is None
    return bool(current == new)


def assign(record: object, **values: Any) -> bool:
    """Set only the attributes whose value changes, so an unchanged recomputation writes nothing."""
    changed = False
    for name, value in values.items():
        if not _same(getattr(record, name), value):
            setattr(record, name, value)
            changed = True
    return changed
