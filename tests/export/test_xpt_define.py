"""SAS transport v5 + CSV writer and define.xml (Define-XML 2.1), on datasets built by hand.

Every transport file is read back by two independent readers (pandas.read_sas and pyreadstat.read_xport) and must
equal its CSV; define.xml is validated with lxml against the Define-XML 2.1 schemas in seed_data/schemas/define21.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
import sqlalchemy as sa
from lxml import etree
from sqlalchemy.orm import Session

from jk500db.clinical import astct
from jk500db.db import create_engine
from jk500db.derivations.adverse_events import DLT_RULE, EPISODE_RULE
from jk500db.export.adam import build_adam
from jk500db.export.cells import FORMULA_STARTS
from jk500db.export.context import ExportContext
from jk500db.export.datasets import Core, Dataset, DataType, Origin, Value, ValueLevel, Variable
from jk500db.export.define_xml import DEFINE_FILE, EMPTY_EXPECTED, DefineError, parse_where, write_define
from jk500db.export.schemas import DEFINE_21_XSD, schema
from jk500db.export.sdtm import build_sdtm
from jk500db.export.snapshot import open_snapshot
from jk500db.export.xpt import (
    FIXED_MOMENT,
    TRANSLITERATIONS_FILE,
    TransportLimitError,
    ascii_spelling,
    header_stamp,
    prepare,
    qualifier_name,
    snapshot_moment,
    split_text,
    write_datasets,
)
from jk500db.models import AuditEvent

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
MOMENT = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
IBM_ZERO_AS_PANDAS_READS_IT = 16.0**-65
#: Day 0 of SAS dates (SAS Language Reference: "a SAS date value is the number of days since January 1, 1960"),
#: written here rather than imported from the writer, so the readers' side of the check is independent.
SAS_DAY_ZERO = dt.date(1960, 1, 1)

CRS = "Cytokine release syndrome"
ICANS = "Immune effector cell-associated neurotoxicity syndrome"
#: 454 characters of free text, as a site might type a long verbatim term.
LONG_TERM = (
    "Fever to 39.4 C with rigors and hypotension on day 1 after the second JK500 infusion, responding to a fluid "
    "bolus; tocilizumab not given; blood cultures negative; resolved on day 3 without sequelae. Parents report "
    "the child was tired and off food for two more days, then back to baseline. Investigator considers the event "
    "related to JK500 and to IL-2; no relation to lymphodepletion. Reviewed again at the day 7 visit."
)


def v(name: str, label: str, data_type: DataType = DataType.TEXT, core: Core = Core.PERMISSIBLE, **kw: Any) -> Variable:
    return Variable(name, label, data_type, core, **kw)


def adverse_events() -> Dataset:
    identifiers = [
        v("STUDYID", "Study Identifier", core=Core.REQUIRED, origin=Origin.PROTOCOL),
        v(
            "DOMAIN",
            "Domain Abbreviation",
            core=Core.REQUIRED,
            origin=Origin.ASSIGNED,
            codelist="DOMAIN",
            codelist_values=("AE",),
        ),
        v("USUBJID", "Unique Subject Identifier", core=Core.REQUIRED, origin=Origin.ASSIGNED),
        v(
            "AESEQ",
            "Sequence Number",
            DataType.INTEGER,
            Core.REQUIRED,
            origin=Origin.DERIVED,
            derivation="1, 2, ... within USUBJID in AE number order",
        ),
    ]
    return Dataset(
        name="AE",
        label="Adverse Events",
        dataset_class="EVENTS",
        structure="One record per adverse event per subject",
        keys=("STUDYID", "USUBJID", "AESEQ"),
        variables=[
            *identifiers,
            v("AETERM", "Reported Term for the Adverse Event", core=Core.REQUIRED),
            v("AEDECOD", "Dictionary-Derived Term", core=Core.REQUIRED, codelist="MedDRA 20.1"),
            v(
                "AETOXGR",
                "Standard Toxicity Grade",
                core=Core.EXPECTED,
                codelist="TOXGR",
                codelist_values=("1", "2", "3", "4", "5"),
            ),
            v("AESTDTC", "Start Date/Time of Adverse Event", DataType.DATETIME, Core.EXPECTED),
            v(
                "AESTDY",
                "Study Day of Start of Adverse Event",
                DataType.INTEGER,
                origin=Origin.DERIVED,
                derivation="AESTDTC - RFSTDTC (+1 on or after RFSTDTC); null for a partial date",
            ),
        ],
        rows=[
            {
                "STUDYID": "JK500",
                "DOMAIN": "AE",
                "USUBJID": "JK500-01-01-001",
                "AESEQ": 1,
                "AETERM": LONG_TERM,
                "AEDECOD": CRS,
                "AETOXGR": "2",
                "AESTDTC": "2024-03-05T14:30Z",
                "AESTDY": 9,
            },
            {
                "STUDYID": "JK500",
                "DOMAIN": "AE",
                "USUBJID": "JK500-01-01-001",
                "AESEQ": 2,
                "AETERM": "Fièvre ≥ 38.5 après perfusion",
                "AEDECOD": "Fever",
                "AETOXGR": "1",
                "AESTDTC": "2024-03",
                "AESTDY": None,
            },
            {
                "STUDYID": "JK500",
                "DOMAIN": "AE",
                "USUBJID": "JK500-01-01-002",
                "AESEQ": 1,
                "AETERM": "=HYPERLINK(1)",
                "AEDECOD": ICANS,
                "AETOXGR": None,
                "AESTDTC": "2024",
                "AESTDY": None,
            },
        ],
        value_level=[
            ValueLevel("AETOXGR", f"AEDECOD IN ('{CRS}', '{ICANS}')", "Grade by the ASTCT consensus (Lee 2019)"),
            ValueLevel("AETOXGR", f"AEDECOD NOTIN ('{CRS}', '{ICANS}')", "Grade by CTCAE v5.0"),
        ],
    )


def lab_results() -> Dataset:
    return Dataset(
        name="LB",
        label="Laboratory Test Results",
        dataset_class="FINDINGS",
        structure="One record per lab test per time point per visit per subject",
        keys=("STUDYID", "USUBJID", "LBTESTCD", "LBDTC"),
        variables=[
            v("STUDYID", "Study Identifier", core=Core.REQUIRED, origin=Origin.PROTOCOL),
            v("DOMAIN", "Domain Abbreviation", core=Core.REQUIRED, origin=Origin.ASSIGNED),
            v("USUBJID", "Unique Subject Identifier", core=Core.REQUIRED, origin=Origin.ASSIGNED),
            v("LBSEQ", "Sequence Number", DataType.INTEGER, Core.REQUIRED, origin=Origin.DERIVED, derivation="1, 2"),
            v("LBTESTCD", "Lab Test or Examination Short Name", core=Core.REQUIRED, codelist="LBTESTCD", length=8),
            v("LBTEST", "Lab Test or Examination Name", core=Core.REQUIRED),
            v("LBORRES", "Result or Finding in Original Units", core=Core.EXPECTED),
            v("LBSTRESN", "Numeric Result/Finding in Standard Units", DataType.FLOAT, Core.EXPECTED),
            v("LBSTRESU", "Standard Units", core=Core.EXPECTED),
            v("LBDTC", "Date/Time of Specimen Collection", DataType.DATETIME, Core.EXPECTED),
        ],
        rows=[
            {
                "STUDYID": "JK500",
                "DOMAIN": "LB",
                "USUBJID": "JK500-01-01-001",
                "LBSEQ": 1,
                "LBTESTCD": "NEUT",
                "LBTEST": "Neutrophils",
                "LBORRES": "0.50",
                "LBSTRESN": Decimal("0.50"),
                "LBSTRESU": "10^9/L",
                "LBDTC": "2024-03-05",
            },
            {
                "STUDYID": "JK500",
                "DOMAIN": "LB",
                "USUBJID": "JK500-01-01-001",
                "LBSEQ": 2,
                "LBTESTCD": "PLAT",
                "LBTEST": "Platelets",
                "LBORRES": "102.10",
                "LBSTRESN": Decimal("102.10"),
                "LBSTRESU": "10^9/L",
                "LBDTC": "2024-03",
            },
            {
                "STUDYID": "JK500",
                "DOMAIN": "LB",
                "USUBJID": "JK500-01-01-002",
                "LBSEQ": 1,
                "LBTESTCD": "BLAST",
                "LBTEST": "Blasts",
                "LBORRES": None,
                "LBSTRESN": None,
                "LBSTRESU": None,
                "LBDTC": "2024-03-07",
            },
            {
                "STUDYID": "JK500",
                "DOMAIN": "LB",
                "USUBJID": "JK500-01-01-002",
                "LBSEQ": 2,
                "LBTESTCD": "BLAST",
                "LBTEST": "Blasts",
                "LBORRES": "0",
                "LBSTRESN": Decimal("0"),
                "LBSTRESU": "%",
                "LBDTC": "2024-04-02",
            },
        ],
    )


def empty_medical_history() -> Dataset:
    return Dataset(
        "MH", "Medical History", "EVENTS", "One record per medical history event per subject",
        ("STUDYID", "USUBJID", "MHSEQ"),
        [v("STUDYID", "Study Identifier", core=Core.REQUIRED),
         v("USUBJID", "Unique Subject Identifier", core=Core.REQUIRED),
         v("MHSEQ", "Sequence Number", DataType.INTEGER, Core.REQUIRED)],
    )  # fmt: skip


def study_datasets() -> list[Dataset]:
    return [adverse_events(), lab_results(), empty_medical_history()]


def write_define_for(datasets: list[Dataset], folder: Path, **kw: Any) -> Path:
    return write_define(
        datasets, folder, study_name="JK500", protocol_name="JK500-01",
        description="NK-cell therapy in children with relapsed or refractory AML", created=MOMENT, **kw,
    )  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def unmarked(cell: str) -> str:
    """The value behind a CSV cell: every export CSV marks a text that a spreadsheet would run with an apostrophe."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _pandas_date(value: float) -> dt.date | None:
    """A SAS date as pandas reads it (a number of days, unformatted) as a date."""
    if math.isnan(value):
        return None
    days = 0.0 if value == IBM_ZERO_AS_PANDAS_READS_IT else value  # pandas-dev/pandas#50670, as for numbers
    assert days == int(days), f"{value} is not a whole number of days"
    return SAS_DAY_ZERO + dt.timedelta(days=int(days))


