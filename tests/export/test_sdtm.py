"""SDTM (SDTMIG v3.4) datasets of the export study, on SQLite and PostgreSQL.

The core designations below are typed from the SDTMIG 3.4 domain specification tables (§5, §6, §7, §8.4), not
read from the builder, so a variable the builder forgets or mislabels fails here. Hand-checked values come from
seed_data/demo_cohort.toml (synthetic children):
01-001 girl born 2014-09-17, consent 2024-02-22, cyclophosphamide 2024-03-04 02:00 UTC, AML diagnosed "2023-05";
01-002 boy, cyclophosphamide 2024-04-15 02:00 UTC, consent 2024-04-06, AE 1 from 2024-04-20, CRS grade 2 (AE 2);
01-004 and 01-005 screen failures (EX3, EX1).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.db import create_engine
from jk500db.export.context import ExportContext
from jk500db.export.datasets import Core, Dataset, DataType, Origin, Value
from jk500db.export.sdtm import build_sdtm
from jk500db.export.sdtm.common import iso_datetime
from jk500db.export.sdtm.findings import LAB_TESTS
from jk500db.export.snapshot import AsOfSnapshot, LiveSnapshot, Row, open_snapshot
from jk500db.models import (
    AdverseEvent,
    EligibilityCriterion,
    Infusion,
    LabResult,
    ResponseAssessment,
    Subject,
    Visit,
)
from jk500db.models.vocabularies import MrdMethod

Rows = list[dict[str, Value]]
IDS = ("STUDYID", "DOMAIN", "USUBJID")
SUPP_REQUIRED = {"STUDYID", "RDOMAIN", "USUBJID", "QNAM", "QLABEL", "QVAL", "QORIG"}
SUPP_EXPECTED = {"IDVAR", "IDVARVAL", "QEVAL"}

#: SDTMIG 3.4 Required variables (never null) of every domain the issue names.
REQUIRED: dict[str, set[str]] = {
    "DM": {*IDS, "SUBJID", "SITEID", "SEX", "COUNTRY"},
    "SE": {*IDS, "SESEQ", "ETCD", "SESTDTC"},
    "SV": {*IDS, "VISITNUM"},
    "TA": {"STUDYID", "DOMAIN", "ARMCD", "ARM", "TAETORD", "ETCD", "EPOCH"},
    "TE": {"STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL"},
    "TV": {"STUDYID", "DOMAIN", "VISITNUM", "TVSTRL"},
    "TI": {"STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT"},
    "TS": {"STUDYID", "DOMAIN", "TSSEQ", "TSPARMCD", "TSPARM"},
    "IE": {*IDS, "IESEQ", "IETESTCD", "IETEST", "IECAT", "IEORRES", "IESTRESC"},
    "DS": {*IDS, "DSSEQ", "DSTERM", "DSDECOD"},
    "AE": {*IDS, "AESEQ", "AETERM", "AEDECOD"},
    "MH": {*IDS, "MHSEQ", "MHTERM"},
    "EX": {*IDS, "EXSEQ", "EXTRT"},
    "CM": {*IDS, "CMSEQ", "CMTRT"},
    "PR": {*IDS, "PRSEQ", "PRTRT"},
    "LB": {*IDS, "LBSEQ", "LBTESTCD", "LBTEST"},
    "VS": {*IDS, "VSSEQ", "VSTESTCD", "VSTEST"},
    "RS": {*IDS, "RSSEQ", "RSTESTCD", "RSTEST"},
    "CP": {*IDS, "CPSEQ", "CPTESTCD", "CPTEST"},
    "GF": {*IDS, "GFSEQ", "GFTESTCD", "GFTEST"},
}
#: SDTMIG 3.4 Expected variables (present, may be null).
EXPECTED: dict[str, set[str]] = {
    "DM": {"RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "DTHDTC", "DTHFL", "AGE", "AGEU",
           "RACE", "ARMCD", "ARM", "ACTARMCD", "ACTARM", "ARMNRS", "ACTARMUD"},
    "SE": {"SEENDTC"},
    "SV": {"SVPRESP", "SVOCCUR", "SVSTDTC", "SVENDTC"},
    "TA": {"TABRANCH", "TATRANS"},
    "TV": {"ARMCD"},
    "TS": {"TSVAL", "TSVALCD", "TSVCDREF", "TSVCDVER"},
    "DS": {"DSCAT", "DSSTDTC"},
    "AE": {"AELLT", "AELLTCD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD", "AEBODSYS", "AEBDSYCD", "AESOC",
           "AESOCCD", "AESER", "AEACN", "AEREL", "AESTDTC", "AEENDTC"},
    "EX": {"EXDOSE", "EXDOSU", "EXDOSFRM", "EXSTDTC", "EXENDTC"},
    "PR": {"PRSTDTC"},
    "LB": {"LBCAT", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI", "LBSTRESC", "LBSTRESN", "LBSTRESU", "LBSTNRLO",
           "LBSTNRHI", "LBNRIND", "LBLOBXFL", "LBDTC", "VISITNUM"},
    "VS": {"VSORRES", "VSORRESU", "VSSTRESC", "VSSTRESN", "VSSTRESU", "VSLOBXFL", "VSDTC", "VISITNUM"},
    "RS": {"RSCAT", "RSORRES", "RSSTRESC", "RSDTC", "VISITNUM"},
    "CP": {"CPMRKSTR", "CPORRES", "CPSTRESC", "CPDTC", "VISITNUM"},
    "GF": {"GFREFID", "GFORRES", "GFSTRESC", "GFMETHOD", "GFDTC", "VISITNUM"},
}  # fmt: skip
#: ISO 8601 extended format as SDTMIG 3.4 §4.4.1 writes it, right-truncated (§4.4.2).
ISO_8601 = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?)?)?)?\Z")
#: Codelists whose terms are not upper case by definition (units, dictionaries, test names in title case).
MIXED_CASE_CODELISTS = {"MedDRA", "UNIT", "VSRESU", "LBTEST", "VSTEST", "ONCRTS", "TSPARM", "DICTNAM"}


def build(session: Session, out: Path, *, identified: bool = False) -> dict[str, Dataset]:
    datasets = build_sdtm(ExportContext(session, open_snapshot(session), out, identified=identified))
    return {dataset.name: dataset for dataset in datasets}


@pytest.fixture(scope="module")
def sdtm(study_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Dataset]]:
    """The SDTM datasets of the export study, built once per engine for the read-only tests."""
    engine = create_engine(study_url)
    try:
        with Session(engine) as session:
            yield build(session, tmp_path_factory.mktemp("sdtm"))
            session.rollback()
    finally:
        engine.dispose()


def rows_of(sdtm: dict[str, Dataset], name: str, subject_number: str | None = None) -> Rows:
    rows = sdtm[name].rows
    return rows if subject_number is None else [r for r in rows if str(r["USUBJID"]).endswith(f"-{subject_number}")]


def one(rows: Rows) -> dict[str, Value]:
    assert len(rows) == 1, rows
    return rows[0]


def live_count(session: Session, model: type, *conditions: sa.ColumnElement[bool]) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(model)
        .join(Subject, Subject.id == model.subject_id)  # type: ignore[attr-defined]
        .where(model.removed_at.is_(None), Subject.removed_at.is_(None), *conditions)  # type: ignore[attr-defined]
    )
    return int(session.scalar(query) or 0)


# ------------------------------------------------------------------------------------------- structure


def test_every_domain_of_issue_6_is_built(sdtm: dict[str, Dataset]) -> None:
    """DM, SV, SE, IE with TI, TS, TA, TE, TV, EX+SUPPEX, AE+SUPPAE, LB, VS, RS, DS, MH, CM, PR, CP, GF."""
    wanted = {"DM", "SV", "SE", "IE", "TI", "TS", "TA", "TE", "TV", "EX", "SUPPEX", "AE", "SUPPAE", "LB", "VS", "RS",
              "DS", "MH", "CM", "PR", "CP", "GF"}  # fmt: skip
    assert wanted <= set(sdtm)
    for name in wanted - {"GF"}:  # the study has no molecular MRD (see the removal test for GF)
        assert sdtm[name].rows, f"{name} has no records"


@pytest.mark.parametrize("domain", sorted(REQUIRED))
def test_required_variables_are_present_and_never_null(sdtm: dict[str, Dataset], domain: str) -> None:
    """SDTMIG 3.4 §4.1.5: a Required variable is always in the dataset and never null; the metadata says Req."""
    dataset = sdtm[domain]
    names = [variable.name for variable in dataset.variables]
    for name in REQUIRED[domain]:
        assert name in names, f"{domain}.{name} (Req) is missing"
        assert dataset.variable(name).core is Core.REQUIRED, f"{domain}.{name} should be Req"
        nulls = [row for row in dataset.rows if row[name] is None or row[name] == ""]
        assert not nulls, f"{domain}.{name} (Req) is null in {len(nulls)} records, e.g. {nulls[0]}"


@pytest.mark.parametrize("domain", sorted(EXPECTED))
def test_expected_variables_are_present(sdtm: dict[str, Dataset], domain: str) -> None:
    """SDTMIG 3.4 §4.1.5: an Expected variable is in the dataset even when the study has no value for it."""
    dataset = sdtm[domain]
    names = {variable.name for variable in dataset.variables}
    for name in EXPECTED[domain]:
        assert name in names, f"{domain}.{name} (Exp) is missing"
        assert dataset.variable(name).core is Core.EXPECTED, f"{domain}.{name} should be Exp"


def test_supplemental_qualifiers_have_the_suppqual_structure_and_point_at_parent_records(
    sdtm: dict[str, Dataset],
) -> None:
    """SDTMIG 3.4 §8.4.1: Req STUDYID, RDOMAIN, USUBJID, QNAM, QLABEL, QVAL, QORIG; IDVAR/IDVARVAL name the parent's
    --SEQ, which exists; QNAM and QLABEL fit a variable name and label; QVAL fits a transport value."""
    supps = [dataset for name, dataset in sdtm.items() if name.startswith("SUPP")]
    assert {"SUPPAE", "SUPPEX"} <= {dataset.name for dataset in supps}
    for supp in supps:
        parent = sdtm[supp.name[4:]]
        seqs = {(row["USUBJID"], str(row[f"{parent.name}SEQ"])) for row in parent.rows}
        names = {variable.name for variable in supp.variables}
        assert names >= SUPP_REQUIRED | SUPP_EXPECTED
        for row in supp.rows:
            assert all(row[name] not in (None, "") for name in SUPP_REQUIRED), row
            assert row["IDVAR"] == f"{parent.name}SEQ" and (row["USUBJID"], row["IDVARVAL"]) in seqs, row
            assert re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", str(row["QNAM"])) and len(str(row["QLABEL"])) <= 40
            assert len(str(row["QVAL"])) <= 200
        assert len({(r["USUBJID"], r["IDVARVAL"], r["QNAM"]) for r in supp.rows}) == len(supp.rows)


def test_metadata_fits_the_transport_format_and_define_xml(sdtm: dict[str, Dataset]) -> None:
    """SAS transport v5 names (8 upper-case characters) and labels (40); Define-XML 2.1 needs a method for every
    derived variable; every value of a variable that lists its codelist is one of the listed terms; the keys
    identify each record."""
    for dataset in sdtm.values():
        assert re.fullmatch(r"[A-Z][A-Z0-9]{1,7}", dataset.name) and len(dataset.label) <= 40
        assert len({variable.name for variable in dataset.variables}) == len(dataset.variables)
        for variable in dataset.variables:
            assert re.fullmatch(r"[A-Z][A-Z0-9_]{0,7}", variable.name), variable.name
            assert len(variable.label) <= 40 and variable.label.isascii(), variable
            if variable.origin is Origin.DERIVED:
                assert variable.derivation, f"{dataset.name}.{variable.name} is derived without a method"
            if variable.codelist_values:
                outside = {row[variable.name] for row in dataset.rows} - {None, *variable.codelist_values}
                assert not outside, f"{dataset.name}.{variable.name}: {outside} not in its codelist"
        for row in dataset.rows:
            assert list(row) == [variable.name for variable in dataset.variables]
        keys = [tuple(row[key] for key in dataset.keys) for row in dataset.rows]
        assert len(set(keys)) == len(keys), f"{dataset.name} keys {dataset.keys} do not identify its records"


def test_the_transport_writer_accepts_every_domain(sdtm: dict[str, Dataset]) -> None:
    """The shared XPT writer's own check of the SAS v5 limits and codelists refuses nothing (it raises if it
    would)."""
    from jk500db.export.xpt import prepare

    prepared = prepare(list(sdtm.values()))
    assert {dataset.name for dataset in prepared.datasets} >= set(sdtm)


# ------------------------------------------------------------------------------------------- dates and days


def test_iso_8601_dates_and_partial_dates_kept_partial(sdtm: dict[str, Dataset]) -> None:
    """SDTMIG 3.4 §4.4.1-4.4.2: every --DTC is ISO 8601 extended format; a date known to the month is written
    "2023-05", never imputed, and has neither study day nor EPOCH (§4.1.3.1)."""
    for dataset in sdtm.values():
        for variable in dataset.variables:
            if variable.data_type is DataType.DATETIME:
                bad = [row[variable.name] for row in dataset.rows
                       if row[variable.name] is not None and not ISO_8601.match(str(row[variable.name]))]  # fmt: skip
                assert not bad, f"{dataset.name}.{variable.name}: {bad[:3]}"
    diagnosis = one([r for r in rows_of(sdtm, "MH", "01-001") if r["MHCAT"] == "PRIMARY DIAGNOSIS"])
    assert diagnosis["MHSTDTC"] == "2023-05"
    prior = {r["CMSPID"]: r for r in rows_of(sdtm, "CM", "01-001") if r["CMCAT"] == "PRIOR ANTI-LEUKEMIA THERAPY"}
    first, second = prior["1"], prior["2"]
    assert (first["CMSTDTC"], first["CMENDTC"], first["CMSTDY"], first["EPOCH"]) == ("2023-05", "2023-06", None, None)
    # a complete date before consent has a study day but no epoch: it precedes participation (§4.1.3.1)
    assert (second["CMSTDTC"], second["CMENDTC"], second["EPOCH"]) == ("2023-07-10", "2023-08-02", None)
    assert second["CMSTDY"] == (dt.date(2023, 7, 10) - dt.date(2024, 3, 4)).days


def test_no_study_day_is_zero(sdtm: dict[str, Dataset]) -> None:
    """SDTMIG 3.4 §4.4.4: there is no study day 0."""
    checked = 0
    for dataset in sdtm.values():
        for variable in dataset.variables:
            if variable.data_type is DataType.INTEGER and variable.name.endswith("DY"):
                values = [row[variable.name] for row in dataset.rows if row[variable.name] is not None]
                assert 0 not in values, f"{dataset.name}.{variable.name} has a day 0"
                checked += len(values)
    assert checked > 1000


def test_study_days_match_a_hand_computed_example(sdtm: dict[str, Dataset]) -> None:
    """SDTMIG 3.4 §4.4.4 on 01-002, RFSTDTC 2024-04-15: AE 1 from 2024-04-20 is day 20 - 15 + 1 = 6; consent on
    2024-04-06 is day 6 - 15 = -9 (no day 0 between them); the first dose itself is day 1."""
    dm = one(rows_of(sdtm, "DM", "01-002"))
    assert dm["RFSTDTC"] == dm["RFXSTDTC"] == "2024-04-15T02:00Z"
    ae = one([r for r in rows_of(sdtm, "AE", "01-002") if r["AESPID"] == "1"])
    assert (ae["AESTDTC"], ae["AESTDY"]) == ("2024-04-20", 6)
    consent = one([r for r in rows_of(sdtm, "DS", "01-002") if r["DSDECOD"] == "INFORMED CONSENT OBTAINED"])
    assert (consent["DSSTDTC"], consent["DSSTDY"]) == ("2024-04-06", -9)
    cyclophosphamide = one([r for r in rows_of(sdtm, "EX", "01-002") if r["EXTRT"] == "CYCLOPHOSPHAMIDE"])
    assert (cyclophosphamide["EXSTDTC"], cyclophosphamide["EXSTDY"]) == ("2024-04-15T02:00Z", 1)


def test_study_days_agree_with_the_study_day_the_database_derives_for_visits(
    sdtm: dict[str, Dataset], study: Session
) -> None:
    """SV.SVSTDY and the derived visit.study_day (jk500db.derivations.visits) count from the same reference."""
    usubjids = {row["SUBJID"]: row["USUBJID"] for row in sdtm["DM"].rows}
    database = Counter(
        (usubjids[number], on.isoformat(), day)
        for number, on, day in study.execute(
            sa.select(Subject.subject_number, Visit.visit_date, Visit.study_day)
            .join(Subject, Subject.id == Visit.subject_id)
            .where(Visit.removed_at.is_(None), Visit.visit_date.is_not(None), Visit.status == "completed")
        )
    )
    exported = Counter((r["USUBJID"], r["SVSTDTC"], r["SVSTDY"]) for r in sdtm["SV"].rows if r["SVSTDTC"])
    assert exported == database
    assert any(day is not None and day < 0 for _, _, day in exported)


def test_reference_start_is_the_first_cyclophosphamide_dose(sdtm: dict[str, Dataset]) -> None:
    """DM.RFSTDTC = RFXSTDTC = the earliest EXSTDTC, the first cyclophosphamide dose (SDTMIG 3.4 §5.2)."""
    first = {}
    for row in sdtm["EX"].rows:
        if row["EXTRT"] == "CYCLOPHOSPHAMIDE":
            first[row["USUBJID"]] = min(first.get(row["USUBJID"], "9"), str(row["EXSTDTC"]))
    treated = [row for row in sdtm["DM"].rows if row["RFSTDTC"] is not None]
    assert len(treated) == len(first) > 12
    for row in treated:
        earliest = min(str(r["EXSTDTC"]) for r in rows_of(sdtm, "EX") if r["USUBJID"] == row["USUBJID"])
        assert row["RFSTDTC"] == row["RFXSTDTC"] == first[row["USUBJID"]] == earliest


def test_epoch_comes_from_the_subject_elements(sdtm: dict[str, Dataset]) -> None:
    """SDTMIG 3.4 §4.1.3.1 and §5.3: 01-001's neutrophils at 00:30 on the day of the first dose (02:00) are study
    day 1 (dates) but in the SCREENING epoch (times), and the last value before exposure (LBLOBXFL); SE's
    elements follow one another without gaps and EPOCH values are TA's."""
    neut = [r for r in rows_of(sdtm, "LB", "01-001") if r["LBTESTCD"] == "NEUT" and r["LBDTC"] == "2024-03-04T00:30Z"]
    assert (one(neut)["LBDY"], one(neut)["EPOCH"], one(neut)["LBLOBXFL"]) == (1, "SCREENING", "Y")
    elements = sorted(rows_of(sdtm, "SE", "01-001"), key=lambda r: int(str(r["SESEQ"])))
    assert [r["ETCD"] for r in elements] == ["SCRN", "LD", "JK500", "FU"]
    assert elements[0]["SESTDTC"] == one(rows_of(sdtm, "DM", "01-001"))["RFICDTC"]
    assert all(a["SEENDTC"] == b["SESTDTC"] for a, b in itertools.pairwise(elements))
    epochs = {row["EPOCH"] for row in sdtm["TA"].rows}
    for dataset in sdtm.values():
        if "EPOCH" in {v.name for v in dataset.variables} and dataset.name != "TA":
            assert {row["EPOCH"] for row in dataset.rows} <= {None, *epochs}, dataset.name


