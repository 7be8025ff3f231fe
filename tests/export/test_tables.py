"""Analysis tables and listings: exact binomial CIs, CSV and HTML files, reconciliation with the database."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_change_context, system_context
from jk500db.export import tables
from jk500db.export.cells import neutralise_formula
from jk500db.export.context import ExportContext
from jk500db.export.sdtm import build_sdtm
from jk500db.export.snapshot import AsOfSnapshot, Snapshot, open_snapshot
from jk500db.export.tables.analysis import Analysis, analyse
from jk500db.export.tables.binomial import clopper_pearson
from jk500db.export.tables.layout import MISSING, Table, count_percent, median_range
from jk500db.export.tables.report import REPORT_NAME, ReportHeader, render_html
from jk500db.models import AdverseEvent, Death, DrugAdministration, Infusion, ProtocolDeviation, Subject

FAR_FUTURE = dt.datetime(2999, 1, 1, tzinfo=dt.UTC)
SCRIPT = "<script>alert('jk500')</script>"


# --- Clopper-Pearson -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    [(3, 12, "5.5", "57.2"), (0, 12, "0.0", "26.5"), (12, 12, "73.5", "100.0"), (5, 10, "18.7", "81.3")],
)
def test_clopper_pearson_matches_published_values(successes: int, trials: int, lower: str, upper: str) -> None:
    """Exact 95% CIs as published (3/12: 5.5%-57.2%; 0/12: 0%-26.5%; 12/12: 73.5%-100%), to 0.1 percentage point."""
    ci = clopper_pearson(successes, trials)
    assert abs(ci.lower * 100 - Decimal(lower)) <= Decimal("0.05")
    assert abs(ci.upper * 100 - Decimal(upper)) <= Decimal("0.05")


def test_clopper_pearson_agrees_with_the_closed_forms_and_reference_values_to_1e_15() -> None:
    """x = 0: upper = 1 - (alpha/2)^(1/n); x = n: lower = (alpha/2)^(1/n); 3/12 as R's binom.test prints it."""
    with localcontext() as context:
        context.prec = 50
        for n in (1, 5, 12, 36, 200):
            root = (Decimal("0.025").ln() / n).exp()
            assert abs(clopper_pearson(0, n).upper - (1 - root)) < Decimal("1e-15")
            assert abs(clopper_pearson(n, n).lower - root) < Decimal("1e-15")
    ci = clopper_pearson(3, 12)
    assert abs(ci.lower - Decimal("0.05486064")) < Decimal("5e-9")
    assert abs(ci.upper - Decimal("0.57185846")) < Decimal("5e-9")


@pytest.mark.parametrize(("successes", "trials"), [(1, 12), (4, 12), (7, 30), (0, 3), (17, 26)])
def test_clopper_pearson_is_symmetric_and_contains_the_estimate(successes: int, trials: int) -> None:
    ci, mirror = clopper_pearson(successes, trials), clopper_pearson(trials - successes, trials)
    assert abs(ci.lower - (1 - mirror.upper)) < Decimal("1e-18")
    assert ci.lower <= ci.proportion <= ci.upper


@pytest.mark.parametrize(("successes", "trials"), [(1, 0), (-1, 5), (6, 5)])
def test_clopper_pearson_refuses_impossible_counts(successes: int, trials: int) -> None:
    with pytest.raises(ValueError, match=r"successes|trials"):
        clopper_pearson(successes, trials)


def test_number_formats() -> None:
    assert count_percent(3, 12) == "3 (25.0%)"
    assert count_percent(1, 3) == "1 (33.3%)"
    assert count_percent(2, 3) == "2 (66.7%)"  # half up, from the exact fraction
    assert count_percent(0, 0) == "0"
    assert median_range([3, 1, 2, 10]) == "2.5 (1.0–10.0)"


# --- files -------------------------------------------------------------------------------------------------------


def export(session: Session, out: Path, snapshot: Snapshot | None = None) -> list[Path]:
    return tables.write(ExportContext(session, snapshot or open_snapshot(session), out))