def assert_transport_equals_csv(xpt: Path, csv_path: Path, dataset: Dataset) -> None:
    """Both readers give back the CSV's values: numbers as the double nearest the CSV's decimal, text unchanged,
    dates (numeric SAS dates with the format DATE9. in the transport file) as the day the CSV's ISO 8601 text names."""
    rows = read_csv(csv_path)
    by_pyreadstat, meta = pyreadstat.read_xport(str(xpt))
    by_pandas = pd.read_sas(xpt, format="xport", encoding="ascii")
    with pd.read_sas(xpt, format="xport", encoding="ascii", iterator=True) as xport:
        pandas_formats = {f["name"].decode(): (f["nform"].decode(), f["nfl"]) for f in xport.fields}
    assert meta.table_name == dataset.name
    assert meta.file_label == dataset.label
    assert meta.column_labels == [variable.label for variable in dataset.variables]
    record_length = sum(meta.variable_storage_width.values())
    for reader, frame in (("pyreadstat", by_pyreadstat), ("pandas", by_pandas)):
        assert list(frame.columns) == [variable.name for variable in dataset.variables], reader
        expected = rows
        if reader == "pandas" and record_length <= 80 and len(frame) < len(rows):
            # pandas (XportReader._record_count) takes every blank 8-byte word of the file's last 80-byte card
            # for padding when records are at most 80 bytes long, and may drop trailing records; pyreadstat
            # reads them all. Compare what pandas read.
            expected = rows[: len(frame)]
        assert len(frame) == len(expected), reader
        for variable in dataset.variables:
            cells = [row[variable.name] for row in expected]
            values = frame[variable.name].tolist()
            where = f"{reader} {dataset.name}.{variable.name}"
            if variable.data_type is DataType.DATE:
                assert meta.readstat_variable_types[variable.name] == "double", where
                assert meta.original_variable_types[variable.name] == "DATE9", where
                assert pandas_formats[variable.name] == ("DATE", 9), where
                wanted_dates = [None if cell == "" else dt.date.fromisoformat(cell) for cell in cells]
                if reader == "pandas":
                    read = [_pandas_date(value) for value in values]
                else:  # pyreadstat applies the DATE9. format: dates, and NaN for a missing one
                    read = [value if isinstance(value, dt.date) else None for value in values]
                    assert all(isinstance(value, dt.date) or math.isnan(value) for value in values), where
                assert read == wanted_dates, where
            elif variable.data_type.numeric:
                assert meta.readstat_variable_types[variable.name] == "double"
                wanted = [None if cell == "" else float(Decimal(cell)) for cell in cells]
                if reader == "pandas":
                    # pandas reads the IBM zero (eight zero bytes) as 16**-65 (pandas-dev/pandas#50670, open);
                    # pyreadstat, like SAS, reads 0.0 from the same bytes.
                    values = [0.0 if value == IBM_ZERO_AS_PANDAS_READS_IT else value for value in values]
                assert [None if math.isnan(value) else value for value in values] == wanted, where
            else:
                assert meta.readstat_variable_types[variable.name] == "string"
                assert values == [unmarked(cell) for cell in cells], where


def assert_references_resolve(document: Any) -> None:
    """Define-XML 2.1 conformance the schema does not check: every OID reference names a definition."""
    pairs = [
        ("//odm:ItemRef/@ItemOID", "//odm:ItemDef/@OID"),
        ("//odm:CodeListRef/@CodeListOID", "//odm:CodeList/@OID"),
        ("//@MethodOID", "//odm:MethodDef/@OID"),
        ("//@WhereClauseOID", "//def:WhereClauseDef/@OID"),
        ("//@ValueListOID", "//def:ValueListDef/@OID"),
        ("//@def:ItemOID", "//odm:ItemDef/@OID"),
        ("//@def:CommentOID", "//def:CommentDef/@OID"),
        ("//@def:ArchiveLocationID", "//def:leaf/@ID"),
        ("//@def:StandardOID", "//def:Standard/@OID"),
    ]
    for references, definitions in pairs:
        missing = set(document.xpath(references, namespaces=NS)) - set(document.xpath(definitions, namespaces=NS))
        assert not missing, (references, missing)
    defined = document.xpath("//odm:ItemDef/@OID | //odm:CodeList/@OID | //odm:MethodDef/@OID", namespaces=NS)
    assert len(defined) == len(set(defined)), "an OID is defined twice"


# --- transport files -----------------------------------------------------------------------------------------------


def test_every_transport_file_reads_back_equal_to_its_csv_with_both_readers(tmp_path: Path) -> None:
    """FDA Technical Conformance Guide: SAS transport v5. Two independent readers give back the CSV's values."""
    paths = write_datasets(study_datasets(), tmp_path, stamped_at=MOMENT)
    written = {path.name for path in paths}
    assert written == {"ae.xpt", "ae.csv", "suppae.xpt", "suppae.csv", "lb.xpt", "lb.csv", TRANSLITERATIONS_FILE}
    data = prepare(study_datasets())
    for dataset in data.datasets:
        if dataset.rows:
            assert_transport_equals_csv(tmp_path / f"{dataset.name.lower()}.xpt",
                                        tmp_path / f"{dataset.name.lower()}.csv", dataset)  # fmt: skip


