"""A digest e-mail address is confirmed by its owner before any digest goes to it (anyone could sign a
stranger up for daily mail): when the confirmation was sent, and when it was confirmed

Revision ID: 9d4f1a6c2e83
Revises: 7c2d5e8a4b61
Create Date: 2026-12-10 19:10:00

Addresses given before stay unconfirmed: they are sent a confirmation, and no digest until it is
followed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d4f1a6c2e83"
down_revision: str | None = "7c2d5e8a4b61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("digest_confirm_sent_at", "digest_email_confirmed_at")


# Plain ALTER TABLE (SQLite has DROP COLUMN since 3.35), not batch mode: rebuilding `profiles` on
# SQLite would cascade-delete every profile's items.
def upgrade() -> None:
    for column in _COLUMNS:
        op.add_column("profiles", sa.Column(column, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for column in _COLUMNS:
        op.drop_column("profiles", column)