def built(session: Session, tmp_path: Path) -> tuple[Analysis, dict[str, Table]]:
    analysis = analyse(ExportContext(session, open_snapshot(session), tmp_path))
    return analysis, {t.key: t for t in tables.build_tables(analysis)}


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_one_csv_per_table_read_back_equals_the_table(study: Session, tmp_path: Path) -> None:
    """The csv module reads every file back as the table's headings and cells (text cells neutralised)."""
    paths = export(study, tmp_path / "out")
    _, built_tables = built(study, tmp_path)
    folder = tmp_path / "out" / "tables"
    assert sorted(p.name for p in paths) == sorted([*(f"{k}.csv" for k in built_tables), REPORT_NAME])
    assert all(p.parent == folder for p in paths)
    for key, table in built_tables.items():
        rows = read_csv(folder / f"{key}.csv")
        assert rows[0] == [neutralise_formula(c) for c in table.columns]
        assert rows[1:] == [[neutralise_formula(c) for c in row] for row in table.rows]


def test_two_exports_are_byte_identical(study: Session, tmp_path: Path) -> None:
    first = export(study, tmp_path / "one")
    second = export(study, tmp_path / "two")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def _cell(table: Table, label: str, column: int = 1) -> str:
    return next(row[column] for row in table.rows if row[0] == label)


def _first_dose_dates(session: Session) -> dict[int, dt.date]:
    """Each subject's first dose of any study treatment, straight from the tables."""
    first: dict[int, dt.date] = {}
    doses = sa.select(DrugAdministration.subject_id, DrugAdministration.started_at).where(
        DrugAdministration.removed_at.is_(None), DrugAdministration.not_given.is_(False)
    )
    infusions = sa.select(Infusion.subject_id, Infusion.started_at).where(Infusion.removed_at.is_(None))
    for statement in (doses, infusions):
        for subject_id, started in session.execute(statement):
            if started is not None:
                first[subject_id] = min(first.get(subject_id, started.date()), started.date())
    return first


def test_counts_reconcile_with_the_database(study: Session, tmp_path: Path) -> None:
    """Screened, enrolled, treatment-emergent and serious events, infusions and deaths, counted with SQL."""
    _, built_tables = built(study, tmp_path)
    live = Subject.removed_at.is_(None)
    screened = study.scalar(sa.select(sa.func.count()).select_from(Subject).where(live))
    enrolled = study.scalar(
        sa.select(sa.func.count()).select_from(Subject).where(live, Subject.enrolled_on.is_not(None))
    )
    disposition = built_tables["t01_disposition"]
    assert _cell(disposition, "Screened") == str(screened)
    assert _cell(disposition, "Enrolled").startswith(f"{enrolled} (")

    first = _first_dose_dates(study)
    events = study.execute(
        sa.select(AdverseEvent.subject_id, AdverseEvent.onset_date, AdverseEvent.serious).where(
            AdverseEvent.removed_at.is_(None)
        )
    ).all()
    emergent = [e for e in events if e.subject_id in first and e.onset_date >= first[e.subject_id]]
    overview = built_tables["t05_teae_overview"]
    assert _cell(overview, "Any TEAE", 2) == str(len(emergent))
    assert _cell(overview, "Any TEAE").startswith(f"{len({e.subject_id for e in emergent})} (")
    assert _cell(overview, "Serious TEAE", 2) == str(sum(1 for e in emergent if e.serious))
    assert len(built_tables["l05_sae"].rows) == sum(1 for e in events if e.serious)

    infusions = study.scalar(sa.select(sa.func.count()).select_from(Infusion).where(Infusion.removed_at.is_(None)))
    exposure = built_tables["t03_exposure"]
    assert next(r for r in exposure.rows if r[0].startswith("JK500"))[4] == str(infusions)
    deaths = study.scalar(sa.select(sa.func.count()).select_from(Death).where(Death.removed_at.is_(None)))
    assert len(built_tables["l06_deaths"].rows) == deaths
    deviations = study.scalar(
        sa.select(sa.func.count()).select_from(ProtocolDeviation).where(ProtocolDeviation.removed_at.is_(None))
    )
    assert len(built_tables["l02_protocol_deviations"].rows) == deviations


