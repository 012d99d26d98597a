"""Digests: each profile's top "for you" papers of the latest day (or week) of its categories.

Many profiles follow the same categories: a pool (the day's papers, their vectors and texts) is
prepared once per set of categories and shared; a profile then costs one product of the day's
vectors with its stars' centroid, less the cosine to its dismissed papers' centroid
(`app/ranking/rank.py`'s score for readers with few stars), keyword scans cached per term across
profiles, negative keywords taken off as rank.py does, and a sort. Starred and dismissed papers are
never picked. Followed authors count as keywords (matched in the author lists).

Why not the SVM that the website's "for you" uses from five stars: its per-reader solve took
~100 ms on a 2,500-paper day with stars spread over topics (benchmarks/digests.py), so 10,000
readers would need ~15 minutes; the centroid costs well under a millisecond.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.arxiv.ids import abs_url
from app.config import Settings
from app.ranking.rank import (
    DISMISSED_CENTROID_WEIGHT,
    KEYWORD_WEIGHT,
    NEGATIVE_KEYWORD_WEIGHT,
    WHY_MIN_COSINE,
    Candidate,
    CandidateTexts,
    Prepared,
    centroid_scores,
    keyword_terms,
)
from app.store.embeddings import vectors_for
from app.store.listings import CategoryQuery, day_listing, latest_day
from app.store.models import FetchLog, Listing, Paper, Profile, ProfileItem
from app.store.papers import as_utc
from app.summarize.service import cached_faqs

WEEK = 7
STALE_DAYS = 7  # a followed category silent this long does not hold a digest back
SUMMARY_CHARS = 280


@dataclass(frozen=True, slots=True)
class Reader:
    """What a digest is made from: one profile's live items and settings."""

    profile_id: int
    frequency: str  # off | daily | weekly ("off": the feed still shows the daily digest)
    categories: tuple[str, ...]
    stars: tuple[str, ...] = ()
    dismissals: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    negative_keywords: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    email: str | None = None
    webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class DigestPaper:
    paper_id: int
    arxiv_id: str
    title: str
    authors: list[str]
    url: str  # the paper's page on this site
    abs_url: str
    score: float
    reason: str | None  # why it was picked: "close to <starred title>", "mentions <keyword>"
    summary: str | None = None  # the FAQ's one-line summary, when one was generated


@dataclass(frozen=True, slots=True)
class Digest:
    profile_id: int
    key_day: dt.date  # what "once" counts in: the listing day, or the Monday of its week
    listing_day: dt.date
    frequency: str
    papers: list[DigestPaper]


def load_readers(
    session: Session, settings: Settings, *, profile_ids: Sequence[int] | None = None, due: bool = False
) -> list[Reader]:
    """The profiles asked for (or all), with their live items; `due`: only those with a digest to send."""
    stmt = select(
        Profile.id, Profile.digest_frequency, Profile.digest_email, Profile.digest_webhook_url
    ).order_by(Profile.id)
    if profile_ids is not None:
        stmt = stmt.where(Profile.id.in_(profile_ids))
    if due:
        stmt = stmt.where(
            Profile.digest_frequency.in_(("daily", "weekly")),
            Profile.digest_email.is_not(None) | Profile.digest_webhook_url.is_not(None),
        )
    profiles = session.execute(stmt).all()
    items: dict[int, dict[str, list[str]]] = {row.id: {} for row in profiles}
    ids = list(items)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(ProfileItem.profile_id, ProfileItem.kind, ProfileItem.value)
            .where(ProfileItem.profile_id.in_(ids[start : start + 500]), ProfileItem.removed.is_(False))
            .order_by(ProfileItem.profile_id, ProfileItem.updated_at)
        )
        for pid, kind, value in rows:
            items[pid].setdefault(kind, []).append(value)
    readers = []
    for row in profiles:
        mine = items[row.id]
        readers.append(
            Reader(
                profile_id=row.id,
                frequency=row.digest_frequency,
                categories=tuple(sorted(mine.get("categories", ()))) or tuple(settings.arxiv_categories),
                stars=tuple(mine.get("stars", ())),
                dismissals=frozenset(mine.get("dismissals", ())),
                keywords=tuple(mine.get("keywords", ())),
                negative_keywords=tuple(mine.get("negative_keywords", ())),
                authors=tuple(mine.get("authors", ())),
                email=row.digest_email,
                webhook_url=row.digest_webhook_url,
            )
        )
    return readers