def test_numbers_are_doubles_in_the_transport_file_and_exact_decimals_in_the_csv(tmp_path: Path) -> None:
    write_datasets(study_datasets(), tmp_path)
    rows = read_csv(tmp_path / "lb.csv")
    assert [row["LBSTRESN"] for row in rows] == ["0.50", "102.10", "", "0"]
    frame, _ = pyreadstat.read_xport(str(tmp_path / "lb.xpt"))
    assert list(frame["LBSTRESN"][:2]) == [0.5, 102.1]
    assert math.isnan(frame["LBSTRESN"][2])
    assert frame["LBSTRESN"][3] == 0.0
    assert [row["LBSEQ"] for row in rows] == ["1", "2", "1", "2"]


def test_a_number_with_more_digits_than_a_double_keeps_them_in_the_csv(tmp_path: Path) -> None:
    """A derived BSA is kept to 28 digits: the transport file holds the nearest double, the CSV every digit."""
    bsa = Decimal("1.026239088451938994191974206")
    write_datasets([_with_value(lab_results(), "LBSTRESN", bsa)], tmp_path)
    assert read_csv(tmp_path / "lb.csv")[0]["LBSTRESN"] == str(bsa)
    frame, _ = pyreadstat.read_xport(str(tmp_path / "lb.xpt"))
    assert frame["LBSTRESN"][0] == float(bsa)
    assert_transport_equals_csv(tmp_path / "lb.xpt", tmp_path / "lb.csv", lab_results())


def test_partial_dates_and_missing_values_travel_as_they_are(tmp_path: Path) -> None:
    """SDTMIG 3.4 section 4.4.2: a partial date is truncated, never imputed; a missing value stays missing."""
    write_datasets(study_datasets(), tmp_path)
    frame, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert list(frame["AESTDTC"]) == ["2024-03-05T14:30Z", "2024-03", "2024"]
    assert frame["AETOXGR"][2] == ""
    assert math.isnan(frame["AESTDY"][1])
    assert read_csv(tmp_path / "ae.csv")[2]["AETOXGR"] == ""


def test_long_text_continues_in_supp_records_that_join_back_to_the_whole_text(tmp_path: Path) -> None:
    """SDTMIG 3.4 section 4.5.3.2: first piece in the variable, the rest in SUPPAE with QNAM AETERM1, AETERM2."""
    datasets = study_datasets()
    write_datasets(datasets, tmp_path)
    assert datasets[0].rows[0]["AETERM"] == LONG_TERM  # the builder's datasets are left as they were
    ae, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    supp, meta = pyreadstat.read_xport(str(tmp_path / "suppae.xpt"))
    assert meta.table_name == "SUPPAE"
    assert list(supp["QNAM"]) == ["AETERM1", "AETERM2"]
    assert set(supp["QLABEL"]) == {"Reported Term for the Adverse Event"}
    assert set(supp["IDVAR"]) == {"AESEQ"} and set(supp["IDVARVAL"]) == {"1"}
    assert set(supp["USUBJID"]) == {"JK500-01-01-001"} and set(supp["RDOMAIN"]) == {"AE"}
    assert set(supp["QORIG"]) == {"Collected"}
    pieces = [ae["AETERM"][0], *supp["QVAL"]]
    assert all(len(piece) <= 200 for piece in pieces)
    assert "".join(pieces) == LONG_TERM
    assert all(not piece.endswith(" ") for piece in pieces)  # cut between words, the blank opening the next piece
    assert all(piece.startswith(" ") for piece in pieces[1:])


def test_split_pieces_join_a_builders_supp_dataset_in_key_order(tmp_path: Path) -> None:
    builder_supp = Dataset(
        "SUPPAE", "Supplemental Qualifiers for AE", "RELATIONSHIP", "One record per IDVAR, IDVARVAL, QNAM",
        ("STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"),
        [v(name, label) for name, label in (
            ("STUDYID", "Study Identifier"), ("RDOMAIN", "Related Domain Abbreviation"),
            ("USUBJID", "Unique Subject Identifier"), ("IDVAR", "Identifying Variable"),
            ("IDVARVAL", "Identifying Variable Value"), ("QNAM", "Qualifier Variable Name"),
            ("QLABEL", "Qualifier Variable Label"), ("QVAL", "Data Value"), ("QORIG", "Origin"),
            ("QEVAL", "Evaluator"))],
        rows=[{"STUDYID": "JK500", "RDOMAIN": "AE", "USUBJID": "JK500-01-01-002", "IDVAR": "AESEQ", "IDVARVAL": "1",
               "QNAM": "AEDLT", "QLABEL": "Dose-Limiting Toxicity", "QVAL": "N", "QORIG": "Assigned"},
              {"STUDYID": "JK500", "RDOMAIN": "AE", "USUBJID": "JK500-01-01-001", "IDVAR": "AESEQ", "IDVARVAL": "1",
               "QNAM": "AEDLT", "QLABEL": "Dose-Limiting Toxicity", "QVAL": "Y", "QORIG": "Assigned"}],
        value_level=[ValueLevel("QVAL", "QNAM EQ 'AEDLT'", "Dose-limiting toxicity, as the investigator decided")],
    )  # fmt: skip
    datasets = [adverse_events(), builder_supp]
    data = prepare(datasets)
    supp = data.dataset("SUPPAE")
    assert [(r["USUBJID"], r["QNAM"]) for r in supp.rows] == [
        ("JK500-01-01-001", "AEDLT"),
        ("JK500-01-01-001", "AETERM1"),
        ("JK500-01-01-001", "AETERM2"),
        ("JK500-01-01-002", "AEDLT"),
    ]
    assert [d.name for d in data.datasets] == ["AE", "SUPPAE"]
    define = etree.parse(str(write_define_for(datasets, tmp_path)))
    items = define.xpath("//def:ValueListDef[@OID='VL.SUPPAE.QVAL']/odm:ItemRef/@ItemOID", namespaces=NS)
    assert items == ["IT.SUPPAE.QVAL.AEDLT", "IT.SUPPAE.QVAL.AETERM1", "IT.SUPPAE.QVAL.AETERM2"]


def test_split_text_cuts_before_a_blank_and_inside_a_word_only_when_it_must() -> None:
    assert split_text("short") == ["short"]
    words = "abcd " * 100
    pieces = split_text(words.rstrip())
    assert pieces is not None and "".join(pieces) == words.rstrip()
    assert all(len(piece) <= 200 and not piece.endswith(" ") for piece in pieces)
    assert split_text("x" * 450) == ["x" * 200, "x" * 200, "x" * 50]
    assert split_text(" " * 200 + "x") is None


def test_an_eight_character_variable_gives_its_last_character_to_the_qnam_digit() -> None:
    """SDTMIG 3.4 section 4.5.3.2 (e.g. AEACNOTH -> AEACNOT1)."""
    assert qualifier_name("AETERM", 1) == "AETERM1"
    assert qualifier_name("AEACNOTH", 2) == "AEACNOT2"


def test_non_ascii_text_is_spelled_in_ascii_only_by_the_table_and_every_change_is_listed(tmp_path: Path) -> None:
    write_datasets(study_datasets(), tmp_path)
    frame, _ = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert frame["AETERM"][1] == "Fievre >= 38.5 apres perfusion"
    listed = read_csv(tmp_path / TRANSLITERATIONS_FILE)
    assert listed == [{
        "dataset": "AE", "variable": "AETERM", "row": "row 2 (USUBJID JK500-01-01-001, AESEQ 2)",
        "original": "Fièvre ≥ 38.5 après perfusion", "exported": "Fievre >= 38.5 apres perfusion",
    }]  # fmt: skip
    assert ascii_spelling("mg/m² and 10 µg") == "mg/m2 and 10 ug"


