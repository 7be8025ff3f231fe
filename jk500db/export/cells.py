"""Cell values safe to open in a spreadsheet.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by
Excel, LibreOffice and Google Sheets (CSV injection, OWASP). Free text typed into a form (an AE term, a reason)
must arrive as the text it was, so such a cell gets a leading apostrophe, which spreadsheets show as a text
marker and do not run. Numbers are left alone: a negative value is data, not a formula. A number here is a
signed decimal in plain ASCII (``-1``, ``+2.50``, ``-1.5e3``), written as one regular expression so the database
can apply the same rule when it renders a CSV itself (``jk500db.export.tidy_live``); anything else that starts
like a formula, digit groupings and non-ASCII digits included, is neutralised.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A signed number that a formula-like first character does not make a formula (POSIX and Python syntax alike).
NUMBER_PATTERN = r"^[+-][0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?$"
_NUMBER = re.compile(NUMBER_PATTERN)


def neutralise_formula(value: Any) -> Any:
    """``value`` unchanged, unless it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    # fullmatch, not match: Python's "$" also matches before a final line feed, PostgreSQL's does not.
    return _NUMBER.fullmatch(text) is not None
