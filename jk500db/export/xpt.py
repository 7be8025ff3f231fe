"""SAS transport (XPORT version 5) and CSV files of CDISC datasets, behind our own check of the version 5 limits.

Regulators take SDTM and ADaM datasets as SAS transport files, version 5 (FDA Study Data Technical Conformance
Guide). pyreadstat writes whatever it is given, so :func:`prepare` first checks every dataset and refuses what does
not fit with a :class:`TransportLimitError` naming the dataset, the variable and the rule:

- dataset and variable names: 1 to 8 upper-case ASCII letters, digits or underscores, starting with a letter;
- dataset and variable labels: at most 40 printable ASCII characters;
- character values: at most 200 bytes of ASCII (and no longer than a variable's declared ``length``);
- numbers: ``int`` or finite ``Decimal`` inside the range of the format's IBM doubles; integers (and the values
  of integer variables, which must be whole) up to 2**53, so that the double holds them exactly;
- a value of the variable's codelist, when the variable lists its allowed values.

Text longer than 200 characters (SDTMIG 3.4 section 4.5.3.2): in a general-observation-class domain (and DM and SV,
which may have supplemental qualifiers) the first piece stays in the variable and each further piece of at most 200
characters becomes a SUPP-- record whose QNAM is the variable name followed by 1, 2, ... (the last of eight
characters replaced by the digit, e.g. AEACNOTH -> AEACNOT1) and whose QLABEL is the variable's label. Pieces are
cut between words, just before a blank, so that no piece ends in a blank (SAS would drop it) and joining the pieces
in QNAM order gives the text back exactly. Where no split is possible (a key, a codelist value, a dataset with no
supplemental qualifiers such as an ADaM dataset or TS, a record without --SEQ, more than nine pieces) the value is
refused.

Non-ASCII text: the transport file holds ASCII only, and clinical text must not change silently. A character is
spelled in ASCII only when the spelling keeps the meaning: the symbols of :data:`ASCII_SPELLING` (``≥`` -> ``>=``,
``mg/m²`` -> ``mg/m2``, ``µ`` -> ``u`` as in CDISC units, typographic quotes and dashes, a few Greek letters by
name) and Latin letters with diacritics by their base letter (``é`` -> ``e``). Every value so spelled is listed,
original beside exported, in ``transliterations.csv`` next to the datasets. Any other character is refused: the
source value has to be corrected.

What is written: for each dataset with records, ``<name>.xpt`` (version 5) and ``<name>.csv`` with the same values.
Numbers in the transport file are doubles, the format's only numeric type: the nearest double to the decimal, which
gives back any value of up to 15 significant digits as typed (a derived value kept to more digits, such as a BSA to
28, is rounded there). The CSV keeps every number's exact ``Decimal`` text and, as every CSV of an export does,
marks a text that a spreadsheet would run as a formula with a leading apostrophe (:mod:`jk500db.export.cells`).
A dataset without records gets no file (define.xml says ``def:HasNoData``). Trailing blanks of a text are not kept
(a SAS character value cannot hold them) and an empty text is missing.

Dates (:attr:`DataType.DATE`, the ADaM ``*DT`` variables) are numeric SAS dates in the transport file: the number of
days since 1960-01-01, with the display format ``DATE9.`` (ADaMIG 1.3 section 3.1.4, "Timing Variable
Conventions", 1 and 2: variables whose names end in DT are numeric dates, formatted to be human-readable with no
loss of precision). A SAS date holds whole days only, so a date value must be a complete ISO 8601 date
("2024-03-11"); a partial one is refused (ADaM imputes it with a ``*DTF`` flag or leaves it missing; the writer
never guesses). The CSV keeps the ISO 8601 text, which a reader without SAS formats can read; both stand for the
same day, and define.xml says so on each date variable. SDTM's --DTC variables (:attr:`DataType.DATETIME`) stay
ISO 8601 character in both files, partial dates included.

Reproducible: pyreadstat stamps the transport headers (library and member, created and modified) with the clock.
The writer overwrites the four stamps with the moment the data stand for (:func:`snapshot_moment`), or a fixed
moment when none is given, so the same data give the same bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]  # pandas ships no type information
import pyreadstat

from jk500db.errors import ValidationError
from jk500db.export.context import ExportContext
from jk500db.export.csvfiles import write_csv
from jk500db.export.datasets import Core, Dataset, DataType, Origin, Value, Variable
from jk500db.export.snapshot import EMPTY_TRAIL_MOMENT
from jk500db.services.text import CONTROL_CHARACTERS

NAME_RULE = re.compile(r"[A-Z][A-Z0-9_]{0,7}\Z")
NAME_LIMIT = 8
LABEL_LIMIT = 40
TEXT_LIMIT = 200
#: SDTMIG 3.4 section 4.5.3.2 numbers the supplemental pieces with one digit.
MAX_EXTRA_PIECES = 9
#: A double holds integers exactly up to 2**53.
MAX_EXACT_INTEGER = 2**53
#: Magnitudes an IBM double of the transport file can hold (16**-65 to 16**63, rounded inwards).
SMALLEST_MAGNITUDE = Decimal("1e-78")
LARGEST_MAGNITUDE = Decimal("7e75")
#: Header stamp written when the caller gives no moment: fixed, so that the bytes never depend on the clock.
FIXED_MOMENT = EMPTY_TRAIL_MOMENT
#: Day 0 of SAS dates: a SAS date is the number of days since 1 January 1960.
SAS_EPOCH = dt.date(1960, 1, 1)
#: Display format of the transport file's dates (and define.xml's def:DisplayFormat): "11MAR2024".
DATE_FORMAT = "DATE9."
#: The one form a complete ISO 8601 date takes (``date.fromisoformat`` alone would also take "20240311").
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
TRANSLITERATIONS_FILE = "transliterations.csv"

#: Classes whose domains may carry supplemental qualifiers for long text (SDTMIG 3.4 sections 4.5.3.2 and 8.4).
SPLIT_CLASSES = frozenset({"EVENTS", "INTERVENTIONS", "FINDINGS", "FINDINGS ABOUT"})
SPLIT_SPECIAL_PURPOSE = frozenset({"DM", "SV"})

#: ASCII spellings that keep a character's meaning. Anything not here (and not a Latin letter with diacritics)
#: is refused rather than guessed.
ASCII_SPELLING: dict[str, str] = {
    "\u00a0": " ",  # no-break space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2009": " ",  # thin space
    "\u202f": " ",  # narrow no-break space
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2212": "-",  # minus sign
    "\u2018": "'",  # left single quotation mark
    "\u2019": "'",  # right single quotation mark (apostrophe)
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',  # right double quotation mark
    "\u2026": "...",  # horizontal ellipsis
    "\u2264": "<=",
    "\u2265": ">=",
    "\u00b1": "+/-",
    "\u00d7": "x",  # multiplication sign, as in 10^9 cells
    "\u00b2": "2",  # superscript two, as in the CDISC unit mg/m2
    "\u00b3": "3",  # superscript three, as in mm3
    "\u00b5": "u",  # micro sign, as in the CDISC units ug and uL
    "\u03bc": "u",  # Greek mu used as the micro prefix
    "\u03b1": "alpha",
    "\u03b2": "beta",
    "\u03b3": "gamma",
    "\u03b4": "delta",
    "\u03ba": "kappa",
    "\u03bb": "lambda",
    "\u00df": "ss",
    "\u00e6": "ae",
    "\u00c6": "AE",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u00f8": "o",
    "\u00d8": "O",
}

#: The variables of a supplemental qualifiers dataset (SDTMIG 3.4 section 8.4.1), for the SUPP-- datasets the split
#: creates.
SUPP_VARIABLES: tuple[Variable, ...] = (
    Variable("STUDYID", "Study Identifier", DataType.TEXT, Core.REQUIRED, Origin.PROTOCOL),
    Variable("RDOMAIN", "Related Domain Abbreviation", DataType.TEXT, Core.REQUIRED, Origin.ASSIGNED),
    Variable("USUBJID", "Unique Subject Identifier", DataType.TEXT, Core.REQUIRED, Origin.ASSIGNED),
    Variable("IDVAR", "Identifying Variable", DataType.TEXT, Core.EXPECTED, Origin.ASSIGNED),
    Variable("IDVARVAL", "Identifying Variable Value", DataType.TEXT, Core.EXPECTED, Origin.ASSIGNED),
    Variable("QNAM", "Qualifier Variable Name", DataType.TEXT, Core.REQUIRED, Origin.ASSIGNED, length=8),
    Variable("QLABEL", "Qualifier Variable Label", DataType.TEXT, Core.REQUIRED, Origin.ASSIGNED),
    Variable("QVAL", "Data Value", DataType.TEXT, Core.REQUIRED, Origin.COLLECTED),
    Variable("QORIG", "Origin", DataType.TEXT, Core.REQUIRED, Origin.ASSIGNED),
    Variable(
        "QEVAL",
        "Evaluator",
        DataType.TEXT,
        Core.EXPECTED,
        Origin.ASSIGNED,
        comment="Null: the rest of a long text is the same data as its parent variable, not a subjective "
        "evaluation, and SDTMIG 3.4 section 8.4.1 names an evaluator for subjective data only.",
    ),
)
SUPP_KEYS = ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM")

Row = dict[str, Value]


class TransportLimitError(ValidationError):
    """A dataset breaks a SAS transport v5 limit or the SDTM split rule; names dataset, variable and rule."""

    def __init__(self, dataset: str, variable: str, rule: str) -> None:
        super().__init__(variable, rule, table=dataset)
        self.dataset = dataset


@dataclass(frozen=True)
class Transliteration:
    """One value whose non-ASCII characters were spelled in ASCII."""

    dataset: str
    variable: str
    row: str
    original: str
    exported: str


@dataclass(frozen=True)
class Split:
    """The SUPP-- dataset and QNAMs that hold the rest of a variable's texts longer than 200 characters."""

    supplemental: str
    qnams: tuple[str, ...]