def test_transport_headers_carry_the_given_moment_never_the_clock(tmp_path: Path) -> None:
    """pyreadstat stamps created/modified with the clock; the writer replaces them with the snapshot moment."""
    write_datasets(study_datasets(), tmp_path, stamped_at=MOMENT)
    _, meta = pyreadstat.read_xport(str(tmp_path / "ae.xpt"))
    assert meta.creation_time == meta.modification_time == dt.datetime(2024, 5, 6, 7, 8, 9)
    content = (tmp_path / "ae.xpt").read_bytes()
    assert content.count(b"06MAY24:07:08:09") == 4
    assert header_stamp(FIXED_MOMENT) == b"01JAN00:00:00:00"


def test_two_runs_give_byte_identical_files(tmp_path: Path) -> None:
    first = write_datasets(study_datasets(), tmp_path / "one")
    first.append(write_define_for(study_datasets(), tmp_path / "one"))
    second = write_datasets(study_datasets(), tmp_path / "two")
    second.append(write_define_for(study_datasets(), tmp_path / "two"))
    assert [p.name for p in first] == [p.name for p in second]
    for one, two in zip(first, second, strict=True):
        assert one.read_bytes() == two.read_bytes(), one.name
    assert b"01JAN00:00:00:00" in (tmp_path / "one" / "ae.xpt").read_bytes()


def test_a_dataset_without_records_gets_no_file(tmp_path: Path) -> None:
    """FDA Technical Conformance Guide: no empty datasets; define.xml marks it def:HasNoData."""
    paths = write_datasets(study_datasets(), tmp_path)
    assert not [p for p in paths if p.name.startswith("mh.")]
    define = etree.parse(str(write_define_for(study_datasets(), tmp_path)))
    (group,) = define.xpath("//odm:ItemGroupDef[@Name='MH']", namespaces=NS)
    assert group.get(f"{{{NS['def']}}}HasNoData") == "Yes"
    assert not group.xpath("def:leaf", namespaces=NS)


def _changed(dataset: Dataset, **changes: Any) -> Dataset:
    fields = {"name": dataset.name, "label": dataset.label, "variables": list(dataset.variables),
              "rows": [dict(r) for r in dataset.rows], "keys": dataset.keys}  # fmt: skip
    fields.update(changes)
    return Dataset(fields["name"], fields["label"], dataset.dataset_class, dataset.structure, fields["keys"],
                   fields["variables"], fields["rows"], list(dataset.value_level))  # fmt: skip


def _with_value(dataset: Dataset, variable: str, value: Value, row: int = 0) -> Dataset:
    rows = [dict(r) for r in dataset.rows]
    rows[row][variable] = value
    return _changed(dataset, rows=rows)


def _with_variable(dataset: Dataset, name: str, variable: Variable) -> Dataset:
    return _changed(dataset, variables=[variable if x.name == name else x for x in dataset.variables])


AE = adverse_events()
LB = lab_results()
ADSL = Dataset(
    "ADSL", "Subject-Level Analysis Dataset", "SUBJECT LEVEL ANALYSIS DATASET", "One record per subject",
    ("STUDYID", "USUBJID"),
    [v("STUDYID", "Study Identifier"), v("USUBJID", "Unique Subject Identifier"), v("DCSREAS", "Reason")],
    [{"STUDYID": "JK500", "USUBJID": "JK500-01-01-001", "DCSREAS": "x " * 150}],
)  # fmt: skip


@pytest.mark.parametrize(
    ("dataset", "where", "rule"),
    [
        (_changed(AE, name="ADVERSEEV"), ("ADVERSEEV", "dataset name"), "1 to 8 upper-case ASCII"),
        (_changed(AE, name="ae"), ("ae", "dataset name"), "1 to 8 upper-case ASCII"),
        (_changed(AE, label="Adverse Events of the JK500 NK-cell trial 2024"), ("AE", "dataset label"), "40"),
        (_with_variable(AE, "AETERM", v("AETERM_VERBATIM", "Verbatim")), ("AE", "AETERM_VERBATIM"), "1 to 8"),
        (_with_variable(AE, "AETERM", v("aeterm", "Verbatim")), ("AE", "aeterm"), "upper-case"),
        (_with_variable(AE, "AETERM", v("AETERM", "Reported Term for the Adverse Event (verbatim)")),
         ("AE", "AETERM"), "1 to 40 printable ASCII"),
        (_with_variable(AE, "AETERM", v("AETERM", "Terme rapporté")), ("AE", "AETERM"), "printable ASCII"),
        (_with_value(AE, "AETERM", "Rash ω-shaped"), ("AE", "AETERM"), "no ASCII spelling"),
        (_with_value(AE, "AETERM", "Rash\x00"), ("AE", "AETERM"), "control character"),
        (_with_value(LB, "LBTESTCD", "NEUTROPHIL"), ("LB", "LBTESTCD"), "declared length 8"),
        (_with_value(LB, "LBSTRESN", 0.5), ("LB", "LBSTRESN"), "takes an int or a Decimal"),
        (_with_value(LB, "LBSTRESN", Decimal("1e80")), ("LB", "LBSTRESN"), "outside the range"),
        (_with_value(LB, "LBSEQ", 2**53 + 1), ("LB", "LBSEQ"), "2**53"),
        (_with_value(LB, "LBSEQ", Decimal("1.5")), ("LB", "LBSEQ"), "whole numbers"),
        (_with_value(LB, "LBSTRESN", Decimal("NaN")), ("LB", "LBSTRESN"), "not a number"),
        (_with_value(LB, "LBTEST", 3), ("LB", "LBTEST"), "takes text"),
        (_with_value(AE, "AETOXGR", "6"), ("AE", "AETOXGR"), "not a value of its codelist TOXGR"),
        (_with_value(AE, "AEOUT", "RECOVERED"), ("AE", "AEOUT"), "does not declare"),
    ],
)  # fmt: skip
def test_limits_are_refused_before_anything_is_written_naming_dataset_variable_and_rule(
    tmp_path: Path, dataset: Dataset, where: tuple[str, str], rule: str
) -> None:
    """SAS transport v5 (FDA TCG; SAS TS-140): names <= 8, labels <= 40, ASCII values <= 200, exact numbers."""
    with pytest.raises(TransportLimitError) as refused:
        write_datasets([dataset], tmp_path / "out")
    assert (refused.value.table, refused.value.field) == where
    assert rule in refused.value.rule
    assert str(refused.value).startswith(f"{where[0]}.{where[1]}: ")
    assert not (tmp_path / "out").exists()


def _without_seq(dataset: Dataset) -> Dataset:
    return _with_value(_with_value(dataset, "AESEQ", None), "AETERM", LONG_TERM)


@pytest.mark.parametrize(
    ("dataset", "variable", "reason"),
    [
        (ADSL, "DCSREAS", "class SUBJECT LEVEL ANALYSIS DATASET, which has no supplemental qualifiers"),
        (_with_value(AE, "AEDECOD", "x " * 150), "AEDECOD", "codelist MedDRA 20.1"),
        (_with_value(_changed(AE, keys=("STUDYID", "USUBJID", "AETERM")), "AETERM", LONG_TERM), "AETERM", "a key"),
        (_with_value(AE, "AETERM", "word " * 450), "AETERM", "at most 9"),
        (_without_seq(AE), "AETERM", "no AESEQ to link"),
    ],
)  # fmt: skip
def test_a_long_text_that_cannot_be_split_is_refused_with_the_reason(
    tmp_path: Path, dataset: Dataset, variable: str, reason: str
) -> None:
    """SDTMIG 3.4 section 4.5.3.2 applies to general-observation-class free text linked by --SEQ."""
    with pytest.raises(TransportLimitError, match=r"4\.5\.3\.2") as refused:
        write_datasets([dataset], tmp_path)
    assert (refused.value.table, refused.value.field) == (dataset.name, variable)
    assert reason in refused.value.rule


# --- define.xml ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def define_schema() -> etree.XMLSchema:
    return schema(DEFINE_21_XSD)