# ------------------------------------------------------------------------------------------- --SEQ


def test_seq_is_unique_within_each_subject(sdtm: dict[str, Dataset]) -> None:
    """SDTMIG 3.4 §4.1.7: --SEQ is unique within USUBJID, numbered 1, 2, ... in record order."""
    for name, dataset in sdtm.items():
        sequence = f"{name}SEQ"
        if not {sequence, "USUBJID"} <= {variable.name for variable in dataset.variables}:
            continue  # TS numbers its values within each parameter
        numbers: dict[Value, list[int]] = {}
        for row in dataset.rows:
            numbers.setdefault(row["USUBJID"], []).append(int(str(row[sequence])))
        for usubjid, seqs in numbers.items():
            assert seqs == list(range(1, len(seqs) + 1)), (name, usubjid)


class _ReversedSnapshot:
    """The live rows in reverse key order: as if the database had numbered every record the other way round."""

    def __init__(self, session: Session) -> None:
        self.live = LiveSnapshot(session)
        self.audit_position, self.audit_head_hash, self.as_of = 0, None, None

    def rows(self, table: str) -> Iterator[Row]:
        return reversed(list(self.live.rows(table)))


def test_seq_is_the_same_on_every_export_whatever_the_database_ids(study: Session, tmp_path: Path) -> None:
    """--SEQ (and so every SUPP-- link) depends on the data, not on database ids or the order rows come back in:
    two builds agree, a build from the audit trail agrees, and a build reading every table backwards agrees."""
    first = build(study, tmp_path)
    assert build(study, tmp_path) == first
    as_of = AsOfSnapshot(study, dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    rebuilt = {d.name: d.rows for d in build_sdtm(ExportContext(study, as_of, tmp_path))}
    # an export as of a moment names its data cut-off (TS DCUTDTC); everything else is the same
    rebuilt["TS"] = [row for row in rebuilt["TS"] if row["TSPARMCD"] != "DCUTDTC"]
    assert rebuilt == {name: d.rows for name, d in first.items()}
    backwards = build_sdtm(ExportContext(study, _ReversedSnapshot(study), tmp_path))
    assert {d.name: d.rows for d in backwards} == {name: d.rows for name, d in first.items()}


HASH_SEED_SCRIPT = """
import hashlib, sys
from pathlib import Path
from sqlalchemy.orm import Session
from jk500db.db import create_engine
from jk500db.export.context import ExportContext
from jk500db.export.sdtm import build_sdtm
from jk500db.export.snapshot import open_snapshot
engine = create_engine(sys.argv[1])
with Session(engine) as session:
    datasets = build_sdtm(ExportContext(session, open_snapshot(session), Path(sys.argv[2])))
print(hashlib.sha256(repr(datasets).encode()).hexdigest())
"""


def test_datasets_do_not_depend_on_the_hash_seed(study_url: str, tmp_path: Path) -> None:
    """Reproducible exports: metadata (codelist terms, QNAMs) and records come out in the same order whatever
    order Python iterates sets in (PYTHONHASHSEED), so define.xml and the files are byte-identical."""
    digests = set()
    for seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", HASH_SEED_SCRIPT, study_url, str(tmp_path)],
            capture_output=True, text=True, check=True, env=environment, timeout=600,
        )  # fmt: skip
        digests.add(done.stdout.strip())
    assert len(digests) == 1


