"""summary heartbeat: when the process generating a summary last said it was alive

Revision ID: 301828aea93b
Revises: c5650db5d02d
Create Date: 2026-12-10 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "301828aea93b"
down_revision: str | None = "c5650db5d02d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows claimed before this column existed fall back on claimed_at (app/store/backlog.py).
    with op.batch_alter_table("summaries") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("summaries", "heartbeat_at")  # plain DROP COLUMN: no rebuild of the table
