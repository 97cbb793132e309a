"""cue policy per athlete, and the one a session used

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("athletes") as batch:
        batch.add_column(sa.Column("cue_policy", sa.JSON(), nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("cue_policy", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("cue_policy")
    with op.batch_alter_table("athletes") as batch:
        batch.drop_column("cue_policy")
