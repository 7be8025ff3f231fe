"""CSV files as every export writes them: UTF-8, ``\\n`` line ends, one text form per value, formulas neutralised.

One text form per value keeps two exports of the same data byte-identical and lets a reader type the column
back: decimals exactly as entered, dates and UTC times in ISO 8601 (times end in ``Z``), vocabulary codes by
value, booleans as ``true``/``false``, missing as an empty cell.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from jk500db.export.cells import neutralise_formula


def cell_text(value: Any) -> str:
    """The CSV text of one value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("exports write aware UTC times only")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (dt.date, Decimal, int, str)):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    raise TypeError(f"no CSV text for {type(value).__name__}")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``rows`` under ``header``; return the number of data rows. Streams: rows may be a generator."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([neutralise_formula(cell_text(value)) for value in row])
            count += 1
    return count