def test_define_xml_validates_against_the_define_21_schema(tmp_path: Path, define_schema: etree.XMLSchema) -> None:
    """Define-XML 2.1 (cdisc-define-2.1/define2-1-0.xsd, package v2.1.10)."""
    path = write_define_for(study_datasets(), tmp_path)
    assert path == tmp_path / DEFINE_FILE
    document = etree.parse(str(path))
    assert define_schema.validate(document), define_schema.error_log
    assert_references_resolve(document)


@pytest.mark.parametrize(
    "breakage",
    ["drop def:Structure", "unknown class", "ItemDef before ItemGroupDef", "leaf without title"],
)
def test_a_broken_define_xml_does_not_validate(tmp_path: Path, define_schema: etree.XMLSchema, breakage: str) -> None:
    document = etree.parse(str(write_define_for(study_datasets(), tmp_path)))
    group = document.xpath("//odm:ItemGroupDef[@Name='AE']", namespaces=NS)[0]
    if breakage == "drop def:Structure":
        del group.attrib[f"{{{NS['def']}}}Structure"]
    elif breakage == "unknown class":
        group.xpath("def:Class", namespaces=NS)[0].set("Name", "ADVERSE EVENTS")
    elif breakage == "ItemDef before ItemGroupDef":
        item = document.xpath("//odm:ItemDef", namespaces=NS)[0]
        group.addprevious(item)
    else:
        leaf = group.xpath("def:leaf", namespaces=NS)[0]
        leaf.remove(leaf[0])
    assert not define_schema.validate(document)


def test_define_xml_describes_each_file_as_written(tmp_path: Path) -> None:
    """Define-XML 2.1: ItemGroupDef with def:Structure, def:Class, keys, leaf; ItemDef Length = storage length."""
    paths = {p.name: p for p in write_datasets(study_datasets(), tmp_path)}
    document = etree.parse(str(write_define_for(study_datasets(), tmp_path)))
    root = document.getroot()
    assert root.get("CreationDateTime") == "2024-05-06T07:08:09Z"
    assert root.get("AsOfDateTime") is None
    groups = {g.get("Name"): g for g in document.xpath("//odm:ItemGroupDef", namespaces=NS)}
    assert list(groups) == ["AE", "SUPPAE", "LB", "MH"]
    for name in ("AE", "SUPPAE", "LB"):
        group = groups[name]
        (href,) = group.xpath("def:leaf/@xlink:href", namespaces={**NS, "xlink": "http://www.w3.org/1999/xlink"})
        assert href in paths
        _, meta = pyreadstat.read_xport(str(paths[href]))
        refs = group.xpath("odm:ItemRef", namespaces=NS)
        assert [ref.get("ItemOID").split(".")[-1] for ref in refs] == meta.column_names
        for ref in refs:
            (item,) = document.xpath(f"//odm:ItemDef[@OID='{ref.get('ItemOID')}']", namespaces=NS)
            if item.get("DataType") == "text":
                assert int(item.get("Length")) == meta.variable_storage_width[item.get("Name")], item.get("OID")
    ae = groups["AE"]
    assert ae.get(f"{{{NS['def']}}}Structure") == "One record per adverse event per subject"
    assert ae.xpath("def:Class/@Name", namespaces=NS) == ["EVENTS"]
    keys = {r.get("ItemOID"): r.get("KeySequence") for r in ae.xpath("odm:ItemRef[@KeySequence]", namespaces=NS)}
    assert keys == {"IT.AE.STUDYID": "1", "IT.AE.USUBJID": "2", "IT.AE.AESEQ": "3"}
    mandatory = {r.get("ItemOID"): r.get("Mandatory") for r in ae.xpath("odm:ItemRef", namespaces=NS)}
    assert mandatory["IT.AE.AETERM"] == "Yes" and mandatory["IT.AE.AETOXGR"] == "No"


def test_define_xml_gives_origins_methods_codelists_and_lengths(tmp_path: Path) -> None:
    document = etree.parse(str(write_define_for(study_datasets(), tmp_path)))

    def item(oid: str) -> Any:
        return document.xpath(f"//odm:ItemDef[@OID='{oid}']", namespaces=NS)[0]

    seq = document.xpath("//odm:ItemRef[@ItemOID='IT.AE.AESEQ']", namespaces=NS)[0]
    (method,) = document.xpath(f"//odm:MethodDef[@OID='{seq.get('MethodOID')}']", namespaces=NS)
    assert method.get("Type") == "Computation"
    assert method.xpath("string(odm:Description/odm:TranslatedText)", namespaces=NS).startswith("1, 2, ...")
    assert item("IT.AE.AESEQ").xpath("def:Origin/@Type", namespaces=NS) == ["Derived"]
    assert item("IT.AE.AETERM").xpath("def:Origin/@Source", namespaces=NS) == ["Investigator"]
    assert item("IT.AE.AESTDTC").get("Length") is None and item("IT.AE.AESTDTC").get("DataType") == "datetime"
    assert (item("IT.LB.LBSTRESN").get("Length"), item("IT.LB.LBSTRESN").get("SignificantDigits")) == ("5", "2")
    assert item("IT.LB.LBTESTCD").get("Length") == "8"
    toxgr = document.xpath("//odm:CodeList[@Name='TOXGR']/odm:EnumeratedItem/@CodedValue", namespaces=NS)
    assert toxgr == ["1", "2", "3", "4", "5"]
    meddra = document.xpath("//odm:CodeList[@Name='MedDRA 20.1']/odm:ExternalCodeList", namespaces=NS)[0]
    assert (meddra.get("Dictionary"), meddra.get("Version")) == ("MedDRA", "20.1")
    tests = document.xpath("//odm:CodeList[@Name='LBTESTCD']/odm:EnumeratedItem/@CodedValue", namespaces=NS)
    assert tests == ["BLAST", "NEUT", "PLAT"]  # the values in the data, when the variable lists none
    comment = item("IT.AE.AETERM").get(f"{{{NS['def']}}}CommentOID")
    text = document.xpath(f"string(//def:CommentDef[@OID='{comment}'])", namespaces=NS)
    assert "SUPPAE.QVAL (QNAM AETERM1, AETERM2)" in text and TRANSLITERATIONS_FILE in text


def test_value_level_metadata_says_which_ae_terms_are_graded_with_astct_and_which_with_ctcae(tmp_path: Path) -> None:
    """Define-XML 2.1 def:ValueListDef + def:WhereClauseDef for Dataset.value_level."""
    document = etree.parse(str(write_define_for(study_datasets(), tmp_path)))
    (ref,) = document.xpath("//odm:ItemDef[@OID='IT.AE.AETOXGR']/def:ValueListRef/@ValueListOID", namespaces=NS)
    items = document.xpath(f"//def:ValueListDef[@OID='{ref}']/odm:ItemRef", namespaces=NS)
    described = []
    for value_item in items:
        (where_oid,) = value_item.xpath("def:WhereClauseRef/@WhereClauseOID", namespaces=NS)
        (check,) = document.xpath(f"//def:WhereClauseDef[@OID='{where_oid}']/odm:RangeCheck", namespaces=NS)
        (definition,) = document.xpath(f"//odm:ItemDef[@OID='{value_item.get('ItemOID')}']", namespaces=NS)
        described.append((
            check.get("Comparator"), check.get(f"{{{NS['def']}}}ItemOID"),
            check.xpath("odm:CheckValue/text()", namespaces=NS),
            definition.xpath("string(odm:Description)", namespaces=NS).strip(),
        ))  # fmt: skip
    assert described == [
        ("IN", "IT.AE.AEDECOD", [CRS, ICANS], "Grade by the ASTCT consensus (Lee 2019)"),
        ("NOTIN", "IT.AE.AEDECOD", [CRS, ICANS], "Grade by CTCAE v5.0"),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("QNAM EQ 'AEDLT'", [[("QNAM", "EQ", ("AEDLT",))]]),
        ("AEDECOD in ('It''s', \"B\")", [[("AEDECOD", "IN", ("It's", "B"))]]),
        ("LBSTRESN GE 5 and LBTESTCD EQ BLAST", [[("LBSTRESN", "GE", ("5",)), ("LBTESTCD", "EQ", ("BLAST",))]]),
        ("CRSFL EQ 'Y' or ICANSFL EQ 'Y'", [[("CRSFL", "EQ", ("Y",))], [("ICANSFL", "EQ", ("Y",))]]),
        ("CRSFL IS NULL AND ICANSFL IS NOT NULL", [[("CRSFL", "EQ", ("",)), ("ICANSFL", "NE", ("",))]]),
    ],
)
def test_where_clauses_read_into_range_checks(
    text: str, expected: list[list[tuple[str, str, tuple[str, ...]]]]
) -> None:
    parsed = [[(c.variable, c.comparator, c.values) for c in group] for group in parse_where(text)]
    assert parsed == expected