def compose_digests(session: Session, settings: Settings, readers: Sequence[Reader]) -> list[Digest]:
    """The digest of each reader whose categories have a complete latest day; others are left out.

    A reader's day is the latest announcement day of its categories, once every category that
    announced anything in the last week has reached it or was fetched since and announced nothing
    (ingestion runs category by category: a digest made half-way would miss papers and could not
    be sent again).
    """
    latest = _latest_days(session, {c for r in readers for c in r.categories})
    quiet = _quiet_on(session, latest)
    labelled = {s for r in readers for s in (*r.stars, *r.dismissals)}
    stars = _star_vectors(session, labelled, model=settings.embed_model)  # dismissed papers' too
    chosen = []
    for reader in readers:
        day = _ready_day(latest, reader.categories, quiet)
        if day is not None:
            chosen.append((reader, (reader.categories, day, WEEK if reader.frequency == "weekly" else 1)))
    keys = dict.fromkeys(key for _, key in chosen)
    pools = {key: _Pool.build(session, settings, key[0], day=key[1], span=key[2]) for key in keys}
    corpus = _Corpus(list(pools.values()))
    for pool in pools.values():
        pool.attach(corpus)
    digests = []
    for reader, key in chosen:
        papers = pools[key].pick(reader, stars, limit=settings.digest_papers)
        day = key[1]
        key_day = day - dt.timedelta(days=day.weekday()) if reader.frequency == "weekly" else day
        digests.append(Digest(reader.profile_id, key_day, day, reader.frequency, papers))
    return _with_summaries(session, digests)


def profile_digest(session: Session, settings: Settings, profile_id: int) -> Digest | None:
    """One profile's digest (its feed, the MCP's "for you"); None until its categories' day is complete."""
    digests = compose_digests(session, settings, load_readers(session, settings, profile_ids=[profile_id]))
    return digests[0] if digests else None


def _latest_days(session: Session, categories: Iterable[str]) -> dict[str, dt.date | None]:
    return {c: latest_day(session, CategoryQuery((c,))) for c in sorted(categories)}


def _ready_day(
    latest: dict[str, dt.date | None], categories: Sequence[str], quiet: dict[dt.date, set[str]]
) -> dt.date | None:
    """The categories' newest day, once each of them that announced anything lately has it or was
    fetched since it came and announced nothing (`_quiet_on`)."""
    days = {c: d for c in categories if (d := latest.get(c)) is not None}
    if not days:
        return None
    newest = max(days.values())
    behind = {c for c, d in days.items() if d != newest and (newest - d).days < STALE_DAYS}
    return newest if behind <= quiet.get(newest, set()) else None


def _quiet_on(session: Session, latest: dict[str, dt.date | None]) -> dict[dt.date, set[str]]:
    """Per newest day D of some categories: the categories behind it whose last fetch began after
    D's first listing was fetched, succeeded and added nothing. They announced nothing on D (small
    categories often do not): without this, one of them held every digest that follows it back for
    a week. A category fetched before D came, failing, or never fetched (a file) still holds it."""
    fetched = _last_fetches(session, list(latest))
    quiet: dict[dt.date, set[str]] = {}
    for day in {d for d in latest.values() if d is not None}:
        arrived = [f.added_at for c, d in latest.items() if d == day and (f := fetched.get(c)) and f.added_at]
        if not arrived:
            continue
        came = min(arrived)
        quiet[day] = {
            c
            for c, d in latest.items()
            if d != day and (f := fetched.get(c)) is not None and f.nothing_since is not None
            and f.nothing_since >= came
        }  # fmt: skip
    return quiet


@dataclass(frozen=True, slots=True)
class _Fetches:
    added_at: dt.datetime | None  # when its last fetch that added listings began
    nothing_since: dt.datetime | None  # when its last fetch began, if it succeeded adding nothing


def _last_fetches(session: Session, categories: Sequence[str]) -> dict[str, _Fetches]:
    """Each category's last fetch that added listings, and its last fetch (two grouped reads)."""
    if not categories:
        return {}
    added_rows = session.execute(
        select(FetchLog.category, func.max(FetchLog.started_at))
        .where(FetchLog.category.in_(categories), FetchLog.error.is_(None), FetchLog.listings_added > 0)
        .group_by(FetchLog.category)
    )
    added = {row[0]: row[1] for row in added_rows}
    newest = (
        select(FetchLog.category, func.max(FetchLog.started_at).label("at"))
        .where(FetchLog.category.in_(categories))
        .group_by(FetchLog.category)
        .subquery()
    )
    last = session.execute(
        select(
            FetchLog.category,
            FetchLog.started_at,
            FetchLog.error,
            FetchLog.http_status,
            FetchLog.listings_added,
        ).join(newest, (FetchLog.category == newest.c.category) & (FetchLog.started_at == newest.c.at))
    ).all()
    nothing = {
        row.category: as_utc(row.started_at)
        for row in last
        if row.error is None and row.http_status == 200 and not row.listings_added
    }
    return {c: _Fetches(as_utc(added.get(c)), nothing.get(c)) for c in categories}


