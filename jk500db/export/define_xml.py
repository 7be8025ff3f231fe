"""define.xml (Define-XML 2.1) describing the SDTM or ADaM datasets exactly as the transport writer writes them.

The datasets are first passed through :func:`jk500db.export.xpt.prepare`, the step the transport writer takes, so
define.xml describes the files: the SUPP-- records that hold the rest of a long text, the storage length of every
character variable, the ``.xpt`` each ``def:leaf`` points at.

What each part says:

- ``ItemGroupDef`` per dataset: label, ``def:Structure``, ``def:Class``, the keys as ``KeySequence`` on the
  ``ItemRef`` elements, ``Mandatory="Yes"`` for Required variables (core "Req"), ``def:leaf`` pointing at the
  ``.xpt`` file; a dataset without records gets ``def:HasNoData="Yes"`` and no file.
- ``ItemDef`` per variable: data type; ``Length`` for text (the transport file's storage length), integer (most
  digits) and float (most digits, with ``SignificantDigits`` the most decimals), none for ISO 8601 dates, as in
  CDISC's own example; ``def:Origin`` (Source "Investigator" for collected data, "Sponsor" otherwise). A
  :attr:`~jk500db.export.datasets.DataType.DATE` (ADaM ``*DT``) is what the transport file holds, a SAS date:
  ``DataType="integer"`` (days since 1960-01-01) with ``def:DisplayFormat="DATE9."``, and a comment saying that
  the CSV copy holds the same dates as ISO 8601 text.
- ``MethodDef`` per derived variable, from its ``derivation`` text. Define-XML 2.1 wants a method for every derived
  variable and a description of every predecessor, so a variable without that text is refused.
- ``CodeList`` per codelist name: the values a variable lists (in its order), else the values the data hold
  (sorted); a dictionary named like ``MedDRA 26.0`` or ``CTCAE 5.0`` becomes an ``ExternalCodeList``.
- ``def:ValueListDef`` and ``def:WhereClauseDef`` from ``Dataset.value_level``; for a SUPP-- dataset, every QNAM
  not described there gets its own value-level entry (label from QLABEL, origin from QORIG), as Define-XML expects
  for supplemental qualifiers. A value-level entry may carry its own origin (a grade derived by the system among
  grades the investigator gave): its ItemDef then says so in ``def:Origin`` and a Derived entry gets its own
  ``MethodDef``, referenced from its ``ItemRef`` in the ValueListDef.
- ``def:CommentDef`` on a variable with a ``comment`` (why an Expected variable holds no value, say), whose long
  texts continue in SUPP--, whose values were spelled in ASCII, or that is a date; and on every Expected variable
  (SDTMIG 3.4 section 4.1.5: present even when empty) that no record fills, saying so when the variable gives no
  reason of its own.

Where clauses (``ValueLevel.where``) are written in a small language that maps one to one
onto Define-XML: each condition is one ``RangeCheck`` -- ``VARIABLE COMPARATOR VALUE`` with the ODM comparators
``EQ NE LT LE GT GE``, ``VARIABLE IN (VALUE, ...)``, ``VARIABLE NOTIN (VALUE, ...)``, or ``VARIABLE IS NULL`` /
``VARIABLE IS NOT NULL`` (EQ / NE with an empty CheckValue). Conditions joined by ``AND`` form one
``def:WhereClauseDef``; alternatives joined by ``OR`` (AND binds tighter) become several ``def:WhereClauseRef`` on
the value-level item, which Define-XML 2.1 reads as "any of them". Keywords in any case; values quoted with single
or double quotes (a quote inside doubled) or bare words without blanks, commas or brackets; the variables must be
variables of the same dataset. Example: ``AEDECOD IN ('Cytokine release syndrome', 'Immune effector
cell-associated neurotoxicity syndrome')``, or ``CRSFL EQ 'Y' OR ICANSFL EQ 'Y'``. A clause that cannot be read is
refused with the rule.

Reproducible: elements in dataset and variable order, codelists in first-use order, no clock: ``CreationDateTime``
is the ``created`` argument (the moment the data stand for, :func:`jk500db.export.xpt.snapshot_moment`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

from lxml import etree  # type: ignore[import-untyped, unused-ignore]  # lxml ships no type information

import jk500db
from jk500db.errors import ValidationError
from jk500db.export.datasets import Core, Dataset, DataType, Origin, Value, ValueLevel, Variable
from jk500db.export.xpt import (
    DATE_FORMAT,
    TEXT_LIMIT,
    TRANSLITERATIONS_FILE,
    TransportData,
    file_name,
    prepare,
    sas_date,
)

ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
DEF_NS = "http://www.cdisc.org/ns/def/v2.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NSMAP = {None: ODM_NS, "def": DEF_NS, "xlink": XLINK_NS}
DEFINE_FILE = "define.xml"
DEFINE_VERSION = "2.1.0"

#: The standards this writer describes, with the ItemGroupDef Purpose each implies.
PURPOSES = {"SDTMIG": "Tabulation", "ADaMIG": "Analysis"}
#: def:Class names Define-XML 2.1 allows (define-enumerations.xsd, ItemGroupClass).
ITEM_GROUP_CLASSES = frozenset(
    {
        "ADAM OTHER",
        "BASIC DATA STRUCTURE",
        "DEVICE LEVEL ANALYSIS DATASET",
        "EVENTS",
        "FINDINGS",
        "FINDINGS ABOUT",
        "INTERVENTIONS",
        "MEDICAL DEVICE BASIC DATA STRUCTURE",
        "MEDICAL DEVICE OCCURRENCE DATA STRUCTURE",
        "OCCURRENCE DATA STRUCTURE",
        "REFERENCE DATA STRUCTURE",
        "RELATIONSHIP",
        "SPECIAL PURPOSE",
        "STUDY REFERENCE",
        "SUBJECT LEVEL ANALYSIS DATASET",
        "TRIAL DESIGN",
    }
)
#: External dictionaries Define-XML 2.1 names (define-enumerations.xsd, ExternalCodeListDictionary); a codelist
#: called "<dictionary>" or "<dictionary> <version>" refers to one.
EXTERNAL_DICTIONARIES = (
    "CDISC CT",
    "ClinicalTrials.gov",
    "COSTART",
    "CTCAE",
    "CTIS",
    "D-U-N-S NUMBER",
    "EudraCT",
    "EUDRAVIGILANCE",
    "GENC",
    "ICD",
    "ICD-O",
    "ISO 21090",
    "ISO 3166",
    "jRCT",
    "LOINC",
    "MED-RT",
    "MedDRA",
    "MeSH",
    "PubMed",
    "SNOMED",
    "UNII",
    "WHO ATC CLASSIFICATION SYSTEM",
    "WHOART",
    "WHODD",
)
COMPARATORS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE", "IN", "NOTIN"})
WHERE_GRAMMAR = (
    "write conditions as VARIABLE EQ|NE|LT|LE|GT|GE 'value', VARIABLE IN|NOTIN ('value', ...), VARIABLE IS NULL or "
    "VARIABLE IS NOT NULL, joined with AND and OR"
)
_LIST_COMPARATORS = frozenset({"IN", "NOTIN"})
#: The comment on every date variable: the transport file and the CSV hold the same day in two forms.
DATE_COMMENT_OID = "COM.SAS_DATE"
DATE_COMMENT = (
    "A numeric SAS date in the transport file (days since 1960-01-01, displayed with the format DATE9.), as ADaMIG "
    "1.3 section 3.1.4 asks of variables whose names end in DT; the CSV copy of the dataset holds the same date as "
    "ISO 8601 text (YYYY-MM-DD). Complete dates only: no date is imputed."
)
#: The comment on an Expected variable no record fills, when the variable says nothing of why.
EMPTY_EXPECTED = (
    "No record of this dataset has a value for this variable in the data exported; it is kept because SDTMIG 3.4 "
    "section 4.1.5 has Expected variables present even when they hold no value."
)


class DefineError(ValidationError):
    """The dataset metadata cannot be described as Define-XML 2.1 asks; names dataset, variable and rule."""

    def __init__(self, dataset: str, variable: str, rule: str) -> None:
        super().__init__(variable, rule, table=dataset)
        self.dataset = dataset


def _refuse(dataset: str, variable: str, rule: str) -> NoReturn:
    raise DefineError(dataset, variable, rule)


# --- where clauses ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One RangeCheck of a where clause."""

    variable: str
    comparator: str
    values: tuple[str, ...]


