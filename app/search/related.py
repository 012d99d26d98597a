"""Related papers: the vector neighbours of a paper, re-ranked by their neighbourhood and shared authors.

Plain cosine to the paper picks strays (a neighbour close to the abstract's wording, off its topic).
Cheap signals over the POOL nearest neighbours correct it (benchmarks/quality.py, on real papers):

- query expansion: the closeness to the centroid of the paper's EXPANSION_NEIGHBOURS nearest
  neighbours counts EXPANSION_WEIGHT as much as the closeness to the paper (a neighbour that its
  topic's papers agree on ranks above one that only the paper's wording is close to);
- a shared author adds AUTHOR_BONUS (people mostly write on one topic);
- with a field model (app/search/fields.py, learnt from the stored papers' arXiv categories), the
  closeness of the two papers' predicted category distributions counts FIELD_WEIGHT of the score
  (a neighbour that only shares the wording of another subject falls back).

A lexical score (TF-IDF cosine, summed or fused by reciprocal rank) was measured too and moved
precision by less than 0.005 either way: it is left out, and with it the cost of scoring texts.
The score stays on the cosine's scale: the blend is divided by 1 + EXPANSION_WEIGHT, and the field
closeness, a cosine of two distributions, lies in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from app.search.fields import FieldModel

POOL = 100  # neighbours re-ranked (the index is asked for these; one small read of their vectors)
EXPANSION_NEIGHBOURS = 5
EXPANSION_WEIGHT = 0.5
AUTHOR_BONUS = 0.2
FIELD_WEIGHT = 0.3  # benchmarks/quality.py: 0.3-0.5 within 0.005 on all papers; 0.3 best on the small sources


def rerank_related(
    vector: NDArray[np.float32],
    found: Sequence[tuple[int, float]],
    *,
    vectors: Mapping[int, NDArray[np.float32]],
    authors: Sequence[str],
    authors_of: Mapping[int, Sequence[str]],
    fields: FieldModel | None = None,
) -> list[tuple[int, float]]:
    """`found` (paper id, cosine), nearest first, re-ranked; a neighbour without a vector keeps its cosine.

    `fields` is used when it reads vectors of this size (another model's is the caller's to refuse)."""
    usable = [pid for pid, _ in found if pid in vectors and vectors[pid].shape == vector.shape]
    if not usable:
        return list(found)
    matrix = np.array([vectors[pid] for pid in usable], dtype=np.float32)
    centre = matrix[:EXPANSION_NEIGHBOURS].mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    expansion = dict(zip(usable, (matrix @ centre).tolist(), strict=True))
    closeness: dict[int, float] = {}
    if fields is not None and fields.weights.shape[1] == vector.shape[0]:
        profiles = fields.profile(np.vstack([vector, matrix]))
        closeness = dict(zip(usable, (profiles[1:] @ profiles[0]).tolist(), strict=True))
    mine = {_fold(a) for a in authors}
    scored = []
    for pid, cosine in found:
        shared = AUTHOR_BONUS if mine & {_fold(a) for a in authors_of.get(pid, ())} else 0.0
        blend = (cosine + EXPANSION_WEIGHT * expansion.get(pid, cosine) + shared) / (1.0 + EXPANSION_WEIGHT)
        if closeness:
            blend = (1.0 - FIELD_WEIGHT) * blend + FIELD_WEIGHT * closeness.get(pid, blend)
        scored.append((pid, round(blend, 6)))
    scored.sort(key=lambda item: -item[1])  # stable: ties keep the index's order
    return scored


def _fold(name: str) -> str:
    return " ".join(name.casefold().split())
