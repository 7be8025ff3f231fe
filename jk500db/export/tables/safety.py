"""Safety: TEAE overview, TEAEs by SOC/PT and worst grade, CRS and ICANS, DLTs, SAEs and deaths."""

from __future__ import annotations

from collections.abc import Callable

from jk500db.derivations.adverse_events import DLT_RULE
from jk500db.derivations.provenance import rule_label
from jk500db.export.adam import SubjectRecords, protocol_day, utc_date
from jk500db.export.snapshot import Row
from jk500db.export.tables.analysis import Analysis, AnalysisRow
from jk500db.export.tables.binomial import clopper_pearson
from jk500db.export.tables.layout import MISSING, Table, count_percent, interval, median_range, text

GRADES = (1, 2, 3, 4, 5)
Predicate = Callable[[AnalysisRow], bool]


def _grade(row: AnalysisRow) -> int:
    grade = row["AETOXGRN"]
    assert isinstance(grade, int)  # AETOXGRN is Req: always an int
    return grade


def _subjects_and_events(rows: list[AnalysisRow], keep: Predicate) -> tuple[int, int]:
    kept = [row for row in rows if keep(row)]
    return len({row["USUBJID"] for row in kept}), len(kept)


def _related(row: AnalysisRow) -> bool:
    return row["ARELJK"] == "RELATED"


def teae_overview(analysis: Analysis) -> Table:
    total = len(analysis.population("SAFFL"))
    teae = analysis.teae
    categories: list[tuple[str, Predicate]] = [
        ("Any TEAE", lambda r: True),
        ("TEAE of grade 3 or higher", lambda r: _grade(r) >= 3),
        ("TEAE of grade 5 (fatal)", lambda r: _grade(r) == 5),
        ("Serious TEAE", lambda r: r["AESER"] == "Y"),
        ("TEAE related to JK500", _related),
        ("TEAE related to JK500, grade 3 or higher", lambda r: _related(r) and _grade(r) >= 3),
        ("Serious TEAE related to JK500", lambda r: _related(r) and r["AESER"] == "Y"),
        ("TEAE leading to JK500 withdrawal", lambda r: r["AEACN"] == "DRUG WITHDRAWN"),
        ("Cytokine release syndrome", lambda r: r["CRSFL"] == "Y"),
        ("Cytokine release syndrome, grade 3 or higher", lambda r: r["CRSFL"] == "Y" and _grade(r) >= 3),
        ("ICANS", lambda r: r["ICANSFL"] == "Y"),
        ("ICANS, grade 3 or higher", lambda r: r["ICANSFL"] == "Y" and _grade(r) >= 3),
        ("DLT candidate (derived)", lambda r: r["DLTCFL"] == "Y"),
        ("DLT confirmed by the investigator", lambda r: r["DLTFL"] == "Y"),
    ]
    rows = []
    for label, keep in categories:
        subjects, events = _subjects_and_events(teae, keep)
        rows.append((label, count_percent(subjects, total), str(events)))
    before = sum(1 for r in analysis.adae if r["SAFFL"] == "Y" and r["TRTEMFL"] is None)
    return Table(
        key="t05_teae_overview",
        number="Table 5",
        title="Overview of treatment-emergent adverse events",
        population=analysis.heading("SAFFL"),
        columns=("Subjects with at least one", "Subjects, n (%)", "Events, n"),
        rows=rows,
        footnotes=(
            "TEAE: onset on or after the first dose of study treatment (ADAE TRTEMFL; lymphodepletion counts). "
            f"{before} adverse event(s) of the safety population began before it and are not counted here.",
            "Grades as SDTM AETOXGR: CTCAE v5.0 as the investigator graded it; for CRS and ICANS episodes graded "
            "from their assessments, the ASTCT 2019 episode maximum. Related to JK500: possibly, probably or "
            "definitely related.",
        ),
    )


