"""ADaM ADSL and ADAE (ADaMIG 1.3, ADaM OCCDS 1.0) on the export study, on SQLite and PostgreSQL.

Hand-checked subjects come from seed_data/demo_cohort.toml (synthetic children):
01-001 9-year-old girl, six infusions from 2024-03-11, CR MRD-negative, HSCT on 2024-05-27;
01-003 6-year-old girl, NR, died of sepsis on day 41 (after the DLT window);
01-004 16-year-old boy, screen failure (HBsAg positive);
01-007 13-year-old girl, withdrawn by her guardian on day 9 after three infusions.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.audit.context import set_change_context, system_context
from jk500db.export.adam import OCCURRENCE_FLAGS, build_adam, collect, sdtm_ae_sequence
from jk500db.export.context import ExportContext
from jk500db.export.datasets import Core, Dataset, Origin, Value
from jk500db.export.sdtm import build_sdtm
from jk500db.export.sdtm.events import AE_SEQUENCE
from jk500db.export.snapshot import open_snapshot
from jk500db.models import AdverseEvent, AuditEvent, CtcaeTerm, DrugAdministration, Infusion, Subject
from jk500db.models.vocabularies import DltDecision

Rows = list[dict[str, Value]]


def adam(session: Session, tmp_path: Path) -> tuple[Dataset, Dataset]:
    adsl, adae = build_adam(ExportContext(session, open_snapshot(session), tmp_path))
    return adsl, adae


def subject_row(adsl: Dataset, subject_number: str) -> dict[str, Value]:
    return next(r for r in adsl.rows if r["SUBJID"] == subject_number)


def event_row(adae: Dataset, subject_number: str, ae_number: int) -> dict[str, Value]:
    return next(r for r in adae.rows if r["SUBJID"] == subject_number and r["AESPID"] == str(ae_number))


def test_adsl_has_one_row_per_subject_and_adae_one_per_adverse_event(study: Session, tmp_path: Path) -> None:
    """Counts reconcile with the database: live subjects and live adverse events (removed records excluded)."""
    adsl, adae = adam(study, tmp_path)
    subjects = study.scalar(sa.select(sa.func.count()).select_from(Subject).where(Subject.removed_at.is_(None)))
    events = study.scalar(
        sa.select(sa.func.count())
        .select_from(AdverseEvent)
        .join(Subject, Subject.id == AdverseEvent.subject_id)
        .where(AdverseEvent.removed_at.is_(None), Subject.removed_at.is_(None))
    )
    assert len(adsl.rows) == subjects
    assert len(adae.rows) == events
    assert len({r["USUBJID"] for r in adsl.rows}) == len(adsl.rows)
    assert len({(r["USUBJID"], r["AESPID"]) for r in adae.rows}) == len(adae.rows)


HAND_CHECKED: dict[str, dict[str, Any]] = {
    "01-001": {
        "AGE": 9, "SEX": "F", "AGEGR1": "<12", "ENRLFL": "Y", "SAFFL": "Y", "INFFL": "Y", "DLTEVFL": "Y",
        "RSPEVFL": "Y", "TRTSDT": "2024-03-04", "INFSDT": "2024-03-11", "INFEDT": "2024-03-28", "TRTEDT": "2024-03-28",
        "INFNUM": 6, "DLTWEDT": "2024-04-08", "HSCTDT": "2024-05-27", "EOSSTT": "ONGOING", "DCSREAS": None,
        "DTHFL": None, "TRT01A": "JK500",
    },
    "01-003": {
        "AGE": 6, "SAFFL": "Y", "INFFL": "Y", "DLTEVFL": "Y", "RSPEVFL": "Y", "DTHFL": "Y", "DTHDT": "2024-07-14",
        "DTHCAUS": "ADVERSE EVENT", "EOSSTT": "DISCONTINUED", "DCSREAS": "DEATH", "DLTWEDT": "2024-07-01",
    },
    "01-004": {
        "AGE": 16, "SEX": "M", "AGEGR1": ">=12", "ENRLFL": "N", "SAFFL": "N", "INFFL": "N", "DLTEVFL": "N",
        "RSPEVFL": "N", "TRTSDT": None, "INFSDT": None, "INFNUM": 0, "INF1DKG": None, "INFCUMKG": None,
        "INFPDKG": None, "TRT01P": "NOT ASSIGNED", "TRT01A": None, "EOSSTT": "DISCONTINUED",
        "DCSREAS": "SCREEN FAILURE",
    },
    "01-007": {
        "AGE": 13, "ENRLFL": "Y", "SAFFL": "Y", "INFFL": "Y", "DLTEVFL": "N", "RSPEVFL": "N", "INFNUM": 3,
        "TRTSDT": "2024-10-07", "INFSDT": "2024-10-14", "DLTWEDT": "2024-11-11", "LSTOBSDT": "2024-10-21",
        "EOSSTT": "DISCONTINUED", "DCSREAS": "WITHDRAWAL BY PARENT/GUARDIAN", "EOSDT": "2024-10-23",
    },
}  # fmt: skip


@pytest.mark.parametrize("subject_number", sorted(HAND_CHECKED))
def test_subject_level_flags_and_dates_follow_the_rules_on_hand_checked_subjects(
    study: Session, tmp_path: Path, subject_number: str
) -> None:
    """ADaMIG 1.3 ADSL: population flags Y/N (never null), dates of first lymphodepletion and first infusion.

    01-007 left on day 9, before the DLT window (days 0-28) ended, with no DLT: not DLT-evaluable. 01-003 died
    on day 41, after the window: DLT-evaluable. A screen failure is in no population.
    """
    adsl, _ = adam(study, tmp_path)
    row = subject_row(adsl, subject_number)
    assert {name: row[name] for name in HAND_CHECKED[subject_number]} == HAND_CHECKED[subject_number]


def test_cell_doses_are_the_stored_per_kg_doses_and_their_exact_sum(study: Session, tmp_path: Path) -> None:
    """01-007: 435e6, 426e6 and 444e6 cells at 43.5 kg sum to exactly 3.0e7 cells/kg; 01-001: 1695e6 / 28.4."""
    adsl, _ = adam(study, tmp_path)
    withdrawn = subject_row(adsl, "01-007")
    assert withdrawn["INF1DKG"] == Decimal(10_000_000)
    assert withdrawn["INFCUMKG"] == Decimal(30_000_000)
    assert withdrawn["INFPDKG"] == Decimal(10_000_000)
    first = subject_row(adsl, "01-001")
    expected = Decimal(1_695_000_000) / Decimal("28.4")
    assert isinstance(first["INFCUMKG"], Decimal)
    assert first["INFCUMKG"].quantize(Decimal("1e-12")) == expected.quantize(Decimal("1e-12"))


def _date(value: Value) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value))


def _relative_day(on: dt.date | None, anchor: dt.date | None) -> int | None:
    """ADaM *DY written out again: the anchor is day 1, the day before it day -1 (no day 0)."""
    if on is None or anchor is None:
        return None
    days = (on - anchor).days
    return days + 1 if days >= 0 else days


def test_adae_relative_days_count_from_the_first_dose_with_no_day_0(study: Session, tmp_path: Path) -> None:
    """ADaMIG timing conventions: ASTDY and AENDY are relative days of ASTDT and AENDT anchored on TRTSDT (the first
    dose of study treatment, carried in ADAE), day 1 being TRTSDT itself, with no day 0.

    01-001 (TRTSDT 2024-03-04): nausea on 2024-03-05 is day 2; CRS from 2024-03-11 (the first infusion) to
    2024-03-13 is days 8 to 10.
    """
    _, adae = adam(study, tmp_path)
    nausea, crs = event_row(adae, "01-001", 3), event_row(adae, "01-001", 4)
    assert (nausea["TRTSDT"], nausea["ASTDT"], nausea["ASTDY"]) == ("2024-03-04", "2024-03-05", 2)
    assert (crs["ASTDT"], crs["AENDT"], crs["ASTDY"], crs["AENDY"], crs["ADURN"]) == (
        "2024-03-11",
        "2024-03-13",
        8,
        10,
        3,
    )
    anchored = [r for r in adae.rows if r["TRTSDT"] is not None]
    assert anchored and any(r["AENDT"] is not None for r in anchored)
    for row in adae.rows:
        anchor = _date(row["TRTSDT"])
        assert row["ASTDY"] == _relative_day(_date(row["ASTDT"]), anchor), row["USUBJID"]
        assert row["AENDY"] == _relative_day(_date(row["AENDT"]), anchor), row["USUBJID"]
    for name in ("ASTDY", "AENDY"):
        derivation = adae.variable(name).derivation
        assert derivation is not None and "TRTSDT" in derivation and "no day 0" in derivation
        assert "jk500.adam." + name.lower() + " v2" in derivation  # v1 was the protocol day under this name


def test_adae_protocol_days_count_from_the_first_infusion_as_day_0(study: Session, tmp_path: Path) -> None:
    """ASTPDAY and AENPDAY are the protocol's days (CLINICAL_RULES.md: day 0 = first JK500 infusion, negative
    before, no gap), named so as not to end in DY because they have a day 0. 01-001: nausea during
    lymphodepletion is day -6, CRS from the day of the first infusion is days 0 to 2."""
    _, adae = adam(study, tmp_path)
    nausea, crs = event_row(adae, "01-001", 3), event_row(adae, "01-001", 4)
    assert (nausea["INFSDT"], nausea["ASTPDAY"]) == ("2024-03-11", -6)
    assert (crs["ASTPDAY"], crs["AENPDAY"]) == (0, 2)
    for row in adae.rows:
        day0, onset, end = _date(row["INFSDT"]), _date(row["ASTDT"]), _date(row["AENDT"])
        assert row["ASTPDAY"] == (None if day0 is None or onset is None else (onset - day0).days)
        assert row["AENPDAY"] == (None if day0 is None or end is None else (end - day0).days)
    assert any(r["ASTPDAY"] == 0 for r in adae.rows)
    for name in ("ASTPDAY", "AENPDAY"):
        variable = adae.variable(name)
        assert "day 0 = first JK500 infusion" in variable.label and len(variable.label) <= 40
        assert variable.derivation is not None and "day 0 is the first JK500 infusion" in variable.derivation


def test_no_relative_day_in_adam_is_day_0(study: Session, tmp_path: Path) -> None:
    """ADaMIG timing conventions: a variable whose name ends in DY has no day 0; a day count with a day 0 must be
    named otherwise. 01-007 (TRTSDT 2024-10-07) is given events on the day before TRTSDT, on TRTSDT and the day
    after: days -1, 1 and 2. (Written in the fixture's transaction, rolled back at the end of the test.)"""
    set_change_context(study, system_context("pytest exports", reason="events around TRTSDT for the ADaM test"))
    withdrawn, headache = _subject(study, "01-007"), _term(study, "Headache")
    study.add_all(
        AdverseEvent(subject_id=withdrawn.id, ae_number=number, ctcae_term_id=headache, onset_date=on, end_date=on,
                     grade=1)
        for number, on in ((92, dt.date(2024, 10, 6)), (93, dt.date(2024, 10, 7)), (94, dt.date(2024, 10, 8)))
    )  # fmt: skip
    study.flush()
    adsl, adae = adam(study, tmp_path)
    assert subject_row(adsl, "01-007")["TRTSDT"] == "2024-10-07"
    assert [(event_row(adae, "01-007", n)["ASTDY"], event_row(adae, "01-007", n)["AENDY"]) for n in (92, 93, 94)] == [
        (-1, -1),
        (1, 1),
        (2, 2),
    ]
    checked = 0
    for dataset in (adsl, adae):
        for variable in dataset.variables:
            if variable.name.endswith("DY"):
                values = [r[variable.name] for r in dataset.rows if r[variable.name] is not None]
                assert 0 not in values, f"{dataset.name}.{variable.name} has a day 0"
                checked += len(values)
    assert checked > len(adae.rows)


def test_relative_days_equal_sdtm_study_days_when_trtsdt_is_rfstdtc(study: Session, tmp_path: Path) -> None:
    """define.xml says ASTDY and AENDY equal SDTM AESTDY and AEENDY when TRTSDT is the date of RFSTDTC (the first
    lymphodepletion dose), as it is for every lymphodepleted child here."""
    context = ExportContext(study, open_snapshot(study), tmp_path)
    domains = {dataset.name: dataset for dataset in build_sdtm(context)}
    reference = {r["USUBJID"]: str(r["RFSTDTC"] or "")[:10] for r in domains["DM"].rows}
    ae = {(r["USUBJID"], r["AESPID"]): r for r in domains["AE"].rows}
    _, adae = build_adam(context)
    compared = 0
    for row in adae.rows:
        if row["TRTSDT"] is None or row["TRTSDT"] != reference[row["USUBJID"]]:
            continue
        source = ae[(row["USUBJID"], row["AESPID"])]
        assert (row["ASTDY"], row["AENDY"]) == (source["AESTDY"], source["AEENDY"]), row["USUBJID"]
        compared += 1
    assert compared == sum(1 for r in adae.rows if r["TRTSDT"] is not None) > 50


def test_every_event_on_or_after_the_first_dose_is_treatment_emergent(study: Session, tmp_path: Path) -> None:
    _, adae = adam(study, tmp_path)
    for row in adae.rows:
        emergent = row["TRTSDT"] is not None and str(row["ASTDT"]) >= str(row["TRTSDT"])
        assert row["TRTEMFL"] == ("Y" if emergent else None)
    assert event_row(adae, "01-001", 3)["TRTEMFL"] == "Y"  # nausea on day -6, during lymphodepletion


def _rows_by(rows: Rows, *names: str) -> dict[tuple[Value, ...], Rows]:
    groups: dict[tuple[Value, ...], Rows] = {}
    for row in rows:
        groups.setdefault(tuple(row[n] for n in names), []).append(row)
    return groups


def _grade(row: dict[str, Value]) -> int:
    grade = row["AETOXGRN"]
    assert isinstance(grade, int)
    return grade


@pytest.mark.parametrize(("flag", "grouping", "worst"), [(f, g, w) for f, _, g, w in OCCURRENCE_FLAGS])
def test_first_and_worst_occurrence_flags_mark_one_event_per_group(
    study: Session, tmp_path: Path, flag: str, grouping: tuple[str, ...], worst: bool
) -> None:
    """ADaM OCCDS 1.0: AOCCxxFL marks exactly one treatment-emergent event per subject (and SOC, PT); the
    AOCCxIFL flags mark one at the worst grade, the earliest among equals."""
    _, adae = adam(study, tmp_path)
    assert all(r[flag] is None for r in adae.rows if r["TRTEMFL"] != "Y")
    groups = _rows_by([r for r in adae.rows if r["TRTEMFL"] == "Y"], "USUBJID", *grouping)
    assert groups
    for rows in groups.values():
        flagged = [r for r in rows if r[flag] == "Y"]
        assert len(flagged) == 1
        if worst:
            assert _grade(flagged[0]) == max(_grade(r) for r in rows)
            candidates = [r for r in rows if _grade(r) == _grade(flagged[0])]
        else:
            candidates = rows
        assert str(flagged[0]["ASTDT"]) == min(str(r["ASTDT"]) for r in candidates)


def test_worst_grade_flags_on_a_hand_checked_subject(study: Session, tmp_path: Path) -> None:
    """01-001: nausea (day -6) is the first event; of the two grade-4 cytopenias the neutropenia came first."""
    _, adae = adam(study, tmp_path)
    flags = {r["AESPID"]: r for r in adae.rows if r["SUBJID"] == "01-001"}
    assert [k for k, r in sorted(flags.items()) if r["AOCCFL"] == "Y"] == ["3"]
    assert [k for k, r in sorted(flags.items()) if r["AOCCIFL"] == "Y"] == ["1"]
    assert [k for k, r in sorted(flags.items()) if r["AOCCSIFL"] == "Y"] == ["1", "3", "4"]  # one per SOC


def test_dlt_crs_and_icans_flags(study: Session, tmp_path: Path) -> None:
    """01-008 AE 3 (ALT increased grade 3 on day 7) is a derived DLT candidate not yet decided; 01-002 had CRS
    (AE 2) and ICANS recorded as 'Nervous system disorders - Other, specify' (AE 3); a headache is neither."""
    _, adae = adam(study, tmp_path)
    alt = event_row(adae, "01-008", 3)
    assert (alt["DLTWFL"], alt["DLTCFL"], alt["DLTFL"], alt["DLTDEC"], alt["ASTPDAY"]) == ("Y", "Y", None, None, 7)
    crs, icans, headache = (event_row(adae, "01-002", n) for n in (2, 3, 4))
    assert (crs["CRSFL"], crs["ICANSFL"], crs["AECAT"], crs["AETOXGRN"], crs["AEINVGRN"]) == ("Y", None, "CRS", 2, 2)
    assert (icans["CRSFL"], icans["ICANSFL"], icans["AECAT"], icans["AEDECOD"]) == (
        None,
        "Y",
        "ICANS",
        "Nervous system disorders - Other, specify",
    )
    assert (headache["CRSFL"], headache["ICANSFL"]) == (None, None)
    candidates = {
        (s, n)
        for s, n in study.execute(
            sa.select(Subject.subject_number, AdverseEvent.ae_number)
            .join(Subject, Subject.id == AdverseEvent.subject_id)
            .where(AdverseEvent.dlt_candidate.is_(True), AdverseEvent.removed_at.is_(None))
        )
    }
    assert {(r["SUBJID"], int(str(r["AESPID"]))) for r in adae.rows if r["DLTCFL"] == "Y"} == candidates


def _term(session: Session, term: str) -> int:
    found = session.scalar(sa.select(CtcaeTerm.id).where(CtcaeTerm.term == term))
    assert found is not None
    return found


def _subject(session: Session, number: str) -> Subject:
    subject = session.scalar(sa.select(Subject).where(Subject.subject_number == number))
    assert subject is not None
    return subject


def test_a_confirmed_dlt_makes_a_child_who_left_early_dlt_evaluable(study: Session, tmp_path: Path) -> None:
    """DLTEVFL: infused and either observed to the end of the window or a confirmed DLT in it. 01-007 left on
    day 9; a grade-3 event on day 5 confirmed as a DLT makes her evaluable. An event before the first dose is
    not treatment-emergent. (Written in the fixture's transaction, rolled back at the end of the test.)"""
    set_change_context(study, system_context("pytest exports", reason="a DLT for the ADaM test"))
    withdrawn = _subject(study, "01-007")
    study.add_all([
        AdverseEvent(subject_id=withdrawn.id, ae_number=90, ctcae_term_id=_term(study, "Hypotension"),
                     onset_date=dt.date(2024, 10, 19), end_date=dt.date(2024, 10, 20), grade=3,
                     dlt_decision=DltDecision.CONFIRMED),
        AdverseEvent(subject_id=withdrawn.id, ae_number=91, ctcae_term_id=_term(study, "Headache"),
                     onset_date=dt.date(2024, 10, 6), end_date=dt.date(2024, 10, 6), grade=1),
    ])  # fmt: skip
    study.flush()
    adsl, adae = adam(study, tmp_path)
    assert subject_row(adsl, "01-007")["DLTEVFL"] == "Y"
    dlt = event_row(adae, "01-007", 90)
    assert (dlt["DLTFL"], dlt["DLTDEC"], dlt["DLTWFL"], dlt["ASTPDAY"], dlt["TRTEMFL"]) == (
        "Y",
        "CONFIRMED",
        "Y",
        5,
        "Y",
    )
    assert dlt["ASTDY"] == 13  # 2024-10-19 against TRTSDT 2024-10-07 (day 1)
    before = event_row(adae, "01-007", 91)
    assert (before["TRTEMFL"], before["ASTPDAY"], before["AOCCFL"], before["AOCCIFL"]) == (None, -8, None, None)
    assert before["ASTDY"] == -1  # the day before TRTSDT: no day 0 between them


def test_removed_records_are_left_out(study: Session, tmp_path: Path) -> None:
    """A removed infusion no longer counts (INFNUM, INFEDT) and a removed AE is not an ADAE row."""
    set_change_context(study, system_context("pytest exports", reason="removed records for the ADaM test"))
    first = _subject(study, "01-001")
    last = study.scalar(sa.select(Infusion).where(Infusion.subject_id == first.id, Infusion.infusion_number == 6))
    event = study.scalar(
        sa.select(AdverseEvent).where(AdverseEvent.subject_id == first.id, AdverseEvent.ae_number == 3)
    )
    assert last is not None and event is not None
    for record in (last, event):
        record.removed_at, record.removed_reason = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "entered in error"
    study.flush()
    adsl, adae = adam(study, tmp_path)
    assert (subject_row(adsl, "01-001")["INFNUM"], subject_row(adsl, "01-001")["INFEDT"]) == (5, "2024-03-25")
    assert not any(r["SUBJID"] == "01-001" and r["AESPID"] == "3" for r in adae.rows)


def test_safety_population_includes_lymphodepletion_without_an_infusion(study: Session, tmp_path: Path) -> None:
    """SAFFL counts any study treatment: a child who had lymphodepletion but no JK500 is in the safety
    population, not the infused one, with TRT01A 'NO JK500 INFUSION'."""
    set_change_context(study, system_context("pytest exports", reason="lymphodepletion only, for the ADaM test"))
    withdrawn = _subject(study, "01-007")
    for infusion in study.scalars(sa.select(Infusion).where(Infusion.subject_id == withdrawn.id)):
        infusion.removed_at, infusion.removed_reason = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "test"
    study.flush()
    adsl, _ = adam(study, tmp_path)
    row = subject_row(adsl, "01-007")
    assert (row["SAFFL"], row["INFFL"], row["DLTEVFL"], row["TRT01A"], row["INFSDT"]) == (
        "Y", "N", "N", "NO JK500 INFUSION", None,
    )  # fmt: skip
    given = study.scalar(
        sa.select(sa.func.min(DrugAdministration.started_at)).where(DrugAdministration.subject_id == withdrawn.id)
    )
    assert given is not None and row["TRTSDT"] == given.date().isoformat()


def test_predecessor_variables_equal_their_sdtm_source(study: Session, tmp_path: Path) -> None:
    """ADaMIG 1.3 §3.1: a Predecessor variable is its SDTM variable copied unchanged. ADSL's DM.* and ADAE's AE.*
    values equal those of SDTM DM and AE built from the same snapshot (keyed by USUBJID, and AESPID)."""
    sdtm = pytest.importorskip("jk500db.export.sdtm")
    context = ExportContext(study, open_snapshot(study), tmp_path)
    domains = {dataset.name: dataset for dataset in sdtm.build_sdtm(context)}
    adsl, adae = build_adam(context)
    for dataset, domain, key in ((adsl, "DM", ("USUBJID",)), (adae, "AE", ("USUBJID", "AESPID"))):
        source = {tuple(row[k] for k in key): row for row in domains[domain].rows}
        copied = [
            v.name
            for v in dataset.variables
            if v.origin == Origin.PREDECESSOR and (v.derivation or "").startswith(f"{domain}.")
        ]
        assert len(copied) >= 6
        assert len(source) == len(dataset.rows)
        for row in dataset.rows:
            original = source[tuple(row[k] for k in key)]
            assert {name: row[name] for name in copied} == {name: original[name] for name in copied}


def test_metadata_is_complete_for_define_xml(study: Session, tmp_path: Path) -> None:
    """ADaMIG 1.3 / Define-XML 2.1: every variable has a name of at most 8 upper-case characters, a label of at
    most 40, a type and origin; derived ones say how, with the rule and its version; predecessors name their
    source; Required variables are never null; rows carry exactly the described variables."""
    for dataset in adam(study, tmp_path):
        names = [v.name for v in dataset.variables]
        assert len(names) == len(set(names))
        assert set(dataset.keys) <= set(names)
        for variable in dataset.variables:
            assert variable.name.isupper() and len(variable.name) <= 8 and variable.name.isascii()
            assert 0 < len(variable.label) <= 40
            assert variable.derivation
            if variable.origin == Origin.DERIVED:
                assert re.search(r"\(jk500\.adam\.[a-z0-9]+ v[12]\)$", variable.derivation), variable.name
            else:
                assert variable.origin == Origin.PREDECESSOR
            if variable.codelist_values:
                used = {r[variable.name] for r in dataset.rows} - {None}
                assert used <= set(variable.codelist_values), variable.name
        for row in dataset.rows:
            assert list(row) == names
        for variable in dataset.variables:
            if variable.core == Core.REQUIRED:
                assert all(r[variable.name] is not None for r in dataset.rows), variable.name


def test_no_birth_date_in_adam(study: Session, tmp_path: Path) -> None:
    """De-identified by default: age at consent, never the birth date."""
    births = {b.isoformat() for b in study.scalars(sa.select(Subject.birth_date))}
    for dataset in adam(study, tmp_path):
        assert not any("BRTH" in v.name for v in dataset.variables)
        assert not any(value in births for row in dataset.rows for value in row.values())


def test_two_builds_are_identical(study: Session, tmp_path: Path) -> None:
    first = adam(study, tmp_path)
    second = adam(study, tmp_path)
    assert [d.rows for d in first] == [d.rows for d in second]
    assert [d.variables for d in first] == [d.variables for d in second]


def _traced(context: ExportContext) -> tuple[dict[tuple[Value, Value], tuple[Value, ...]], Dataset]:
    """SDTM AE's (AESEQ, AEDECOD, AESTDTC) by (USUBJID, AESPID), and ADAE, built from one snapshot."""
    ae = next(dataset for dataset in build_sdtm(context) if dataset.name == "AE")
    _, adae = build_adam(context)
    return {(r["USUBJID"], r["AESPID"]): (r["AESEQ"], r["AEDECOD"], r["AESTDTC"]) for r in ae.rows}, adae


def test_adae_carries_the_sdtm_aeseq_of_the_same_event_in_every_export(study: Session, tmp_path: Path) -> None:
    """ADaM OCCDS 1.0: AESEQ is copied from SDTM AE for traceability. Every ADAE row's AESEQ is that of the AE
    record with the same USUBJID, AESPID, term and start: in two exports, and in an export as of a moment before an
    event was removed, when 01-002's later events still had the numbers the removal then shifted."""
    before = dt.datetime.fromisoformat(study.scalars(sa.select(sa.func.max(AuditEvent.occurred_at))).one())
    set_change_context(study, system_context("pytest exports", reason="a removed AE for the AESEQ test"))
    second = _subject(study, "01-002")
    first_event = study.scalar(
        sa.select(AdverseEvent).where(AdverseEvent.subject_id == second.id, AdverseEvent.ae_number == 1)
    )
    assert first_event is not None
    first_event.removed_at, first_event.removed_reason = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "entered in error"
    study.flush()
    numbers: dict[str, dict[tuple[Value, Value], Value]] = {}
    for name, as_of in (("live", None), ("again", None), ("before removal", before)):
        sdtm_ae, adae = _traced(ExportContext(study, open_snapshot(study, as_of), tmp_path))
        assert len(adae.rows) == len(sdtm_ae) > 50, name
        assert adae.variable("AESEQ").core is Core.REQUIRED
        for row in adae.rows:
            aeseq, term, start = sdtm_ae[(row["USUBJID"], row["AESPID"])]
            assert (row["AESEQ"], row["AEDECOD"], row["ASTDT"]) == (aeseq, term, start), (name, row["USUBJID"])
        numbers[name] = {(r["USUBJID"], r["AESPID"]): r["AESEQ"] for r in adae.rows}
    assert numbers["live"] == numbers["again"]
    crs = (f"JK500-01-{second.subject_number}", "2")  # USUBJID is STUDYID-SITEID-SUBJID
    assert (numbers["before removal"][crs], numbers["live"][crs]) == (2, 1)


def test_one_export_numbers_its_adverse_events_once(study: Session, tmp_path: Path) -> None:
    """SDTM AE is built once per export: ADaM and the tables take the numbering the SDTM build left, and an export
    without SDTM builds AE itself to the same numbers."""
    context = ExportContext(study, open_snapshot(study), tmp_path)
    build_sdtm(context)
    numbered = context.shared[AE_SEQUENCE]
    assert sdtm_ae_sequence(context, collect(context)) is numbered
    alone = ExportContext(study, open_snapshot(study), tmp_path)
    assert AE_SEQUENCE not in alone.shared
    assert sdtm_ae_sequence(alone, collect(alone)) == numbered


def test_reasons_for_discontinuation_are_the_sdtm_disposition_terms(study: Session, tmp_path: Path) -> None:
    """ADSL.DCSREAS uses the terms of SDTM DS.DSDECOD (one table of withdrawal terms for both): 01-007 withdrawn by
    her guardian is WITHDRAWAL BY PARENT/GUARDIAN in both."""
    context = ExportContext(study, open_snapshot(study), tmp_path)
    ds = next(dataset for dataset in build_sdtm(context) if dataset.name == "DS")
    adsl, _ = build_adam(context)
    disposition = {r["USUBJID"]: r["DSDECOD"] for r in ds.rows if r["DSCAT"] == "DISPOSITION EVENT"}
    discontinued = [r for r in adsl.rows if r["EOSSTT"] == "DISCONTINUED"]
    assert len(discontinued) >= 3
    for row in discontinued:
        assert row["DCSREAS"] == disposition[row["USUBJID"]], row["USUBJID"]
    assert subject_row(adsl, "01-007")["DCSREAS"] == "WITHDRAWAL BY PARENT/GUARDIAN"


def test_cell_doses_are_written_without_exponent_notation(study: Session, tmp_path: Path) -> None:
    """The database may hand a decimal back as 1.000000E+7; the CSV and define.xml see its plain digits."""
    adsl, _ = adam(study, tmp_path)
    doses = [row[name] for row in adsl.rows for name in ("INFPDKG", "INF1DKG", "INFCUMKG") if row[name] is not None]
    assert len(doses) > 20
    assert all(isinstance(dose, Decimal) and "E" not in str(dose) for dose in doses)
