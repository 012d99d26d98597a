"""The "for you" SVM: the Woodbury Newton solver gives LinearSVC's answer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.svm import LinearSVC

from app.ranking import svm
from app.ranking.svm import DaySvm


def _unit(rows: NDArray[np.float64]) -> NDArray[np.float32]:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _day(seed: int) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32]]:
    """400 clustered 64-d candidates, 20 of them starred, plus 5 starred papers of other days."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((8, 64)))
    topic = rng.integers(0, 8, 400)
    candidates = _unit(centres[topic] + 0.3 * rng.standard_normal((400, 64)))
    starred = np.sort(rng.choice(np.flatnonzero(topic == 2), 20, replace=False)).astype(np.int64)
    elsewhere = _unit(centres[2] + 0.3 * rng.standard_normal((5, 64)))
    return candidates, starred, np.vstack([candidates[starred], elsewhere])


def _liblinear_margins(
    candidates: NDArray[np.float32], starred: NDArray[np.int64], stars: NDArray[np.float32]
) -> NDArray[np.float64]:
    negatives = np.delete(candidates, starred, axis=0)
    data = np.vstack([stars, negatives])
    labels = np.concatenate([np.ones(len(stars)), np.zeros(len(negatives))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter at this tolerance
        model = LinearSVC(class_weight="balanced", C=svm.C, tol=1e-8, dual=True, max_iter=200_000)
        model.fit(data, labels)
    return np.asarray(model.decision_function(candidates), dtype=np.float64)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_woodbury_newton_solves_linearsvc_problem(seed: int) -> None:
    candidates, starred, stars = _day(seed)
    ours = DaySvm.of(candidates).margins(stars, starred)
    theirs = _liblinear_margins(candidates, starred, stars)
    assert np.abs(ours - theirs).max() < 1e-3
    assert list(np.argsort(-ours)[:30]) == list(np.argsort(-theirs)[:30])


def test_day_svm_is_reused_across_readers() -> None:
    candidates, starred, stars = _day(4)
    day = DaySvm.of(candidates)
    first = day.margins(stars, starred)
    eigen = day.eigen()
    other = day.margins(stars[:10], starred[:10])  # another reader, fewer stars
    assert day.eigen() is eigen  # the day's eigenbasis is computed once
    assert np.abs(other - _liblinear_margins(candidates, starred[:10], stars[:10])).max() < 1e-3
    assert not np.allclose(first, other)


def test_no_convergence_falls_back_to_liblinear(monkeypatch: pytest.MonkeyPatch) -> None:
    candidates, starred, stars = _day(5)
    monkeypatch.setattr(svm, "MAX_ROUNDS", 0)
    fallback = DaySvm.of(candidates).margins(stars, starred)
    assert np.abs(fallback - _liblinear_margins(candidates, starred, stars)).max() < 1e-2


def test_dismissed_papers_are_weighted_negatives_as_liblinear_solves_them() -> None:
    candidates, starred, stars = _day(3)
    rng = np.random.default_rng(3)
    dismissed_rows = np.sort(rng.choice(np.setdiff1d(np.arange(400), starred), 8, replace=False))
    dismissed = candidates[dismissed_rows]
    ours = DaySvm.of(candidates).margins(stars, starred, dismissed=dismissed, dismissed_rows=dismissed_rows)
    excluded = np.union1d(starred, dismissed_rows)
    negatives = np.delete(candidates, excluded, axis=0)
    data = np.vstack([stars, negatives, dismissed])
    labels = np.concatenate([np.ones(len(stars)), np.zeros(len(negatives) + len(dismissed))])
    total = len(data)
    c_pos, c_neg = total / (2 * len(stars)), total / (2 * (len(negatives) + len(dismissed)))
    weights = np.concatenate(
        [
            np.full(len(stars), c_pos),
            np.full(len(negatives), c_neg),
            np.full(len(dismissed), c_neg * svm.DISMISSED_WEIGHT),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LinearSVC(C=svm.C, tol=1e-8, dual=True, max_iter=200_000).fit(
            data, labels, sample_weight=weights
        )
    assert np.abs(ours - model.decision_function(candidates)).max() < 1e-3
    plain = DaySvm.of(candidates).margins(stars, starred)
    assert ours[dismissed_rows].mean() < plain[dismissed_rows].mean()  # the dismissed papers went down
