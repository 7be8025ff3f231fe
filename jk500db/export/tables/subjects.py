"""Disposition, demographics and exposure (doses given, cell doses, dose and protocol deviations)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from jk500db.clinical import dosing
from jk500db.export.adam import SubjectRecords, protocol_day, utc_date
from jk500db.export.snapshot import Row
from jk500db.export.tables.analysis import Analysis, AnalysisRow
from jk500db.export.tables.layout import (
    MISSING,
    Table,
    count_percent,
    mean_sd,
    median_range,
    median_range_scientific,
    rounded,
    scientific,
    text,
)
from jk500db.models.vocabularies import Agent

#: Dose differences are printed as the dosing rule words them: two decimals.
HUNDREDTHS = Decimal("0.01")
AGENT_NAMES = {
    Agent.CYCLOPHOSPHAMIDE: "Cyclophosphamide",
    Agent.FLUDARABINE: "Fludarabine",
    Agent.IL2: "IL-2",
    Agent.JK500: "JK500",
}


def disposition(analysis: Analysis) -> Table:
    everyone = analysis.adsl
    enrolled = analysis.population("ENRLFL")
    infused = analysis.population("INFFL")
    screened, n_enrolled, n_infused = len(everyone), len(enrolled), len(infused)
    planned = _planned_doses(analysis, Agent.JK500)
    failures = [r for r in everyone if r["DCSREAS"] == "SCREEN FAILURE"]
    rows: list[tuple[str, ...]] = [
        ("Screened", str(screened), MISSING),
        ("Screen failure", count_percent(len(failures), screened), f"screened (N = {screened})"),
    ]
    for code, count in sorted(_failed_criteria(analysis, failures).items()):
        rows.append((f"Screen failure: {code} not met", count_percent(count, screened), f"screened (N = {screened})"))
    in_screening = [r for r in everyone if r["ENRLFL"] == "N" and r["EOSSTT"] == "ONGOING"]
    rows += [
        ("Still in screening", count_percent(len(in_screening), screened), f"screened (N = {screened})"),
        ("Enrolled", count_percent(n_enrolled, screened), f"screened (N = {screened})"),
    ]
    of_enrolled = f"enrolled (N = {n_enrolled})"
    of_infused = f"infused (N = {n_infused})"
    rows += [
        (
            "Safety population (any study treatment)",
            count_percent(len(analysis.population("SAFFL")), n_enrolled),
            of_enrolled,
        ),
        ("Infused population (at least one JK500 infusion)", count_percent(n_infused, n_enrolled), of_enrolled),
        (
            f"Received all {planned} planned JK500 infusions",
            count_percent(sum(1 for r in infused if planned and int(str(r["INFNUM"])) >= planned), n_enrolled),
            of_enrolled,
        ),
        ("DLT-evaluable population", count_percent(len(analysis.population("DLTEVFL")), n_infused), of_infused),
        ("Response-evaluable population", count_percent(len(analysis.population("RSPEVFL")), n_infused), of_infused),
        (
            "Stem-cell transplant after JK500",
            count_percent(sum(1 for r in infused if r["HSCTDT"]), n_infused),
            of_infused,
        ),
    ]
    status = Counter(_status(r) for r in enrolled)
    for label in sorted(status, key=lambda s: (s != "Ongoing", s != "Completed", s)):
        rows.append((f"Study status: {label}", count_percent(status[label], n_enrolled), of_enrolled))
    return Table(
        key="t01_disposition",
        number="Table 1",
        title="Subject disposition",
        population=f"All screened subjects (N = {screened})",
        columns=("Category", "n (%)", "Percent of"),
        rows=rows,
        footnotes=(
            "Screen-failure criteria are those whose status (the investigator's where it differs from the derived "
            "one) is 'fail'; a subject can fail more than one.",
            "Populations as defined in ADSL (SAFFL, INFFL, DLTEVFL, RSPEVFL); study status from the end-of-study "
            "form, 'Ongoing' without one.",
        ),
    )


def _status(row: AnalysisRow) -> str:
    if row["EOSSTT"] == "DISCONTINUED":
        return str(row["DCSREAS"]).capitalize()
    return str(row["EOSSTT"]).capitalize()


def _failed_criteria(analysis: Analysis, failures: list[AnalysisRow]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for row in failures:
        subject = analysis.data.subject(str(row["USUBJID"]))
        for criterion in subject.criteria:
            status = criterion["investigator_status"] or criterion["status"]
            if str(status) == "fail":
                counts[criterion["code"]] += 1
    return counts


def _planned_doses(analysis: Analysis, agent: Agent) -> int:
    item = analysis.data.regimen.get(agent)
    return int(item["planned_doses"]) if item is not None else 0


def demographics(analysis: Analysis) -> Table:
    population = analysis.population("SAFFL")
    total = len(population)
    ages = [r["AGE"] for r in population if isinstance(r["AGE"], int)]
    rows: list[tuple[str, ...]] = [
        ("Age (years)", "n", str(len(ages))),
        ("Age (years)", "Mean (SD)", mean_sd(ages)),
        ("Age (years)", "Median (range)", median_range(ages)),
    ]
    for group in ("<12", ">=12"):
        rows.append(
            ("Age group (years)", group, count_percent(sum(1 for r in population if r["AGEGR1"] == group), total))
        )
    for sex, label in (("F", "Female"), ("M", "Male"), ("U", "Unknown")):
        count = sum(1 for r in population if r["SEX"] == sex)
        if count or sex != "U":
            rows.append(("Sex", label, count_percent(count, total)))
    for site in sorted({str(r["SITEID"]) for r in population}):
        rows.append(("Site", site, count_percent(sum(1 for r in population if r["SITEID"] == site), total)))
    subjects = analysis.subjects("SAFFL")
    status = Counter(_disease_status(s) for s in subjects)
    for label in ("Primary refractory", "Relapsed", "Not recorded"):
        if status[label] or label != "Not recorded":
            rows.append(("Disease status at entry", label, count_percent(status[label], total)))
    prior_hsct = sum(1 for s in subjects if s.history is not None and s.history["prior_hsct"])
    rows.append(("Prior stem-cell transplant", "Yes", count_percent(prior_hsct, total)))
    weights = [s.infusions[0]["weight_kg"] for s in subjects if s.infusions and s.infusions[0]["weight_kg"]]
    rows.append(("Weight at first infusion (kg)", "Median (range)", median_range(weights)))
    return Table(
        key="t02_demographics",
        number="Table 2",
        title="Demographics and baseline characteristics",
        population=analysis.heading("SAFFL"),
        columns=("Characteristic", "Statistic", f"Safety population (N = {total})"),
        rows=rows,
        footnotes=(
            "Age in completed years at the guardian's consent (birth dates are not exported).",
            "Relapsed: a relapse date is recorded in the disease history; primary refractory otherwise.",
        ),
    )


def _disease_status(subject: SubjectRecords) -> str:
    if subject.history is None:
        return "Not recorded"
    return "Relapsed" if subject.history["relapse_year"] is not None else "Primary refractory"


def _regimen_label(analysis: Analysis, agent: Agent) -> str:
    item = analysis.data.regimen.get(agent)
    if item is None:
        return AGENT_NAMES[agent]
    return f"{AGENT_NAMES[agent]} {item['dose_amount']} {item['dose_basis']}"


def _infusion_deviation(analysis: Analysis, infusion: Row) -> dosing.DeviationResult | None:
    """The dosing rule's deviation of an infusion's cells/kg from the planned dose, when both are known."""
    planned, actual = infusion["planned_cells_per_kg"], infusion["dose_cells_per_kg"]
    if planned is None or actual is None or planned <= 0:
        return None
    return dosing.dose_deviation(planned, actual, analysis.data.settings)


def exposure(analysis: Analysis) -> Table:
    subjects = analysis.subjects("SAFFL")
    total = len(subjects)
    rows: list[tuple[str, ...]] = []
    for agent in (Agent.CYCLOPHOSPHAMIDE, Agent.FLUDARABINE, Agent.IL2):
        planned = _planned_doses(analysis, agent)
        doses = {s.usubjid: [a for a in s.administrations if a["agent"] == agent] for s in subjects}
        given = {k: [a for a in v if not a["not_given"]] for k, v in doses.items()}
        rows.append(
            (
                _regimen_label(analysis, agent),
                str(planned),
                count_percent(sum(1 for v in given.values() if v), total),
                count_percent(sum(1 for v in given.values() if planned and len(v) >= planned), total),
                str(sum(len(v) for v in given.values())),
                str(sum(1 for v in doses.values() for a in v if a["not_given"])),
                str(sum(1 for v in given.values() for a in v if a["deviation"])),
            )
        )
    planned = _planned_doses(analysis, Agent.JK500)
    infusions = {s.usubjid: s.infusions for s in subjects}
    deviating = [i for v in infusions.values() for i in v if (d := _infusion_deviation(analysis, i)) and d.deviation]
    rows.append(
        (
            _regimen_label(analysis, Agent.JK500),
            str(planned),
            count_percent(sum(1 for v in infusions.values() if v), total),
            count_percent(sum(1 for v in infusions.values() if planned and len(v) >= planned), total),
            str(sum(len(v) for v in infusions.values())),
            str(sum(1 for v in infusions.values() for i in v if not i["completed"])),
            str(len(deviating)),
        )
    )
    limit = analysis.data.settings.dose_deviation_pct
    return Table(
        key="t03_exposure",
        number="Table 3",
        title="Exposure to study treatment",
        population=analysis.heading("SAFFL"),
        columns=(
            "Treatment (protocol dose)",
            "Planned doses per subject",
            "Subjects dosed, n (%)",
            "Subjects with all planned doses, n (%)",
            "Doses given",
            "Doses not given (JK500: infusions not completed)",
            f"Doses deviating > {limit}% from plan",
        ),
        rows=rows,
        footnotes=(
            f"A dose deviates when |actual - planned| / planned x 100 > {limit} (setting dosing.deviation_pct; "
            f"rule {dosing.DEVIATION_RULE_ID} v{dosing.RULE_VERSION}); the planned dose is the stored derivation "
            "(BSA by the setting dosing.bsa_formula, rounded to dosing.bsa_round_dp places, for per-m2 doses).",
            "JK500: cells infused / weight against the protocol cells/kg of the study definition in force.",
        ),
    )


def cell_dose(analysis: Analysis) -> Table:
    subjects = analysis.subjects("INFFL")
    adsl = analysis.population("INFFL")
    total = len(subjects)
    infusions = [i for s in subjects for i in s.infusions]
    most = max([_planned_doses(analysis, Agent.JK500), *(len(s.infusions) for s in subjects)])
    counts = Counter(len(s.infusions) for s in subjects)
    rows: list[tuple[str, ...]] = [
        ("Infusions received per subject", str(k), count_percent(counts[k], total)) for k in range(1, most + 1)
    ]
    per_kg = [i["dose_cells_per_kg"] for i in infusions if i["dose_cells_per_kg"] is not None]
    cumulative = [r["INFCUMKG"] for r in adsl if isinstance(r["INFCUMKG"], Decimal)]
    viability = [i["viability_pct"] for i in infusions if i["viability_pct"] is not None]
    deviating = [i for i in infusions if (d := _infusion_deviation(analysis, i)) and d.deviation]
    rows += [
        ("Infusions per subject", "Median (range)", median_range([len(s.infusions) for s in subjects])),
        ("Infusions given", "n", str(len(infusions))),
        ("Cell dose per infusion (cells/kg)", "Median (range)", median_range_scientific(per_kg)),
        ("Cumulative cell dose per subject (cells/kg)", "Median (range)", median_range_scientific(cumulative)),
        ("Cell viability of the product (%)", "Median (range)", median_range(viability)),
        ("Infusions not completed", "n", str(sum(1 for i in infusions if not i["completed"]))),
        ("Infusions with an infusion reaction", "n", str(sum(1 for i in infusions if i["infusion_reaction"]))),
        ("Infusions deviating from the planned cells/kg", "n", str(len(deviating))),
    ]
    return Table(
        key="t04_cell_dose",
        number="Table 4",
        title="JK500 infusions and cell dose",
        population=analysis.heading("INFFL"),
        columns=("Measure", "Statistic", f"Infused population (N = {total})"),
        rows=rows,
        footnotes=(
            "Cell dose per infusion = cells infused / weight (kg), the stored derivation; cumulative = exact sum "
            "over the infusions received (ADSL INFCUMKG). Doses are printed to three significant digits.",
        ),
    )


def dose_deviations(analysis: Analysis) -> Table:
    rows: list[tuple[str, ...]] = []
    for subject in analysis.subjects("SAFFL"):
        for dose in subject.administrations:
            if not (dose["deviation"] or dose["not_given"]):
                continue
            day = protocol_day(utc_date(dose["started_at"]), subject)
            rows.append(
                (
                    subject.usubjid,
                    AGENT_NAMES[Agent(str(dose["agent"]))],
                    str(dose["dose_number"]),
                    text(day),
                    text(dose["planned_dose"]),
                    "not given" if dose["not_given"] else text(dose["actual_dose"]),
                    str(dose["dose_unit"]),
                    MISSING if dose["deviation_pct"] is None else rounded(dose["deviation_pct"], HUNDREDTHS),
                    text(dose["not_given_reason"]),
                )
            )
        for infusion in subject.infusions:
            result = _infusion_deviation(analysis, infusion)
            if not ((result and result.deviation) or not infusion["completed"]):
                continue
            rows.append(
                (
                    subject.usubjid,
                    "JK500",
                    str(infusion["infusion_number"]),
                    text(protocol_day(utc_date(infusion["started_at"]), subject)),
                    scientific(infusion["planned_cells_per_kg"]),
                    scientific(infusion["dose_cells_per_kg"]),
                    "cells/kg",
                    MISSING if result is None else rounded(result.pct, HUNDREDTHS),
                    "not completed: " + str(infusion["not_completed_reason"]) if not infusion["completed"] else MISSING,
                )
            )
    return Table(
        key="l01_dose_deviations",
        number="Listing 1",
        title="Doses deviating from plan, not given or not completed",
        population=analysis.heading("SAFFL"),
        columns=(
            "Subject",
            "Treatment",
            "Dose number",
            "Protocol day",
            "Planned dose",
            "Actual dose",
            "Unit",
            "Difference from plan (%)",
            "Reason",
        ),
        rows=rows,
        footnotes=(
            f"Deviation rule as in Table 3 (limit {analysis.data.settings.dose_deviation_pct} %). "
            "Protocol day 0 = first JK500 infusion.",
        ),
    )


def protocol_deviations(analysis: Analysis) -> Table:
    rows = [
        (
            subject.usubjid,
            deviation["occurred_on"].isoformat(),
            text(protocol_day(deviation["occurred_on"], subject)),
            str(deviation["category"]),
            str(deviation["severity"]),
            str(deviation["description"]),
            text(deviation["reported_on"].isoformat() if deviation["reported_on"] else None),
        )
        for subject in analysis.data.subjects
        for deviation in subject.deviations
    ]
    return Table(
        key="l02_protocol_deviations",
        number="Listing 2",
        title="Protocol deviations",
        population=f"All screened subjects (N = {len(analysis.adsl)})",
        columns=("Subject", "Date", "Protocol day", "Category", "Severity", "Description", "Reported to ethics"),
        rows=rows,
        footnotes=("Protocol day 0 = first JK500 infusion; the mark when the subject had no infusion.",),
    )