# ------------------------------------------------------------------------------------------- counts


def test_counts_reconcile_with_the_database(sdtm: dict[str, Dataset], study: Session) -> None:
    """Subjects (DM), adverse events (AE), JK500 infusions (EX, one record each with its lot), doses given,
    laboratory results plus marrow blasts (LB), and screen failures (DM.ARMNRS and IE) match the database."""
    assert len(sdtm["DM"].rows) == study.scalar(sa.select(sa.func.count()).where(Subject.removed_at.is_(None)))
    assert len(sdtm["AE"].rows) == live_count(study, AdverseEvent)
    infusions = [r for r in sdtm["EX"].rows if r["EXTRT"] == "JK500 CELL INJECTION"]
    assert len(infusions) == live_count(study, Infusion)
    lots = study.scalars(sa.select(Infusion.product_lot).where(Infusion.removed_at.is_(None)))
    assert Counter(r["EXLOT"] for r in infusions) == Counter(lots)
    marrow = live_count(study, ResponseAssessment, ResponseAssessment.bm_blast_pct.is_not(None))
    assert len(sdtm["LB"].rows) == live_count(study, LabResult) + marrow
    assert sum(1 for r in sdtm["LB"].rows if r["LBSPEC"] == "BONE MARROW") == marrow
    failed = set(study.scalars(sa.select(Subject.subject_number).where(Subject.status == "screen_failed")))
    assert {r["SUBJID"] for r in sdtm["DM"].rows if r["ARMNRS"] == "SCREEN FAILURE"} == failed
    assert {"01-004", "01-005"} <= failed
    in_ie = {str(r["USUBJID"])[-6:] for r in sdtm["IE"].rows}
    assert failed <= in_ie
    not_met = study.scalar(
        sa.select(sa.func.count()).select_from(EligibilityCriterion).where(
            EligibilityCriterion.removed_at.is_(None),
            sa.func.coalesce(EligibilityCriterion.investigator_status, EligibilityCriterion.status) == "fail",
        )
    )  # fmt: skip
    assert len(sdtm["IE"].rows) == not_met


