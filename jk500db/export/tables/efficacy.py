"""ELN 2022 best response, ORR and composite remission rates with exact Clopper–Pearson 95% CIs."""

from __future__ import annotations

from collections.abc import Callable, Collection

from jk500db.clinical import eln
from jk500db.export.adam import (
    BestResponse,
    SubjectRecords,
    best_response,
    orr_responder,
    protocol_day,
    response_assessments,
)
from jk500db.export.tables.analysis import Analysis
from jk500db.export.tables.binomial import clopper_pearson
from jk500db.export.tables.layout import MISSING, Table, count_percent, interval, text

NO_ASSESSMENT = "No classified post-infusion assessment"


def _orr_label(analysis: Analysis) -> str:
    parts = ["CR", "CRh", "CRi", "PR"] if analysis.data.settings.orr_includes_crh else ["CR", "CRi", "PR"]
    return "ORR (" + " + ".join(parts) + ")"


def _rate_rows(label: str, subjects: list[SubjectRecords], counts: Callable[[SubjectRecords], bool]) -> list[str]:
    total = len(subjects)
    hits = sum(1 for s in subjects if counts(s))
    ci = interval(clopper_pearson(hits, total)) if total else MISSING
    return [label, count_percent(hits, total), ci]


def _best_in(
    best: dict[str, BestResponse | None], categories: Collection[str], *, mrd_negative: bool = False
) -> Callable[[SubjectRecords], bool]:
    """Whether a subject's best response is one of ``categories`` (and MRD-negative, when asked)."""

    def keep(subject: SubjectRecords) -> bool:
        found = best[subject.usubjid]
        return found is not None and found.category in categories and (found.mrd_negative or not mrd_negative)

    return keep


def best_response_table(analysis: Analysis) -> Table:
    settings = analysis.data.settings
    populations = [analysis.subjects("INFFL"), analysis.subjects("RSPEVFL")]
    best = {s.usubjid: best_response(s) for s in populations[0]}

    def category_row(label: str, keep: Callable[[SubjectRecords], bool]) -> tuple[str, ...]:
        return (label, *(count_percent(sum(1 for s in p if keep(s)), len(p)) for p in populations))

    rows: list[tuple[str, ...]] = []
    for category in eln.CATEGORIES:
        rows.append(category_row(category, _best_in(best, {category})))
        if category == "CR":
            rows.append(category_row("CR, MRD-negative (of which)", _best_in(best, {"CR"}, mrd_negative=True)))
    rows.append(category_row(NO_ASSESSMENT, lambda s: best[s.usubjid] is None))
    rates: list[tuple[str, Callable[[SubjectRecords], bool]]] = [
        (_orr_label(analysis), lambda s: orr_responder(s, settings)),
        ("CR + CRh", _best_in(best, {"CR", "CRh"})),
        ("CR", _best_in(best, {"CR"})),
    ]
    for label, counts in rates:
        cells = [_rate_rows(label, p, counts) for p in populations]
        rows.append((label + ", n (%)", cells[0][1], cells[1][1]))
        rows.append((label + ", 95% CI (Clopper-Pearson exact), %", cells[0][2], cells[1][2]))
    return Table(
        key="t09_best_response",
        number="Table 9",
        title="Best overall response (ELN 2022) and response rates",
        population=f"{analysis.heading('INFFL')}; {analysis.heading('RSPEVFL')}",
        columns=(
            "Best response (ELN 2022)",
            f"Infused (N = {len(populations[0])})",
            f"Response-evaluable (N = {len(populations[1])})",
        ),
        rows=rows,
        footnotes=(
            "Best response: the best derived ELN 2022 category (Döhner et al., Blood 2022;140:1345) among assessments "
            "on or after day 0 and before any stem-cell transplant, in ELN order CR > CRh > CRi > MLFS > PR > NR > NE.",
            f"{_orr_label(analysis)}: registry NCT05519384 (ORR = CR + CRi + PR); setting orr.includes_crh = "
            f"{'true' if settings.orr_includes_crh else 'false'}; MLFS does not count "
            f"({eln.ORR_RULE_ID} v{eln.RULE_VERSION}). A subject responds when any counted assessment is in an ORR "
            "category.",
            "95% CI: exact Clopper-Pearson (beta quantiles computed as binomial tails, exact to 1e-20).",
        ),
    )


def best_response_listing(analysis: Analysis) -> Table:
    settings = analysis.data.settings
    rows: list[tuple[str, ...]] = []
    for subject in analysis.subjects("INFFL"):
        best = best_response(subject)
        counted = response_assessments(subject)
        rows.append(
            (
                subject.usubjid,
                str(len(counted)),
                MISSING if best is None else best.label,
                MISSING if best is None else str(best.protocol_day),
                MISSING if best is None else text(best.investigator_category),
                "Yes" if orr_responder(subject, settings) else "No",
                "Yes" if any(r["eln_category"] not in (None, "NE") for r in counted) else "No",
                text(protocol_day(subject.transplant_date, subject)),
            )
        )
    return Table(
        key="l07_best_response",
        number="Listing 7",
        title="Best overall response by subject",
        population=analysis.heading("INFFL"),
        columns=(
            "Subject",
            "Assessments counted",
            "Best response (derived)",
            "Protocol day of best response",
            "Investigator's category at that assessment",
            "ORR responder",
            "Response-evaluable",
            "Stem-cell transplant (protocol day)",
        ),
        rows=rows,
        footnotes=(
            "Assessments counted: on or after day 0 (first JK500 infusion) and before any stem-cell transplant.",
        ),
    )
