"""A CDISC dataset as the SDTM and ADaM builders produce it and the XPT, CSV and define.xml writers consume it.

One description serves every output, so the transport file, its CSV twin and define.xml cannot disagree on a
variable's name, label, type, length or origin. Rows are plain dicts keyed by variable name, values already
in their exported form (ISO 8601 text for dates, ``Decimal`` or ``int`` for numbers, None for missing). The one
value the transport file holds differently is a :attr:`DataType.DATE` (ADaM's ``*DT``): ISO 8601 text here and in
the CSV, a numeric SAS date in the ``.xpt`` (:mod:`jk500db.export.xpt`).
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
    #: A complete calendar date that analyses compute with (ADaM ``*DT``): ISO 8601 "YYYY-MM-DD" in the rows and
    #: the CSV, a numeric SAS date with the display format DATE9. in the transport file and define.xml
    #: (ADaMIG 1.3 section 3.1.4, "Timing Variable Conventions": variables whose names end in DT are numeric
    #: dates, formatted to be human-readable). A partial date cannot be one: it is imputed with a ``*DTF`` flag
    #: or left missing.
    DATE = "date"
    DURATION = "durationDatetime"

    @property
    def numeric(self) -> bool:
        """A number in the rows (``int`` or ``Decimal``)."""
        return self in (DataType.INTEGER, DataType.FLOAT)

    @property
    def numeric_in_transport(self) -> bool:
        """A number (a double) in the transport file: the numbers, and dates as SAS dates."""
        return self.numeric or self is DataType.DATE


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
    #: what a reader of define.xml must know that is neither origin nor method, above all why an Expected variable
    #: holds no value ("not collected on the JK500 case-report forms"); written as the variable's def:CommentDef.
    comment: str | None = None


@dataclass(frozen=True)
class ValueLevel:
    """One value-level entry of define.xml: the values of ``variable`` in the records ``where`` selects.

    ``where`` is written in the where-clause language of :mod:`jk500db.export.define_xml` (``AECAT EQ 'CRS'``).
    ``origin`` is the origin of those values when it differs from the variable's own, as a grade derived by the
    system among grades the investigator gave; a Derived entry needs its ``derivation`` (the method, naming the
    rule and its version), which then becomes the entry's own MethodDef. ``origin`` None keeps the variable's
    origin and method.
    """

    variable: str
    where: str
    description: str
    origin: Origin | None = None
    derivation: str | None = None


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
    #: value-level metadata for define.xml, e.g. which AE terms are graded with ASTCT (derived) and which with
    #: CTCAE (collected).
    value_level: list[ValueLevel] = field(default_factory=list)

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(f"{self.name} has no variable {name}")