def teae_by_soc_pt(analysis: Analysis) -> Table:
    """Subjects counted once per row at their worst grade (ADaM OCCDS AOCCxIFL flags)."""
    total = len(analysis.population("SAFFL"))
    teae = analysis.teae

    def cells(any_flag: str, worst_flag: str, rows: list[AnalysisRow]) -> list[str]:
        worst = [r for r in rows if r[worst_flag] == "Y"]
        counts = [sum(1 for r in worst if _grade(r) == g) for g in GRADES]
        severe = sum(1 for r in worst if _grade(r) >= 3)
        return [
            count_percent(sum(1 for r in rows if r[any_flag] == "Y"), total),
            *(count_percent(c, total) for c in counts),
            count_percent(severe, total),
        ]

    def subjects_with(rows: list[AnalysisRow]) -> int:
        return len({r["USUBJID"] for r in rows})

    table_rows = [("Any TEAE", "", *cells("AOCCFL", "AOCCIFL", teae))]
    socs: dict[str, list[AnalysisRow]] = {}
    for row in teae:
        socs.setdefault(str(row["AEBODSYS"]), []).append(row)
    for soc in sorted(socs, key=lambda s: (-subjects_with(socs[s]), s)):
        table_rows.append((soc, "", *cells("AOCCSFL", "AOCCSIFL", socs[soc])))
        terms: dict[str, list[AnalysisRow]] = {}
        for row in socs[soc]:
            terms.setdefault(str(row["AEDECOD"]), []).append(row)
        for term in sorted(terms, key=lambda t: (-subjects_with(terms[t]), t)):
            table_rows.append((soc, term, *cells("AOCCPFL", "AOCCPIFL", terms[term])))
    return Table(
        key="t06_teae_soc_pt_grade",
        number="Table 6",
        title="Treatment-emergent adverse events by system organ class, preferred term and worst grade",
        population=analysis.heading("SAFFL"),
        columns=("System organ class", "Preferred term", "Any grade", *(f"Grade {g}" for g in GRADES), "Grade >= 3"),
        rows=table_rows,
        footnotes=(
            "A subject is counted once per row, at the worst grade of the row's events (ADAE AOCCIFL, AOCCSIFL, "
            "AOCCPIFL); 'Any grade' counts subjects with at least one event (AOCCFL, AOCCSFL, AOCCPFL).",
            "Preferred term = CTCAE v5.0 term (MedDRA PT); system organ class as NCI publishes it. Rows with an "
            "empty preferred term are the class totals. Sorted by subjects, then name.",
        ),
    )


def _syndrome_rows(analysis: Analysis, flag: str) -> list[AnalysisRow]:
    infused = {r["USUBJID"] for r in analysis.population("INFFL")}
    return [r for r in analysis.teae if r[flag] == "Y" and r["USUBJID"] in infused]


def _event(subject: SubjectRecords, row: AnalysisRow) -> Row:
    return next(e for e in subject.adverse_events if str(e["ae_number"]) == row["AESPID"])


def _days_after_infusion(subject: SubjectRecords, row: AnalysisRow) -> int | None:
    """Days from the latest JK500 infusion on or before onset to onset."""
    onset = _event(subject, row)["onset_date"]
    starts = [d for i in subject.infusions if (d := utc_date(i["started_at"])) is not None and d <= onset]
    return (onset - max(starts)).days if starts else None


def _crs_treatment(subject: SubjectRecords, row: AnalysisRow, column: str) -> bool:
    event = _event(subject, row)
    return any(a[column] for a in subject.crs if a["adverse_event_id"] == event["id"])


def _treated(analysis: Analysis, events: list[AnalysisRow], column: str, total: int) -> str:
    """Subjects whose CRS assessments record ``column`` (tocilizumab or steroids) for one of ``events``."""
    given = {r["USUBJID"] for r in events if _crs_treatment(analysis.data.subject(str(r["USUBJID"])), r, column)}
    return count_percent(len(given), total)


