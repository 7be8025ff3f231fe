"""What the tables are computed from: ADSL and ADAE, and the snapshot rows ADaM does not carry."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from jk500db.export.adam import StudyData, SubjectRecords, build_adae, build_adsl, collect, sdtm_ae_sequence
from jk500db.export.context import ExportContext
from jk500db.export.datasets import Value

AnalysisRow = dict[str, Value]

#: ADSL flag -> how the tables name the population.
POPULATIONS = {
    "SAFFL": "Safety population",
    "INFFL": "Infused population",
    "DLTEVFL": "DLT-evaluable population",
    "RSPEVFL": "Response-evaluable population",
    "ENRLFL": "Enrolled subjects",
}


@dataclass
class Analysis:
    data: StudyData
    adsl: list[AnalysisRow]
    adae: list[AnalysisRow]

    def population(self, flag: str) -> list[AnalysisRow]:
        """ADSL rows with ``flag`` = "Y"."""
        return [row for row in self.adsl if row[flag] == "Y"]

    def heading(self, flag: str) -> str:
        return f"{POPULATIONS[flag]} (N = {len(self.population(flag))})"

    def subjects(self, flag: str) -> list[SubjectRecords]:
        """The snapshot records of the subjects in a population, in USUBJID order."""
        wanted = {row["USUBJID"] for row in self.population(flag)}
        return [s for s in self.data.subjects if s.usubjid in wanted]

    @cached_property
    def teae(self) -> list[AnalysisRow]:
        """Treatment-emergent events of safety-population subjects (TRTEMFL = "Y", SAFFL = "Y")."""
        return [row for row in self.adae if row["TRTEMFL"] == "Y" and row["SAFFL"] == "Y"]


def analyse(context: ExportContext) -> Analysis:
    """ADSL and ADAE exactly as the ADaM export builds them, AESEQ included, so a row of a table can be traced to
    its ADAE and SDTM AE records."""
    data = collect(context)
    adsl = build_adsl(data)
    adae = build_adae(data, adsl, sdtm_ae_sequence(context, data))
    return Analysis(data, adsl.rows, adae.rows)
