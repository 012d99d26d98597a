"""Ranking for a reader: for you (centroid / SVM + keywords), popularity, time; the rank API and sorts."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.ranking import foryou
from app.ranking.rank import Candidate, Prepared, keyword_scores, rank_for_you, rank_popular
from app.store.counters import bump_counter
from app.store.papers import get_paper


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_centroid_ranks_neighbours_of_stars_first() -> None:
    cands = [Candidate(i, f"t{i}", "", ()) for i in range(1, 5)]
    vectors = {
        1: _unit([1, 0]),
        2: _unit([0, 1]),
        3: _unit([0.9, 0.1]),
        4: _unit([-1, 0]),
        9: _unit([1, 0.05]),
    }
    ranked = rank_for_you(cands, vectors=vectors, starred=[9], keywords=[])
    assert [r.paper_id for r in ranked] == [1, 3, 2, 4]
    assert [r.why for r in ranked] == [9, 9, None, None]  # 2 and 4 are too far from the star to say


def test_svm_from_five_stars_separates_the_cluster() -> None:
    rng = np.random.default_rng(0)
    liked = [_unit(list(rng.normal([3, 0, 0], 0.3))) for _ in range(6)]
    others = [_unit(list(rng.normal([0, 3, 0], 0.3))) for _ in range(30)]
    near = _unit([2.5, 0.3, 0.1])
    vectors = {i + 1: v for i, v in enumerate(liked + others)} | {100: near}
    cands = [Candidate(pid, "", "", ()) for pid in vectors]
    ranked = [r.paper_id for r in rank_for_you(cands, vectors=vectors, starred=[1, 2, 3, 4, 5], keywords=[])]
    assert set(ranked[:2]) == {6, 100}
    assert set(ranked[-5:]) == {1, 2, 3, 4, 5}  # the starred papers themselves are never on top


def test_keywords_count_title_double_and_whole_words() -> None:
    cands = [
        Candidate(1, "Diffusion models for video", "", ()),
        Candidate(2, "Graphs", "we use diffusion here", ()),
        Candidate(3, "Confusion matrices", "nothing", ()),
    ]
    scores = keyword_scores(cands, ["diffusion"])
    assert scores.tolist() == [1.0, 0.5, 0.0]
    ranked = rank_for_you(cands, vectors={}, starred=[], keywords=["Diffusion"])
    assert [r.paper_id for r in ranked] == [1, 2, 3]
    assert [r.keyword for r in ranked] == ["diffusion", "diffusion", None]


def test_popular_keeps_order_on_ties() -> None:
    assert rank_popular([1, 2, 3, 4], {3: {"pdf": 2}, 4: {"kimi": 1, "pdf": 1}, 1: {}}) == [3, 4, 1, 2]


def test_rank_api_puts_starred_like_papers_first(client: TestClient, day: Session) -> None:
    listing = client.get("/api/v1/listings/cs.CV", params={"limit": 1000}).json()
    ids = [p["arxiv_id"] for p in listing["items"]]
    assert len(ids) > 10
    star = ids[-1]
    ranked = client.post("/api/v1/rank", json={"papers": ids, "stars": [star], "keywords": []}).json()
    assert ranked["items"][-1]["arxiv_id"] == star  # never on top: after all the others
    assert ranked["total"] == len(ids)
    assert ranked["personalised"] is True and ranked["note"] is None
    scores = [item["score"] for item in ranked["items"][:-1]]
    assert scores == sorted(scores, reverse=True)


def test_readers_of_a_new_day_at_once_prepare_it_once(
    client: TestClient, day: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight readers' "for you" of the same day at once: one of them prepares the day (texts, vectors),
    the others wait for it and use it; each gets its own order (thirty at once, each preparing a
    5,000-paper day, took a web process past 800 MB)."""
    ids = [
        p["arxiv_id"] for p in client.get("/api/v1/listings/cs.CV", params={"limit": 1000}).json()["items"]
    ]
    built, lock = 0, threading.Lock()
    make = Prepared.of

    def counted(*args: Any, **kwargs: Any) -> Prepared:
        nonlocal built
        with lock:
            built += 1
        time.sleep(0.3)  # a big day's preparation: long enough for the others to ask meanwhile
        return make(*args, **kwargs)

    monkeypatch.setattr(foryou.Prepared, "of", counted)

    def rank(n: int) -> list[str]:
        response = client.post("/api/v1/rank", json={"papers": ids, "stars": [ids[n]]})
        assert response.status_code == 200
        return [item["arxiv_id"] for item in response.json()["items"]]

    with ThreadPoolExecutor(8) as readers:
        orders = list(readers.map(rank, range(8)))
    assert built == 1
    assert [order[-1] for order in orders] == ids[:8]  # each reader's own star last: their own orders
    rank(0)
    assert built == 1  # kept for the next reader while the day is unchanged


def test_kept_days_are_counted_in_papers(client: TestClient, day: Session) -> None:
    """The prepared days are kept up to PREPARED_PAPERS papers, not a count of days: thirty sets of
    4,000 papers, each its own, kept 8 of them and took a web process past 1 GB."""
    ids = [
        p["arxiv_id"] for p in client.get("/api/v1/listings/cs.CV", params={"limit": 1000}).json()["items"]
    ]
    parts = (ids[:30], ids[10:])  # two sets, each its own day to prepare
    for part in parts:
        assert client.post("/api/v1/rank", json={"papers": part, "stars": [part[0]]}).status_code == 200
    assert len(ids) > 30 and foryou._ready.maxsize == foryou.PREPARED_PAPERS
    assert foryou._ready.currsize == len(parts[0]) + len(parts[1])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"papers": []},
        {"papers": ["x" * 100]},
        {"papers": ["2512.13685"] * 5001},
        {"papers": ["2512.13685"], "keywords": [""]},
    ],
)
def test_rank_api_bad_bodies_are_422(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/api/v1/rank", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_listing_sorts(client: TestClient, day: Session) -> None:
    def order(sort: str) -> list[str]:
        soup = BeautifulSoup(client.get("/arxiv/cs.CV", params={"sort": sort}).text, "html.parser")
        return [p["id"] for p in soup.select("div.paper")]

    arxiv = order("arxiv")
    last = get_paper(day, arxiv[-1])
    assert last is not None
    bump_counter(day, paper_id=last.id, kind="pdf", day=dt.date.today(), delta=1)
    assert order("popular")[0] == last.arxiv_id
    assert sorted(order("popular")) == sorted(arxiv)
    by_keyword = order("3D")
    assert "3d" in (get_paper(day, by_keyword[0]).title + get_paper(day, by_keyword[0]).abstract).lower()  # type: ignore[union-attr]
    published = [get_paper(day, i).published_at for i in order("time")]  # type: ignore[union-attr]
    assert published == sorted(published, reverse=True)
    assert order("foryou") == arxiv  # the browser sorts "for you" itself
