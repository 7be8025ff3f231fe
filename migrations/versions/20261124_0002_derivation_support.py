"""derivation support: find a transaction's changes fast; a recomputed response may differ from the investigator's

The derivation pass reads the audit rows of the committing transaction, so audit_event gets an index on
transaction_id. The response check that forced a reason whenever the derived ELN category differed from the
investigator's could refuse a recomputation (a corrected blood count changes the derived category after the
investigator has assessed it); the difference now opens a query instead (jk500db.derivations.mismatches).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 18:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESPONSE_CHECK = "ck_response_assessment_investigator_reason_required"


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.create_index("ix_audit_event_transaction_id", ["transaction_id"], unique=False)
    with op.batch_alter_table("response_assessment") as batch_op:
        batch_op.drop_constraint(op.f(RESPONSE_CHECK), type_="check")


def downgrade() -> None:
    with op.batch_alter_table("response_assessment") as batch_op:
        batch_op.create_check_constraint(
            op.f(RESPONSE_CHECK),
            sa.text(
                "investigator_category IS NULL OR eln_category IS NULL OR investigator_category = eln_category"
                " OR investigator_reason IS NOT NULL"
            ),
        )
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.drop_index("ix_audit_event_transaction_id")
