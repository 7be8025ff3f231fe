"""The tables as files: one CSV per table and one self-contained HTML report.

Both are reproducible: no clock time, no user, nothing from dict or set order. The report's header says what the
data stand on (the audit position and chain head, and the ``--as-of`` moment when there is one), which is enough
to rebuild the same report. Jinja2 escapes every value (autoescape on, and no value is ever marked safe), so a
term typed as ``<script>`` shows as text.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from jk500db.export.cells import neutralise_formula
from jk500db.export.tables.layout import Table

REPORT_NAME = "tables.html"


@dataclass(frozen=True)
class ReportHeader:
    study_code: str
    study_title: str
    registry_id: str | None
    phase: str
    sponsor: str
    audit_position: int
    audit_head_hash: str | None
    #: the ``--as-of`` moment as ISO 8601 UTC, or None for the live data.
    as_of: str | None
    settings_text: str


def write_csv(table: Table, folder: Path) -> Path:
    """``<key>.csv``: the column headings, then the rows, every text cell neutralised for spreadsheets."""
    path = folder / f"{table.key}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([neutralise_formula(c) for c in table.columns])
        for row in table.rows:
            writer.writerow([neutralise_formula(cell) for cell in row])
    return path


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ header.study_code }}: analysis tables and listings</title>
<style>
body { font-family: "Segoe UI", Helvetica, Arial, sans-serif; font-size: 14px; color: #1b1b1b; margin: 2em auto;
       max-width: 78em; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin: 2em 0 0.2em; }
.population { margin: 0 0 0.6em; color: #444; }
dl.header { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; margin: 1em 0; }
dl.header dt { font-weight: 600; }
dl.header dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.4em 0; }
th, td { border: 1px solid #c8c8c8; padding: 0.25em 0.6em; vertical-align: top; text-align: left; }
th { background: #eef1f5; }
tbody tr:nth-child(even) { background: #fafafa; }
td.empty { color: #777; font-style: italic; }
ol.notes { font-size: 0.9em; color: #333; margin-top: 0.3em; }
nav ol { columns: 2; }
@media print { h2 { page-break-before: always; } nav { display: none; } }
</style>
</head>
<body>
<h1>{{ header.study_code }}: analysis tables and listings</h1>
<p>{{ header.study_title }}</p>
<dl class="header">
<dt>Study</dt><dd>{{ header.study_code }}{% if header.registry_id %} ({{ header.registry_id }}){% endif %},
{{ header.phase }}; sponsor {{ header.sponsor }}</dd>
<dt>Data</dt><dd>{% if header.as_of %}as of {{ header.as_of }} (rebuilt from the audit trail){% else %}live data
at the time of export{% endif %}</dd>
<dt>Audit position</dt><dd>event {{ header.audit_position }}</dd>
<dt>Audit chain head</dt><dd>{{ header.audit_head_hash or "none (empty audit trail)" }}</dd>
<dt>Rule settings</dt><dd>{{ header.settings_text }}</dd>
</dl>
<nav><h2>Contents</h2><ol>
{% for table in tables %}<li><a href="#{{ table.key }}">{{ table.number }}. {{ table.title }}</a></li>
{% endfor %}</ol></nav>
{% for table in tables %}
<section id="{{ table.key }}">
<h2>{{ table.number }}. {{ table.title }}</h2>
<p class="population">{{ table.population }}</p>
<table>
<thead><tr>{% for column in table.columns %}<th scope="col">{{ column }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in table.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% else %}<tr><td class="empty" colspan="{{ table.columns | length }}">No records.</td></tr>
{% endfor %}</tbody>
</table>
{% if table.footnotes %}<ol class="notes">
{% for note in table.footnotes %}<li>{{ note }}</li>
{% endfor %}</ol>{% endif %}
</section>
{% endfor %}
</body>
</html>
"""


def _environment() -> jinja2.Environment:
    # autoescape on for everything; StrictUndefined so a renamed field fails loudly instead of printing nothing.
    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render_html(header: ReportHeader, tables: Sequence[Table]) -> str:
    return _environment().from_string(_TEMPLATE).render(header=header, tables=tables)


def write_html(header: ReportHeader, tables: Sequence[Table], folder: Path) -> Path:
    path = folder / REPORT_NAME
    path.write_text(render_html(header, tables), encoding="utf-8", newline="\n")
    return path
