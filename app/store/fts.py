"""Full-text search per dialect: PostgreSQL tsvector + GIN, SQLite FTS5 (DDL in the migrations)."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.orm import Session

MAX_TERMS = 32
_TERM_RE = re.compile(r"\w+", re.UNICODE)


def query_terms(query: str) -> list[str]:
    """The words of a query, without any search syntax (no operator reaches the database)."""
    return list(dict.fromkeys(t.lower() for t in _TERM_RE.findall(query)))[:MAX_TERMS]


def keyword_search(
    session: Session, query: str, *, limit: int, match_all: bool = True
) -> list[tuple[int, float]]:
    """(paper id, score) best first; every word must match unless `match_all` is False."""
    terms = query_terms(query)
    if not terms:
        return []
    query = query.replace("\x00", " ")  # PostgreSQL text cannot hold NUL: it is no search syntax either
    if session.get_bind().dialect.name == "postgresql":
        # websearch_to_tsquery accepts any text ("phrases", -not, or) without a syntax error; the
        # any-word form joins \w+ terms with |, which cannot inject tsquery syntax either.
        parser, q = ("websearch_to_tsquery", query) if match_all else ("to_tsquery", " | ".join(terms))
        rows = session.execute(
            text(
                "SELECT id, ts_rank_cd(search_vector, q) AS score "
                f"FROM papers, {parser}('english', :q) AS q "
                "WHERE search_vector @@ q ORDER BY score DESC, id DESC LIMIT :limit"
            ),
            {"q": q, "limit": limit},
        )
    else:
        # Quoted terms: FTS5 syntax in the query stays inert.
        match = (" " if match_all else " OR ").join(f'"{term}"' for term in terms)
        rows = session.execute(
            text(
                "SELECT rowid, -bm25(papers_fts, 10.0, 5.0, 1.0) AS score FROM papers_fts "
                "WHERE papers_fts MATCH :q ORDER BY bm25(papers_fts, 10.0, 5.0, 1.0), rowid DESC LIMIT :limit"
            ),
            {"q": match, "limit": limit},
        )
    return [(int(pid), float(score)) for pid, score in rows]