_TOKEN = re.compile(
    r"""\s*(?:(?P<open>\()|(?P<close>\))|(?P<comma>,)|'(?P<single>(?:[^']|'')*)'|"(?P<double>(?:[^"]|"")*)"|"""
    r"""(?P<word>[^\s(),'"]+))"""
)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot read the text from {text[position:]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "single":
            kind, value = "value", value.replace("''", "'")
        elif kind == "double":
            kind, value = "value", value.replace('""', '"')
        tokens.append((kind, value))
        position = match.end()
    return tokens


def parse_where(text: str) -> list[list[Condition]]:
    """The clause's alternatives (joined by OR), each a list of conditions (joined by AND); ValueError says why not.

    AND binds tighter than OR, as in SQL. ``VAR IS NULL`` and ``VAR IS NOT NULL`` become ``EQ`` and ``NE`` with an
    empty CheckValue, the form Define-XML 2.1 uses for a missing value.
    """
    tokens = _tokens(text)
    alternatives: list[list[Condition]] = [[]]
    index = 0

    def take(*kinds: str) -> str:
        nonlocal index
        if index >= len(tokens) or tokens[index][0] not in kinds:
            found = "the end" if index >= len(tokens) else repr(tokens[index][1])
            raise ValueError(f"expected {' or '.join(kinds)} but found {found}")
        index += 1
        return tokens[index - 1][1]

    while True:
        alternatives[-1].append(_condition(take))
        if index == len(tokens):
            return alternatives
        joiner = take("word").upper()
        if joiner == "OR":
            alternatives.append([])
        elif joiner != "AND":
            raise ValueError(f"conditions are joined with AND or OR, not {joiner!r}")


def _condition(take: Callable[..., str]) -> Condition:
    variable = take("word")
    comparator = take("word").upper()
    if comparator == "IS":
        word = take("word").upper()
        negated = word == "NOT"
        if negated:
            word = take("word").upper()
        if word != "NULL":
            raise ValueError(f"expected NULL after IS{' NOT' if negated else ''}")
        return Condition(variable, "NE" if negated else "EQ", ("",))
    if comparator not in COMPARATORS:
        raise ValueError(f"{comparator!r} is not an ODM comparator ({', '.join(sorted(COMPARATORS))}) nor IS NULL")
    if comparator not in _LIST_COMPARATORS:
        return Condition(variable, comparator, (take("value", "word"),))
    take("open")
    values = [take("value", "word")]
    while take("comma", "close") == ",":
        values.append(take("value", "word"))
    return Condition(variable, comparator, tuple(values))


def _matches(condition: Condition, variable: Variable, row: dict[str, Value]) -> bool:
    """Whether ``row`` meets ``condition`` (an empty check value stands for a missing value)."""
    value = row.get(condition.variable)
    comparator = condition.comparator
    wants_missing = "" in condition.values
    if value is None:
        return wants_missing if comparator in ("EQ", "IN") else comparator in ("NE", "NOTIN") and not wants_missing
    given = [check for check in condition.values if check != ""]
    actual: Any = Decimal(str(value)) if variable.data_type.numeric else str(value)
    checks: list[Any] = [Decimal(check) for check in given] if variable.data_type.numeric else given
    if comparator in ("EQ", "IN"):
        return actual in checks
    if comparator in ("NE", "NOTIN"):
        return actual not in checks
    if not checks:
        return False
    ordered = {"LT": actual < checks[0], "LE": actual <= checks[0], "GT": actual > checks[0], "GE": actual >= checks[0]}
    return ordered[comparator]


# --- the document --------------------------------------------------------------------------------------------------


def write_define(
    datasets: list[Dataset],
    folder: Path,
    *,
    study_name: str,
    protocol_name: str,
    description: str,
    created: dt.datetime,
    standard: str = "SDTMIG 3.4",
    as_of: dt.datetime | None = None,
) -> Path:
    """Write ``define.xml`` describing ``datasets`` (as :func:`jk500db.export.xpt.write_datasets` writes them).

    ``standard`` is "SDTMIG 3.4" or "ADaMIG 1.3"; ``created`` (aware) becomes CreationDateTime and ``as_of``, for an
    export of the data as they stood at a past moment, AsOfDateTime.
    """
    document = build_define(
        prepare(datasets),
        study_name=study_name,
        protocol_name=protocol_name,
        description=description,
        created=created,
        standard=standard,
        as_of=as_of,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEFINE_FILE
    path.write_bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return path


def build_define(
    data: TransportData,
    *,
    study_name: str,
    protocol_name: str,
    description: str,
    created: dt.datetime,
    standard: str,
    as_of: dt.datetime | None = None,
) -> Any:
    """The define.xml document (an lxml element) for the prepared datasets."""
    standard_name, _, version = standard.partition(" ")
    if standard_name not in PURPOSES or not version:
        _refuse("define.xml", "standard", f"{standard!r} is not one of 'SDTMIG <version>', 'ADaMIG <version>'")
    builder = _Builder(data, standard_name)
    for dataset in data.datasets:
        builder.add_dataset(dataset)

    root = etree.Element(_odm("ODM"), nsmap=NSMAP)
    root.set("ODMVersion", "1.3.2")
    root.set("FileType", "Snapshot")
    root.set("FileOID", f"{protocol_name}.Define-XML_{DEFINE_VERSION}.{standard_name}.{version}")
    root.set("CreationDateTime", _xml_datetime(created))
    if as_of is not None:
        root.set("AsOfDateTime", _xml_datetime(as_of))
    root.set("Originator", "JK500 trial database")
    root.set("SourceSystem", "jk500db")
    root.set("SourceSystemVersion", jk500db.__version__)
    root.set(_def("Context"), "Submission")

    study = _sub(root, "Study", OID=f"STDY.{protocol_name}")
    variables = _sub(study, "GlobalVariables")
    _sub(variables, "StudyName").text = study_name
    _sub(variables, "StudyDescription").text = description
    _sub(variables, "ProtocolName").text = protocol_name
    metadata = _sub(
        study,
        "MetaDataVersion",
        OID=f"MDV.{protocol_name}.{standard_name}.{version}",
        Name=f"{study_name} {standard_name} {version} data definitions",
        Description=f"{standard_name} {version} datasets of {study_name}",
    )
    metadata.set(_def("DefineVersion"), DEFINE_VERSION)
    standards = etree.SubElement(metadata, _def("Standards"))
    standards.append(
        _element(_def("Standard"), OID="STD.1", Name=standard_name, Type="IG", Version=version, Status="Final")
    )
    for part in (
        builder.value_lists,
        builder.where_clauses,
        builder.item_groups,
        builder.items,
        builder.codelist_elements(),
        builder.methods,
        builder.comments,
    ):
        metadata.extend(part)
    return root


def _odm(tag: str) -> str:
    return f"{{{ODM_NS}}}{tag}"


def _def(tag: str) -> str:
    return f"{{{DEF_NS}}}{tag}"


def _element(tag: str, **attributes: str) -> Any:
    element = etree.Element(tag)
    for name, value in attributes.items():
        element.set(name, value)
    return element


def _sub(parent: Any, tag: str, **attributes: str) -> Any:
    element = etree.SubElement(parent, _odm(tag) if not tag.startswith("{") else tag)
    for name, value in attributes.items():
        element.set(name, value)
    return element


def _description(parent: Any, text: str, tag: str = "Description") -> Any:
    description = _sub(parent, tag)
    translated = _sub(description, "TranslatedText")
    translated.set(XML_LANG, "en")
    translated.text = text
    return description


def _xml_datetime(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("give define.xml moments with their UTC offset")
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _oid_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "X"


@dataclass
class _CodeList:
    oid: str
    name: str
    data_type: str
    values: list[str] = field(default_factory=list)
    declared: bool = False
    dictionary: tuple[str, str] | None = None
    #: the CodeListRef elements that point at it
    refs: list[Any] = field(default_factory=list)


@dataclass
class _ValueLevel:
    suffix: str
    #: alternatives (OR) of conditions (AND): one def:WhereClauseDef each
    alternatives: list[list[Condition]]
    description: str
    rows: list[dict[str, Value]]
    origin: Origin
    method: str | None
    #: for a Predecessor entry, the predecessor it names (def:Origin's description).
    predecessor: str | None = None


class _Builder:
    """Collects the parts of MetaDataVersion, in the order the schema wants them."""

    def __init__(self, data: TransportData, standard: str) -> None:
        self.data = data
        self.standard = standard
        self.value_lists: list[Any] = []
        self.where_clauses: list[Any] = []
        self.item_groups: list[Any] = []
        self.items: list[Any] = []
        self.methods: list[Any] = []
        self.comments: list[Any] = []
        self.codelists: dict[tuple[str, str], _CodeList] = {}
        self.methods_by_variable: dict[tuple[str, str], str] = {}
        self.split_parent = {
            (split.supplemental, qnam): parent for parent, split in data.splits.items() for qnam in split.qnams
        }

    # -- datasets

    def add_dataset(self, dataset: Dataset) -> None:
        if dataset.dataset_class not in ITEM_GROUP_CLASSES:
            _refuse(dataset.name, "dataset class", f"{dataset.dataset_class!r} is not a Define-XML 2.1 class")
        for variable in dataset.variables:
            self._add_method(dataset, variable)
        group = self._item_group(dataset)
        self.item_groups.append(group)
        value_levels = self._value_levels(dataset)
        for order, variable in enumerate(dataset.variables, start=1):
            self._item_ref(group, dataset, variable, order)
            self.items.append(self._item_def(dataset, variable, value_levels.get(variable.name, [])))
            for level in value_levels.get(variable.name, []):
                self.items.append(self._value_item_def(dataset, variable, level))
        etree.SubElement(group, _def("Class")).set("Name", dataset.dataset_class)
        if dataset.rows:
            leaf = etree.SubElement(group, _def("leaf"))
            leaf.set("ID", f"LF.{dataset.name}")
            leaf.set(f"{{{XLINK_NS}}}href", file_name(dataset))
            etree.SubElement(leaf, _def("title")).text = file_name(dataset)

    def _item_group(self, dataset: Dataset) -> Any:
        subject_level = set(dataset.keys) - {"STUDYID"} == {"USUBJID"}
        reference = dataset.dataset_class == "TRIAL DESIGN"
        group = _element(
            _odm("ItemGroupDef"),
            OID=f"IG.{dataset.name}",
            Name=dataset.name,
            Repeating="No" if subject_level or reference else "Yes",
            IsReferenceData="Yes" if reference else "No",
            SASDatasetName=dataset.name,
        )
        if self.standard == "SDTMIG":
            group.set("Domain", dataset.name[4:] if dataset.name.startswith("SUPP") else dataset.name)
        group.set("Purpose", PURPOSES[self.standard])
        group.set(_def("Structure"), dataset.structure)
        group.set(_def("StandardOID"), "STD.1")
        if dataset.rows:
            group.set(_def("ArchiveLocationID"), f"LF.{dataset.name}")
        else:
            group.set(_def("HasNoData"), "Yes")
        _description(group, dataset.label)
        return group

    def _item_ref(self, group: Any, dataset: Dataset, variable: Variable, order: int) -> None:
        ref = _sub(group, "ItemRef", ItemOID=f"IT.{dataset.name}.{variable.name}", OrderNumber=str(order))
        ref.set("Mandatory", "Yes" if variable.core is Core.REQUIRED else "No")
        if variable.name in dataset.keys:
            ref.set("KeySequence", str(dataset.keys.index(variable.name) + 1))
        method = self.methods_by_variable.get((dataset.name, variable.name))
        if method:
            ref.set("MethodOID", method)

    # -- variables

    def _add_method(self, dataset: Dataset, variable: Variable) -> None:
        if variable.origin is Origin.PREDECESSOR and not variable.derivation:
            _refuse(
                dataset.name,
                variable.name,
                "has origin Predecessor but no derivation naming its predecessor (Define-XML 2.1 def:Origin)",
            )
        if variable.origin is not Origin.DERIVED:
            return
        if not variable.derivation:
            _refuse(
                dataset.name,
                variable.name,
                "is Derived but has no derivation text for its define.xml MethodDef (Define-XML 2.1 wants a method "
                "for every derived variable)",
            )
        oid = f"MT.{dataset.name}.{variable.name}"
        method = _element(
            _odm("MethodDef"), OID=oid, Name=f"Algorithm to derive {dataset.name}.{variable.name}", Type="Computation"
        )
        _description(method, variable.derivation)
        self.methods.append(method)
        self.methods_by_variable[(dataset.name, variable.name)] = oid

    def _item_def(self, dataset: Dataset, variable: Variable, levels: list[_ValueLevel]) -> Any:
        values = [row[variable.name] for row in dataset.rows]
        item = self._item_element(
            f"IT.{dataset.name}.{variable.name}",
            variable,
            values,
            self.data.lengths[(dataset.name, variable.name)],
        )
        comment = self._comment(dataset, variable)
        if comment:
            item.set(_def("CommentOID"), comment)
        _description(item, variable.label)
        codelist = self._codelist(dataset, variable, values)
        if codelist:
            codelist.refs.append(_sub(item, "CodeListRef", CodeListOID=codelist.oid))
        self._origin(item, variable.origin, variable.derivation)
        if levels:
            oid = f"VL.{dataset.name}.{variable.name}"
            etree.SubElement(item, _def("ValueListRef")).set("ValueListOID", oid)
            self._value_list(dataset, variable, oid, levels)
        return item

    def _item_element(self, oid: str, variable: Variable, values: Sequence[Value], text_length: int) -> Any:
        if variable.data_type is DataType.DATE:
            # described as the transport file holds it: a SAS date is an integer shown with a date format
            days = [sas_date(value) for value in values if isinstance(value, str)]
            item = _element(_odm("ItemDef"), OID=oid, Name=variable.name, DataType=DataType.INTEGER.value)
            item.set("Length", str(max((_digits(day)[0] for day in days), default=1)))
            item.set("SASFieldName", variable.name)
            item.set(_def("DisplayFormat"), DATE_FORMAT)
            return item
        item = _element(_odm("ItemDef"), OID=oid, Name=variable.name, DataType=variable.data_type.value)
        if variable.data_type is DataType.TEXT:
            item.set("Length", str(text_length))
        elif variable.data_type.numeric:
            digits = [_digits(value) for value in values if isinstance(value, (int, Decimal))]
            item.set("Length", str(max((shown for shown, _ in digits), default=1)))
            if variable.data_type is DataType.FLOAT:
                item.set("SignificantDigits", str(max((decimals for _, decimals in digits), default=0)))
        item.set("SASFieldName", variable.name)
        return item

    def _origin(self, item: Any, origin: Origin, derivation: str | None) -> None:
        element = etree.SubElement(item, _def("Origin"))
        element.set("Type", origin.value)
        element.set("Source", "Investigator" if origin is Origin.COLLECTED else "Sponsor")
        if origin is Origin.PREDECESSOR and derivation:
            _description(element, derivation)

    def _comment(self, dataset: Dataset, variable: Variable) -> str | None:
        notes: list[str] = []
        if variable.comment:
            notes.append(variable.comment)
        elif variable.core is Core.EXPECTED and dataset.rows and all(r[variable.name] is None for r in dataset.rows):
            notes.append(EMPTY_EXPECTED)
        split = self.data.splits.get((dataset.name, variable.name))
        if split:
            notes.append(
                f"Text longer than {TEXT_LIMIT} characters continues in {split.supplemental}.QVAL "
                f"(QNAM {', '.join(split.qnams)}); joining the pieces in QNAM order gives the whole text "
                "(SDTMIG 3.4 section 4.5.3.2)."
            )
        spelled = sum(1 for t in self.data.transliterations if (t.dataset, t.variable) == (dataset.name, variable.name))
        if spelled:
            notes.append(
                f"{spelled} value(s) had characters outside ASCII spelled in ASCII for the transport file; "
                f"{TRANSLITERATIONS_FILE} lists each original beside its exported form."
            )
        if variable.data_type is DataType.DATE:
            if not notes:
                return self._date_comment()
            notes.append(DATE_COMMENT)
        if not notes:
            return None
        oid = f"COM.{dataset.name}.{variable.name}"
        comment = etree.Element(_def("CommentDef"))
        comment.set("OID", oid)
        _description(comment, " ".join(notes))
        self.comments.append(comment)
        return oid

    def _date_comment(self) -> str:
        """The one CommentDef every date variable without other notes shares."""
        if not any(comment.get("OID") == DATE_COMMENT_OID for comment in self.comments):
            comment = etree.Element(_def("CommentDef"))
            comment.set("OID", DATE_COMMENT_OID)
            _description(comment, DATE_COMMENT)
            self.comments.append(comment)
        return DATE_COMMENT_OID

    # -- codelists

    def _codelist(self, dataset: Dataset, variable: Variable, values: Sequence[Value]) -> _CodeList | None:
        if not variable.codelist and not variable.codelist_values:
            return None
        name = variable.codelist or f"{dataset.name}.{variable.name}"
        data_type = variable.data_type.value if variable.data_type.numeric else "text"
        # one CodeList per name and data type: a dictionary's codes (integer) and terms (text) are two lists
        codelist = self.codelists.get((name, data_type))
        if codelist is None:
            taken = {c.oid for c in self.codelists.values()}
            oid = f"CL.{_oid_part(name)}"
            if oid in taken:
                oid += f".{data_type}"
            while oid in taken:
                oid += "_"
            codelist = _CodeList(oid, name, data_type, dictionary=_dictionary(name))
            self.codelists[(name, data_type)] = codelist
        if codelist.dictionary:
            return codelist
        if variable.codelist_values:
            if not codelist.declared:
                codelist.values, codelist.declared = [], True
            codelist.values += [v for v in variable.codelist_values if v not in codelist.values]
        elif not codelist.declared:
            present = {str(v) for v in values if v is not None} - set(codelist.values)
            codelist.values += sorted(present, key=_number_first if variable.data_type.numeric else str)
        return codelist

    def codelist_elements(self) -> list[Any]:
        elements = []
        for codelist in self.codelists.values():
            if not codelist.values and not codelist.dictionary:
                # nothing to list (no planned values, no data): drop the references rather than point at nothing
                for ref in codelist.refs:
                    ref.getparent().remove(ref)
                continue
            element = _element(_odm("CodeList"), OID=codelist.oid, Name=codelist.name, DataType=codelist.data_type)
            if codelist.dictionary:
                dictionary, version = codelist.dictionary
                external = _sub(element, "ExternalCodeList", Dictionary=dictionary)
                if version:
                    external.set("Version", version)
            for order, value in enumerate(codelist.values, start=1):
                item = _sub(element, "EnumeratedItem", CodedValue=value)
                if codelist.declared:
                    item.set("OrderNumber", str(order))
            elements.append(element)
        return elements

    # -- value-level metadata

    def _value_levels(self, dataset: Dataset) -> dict[str, list[_ValueLevel]]:
        variables = {variable.name: variable for variable in dataset.variables}
        levels: dict[str, list[_ValueLevel]] = {}
        for number, entry in enumerate(dataset.value_level, start=1):
            name, text = entry.variable, entry.where
            if name not in variables:
                _refuse(dataset.name, name, "has value-level metadata but is not a variable of the dataset")
            try:
                alternatives = parse_where(text)
            except ValueError as error:
                _refuse(dataset.name, name, f"where clause {text!r} cannot be read ({error}); {WHERE_GRAMMAR}")
            for conditions in alternatives:
                for condition in conditions:
                    _check_condition(dataset, name, text, condition, variables)
            rows = [
                row
                for row in dataset.rows
                if any(all(_matches(c, variables[c.variable], row) for c in group) for group in alternatives)
            ]
            suffix = _suffix(alternatives, levels.get(name, []), number)
            level = self._value_level(dataset, variables[name], entry, suffix, alternatives, rows)
            levels.setdefault(name, []).append(level)
        if dataset.name.startswith("SUPP") and {"QNAM", "QVAL"} <= set(variables):
            levels.setdefault("QVAL", []).extend(self._qualifier_levels(dataset, levels.get("QVAL", [])))
        return levels

    def _value_level(
        self,
        dataset: Dataset,
        parent: Variable,
        entry: ValueLevel,
        suffix: str,
        alternatives: list[list[Condition]],
        rows: list[dict[str, Value]],
    ) -> _ValueLevel:
        """An entry's origin and method: its own when it gives one, else its variable's (or QORIG's in SUPP--)."""
        if entry.origin is None:
            origin = _row_origin(dataset, rows, parent.origin)
            method = self.methods_by_variable.get((dataset.name, parent.name)) if origin is parent.origin else None
            predecessor = parent.derivation
        else:
            origin, method, predecessor = entry.origin, None, entry.derivation or parent.derivation
        if entry.origin is Origin.DERIVED:
            if not entry.derivation:
                _refuse(
                    dataset.name,
                    parent.name,
                    f"value-level entry {entry.where!r} is Derived but has no derivation text for its MethodDef "
                    "(Define-XML 2.1 wants a method for every derived value)",
                )
            method = f"MT.{dataset.name}.{parent.name}.{suffix}"
            element = _element(
                _odm("MethodDef"),
                OID=method,
                Name=f"Algorithm to derive {dataset.name}.{parent.name} where {entry.where}",
                Type="Computation",
            )
            _description(element, entry.derivation)
            self.methods.append(element)
        if origin is Origin.PREDECESSOR and not predecessor:
            _refuse(dataset.name, parent.name, f"value-level entry {entry.where!r} is Predecessor but names none")
        return _ValueLevel(
            suffix,
            alternatives,
            entry.description,
            rows,
            origin,
            method,
            predecessor if origin is Origin.PREDECESSOR else None,
        )

    def _qualifier_levels(self, dataset: Dataset, described: list[_ValueLevel]) -> list[_ValueLevel]:
        """A value-level entry for each QNAM the builder did not describe (Define-XML 2.1 for SUPP-- datasets)."""
        covered = {
            value
            for level in described
            for conditions in level.alternatives
            if len(conditions) == 1 and conditions[0].variable == "QNAM" and conditions[0].comparator in ("EQ", "IN")
            for value in conditions[0].values
        }
        qnams = sorted({str(row["QNAM"]) for row in dataset.rows if row.get("QNAM")} - covered)
        levels = []
        for qnam in qnams:
            rows = [row for row in dataset.rows if row.get("QNAM") == qnam]
            labels = sorted({str(row["QLABEL"]) for row in rows if row.get("QLABEL")})
            parent = self.split_parent.get((dataset.name, qnam))
            origin = _row_origin(dataset, rows, Origin.COLLECTED)
            method = self.methods_by_variable.get(parent) if parent else None
            condition = Condition("QNAM", "EQ", (qnam,))
            levels.append(_ValueLevel(_oid_part(qnam), [[condition]], "; ".join(labels) or qnam, rows, origin, method))
        return levels

    def _value_list(self, dataset: Dataset, variable: Variable, oid: str, levels: list[_ValueLevel]) -> None:
        value_list = etree.Element(_def("ValueListDef"))
        value_list.set("OID", oid)
        for order, level in enumerate(levels, start=1):
            item_oid = f"IT.{dataset.name}.{variable.name}.{level.suffix}"
            ref = _sub(value_list, "ItemRef", ItemOID=item_oid, OrderNumber=str(order))
            ref.set("Mandatory", "Yes" if variable.core is Core.REQUIRED else "No")
            if level.origin is Origin.DERIVED and level.method:
                ref.set("MethodOID", level.method)
            # several where clauses on one value-level item apply when any of them holds (Define-XML 2.1)
            for number, conditions in enumerate(level.alternatives, start=1):
                where_oid = f"WC.{dataset.name}.{variable.name}.{level.suffix}"
                if len(level.alternatives) > 1:
                    where_oid += f".{number}"
                etree.SubElement(ref, _def("WhereClauseRef")).set("WhereClauseOID", where_oid)
                self.where_clauses.append(_where_clause(dataset, where_oid, conditions))
        self.value_lists.append(value_list)

    def _value_item_def(self, dataset: Dataset, variable: Variable, level: _ValueLevel) -> Any:
        values = [row[variable.name] for row in level.rows]
        longest = max((len(str(v)) for v in values if v is not None), default=1)
        item = self._item_element(f"IT.{dataset.name}.{variable.name}.{level.suffix}", variable, values, longest)
        _description(item, level.description)
        self._origin(item, level.origin, level.predecessor)
        return item


def _check_condition(
    dataset: Dataset, name: str, text: str, condition: Condition, variables: dict[str, Variable]
) -> None:
    tested = variables.get(condition.variable)
    if tested is None:
        _refuse(dataset.name, name, f"where clause {text!r} tests {condition.variable}, not a variable of the dataset")
    if tested.data_type.numeric:
        for value in (v for v in condition.values if v != ""):
            try:
                Decimal(value)
            except ArithmeticError:
                _refuse(dataset.name, name, f"where clause {text!r} compares the number {tested.name} with {value!r}")


def _where_clause(dataset: Dataset, oid: str, conditions: Iterable[Condition]) -> Any:
    clause = etree.Element(_def("WhereClauseDef"))
    clause.set("OID", oid)
    for condition in conditions:
        check = _sub(clause, "RangeCheck", Comparator=condition.comparator, SoftHard="Soft")
        check.set(_def("ItemOID"), f"IT.{dataset.name}.{condition.variable}")
        for value in condition.values:
            _sub(check, "CheckValue").text = value
    return clause


def _suffix(alternatives: list[list[Condition]], earlier: list[_ValueLevel], number: int) -> str:
    """``AETERM1`` for ``QNAM EQ 'AETERM1'``; the entry's number when the clause is not one value."""
    if len(alternatives) == 1 and len(alternatives[0]) == 1 and alternatives[0][0].comparator == "EQ":
        suffix = _oid_part(alternatives[0][0].values[0])
        if suffix not in {level.suffix for level in earlier}:
            return suffix
    return str(number)


def _row_origin(dataset: Dataset, rows: list[dict[str, Value]], default: Origin) -> Origin:
    """The origin QORIG gives the rows of a SUPP-- value-level entry, when they agree on one; else ``default``."""
    if not dataset.name.startswith("SUPP"):
        return default
    origins = {row.get("QORIG") for row in rows}
    if len(origins) == 1:
        (origin,) = origins
        for member in Origin:
            if isinstance(origin, str) and origin.upper() == member.value.upper():
                return member
    return default


def _dictionary(name: str) -> tuple[str, str] | None:
    for dictionary in sorted(EXTERNAL_DICTIONARIES, key=len, reverse=True):
        if name == dictionary or name.startswith(dictionary + " "):
            return dictionary, name[len(dictionary) :].strip()
    return None


def _digits(value: int | Decimal) -> tuple[int, int]:
    """(digits shown, digits after the point) of a number as ``str()`` writes it in the CSV."""
    if isinstance(value, int):
        return len(str(abs(value))), 0
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite number")  # the transport check refuses these first
    decimals = max(0, -exponent)
    whole = len(digits) + exponent if exponent >= 0 else max(1, len(digits) + exponent)
    return whole + decimals, decimals


def _number_first(text: str) -> tuple[Decimal, str]:
    return Decimal(text), text
