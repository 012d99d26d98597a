"""Full-text search per dialect: PostgreSQL tsvector + GIN, SQLite FTS5 (DDL in the migrations)."""

from __future__ import annotations

import json
import re
import unicodedata

from sqlalchemy import text
from sqlalchemy.orm import Session

MAX_TERMS = 32
MAX_NAME = 300  # characters of an author's name searched for
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
# Latin letters with diacritics and their bare letters, one for one: PostgreSQL's `translate()` folds
# the indexed author names with this table (no `unaccent` extension needed: it is not there by
# default), and `fold_name` folds what a reader types the same way, so "Erdos" finds "Erdős" and
# "Muller" "Müller". SQLite's FTS5 folds with its own tokenizer (`unicode61 remove_diacritics 2`).
# The migration that built the index holds its own copy: change both together, with a new migration.
FOLD_FROM = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİ"
    "ĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰ"
    "ǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳøØłŁđĐıħĦŧŦ"
)
FOLD_TO = (
    "AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiI"
    "JjKkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzsOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOoj"
    "GgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyoOlLdDihHtT"
)
_FOLD = str.maketrans(FOLD_FROM, FOLD_TO)


def fold_name(name: str) -> str:
    """A name without its diacritics, lower case, its spaces collapsed: how author names are
    compared and searched ("Alice  Zed", as a profile collapses it, finds "Alice Zed")."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().split())


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
        # The index holds every field folded (FOLD_FROM -> FOLD_TO): the words asked for are too.
        query, terms = query.translate(_FOLD), [term.translate(_FOLD) for term in terms]
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
    name is matched unstemmed too: "Lovelace" must not become "lovelac"; and without diacritics on
    both sides (`fold_name`), so "Erdos" finds "Erdős"."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    # PostgreSQL's index folded the names with FOLD_FROM -> FOLD_TO; SQLite's tokenizer folds the
    # query as it folded the names.
    terms = query_terms(name.translate(_FOLD) if postgresql else name)
    if not terms:
        return []
    if postgresql:  # the name as written, parsed as the index parsed it: "Müller-Lüdenscheidt" is
        # one hyphenated word and its two parts there, at three positions a phrase of \w+ terms misses
        sql = "SELECT id FROM papers WHERE search_vector @@ phraseto_tsquery('simple', :q) ORDER BY id DESC LIMIT :limit"
        phrase = " ".join(name.translate(_FOLD).replace("\x00", " ").split())[:MAX_NAME]
        rows = session.execute(text(sql), {"q": phrase, "limit": limit})
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
