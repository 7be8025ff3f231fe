"""The XML Schemas shipped in seed_data/schemas/ are the published files (sizes and SHA-256 from their READMEs)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from jk500db.errors import ValidationError
from jk500db.export.schemas import DEFINE_21_XSD, ODM_132_XSD, SCHEMA_DIR, schema, validate

ROW = re.compile(r"^\| `([^`]+)` \|.*\| ([\d,]+) \| ([0-9a-f]{64}) \|$")


@pytest.mark.parametrize("folder", ["define21", "odm132"])
def test_every_schema_file_matches_its_published_hash(folder: str) -> None:
    readme = (SCHEMA_DIR / folder / "README.md").read_text(encoding="utf-8")
    rows = [m.groups() for line in readme.splitlines() if (m := ROW.match(line))]
    assert len(rows) >= 5
    for name, size, digest in rows:
        data = (SCHEMA_DIR / folder / name).read_bytes()
        assert len(data) == int(size.replace(",", "")), name
        assert hashlib.sha256(data).hexdigest() == digest, name
    listed = {name for name, _size, _digest in rows}
    shipped = {p.relative_to(SCHEMA_DIR / folder).as_posix() for p in (SCHEMA_DIR / folder).rglob("*.xsd")}
    assert shipped == listed


def test_the_entry_points_compile_and_refuse_an_invalid_document(tmp_path: Path) -> None:
    for xsd in (DEFINE_21_XSD, ODM_132_XSD):
        assert schema(xsd) is schema(xsd)  # parsed once
    broken = tmp_path / "broken.xml"
    broken.write_text('<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"/>', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"is not valid against ODM1-3-2\.xsd: line 1"):
        validate(broken, ODM_132_XSD)
