"""papers.msc_class, papers.acm_class: the subject classes arXiv's OAI-PMH records carry

Revision ID: 51586ce258d7
Revises: 9b1e4c2d7a10
Create Date: 2026-12-06 16:18:01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "51586ce258d7"
down_revision: str | None = "9b1e4c2d7a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("msc_class", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("acm_class", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE .. DROP COLUMN (SQLite 3.35+): batch mode would rebuild `papers` on SQLite
    # and lose the full-text triggers that read it.
    op.drop_column("papers", "acm_class")
    op.drop_column("papers", "msc_class")
