"""tldrs and translations

Revision ID: c5650db5d02d
Revises: aa7ac27e20be
Create Date: 2026-12-10 18:37:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5650db5d02d"
down_revision: str | None = "aa7ac27e20be"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _generation_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    """The columns every generated text shares: who asked, its state, its claim."""
    return [
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requester", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "tldrs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_version", sa.String(length=80), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        *_generation_columns(),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_tldrs_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tldrs")),
        sa.UniqueConstraint(
            "paper_id", "model", "prompt_version", name=op.f("uq_tldrs_paper_id_model_prompt_version")
        ),
    )
    op.create_index(
        "ix_tldrs_paper_status_updated", "tldrs", ["paper_id", "status", "updated_at"], unique=False
    )
    op.create_index("ix_tldrs_updated_at", "tldrs", ["updated_at"], unique=False)
    op.create_table(
        "translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_version", sa.String(length=80), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("abstract", sa.Text(), nullable=True),
        *_generation_columns(),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_translations_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translations")),
        sa.UniqueConstraint(
            "paper_id",
            "lang",
            "model",
            "prompt_version",
            name=op.f("uq_translations_paper_id_lang_model_prompt_version"),
        ),
    )
    op.create_index("ix_translations_updated_at", "translations", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_translations_updated_at", table_name="translations")
    op.drop_table("translations")
    op.drop_index("ix_tldrs_updated_at", table_name="tldrs")
    op.drop_index("ix_tldrs_paper_status_updated", table_name="tldrs")
    op.drop_table("tldrs")
