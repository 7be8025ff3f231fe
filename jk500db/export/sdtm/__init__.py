"""SDTM (SDTMIG v3.4) datasets of the JK500 trial, built from the export snapshot as :class:`Dataset` objects.

:func:`build_sdtm` returns every domain; the XPT/CSV writer and define.xml (``jk500db.export.xpt``,
``jk500db.export.define_xml``) turn them into files. The conventions every domain shares (USUBJID, ISO 8601
dates, study day, EPOCH, --SEQ, controlled terminology, long text) are in :mod:`jk500db.export.sdtm.common`.

Domains: trial design TA, TE, TV, TI, TS (§7); special purpose DM, SE, SV (§5); DS, AE (+SUPPAE), MH (§6.2);
EX (+SUPPEX), CM, PR (§6.1); LB, VS, IE, RS, and measurable residual disease in CP (flow) and GF (molecular)
(§6.3). A SUPP-- dataset is returned only when it has records.
"""

from __future__ import annotations

from jk500db.export.context import ExportContext
from jk500db.export.datasets import Dataset
from jk500db.export.sdtm.common import SdtmStudy
from jk500db.export.sdtm.events import build_events
from jk500db.export.sdtm.findings import build_findings
from jk500db.export.sdtm.interventions import build_interventions
from jk500db.export.sdtm.special_purpose import build_dm, build_ds, build_se, build_sv
from jk500db.export.sdtm.trial_design import build_trial_design

__all__ = ["build_sdtm"]


def build_sdtm(context: ExportContext) -> list[Dataset]:
    """Every SDTM domain of the study in ``context``'s snapshot, sorted by dataset name."""
    study = SdtmStudy(context)
    datasets = [
        *build_trial_design(study),
        build_dm(study),
        *build_se(study),
        *build_sv(study),
        *build_ds(study),
        *build_events(study),
        *build_interventions(study),
        *build_findings(study),
    ]
    return sorted(datasets, key=lambda dataset: dataset.name)
