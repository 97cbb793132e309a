"""club mode: UUIDs for athletes and sessions, the lane a session came from, its
replication, and a chunk's index in its session

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 14:30:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("athletes") as batch:
        batch.add_column(sa.Column("uuid", sa.String(36), nullable=True))
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("uuid", sa.String(36), nullable=True))
        batch.add_column(sa.Column("node", sa.String(64), nullable=True))
        batch.add_column(sa.Column("replicated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("raw_chunks") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
    conn = op.get_bind()
    for table in ("athletes", "sessions"):  # rows made before: a UUID each
        ids = [r[0] for r in conn.execute(sa.text(f"SELECT id FROM {table} WHERE uuid IS NULL"))]
        for row_id in ids:
            conn.execute(
                sa.text(f"UPDATE {table} SET uuid = :u WHERE id = :i"),
                {"u": str(uuid.uuid4()), "i": row_id},
            )
    op.create_index("ux_athletes_uuid", "athletes", ["uuid"], unique=True)
    op.create_index("ux_sessions_uuid", "sessions", ["uuid"], unique=True)
    op.create_index("ux_raw_chunks_seq", "raw_chunks", ["session_id", "seq"], unique=True)
    if conn.dialect.name == "postgresql":
        # The centre merges live MQTT rows and uploads by these keys (ON CONFLICT). On a
        # Pi's SQLite the writer is the only author, and a unique index there would turn
        # an engine bug into a writer stuck on one row: it is not made there.
        op.create_index("ux_steps_session_seq", "steps", ["session_id", "seq"], unique=True)
        op.create_index("ux_reps_session_number", "reps", ["session_id", "number"], unique=True)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.drop_index("ux_reps_session_number", "reps")
        op.drop_index("ux_steps_session_seq", "steps")
    op.drop_index("ux_raw_chunks_seq", "raw_chunks")
    op.drop_index("ux_sessions_uuid", "sessions")
    op.drop_index("ux_athletes_uuid", "athletes")
    with op.batch_alter_table("raw_chunks") as batch:
        batch.drop_column("seq")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("replicated_at")
        batch.drop_column("node")
        batch.drop_column("uuid")
    with op.batch_alter_table("athletes") as batch:
        batch.drop_column("uuid")