def test_screen_failures_have_no_arm_and_their_criteria_not_met(sdtm: dict[str, Dataset]) -> None:
    """SDTMIG 3.4 §5.2 (ARMNRS) and §6.3.4 (IE holds the criteria not met): 01-004 HBsAg positive is EX3 = Y."""
    dm = one(rows_of(sdtm, "DM", "01-004"))
    assert (dm["ARMCD"], dm["ACTARMCD"], dm["ARMNRS"], dm["RFSTDTC"]) == (None, None, "SCREEN FAILURE", None)
    ie = one(rows_of(sdtm, "IE", "01-004"))
    assert (ie["IETESTCD"], ie["IECAT"], ie["IEORRES"], ie["IESTRESC"]) == ("EX3", "EXCLUSION", "Y", "Y")
    assert ie["IETEST"] == one([r for r in sdtm["TI"].rows if r["IETESTCD"] == "EX3"])["IETEST"]


# ------------------------------------------------------------------------------------------- de-identification


def test_deidentified_dm_has_no_birth_date_but_the_age_at_consent(sdtm: dict[str, Dataset], study: Session) -> None:
    """No birth date in a de-identified export; AGE is completed years at informed consent with AGEU YEARS:
    01-001, born 2014-09-17, consented 2024-02-22, is 9."""
    assert "BRTHDTC" not in {variable.name for variable in sdtm["DM"].variables}
    births = {b.isoformat() for b in study.scalars(sa.select(Subject.birth_date))}
    for row in sdtm["DM"].rows:
        assert not births & {str(v) for v in row.values()}
    dm = one(rows_of(sdtm, "DM", "01-001"))
    assert (dm["AGE"], dm["AGEU"], dm["RFICDTC"]) == (9, "YEARS", "2024-02-22")
    assert all(row["AGEU"] == "YEARS" and isinstance(row["AGE"], int) for row in sdtm["DM"].rows)


