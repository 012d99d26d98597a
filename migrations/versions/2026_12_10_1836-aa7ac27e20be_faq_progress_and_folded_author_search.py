"""FAQ progress (what a generation is doing, why only the abstract was read); author search without
diacritics ("Erdos" finds "Erdős")

Revision ID: aa7ac27e20be
Revises: a3d8c6e1f254
Create Date: 2026-12-10 18:36:00

SQLite indexed the authors column's JSON text as stored, with non-ASCII letters escaped
(`["Paul Erd\\u0151s"]`): a name with an accent could not be found at all. The FTS5 table now reads
the names decoded (a view over papers) and folds diacritics (`unicode61 remove_diacritics 2`).
PostgreSQL indexed the same escaped text; it now indexes the decoded names (and title and abstract)
folded by `translate()`
with the table of app/store/fts.py (FOLD_FROM -> FOLD_TO; copied here: a migration does not change
when the code does), since the `unaccent` extension is not there by default.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "aa7ac27e20be"
down_revision: str | None = "a3d8c6e1f254"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLD_FROM = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵ"
    "ĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺ"
    "ǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳøØłŁđĐıħĦŧŦ"
)
FOLD_TO = (
    "AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJj"
    "KkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzsOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnA"
    "aAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyoOlLdDihHtT"
)
_FOLDED = "translate({text}, '" + FOLD_FROM + "', '" + FOLD_TO + "')"
# Folded throughout, as SQLite's tokenizer folds every column: "naïve" in a title is found as "naive".
_FIELDS_PG = {
    "old": {
        "title": "coalesce(title, '')",
        "authors": "coalesce(authors::text, '')",
        "abstract": "coalesce(abstract, '')",
    },
    "new": {
        "title": _FOLDED.format(text="coalesce(title, '')"),
        "authors": _FOLDED.format(text="coalesce((authors::jsonb)::text, '')"),
        "abstract": _FOLDED.format(text="coalesce(abstract, '')"),
    },
}
_POSTGRES_FTS = """
ALTER TABLE papers ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', {title}), 'A') ||
    setweight(to_tsvector('simple', {authors}), 'B') ||
    setweight(to_tsvector('english', {abstract}), 'C')
) STORED
"""
# The names as text ("Paul Erdős, Hans Müller"), for the index and for FTS5's external content.
_NAMES = "(SELECT group_concat(value, ', ') FROM json_each({row}.authors))"
_SQLITE_TRIGGERS = [
    """CREATE TRIGGER papers_fts_ai AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts(rowid, title, authors, abstract)
        VALUES (new.id, new.title, {new}, new.abstract);
    END""",
    """CREATE TRIGGER papers_fts_ad AFTER DELETE ON papers BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, authors, abstract)
        VALUES ('delete', old.id, old.title, {old}, old.abstract);
    END""",
    """CREATE TRIGGER papers_fts_au AFTER UPDATE OF title, authors, abstract ON papers BEGIN
        INSERT INTO papers_fts(papers_fts, rowid, title, authors, abstract)
        VALUES ('delete', old.id, old.title, {old}, old.abstract);
        INSERT INTO papers_fts(rowid, title, authors, abstract)
        VALUES (new.id, new.title, {new}, new.abstract);
    END""",
]


def _sqlite_fts(*, folded: bool) -> list[str]:
    for name in ("papers_fts_ai", "papers_fts_ad", "papers_fts_au"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS papers_fts")
    op.execute("DROP VIEW IF EXISTS papers_fts_source")
    if not folded:  # as revision 0f767d3c9e36 built it
        names = {"new": "new.authors", "old": "old.authors"}
        content, tokenize = "papers", "porter unicode61"
    else:
        op.execute(
            "CREATE VIEW papers_fts_source AS SELECT id, title, "
            + _NAMES.format(row="papers")
            + " AS authors, abstract FROM papers"
        )
        names = {"new": _NAMES.format(row="new"), "old": _NAMES.format(row="old")}
        content, tokenize = "papers_fts_source", "porter unicode61 remove_diacritics 2"
    return [
        f"CREATE VIRTUAL TABLE papers_fts USING fts5(title, authors, abstract, content='{content}', "
        f"content_rowid='id', tokenize='{tokenize}')",
        *(trigger.format(**names) for trigger in _SQLITE_TRIGGERS),
        # FTS5's 'rebuild' fails ("SQL logic error") on a view with a subquery: index the rows directly.
        "INSERT INTO papers_fts(papers_fts) VALUES ('rebuild')"
        if not folded
        else f"INSERT INTO papers_fts(rowid, title, authors, abstract) SELECT id, title, authors, abstract FROM {content}",
    ]


def _postgres_fts(fields: dict[str, str]) -> None:
    op.execute("DROP INDEX IF EXISTS ix_papers_search_vector")
    op.execute("ALTER TABLE papers DROP COLUMN IF EXISTS search_vector")
    op.execute(_POSTGRES_FTS.format(**fields))
    op.execute("CREATE INDEX ix_papers_search_vector ON papers USING gin (search_vector)")


def upgrade() -> None:
    with op.batch_alter_table("summaries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phase", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("context_reason", sa.String(length=200), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _postgres_fts(_FIELDS_PG["new"])
    else:
        for statement in _sqlite_fts(folded=True):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgres_fts(_FIELDS_PG["old"])
    else:
        for statement in _sqlite_fts(folded=False):
            op.execute(statement)
    op.drop_column("summaries", "context_reason")  # plain DROP COLUMN: no rebuild of the table
    op.drop_column("summaries", "phase")
