"""NeurIPS papers' ids carry their year: `{hash}@{year}@NeurIPS` (the proceedings reuse a hash across
years, and with the hash alone a later year's paper overwrote an earlier one's)

Revision ID: d89503d0ebcc
Revises: 5d1ee59f96dd
Create Date: 2026-12-10 18:55:00

A paper already overwritten keeps the year it was last stored with; ingesting the other edition
again stores its paper anew. Downgrading takes the year out again where that id is still free.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "d89503d0ebcc"
down_revision: str | None = "5d1ee59f96dd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RENAME_PAPERS = """
UPDATE papers SET arxiv_id = (SELECT v.source_id || '@NeurIPS' FROM venue_papers v WHERE v.paper_id = papers.id)
WHERE id IN (SELECT paper_id FROM venue_papers WHERE source = 'neurips')
"""


def upgrade() -> None:
    op.execute(
        "UPDATE venue_papers SET source_id = source_id || '@' || CAST(year AS TEXT) "
        "WHERE source = 'neurips' AND source_id NOT LIKE '%@%'"
    )
    op.execute(_RENAME_PAPERS)


def downgrade() -> None:
    op.execute(
        "UPDATE venue_papers SET source_id = substr(source_id, 1, 32) "
        "WHERE source = 'neurips' AND source_id LIKE '%@%' AND NOT EXISTS ("
        "SELECT 1 FROM venue_papers o WHERE o.source = 'neurips' AND o.source_id = substr(venue_papers.source_id, 1, 32))"
    )
    op.execute(_RENAME_PAPERS)
