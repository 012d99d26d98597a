"""papers.revision: bumped by every update, so cached pages can tell they are stale

Revision ID: 9b1e4c2d7a10
Revises: 6ff0850f248a
Create Date: 2026-12-01 22:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9b1e4c2d7a10"
down_revision: str | None = "6ff0850f248a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): batch mode rebuilt `papers`, and dropping the old table
    # cascade-deleted every listing, vector and summary of the papers on SQLite.
    op.drop_column("papers", "revision")
