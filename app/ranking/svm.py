"""A linear SVM for "for you", solved exactly and fast for many readers of the same day.

The model is LinearSVC's (liblinear's L2-regularised squared-hinge primal, the intercept as a feature
of value 1 regularised with the weights, class weights "balanced"):

    min_w  1/2 |w|^2 + C sum_i c_i max(0, 1 - y_i w.x_i)^2

with the reader's starred papers as positives and the day's other papers as negatives, the papers the
reader dismissed ("not interested") being negatives of DISMISSED_WEIGHT times their weight. It is solved
by the finite Newton method (Keerthi & DeCoste 2005): on the set A of points inside the margin the
objective is quadratic, so w = (I + 2C X_A' D X_A)^-1 2C X_A' D y_A; repeat with the new A until
it stops changing (3-4 rounds here).

Every reader of a day trains on nearly the same points: the day's Gram matrix G = X'X and its
eigenvectors are computed once (`DaySvm`), and a reader's system differs from I + 2C c_neg G by a
few rank-one terms (their stars, the points outside the margin), which the Woodbury identity
handles: a request costs a few small products instead of liblinear's ~6 ms on 1,000 papers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from app.ranking.building import building

C = 0.1  # as arxiv-sanity: strong regularisation, few stars
# A dismissed paper is a negative the reader chose: it weighs as much as this many unlabelled ones
# (benchmarks/foryou.py: 1, 2, 4 and 8 within 0.01 of each other; more risks sinking the topic).
DISMISSED_WEIGHT = 2.0
MAX_ROUNDS = 30  # Newton rounds before falling back to liblinear (a cycle; not seen in practice)

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class _Eigen:
    values: F64  # eigenvalues of X'X (clipped at 0)
    basis: F64  # its eigenvectors, D x D
    candidates: F64  # the candidates in that basis, D x n


@dataclass
class DaySvm:
    """One day's candidate vectors, with their Gram matrix's eigenbasis computed once (lazily).

    The vectors are the prepared day's own array, not a float64 copy with the bias column: that copy
    (12 MB at 4,000 papers) lives only while the eigenbasis is made, as the day's cache holds several.
    """

    vectors: NDArray[np.float32]  # candidates with a vector
    _eigen: _Eigen | None = field(default=None, repr=False)

    @classmethod
    def of(cls, vectors: NDArray[np.float32]) -> DaySvm:
        return cls(vectors)

    def eigen(self) -> _Eigen:
        """Made on first use, once (the second of two readers at once finds it made)."""
        if self._eigen is None:
            with building():
                if self._eigen is None:
                    features = _with_bias(self.vectors)
                    values, basis = np.linalg.eigh(features.T @ features)
                    self._eigen = _Eigen(np.clip(values, 0.0, None), basis, basis.T @ features.T)
        return self._eigen

    def margins(
        self,
        stars: NDArray[np.float32],
        starred_rows: NDArray[np.int64],
        *,
        dismissed: NDArray[np.float32] | None = None,
        dismissed_rows: NDArray[np.int64] | None = None,
    ) -> F64:
        """w.x + b for every candidate, w trained on `stars` against the candidates not starred nor
        dismissed (`starred_rows`, `dismissed_rows`) and, weighted up, the `dismissed` vectors."""
        positives = _with_bias(stars)
        negatives = _with_bias(dismissed if dismissed is not None else np.zeros((0, stars.shape[1])))
        excluded = np.union1d(
            starred_rows, dismissed_rows if dismissed_rows is not None else starred_rows[:0]
        )
        n_neg = len(self.vectors) - len(excluded) + len(negatives)
        total = len(positives) + n_neg
        c_pos, c_neg = total / (2.0 * len(positives)), total / (2.0 * n_neg)
        margins = self._solve(positives, negatives, excluded, c_pos, c_neg)
        if margins is None:
            return _liblinear(_with_bias(self.vectors), positives, negatives, excluded)
        return margins

    def _solve(
        self, positives: F64, dismissed: F64, excluded: NDArray[np.int64], c_pos: float, c_neg: float
    ) -> F64 | None:
        # Everything happens in the eigenbasis of X'X, where (I + alpha X'X)^-1 is diagonal.
        eigen = self.eigen()
        values, cands = eigen.values, eigen.candidates
        pos = eigen.basis.T @ positives.T  # D x m
        dis = eigen.basis.T @ dismissed.T  # D x d
        alpha, beta, gamma = 2 * C * c_neg, 2 * C * c_pos, 2 * C * c_neg * DISMISSED_WEIGHT
        scale = 1.0 / (1.0 + alpha * values)
        negatives = np.ones(cands.shape[1], dtype=bool)
        negatives[excluded] = False
        neg_inside, pos_inside = negatives.copy(), np.ones(pos.shape[1], dtype=bool)  # all active at first
        dis_inside = np.ones(dis.shape[1], dtype=bool)
        for _ in range(MAX_ROUNDS):
            neg_out = negatives & ~neg_inside
            # The active set's matrix: I + alpha X'X, less the excluded candidates (starred: not
            # negatives; dismissed: added back below at their own weight) and the negatives outside
            # the margin, plus the positives and the dismissed inside it.
            rows = np.hstack([cands[:, excluded], pos[:, pos_inside], dis[:, dis_inside], cands[:, neg_out]])
            weights = np.concatenate(
                [
                    np.full(len(excluded), -alpha),
                    np.full(int(pos_inside.sum()), beta),
                    np.full(int(dis_inside.sum()), gamma),
                    np.full(int(neg_out.sum()), -alpha),
                ]
            )
            rhs = beta * (pos @ pos_inside) - alpha * (cands @ neg_inside) - gamma * (dis @ dis_inside)
            w = _woodbury(scale, rows, weights, rhs)  # in the eigenbasis
            cand_margins, pos_margins, dis_margins = cands.T @ w, pos.T @ w, dis.T @ w
            new_neg, new_pos, new_dis = (
                negatives & (cand_margins > -1.0),
                pos_margins < 1.0,
                dis_margins > -1.0,
            )
            if (
                np.array_equal(new_neg, neg_inside)
                and np.array_equal(new_pos, pos_inside)
                and np.array_equal(new_dis, dis_inside)
            ):
                return cand_margins
            neg_inside, pos_inside, dis_inside = new_neg, new_pos, new_dis
        return None


def _with_bias(vectors: NDArray[np.floating]) -> F64:
    return np.hstack([vectors.astype(np.float64), np.ones((len(vectors), 1))])


def _woodbury(scale: F64, rows: F64, weights: F64, rhs: F64) -> F64:
    """Solve (diag(1/scale) + rows diag(weights) rows') w = rhs, rows being D x r."""
    if rows.shape[1] == 0:
        return scale * rhs
    if rows.shape[1] > len(scale):  # many points outside the margin: the D x D system is the smaller
        matrix = np.diag(1.0 / scale) + (rows * weights) @ rows.T
        return np.asarray(np.linalg.solve(matrix, rhs), dtype=np.float64)
    capacitance = np.diag(1.0 / weights) + rows.T @ (scale[:, None] * rows)
    t = np.linalg.solve(capacitance, rows.T @ (scale * rhs))
    return scale * (rhs - rows @ t)


def _liblinear(features: F64, positives: F64, dismissed: F64, excluded: NDArray[np.int64]) -> F64:
    from sklearn.svm import LinearSVC

    negatives = np.delete(features, excluded, axis=0)[:, :-1]
    data = np.vstack([positives[:, :-1], negatives, dismissed[:, :-1]])
    labels = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives) + len(dismissed))])
    total = len(data)
    c_pos, c_neg = total / (2.0 * len(positives)), total / (2.0 * (len(negatives) + len(dismissed)))
    weights = np.concatenate(
        [
            np.full(len(positives), c_pos),
            np.full(len(negatives), c_neg),
            np.full(len(dismissed), c_neg * DISMISSED_WEIGHT),
        ]
    )
    svm = LinearSVC(C=C, tol=1e-4, dual=True, max_iter=5000).fit(data, labels, sample_weight=weights)
    return np.asarray(svm.decision_function(features[:, :-1]), dtype=np.float64)
