"""Blood count recovery: ANC (NEUT) and platelets (PLAT) against protocol day, one small panel per subject.

One figure per count (``anc_recovery_NN``, ``platelet_recovery_NN``), panels sharing their scales so the subjects
can be compared. The y axis is logarithmic (counts fall by orders of magnitude during aplasia) in ×10⁹/L, the
unit the CTCAE rule grades in; results reported per µL are divided by 1000 exactly before they are drawn.
Reference lines are the thresholds of the clinical rules, taken from the rule modules rather than restated:
CTCAE v5.0 grade 4 (``jk500db.clinical.ctcae``) and the ELN 2022 count levels for CRh and CR
(``jk500db.clinical.eln``).

The panels are drawn by hand on one invisible axes measured in inches, a handful of collections for the whole
page: thirty matplotlib axes per page cost seconds to lay out (tick objects, title placement) on every save.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PatchCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from jk500db.clinical import ctcae, eln
from jk500db.export.plots import style
from jk500db.export.plots.courses import CountPoint, Course, PlotData
from jk500db.export.plots.scale import KNEE_DAY, DayScale
from jk500db.models.vocabularies import LabTest

PANELS_PER_PAGE = 30
COLUMNS = 6
MAX_SUBJECTS = 120
WIDTH_IN = 11.0
PANEL_IN = 1.2
#: room above each panel for the subject number
LABEL_IN = 0.22
GAP_IN = 0.15
AXIS_IN = 0.55
LEGEND_IN = 0.35
TICK_IN = 0.04
GRID = "#eeeeee"
FRAME = "#bdbdbd"
LATE = "#f5f5f5"
DAY0 = "#525252"
LineStyle = tuple[float, tuple[float, ...]]
#: colour and dash of the grade 4, CRh and CR lines
REFERENCE_STYLES: tuple[tuple[str, LineStyle], ...] = (
    ("#d73027", (0, (4, 2))),
    ("#f46d43", (0, (1, 1.5))),
    ("#1b7837", (0, (6, 2, 1, 2))),
)

Series = dict[int, dict[str, list[CountPoint]]]
Segment = list[tuple[float, float]]


@dataclass(frozen=True)
class Reference:
    """A reference line: the threshold, its legend text and how it is drawn."""

    value: Decimal
    label: str
    colour: str
    dash: LineStyle


@dataclass(frozen=True)
class Count:
    """One of the two counts: how it is named, drawn and judged."""

    test: LabTest
    name: str
    stem: str
    colour: str
    #: smallest value the log axis shows; lower results are drawn on it (the caption says so).
    floor: Decimal
    #: the axis reaches at least this high.
    ceiling: Decimal
    crh: Decimal
    cr: Decimal

    @property
    def grade4_below(self) -> Decimal:
        return next(step.bound for step in ctcae.CYTOPENIAS[self.test.value].steps if step.grade == 4)

    def references(self) -> list[Reference]:
        """Each threshold once, naming every rule it belongs to (ANC 0.5 is both grade 4 and CRh), drawn in the
        style of its first rule, so a rule looks the same in both figures."""
        rules = [
            (self.grade4_below, "CTCAE grade 4 below", REFERENCE_STYLES[0]),
            (self.crh, "ELN 2022 CRh from", REFERENCE_STYLES[1]),
            (self.cr, "ELN 2022 CR from", REFERENCE_STYLES[2]),
        ]
        merged: dict[Decimal, list[tuple[str, tuple[str, LineStyle]]]] = {}
        for value, rule, look in rules:
            merged.setdefault(value, []).append((rule, look))
        return [
            Reference(value, f"{value}: {', '.join(rule for rule, _ in named)}", *named[0][1])
            for value, named in sorted(merged.items())
        ]


COUNTS = (
    Count(LabTest.NEUT, "ANC (NEUT)", "anc_recovery", "#2166ac", Decimal("0.01"), Decimal(10), eln.CRH_ANC, eln.CR_ANC),
    Count(
        LabTest.PLAT,
        "Platelets (PLAT)",
        "platelet_recovery",
        "#762a83",
        Decimal(1),
        Decimal(1000),
        eln.CRH_PLT,
        eln.CR_PLT,
    ),
)


@dataclass(frozen=True)
class LogScale:
    """Counts -> share of a panel's height, by decades from ``floor`` to ``top``."""

    floor: Decimal
    top: Decimal

    def share(self, value: Decimal) -> float:
        # The logarithm is taken in Decimal; float only for the drawing coordinate it gives.
        low, high = self.floor.log10(), self.top.log10()
        return float((max(value, self.floor).log10() - low) / (high - low))

    def decades(self) -> list[Decimal]:
        low, high = int(self.floor.log10().to_integral_value()), int(self.top.log10().to_integral_value())
        return [Decimal(10) ** k for k in range(low, high + 1)]


