"""CSV files as every export writes them: UTF-8, ``\\n`` line ends, one text form per value, formulas neutralised.

One text form per value keeps two exports of the same data byte-identical and lets a reader type the column
back: decimals exactly as entered, dates and UTC times in ISO 8601 (times end in ``Z``), vocabulary codes by
value, booleans as ``true``/``false``, missing as an empty cell. A field holding a comma, a double quote, a line
feed or a carriage return is quoted (RFC 4180; PostgreSQL's COPY quotes the same fields).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any, Protocol

from jk500db.export.cells import FORMULA_STARTS, neutralise_formula

#: First characters that can start a formula (an empty string never does).
FORMULA_FIRST = frozenset(FORMULA_STARTS)
#: The characters that make ``csv_writer`` quote a field: the delimiter, the quote and both line-break characters.
QUOTED_CHARACTERS = ',"\n\r'


def _utc_text(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("exports write aware UTC times only")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _text_of_type(kind: type) -> Callable[[Any], str]:
    """How values of ``kind`` become text (looked up once per type: exports write millions of cells)."""
    if issubclass(kind, bool):
        return lambda value: "true" if value else "false"
    if issubclass(kind, Enum):
        return lambda value: str(value.value)
    if issubclass(kind, dt.datetime):
        return _utc_text
    if issubclass(kind, dt.date):
        return dt.date.isoformat
    if issubclass(kind, (Decimal, int, str)):
        return str
    raise TypeError(f"no CSV text for {kind.__name__}")


_TEXT_BY_TYPE: dict[type, Callable[[Any], str]] = {}


def cell_text(value: Any) -> str:
    """The CSV text of one value."""
    if value is None:
        return ""
    kind = type(value)
    convert = _TEXT_BY_TYPE.get(kind)
    if convert is None:
        convert = _TEXT_BY_TYPE[kind] = _text_of_type(kind)
    return convert(value)


def csv_cell(value: Any) -> str:
    """:func:`cell_text`, with free text that a spreadsheet would run as a formula neutralised."""
    if type(value) is str:
        return neutralise_formula(value) if value[:1] in FORMULA_FIRST else value
    return cell_text(value)


class CsvWriter(Protocol):
    def writerow(self, row: Iterable[Any], /) -> Any: ...

    def writerows(self, rows: Iterable[Iterable[Any]], /) -> None: ...


class _LineFeedRows:
    """Python's csv module quotes a field for the characters of its line terminator only, so with ``\n`` a
    field holding a bare carriage return went out unquoted, and a reader took it for the end of the row. The
    rows are therefore made with ``\r\n`` (such a field is quoted) and written with ``\n``: the writer hands
    over one whole row per call."""

    def __init__(self, handle: IO[str]) -> None:
        self._write = handle.write

    def write(self, row: str) -> int:
        return self._write(row[:-2] + "\n")


def csv_writer(handle: IO[str]) -> CsvWriter:
    """The csv writer of every export CSV: ``\n`` line ends; a field holding ``,`` ``"`` ``\n`` or ``\r`` quoted."""
    writer: CsvWriter = csv.writer(_LineFeedRows(handle), lineterminator="\r\n")
    return writer


def csv_field(text: str) -> str:
    """``text`` as ``csv_writer`` writes it as one field of a row of several (a lone empty field differs)."""
    if any(character in text for character in QUOTED_CHARACTERS):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write ``rows`` under ``header``; return the number of data rows. Streams: rows may be a generator."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])
            count += 1
    return count