def test_alternatives_become_several_where_clause_refs_and_null_an_empty_check_value(
    tmp_path: Path, define_schema: etree.XMLSchema
) -> None:
    """Define-XML 2.1: several def:WhereClauseRef on one value-level item apply when any holds."""
    ae = adverse_events()
    ae.value_level = [ValueLevel("AETOXGR", "AEDECOD EQ 'Fever' OR AETOXGR IS NULL", "Graded by CTCAE or not graded")]
    document = etree.parse(str(write_define_for([ae], tmp_path)))
    assert define_schema.validate(document), define_schema.error_log
    refs = document.xpath("//def:ValueListDef[@OID='VL.AE.AETOXGR']//def:WhereClauseRef/@WhereClauseOID", namespaces=NS)
    assert refs == ["WC.AE.AETOXGR.1.1", "WC.AE.AETOXGR.1.2"]
    (empty,) = document.xpath("//def:WhereClauseDef[@OID='WC.AE.AETOXGR.1.2']/odm:RangeCheck", namespaces=NS)
    assert empty.get("Comparator") == "EQ" and empty.xpath("string(odm:CheckValue)", namespaces=NS) == ""


def _levels(*levels: ValueLevel) -> Any:
    return lambda dataset: setattr(dataset, "value_level", list(levels))


@pytest.mark.parametrize(
    ("change", "variable", "rule"),
    [
        (_levels(ValueLevel("AETOXGR", "AEDECOD LIKE 'Fever%'", "x")), "AETOXGR", "not an ODM comparator"),
        (_levels(ValueLevel("AETOXGR", "AEREL EQ 'Y'", "x")), "AETOXGR", "tests AEREL"),
        (_levels(ValueLevel("AEREL", "AEDECOD EQ 'Fever'", "x")), "AEREL", "not a variable"),
        (_levels(ValueLevel("AETOXGR", "CRSFL and ICANSFL null", "x")), "AETOXGR", "IS NULL"),
        (_levels(ValueLevel("AETOXGR", "AEDECOD EQ 'Fever'", "x", Origin.DERIVED)), "AETOXGR",
         "Derived but has no derivation text"),
        (_levels(ValueLevel("AETOXGR", "AEDECOD EQ 'Fever'", "x", Origin.PREDECESSOR)), "AETOXGR",
         "Predecessor but names none"),
        (lambda d: d.variables.__setitem__(3, v("AESEQ", "Sequence Number", DataType.INTEGER, Core.REQUIRED,
                                                  origin=Origin.DERIVED)), "AESEQ", "no derivation text"),
        (lambda d: (setattr(d, "dataset_class", "ADVERSE EVENTS"), d.rows.pop(0)), "dataset class",
         "not a Define-XML 2.1 class"),
    ],
)  # fmt: skip
def test_metadata_define_xml_cannot_state_is_refused_naming_dataset_variable_and_rule(
    tmp_path: Path, change: Any, variable: str, rule: str
) -> None:
    ae = adverse_events()
    change(ae)
    with pytest.raises(DefineError) as refused:
        write_define_for([ae], tmp_path)
    assert (refused.value.table, refused.value.field) == ("AE", variable)
    assert rule in refused.value.rule


def test_adam_define_uses_the_analysis_purpose_and_the_as_of_moment(
    tmp_path: Path, define_schema: etree.XMLSchema
) -> None:
    adsl = _with_value(ADSL, "DCSREAS", "Progressive disease")
    as_of = dt.datetime(2024, 4, 1, 12, tzinfo=dt.UTC)
    document = etree.parse(str(write_define_for([adsl], tmp_path, standard="ADaMIG 1.3", as_of=as_of)))
    assert define_schema.validate(document), define_schema.error_log
    assert_references_resolve(document)
    (group,) = document.xpath("//odm:ItemGroupDef", namespaces=NS)
    assert (group.get("Purpose"), group.get("Repeating"), group.get("Domain")) == ("Analysis", "No", None)
    assert document.xpath("//def:Standard/@Name", namespaces=NS) == ["ADaMIG"]
    assert document.getroot().get("AsOfDateTime") == "2024-04-01T12:00:00Z"


# --- dates, value-level origins, comments ------------------------------------------------------------------------

#: Long enough that a record is more than 80 bytes, which pandas needs to read every record (see the helper above).
REASON = "Withdrawal by parent/guardian after the third infusion"


def analysis_dates() -> Dataset:
    """An ADSL with two *DT variables: a date in 2024, SAS day 0 (1960-01-01), a day before it, a leap day."""
    return Dataset(
        "ADSL", "Subject-Level Analysis Dataset", "SUBJECT LEVEL ANALYSIS DATASET", "One record per subject",
        ("STUDYID", "USUBJID"),
        [v("STUDYID", "Study Identifier", core=Core.REQUIRED, origin=Origin.PREDECESSOR, derivation="DM.STUDYID"),
         v("USUBJID", "Unique Subject Identifier", core=Core.REQUIRED, origin=Origin.PREDECESSOR,
           derivation="DM.USUBJID"),
         v("TRTSDT", "Date of First Exposure to Treatment", DataType.DATE, origin=Origin.DERIVED,
           derivation="Date of the first dose"),
         v("DTHDT", "Date of Death", DataType.DATE, origin=Origin.DERIVED, derivation="death.death_date"),
         v("DCSREAS", "Reason for Discontinuation from Study", origin=Origin.DERIVED, derivation="end_of_study")],
        [{"STUDYID": "JK500", "USUBJID": "JK500-01-01-001", "TRTSDT": "2024-03-11", "DTHDT": None, "DCSREAS": REASON},
         {"STUDYID": "JK500", "USUBJID": "JK500-01-01-002", "TRTSDT": "1960-01-01", "DTHDT": "1959-12-31",
          "DCSREAS": REASON},
         {"STUDYID": "JK500", "USUBJID": "JK500-01-01-003", "TRTSDT": "2024-02-29", "DTHDT": "2099-12-31",
          "DCSREAS": REASON}],
    )  # fmt: skip


def test_dates_are_numeric_sas_dates_in_the_transport_file_and_iso_8601_text_in_the_csv(tmp_path: Path) -> None:
    """ADaMIG 1.3 section 3.1.4: *DT variables are numeric dates, formatted to be human-readable (DATE9.). The CSV
    keeps ISO 8601 text; both readers give the same days back from the transport file."""
    write_datasets([analysis_dates()], tmp_path, stamped_at=MOMENT)
    assert [row["TRTSDT"] for row in read_csv(tmp_path / "adsl.csv")] == ["2024-03-11", "1960-01-01", "2024-02-29"]
    assert [row["DTHDT"] for row in read_csv(tmp_path / "adsl.csv")] == ["", "1959-12-31", "2099-12-31"]
    raw, meta = pyreadstat.read_xport(str(tmp_path / "adsl.xpt"), disable_datetime_conversion=True)
    # 2024-03-11: 64 years after 1960-01-01 (16 leap days among them), then January, 29 February days and 10 more
    assert list(raw["TRTSDT"]) == [float(64 * 365 + 16 + 31 + 29 + 10), 0.0, float(64 * 365 + 16 + 31 + 28)]
    assert list(raw["DTHDT"])[1:] == [-1.0, float((dt.date(2099, 12, 31) - SAS_DAY_ZERO).days)]
    assert meta.variable_storage_width["TRTSDT"] == 8
    assert_transport_equals_csv(tmp_path / "adsl.xpt", tmp_path / "adsl.csv", analysis_dates())


