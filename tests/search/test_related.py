"""Related papers re-ranked (app/search/related.py): neighbourhood expansion and shared authors."""

from __future__ import annotations

import numpy as np
import pytest

from app.arxiv.parse import parse_feed
from app.search.embed import paper_text
from app.search.embedder import BUNDLED_MODEL
from app.search.related import POOL, rerank_related
from app.search.torch_embed import SentenceEmbedder
from tests.conftest import DATA


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_a_shared_author_and_the_neighbourhood_lift_a_neighbour() -> None:
    query = _unit([1, 0, 0])
    vectors = {
        1: _unit([0.9, 0.4, 0]),
        2: _unit([0.9, 0, 0.4]),
        3: _unit([0.8, 0.6, 0]),
        4: _unit([0.8, 0.55, 0]),
    }
    found = [(pid, float(vectors[pid] @ query)) for pid in (2, 1, 3, 4)]  # 2 first by a hair: a tie
    authors_of = {1: ["A. Author"], 2: ["B. Other"], 3: ["C. Third"], 4: ["D. Fourth"]}
    plain = rerank_related(query, found, vectors=vectors, authors=[], authors_of=authors_of)
    # 1 sits in the neighbourhood of 3 and 4 (its topic), 2 off it: the expansion puts 1 first.
    assert [pid for pid, _ in plain][:2] == [1, 2]
    fused = rerank_related(query, found, vectors=vectors, authors=["b.  OTHER"], authors_of=authors_of)
    assert next(pid for pid, _ in fused) == 2  # a shared author (case and spaces aside) weighs more
    assert all(-1.0 <= score <= 1.2 for _, score in fused)  # kept on the cosine's scale


def test_reranked_related_papers_share_the_category_more_often_on_real_papers() -> None:
    """On 100 real cs papers with the real model: the re-ranked top 10 share the paper's primary
    category at least as often as plain cosine's, and differ from it (benchmarks/quality.py measures
    the same on ~2,500 papers)."""
    feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
    entries = [e for e in feed.entries if e.abstract]
    model = SentenceEmbedder(BUNDLED_MODEL, device="cpu", dtype="float32", batch_size=32).load()
    vectors = model.embed([paper_text(e.title, e.abstract) for e in entries])
    cosines = vectors @ vectors.T
    np.fill_diagonal(cosines, -np.inf)
    primaries = [e.primary_category for e in entries]
    authors_of = {i: list(e.authors) for i, e in enumerate(entries)}
    plain_hits = fused_hits = changed = 0
    for i in range(len(entries)):
        order = np.argsort(-cosines[i], kind="stable")[:POOL]
        found = [(int(j), float(cosines[i, j])) for j in order]
        near = {j: vectors[j] for j, _ in found}
        fused = rerank_related(vectors[i], found, vectors=near, authors=authors_of[i], authors_of=authors_of)
        plain_top, fused_top = [j for j, _ in found[:10]], [j for j, _ in fused[:10]]
        plain_hits += sum(primaries[j] == primaries[i] for j in plain_top)
        fused_hits += sum(primaries[j] == primaries[i] for j in fused_top)
        changed += plain_top != fused_top
    assert changed > len(entries) // 2
    assert fused_hits > plain_hits


@pytest.mark.parametrize("found", [[], [(7, 0.5)]])
def test_neighbours_without_vectors_keep_their_order(found: list[tuple[int, float]]) -> None:
    assert rerank_related(_unit([1, 0]), found, vectors={}, authors=[], authors_of={}) == found