@dataclass
class TransportData:
    """The datasets exactly as the files hold them, and what the preparation did to get there."""

    datasets: list[Dataset]
    #: (dataset, variable) -> storage length in the transport file (8 for numbers).
    lengths: dict[tuple[str, str], int]
    transliterations: list[Transliteration] = field(default_factory=list)
    #: (dataset, variable) -> where the rest of its long texts went.
    splits: dict[tuple[str, str], Split] = field(default_factory=dict)

    def dataset(self, name: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        raise KeyError(name)


def file_name(dataset: Dataset | str, suffix: str = ".xpt") -> str:
    """``ae.xpt``: lower-case dataset names, as submissions name their files."""
    name = dataset if isinstance(dataset, str) else dataset.name
    return name.lower() + suffix


# --- preparation: checks, ASCII, splits ---------------------------------------------------------------------------


def prepare(datasets: Sequence[Dataset]) -> TransportData:
    """Check ``datasets`` against the transport limits and return them as the files will hold them.

    The input is not changed. Long texts are split into SUPP-- records (added to the domain's SUPP-- dataset when
    the list has one, else to a new one placed after the domain).
    """
    seen: set[str] = set()
    for dataset in datasets:
        _check_metadata(dataset)
        if dataset.name in seen:
            _refuse(dataset.name, "dataset name", f"{dataset.name} appears twice; each dataset is one file")
        seen.add(dataset.name)
    state = _State()
    prepared = [dataclasses.replace(dataset, rows=_prepare_rows(dataset, state)) for dataset in datasets]
    prepared = _add_supplemental_records(prepared, state)
    for dataset in prepared:
        if dataset.name.startswith("SUPP"):
            _check_qualifier_names(dataset)
    lengths = {
        (dataset.name, variable.name): _storage_length(dataset, variable)
        for dataset in prepared
        for variable in dataset.variables
    }
    splits = {key: Split(supplemental, tuple(sorted(qnams))) for key, (supplemental, qnams) in state.splits.items()}
    return TransportData(prepared, lengths, state.transliterations, splits)


@dataclass
class _State:
    transliterations: list[Transliteration] = field(default_factory=list)
    #: SUPP-- dataset name -> (name of the parent dataset, new records)
    supplemental: dict[str, tuple[str, list[Row]]] = field(default_factory=dict)
    #: (dataset, variable) -> (SUPP-- dataset, QNAMs used)
    splits: dict[tuple[str, str], tuple[str, set[str]]] = field(default_factory=dict)


def _refuse(dataset: str, variable: str, rule: str) -> NoReturn:
    raise TransportLimitError(dataset, variable, rule)


def _check_metadata(dataset: Dataset) -> None:
    if not NAME_RULE.match(dataset.name):
        _refuse(dataset.name, "dataset name", _name_rule(dataset.name))
    _check_label(dataset.name, "dataset label", dataset.label)
    names: set[str] = set()
    for variable in dataset.variables:
        if not NAME_RULE.match(variable.name):
            _refuse(dataset.name, variable.name, _name_rule(variable.name))
        if variable.name in names:
            _refuse(dataset.name, variable.name, "the variable appears twice")
        names.add(variable.name)
        _check_label(dataset.name, variable.name, variable.label)
        if variable.length is not None and not 1 <= variable.length <= TEXT_LIMIT:
            _refuse(
                dataset.name,
                variable.name,
                f"declared length {variable.length} is outside 1 to {TEXT_LIMIT} (SAS transport v5 character limit)",
            )
    for key in dataset.keys:
        if key not in names:
            _refuse(dataset.name, key, "is a key of the dataset but not one of its variables")


def _name_rule(name: str) -> str:
    return (
        f"name {name!r} must be 1 to {NAME_LIMIT} upper-case ASCII letters, digits or underscores, "
        "starting with a letter (SAS transport v5)"
    )


def _check_label(dataset: str, what: str, label: str) -> None:
    if not label or len(label) > LABEL_LIMIT or not all(" " <= ch <= "~" for ch in label):
        _refuse(
            dataset,
            what,
            f"label {label!r} must be 1 to {LABEL_LIMIT} printable ASCII characters (SAS transport v5); "
            f"it has {len(label)}",
        )


def row_description(dataset: Dataset, index: int, row: Row) -> str:
    """``row 3 (USUBJID JK500-01-01-003, AESEQ 2)``: which record a message is about."""
    keys = [key for key in dataset.keys if key not in ("STUDYID", "DOMAIN", "RDOMAIN")]
    shown = ", ".join(f"{key} {row[key]}" for key in keys if row.get(key) not in (None, ""))
    return f"row {index + 1}" + (f" ({shown})" if shown else "")


@dataclass(frozen=True)
class _Where:
    """A record's description, written out only when a message needs it (most records never do)."""

    dataset: Dataset
    index: int
    row: Row

    def __str__(self) -> str:
        return row_description(self.dataset, self.index, self.row)


def _prepare_rows(dataset: Dataset, state: _State) -> list[Row]:
    names = {variable.name for variable in dataset.variables}
    numbers = [variable for variable in dataset.variables if variable.data_type.numeric]
    dates = [variable for variable in dataset.variables if variable.data_type is DataType.DATE]
    texts = [variable for variable in dataset.variables if not variable.data_type.numeric_in_transport]
    listed = [variable for variable in dataset.variables if variable.codelist_values]
    prepared: list[Row] = []
    for index, row in enumerate(dataset.rows):
        where = _Where(dataset, index, row)
        if not row.keys() <= names:
            unknown = sorted(set(row) - names)[0]
            _refuse(dataset.name, unknown, f"{where} has a value for a variable the dataset does not declare")
        values: Row = {name: None for name in names}
        for variable in numbers:
            values[variable.name] = _number(dataset, variable, where, row.get(variable.name))
        for variable in dates:
            values[variable.name] = _date(dataset, variable, where, row.get(variable.name))
        for variable in texts:
            values[variable.name] = _text(dataset, variable, where, row.get(variable.name), state)
        if all(value is None for value in values.values()):
            _refuse(dataset.name, "(all variables)", f"{where} has no value at all; a record needs at least one")
        for variable in texts:
            _fit_text(dataset, variable, where, values, state)
        for variable in listed:
            _check_codelist(dataset, variable, where, values[variable.name])
        prepared.append({variable.name: values[variable.name] for variable in dataset.variables})
    return prepared


def _number(dataset: Dataset, variable: Variable, where: _Where, value: Value) -> int | Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        _refuse(
            dataset.name,
            variable.name,
            f"{where} holds {value!r}; a {variable.data_type.value} variable takes an int or a Decimal",
        )
    number: int | Decimal = value
    if isinstance(number, Decimal):
        if not number.is_finite():
            _refuse(dataset.name, variable.name, f"{where} holds {number}, which is not a number a dataset can hold")
        if variable.data_type is DataType.INTEGER:
            if number != number.to_integral_value():
                _refuse(dataset.name, variable.name, f"{where} holds {number}; an integer variable takes whole numbers")
            number = int(number)
    if isinstance(number, int) and abs(number) > MAX_EXACT_INTEGER:
        _refuse(dataset.name, variable.name, f"{where} holds {number}, beyond 2**53: a double cannot hold it exactly")
    if number and not SMALLEST_MAGNITUDE <= abs(Decimal(number)) <= LARGEST_MAGNITUDE:
        _refuse(dataset.name, variable.name, f"{where} holds {number}, outside the range of a transport-file number")
    return number


def _date(dataset: Dataset, variable: Variable, where: _Where, value: Value) -> str | None:
    """A complete ISO 8601 date, which the transport file holds as a SAS date; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    _refuse(
        dataset.name,
        variable.name,
        f"{where} holds {value!r}; a date variable takes a complete ISO 8601 date (YYYY-MM-DD), the transport file "
        "holding it as a numeric SAS date (ADaMIG 1.3 section 3.1.4). A partial date is imputed with a *DTF flag "
        "or left missing, never here",
    )


def sas_date(iso: str) -> int:
    """The SAS date of a complete ISO 8601 date: days since 1960-01-01 (negative before)."""
    return (dt.date.fromisoformat(iso) - SAS_EPOCH).days


def _text(dataset: Dataset, variable: Variable, where: _Where, value: Value, state: _State) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        _refuse(
            dataset.name,
            variable.name,
            f"{where} holds {value!r}; a {variable.data_type.value} variable takes text",
        )
    spelled = ascii_spelling(value)
    if isinstance(spelled, NonAscii):
        _refuse(
            dataset.name,
            variable.name,
            f"{where} has the character {spelled.character!r} ({spelled.unicode_name}), which has no ASCII spelling "
            "that keeps its meaning; SAS transport v5 holds ASCII only, so correct the source value",
        )
    control = CONTROL_CHARACTERS.search(spelled)  # refused on entry; data written before that rule may hold one
    if control is not None:
        _refuse(dataset.name, variable.name, f"{where} has the control character {control.group()!r}")
    text = spelled.rstrip(" ")  # a SAS character value cannot hold trailing blanks
    if spelled != value:
        state.transliterations.append(Transliteration(dataset.name, variable.name, str(where), value, text))
    return text or None


@dataclass(frozen=True)
class NonAscii:
    """The first character of a text that has no ASCII spelling."""

    character: str

    @property
    def unicode_name(self) -> str:
        return unicodedata.name(self.character, f"U+{ord(self.character):04X}")


def ascii_spelling(text: str) -> str | NonAscii:
    """``text`` with every non-ASCII character spelled in ASCII, or the first character that cannot be."""
    if text.isascii():
        return text
    spelled: list[str] = []
    for character in text:
        if character.isascii():
            spelled.append(character)
            continue
        spelling = ASCII_SPELLING.get(character) or _base_letter(character)
        if spelling is None:
            return NonAscii(character)
        spelled.append(spelling)
    return "".join(spelled)


def _base_letter(character: str) -> str | None:
    """``e`` for ``é``: a Latin letter whose canonical decomposition is an ASCII letter and combining marks."""
    decomposed = unicodedata.normalize("NFD", character)
    base, marks = decomposed[0], decomposed[1:]
    if marks and base.isascii() and base.isalpha() and all(unicodedata.category(m) == "Mn" for m in marks):
        return base
    return None


def _fit_text(dataset: Dataset, variable: Variable, where: _Where, values: Row, state: _State) -> None:
    """Refuse a text longer than its variable allows, or split it into SUPP-- records (SDTMIG 3.4 4.5.3.2)."""
    text = values[variable.name]
    if not isinstance(text, str):
        return
    limit = variable.length or TEXT_LIMIT
    if len(text) <= limit:
        return
    if len(text) <= TEXT_LIMIT or limit < TEXT_LIMIT:
        _refuse(
            dataset.name,
            variable.name,
            f"{where} holds {len(text)} characters, more than the variable's declared length {limit}",
        )
    reason = _why_not_splittable(dataset, variable, values)
    if reason:
        _refuse(
            dataset.name,
            variable.name,
            f"{where} holds {len(text)} characters, more than the {TEXT_LIMIT} of SAS transport v5, and cannot be "
            f"split into supplemental qualifiers (SDTMIG 3.4 section 4.5.3.2): {reason}",
        )
    pieces = split_text(text)
    if pieces is None:
        _refuse(
            dataset.name,
            variable.name,
            f"{where} holds {len(text)} characters whose first {TEXT_LIMIT} are all blanks: no cut between words "
            "keeps the text whole (SDTMIG 3.4 section 4.5.3.2)",
        )
    if len(pieces) > 1 + MAX_EXTRA_PIECES:
        _refuse(
            dataset.name,
            variable.name,
            f"{where} holds {len(text)} characters, which would need {len(pieces) - 1} supplemental pieces; "
            f"SDTMIG 3.4 section 4.5.3.2 numbers them with one digit, so at most {MAX_EXTRA_PIECES}",
        )
    values[variable.name] = pieces[0]
    _add_pieces(dataset, variable, values, pieces[1:], state)


def _why_not_splittable(dataset: Dataset, variable: Variable, values: Row) -> str | None:
    special = dataset.dataset_class == "SPECIAL PURPOSE" and dataset.name in SPLIT_SPECIAL_PURPOSE
    if dataset.dataset_class not in SPLIT_CLASSES and not special:
        return f"{dataset.name} is of class {dataset.dataset_class}, which has no supplemental qualifiers"
    if variable.name in dataset.keys:
        return "the variable is a key of the dataset"
    if variable.codelist or variable.codelist_values:
        return f"the variable takes values of the codelist {variable.codelist or 'it lists'}"
    if variable.data_type is not DataType.TEXT:
        return f"the variable is {variable.data_type.value}, not free text"
    for needed in ("STUDYID", "USUBJID"):
        if values.get(needed) is None:
            return f"the record has no {needed} to link the supplemental record to"
    if dataset.name != "DM":
        sequence = f"{_domain(dataset, values)}SEQ"
        if values.get(sequence) is None:
            return f"the record has no {sequence} to link the supplemental record to"
    if len(f"SUPP{_domain(dataset, values)}") > NAME_LIMIT:
        return f"SUPP{_domain(dataset, values)} would be longer than {NAME_LIMIT} characters"
    return None


def _domain(dataset: Dataset, values: Row) -> str:
    domain = values.get("DOMAIN")
    return domain if isinstance(domain, str) and domain else dataset.name


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str] | None:
    """``text`` in pieces of at most ``limit`` characters, cut between words; None if it cannot be cut losslessly.

    Each cut falls just before a blank, so no piece ends in a blank (a SAS character value drops trailing blanks)
    and the blank opens the next piece: joining the pieces gives ``text`` back exactly. A word longer than
    ``limit`` is cut inside the word.
    """
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = next((i for i in range(limit, 0, -1) if rest[i] == " " and rest[i - 1] != " "), limit)
        if rest[cut - 1] == " ":
            return None
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return pieces


def qualifier_name(variable: str, number: int) -> str:
    """``AETERM1``; an eight-character name gives up its last character to the digit (``AEACNOT1``)."""
    stem = variable if len(variable) < NAME_LIMIT else variable[: NAME_LIMIT - 1]
    return f"{stem}{number}"


def _add_pieces(dataset: Dataset, variable: Variable, values: Row, pieces: list[str], state: _State) -> None:
    domain = _domain(dataset, values)
    supplemental = f"SUPP{domain}"
    _, records = state.supplemental.setdefault(supplemental, (dataset.name, []))
    sequence = None if dataset.name == "DM" else f"{domain}SEQ"
    _, qnams = state.splits.setdefault((dataset.name, variable.name), (supplemental, set()))
    for number, piece in enumerate(pieces, start=1):
        qnam = qualifier_name(variable.name, number)
        qnams.add(qnam)
        records.append(
            {
                "STUDYID": values["STUDYID"],
                "RDOMAIN": domain,
                "USUBJID": values["USUBJID"],
                "IDVAR": sequence,
                "IDVARVAL": None if sequence is None else str(values[sequence]),
                "QNAM": qnam,
                "QLABEL": variable.label,
                "QVAL": piece,
                "QORIG": variable.origin.value,
                "QEVAL": None,
            }
        )


def _add_supplemental_records(datasets: list[Dataset], state: _State) -> list[Dataset]:
    result = list(datasets)
    for name, (parent, records) in state.supplemental.items():
        existing = next((dataset for dataset in result if dataset.name == name), None)
        if existing is None:
            created = Dataset(
                name=name,
                label=f"Supplemental Qualifiers for {parent}",
                dataset_class="RELATIONSHIP",
                structure="One record per IDVAR, IDVARVAL, and QNAM value per subject",
                keys=SUPP_KEYS,
                variables=list(SUPP_VARIABLES),
                rows=_sorted_qualifiers(records),
            )
            after = next(i for i, dataset in enumerate(result) if dataset.name == parent)
            result.insert(after + 1, created)
            continue
        missing = [v.name for v in SUPP_VARIABLES if v.name not in {x.name for x in existing.variables}]
        if missing:
            _refuse(name, missing[0], "the supplemental qualifiers dataset lacks this SDTMIG 3.4 section 8.4 variable")
        taken = {(row["USUBJID"], row["IDVARVAL"], row["QNAM"]) for row in existing.rows}
        for record in records:
            if (record["USUBJID"], record["IDVARVAL"], record["QNAM"]) in taken:
                _refuse(name, "QNAM", f"{record['QNAM']} for {record['USUBJID']} is already used by the builder")
        blank = {variable.name: None for variable in existing.variables}
        added = [{**blank, **record} for record in records]
        result[result.index(existing)] = dataclasses.replace(existing, rows=_sorted_qualifiers(existing.rows + added))
    return result


def _sorted_qualifiers(rows: list[Row]) -> list[Row]:
    """SUPP-- records in key order, IDVARVAL compared as a number when it is one (AESEQ 2 before 10)."""

    def key(row: Row) -> tuple[str, str, str, tuple[int, int, str], str]:
        value = str(row.get("IDVARVAL") or "")
        natural = (0, int(value), "") if value.isdigit() else (1, 0, value)
        return (str(row["STUDYID"]), str(row["RDOMAIN"]), str(row["USUBJID"]), natural, str(row["QNAM"]))

    return sorted(rows, key=key)


def _check_qualifier_names(dataset: Dataset) -> None:
    """QNAM becomes a variable name and QLABEL its label when a reviewer merges SUPP-- back (SDTMIG 3.4 8.4.1)."""
    names = {variable.name for variable in dataset.variables}
    for index, row in enumerate(dataset.rows):
        qnam, qlabel = row.get("QNAM"), row.get("QLABEL")
        if "QNAM" in names and isinstance(qnam, str) and not NAME_RULE.match(qnam):
            _refuse(dataset.name, "QNAM", f"{row_description(dataset, index, row)}: {_name_rule(qnam)}")
        if "QLABEL" in names and isinstance(qlabel, str) and len(qlabel) > LABEL_LIMIT:
            _refuse(dataset.name, "QLABEL", f"{row_description(dataset, index, row)}: QLABEL is longer than 40")


def _check_codelist(dataset: Dataset, variable: Variable, where: _Where, value: Value) -> None:
    if value is None or not variable.codelist_values:
        return
    if str(value) not in variable.codelist_values:
        codelist = f"codelist {variable.codelist}" if variable.codelist else "codelist"
        allowed = ", ".join(variable.codelist_values)
        _refuse(dataset.name, variable.name, f"{where} holds {value!r}, not a value of its {codelist} ({allowed})")


def _storage_length(dataset: Dataset, variable: Variable) -> int:
    if variable.data_type.numeric_in_transport:
        return 8
    if variable.length:
        return variable.length
    return max((len(value) for row in dataset.rows if isinstance(value := row[variable.name], str)), default=1)


# --- writing -------------------------------------------------------------------------------------------------------


def write_datasets(datasets: list[Dataset], folder: Path, *, stamped_at: dt.datetime | None = None) -> list[Path]:
    """Write each dataset with records as ``<name>.xpt`` and ``<name>.csv`` under ``folder``; return the paths.

    ``stamped_at`` is the moment written into the transport headers (:func:`snapshot_moment` of the export);
    without it a fixed moment is written, never the clock. Raises :class:`TransportLimitError` before writing
    anything if a dataset breaks a limit.
    """
    data = prepare(datasets)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for dataset in data.datasets:
        if not dataset.rows:
            continue
        xpt = folder / file_name(dataset)
        _write_xpt(dataset, data, xpt)
        stamp_header(xpt, stamped_at or FIXED_MOMENT)
        csv = folder / file_name(dataset, ".csv")
        write_csv(csv, [v.name for v in dataset.variables], _csv_rows(dataset))
        paths += [xpt, csv]
    if data.transliterations:
        path = folder / TRANSLITERATIONS_FILE
        header = ["dataset", "variable", "row", "original", "exported"]
        write_csv(path, header, ([t.dataset, t.variable, t.row, t.original, t.exported] for t in data.transliterations))
        paths.append(path)
    return paths


def _csv_rows(dataset: Dataset) -> Iterable[list[Value]]:
    for row in dataset.rows:
        yield [row[variable.name] for variable in dataset.variables]


def _write_xpt(dataset: Dataset, data: TransportData, path: Path) -> None:
    columns: dict[str, pd.Series] = {}
    formats: dict[str, str] = {}
    for variable in dataset.variables:
        values = [row[variable.name] for row in dataset.rows]
        if variable.data_type is DataType.DATE:
            # Days since 1960-01-01 as a double with the DATE9. format: what SAS, pyreadstat and the reviewers'
            # tools read as a date. The day numbers are made here rather than handing pyreadstat date objects,
            # whose conversion and default format vary between its versions.
            days = [np.nan if v is None else float(sas_date(str(v))) for v in values]
            columns[variable.name] = pd.Series(days, dtype="float64")
            formats[variable.name] = DATE_FORMAT
        elif variable.data_type.numeric:
            # The format's only numbers are doubles; the CSV beside it keeps the exact decimal text.
            numbers = [np.nan if v is None else float(v) for v in values]
            columns[variable.name] = pd.Series(numbers, dtype="float64")
        else:
            texts = ["" if v is None else str(v) for v in values]
            # pyreadstat sizes a character variable by its longest value: pad one value with blanks (which SAS
            # does not keep) to give the variable its declared length.
            width = data.lengths[(dataset.name, variable.name)]
            if texts and max(len(t) for t in texts) < width:
                longest = max(range(len(texts)), key=lambda i: len(texts[i]))
                texts[longest] = texts[longest].ljust(width)
            columns[variable.name] = pd.Series(texts, dtype=object)
    frame = pd.DataFrame(columns)
    pyreadstat.write_xport(
        frame,
        str(path),
        file_label=dataset.label,
        column_labels=[variable.label for variable in dataset.variables],
        table_name=dataset.name,
        file_format_version=5,
        variable_format=formats or None,
    )


# --- reproducible headers ------------------------------------------------------------------------------------------

RECORD = 80
_STAMP = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: (record, offset) of the four 16-byte stamps of a one-member version 5 file (SAS TS-140): library created and
#: modified, member created and modified.
_STAMP_SLOTS = ((1, 64), (2, 0), (5, 64), (6, 0))
_HEADER_PREFIXES = (
    (0, b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"),
    (1, b"SAS     SAS     SASLIB  "),
    (3, b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"),
    (4, b"HEADER RECORD*******DSCRPTR HEADER RECORD!!!!!!!"),
    (5, b"SAS     "),
)


def header_stamp(moment: dt.datetime) -> bytes:
    """``24NOV26:09:30:00``: the transport header's date form (UTC, English month whatever the locale)."""
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment
    text = f"{utc.day:02d}{_MONTHS[utc.month - 1]}{utc.year % 100:02d}:{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    return text.encode("ascii")


def stamp_header(path: Path, moment: dt.datetime) -> None:
    """Overwrite the created and modified stamps pyreadstat took from the clock with ``moment``.

    pyreadstat (ReadStat) offers no way to set them, and a clock time in the file would make every export differ.
    The layout is checked first, so a pyreadstat that writes another layout fails loudly instead of being patched
    at the wrong place.
    """
    content = bytearray(path.read_bytes())
    for record, prefix in _HEADER_PREFIXES:
        if not content.startswith(prefix, record * RECORD):
            raise RuntimeError(f"{path.name}: unexpected SAS transport header layout in record {record + 1}")
    stamp = header_stamp(moment)
    for record, offset in _STAMP_SLOTS:
        start = record * RECORD + offset
        if not _STAMP.fullmatch(bytes(content[start : start + 16])):
            raise RuntimeError(f"{path.name}: no header date where SAS transport v5 puts it (record {record + 1})")
        content[start : start + 16] = stamp
    path.write_bytes(bytes(content))


def snapshot_moment(context: ExportContext) -> dt.datetime:
    """The moment the exported data stand for: when the newest audit event they include happened.

    Two exports of the same data get the same moment (an export "as of now" and a live one included), unlike
    the time the export ran; it is what the transport headers and define.xml's CreationDateTime carry.
    """
    return context.snapshot.data_moment
