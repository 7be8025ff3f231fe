"""Adverse-event heat map: subject × CTCAE term, each cell the worst grade of that term in that subject.

Columns are subjects by subject number (SDTM SUBJID); rows are terms ordered by how many subjects had them
(most first), then by name. Grades are ADAE's AETOXGRN as stored (CTCAE v5.0; the ASTCT episode maximum for CRS
and ICANS), on a discrete scale 1-5 with the number written in the cell; an empty cell is no event. Every
recorded adverse event counts, before treatment too. Pages hold :data:`SUBJECTS_PER_PAGE` subjects, at most
:data:`MAX_SUBJECTS` subjects and :data:`MAX_TERMS` terms are drawn, and the caption says what was left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap

from jk500db.export.plots import style
from jk500db.export.plots.courses import PlotData

NAME = "ae_heatmap"
SUBJECTS_PER_PAGE = 60
MAX_SUBJECTS = 120
MAX_TERMS = 50
CELL_IN = 0.2
#: a term longer than this is shortened with "…" on the axis (the full term is in the tidy and SDTM exports)
LABEL_CHARS = 80
SUBJECT_LABELS_IN = 0.45
COLOURBAR_IN = 0.9
MIN_WIDTH_IN = 7.5
GRADES = (1, 2, 3, 4, 5)


def term_order(worst_grades: dict[str, dict[str, int]]) -> list[str]:
    """Every term, by the number of subjects who had it (most first), then by name."""
    subjects: dict[str, int] = {}
    for terms in worst_grades.values():
        for term in terms:
            subjects[term] = subjects.get(term, 0) + 1
    return sorted(subjects, key=lambda term: (-subjects[term], term.casefold(), term))


def write(data: PlotData, folder: Path) -> list[Path]:
    title = f"{data.study_code}: worst adverse-event grade by subject and CTCAE term"
    subjects = sorted(data.worst_grades)[:MAX_SUBJECTS]
    terms = term_order(data.worst_grades)
    if not subjects:
        caption = _caption(data, 0, 0, None)
        message = "No adverse event has been recorded yet: no grade to draw."
        return style.empty_page(folder, style.page_stem(NAME, 1), title, message, caption)
    shown_terms = terms[:MAX_TERMS]
    files: list[Path] = []
    page_ranges = style.pages(len(subjects), SUBJECTS_PER_PAGE)
    for number, indexes in enumerate(page_ranges, start=1):
        page = [subjects[i] for i in indexes]
        several = len(page_ranges) > 1
        page_title = f"{title} (page {number} of {len(page_ranges)})" if several else title
        caption = _caption(data, len(subjects), len(terms), (page[0], page[-1]) if several else None)
        grid = [[data.worst_grades[s].get(t, 0) for s in page] for t in shown_terms]
        files += _page(page, shown_terms, grid, folder, style.page_stem(NAME, number), page_title, caption)
    return files


def _caption(data: PlotData, shown: int, terms: int, page: tuple[str, str] | None) -> str:
    total = len(data.worst_grades)
    coverage = f"{total} subjects with an adverse event"
    if shown < total:
        coverage += f"; the first {shown} by subject number are shown (every event is in the tidy and SDTM exports)"
    if terms > MAX_TERMS:
        coverage += f"; the {MAX_TERMS} most frequent of {terms} terms are shown"
    if page is not None:
        coverage += f"; this page: {page[0]} to {page[1]}"
    if data.without_events:
        coverage += f". {data.without_events} subjects without an adverse event are not drawn"
    return "\n".join(
        (
            "Cell: the worst grade of the term in the subject over all recorded adverse events (before treatment "
            "too), CTCAE v5.0 as the investigator graded it; for CRS and ICANS episodes the stored ASTCT 2019 "
            "grade (as ADAE AETOXGRN). Empty: no such event. Rows: terms by the number of subjects with the term, "
            "then by name; an 'Other, specify' term is named by the investigator's words. Columns: subject "
            "number (SUBJID).",
            coverage + ".",
            data.data_note,
        )
    )


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def _page(
    subjects: list[str], terms: list[str], grid: list[list[int]], folder: Path, stem: str, title: str, caption: str
) -> list[Path]:
    labels = [_short(t) for t in terms]
    labels_in = min(4.6, max(len(label) for label in labels) * (style.FONT_SIZE - 1) * 0.58 / 72 + 0.15)
    grid_width, grid_height = len(subjects) * CELL_IN, len(terms) * CELL_IN
    width = max(MIN_WIDTH_IN, 2 * style.MARGIN_IN + labels_in + grid_width + COLOURBAR_IN)
    lines = style.wrap(caption, width - 2 * style.MARGIN_IN)
    bottom = style.MARGIN_IN / 2 + style.caption_height(lines) + SUBJECT_LABELS_IN
    height = bottom + grid_height + SUBJECT_LABELS_IN + style.TITLE_IN
    figure = style.new_figure(width, height)
    frame = style.Frame(figure, width, height)
    style.draw_header(frame, title)
    left = style.MARGIN_IN + labels_in
    axes = frame.axes(left, bottom, grid_width, grid_height)
    colours = ListedColormap([style.GRADE_COLOURS[g] for g in GRADES])
    norm = BoundaryNorm([g - 0.5 for g in (*GRADES, 6)], colours.N)
    values = np.ma.masked_equal(np.array(grid, dtype=float), 0)
    mesh = axes.pcolormesh(values, cmap=colours, norm=norm, edgecolors="white", linewidth=0.6)
    _write_grades(axes, grid)
    _axes_style(axes, subjects, labels)
    bar_height = min(grid_height, 1.6)
    colour_bar = frame.axes(left + grid_width + 0.2, bottom + grid_height - bar_height, 0.15, bar_height)
    bar = figure.colorbar(mesh, cax=colour_bar, ticks=list(GRADES))
    bar.set_label("Worst grade", fontsize=style.FONT_SIZE - 1)
    bar.ax.tick_params(labelsize=style.FONT_SIZE - 1)
    style.draw_caption(frame, lines)
    return style.save(figure, folder, stem, title)


def _write_grades(axes: Axes, grid: list[list[int]]) -> None:
    """The grade as a number in its cell too: readable without telling the colours apart."""
    for row, grades in enumerate(grid):
        for column, grade in enumerate(grades):
            if grade:
                colour = "white" if grade >= 4 else "black"
                axes.text(column + 0.5, row + 0.5, str(grade), ha="center", va="center", fontsize=5.5, color=colour)


def _axes_style(axes: Axes, subjects: list[str], terms: list[str]) -> None:
    axes.set_xlim(0, len(subjects))
    axes.set_ylim(len(terms), 0)  # the most frequent term on top
    axes.set_xticks([i + 0.5 for i in range(len(subjects))], subjects, rotation=90, fontsize=style.FONT_SIZE - 1.5)
    axes.set_yticks([i + 0.5 for i in range(len(terms))], terms)
    axes.tick_params(axis="x", labeltop=True, top=True, length=0)
    axes.tick_params(axis="y", length=0)
    axes.set_facecolor("white")
    for spine in axes.spines.values():
        spine.set_color("#bdbdbd")
