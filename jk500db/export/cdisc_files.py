"""SDTM and ADaM as files: each dataset as SAS transport v5 and CSV, and a define.xml describing them.

The define.xml is validated against the Define-XML 2.1 schema before the export finishes: an export that
would hand a reviewer an invalid define.xml fails instead, naming the first error.
"""

from __future__ import annotations

from pathlib import Path

from jk500db.export.context import ExportContext, ExportFormat
from jk500db.export.datasets import Dataset
from jk500db.export.define_xml import write_define
from jk500db.export.schemas import DEFINE_21_XSD, validate
from jk500db.export.xpt import snapshot_moment, write_datasets


def _write(context: ExportContext, datasets: list[Dataset], export_format: ExportFormat, standard: str) -> list[Path]:
    folder = context.folder(export_format)
    moment = snapshot_moment(context)
    study = next(iter(context.rows("study")), None)
    code = study["code"] if study else "JK500"
    paths = write_datasets(datasets, folder, stamped_at=moment)
    define = write_define(
        datasets,
        folder,
        study_name=code,
        protocol_name=(study or {}).get("registry_id") or code,
        description=(study or {}).get("title") or code,
        created=moment,
        standard=standard,
        as_of=context.snapshot.as_of,
    )
    validate(define, DEFINE_21_XSD)
    return [*paths, define]


def write_sdtm(context: ExportContext) -> list[Path]:
    from jk500db.export.sdtm import build_sdtm

    return _write(context, build_sdtm(context), ExportFormat.SDTM, "SDTMIG 3.4")


def write_adam(context: ExportContext) -> list[Path]:
    from jk500db.export.adam import build_adam

    return _write(context, build_adam(context), ExportFormat.ADAM, "ADaMIG 1.3")
