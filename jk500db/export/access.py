"""Who may export what (DESIGN.md roles; Part 11 §11.10(d), (g)).

Statisticians and investigators take every format de-identified; data managers too, never identified. Monitors
verify data against the source and review the trail, so they take the data, ODM and audit formats, not the
analysis outputs. Only administrators may export identified data (birth dates, names), and only on purpose.
"""

from __future__ import annotations

from jk500db.errors import ValidationError
from jk500db.export.context import ExportFormat
from jk500db.models.vocabularies import RoleCode

ALL_FORMATS = frozenset(ExportFormat)

#: The formats each role may export (de-identified).
EXPORT_FORMATS: dict[RoleCode, frozenset[ExportFormat]] = {
    RoleCode.STATISTICIAN: ALL_FORMATS,
    RoleCode.INVESTIGATOR: ALL_FORMATS,
    RoleCode.DATA_MANAGER: ALL_FORMATS,
    RoleCode.MONITOR: frozenset({ExportFormat.TIDY, ExportFormat.ODM, ExportFormat.AUDIT}),
    RoleCode.ADMIN: ALL_FORMATS,
}
#: The roles that may export identified data.
IDENTIFIED_ROLES = frozenset({RoleCode.ADMIN})


def allowed_formats(role: RoleCode) -> frozenset[ExportFormat]:
    return EXPORT_FORMATS.get(role, frozenset())


def check_export(role: RoleCode, formats: set[ExportFormat] | frozenset[ExportFormat], identified: bool) -> None:
    """Refuse, naming the field and the rule, an export the role may not make."""
    if identified and role not in IDENTIFIED_ROLES:
        raise ValidationError("identified", "only an administrator may export identified data")
    refused = sorted(f.value for f in formats - allowed_formats(role))
    if refused:
        raise ValidationError("format", f"a {role.value.replace('_', ' ')} may not export {', '.join(refused)}")
