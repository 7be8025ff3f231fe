"""Analysis tables and listings of the JK500 phase 1 trial: one CSV per table and one HTML report.

Built from ADSL and ADAE (``jk500db.export.adam``) and, where ADaM does not carry a value (doses, deviations,
CRS treatment, response assessments), from the same snapshot rows, so ``--as-of`` gives the tables as they
stood then. Entry point: :func:`write`.
"""

from __future__ import annotations

from pathlib import Path

from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.tables import efficacy, safety, subjects
from jk500db.export.tables.analysis import Analysis, analyse
from jk500db.export.tables.layout import Table
from jk500db.export.tables.report import ReportHeader, write_csv, write_html

#: Every table and listing, in report order.
BUILDERS = (
    subjects.disposition,
    subjects.demographics,
    subjects.exposure,
    subjects.cell_dose,
    safety.teae_overview,
    safety.teae_by_soc_pt,
    safety.crs_icans_summary,
    safety.dlt_summary,
    efficacy.best_response_table,
    subjects.dose_deviations,
    subjects.protocol_deviations,
    safety.crs_icans_listing,
    safety.dlt_listing,
    safety.sae_listing,
    safety.death_listing,
    efficacy.best_response_listing,
)


def build_tables(analysis: Analysis) -> list[Table]:
    return [build(analysis) for build in BUILDERS]


def report_header(analysis: Analysis) -> ReportHeader:
    data = analysis.data
    study = data.study
    return ReportHeader(
        study_code=str(study["code"]),
        study_title=str(study["title"]),
        registry_id=study.get("registry_id"),
        phase=str(study["phase"]),
        sponsor=str(study["sponsor"]),
        audit_position=data.audit_position,
        audit_head_hash=data.audit_head_hash,
        as_of=None if data.as_of is None else data.as_of.isoformat().replace("+00:00", "Z"),
        settings_text=data.settings_text,
    )


def write(context: ExportContext) -> list[Path]:
    """Write every table as CSV and the HTML report under ``context.folder(ExportFormat.TABLES)``."""
    folder = context.folder(ExportFormat.TABLES)
    analysis = analyse(context)
    tables = build_tables(analysis)
    paths = [write_csv(table, folder) for table in tables]
    paths.append(write_html(report_header(analysis), tables, folder))
    return sorted(paths)