def test_identified_dm_carries_the_birth_date(study: Session, tmp_path: Path) -> None:
    """An identified export (admins only) adds BRTHDTC, ISO 8601."""
    dm = build(study, tmp_path, identified=True)["DM"]
    row = one([r for r in dm.rows if r["SUBJID"] == "01-001"])
    assert row["BRTHDTC"] == "2014-09-17" and row["AGE"] == 9


# ------------------------------------------------------------------------------------------- terminology


def test_controlled_terminology_values_are_upper_case(sdtm: dict[str, Dataset]) -> None:
    """SDTMIG 3.4 §4.3: CDISC codelist terms as the codelists spell them (SEX M/F, NY Y/N, EPOCH, ROUTE ...)."""
    checked = 0
    for dataset in sdtm.values():
        for variable in dataset.variables:
            if variable.codelist and variable.codelist not in MIXED_CASE_CODELISTS:
                for row in dataset.rows:
                    value = row[variable.name]
                    if isinstance(value, str):
                        assert value == value.upper(), f"{dataset.name}.{variable.name} = {value!r}"
                        checked += 1
    assert checked > 10_000
    assert {row["SEX"] for row in sdtm["DM"].rows} <= {"M", "F"}
    assert {row["AESER"] for row in sdtm["AE"].rows} == {"Y", "N"}
    assert {row["EXROUTE"] for row in sdtm["EX"].rows} == {"INTRAVENOUS", "SUBCUTANEOUS"}