@pytest.mark.parametrize("value", ["2024-03", "2024", "2024-02-30", "20240311", "2024-03-11T10:00Z", 20240311])
def test_a_date_variable_takes_only_a_complete_iso_8601_date(tmp_path: Path, value: Value) -> None:
    """A SAS date holds a whole day: a partial date is imputed (with a *DTF flag) or left missing by the builder,
    never by the writer; a time or a number is not a date."""
    with pytest.raises(TransportLimitError) as refused:
        write_datasets([_with_value(analysis_dates(), "TRTSDT", value)], tmp_path / "out")
    assert (refused.value.table, refused.value.field) == ("ADSL", "TRTSDT")
    assert "complete ISO 8601 date" in refused.value.rule and "*DTF" in refused.value.rule
    assert not (tmp_path / "out").exists()


def test_define_xml_describes_dates_as_sas_dates_with_the_date9_format(
    tmp_path: Path, define_schema: etree.XMLSchema
) -> None:
    """Define-XML 2.1: what the transport file holds, an integer (days) with def:DisplayFormat DATE9.; one shared
    comment says the CSV holds the same dates as ISO 8601 text."""
    document = etree.parse(str(write_define_for([analysis_dates()], tmp_path, standard="ADaMIG 1.3")))
    assert define_schema.validate(document), define_schema.error_log
    assert_references_resolve(document)
    comments = set()
    for name in ("TRTSDT", "DTHDT"):
        (item,) = document.xpath(f"//odm:ItemDef[@OID='IT.ADSL.{name}']", namespaces=NS)
        assert (item.get("DataType"), item.get(f"{{{NS['def']}}}DisplayFormat")) == ("integer", "DATE9.")
        comments.add(item.get(f"{{{NS['def']}}}CommentOID"))
    assert document.xpath("//odm:ItemDef[@OID='IT.ADSL.DTHDT']/@Length", namespaces=NS) == ["5"]  # 1959-12-31: -1
    (comment,) = comments
    text = document.xpath(f"string(//def:CommentDef[@OID='{comment}'])", namespaces=NS)
    assert "ISO 8601" in text and "CSV" in text and "DATE9." in text
    (reason,) = document.xpath("//odm:ItemDef[@OID='IT.ADSL.DCSREAS']", namespaces=NS)
    assert reason.get("DataType") == "text" and reason.get(f"{{{NS['def']}}}DisplayFormat") is None


def _value_level_items(document: Any, value_list: str) -> list[tuple[str, str | None, str]]:
    """(origin type, method text, description) of each value-level ItemDef of a ValueListDef, in order."""
    described = []
    for ref in document.xpath(f"//def:ValueListDef[@OID='{value_list}']/odm:ItemRef", namespaces=NS):
        (item,) = document.xpath(f"//odm:ItemDef[@OID='{ref.get('ItemOID')}']", namespaces=NS)
        (origin,) = item.xpath("def:Origin/@Type", namespaces=NS)
        method = ref.get("MethodOID")
        text = None
        if method is not None:
            (definition,) = document.xpath(f"//odm:MethodDef[@OID='{method}']", namespaces=NS)
            text = definition.xpath("string(odm:Description/odm:TranslatedText)", namespaces=NS)
        described.append((origin, text, item.xpath("string(odm:Description)", namespaces=NS).strip()))
    return described


def test_a_value_level_entry_carries_its_own_origin_and_method(
    tmp_path: Path, define_schema: etree.XMLSchema
) -> None:
    """A grade derived by the system among grades the investigator gave: the value-level ItemDef says Derived,
    and its ItemRef in the ValueListDef points at a MethodDef of its own; the collected entry has none."""
    ae = adverse_events()
    ae.value_level = [
        ValueLevel("AETOXGR", f"AEDECOD IN ('{CRS}', '{ICANS}')", "ASTCT 2019 grade", Origin.DERIVED,
                   "The highest ASTCT 2019 grade of the episode's assessments (astct2019.episode_maximum v1)"),
        ValueLevel("AETOXGR", f"AEDECOD NOTIN ('{CRS}', '{ICANS}')", "CTCAE v5.0 grade", Origin.COLLECTED),
    ]  # fmt: skip
    document = etree.parse(str(write_define_for([ae], tmp_path)))
    assert define_schema.validate(document), define_schema.error_log
    assert_references_resolve(document)
    assert _value_level_items(document, "VL.AE.AETOXGR") == [
        ("Derived", "The highest ASTCT 2019 grade of the episode's assessments (astct2019.episode_maximum v1)",
         "ASTCT 2019 grade"),
        ("Collected", None, "CTCAE v5.0 grade"),
    ]  # fmt: skip
    # the variable itself keeps its own origin
    assert document.xpath("//odm:ItemDef[@OID='IT.AE.AETOXGR']/def:Origin/@Type", namespaces=NS) == ["Collected"]


def test_an_expected_variable_without_values_carries_a_comment_saying_why(tmp_path: Path) -> None:
    """SDTMIG 3.4 section 4.1.5: an Expected variable is present even when empty; define.xml says why: the
    variable's own reason when it gives one, else that no record has a value. A filled one needs no comment."""
    lab = lab_results()
    lab.variables += [
        v("LBNRIND", "Reference Range Indicator", core=Core.EXPECTED),
        v("LBLOBXFL", "Last Observation Before Exposure Flag", core=Core.EXPECTED,
          comment="Not collected on the JK500 laboratory form."),
    ]  # fmt: skip
    for row in lab.rows:
        row.update(LBNRIND=None, LBLOBXFL=None)
    document = etree.parse(str(write_define_for([lab], tmp_path)))
    assert_references_resolve(document)

    def comment(name: str) -> str | None:
        (item,) = document.xpath(f"//odm:ItemDef[@OID='IT.LB.{name}']", namespaces=NS)
        oid = item.get(f"{{{NS['def']}}}CommentOID")
        return None if oid is None else document.xpath(f"string(//def:CommentDef[@OID='{oid}'])", namespaces=NS)

    assert comment("LBLOBXFL") is not None and "Not collected on the JK500 laboratory form." in str(comment("LBLOBXFL"))
    assert "No record of this dataset has a value" in str(comment("LBNRIND"))
    assert comment("LBORRES") is None  # Expected, with values


# --- on the export study (SQLite and PostgreSQL) -------------------------------------------------------------------


def test_the_snapshot_moment_is_the_newest_included_audit_event(study: Session, tmp_path: Path) -> None:
    """The transport headers and CreationDateTime carry the moment the data stand for, not the export's clock."""
    live = ExportContext(study, open_snapshot(study), tmp_path)
    newest = study.scalar(sa.select(AuditEvent.occurred_at).order_by(AuditEvent.id.desc()).limit(1))
    assert newest is not None
    assert snapshot_moment(live) == dt.datetime.fromisoformat(newest)
    assert snapshot_moment(live).tzinfo is not None
    as_of_now = ExportContext(study, open_snapshot(study, dt.datetime.now(dt.UTC)), tmp_path)
    assert snapshot_moment(as_of_now) == snapshot_moment(live)
    before_any_data = dt.datetime(2001, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert snapshot_moment(ExportContext(study, open_snapshot(study, before_any_data), tmp_path)) == FIXED_MOMENT


@dataclass
class Written:
    """A standard's datasets as built from the export study, the files written from them and define.xml."""

    datasets: list[Dataset]
    paths: dict[str, Path]
    document: Any
    moment: dt.datetime


def _write_standard(context: ExportContext, datasets: list[Dataset], standard: str, folder: Path) -> Written:
    moment = snapshot_moment(context)
    paths = {path.name: path for path in write_datasets(datasets, folder, stamped_at=moment)}
    define = write_define(
        datasets, folder, study_name="JK500", protocol_name="JK500-01", description="JK500 NK cells", created=moment,
        standard=standard,
    )  # fmt: skip
    return Written(datasets, paths, etree.parse(str(define)), moment)


@pytest.fixture(scope="module")
def exported(study_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Written]]:
    """SDTM and ADaM of the export study written once per engine, for the read-only tests below."""
    engine = create_engine(study_url)
    folder = tmp_path_factory.mktemp("cdisc")
    try:
        with Session(engine) as session:
            context = ExportContext(session, open_snapshot(session), folder)
            yield {
                "SDTM": _write_standard(context, build_sdtm(context), "SDTMIG 3.4", folder / "sdtm"),
                "ADaM": _write_standard(context, build_adam(context), "ADaMIG 1.3", folder / "adam"),
            }
            session.rollback()
    finally:
        engine.dispose()