def _syndrome_column(analysis: Analysis, flag: str, total: int) -> list[str]:
    events = _syndrome_rows(analysis, flag)
    subjects = sorted({str(r["USUBJID"]) for r in events})
    worst = {s: max(_grade(r) for r in events if r["USUBJID"] == s) for s in subjects}
    first_onset = [min(int(str(r["ASTPDAY"])) for r in events if r["USUBJID"] == s) for s in subjects]
    after = [_days_after_infusion(analysis.data.subject(str(r["USUBJID"])), r) for r in events]
    durations = [int(str(r["ADURN"])) for r in events if r["ADURN"] is not None]
    crs = flag == "CRSFL"
    return [
        count_percent(len(subjects), total),
        str(len(events)),
        *(count_percent(sum(1 for g in worst.values() if g == grade), total) for grade in GRADES),
        count_percent(sum(1 for g in worst.values() if g >= 3), total),
        median_range(first_onset),
        median_range([d for d in after if d is not None]),
        median_range(durations),
        str(sum(1 for r in events if r["ADURN"] is None)),
        _treated(analysis, events, "tocilizumab_given", total) if crs else MISSING,
        _treated(analysis, events, "steroids_given", total) if crs else MISSING,
        str(sum(1 for r in events if r["AEINVGRN"] != r["AETOXGRN"])),
    ]


def crs_icans_summary(analysis: Analysis) -> Table:
    total = len(analysis.population("INFFL"))
    crs, icans = (_syndrome_column(analysis, flag, total) for flag in ("CRSFL", "ICANSFL"))
    labels = [
        "Subjects with at least one episode, n (%)",
        "Episodes, n",
        *(f"Maximum grade {g}, n (%)" for g in GRADES),
        "Maximum grade 3 or higher, n (%)",
        "Onset of the first episode, protocol day, median (range)",
        "Onset after the latest infusion, days, median (range)",
        "Duration of resolved episodes, days, median (range)",
        "Episodes unresolved (no end date), n",
        "Tocilizumab given, subjects, n (%)",
        "Corticosteroids given, subjects, n (%)",
        "Episodes whose investigator grade differs from the derived ASTCT grade, n",
    ]
    return Table(
        key="t07_crs_icans",
        number="Table 7",
        title="Cytokine release syndrome and ICANS: onset, maximum grade and duration",
        population=analysis.heading("INFFL"),
        columns=("Measure", "CRS", "ICANS"),
        rows=list(zip(labels, crs, icans, strict=True)),
        footnotes=(
            "Graded by the ASTCT 2019 consensus (Lee et al., Biol Blood Marrow Transplant 2019;25:625): the episode's "
            "highest grade derived from its assessments (ADAE AETOXGR with AECAT), the investigator's otherwise; "
            "Listing 3 shows both.",
            "Protocol day (ADAE ASTPDAY): day 0 = first JK500 infusion. Duration = end - onset + 1 days (ADAE ADURN). "
            "Treatment-emergent events of infused subjects; ICANS is recorded under 'Nervous system disorders - "
            "Other, specify' (ADAE ICANSFL).",
        ),
    )