# ------------------------------------------------------------------------------------------- domain content


def test_ae_codes_meddra_from_the_ctcae_term_list_and_grades_crs_and_icans_with_astct(
    sdtm: dict[str, Dataset], study: Session
) -> None:
    """AE (SDTMIG 3.4 §6.2.1): MedDRA code and SOC from the CTCAE term list; AETOXGR is the CTCAE grade, except
    CRS and ICANS episodes whose grade is the derived ASTCT 2019 one (value-level metadata says which), with the
    investigator's grade, causality to IL-2 and lymphodepletion and the DLT flags in SUPPAE."""
    crs = one([r for r in rows_of(sdtm, "AE", "01-002") if r["AESPID"] == "2"])
    assert (crs["AEDECOD"], crs["AEPTCD"], crs["AESOC"], crs["AECAT"], crs["AETOXGR"]) == (
        "Cytokine release syndrome", 10052015, "Immune system disorders", "CRS", "2",
    )  # fmt: skip
    icans = one([r for r in rows_of(sdtm, "AE", "01-002") if r["AESPID"] == "3"])
    assert icans["AECAT"] == "ICANS" and "ICANS" in str(icans["AETERM"])
    assert (icans["AEDECOD"], icans["AELLTCD"], icans["AESOCCD"]) == ("Nervous system disorders - Other, specify",
                                                                      None, 10029205)  # fmt: skip
    derived = dict(study.execute(
        sa.select(AdverseEvent.id, AdverseEvent.derived_grade).where(AdverseEvent.derived_grade_rule.like("astct%"))
    ).all())  # fmt: skip
    assert derived
    graded = [r for r in sdtm["AE"].rows if r["AECAT"] in ("CRS", "ICANS")]
    assert len(graded) == sum(1 for grade in derived.values() if grade)
    supp = {(r["USUBJID"], r["IDVARVAL"], r["QNAM"]): r["QVAL"] for r in sdtm["SUPPAE"].rows}
    for row in graded:
        assert (row["USUBJID"], str(row["AESEQ"]), "AEINVGR") in supp
    assert (crs["USUBJID"], str(crs["AESEQ"]), "AERELIL2") in supp
    assert {q for *_, q in supp} >= {"AERELIL2", "AERELLD", "AEDLTCAN"}
    levels = {level.where: level.description for level in sdtm["AE"].value_level if level.variable == "AETOXGR"}
    assert set(levels) == {"AECAT EQ 'CRS'", "AECAT EQ 'ICANS'", "AECAT NOTIN ('CRS', 'ICANS')"}
    assert "ASTCT" in levels["AECAT EQ 'CRS'"] and "CTCAE v5.0" in levels["AECAT NOTIN ('CRS', 'ICANS')"]
    # the ASTCT grades are the system's (derived, with the rule and version), the CTCAE ones the investigator's
    origins = {level.where: (level.origin, level.derivation) for level in sdtm["AE"].value_level}
    assert origins["AECAT NOTIN ('CRS', 'ICANS')"] == (Origin.COLLECTED, None)
    for where, rule in (("AECAT EQ 'CRS'", "astct2019.crs v1"), ("AECAT EQ 'ICANS'", "astct2019.icans v1")):
        origin, derivation = origins[where]
        assert origin is Origin.DERIVED and derivation and rule in derivation and "episode_maximum v1" in derivation
    serious = [r for r in sdtm["AE"].rows if r["AESER"] == "Y"]
    assert serious and all(any(r[c] == "Y" for c in ("AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE"))
                           for r in serious)  # fmt: skip