@pytest.mark.parametrize("standard", ["SDTM", "ADaM"])
def test_the_real_datasets_of_the_study_write_read_back_and_validate(
    exported: dict[str, Written], define_schema: etree.XMLSchema, standard: str
) -> None:
    """SDTMIG 3.4 and ADaMIG 1.3 datasets as SAS transport v5 + CSV + Define-XML 2.1, end to end on the export
    study: both readers give every file back equal to its CSV (ADaM's dates as SAS dates)."""
    written = exported[standard]
    document = written.document
    assert define_schema.validate(document), define_schema.error_log
    assert_references_resolve(document)
    datasets = [dataset for dataset in prepare(written.datasets).datasets if dataset.rows]
    expected = {"AE", "DM", "EX", "LB", "TS", "SUPPAE"} if standard == "SDTM" else {"ADSL", "ADAE"}
    assert expected <= {dataset.name for dataset in datasets}
    for dataset in datasets:
        xpt, csv_path = written.paths[f"{dataset.name.lower()}.xpt"], written.paths[f"{dataset.name.lower()}.csv"]
        assert_transport_equals_csv(xpt, csv_path, dataset)
        _, meta = pyreadstat.read_xport(str(xpt), metadataonly=True)
        assert meta.creation_time == written.moment.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)
    hrefs = document.xpath("//def:leaf/@xlink:href", namespaces={**NS, "xlink": "http://www.w3.org/1999/xlink"})
    assert sorted(hrefs) == sorted(name for name in written.paths if name.endswith(".xpt"))


def test_adam_dates_are_sas_dates_in_define_xml_and_iso_8601_in_the_csv(exported: dict[str, Written]) -> None:
    """Every ADaM *DT variable (ADaMIG 1.3 section 3.1.4) is a date: integer with DATE9. in define.xml, a complete
    ISO 8601 date in the CSV; every date variable's name ends in DT."""
    written = exported["ADaM"]
    checked = 0
    for dataset in written.datasets:
        dates = [variable.name for variable in dataset.variables if variable.data_type is DataType.DATE]
        assert dates == [variable.name for variable in dataset.variables if variable.name.endswith("DT")]
        for row in read_csv(written.paths[f"{dataset.name.lower()}.csv"]):
            for name in dates:
                assert row[name] == "" or dt.date.fromisoformat(row[name]).isoformat() == row[name]
                checked += row[name] != ""
        for name in dates:
            (item,) = written.document.xpath(f"//odm:ItemDef[@OID='IT.{dataset.name}.{name}']", namespaces=NS)
            assert (item.get("DataType"), item.get(f"{{{NS['def']}}}DisplayFormat")) == ("integer", "DATE9.")
    assert checked > 100


def test_define_gives_astct_grades_the_derived_origin_and_ctcae_grades_the_collected_one(
    exported: dict[str, Written],
) -> None:
    """The ASTCT 2019 grades of CRS and ICANS episodes are computed by the system (jk500db.clinical.astct, episode
    maximum stored with its rule): Derived, with a method naming the rule and its version. Every other AE grade is
    the investigator's CTCAE grade from the AE form: Collected. A derived SUPPAE qualifier has its method too."""
    document = exported["SDTM"].document
    crs, icans, ctcae = _value_level_items(document, "VL.AE.AETOXGR")
    episode = f"{EPISODE_RULE} v{astct.RULE_VERSION}"
    assert crs[0] == icans[0] == "Derived"
    assert crs[1] is not None and episode in crs[1] and f"{astct.CRS_RULE_ID} v{astct.RULE_VERSION}" in crs[1]
    assert icans[1] is not None and episode in icans[1] and f"{astct.ICANS_RULE_ID} v{astct.RULE_VERSION}" in icans[1]
    assert ctcae[:2] == ("Collected", None) and "CTCAE v5.0" in ctcae[2]
    where = document.xpath("//def:WhereClauseDef[@OID='WC.AE.AETOXGR.CRS']/odm:RangeCheck", namespaces=NS)
    assert [(w.get(f"{{{NS['def']}}}ItemOID"), w.xpath("string(odm:CheckValue)", namespaces=NS)) for w in where] == [
        ("IT.AE.AECAT", "CRS")
    ]
    qualifiers = dict(
        zip(
            document.xpath("//def:ValueListDef[@OID='VL.SUPPAE.QVAL']/odm:ItemRef/@ItemOID", namespaces=NS),
            _value_level_items(document, "VL.SUPPAE.QVAL"),
            strict=True,
        )
    )
    candidate = qualifiers["IT.SUPPAE.QVAL.AEDLTCAN"]
    assert candidate[0] == "Derived" and candidate[1] is not None and DLT_RULE in candidate[1]
    assert qualifiers["IT.SUPPAE.QVAL.AEDLT"][:2] == ("Collected", None)


def test_every_expected_variable_that_no_record_fills_says_why_in_define(exported: dict[str, Written]) -> None:
    """SDTMIG 3.4 section 4.1.5: Expected variables stay present when empty (DM.RACE is not collected); each such
    variable of the study has a def:CommentDef giving its own reason, not merely that it is empty."""
    written = exported["SDTM"]
    document = written.document
    empty = [
        (dataset.name, variable.name)
        for dataset in prepare(written.datasets).datasets
        if dataset.rows
        for variable in dataset.variables
        if variable.core is Core.EXPECTED and all(row[variable.name] is None for row in dataset.rows)
    ]
    assert ("DM", "RACE") in empty and len(empty) >= 10
    reasons = {}
    for name, variable in empty:
        (item,) = document.xpath(f"//odm:ItemDef[@OID='IT.{name}.{variable}']", namespaces=NS)
        oid = item.get(f"{{{NS['def']}}}CommentOID")
        assert oid is not None, f"{name}.{variable} is empty without a comment"
        (comment,) = document.xpath(f"//def:CommentDef[@OID='{oid}']", namespaces=NS)
        reasons[(name, variable)] = comment.xpath("string(odm:Description/odm:TranslatedText)", namespaces=NS)
        assert reasons[(name, variable)] and reasons[(name, variable)] != EMPTY_EXPECTED, (name, variable)
    assert reasons[("DM", "RACE")].startswith("Not collected")


def test_a_codelist_with_nothing_to_list_is_left_out_with_its_references(tmp_path: Path) -> None:
    """No planned values and no data (e.g. an evaluator nobody recorded): no empty CodeList, no dangling ref."""
    ae = adverse_events()
    ae.variables.append(v("AEEVAL", "Evaluator", codelist="EVAL"))
    document = etree.parse(str(write_define_for([ae], tmp_path)))
    assert not document.xpath("//odm:CodeList[@Name='EVAL']", namespaces=NS)
    assert not document.xpath("//odm:ItemDef[@OID='IT.AE.AEEVAL']/odm:CodeListRef", namespaces=NS)
    assert_references_resolve(document)
