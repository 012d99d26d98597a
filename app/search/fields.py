"""Fields: arXiv's map of subjects, learnt from the stored papers, for related papers to stay on topic.

A vector's nearest neighbours include papers that share its wording but not its subject (a graph
algorithm's neighbours include a bioinformatics paper "on sequences"). The store knows each arXiv
paper's primary category; a multinomial logistic regression from a paper's vector to its category
learns where the subjects lie in the embedding space. Related papers then blend their score with
the closeness of the two papers' predicted category distributions (`rerank_related`).

Only text goes in at search time: both papers' distributions are predicted from their vectors, so a
conference paper or a paper of a category the model never saw gets one too. benchmarks/quality.py
measures it with every query paper held out of the training (five folds), against TF-IDF.

A derived file like the FAISS index: `fields.npz` beside it, trained on the newest TRAIN_MAX labelled
papers, again when the store has grown by RETRAIN_GROWTH since, written atomically (os.replace).
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from app.store.embeddings import count_embeddings, labelled_vectors

log = logging.getLogger(__name__)
FILE = "fields.npz"
TRAIN_MAX = 50_000  # newest labelled papers trained on (8.5 s on 2 cores: synthetic 384-d, 150 categories)
RETRAIN_GROWTH = 0.05  # the store grew by this share since the last training: train again
C = 10.0  # inverse regularisation: 1 under-fits the subjects (about 0.03 less on benchmarks/quality.py)


@dataclass(frozen=True, slots=True, eq=False)  # arrays inside: no element-wise ==
class FieldModel:
    model: str  # the embedder whose vectors it reads
    classes: tuple[str, ...]
    weights: NDArray[np.float32]  # (classes, dim)
    bias: NDArray[np.float32]  # (classes,)
    store_count: int  # vectors in the store when it was trained: when to train again

    def profile(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """Each vector's predicted category distribution, L2-normalised (a dot product is a cosine)."""
        logits = np.atleast_2d(vectors) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)  # softmax without overflow
        probabilities: NDArray[np.float32] = np.exp(logits).astype(np.float32, copy=False)
        probabilities /= np.linalg.norm(probabilities, axis=1, keepdims=True)
        return probabilities


def train(
    vectors: NDArray[np.float32], labels: NDArray[np.str_], *, model: str, store_count: int
) -> FieldModel | None:
    """The classifier of `vectors` into `labels`; None with fewer than two categories to tell apart.

    Every category is a class, one paper's too (leaving out those of under 5 papers cost 0.01-0.03
    on the api and snapshot papers of benchmarks/quality.py, whose rare categories then had none)."""
    if len(np.unique(labels)) < 2:
        return None
    from sklearn.linear_model import LogisticRegression  # ~85 MB: only where a model is trained

    fitted = LogisticRegression(C=C, max_iter=1000).fit(vectors, labels)
    weights, bias = fitted.coef_, fitted.intercept_
    if len(fitted.classes_) == 2:  # one row, the second class's logit against the first's 0
        weights, bias = np.vstack([np.zeros_like(weights), weights]), np.concatenate([[0.0], bias])
    return FieldModel(
        model=model,
        classes=tuple(str(c) for c in fitted.classes_),
        weights=weights.astype(np.float32),
        bias=bias.astype(np.float32),
        store_count=store_count,
    )


def write(folder: Path, fields: FieldModel) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{FILE}.tmp"
    with temporary.open("wb") as out:  # a file object: np.savez would append ".npz" to a name
        np.savez(
            out,
            model=np.array(fields.model),
            classes=np.array(fields.classes),
            weights=fields.weights,
            bias=fields.bias,
            store_count=np.array(fields.store_count),
        )
    os.replace(temporary, folder / FILE)


def read(folder: Path) -> FieldModel | None:
    """The published model; None when there is none or it cannot be read (related papers go without)."""
    try:
        with np.load(folder / FILE, allow_pickle=False) as data:
            fields = FieldModel(
                model=str(data["model"]),
                classes=tuple(str(c) for c in data["classes"]),
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                store_count=int(data["store_count"]),
            )
    except FileNotFoundError:
        return None
    # Truncated or foreign (a .npy under this name loads as an array, not an archive): related
    # papers go without until the next training replaces it.
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        log.warning("unreadable fields file", extra={"error": type(exc).__name__})
        return None
    if not _usable(fields):
        log.warning("unreadable fields file", extra={"error": "shape or values"})
        return None
    return fields


def _usable(fields: FieldModel) -> bool:
    """Two classes at least, one row of finite weights and one bias each (NaN made every score null)."""
    rows = len(fields.classes)
    return (
        rows >= 2
        and fields.weights.ndim == 2
        and fields.weights.shape[0] == rows
        and fields.bias.shape == (rows,)
        and bool(np.isfinite(fields.weights).all() and np.isfinite(fields.bias).all())
    )


def refresh_fields(session: Session, folder: Path, *, model: str, force: bool = False) -> FieldModel | None:
    """Train and publish the fields of `model`'s vectors when there are none, they are another
    model's, or the store has grown by RETRAIN_GROWTH since; the published model otherwise."""
    current = read(folder)
    count = count_embeddings(session, model=model)
    if (
        not force
        and current is not None
        and current.model == model
        and current.store_count <= count < current.store_count * (1 + RETRAIN_GROWTH)
    ):
        return current  # a store smaller than it was trained on (restored, or another's file): again
    vectors, labels = labelled_vectors(session, model=model, limit=TRAIN_MAX)
    fields = train(vectors, labels, model=model, store_count=count) if len(labels) else None
    if fields is None:
        (folder / FILE).unlink(missing_ok=True)  # another model's or a smaller store's: not this one's
        return None
    write(folder, fields)
    log.info("fields published", extra={"model": model, "papers": len(labels), "fields": len(fields.classes)})
    return fields
