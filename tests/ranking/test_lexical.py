"""The words side of "for you" (app.ranking.lexical): hashed terms, kept as TfidfVectorizer keeps them."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from app.arxiv.parse import parse_feed
from app.ranking.lexical import MAX_FEATURES, WORD, DayTerms
from tests.conftest import DATA


def _texts() -> list[str]:
    feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
    return [f"{e.title} {e.abstract}" for e in feed.entries]


def test_centroid_scores_agree_with_tfidfvectorizers() -> None:
    """The scores of TfidfVectorizer with the same settings (compute.py's, min_df 2, max_df 0.5), up to
    hash collisions: two terms of one paper each that share a column count as a term of two papers."""
    texts = _texts()
    reference = TfidfVectorizer(
        strip_accents="unicode", stop_words="english", token_pattern=WORD, ngram_range=(1, 2),
        max_features=MAX_FEATURES, sublinear_tf=True, max_df=0.5, min_df=2,
    )  # fmt: skip
    matrix = reference.fit_transform(texts)
    terms = DayTerms(texts)
    _, ours = terms.fitted()
    assert matrix.shape[1] <= ours.shape[1] < 1.1 * matrix.shape[1]
    for stars in ([0, 1, 2], [10, 40, 70, 90], [5]):
        centre = np.asarray(matrix[stars].sum(axis=0)).ravel()
        theirs = matrix @ (centre / np.linalg.norm(centre))
        scores = terms.centroid_scores(stars, [])
        assert scores is not None
        assert np.corrcoef(scores, theirs)[0, 1] > 0.995 and np.abs(scores - theirs).max() < 0.03
        assert len(set(np.argsort(-scores)[:10]) & set(np.argsort(-theirs)[:10])) >= 9


def test_texts_of_other_days_count_as_the_days_own() -> None:
    texts = _texts()
    terms = DayTerms(texts)
    assert np.allclose(terms.centroid_scores([], [texts[3], texts[5]]), terms.centroid_scores([3, 5], []))
    assert not terms.texts  # dropped once fitted: the matrix holds what is needed


def test_a_day_without_words_has_no_lexical_signal() -> None:
    assert DayTerms(["", "  ", "1 2 3"]).centroid_scores([0, 1], []) is None
    assert DayTerms([]).centroid_scores([], ["a starred paper's words"]) is None