def test_exposure_doses_are_in_protocol_units_and_exact(sdtm: dict[str, Dataset], study: Session) -> None:
    """EX (SDTMIG 3.4 §6.1.3.1): cyclophosphamide mg/kg, fludarabine mg/m², IL-2 IU/m², JK500 cells/kg; 01-001's
    cyclophosphamide 1700 mg for 28.4 kg is 59.8592 mg/kg; the dose as given and the product viability are in
    SUPPEX exactly as entered (Decimal text, no float)."""
    ex = rows_of(sdtm, "EX", "01-001")
    units = {r["EXTRT"]: r["EXDOSU"] for r in ex}
    assert units == {"CYCLOPHOSPHAMIDE": "mg/kg", "FLUDARABINE": "mg/m2", "INTERLEUKIN-2": "IU/m2",
                     "JK500 CELL INJECTION": "cells/kg"}  # fmt: skip
    cyclophosphamide = one([r for r in ex if r["EXTRT"] == "CYCLOPHOSPHAMIDE"])
    assert cyclophosphamide["EXDOSE"] == Decimal("59.8592") and isinstance(cyclophosphamide["EXDOSE"], Decimal)
    supp = {(r["USUBJID"], r["IDVARVAL"], r["QNAM"]): r["QVAL"] for r in sdtm["SUPPEX"].rows}
    assert supp[(cyclophosphamide["USUBJID"], str(cyclophosphamide["EXSEQ"]), "EXACTDOS")] == "1700"
    viability = {
        (number, infusion): str(pct)
        for number, infusion, pct in study.execute(
            sa.select(Subject.subject_number, Infusion.infusion_number, Infusion.viability_pct)
            .join(Subject, Subject.id == Infusion.subject_id)
            .where(Infusion.removed_at.is_(None), Infusion.viability_pct.is_not(None))
        )
    }
    usubjids = {row["SUBJID"]: row["USUBJID"] for row in sdtm["DM"].rows}
    for (number, infusion), pct in viability.items():
        row = one([r for r in sdtm["EX"].rows if r["USUBJID"] == usubjids[number]
                   and r["EXTRT"] == "JK500 CELL INJECTION" and r["EXSPID"] == str(infusion)])  # fmt: skip
        assert supp[(row["USUBJID"], str(row["EXSEQ"]), "VIABPCT")] == pct


def test_labs_keep_reference_ranges_as_collected_and_the_derived_grade(
    sdtm: dict[str, Dataset], study: Session
) -> None:
    """LB (SDTMIG 3.4 §6.3.5.6): LBORNRLO/HI are the lab's own limits as printed, LBTOXGR the derived CTCAE grade,
    bone-marrow blasts have LBSPEC BONE MARROW."""
    usubjids = {row["SUBJID"]: row["USUBJID"] for row in sdtm["DM"].rows}
    exported = Counter(
        (r["USUBJID"], r["LBTESTCD"], r["LBDTC"], r["LBORNRLO"], r["LBORNRHI"], r["LBTOXGR"])
        for r in sdtm["LB"].rows if r["LBSPEC"] != "BONE MARROW"
    )  # fmt: skip
    database = Counter(
        (usubjids[number], LAB_TESTS[str(code)][0], iso_datetime(at), None if lln is None else format(lln, "f"),
         None if uln is None else format(uln, "f"), None if grade is None else str(grade))
        for number, code, at, lln, uln, grade in study.execute(
            sa.select(Subject.subject_number, LabResult.test_code, LabResult.collected_at, LabResult.lln,
                      LabResult.uln, LabResult.ctcae_grade)
            .join(Subject, Subject.id == LabResult.subject_id).where(LabResult.removed_at.is_(None))
        )
    )  # fmt: skip
    assert exported == database
    marrow = [r for r in sdtm["LB"].rows if r["LBTESTCD"] == "BLASTNCE"]
    assert marrow and {r["LBSPEC"] for r in marrow} == {"BONE MARROW"} and {r["LBORRESU"] for r in marrow} == {"%"}
    assert any(r["LBTOXGR"] not in (None, "0") for r in sdtm["LB"].rows)


