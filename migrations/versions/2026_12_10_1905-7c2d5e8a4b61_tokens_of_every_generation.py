"""TL;DRs, translations and uploads keep the tokens their generation spent (as summaries and answers
do): /metrics' coolpapers_llm_tokens and coolpapers_llm_spend counted summaries only

Revision ID: 7c2d5e8a4b61
Revises: 0b7e3c1f9a24
Create Date: 2026-12-10 19:05:00

What was written before has no record of its tokens: it counts 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c2d5e8a4b61"
down_revision: str | None = "0b7e3c1f9a24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("tldrs", "translations", "uploads")
_COLUMNS = ("prompt_tokens", "completion_tokens")


# Plain ALTER TABLE (SQLite has DROP COLUMN since 3.35), not batch mode, which rebuilds each table.
def upgrade() -> None:
    for table in _TABLES:
        for column in _COLUMNS:
            op.add_column(table, sa.Column(column, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    for table in _TABLES:
        for column in _COLUMNS:
            op.drop_column(table, column)
