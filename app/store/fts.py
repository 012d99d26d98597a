"""Full-text search per dialect: PostgreSQL tsvector + GIN, SQLite FTS5 (DDL in the migrations)."""

from __future__ import annotations

import json
import re

from sqlalchemy import text
from sqlalchemy.orm import Session

MAX_TERMS = 32
# PostgreSQL: relevance (ts_rank_cd) is computed for the newest RANKED matches, not for every one:
# ranking costs ~10-30 us a row, and a broad word matches ~3 % of a million papers. Below
# BROAD_MATCHES estimated matches, their ids come from the GIN index (a heap fetch each, ~3 us);
# above, the newest are found by walking the primary key backwards (it meets one soon).
RANKED = 400
BROAD_MATCHES = 10_000
_PG_NEWEST_NARROW = (
    "WITH m AS MATERIALIZED (SELECT id FROM papers, {parser}('english', :q) AS q WHERE search_vector @@ q) "
    "SELECT id FROM m ORDER BY id DESC LIMIT :ranked"
)
_PG_NEWEST_BROAD = "SELECT id FROM papers, {parser}('english', :q) AS q WHERE search_vector @@ q ORDER BY id DESC LIMIT :ranked"
_PG_RANK = (
    "SELECT id, ts_rank_cd(search_vector, q) AS score FROM papers, {parser}('english', :q) AS q "
    "WHERE id = ANY(:ids) ORDER BY score DESC, id DESC LIMIT :limit"
)
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
        newest = session.execute(
            text(_pg_ranked_sql(session, parser, q)), {"q": q, "ranked": max(limit, RANKED)}
        )
        ids = [int(pid) for (pid,) in newest]
        rows = session.execute(text(_PG_RANK.format(parser=parser)), {"q": q, "limit": limit, "ids": ids})
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


def author_search(session: Session, name: str, *, limit: int) -> list[int]:
    """Ids of papers whose author list holds `name`'s words in a row, newest first (candidates: the
    caller checks the exact name). Authors are indexed unstemmed ('simple' in PostgreSQL), so the
    name is matched unstemmed too: "Lovelace" must not become "lovelac"."""
    terms = query_terms(name)
    if not terms:
        return []
    if session.get_bind().dialect.name == "postgresql":
        sql = "SELECT id FROM papers WHERE search_vector @@ phraseto_tsquery('simple', :q) ORDER BY id DESC LIMIT :limit"
        rows = session.execute(text(sql), {"q": " ".join(terms), "limit": limit})
    else:  # a quoted phrase in the authors column: FTS5 syntax in the name stays inert
        sql = "SELECT rowid FROM papers_fts WHERE papers_fts MATCH :q ORDER BY rowid DESC LIMIT :limit"
        rows = session.execute(text(sql), {"q": f'authors : "{" ".join(terms)}"', "limit": limit})
    return [int(pid) for (pid,) in rows]


def _pg_ranked_sql(session: Session, parser: str, q: str) -> str:
    """The query of the newest matches' ids, chosen by the planner's estimate of how many match."""
    plan = session.execute(
        text(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM papers WHERE search_vector @@ {parser}('english', :q)"),
        {"q": q},
    ).scalar_one()
    estimate = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]
    return (_PG_NEWEST_BROAD if estimate > BROAD_MATCHES else _PG_NEWEST_NARROW).format(parser=parser)
