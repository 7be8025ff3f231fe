"""list pages on large studies: the audit trail by subject on (subject_id, id); live lab results indexed

The audit trail filtered by one subject shows that subject's newest events first. With an index on subject_id
alone, PostgreSQL preferred to walk the primary key backwards through the whole trail until it had found a page
of the subject's events (480 ms on a 2,000-subject study of 9.9 million events); on (subject_id, id) it reads the
page directly (0.15 ms). The composite index serves every lookup by subject_id alone as well (the casebook,
`audit export --subject`), so the single-column index is dropped.

The lab results list counts the live (not removed) results on every page. A partial index of their ids lets the
count read the index instead of the table (PostgreSQL: 125 ms to 30 ms at 345,769 results, once the table has
been vacuumed, as autovacuum does; the list's first and last pages 163 and 271 ms to 96 and 143 ms), and lets
SQLite count and page through it (first and last pages 79 and 136 ms to 40 and 45 ms).

Only indexes change: the tables, and audit_event's append-only triggers, are left alone (SQLite's batch mode
creates and drops indexes in place, without rebuilding the table). On PostgreSQL, building the audit index blocks
writes to audit_event, and so every audited write, while it runs: 7 to 24 s for 9.9 million events on a 2-core
machine, depending on its load. Upgrade a large study outside working hours.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 21:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch_op:
        # Created before the old one is dropped: subject lookups are never left without an index.
        batch_op.create_index("ix_audit_event_subject", ["subject_id", "id"], unique=False)
        batch_op.drop_index("ix_audit_event_subject_id")
    with op.batch_alter_table("lab_result") as batch_op:
        batch_op.create_index("ix_lab_result_live", ["id"], unique=False, postgresql_where=LIVE, sqlite_where=LIVE)


def downgrade() -> None:
    with op.batch_alter_table("lab_result") as batch_op:
        batch_op.drop_index("ix_lab_result_live")
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.create_index("ix_audit_event_subject_id", ["subject_id"], unique=False)
        batch_op.drop_index("ix_audit_event_subject")
