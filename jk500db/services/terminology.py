"""Load the CTCAE v5.0 term list (NCI, 2017-11-27) into ``ctcae_term``; AE entry picks terms from it."""

from __future__ import annotations

import csv
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db.models import CtcaeTerm

CTCAE_VERSION = "5.0"
#: the CSV's columns (see seed_data/README.md for its provenance).
COLUMNS = (
    "MedDRA Code",
    "MedDRA SOC",
    "CTCAE Term",
    "Grade 1",
    "Grade 2",
    "Grade 3",
    "Grade 4",
    "Grade 5",
    "Definition",
    "Navigational Note",
    "CTCAE v5.0 Change",
)


def _grade_text(cell: str) -> str | None:
    """NCI writes " -" (or "-") for a grade the term does not define."""
    text = cell.strip()
    return None if text in ("", "-") else text


def read_ctcae_terms(path: Path) -> list[dict[str, object]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path.name}: missing column(s) {', '.join(missing)}")
        rows = []
        for row in reader:
            term = row["CTCAE Term"].strip()
            rows.append(
                {
                    "ctcae_version": CTCAE_VERSION,
                    "meddra_code": row["MedDRA Code"].strip(),
                    "soc": row["MedDRA SOC"].strip(),
                    "term": term,
                    "grade_1": _grade_text(row["Grade 1"]),
                    "grade_2": _grade_text(row["Grade 2"]),
                    "grade_3": _grade_text(row["Grade 3"]),
                    "grade_4": _grade_text(row["Grade 4"]),
                    "grade_5": _grade_text(row["Grade 5"]),
                    "definition": row["Definition"].strip() or None,
                    "navigational_note": row["Navigational Note"].strip() or None,
                    "other_specify": "Other, specify" in term,
                }
            )
    return rows


def load_ctcae_terms(session: Session, path: Path) -> int:
    """Insert the terms not yet present (by MedDRA code); return how many were added. Idempotent."""
    rows = read_ctcae_terms(path)
    present = set(session.scalars(sa.select(CtcaeTerm.meddra_code).where(CtcaeTerm.ctcae_version == CTCAE_VERSION)))
    new_rows = [r for r in rows if r["meddra_code"] not in present]
    if new_rows:
        session.execute(sa.insert(CtcaeTerm), new_rows)
        session.flush()
    return len(new_rows)