def test_vital_signs_carry_bsa_as_derived(sdtm: dict[str, Dataset]) -> None:
    """VS (SDTMIG 3.4 §6.3.13): BSA records are flagged derived (VSDRVFL), in m2, and the value-level metadata
    says VSORRES is derived for them."""
    bsa = [r for r in sdtm["VS"].rows if r["VSTESTCD"] == "BSA"]
    assert bsa and {(r["VSDRVFL"], r["VSORRESU"]) for r in bsa} == {("Y", "m2")}
    assert all(r["VSDRVFL"] is None for r in sdtm["VS"].rows if r["VSTESTCD"] != "BSA")
    (bsa_level,) = [level for level in sdtm["VS"].value_level if level.where == "VSTESTCD EQ 'BSA'"]
    assert bsa_level.origin is Origin.DERIVED and bsa_level.derivation and "rule version 1" in bsa_level.derivation


def test_response_mrd_and_disposition(sdtm: dict[str, Dataset]) -> None:
    """RS holds the ELN 2022 overall response (derived, and the investigator's); flow MRD is CP; DS holds the
    consent milestones and each disposition: 01-003 died (DEATH) and DM has her death date."""
    rs = rows_of(sdtm, "RS", "01-001")
    assert rs and {r["RSTESTCD"] for r in rs} == {"OVRLRESP"} and {r["RSCAT"] for r in rs} == {"ELN 2022"}
    assert {r["RSSTRESC"] for r in rs if r["RSDRVFL"] == "Y"} == {"CR"}
    cp = rows_of(sdtm, "CP", "01-001")
    assert cp and {(r["CPMETHOD"], r["CPSPEC"], r["CPORRESU"]) for r in cp} == {("FLOW CYTOMETRY", "BONE MARROW", "%")}
    ds = rows_of(sdtm, "DS", "01-003")
    assert [r["DSDECOD"] for r in ds if r["DSCAT"] == "DISPOSITION EVENT"] == ["DEATH"]
    assert "INFORMED CONSENT OBTAINED" in {r["DSDECOD"] for r in ds}
    assert one(rows_of(sdtm, "DM", "01-003"))["DTHDTC"] == "2024-07-14"


def test_removed_records_are_left_out_and_molecular_mrd_goes_to_gf(study: Session, tmp_path: Path) -> None:
    """Removed records (removed_at set) are not exported, nor anything of a removed subject; a qPCR MRD result is
    a GF record (SDTMIG 3.4 §6.3.5.4). Written in the fixture's transaction, rolled back at the end."""
    removed_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    event = study.scalar(sa.select(AdverseEvent).join(Subject).where(Subject.subject_number == "01-002",
                                                                      AdverseEvent.ae_number == 1))  # fmt: skip
    gone = study.scalar(sa.select(Subject).where(Subject.subject_number == "01-006"))
    kept = study.scalar(sa.select(Subject).where(Subject.subject_number == "01-009"))
    assert event is not None and gone is not None and kept is not None
    for record in (event, gone):
        record.removed_at, record.removed_reason = removed_at, "entered in error"
    study.add(ResponseAssessment(subject_id=kept.id, assessed_on=dt.date(2025, 3, 20), mrd_method=MrdMethod.QPCR,
                                 mrd_pct=Decimal("0.0050"), mrd_threshold_pct=Decimal("0.001")))  # fmt: skip
    study.flush()
    sdtm = build(study, tmp_path)
    assert not [r for r in rows_of(sdtm, "AE", "01-002") if r["AESPID"] == "1"]
    assert not any(str(r["USUBJID"]).endswith("-01-006") for d in sdtm.values() for r in d.rows if "USUBJID" in r)
    assert len(sdtm["DM"].rows) == study.scalar(sa.select(sa.func.count()).where(Subject.removed_at.is_(None)))
    gf = one(sdtm["GF"].rows)
    assert (gf["GFMETHOD"], gf["GFORRES"], gf["GFSTRESN"], gf["GFDTC"]) == (
        "QUANTITATIVE POLYMERASE CHAIN REACTION", "0.0050", Decimal("0.0050"), "2025-03-20",
    )  # fmt: skip
    assert one(sdtm["SUPPGF"].rows)["QVAL"] == "0.001"