def test_the_tables_adae_rows_carry_the_sdtm_aeseq(study: Session, tmp_path: Path) -> None:
    """The tables compute from ADAE as the ADaM export builds it: every row has the AESEQ of the SDTM AE record
    with the same USUBJID and AESPID (ADaM OCCDS 1.0 traceability), none is left null."""
    context = ExportContext(study, open_snapshot(study), tmp_path)
    ae = next(dataset for dataset in build_sdtm(context) if dataset.name == "AE")
    sdtm = {(r["USUBJID"], r["AESPID"]): r["AESEQ"] for r in ae.rows}
    analysis = analyse(context)
    assert len(analysis.adae) == len(sdtm) > 50
    assert {(r["USUBJID"], r["AESPID"]): r["AESEQ"] for r in analysis.adae} == sdtm
    assert all(isinstance(r["AESEQ"], int) for r in analysis.adae)


def _protocol_days(session: Session, context: ExportContext) -> dict[tuple[str, str], tuple[int, int | None]]:
    """(onset, end) of every live AE of an infused subject in days from the first infusion (day 0), from SQL."""
    day0: dict[int, dt.date] = {}
    for subject_id, started in session.execute(
        sa.select(Infusion.subject_id, Infusion.started_at).where(Infusion.removed_at.is_(None))
    ):
        day0[subject_id] = min(day0.get(subject_id, started.date()), started.date())
    days: dict[tuple[str, str], tuple[int, int | None]] = {}
    for event in session.scalars(sa.select(AdverseEvent).where(AdverseEvent.removed_at.is_(None))):
        if event.subject_id in day0:
            first = day0[event.subject_id]
            end = None if event.end_date is None else (event.end_date - first).days
            days[(context.subjects[event.subject_id].usubjid, str(event.ae_number))] = (
                (event.onset_date - first).days,
                end,
            )
    return days


def test_listed_onset_and_end_days_are_protocol_days(study: Session, tmp_path: Path) -> None:
    """Listings 3 (CRS/ICANS), 4 (DLT) and 5 (SAE) print onset and end as protocol days (day 0 = first JK500
    infusion, ADAE ASTPDAY/AENPDAY), not ADaM's relative days from the first dose (ASTDY, no day 0). 01-001's CRS
    began on the day of her first infusion: day 0."""
    context = ExportContext(study, open_snapshot(study), tmp_path)
    days = _protocol_days(study, context)
    _, built_tables = built(study, tmp_path)
    columns = {"l03_crs_icans": (2, 3, 5), "l04_dlt": (2, 5, None), "l05_sae": (1, 4, 5)}
    checked = 0
    for key, (number, onset, end) in columns.items():
        for row in built_tables[key].rows:
            expected = days.get((row[0], row[number]))
            if expected is None:  # a subject never infused: no protocol day
                assert row[onset] == MISSING, (key, row[0])
                continue
            assert row[onset] == str(expected[0]), (key, row[0], row[number])
            if end is not None:
                assert row[end] == (MISSING if expected[1] is None else str(expected[1])), (key, row[0], row[number])
            checked += 1
    assert checked > 10
    crs = next(r for r in built_tables["l03_crs_icans"].rows if r[0] == "JK500-01-01-001" and r[1] == "CRS")
    assert (crs[3], crs[5]) == ("0", "2")


def test_soc_pt_table_counts_each_subject_once_at_the_worst_grade(study: Session, tmp_path: Path) -> None:
    """A row's grade columns add up to its 'any grade' count; the 'Any TEAE' row equals the overview's."""
    analysis, built_tables = built(study, tmp_path)
    table = built_tables["t06_teae_soc_pt_grade"]
    for row in table.rows:
        counts = [int(cell.split(" ")[0]) for cell in row[2:]]
        assert counts[0] == sum(counts[1:6])
        assert counts[6] == sum(counts[3:6])
    assert table.rows[0][2] == _cell(built_tables["t05_teae_overview"], "Any TEAE")
    neutropenia = next(r for r in table.rows if r[1] == "Neutrophil count decreased")
    subjects = {r["USUBJID"] for r in analysis.teae if r["AEDECOD"] == "Neutrophil count decreased"}
    assert neutropenia[2].startswith(f"{len(subjects)} (")


