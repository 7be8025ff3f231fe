"""The XML Schemas exports are validated against, shipped in seed_data/schemas/ (see seed_data/README.md)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

from jk500db.errors import ValidationError
from jk500db.services.study_definition import SEED_DATA_DIR

SCHEMA_DIR = SEED_DATA_DIR / "schemas"
DEFINE_21_XSD = SCHEMA_DIR / "define21" / "cdisc-define-2.1" / "define2-1-0.xsd"
ODM_132_XSD = SCHEMA_DIR / "odm132" / "ODM1-3-2.xsd"


@cache
def schema(path: Path) -> etree.XMLSchema:
    """The schema at ``path``, parsed once (its imports are relative to it)."""
    return etree.XMLSchema(etree.parse(str(path)))


def validate(document: Path, xsd: Path) -> None:
    """Refuse ``document`` unless it is valid against ``xsd``; the message names the first error's line."""
    checked = schema(xsd)
    if not checked.validate(etree.parse(str(document))):
        error = checked.error_log[0]
        raise ValidationError(document.name, f"is not valid against {xsd.name}: line {error.line}: {error.message}")
