"""The day's nearest-neighbour graph and the feedback it gives "for you" (app.ranking.graph, rank)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from app.ranking import graph
from app.ranking.graph import DayGraph
from app.ranking.rank import FEEDBACK_MIN_CANDIDATES, Candidate, Prepared, Signals


def _arc(angles: np.ndarray, z: float = 0.0) -> np.ndarray:
    points = np.stack([np.cos(angles), np.sin(angles), np.full(len(angles), z)], axis=1)
    unit: np.ndarray = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    return unit


def test_the_walk_follows_a_chain_from_its_seed() -> None:
    vectors = _arc(np.linspace(0.0, 1.5, 40))
    walked = DayGraph(vectors).spread([0])
    assert walked[0] == walked.max()
    assert walked[5] > walked[20] > walked[39] > 0  # reached along the chain, less the farther
    assert not DayGraph(vectors).spread([]).any()


def test_feedback_lifts_a_paper_of_the_stars_topic_above_an_equally_close_stray() -> None:
    # The starred paper begins a dense arc of papers (its topic, in the xy plane); "near" lies on the
    # arc, "stray" begins another topic (an arc towards z), both at the same cosine to the star: only
    # their topics' papers tell them apart.
    steps = np.arange(FEEDBACK_MIN_CANDIDATES + 10) * 0.01
    topic = _arc(steps)
    other = np.stack([np.cos(0.12 + steps[:30]), np.zeros(30), np.sin(0.12 + steps[:30])], axis=1)
    vectors = {i: v.astype(np.float32) for i, v in enumerate([*topic, *other])}
    star, near_id, stray_id = topic[0], 12, len(topic)
    assert abs(float(star @ vectors[near_id]) - float(star @ vectors[stray_id])) < 1e-6
    candidates = [Candidate(i, f"paper {i}", "an abstract", ()) for i in vectors]
    ranked = Prepared.of(candidates, vectors).rank(Signals(stars={0: star}, starred=[0]))
    scores = {r.paper_id: r.score for r in ranked}
    assert scores[near_id] > scores[stray_id] + 0.01
    # Without enough candidates there is no feedback: the two tie on the cosine alone.
    few = {i: vectors[i] for i in (0, near_id, stray_id)}
    small = Prepared.of([c for c in candidates if c.paper_id in few], few)
    scores = {r.paper_id: r.score for r in small.rank(Signals(stars={0: star}, starred=[0]))}
    assert abs(scores[near_id] - scores[stray_id]) < 1e-5


def test_parts_of_different_days_are_built_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two readers of two new days at once: their graphs (and TF-IDF, eigenbases) are built in turn,
    not side by side (each holds tens of MB while it is made), and both days get theirs."""
    running, most, lock = 0, 0, threading.Lock()
    make = graph._normalised_knn

    def slow(vectors: np.ndarray) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        return make(vectors)

    monkeypatch.setattr(graph, "_normalised_knn", slow)
    days = [DayGraph(_arc(np.linspace(start, start + 1.0, 30))) for start in (0.0, 2.0)]
    with ThreadPoolExecutor(2) as pool:
        walks = list(pool.map(lambda day: day.spread([0]), days))
    assert most == 1
    assert all(walk[0] == walk.max() for walk in walks)