def write(data: PlotData, series: Series, unknown_unit: int, folder: Path) -> list[Path]:
    files: list[Path] = []
    for count in COUNTS:
        eligible = [c for c in data.courses if series.get(c.subject_id, {}).get(count.test.value)]
        files += _count_figures(data, count, eligible, series, unknown_unit, folder)
    return files


def _count_figures(
    data: PlotData, count: Count, eligible: list[Course], series: Series, unknown_unit: int, folder: Path
) -> list[Path]:
    title = f"{data.study_code}: {count.name} recovery on protocol days"
    shown = eligible[:MAX_SUBJECTS]
    if not shown:
        caption = _caption(data, count, len(eligible), 0, unknown_unit, None, compressed=False)
        message = f"No {count.name} result of a subject with study treatment yet: no curve to draw."
        return style.empty_page(folder, style.page_stem(count.stem, 1), title, message, caption)
    points = {c.subject_id: series[c.subject_id][count.test.value] for c in shown}
    days = [p.day for c in shown for p in points[c.subject_id]]
    highest = max(max(p.value for c in shown for p in points[c.subject_id]) * Decimal("1.2"), count.floor)
    top = max(count.ceiling, Decimal(10) ** int(highest.log10().to_integral_value(rounding=ROUND_CEILING)))
    span = max(days) - min(days)
    day_scale = DayScale(min(min(days), 0) - max(2.0, span * 0.02), max(days) + max(2.0, span * 0.02))
    files: list[Path] = []
    page_ranges = style.pages(len(shown), PANELS_PER_PAGE)
    for number, indexes in enumerate(page_ranges, start=1):
        page = [shown[i] for i in indexes]
        several = len(page_ranges) > 1
        page_title = f"{title} (page {number} of {len(page_ranges)})" if several else title
        caption = _caption(
            data,
            count,
            len(eligible),
            len(shown),
            unknown_unit,
            (page[0].label, page[-1].label) if several else None,
            compressed=day_scale.compressed,
        )
        drawing = _Page(count, page, points, day_scale, LogScale(count.floor, top), caption)
        files += drawing.save(folder, style.page_stem(count.stem, number), page_title)
    return files


def _caption(
    data: PlotData,
    count: Count,
    eligible: int,
    shown: int,
    unknown_unit: int,
    page: tuple[str, str] | None,
    *,
    compressed: bool,
) -> str:
    coverage = f"{eligible} subjects with study treatment and a {count.name} result"
    if shown < eligible:
        coverage += f"; the first {shown} by subject number are shown"
    if page is not None:
        coverage += f"; this page: {page[0]} to {page[1]}"
    if unknown_unit:
        coverage += f"; {unknown_unit} ANC or platelet results in a unit other than ×10⁹/L or /µL are not drawn"
    if data.untreated:
        coverage += f". Subjects without study treatment ({data.untreated}) have no protocol day and are not drawn"
    notes = ""
    if compressed:
        notes += f" Days after day {KNEE_DAY} (shaded) are drawn on a compressed scale."
    if any(not c.infused for c in data.courses):
        notes += (
            f" * not infused: day 0 placed so that the first lymphodepletion dose falls on planned day "
            f"{data.lymphodepletion_day}."
        )
    return "\n".join(
        (
            f"{count.name} in blood, ×10⁹/L (results per µL divided by 1000), log scale; results below "
            f"{count.floor} are drawn at {count.floor}. One panel per subject, titled with the subject number "
            "(SUBJID). Day 0 = first JK500 infusion (dotted line); day = date − day-0 date of the UTC collection "
            "date. Reference lines: CTCAE v5.0 grade 4 threshold and the ELN 2022 count levels for CRh and CR "
            "(CLINICAL_RULES.md)." + notes,
            coverage + ".",
            data.data_note,
        )
    )


