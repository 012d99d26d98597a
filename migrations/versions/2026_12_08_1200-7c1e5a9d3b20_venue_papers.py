"""venue papers: papers.source, papers.arxiv_id widened to 200, the venue_papers table

A conference paper is a `papers` row (source "openreview", "acl" ...; papers.cool's id such as
`GMwRl2e9Y1@OpenReview` in `arxiv_id`, up to ~130 characters for CVF) plus a `venue_papers` row.

Revision ID: 7c1e5a9d3b20
Revises: 5d3f8a1c2b7e
Create Date: 2026-12-08 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1e5a9d3b20"
down_revision: str | None = "5d3f8a1c2b7e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _set_arxiv_id_length(length: int) -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Widening a varchar is a catalog change on PostgreSQL: no table rewrite.
        op.alter_column("papers", "arxiv_id", type_=sa.String(length), existing_nullable=False)
        return
    # SQLite ignores a VARCHAR's length and stores the same bytes; only the declared type in the
    # schema text changes. Batch mode would rebuild `papers`: with foreign keys on, dropping the old
    # table cascades into listings, embeddings and summaries, and the full-text triggers are lost.
    # So the declaration is edited in place, as SQLite documents for changes that leave the file's
    # format unchanged (https://sqlite.org/lang_altertable.html#otheralter, with schema_version bumped).
    old, new = (40, 200) if length == 200 else (200, 40)
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    bind.exec_driver_sql(
        f"UPDATE sqlite_master SET sql = replace(sql, 'arxiv_id VARCHAR({old})', 'arxiv_id VARCHAR({new})') "
        "WHERE type = 'table' AND name = 'papers'"
    )
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    _set_arxiv_id_length(200)
    op.add_column("papers", sa.Column("source", sa.String(length=16), server_default="arxiv", nullable=False))
    op.create_table(
        "venue_papers",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("venue", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=200), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("pdf_url", sa.Text(), nullable=True),
        sa.Column("arxiv_paper_id", sa.Integer(), nullable=True),
        sa.Column(
            "added_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["arxiv_paper_id"],
            ["papers.id"],
            name=op.f("fk_venue_papers_arxiv_paper_id_papers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_venue_papers_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_venue_papers")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_venue_papers_source_source_id")),
    )
    op.create_index("ix_venue_papers_arxiv_paper_id", "venue_papers", ["arxiv_paper_id"], unique=False)
    op.create_index(
        "ix_venue_papers_venue_year_position", "venue_papers", ["venue", "year", "position"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_venue_papers_venue_year_position", table_name="venue_papers")
    op.drop_index("ix_venue_papers_arxiv_paper_id", table_name="venue_papers")
    op.drop_table("venue_papers")
    op.execute("DELETE FROM papers WHERE source != 'arxiv'")
    # Plain DROP COLUMN (SQLite 3.35+): batch mode would rebuild `papers` (see above).
    op.drop_column("papers", "source")
    _set_arxiv_id_length(40)
