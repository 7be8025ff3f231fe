"""export jobs: web exports run in the background; re-authentication and downloads in the security log

A full export of a large study takes minutes, far longer than a web request may last, so the exports page now
asks for an export and a background worker runs it (``jk500db.export.jobs``). ``export_job`` holds each request
and its state (queued, running, done or failed, the format being written, a heartbeat), a plain failure message,
and once done the export's record and the ZIP's name, size and SHA-256; when the ZIP is deleted at the end of the
retention period the row stays. The table is not audited (``jk500db.audit.triggers.UNAUDITED_TABLES`` says why).

The security log gets two kinds of event: ``reauthenticated`` (the password given again on the exports page,
which was logged as a login) and ``export_downloaded``. The second is longer than any kind so far, so the column
widens from 16 to 17 characters with its CHECK constraint (SQLite rebuilds the table in batch mode; it has no
triggers of its own).

The downgrade refuses while the security log holds events of the new kinds: the older schema cannot hold them,
and the security log is never edited or cut down to fit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jk500db.models.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The security log's kinds before this revision, and the ones it adds (written out: a migration does not follow
#: later changes to the vocabulary).
KINDS_0003 = (
    "login_succeeded",
    "login_failed",
    "logout",
    "locked_out",
    "unlocked",
    "session_expired",
    "password_changed",
    "password_reset",
    "account_created",
    "account_disabled",
    "role_changed",
    "signature_failed",
)
NEW_KINDS = ("reauthenticated", "export_downloaded")
KIND_CHECK = "ck_security_event_kind"


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN ({})".format(", ".join(f"'{kind}'" for kind in kinds))


def upgrade() -> None:
    op.create_table(
        "export_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", jk500db.models.types.UTCDateTime(), nullable=False),
        sa.Column("formats", sa.String(length=120), nullable=False),
        sa.Column("identified", sa.Boolean(), nullable=False),
        sa.Column("as_of", jk500db.models.types.UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(length=7), nullable=False),
        sa.Column("current_format", sa.String(length=20), nullable=True),
        sa.Column("started_at", jk500db.models.types.UTCDateTime(), nullable=True),
        sa.Column("heartbeat_at", jk500db.models.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", jk500db.models.types.UTCDateTime(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("export_record_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=120), nullable=True),
        sa.Column("file_bytes", sa.BigInteger(), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_deleted_at", jk500db.models.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state <> 'done' OR (export_record_id IS NOT NULL AND file_name IS NOT NULL AND file_bytes IS NOT NULL"
            " AND file_sha256 IS NOT NULL AND finished_at IS NOT NULL)",
            name=op.f("ck_export_job_done_has_result"),
        ),
        sa.CheckConstraint("NOT (state = 'failed') OR failure IS NOT NULL", name=op.f("ck_export_job_failure_required")),
        sa.CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_export_job_state")),
        sa.ForeignKeyConstraint(
            ["export_record_id"], ["export_record.id"], name=op.f("fk_export_job_export_record_id_export_record")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_export_job_user_id_user_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_job")),
    )
    with op.batch_alter_table("export_job") as batch_op:
        batch_op.create_index(batch_op.f("ix_export_job_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("security_event") as batch_op:
        batch_op.drop_constraint(op.f(KIND_CHECK), type_="check")
        batch_op.alter_column("kind", existing_type=sa.String(length=16), type_=sa.String(length=17))
        batch_op.create_check_constraint(op.f(KIND_CHECK), sa.text(_kinds(KINDS_0003 + NEW_KINDS)))


def downgrade() -> None:
    bind = op.get_bind()
    table = sa.table("security_event", sa.column("kind", sa.String))
    held = bind.execute(
        sa.select(sa.func.count()).select_from(table).where(table.c.kind.in_(NEW_KINDS))
    ).scalar_one()
    if held:
        raise RuntimeError(
            f"the security log holds {held} event(s) of kinds revision 0003 cannot store ({', '.join(NEW_KINDS)}); "
            "the log is never edited to fit an older schema: restore the backup taken before upgrading instead"
        )
    with op.batch_alter_table("security_event") as batch_op:
        batch_op.drop_constraint(op.f(KIND_CHECK), type_="check")
        batch_op.alter_column("kind", existing_type=sa.String(length=17), type_=sa.String(length=16))
        batch_op.create_check_constraint(op.f(KIND_CHECK), sa.text(_kinds(KINDS_0003)))
    with op.batch_alter_table("export_job") as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_job_user_id"))
    op.drop_table("export_job")