class _Page:
    """One page of panels, drawn on a single axes whose data coordinates are inches on the figure."""

    def __init__(
        self,
        count: Count,
        courses: list[Course],
        points: dict[int, list[CountPoint]],
        days: DayScale,
        log: LogScale,
        caption: str,
    ) -> None:
        self.count, self.courses, self.points, self.days, self.log = count, courses, points, days, log
        self.rows = math.ceil(len(courses) / COLUMNS)
        self.panel_width = (WIDTH_IN - 2 * style.MARGIN_IN - AXIS_IN - (COLUMNS - 1) * GAP_IN) / COLUMNS
        self.ticks = [d for d in days.ticks(self.panel_width * 2.2) if days.low <= d <= days.high]
        self.caption = style.wrap(caption, WIDTH_IN - 2 * style.MARGIN_IN)
        #: the panels' lower edge, inches from the bottom of the figure
        self.bottom = style.MARGIN_IN / 2 + style.caption_height(self.caption) + AXIS_IN

    def save(self, folder: Path, stem: str, title: str) -> list[Path]:
        lines = self.caption
        height = self.bottom + self.rows * (PANEL_IN + LABEL_IN) + LEGEND_IN + style.TITLE_IN
        figure = style.new_figure(WIDTH_IN, height)
        frame = style.Frame(figure, WIDTH_IN, height)
        style.draw_header(frame, title)
        axes = frame.axes(0, 0, WIDTH_IN, height)
        axes.set_xlim(0, WIDTH_IN)
        axes.set_ylim(0, height)
        axes.set_axis_off()
        self._draw(axes)
        references = self.count.references()
        figure.legend(
            handles=_legend(self.count, references),
            loc="upper left",
            bbox_to_anchor=(style.MARGIN_IN / WIDTH_IN, (height - style.TITLE_IN) / height),
            ncol=len(references) + 2,
            frameon=False,
            borderaxespad=0.0,
        )
        style.draw_caption(frame, lines)
        return style.save(figure, folder, stem, title)

    def _origin(self, index: int) -> tuple[float, float]:
        row, column = divmod(index, COLUMNS)
        left = style.MARGIN_IN + AXIS_IN + column * (self.panel_width + GAP_IN)
        return left, self.bottom + (self.rows - 1 - row) * (PANEL_IN + LABEL_IN)

    def _x(self, left: float, day: float) -> float:
        return left + self.days.share(day) * self.panel_width

    def _y(self, bottom: float, value: Decimal) -> float:
        return bottom + self.log.share(value) * PANEL_IN

    def _draw(self, axes: Axes) -> None:
        origins = [self._origin(i) for i in range(len(self.courses))]
        frames = [Rectangle(o, self.panel_width, PANEL_IN) for o in origins]
        axes.add_collection(PatchCollection(frames, facecolor="white", edgecolor="none", zorder=0))
        if self.days.compressed:
            start = self.days.share(KNEE_DAY) * self.panel_width
            late = [Rectangle((x + start, y), self.panel_width - start, PANEL_IN) for x, y in origins]
            axes.add_collection(PatchCollection(late, facecolor=LATE, edgecolor="none", zorder=0.1))
        width = self.panel_width
        grid = [[(x, self._y(y, d)), (x + width, self._y(y, d))] for x, y in origins for d in self.log.decades()]
        grid += [[(self._x(x, d), y), (self._x(x, d), y + PANEL_IN)] for x, y in origins for d in self.ticks]
        _lines(axes, grid, color=GRID, lw=0.5, zorder=0.2)
        for line in self.count.references():
            level = [[(x, self._y(y, line.value)), (x + self.panel_width, self._y(y, line.value))] for x, y in origins]
            _lines(axes, level, color=line.colour, lw=0.8, linestyle=line.dash, zorder=1)
        day0 = [[(self._x(x, 0), y), (self._x(x, 0), y + PANEL_IN)] for x, y in origins]
        _lines(axes, day0, color=DAY0, lw=0.7, linestyle=":", zorder=1)
        curves = [
            [(self._x(x, p.day), self._y(y, p.value)) for p in self.points[c.subject_id]]
            for c, (x, y) in zip(self.courses, origins, strict=True)
        ]
        _lines(axes, curves, color=self.count.colour, lw=0.9, zorder=2)
        marks = [point for curve in curves for point in curve]
        xs, ys = [x for x, _ in marks], [y for _, y in marks]
        axes.scatter(xs, ys, s=3.5, color=self.count.colour, zorder=3, linewidths=0)
        outlines = [Rectangle(o, self.panel_width, PANEL_IN) for o in origins]
        axes.add_collection(PatchCollection(outlines, facecolor="none", edgecolor=FRAME, lw=0.6, zorder=4))
        for course, (x, y) in zip(self.courses, origins, strict=True):
            axes.text(x, y + PANEL_IN + 0.04, course.lane_label, fontsize=style.FONT_SIZE - 1, va="bottom")
        self._axis_labels(axes, origins)

    def _axis_labels(self, axes: Axes, origins: list[tuple[float, float]]) -> None:
        """Counts on the first column, days under the last panel of each column, as on shared axes."""
        size = style.FONT_SIZE - 2
        ticks: list[Segment] = []
        for index, (x, y) in enumerate(origins):
            if index % COLUMNS == 0:
                for decade in self.log.decades():
                    level = self._y(y, decade)
                    ticks.append([(x - TICK_IN, level), (x, level)])
                    axes.text(x - TICK_IN * 1.5, level, _decade_text(decade), fontsize=size, ha="right", va="center")
            if index + COLUMNS >= len(origins):
                for day in self.ticks:
                    at = self._x(x, day)
                    ticks.append([(at, y - TICK_IN), (at, y)])
                    axes.text(at, y - TICK_IN * 1.5, str(day).replace("-", "−"), fontsize=size, ha="center", va="top")
        _lines(axes, ticks, color="black", lw=0.5, zorder=4)
        middle = self.bottom + self.rows * (PANEL_IN + LABEL_IN) / 2
        axes.text(style.MARGIN_IN, middle, "×10⁹/L (log scale)", fontsize=size + 1, rotation=90, ha="left", va="center")
        axes.text(
            style.MARGIN_IN + AXIS_IN + (WIDTH_IN - 2 * style.MARGIN_IN - AXIS_IN) / 2,
            self.bottom - 0.3,
            "Protocol day (day 0 = first JK500 infusion)",
            fontsize=size + 1,
            ha="center",
            va="top",
        )


def _lines(axes: Axes, segments: Iterable[Segment], **kwargs: object) -> None:
    axes.add_collection(LineCollection(list(segments), **kwargs))  # type: ignore[arg-type]


def _decade_text(decade: Decimal) -> str:
    """0.01, 0.1, 1, 10, 100, 1000: the decade as a reader writes it."""
    return f"{decade.normalize():f}"


def _legend(count: Count, references: list[Reference]) -> list[Line2D]:
    handles = [Line2D([], [], color=count.colour, lw=0.9, marker="o", ms=2.5, label=f"{count.name}, ×10⁹/L")]
    handles += [Line2D([], [], color=r.colour, lw=0.8, ls=r.dash, label=r.label) for r in references]
    handles.append(Line2D([], [], color=DAY0, lw=0.7, ls=":", label="Day 0"))
    return handles