# Starred papers known to the database: arXiv id -> (paper id, title, vector or None).
_Stars = dict[str, tuple[int, str, NDArray[np.float32] | None]]


def _star_vectors(session: Session, arxiv_ids: set[str], *, model: str) -> _Stars:
    found: _Stars = {}
    wanted = sorted(arxiv_ids)
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Paper.id, Paper.arxiv_id, Paper.title).where(
                Paper.arxiv_id.in_(wanted[start : start + 500])
            )
        ).all()
        vectors = vectors_for(session, paper_ids=[r.id for r in rows], model=model)
        found.update({r.arxiv_id: (r.id, r.title, vectors.get(r.id)) for r in rows})
    return found


@dataclass
class _Pool:
    """One set of categories' candidates for a day (or a week), ready to rank for many readers."""

    papers: list[Paper]
    prepared: Prepared
    index: dict[int, int]  # paper id -> row
    row_of: dict[str, int]  # arXiv id -> row
    vectors: dict[int, NDArray[np.float32]]
    site: str
    corpus: _Corpus | None = None  # the texts of every pool's papers, scanned once per term
    corpus_rows: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def build(
        cls, session: Session, settings: Settings, categories: tuple[str, ...], *, day: dt.date, span: int
    ) -> _Pool:
        query = CategoryQuery(categories)
        days = session.scalars(
            select(Listing.announced_on)
            .where(query.listing_filter(), Listing.announced_on > day - dt.timedelta(days=span))
            .where(Listing.announced_on <= day)
            .distinct()
            .order_by(Listing.announced_on.desc())
        ).all()
        papers: dict[int, Paper] = {}
        for listed_day in days:
            for listed in day_listing(session, query, day=listed_day):
                papers.setdefault(listed.paper.id, listed.paper)
        rows = list(papers.values())
        candidates = [Candidate(p.id, p.title, p.abstract, p.authors) for p in rows]
        vectors = vectors_for(session, paper_ids=[p.id for p in rows], model=settings.embed_model)
        prepared = Prepared.of(candidates, vectors)
        site = settings.public_url.rstrip("/")
        index = {p.id: i for i, p in enumerate(rows)}
        row_of = {p.arxiv_id: i for i, p in enumerate(rows)}
        return cls(rows, prepared, index, row_of, vectors, site)

    def attach(self, corpus: _Corpus) -> None:
        self.corpus = corpus
        self.corpus_rows = np.fromiter((corpus.row[p.id] for p in self.papers), dtype=np.int64)

    def mentions(self, term: str, *, title_only: bool = False) -> NDArray[np.bool_]:
        """This pool's rows mentioning `term` as a word (scanned once for all pools, in the corpus)."""
        assert self.corpus is not None
        return self.corpus.mentions(term, title_only=title_only)[self.corpus_rows]

    def pick(self, reader: Reader, stars: _Stars, *, limit: int) -> list[DigestPaper]:
        if not self.papers:
            return []
        starred = {stars[a][0]: stars[a] for a in reader.stars if a in stars}
        star_vectors = {pid: v for pid, (_, _, v) in starred.items() if v is not None}
        score = np.zeros(len(self.papers))
        dim = self.prepared.vectors.shape[1]
        star_matrix = np.array([v for v in star_vectors.values() if v.shape[0] == dim], dtype=np.float32)
        if len(star_matrix) and dim:
            score[self.prepared.has_vector] = centroid_scores(self.prepared.vectors, star_matrix)
        dismissed = [v for a in reader.dismissals if a in stars and (v := stars[a][2]) is not None]
        dismissed_matrix = np.array([v for v in dismissed if v.shape[0] == dim], dtype=np.float32)
        if len(dismissed_matrix) and dim:  # a dismissed topic goes down, as in rank.py's centroid score
            far = centroid_scores(self.prepared.vectors, dismissed_matrix)
            score[self.prepared.has_vector] -= DISMISSED_CENTROID_WEIGHT * far
        terms = keyword_terms([*reader.keywords, *reader.authors])
        if terms:  # the same blend as rank.py's keyword score: a title hit counts double
            hits = sum(self.mentions(t).astype(np.float64) + self.mentions(t, title_only=True) for t in terms)
            score += KEYWORD_WEIGHT * hits / (2.0 * len(terms))
        unwanted = keyword_terms(reader.negative_keywords)
        if unwanted:  # as rank.py: a title hit takes NEGATIVE_KEYWORD_WEIGHT, an abstract hit half
            hits = sum(
                self.mentions(t).astype(np.float64) + self.mentions(t, title_only=True) for t in unwanted
            )
            score -= NEGATIVE_KEYWORD_WEIGHT * np.minimum(hits / 2.0, 1.0)
        excluded = np.zeros(len(self.papers), dtype=bool)
        for row in (self.index.get(pid) for pid in starred):
            if row is not None:
                excluded[row] = True
        for row in (self.row_of.get(arxiv_id) for arxiv_id in reader.dismissals):
            if row is not None:
                excluded[row] = True
        score[excluded] = -np.inf
        order = np.argsort(-score, kind="stable")[:limit]  # stable: ties keep the arXiv order
        return [
            self._paper(int(i), float(score[i]), terms, star_vectors, starred)
            for i in order
            if not excluded[i]
        ]

    def _paper(
        self,
        row: int,
        score: float,
        terms: Sequence[str],
        star_vectors: dict[int, NDArray[np.float32]],
        starred: dict[int, tuple[int, str, NDArray[np.float32] | None]],
    ) -> DigestPaper:
        paper = self.papers[row]
        return DigestPaper(
            paper_id=paper.id,
            arxiv_id=paper.arxiv_id,
            title=paper.title,
            authors=list(paper.authors),
            url=f"{self.site}/arxiv/{paper.arxiv_id}",
            abs_url=abs_url(paper.arxiv_id),
            score=round(score, 6),
            reason=self._reason(row, paper.id, terms, star_vectors, starred),
        )

    def _reason(
        self,
        row: int,
        paper_id: int,
        terms: Sequence[str],
        star_vectors: dict[int, NDArray[np.float32]],
        starred: dict[int, tuple[int, str, NDArray[np.float32] | None]],
    ) -> str | None:
        """The starred paper it is closest to, when close enough to explain it (as the website's
        `Prepared._why`); else the first keyword or author it mentions; else none. Every pick said
        "close to" a star before, unrelated ones and those a keyword brought in too."""
        vector = self.vectors.get(paper_id)
        if vector is not None and star_vectors:
            ids = list(star_vectors)
            cosines = np.array([star_vectors[i] for i in ids]) @ vector
            if float(cosines.max()) >= WHY_MIN_COSINE:
                return f"close to {starred[ids[int(np.argmax(cosines))]][1]}"
        hit = next((t for t in terms if self.mentions(t)[row]), None)
        return f"mentions {hit}" if hit else None