def test_best_response_and_orr_with_exact_ci(study: Session, tmp_path: Path) -> None:
    """ELN 2022 best response of hand-checked children, and ORR n/N with its Clopper-Pearson CI (setting
    orr.includes_crh true by default: ORR = CR + CRh + CRi + PR)."""
    analysis, built_tables = built(study, tmp_path)
    listing = {row[0]: row for row in built_tables["l07_best_response"].rows}
    assert listing["JK500-01-01-001"][2:4] == ("CR MRD-negative", "28")
    assert listing["JK500-01-01-003"][2] == "NR"
    assert listing["JK500-01-01-007"][1:3] == ("0", "—")
    responders = sum(1 for row in listing.values() if row[5] == "Yes")
    infused = len(analysis.population("INFFL"))
    table = built_tables["t09_best_response"]
    assert _cell(table, "ORR (CR + CRh + CRi + PR), n (%)") == count_percent(responders, infused)
    ci = clopper_pearson(responders, infused)
    expected = f"{(ci.lower * 100).quantize(Decimal('0.1'))} to {(ci.upper * 100).quantize(Decimal('0.1'))}"
    assert _cell(table, "ORR (CR + CRh + CRi + PR), 95% CI (Clopper-Pearson exact), %") == expected
    categories = [r for r in table.rows if r[0] in ("CR", "CRh", "CRi", "MLFS", "PR", "NR", "NE")]
    no_assessment = _cell(table, "No classified post-infusion assessment")
    assert sum(int(r[1].split(" ")[0]) for r in categories) + int(no_assessment.split(" ")[0]) == infused


def test_the_report_header_names_the_study_and_the_snapshot(study: Session, tmp_path: Path) -> None:
    """An export says what data it stands on: the audit position and chain head, and the as-of moment."""
    snapshot = AsOfSnapshot(study, FAR_FUTURE)
    export(study, tmp_path, snapshot)
    html = (tmp_path / "tables" / REPORT_NAME).read_text(encoding="utf-8")
    assert "JK500" in html and "NCT05519384" in html
    assert f"event {snapshot.audit_position}" in html
    assert str(snapshot.audit_head_hash) in html
    assert "as of 2999-01-01T00:00:00Z" in html


def test_an_export_as_of_before_any_data_writes_empty_tables(study: Session, tmp_path: Path) -> None:
    """--as-of before the study was loaded: every table is written, with zero counts and no intervals."""
    paths = export(study, tmp_path, AsOfSnapshot(study, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)))
    assert len(paths) == len(tables.BUILDERS) + 1
    dlt = read_csv(tmp_path / "tables" / "t08_dlt.csv")
    assert ["DLT-evaluable subjects, n", "0"] in dlt
    assert "event 0" in (tmp_path / "tables" / REPORT_NAME).read_text(encoding="utf-8")


def test_html_escapes_and_csv_neutralises_what_staff_typed(study: Session, tmp_path: Path) -> None:
    """A verbatim AE term typed as a script shows as text in the report and stays as typed in the CSV; a
    deviation description starting with '=' is not a formula in the CSV (OWASP CSV injection).
    (Written in the fixture's transaction, rolled back at the end of the test.)"""
    set_change_context(study, system_context("pytest exports", reason="hostile text for the tables test"))
    sepsis = study.scalar(
        sa.select(AdverseEvent).join(Subject).where(Subject.subject_number == "01-003", AdverseEvent.ae_number == 5)
    )
    deviation = study.scalar(sa.select(ProtocolDeviation).order_by(ProtocolDeviation.id).limit(1))
    assert sepsis is not None and deviation is not None
    sepsis.verbatim = SCRIPT
    deviation.description = '=HYPERLINK("http://example.invalid")'
    study.flush()
    export(study, tmp_path)
    folder = tmp_path / "tables"
    html = (folder / REPORT_NAME).read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#39;jk500&#39;)&lt;/script&gt;" in html
    assert any(SCRIPT in row for row in read_csv(folder / "l05_sae.csv"))
    assert any(
        '\'=HYPERLINK("http://example.invalid")' in row for row in read_csv(folder / "l02_protocol_deviations.csv")
    )


def test_render_escapes_every_part_of_a_table() -> None:
    """Unit level: titles, headings, cells, footnotes and the header are all escaped."""
    header = ReportHeader(SCRIPT, SCRIPT, None, "Early Phase 1", "<b>sponsor</b>", 7, None, None, "a = <b>")
    table = Table("t99_x", "Table 99", SCRIPT, SCRIPT, (SCRIPT, "n"), [(SCRIPT, "1 & 2")], (SCRIPT,))
    html = render_html(header, [table])
    assert "<script" not in html and "<b>" not in html
    assert html.count("&lt;script&gt;") >= 7
    assert "1 &amp; 2" in html
