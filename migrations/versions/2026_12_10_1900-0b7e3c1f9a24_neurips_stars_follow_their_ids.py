"""Readers' stars and dismissals of NeurIPS papers follow the papers' new ids (`{hash}@{year}@NeurIPS`,
revision d89503d0ebcc, renamed the papers but not the profiles that name them)

Revision ID: 0b7e3c1f9a24
Revises: d89503d0ebcc
Create Date: 2026-12-10 19:00:00

An item is renamed when exactly one stored paper carries its hash and the profile does not hold the
new id already; any other keeps its old id (it then names no paper, as it did once that paper was
overwritten). Downgrading takes the year out again on the same terms.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0b7e3c1f9a24"
down_revision: str | None = "d89503d0ebcc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HASH = "substr(profile_items.value, 1, 32)"  # the proceedings' paper hash: 32 hex digits
_KINDS = "profile_items.kind IN ('stars', 'dismissals')"


def _rename(old: str, new_id: str) -> str:
    """Set each `old`-shaped item to `new_id` (one SELECT of a paper id, or an expression)."""
    return (
        f"UPDATE profile_items SET value = ({new_id}) WHERE {_KINDS} AND {old} "
        f"AND ({new_id}) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profile_items o "
        f"WHERE o.profile_id = profile_items.profile_id AND o.kind = profile_items.kind AND o.value = ({new_id}))"
    )


def _only_paper(returned: str) -> str:
    """`returned` when exactly one stored paper carries the item's hash, else NULL."""
    return (
        f"SELECT {returned} FROM papers p WHERE p.arxiv_id LIKE {_HASH} || '@%@NeurIPS' HAVING count(*) = 1"
    )


def upgrade() -> None:
    old = "profile_items.value LIKE '%@NeurIPS' AND profile_items.value NOT LIKE '%@%@NeurIPS'"
    op.execute(_rename(old, _only_paper("min(p.arxiv_id)")))


def downgrade() -> None:
    op.execute(
        _rename(
            "profile_items.value LIKE '%@%@NeurIPS'",
            _only_paper("substr(min(p.arxiv_id), 1, 32) || '@NeurIPS'"),
        )
    )