def crs_icans_listing(analysis: Analysis) -> Table:
    rows: list[tuple[str, ...]] = []
    for flag, name in (("CRSFL", "CRS"), ("ICANSFL", "ICANS")):
        for row in _syndrome_rows(analysis, flag):
            subject = analysis.data.subject(str(row["USUBJID"]))
            crs = flag == "CRSFL"
            rows.append(
                (
                    str(row["USUBJID"]),
                    name,
                    str(row["AESPID"]),
                    text(row["ASTPDAY"]),
                    text(_days_after_infusion(subject, row)),
                    text(row["AENPDAY"]),
                    text(row["ADURN"]),
                    str(row["AETOXGRN"]),
                    "Yes" if row["AECAT"] is not None else "No",
                    str(row["AEINVGRN"]),
                    ("Yes" if _crs_treatment(subject, row, "tocilizumab_given") else "No") if crs else MISSING,
                    ("Yes" if _crs_treatment(subject, row, "steroids_given") else "No") if crs else MISSING,
                    text(row["AEOUT"]),
                )
            )
    rows.sort(key=lambda r: (r[0], r[1], int(r[2])))
    return Table(
        key="l03_crs_icans",
        number="Listing 3",
        title="Cytokine release syndrome and ICANS episodes",
        population=analysis.heading("INFFL"),
        columns=(
            "Subject",
            "Syndrome",
            "AE number",
            "Onset (protocol day)",
            "Days after latest infusion",
            "End (protocol day)",
            "Duration (days)",
            "Grade",
            "Grade derived from assessments",
            "Investigator's grade",
            "Tocilizumab",
            "Corticosteroids",
            "Outcome",
        ),
        rows=rows,
        footnotes=(
            "Grade: ADAE AETOXGR, the highest ASTCT 2019 grade of the episode's assessments when it was derived from "
            "them (ADAE AECAT), the investigator's grade otherwise.",
        ),
    )


def _dlt_footnote(analysis: Analysis) -> str:
    settings = analysis.data.settings
    return (
        f"DLT window: days 0-{settings.dlt_window_days} after the first JK500 infusion (settings dlt.window_days, "
        f"dlt.anchor = {settings.dlt_anchor}); candidate: onset in the window, grade >= {settings.dlt_min_grade} "
        f"(dlt.min_grade), not attributed to progressive disease, concomitant disease or medication "
        f"({rule_label(DLT_RULE, '1')}); the investigator confirms each DLT."
    )


def dlt_summary(analysis: Analysis) -> Table:
    evaluable = analysis.population("DLTEVFL")
    total = len(evaluable)
    names = {r["USUBJID"] for r in evaluable}
    with_dlt = len({r["USUBJID"] for r in analysis.adae if r["DLTFL"] == "Y" and r["DLTWFL"] == "Y"} & names)
    candidates = [r for r in analysis.adae if r["DLTCFL"] == "Y"]
    rows: list[tuple[str, ...]] = [
        ("DLT-evaluable subjects, n", str(total)),
        ("Subjects with a confirmed DLT, n (%)", count_percent(with_dlt, total)),
        ("95% CI (Clopper-Pearson exact), %", interval(clopper_pearson(with_dlt, total)) if total else MISSING),
        ("DLT candidates (derived), events", str(len(candidates))),
        ("Confirmed as DLT by the investigator, events", str(sum(1 for r in candidates if r["DLTDEC"] == "CONFIRMED"))),
        ("Judged not a DLT, events", str(sum(1 for r in candidates if r["DLTDEC"] == "NOT A DLT"))),
        ("Awaiting the investigator's decision, events", str(sum(1 for r in candidates if r["DLTDEC"] is None))),
    ]
    return Table(
        key="t08_dlt",
        number="Table 8",
        title="Dose-limiting toxicities",
        population=analysis.heading("DLTEVFL"),
        columns=("Measure", "Value"),
        rows=rows,
        footnotes=(
            _dlt_footnote(analysis),
            "DLT-evaluable: infused, and a confirmed DLT in the window or observed to the window's last day (ADSL "
            "DLTEVFL).",
        ),
    )