class _Corpus:
    """Every pool's papers once (pools of overlapping categories share most), for keyword scans."""

    def __init__(self, pools: Sequence[_Pool]) -> None:
        papers = {p.id: p for pool in pools for p in pool.papers}
        self.row = {pid: i for i, pid in enumerate(papers)}
        self.texts = CandidateTexts.of(
            [Candidate(p.id, p.title, p.abstract, p.authors) for p in papers.values()]
        )
        self._anywhere: dict[str, NDArray[np.bool_]] = {}
        self._in_title: dict[str, NDArray[np.bool_]] = {}

    def mentions(self, term: str, *, title_only: bool = False) -> NDArray[np.bool_]:
        if term not in self._in_title:
            in_title = self.texts.titles.rows_mentioning(term)
            self._in_title[term] = in_title
            self._anywhere[term] = in_title | self.texts.rests.rows_mentioning(term)
        return self._in_title[term] if title_only else self._anywhere[term]


def _with_summaries(session: Session, digests: list[Digest]) -> list[Digest]:
    """Each picked paper with its FAQ's one-line summary, read for all digests at once."""
    paper_ids = sorted({p.paper_id for d in digests for p in d.papers})
    faqs: dict[int, list[dict[str, str]]] = {}
    for start in range(0, len(paper_ids), 500):
        faqs.update(cached_faqs(session, paper_ids[start : start + 500]))
    lines = {pid: one_line_summary(faq) for pid, faq in faqs.items()}
    for digest in digests:
        digest.papers[:] = [replace(p, summary=lines.get(p.paper_id)) for p in digest.papers]
    return digests


_MARKUP = re.compile(r"[*_`#>]+|\[(?P<text>[^\]]*)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def one_line_summary(answers: Sequence[dict[str, str]]) -> str | None:
    """The first sentence of the FAQ's summary answer (the last question, "Summarise ..."), plain text."""
    if not answers:
        return None
    chosen = next(
        (a for a in answers if a.get("question", "").lower().startswith(("summar", "总结"))), answers[-1]
    )
    text = " ".join(_MARKUP.sub(lambda m: m.group("text") or "", chosen.get("answer", "")).split())
    if not text:
        return None
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    return first if len(first) <= SUMMARY_CHARS else first[: SUMMARY_CHARS - 1].rstrip() + "…"
