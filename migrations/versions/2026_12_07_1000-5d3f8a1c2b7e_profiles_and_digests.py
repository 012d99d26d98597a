"""profiles, profile_items, digest_deliveries: synced preferences without an account, digests sent once

Revision ID: 5d3f8a1c2b7e
Revises: 51586ce258d7
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d3f8a1c2b7e"
# Chained after the msc/acm classes migration (both were written on 9b1e4c2d7a10): one head.
down_revision: str | None = "51586ce258d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("digest_frequency", sa.String(length=8), nullable=False),
        sa.Column("digest_email", sa.String(length=320), nullable=True),
        sa.Column("digest_webhook_url", sa.Text(), nullable=True),
        sa.Column("digest_webhook_secret", sa.String(length=200), nullable=True),
        sa.Column("digest_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribe_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_profiles_token_hash")),
    )
    op.create_table(
        "profile_items",
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_profile_items_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("profile_id", "kind", "value", name=op.f("pk_profile_items")),
    )
    op.create_table(
        "digest_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("papers", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_digest_deliveries_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_deliveries")),
        sa.UniqueConstraint(
            "profile_id", "day", "channel", name=op.f("uq_digest_deliveries_profile_id_day_channel")
        ),
    )


def downgrade() -> None:
    op.drop_table("digest_deliveries")
    op.drop_table("profile_items")
    op.drop_table("profiles")
