"""POST /api/v1/rank's contract: dismissals, negative keywords, why, never on top, the no-signal flag."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.ranking.rank import Candidate, Prepared, Signals, rank_for_you
from app.store.papers import get_paper


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_centroid_dismissals_push_their_neighbours_down() -> None:
    cands = [Candidate(i, "", "", ()) for i in (1, 2, 3)]
    # 1 and 2 are equally close to the star; 2 is close to a dismissed paper as well.
    vectors = {1: _unit([1, 1, 0]), 2: _unit([1, 0, 1]), 3: _unit([0, 1, 1]), 8: _unit([1, 0, 0]),
               9: _unit([0, 0, 1])}  # fmt: skip
    without = {r.paper_id: r.score for r in rank_for_you(cands, vectors=vectors, starred=[8], keywords=[])}
    taught = rank_for_you(cands, vectors=vectors, starred=[8], keywords=[], dismissed=[9])
    with_ = {r.paper_id: r.score for r in taught}
    assert without[1] == without[2]  # a tie without the dismissal
    assert with_[1] == without[1] and with_[2] < without[2] and with_[3] < without[3]
    assert [r.paper_id for r in taught] == [1, 2, 3]


def test_svm_dismissals_move_the_dismissed_topic_down() -> None:
    rng = np.random.default_rng(1)
    liked = [_unit(list(rng.normal([3, 0, 0, 0], 0.4))) for _ in range(8)]
    disliked = [_unit(list(rng.normal([2, 2, 0, 0], 0.4))) for _ in range(12)]  # near the stars' topic
    others = [_unit(list(rng.normal([0, 0, 3, 0], 0.4))) for _ in range(30)]
    vectors = {i + 1: v for i, v in enumerate(liked + disliked + others)}
    cands = [Candidate(pid, "", "", ()) for pid in vectors]
    stars, dismissed = [1, 2, 3, 4, 5], [9, 10, 11, 12]
    plain = rank_for_you(cands, vectors=vectors, starred=stars, keywords=[])
    taught = rank_for_you(cands, vectors=vectors, starred=stars, keywords=[], dismissed=dismissed)
    labelled = {*stars, *dismissed}
    position = {pid: i for i, pid in enumerate(r.paper_id for r in plain if r.paper_id not in labelled)}
    moved = {pid: i for i, pid in enumerate(r.paper_id for r in taught if r.paper_id not in labelled)}
    undismissed_dislikes = range(13, 21)  # the disliked topic's papers the reader has not dismissed
    assert sum(moved[p] for p in undismissed_dislikes) > sum(position[p] for p in undismissed_dislikes)
    scores = {r.paper_id: r.score for r in taught}
    assert [r.paper_id for r in taught[-4:]] == sorted(dismissed, key=lambda p: -scores[p])
    assert {r.paper_id for r in taught[-9:-4]} == set(stars)  # starred after all others, dismissed last


def test_negative_keywords_push_papers_down_and_keywords_are_named() -> None:
    cands = [
        Candidate(1, "Quantum error correction", "codes", ()),
        Candidate(2, "Graph neural networks", "message passing", ()),
        Candidate(3, "Sorting", "we sort quantum states", ()),
        Candidate(4, "Graph sorting", "nothing else", ()),
    ]
    ranked = rank_for_you(cands, vectors={}, starred=[], keywords=["graph"], negative_keywords=["quantum"])
    assert [r.paper_id for r in ranked] == [2, 4, 3, 1]  # a title hit sinks further than an abstract one
    assert [r.keyword for r in ranked] == ["graph", "graph", None, None]
    assert all(r.why is None for r in ranked)


def _ids(client: TestClient) -> list[str]:
    listing = client.get("/api/v1/listings/cs.CV", params={"limit": 1000}).json()
    return [p["arxiv_id"] for p in listing["items"]]


def test_rank_api_puts_starred_then_dismissed_last_and_says_why(client: TestClient, day: Session) -> None:
    ids = _ids(client)
    stars, dismissed = ids[:3], ids[3:5]
    body = {"papers": ids, "stars": stars, "dismissed": dismissed, "keywords": [], "negative_keywords": []}
    page = client.post("/api/v1/rank", json=body).json()
    order = [item["arxiv_id"] for item in page["items"]]
    assert sorted(order) == sorted(ids) and page["personalised"] is True and page["note"] is None
    assert set(order[-5:-2]) == set(stars) and set(order[-2:]) == set(dismissed)
    titles = {s: get_paper(day, s).title for s in stars}  # type: ignore[union-attr]
    explained = [item for item in page["items"][:-5] if item["why"] is not None]
    assert explained  # papers sharing words with the starred ones are explained by them
    for item in explained:
        assert item["why"]["arxiv_id"] in stars and item["why"]["title"] == titles[item["why"]["arxiv_id"]]
    assert all(item["why"] is None for item in page["items"][-5:])  # starred / dismissed: no picks
    assert all(set(item) == {"arxiv_id", "score", "why", "keyword"} for item in page["items"])


def test_rank_api_negative_keyword_sinks_its_papers(client: TestClient, day: Session) -> None:
    ids = _ids(client)
    word = "image"
    body = {"papers": ids, "negative_keywords": [word]}
    page = client.post("/api/v1/rank", json=body).json()
    assert page["personalised"] is True
    hits = []
    for item in page["items"]:
        paper = get_paper(day, item["arxiv_id"])
        assert paper is not None
        hits.append(re.search(rf"\b{word}\b", f"{paper.title} {paper.abstract}", re.IGNORECASE) is not None)
    assert any(hits) and not all(hits)
    assert hits == sorted(hits)  # every paper without the word before every paper with it


def test_rank_api_says_when_there_is_no_signal(client: TestClient, day: Session) -> None:
    ids = _ids(client)
    page = client.post("/api/v1/rank", json={"papers": ids}).json()
    assert page["personalised"] is False and "no stars" in page["note"]
    assert [item["arxiv_id"] for item in page["items"]] == ids  # the order is unchanged
    unknown = client.post("/api/v1/rank", json={"papers": ids, "stars": ["2401.99999"]}).json()
    assert unknown["personalised"] is False and "known here yet" in unknown["note"]
    dismissed = client.post("/api/v1/rank", json={"papers": ids, "dismissed": [ids[0]]}).json()
    assert dismissed["personalised"] is True and dismissed["items"][-1]["arxiv_id"] == ids[0]


@pytest.mark.parametrize(
    "body",
    [
        {"papers": ["2512.13685"], "dismissed": ["x" * 100]},
        {"papers": ["2512.13685"], "dismissed": ["2512.13685"] * 2001},
        {"papers": ["2512.13685"], "negative_keywords": [""]},
        {"papers": ["2512.13685"], "negative_keywords": ["w"] * 51},
    ],
)
def test_rank_api_bad_feedback_is_422(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/api/v1/rank", json=body)
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)


def test_words_shared_with_the_stars_break_a_tie_of_vectors() -> None:
    same = _unit([1, 1])
    cands = [
        Candidate(1, "A study of trees", "we grow trees in a forest", ()),
        Candidate(2, "Suffix automata", "we build suffix automata for strings", ()),
        Candidate(3, "Fish", "on fish in lakes", ()),
        Candidate(9, "Compact suffix automata", "suffix automata, smaller", ()),
    ]
    vectors = {1: same, 2: same, 3: same, 9: _unit([1, 0.9])}
    ranked = rank_for_you(cands, vectors=vectors, starred=[9], keywords=[])
    assert [r.paper_id for r in ranked][:1] == [2] and ranked[-1].paper_id == 9


def test_words_of_a_star_from_another_day_count_too() -> None:
    same = _unit([1, 1])
    cands = [
        Candidate(1, "A study of trees", "we grow trees in a forest", ()),
        Candidate(2, "Suffix automata", "we build suffix automata for strings", ()),
        Candidate(3, "Fish", "on fish in lakes", ()),
    ]
    prepared = Prepared.of(cands, {1: same, 2: same, 3: _unit([1, 0.3])})
    star = {9: _unit([1, 0.9])}
    for _ in range(2):  # the second time from the day's kept rows
        signals = Signals(stars=star, star_texts={9: "Compact suffix automata: suffix automata, smaller"})
        assert [r.paper_id for r in prepared.rank(signals)] == [2, 1, 3]
    assert [r.paper_id for r in prepared.rank(Signals(stars=star))] == [1, 2, 3]  # a tie by vectors alone
