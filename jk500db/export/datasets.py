"""A CDISC dataset as the SDTM and ADaM builders produce it and the XPT, CSV and define.xml writers consume it.

One description serves every output, so the transport file, its CSV twin and define.xml cannot disagree on a
variable's name, label, type, length or origin. Rows are plain dicts keyed by variable name, values already
in their exported form (ISO 8601 text for dates, ``Decimal`` or ``int`` for numbers, None for missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

Value = str | int | Decimal | None


class DataType(StrEnum):
    """Define-XML 2.1 data types the datasets use (a "Char" or "Num" in the transport file)."""

    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    DATETIME = "datetime"  # ISO 8601 character, possibly truncated (partial dates are never imputed)
    DATE = "date"
    DURATION = "durationDatetime"

    @property
    def numeric(self) -> bool:
        return self in (DataType.INTEGER, DataType.FLOAT)


class Core(StrEnum):
    """SDTMIG / ADaMIG core: Required (present, never null), Expected (present), Permissible."""

    REQUIRED = "Req"
    EXPECTED = "Exp"
    PERMISSIBLE = "Perm"


class Origin(StrEnum):
    """Define-XML 2.1 origin types."""

    COLLECTED = "Collected"
    DERIVED = "Derived"
    ASSIGNED = "Assigned"
    PROTOCOL = "Protocol"
    PREDECESSOR = "Predecessor"


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    data_type: DataType
    core: Core = Core.PERMISSIBLE
    origin: Origin = Origin.COLLECTED
    #: how a derived value is computed (define.xml method), in words, with its rule and version.
    derivation: str | None = None
    #: name of the controlled terminology codelist (e.g. "NY", "SEX", "AESEV"), if any.
    codelist: str | None = None
    #: the values the codelist allows, when the dataset defines them itself.
    codelist_values: tuple[str, ...] = ()
    #: maximum length for text; None lets the writer take the longest value (at least 1).
    length: int | None = None


@dataclass
class Dataset:
    """One SDTM domain or ADaM dataset."""

    name: str  # "AE", "SUPPAE", "ADSL"
    label: str
    #: SDTM class or ADaM class ("EVENTS", "INTERVENTIONS", "FINDINGS", "SPECIAL PURPOSE", "TRIAL DESIGN",
    #: "RELATIONSHIP", "SUBJECT LEVEL ANALYSIS DATASET", "OCCURRENCE DATA STRUCTURE").
    dataset_class: str
    structure: str  # "One record per adverse event per subject"
    keys: tuple[str, ...]
    variables: list[Variable]
    rows: list[dict[str, Value]] = field(default_factory=list)
    #: value-level metadata for define.xml: (variable, where clause text, description), e.g. which AE terms
    #: are graded with ASTCT and which with CTCAE.
    value_level: list[tuple[str, str, str]] = field(default_factory=list)

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(f"{self.name} has no variable {name}")