def dlt_listing(analysis: Analysis) -> Table:
    rows: list[tuple[str, ...]] = []
    for row in analysis.adae:
        if row["DLTCFL"] != "Y" and row["DLTDEC"] is None:
            continue
        event = _event(analysis.data.subject(str(row["USUBJID"])), row)
        rows.append(
            (
                str(row["USUBJID"]),
                str(row["DLTEVFL"]),
                str(row["AESPID"]),
                str(row["AETERM"]),
                str(row["AEDECOD"]),
                text(row["ASTPDAY"]),
                str(row["AETOXGRN"]),
                "Yes" if row["DLTWFL"] == "Y" else "No",
                "Yes" if event["attributed_elsewhere"] else "No",
                "Yes" if row["DLTCFL"] == "Y" else "No",
                text(row["DLTDEC"] or "awaiting decision"),
                text(row["AEREL"]),
            )
        )
    return Table(
        key="l04_dlt",
        number="Listing 4",
        title="DLT candidates and investigator decisions",
        population=analysis.heading("SAFFL"),
        columns=(
            "Subject",
            "DLT-evaluable",
            "AE number",
            "Reported term",
            "Preferred term",
            "Onset (protocol day)",
            "Grade",
            "In DLT window",
            "Attributed elsewhere",
            "Candidate (derived)",
            "Investigator decision",
            "Relationship to JK500",
        ),
        rows=rows,
        footnotes=(_dlt_footnote(analysis),),
    )


SERIOUSNESS_WORDS = {
    "AESDTH": "death",
    "AESLIFE": "life-threatening",
    "AESHOSP": "hospitalisation",
    "AESDISAB": "disability",
    "AESCONG": "congenital anomaly",
    "AESMIE": "medically important",
}


def sae_listing(analysis: Analysis) -> Table:
    rows = [
        (
            str(row["USUBJID"]),
            str(row["AESPID"]),
            str(row["AETERM"]),
            str(row["AEDECOD"]),
            text(row["ASTPDAY"]),
            text(row["AENPDAY"]),
            str(row["AETOXGRN"]),
            "; ".join(word for name, word in SERIOUSNESS_WORDS.items() if row[name] == "Y"),
            text(row["AEREL"]),
            text(row["AEOUT"]),
            "Yes" if row["TRTEMFL"] == "Y" else "No",
        )
        for row in analysis.adae
        if row["AESER"] == "Y"
    ]
    return Table(
        key="l05_sae",
        number="Listing 5",
        title="Serious adverse events",
        population=f"All screened subjects (N = {len(analysis.adsl)})",
        columns=(
            "Subject",
            "AE number",
            "Reported term",
            "Preferred term",
            "Onset (protocol day)",
            "End (protocol day)",
            "Grade",
            "Seriousness criteria",
            "Relationship to JK500",
            "Outcome",
            "Treatment-emergent",
        ),
        rows=rows,
        footnotes=(
            "Protocol day (ADAE ASTPDAY, AENPDAY): day 0 = first JK500 infusion; the mark when the subject had no "
            "infusion.",
        ),
    )


def death_listing(analysis: Analysis) -> Table:
    rows: list[tuple[str, ...]] = []
    for subject in analysis.data.subjects:
        death = subject.death
        if death is None:
            continue
        fatal = next((e for e in subject.adverse_events if e["id"] == death["adverse_event_id"]), None)
        last = max((d for i in subject.infusions if (d := utc_date(i["started_at"])) is not None), default=None)
        fatal_text = MISSING
        if fatal is not None:
            term = analysis.data.terms[fatal["ctcae_term_id"]]["term"]
            fatal_text = f"AE {fatal['ae_number']}: {fatal['verbatim'] or term}"
        rows.append(
            (
                subject.usubjid,
                death["death_date"].isoformat(),
                text(protocol_day(death["death_date"], subject)),
                text(None if last is None else (death["death_date"] - last).days),
                str(death["cause"]).replace("_", " "),
                text(death["cause_text"]),
                fatal_text,
                {True: "Yes", False: "No", None: MISSING}[death["autopsy"]],
            )
        )
    return Table(
        key="l06_deaths",
        number="Listing 6",
        title="Deaths",
        population=f"All screened subjects (N = {len(analysis.adsl)})",
        columns=(
            "Subject",
            "Date of death",
            "Protocol day",
            "Days after the last infusion",
            "Cause",
            "Cause as recorded",
            "Fatal adverse event",
            "Autopsy",
        ),
        rows=rows,
    )
