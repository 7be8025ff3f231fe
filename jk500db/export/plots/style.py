"""How every plot is drawn and saved: one style, one font, fixed sizes, and files that are the same bytes each run.

The web UI runs exports in threads, so nothing here touches pyplot's global figure state: each figure is a
:class:`~matplotlib.figure.Figure` with its own Agg canvas. The style is applied in a ``style.context`` that
starts from matplotlib's defaults (so a ``matplotlibrc`` on the machine changes nothing). That context
changes the process-wide ``rcParams`` while it is open, so :func:`drawing` also holds a lock: two exports in
two threads draw one after the other instead of restoring each other's settings half-way through a figure.

Reproducibility: the SVG id salt is fixed, the SVG carries no date and no matplotlib version, the PNG no
``Software`` text (Agg writes no time into a PNG unless asked to), the figure size and resolution are set
here, and the text is DejaVu Sans as bundled with matplotlib, so metrics do not depend on the fonts installed.
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Resolution of the PNG files (the SVG is vector; its size is the same in points).
DPI = 150
#: Bundled with matplotlib (mpl-data/fonts/ttf), so every machine lays text out with the same metrics.
FONT = "DejaVu Sans"
FONT_SIZE = 8.0
CAPTION_SIZE = 7.0
TITLE_SIZE = 10.0
#: Average advance of a DejaVu Sans character in ems, generous, to wrap captions to the figure's width.
_CHAR_EM = 0.56
#: Text height per line of caption, in inches, at CAPTION_SIZE (1.25 × the font size).
CAPTION_LINE_IN = CAPTION_SIZE * 1.25 / 72
#: Margins around the drawing area, inches.
MARGIN_IN = 0.3
TITLE_IN = 0.45

_STYLE: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT],
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 1,
    "axes.unicode_minus": True,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    # Text stays text in the SVG (searchable, and the tests read subject numbers and terms back from it).
    "svg.fonttype": "none",
    # Clip-path and marker ids are hashes salted with this instead of a random value.
    "svg.hashsalt": "jk500db-plots",
    "svg.image_inline": True,
    "path.simplify": True,
}

#: Held while a figure is built and saved (module docstring: rcParams are process-wide).
_LOCK = threading.Lock()


@contextmanager
def drawing() -> Iterator[None]:
    """Draw and save figures inside this block: the style is in force and no other thread draws meanwhile."""
    # after_reset: start from matplotlib's own defaults, not from this machine's matplotlibrc
    with _LOCK, matplotlib.style.context(_STYLE, after_reset=True):
        yield


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure of a fixed size with its own Agg canvas (no pyplot, no global figure manager)."""
    figure = Figure(figsize=(width_in, height_in), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Figure, folder: Path, stem: str, title: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` without dates or software versions; return both paths."""
    png, svg = folder / f"{stem}.png", folder / f"{stem}.svg"
    figure.savefig(png, format="png", dpi=DPI, metadata={"Title": title, "Software": None})
    figure.savefig(svg, format="svg", metadata={"Title": title, "Date": None, "Creator": None})
    return [png, svg]


@dataclass(frozen=True)
class Frame:
    """Places axes and text on a figure in inches from its bottom-left corner (a layout that never moves)."""

    figure: Figure
    width_in: float
    height_in: float

    def axes(self, left: float, bottom: float, width: float, height: float) -> Axes:
        return self.figure.add_axes(
            (left / self.width_in, bottom / self.height_in, width / self.width_in, height / self.height_in)
        )

    def text(self, left: float, top: float, text: str, size: float, *, bold: bool = False) -> None:
        self.figure.text(
            left / self.width_in,
            top / self.height_in,
            text,
            fontsize=size,
            fontweight="bold" if bold else "normal",
            ha="left",
            va="top",
        )


def wrap(text: str, width_in: float, size: float = CAPTION_SIZE) -> list[str]:
    """``text`` wrapped to lines that fit ``width_in`` inches at ``size`` points (paragraphs kept)."""
    chars = max(20, int(width_in * 72 / (size * _CHAR_EM)))
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, chars) or [""])
    return lines


def caption_height(lines: list[str]) -> float:
    return len(lines) * CAPTION_LINE_IN + 0.1


def draw_header(frame: Frame, title: str) -> None:
    frame.text(MARGIN_IN, frame.height_in - MARGIN_IN / 2, title, TITLE_SIZE, bold=True)


def draw_caption(frame: Frame, lines: list[str]) -> None:
    """The caption at the foot of the figure (``lines`` from :func:`wrap`)."""
    frame.text(MARGIN_IN, MARGIN_IN / 2 + caption_height(lines), "\n".join(lines), CAPTION_SIZE)


def empty_page(folder: Path, stem: str, title: str, message: str, caption: str) -> list[Path]:
    """A page that says why there is nothing to draw yet (the plot's files exist in every export)."""
    width_in, plot_in = 8.0, 2.0
    lines = wrap(caption, width_in - 2 * MARGIN_IN)
    height_in = TITLE_IN + plot_in + caption_height(lines) + MARGIN_IN
    figure = new_figure(width_in, height_in)
    frame = Frame(figure, width_in, height_in)
    draw_header(frame, title)
    axes = frame.axes(MARGIN_IN, caption_height(lines) + MARGIN_IN / 2, width_in - 2 * MARGIN_IN, plot_in)
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=FONT_SIZE + 1, transform=axes.transAxes)
    draw_caption(frame, lines)
    return save(figure, folder, stem, title)


def pages(count: int, per_page: int) -> list[range]:
    """Index ranges of ``count`` items split into pages of at most ``per_page``."""
    return [range(start, min(start + per_page, count)) for start in range(0, count, per_page)]


def page_stem(name: str, number: int) -> str:
    """``swimmer_01``: pages numbered from 1 with two digits, so the names sort in page order."""
    return f"{name}_{number:02d}"


#: CTCAE grade -> colour, shared by the heat map and the swimmer plot (light to dark: worse is darker).
GRADE_COLOURS: dict[int, str] = {1: "#fee08b", 2: "#fdae61", 3: "#f46d43", 4: "#d73027", 5: "#67001f"}
#: ELN 2022 category -> colour: greens for complete remissions, blues for partial or marrow-only, grey for none.
RESPONSE_COLOURS: dict[str, str] = {
    "CR": "#1b7837",
    "CRh": "#5aae61",
    "CRi": "#a6dba0",
    "MLFS": "#92c5de",
    "PR": "#2166ac",
    "NR": "#8c8c8c",
    "NE": "#ffffff",
}
