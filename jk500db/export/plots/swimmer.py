"""Swimmer plot: one lane per subject on protocol days, from the first dose to the last observation.

Each lane shows the lymphodepletion span, every JK500 infusion, each response assessment coloured by its
stored ELN 2022 category (ringed when MRD-negative), adverse events of CTCAE grade 3 or worse at onset, CRS and
ICANS episodes with their ASTCT grade, stem-cell transplant, death, and an arrow for a subject still on study.
Lanes are named by subject number (SDTM SUBJID) only.

At most :data:`LANES_PER_PAGE` lanes go on a page (``swimmer_01.png``, ``swimmer_02.png``, ...), and at most
:data:`MAX_SUBJECTS` subjects are drawn: beyond that a swimmer plot is no longer read lane by lane, and every
subject is in the tidy, SDTM and ADaM exports. The caption says how many are shown of how many.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator
from matplotlib.transforms import offset_copy

from jk500db.clinical import eln
from jk500db.export.plots import style
from jk500db.export.plots.courses import Course, PlotData
from jk500db.export.plots.scale import KNEE_DAY, DayScale

NAME = "swimmer"
LANES_PER_PAGE = 40
MAX_SUBJECTS = 120
WIDTH_IN = 11.0
LANE_IN = 0.3
LABELS_IN = 0.75
LEGEND_COLUMNS = 5
LEGEND_ROW_IN = 0.19
TOP_TICKS_IN = 0.3
BOTTOM_AXIS_IN = 0.5

ON_STUDY = "#d9d9d9"
LYMPHODEPLETION = "#969696"
CRS = "#e7298a"
ICANS = "#7570b3"
HSCT = "#b8860b"
#: vertical place of each mark in a lane (lanes are 1 apart; larger is lower on the page)
AE_OFFSET = -0.3
CRS_OFFSET = 0.24
ICANS_OFFSET = 0.4


def write(data: PlotData, folder: Path) -> list[Path]:
    title = f"{data.study_code}: swimmer plot of each subject's course on protocol days"
    shown = data.courses[:MAX_SUBJECTS]
    if not shown:
        return style.empty_page(
            folder,
            style.page_stem(NAME, 1),
            title,
            "No subject has received lymphodepletion or JK500 yet: no course to draw.",
            _caption(data, 0, None, compressed=False),
        )
    days = _day_range(shown)
    files: list[Path] = []
    page_ranges = style.pages(len(shown), LANES_PER_PAGE)
    for number, indexes in enumerate(page_ranges, start=1):
        page = [shown[i] for i in indexes]
        page_title = f"{title} (page {number} of {len(page_ranges)})" if len(page_ranges) > 1 else title
        lanes = (page[0].label, page[-1].label) if len(page_ranges) > 1 else None
        caption = _caption(data, len(shown), lanes, compressed=days.compressed)
        files += _page(page, days, folder, style.page_stem(NAME, number), page_title, caption)
    return files


def _legend_handles() -> list[Artist]:
    """Every mark the plot can draw, whether or not this study has one yet (the legend never changes layout)."""
    handles: list[Artist] = [
        Patch(facecolor=ON_STUDY, label="On study: first dose to last observation"),
        Patch(facecolor=LYMPHODEPLETION, label="Lymphodepletion (cyclophosphamide, fludarabine)"),
        Line2D([], [], ls="", marker="v", color="black", ms=5, label="JK500 infusion"),
    ]
    handles += [
        Line2D([], [], ls="", marker="o", mfc=colour, mec="black", mew=0.5, ms=5, label=f"ELN 2022: {category}")
        for category, colour in style.RESPONSE_COLOURS.items()
    ]
    handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="black", mew=1.0, ms=8, label="MRD-negative"))
    handles += [
        Line2D([], [], ls="", marker="^", color=style.GRADE_COLOURS[g], mec="black", mew=0.3, ms=5, label=label)
        for g, label in ((3, "AE grade 3"), (4, "AE grade 4"), (5, "AE grade 5"))
    ]
    handles += [
        Line2D([], [], color=CRS, lw=2.4, label="CRS episode (ASTCT grade)"),
        Line2D([], [], color=ICANS, lw=2.4, label="ICANS episode (ASTCT grade)"),
        Line2D([], [], ls="", marker="*", color=HSCT, ms=8, label="Stem-cell transplant"),
        Line2D([], [], ls="", marker="X", color="black", ms=6, label="Death"),
        Line2D([], [], ls="", marker=">", color="#636363", ms=5, label="On study, continuing"),
    ]
    return handles


def _caption(data: PlotData, shown: int, page: tuple[str, str] | None, *, compressed: bool) -> str:
    scale = f"Days after day {KNEE_DAY} (shaded) are drawn on a compressed scale. " if compressed else ""
    anchor = (
        f"* not infused: day 0 placed so that the first lymphodepletion dose falls on planned day "
        f"{data.lymphodepletion_day}."
        if any(not c.infused for c in data.courses)
        else ""
    )
    parts = [
        "Day 0 = first JK500 infusion; day = date − day-0 date (no gap, day −1 is the day before). "
        "One lane per subject, labelled with the subject number (SUBJID), from the first study dose to the last "
        "observation. Response: ELN 2022 category as derived from the stored assessment. AE: CTCAE v5.0 grade ≥ 3 "
        "at onset, other than CRS and ICANS, which are drawn as episodes from onset to resolution (to the last "
        "observation while ongoing) with their ASTCT 2019 grade at the end. " + scale + anchor,
        _coverage(len(data.courses), shown, data.untreated, page),
        data.data_note,
    ]
    return "\n".join(p for p in parts if p)


def _coverage(total: int, shown: int, untreated: int, page: tuple[str, str] | None) -> str:
    text = f"{total} subjects with study treatment"
    if shown < total:
        text += f"; the first {shown} by subject number are shown (every subject is in the tidy and ADaM exports)"
    if page is not None:
        text += f"; this page: {page[0]} to {page[1]}"
    if untreated:
        text += f". {untreated} subjects without study treatment (screen failures, or not yet treated) are not drawn"
    return text + "."


def _day_range(courses: list[Course]) -> DayScale:
    """One x range for every page, so that the pages line up."""
    low = min(
        [c.first_day for c in courses]
        + [e.day for c in courses for e in c.severe_events]
        + [r.day for c in courses for r in c.responses]
        + [e.start for c in courses for e in c.episodes]
    )
    high = max(c.last_day for c in courses)
    span = high - low
    return DayScale(low - max(2.0, span * 0.02), high + max(4.0, span * 0.04))


def _page(courses: list[Course], days: DayScale, folder: Path, stem: str, title: str, caption: str) -> list[Path]:
    handles = _legend_handles()
    legend_in = math.ceil(len(handles) / LEGEND_COLUMNS) * LEGEND_ROW_IN + 0.1
    plot_width = WIDTH_IN - 2 * style.MARGIN_IN - LABELS_IN
    lines = style.wrap(caption, WIDTH_IN - 2 * style.MARGIN_IN)
    plot_in = len(courses) * LANE_IN
    bottom = style.MARGIN_IN / 2 + style.caption_height(lines) + BOTTOM_AXIS_IN
    height = bottom + plot_in + TOP_TICKS_IN + legend_in + style.TITLE_IN
    figure = style.new_figure(WIDTH_IN, height)
    frame = style.Frame(figure, WIDTH_IN, height)
    style.draw_header(frame, title)
    figure.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(style.MARGIN_IN / WIDTH_IN, (height - style.TITLE_IN) / height),
        ncol=LEGEND_COLUMNS,
        frameon=False,
        borderaxespad=0.0,
        handlelength=1.6,
        columnspacing=1.2,
    )
    axes = frame.axes(style.MARGIN_IN + LABELS_IN, bottom, plot_width, plot_in)
    _draw(figure, axes, courses)
    _axes_style(axes, courses, days)
    style.draw_caption(frame, lines)
    return style.save(figure, folder, stem, title)


def _draw(figure: Figure, axes: Axes, courses: list[Course]) -> None:
    lanes = range(len(courses))
    axes.barh(
        list(lanes),
        [c.last_day - c.first_day for c in courses],
        left=[c.first_day for c in courses],
        height=0.16,
        color=ON_STUDY,
        zorder=1,
    )
    treated = [(y, c) for y, c in zip(lanes, courses, strict=True) if c.lymphodepletion]
    if treated:  # each dose covers its day: the span runs from the first day's start to the last day's end
        axes.barh(
            [y for y, _ in treated],
            [max(c.lymphodepletion) - min(c.lymphodepletion) + 0.8 for _, c in treated],
            left=[min(c.lymphodepletion) - 0.4 for _, c in treated],
            height=0.42,
            color=LYMPHODEPLETION,
            zorder=1.5,
        )
    _marks(axes, [(d, y) for y, c in enumerate(courses) for d in c.infusions], marker="v", color="black", s=18)
    for category in eln.CATEGORIES:
        points = [(r.day, y) for y, c in enumerate(courses) for r in c.responses if r.category == category]
        _marks(axes, points, marker="o", color=style.RESPONSE_COLOURS[category], edgecolors="black", linewidths=0.5)
    negative = [(r.day, y) for y, c in enumerate(courses) for r in c.responses if r.mrd_negative]
    _marks(axes, negative, marker="o", color="none", edgecolors="black", linewidths=1.0, s=64)
    for grade in (3, 4, 5):
        events = [(e.day, y + AE_OFFSET) for y, c in enumerate(courses) for e in c.severe_events if e.grade == grade]
        _marks(axes, events, marker="^", color=style.GRADE_COLOURS[grade], edgecolors="black", linewidths=0.3)
    _episodes(figure, axes, courses)
    transplants = [(c.transplant, y) for y, c in enumerate(courses) if c.transplant is not None]
    _marks(axes, transplants, marker="*", color=HSCT, s=70)
    _marks(axes, [(c.death, y) for y, c in enumerate(courses) if c.death is not None], marker="X", color="black", s=40)
    # The arrow sits a few points after the last day whatever the scale there, clear of a response drawn on it.
    after = offset_copy(axes.transData, fig=figure, x=7, units="points")
    continuing = [(c.last_day, y) for y, c in enumerate(courses) if c.continuing]
    _marks(axes, continuing, marker=">", color="#636363", s=22, transform=after)


def _marks(axes: Axes, points: Sequence[tuple[float, float]], **kwargs: object) -> None:
    if points:
        kwargs.setdefault("s", 26)
        axes.scatter([x for x, _ in points], [y for _, y in points], zorder=3, **kwargs)  # type: ignore[arg-type]


def _episodes(figure: Figure, axes: Axes, courses: list[Course]) -> None:
    for kind, colour, offset in (("CRS", CRS, CRS_OFFSET), ("ICANS", ICANS, ICANS_OFFSET)):
        episodes = [(y + offset, e) for y, c in enumerate(courses) for e in c.episodes if e.kind == kind]
        if not episodes:
            continue
        axes.hlines(
            [y for y, _ in episodes],
            [e.start - 0.4 for _, e in episodes],
            [e.end + 0.4 for _, e in episodes],
            colors=colour,
            lw=2.4,
            zorder=2,
        )
        after = offset_copy(axes.transData, fig=figure, x=4, units="points")
        for y, episode in episodes:
            text = str(episode.grade)
            axes.text(episode.end + 0.4, y, text, fontsize=5.5, color=colour, va="center", transform=after)


def _axes_style(axes: Axes, courses: list[Course], days: DayScale) -> None:
    axes.set_xscale("function", functions=(days.forward, days.inverse))
    axes.set_xlim(days.low, days.high)
    axes.set_ylim(len(courses) - 0.5, -0.5)  # the first subject on top
    axes.set_yticks(range(len(courses)), [c.lane_label for c in courses])
    axes.tick_params(axis="y", length=0)
    axes.tick_params(axis="x", labeltop=True, top=True)
    axes.xaxis.set_major_locator(FixedLocator(days.ticks(WIDTH_IN - 2 * style.MARGIN_IN - LABELS_IN)))
    axes.xaxis.set_minor_locator(FixedLocator([]))
    if days.compressed:
        axes.axvspan(KNEE_DAY, days.high, color="#f5f5f5", zorder=0, lw=0)
    axes.set_xlabel("Protocol day (day 0 = first JK500 infusion)")
    axes.axvline(0, color="#525252", lw=0.8, ls="--", zorder=0.5)
    axes.grid(axis="x", color="#eeeeee", lw=0.5, zorder=0)
    axes.hlines([y + 0.5 for y in range(len(courses) - 1)], days.low, days.high, colors="#f0f0f0", lw=0.5, zorder=0)
    axes.set_axisbelow(True)
    axes.spines["right"].set_visible(False)
