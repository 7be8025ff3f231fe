"""Plots for statisticians and reviewers, each as PNG and SVG: swimmer plot, AE heat map, blood count recovery.

Entry point :func:`write`. The data come from the export snapshot through ``context.rows`` (``courses``), so
``--as-of`` gives the plots as the data stood then, and the plots carry subject numbers only (no birth date,
no name, identified export or not). Conventions each plot states in its caption:

- days are protocol days, day 0 = first JK500 infusion (CLINICAL_RULES.md); a subject lymphodepleted but never
  infused is drawn with day 0 placed so that the first lymphodepletion dose is on its planned day (-7), marked
  with "*"; a subject without any study treatment has no course and is counted in the caption;
- grades, ELN 2022 categories and MRD status are the derived values as stored, never recomputed here;
- large studies are split into pages of a fixed number of subjects, and at most 120 subjects are drawn per
  plot (the caption says "N of M"; every subject is in the tabular exports);
- a plot with nothing to draw yet is still written, with a message saying why.

Files (pages numbered from 01): ``swimmer_NN``, ``ae_heatmap_NN``, ``anc_recovery_NN``, ``platelet_recovery_NN``,
each ``.png`` (150 dpi) and ``.svg`` (text kept as text), byte-identical for the same data (``style``).
"""

from __future__ import annotations

from pathlib import Path

from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.plots import courses, heatmap, recovery, style, swimmer


def write(context: ExportContext) -> list[Path]:
    """Write every plot under ``context.folder(ExportFormat.PLOTS)`` and return the files, PNG before SVG."""
    folder = context.folder(ExportFormat.PLOTS)
    data = courses.read(context)
    series, unknown_unit = courses.count_series(context, data.courses)
    with style.drawing():
        files = swimmer.write(data, folder)
        files += heatmap.write(data, folder)
        files += recovery.write(data, series, unknown_unit, folder)
    return files
