"""The FAISS index: a derived file keyed by paper id, rebuilt from the embeddings table.

Layout under DATA_DIR/index/: `faiss-<stamp>.index` files and a `meta.json` naming the current one.
A build writes a new index file, then replaces meta.json atomically (`os.replace`): a reader that
opened the old file keeps a complete index, a reader that reads the new meta.json opens a complete
new one. Builds serialise on a lock file beside (not inside) the folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from app.config import Settings
from app.store.embeddings import count_embeddings, iter_vectors

log = logging.getLogger(__name__)
KEEP_FILES = 2  # the current index and the one before it (a reader may still be opening it)


@dataclass(frozen=True, slots=True)
class IndexMeta:
    model: str
    dim: int
    count: int
    kind: str  # flat | hnsw
    file: str
    built_at: str
    max_id: int


def index_dir(settings: Settings) -> Path:
    return settings.data_dir / "index"


@contextlib.contextmanager
def build_lock(settings: Settings) -> Iterator[None]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "index.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_meta(settings: Settings) -> IndexMeta | None:
    try:
        return IndexMeta(**json.loads((index_dir(settings) / "meta.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def choose_kind(count: int, settings: Settings) -> str:
    return "flat" if count <= settings.index_exact_max else "hnsw"


def new_faiss_index(dim: int, kind: str, settings: Settings) -> Any:
    import faiss

    inner: Any
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, settings.index_hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = settings.index_hnsw_ef_construction
        inner.hnsw.efSearch = settings.index_hnsw_ef_search
    else:
        inner = faiss.IndexFlatIP(dim)
    return faiss.IndexIDMap2(inner)


def rebuild_index(session: Session, settings: Settings, *, model: str) -> IndexMeta | None:
    """Build the index for `model` from the embeddings table and publish it; None when empty."""
    with build_lock(settings):
        count = count_embeddings(session, model=model)
        if count == 0:
            return None
        index: Any = None
        max_id = 0
        for ids, vectors in iter_vectors(session, model=model):
            if index is None:
                index = new_faiss_index(vectors.shape[1], choose_kind(count, settings), settings)
            index.add_with_ids(vectors, ids)
            max_id = int(ids[-1])
        return _publish(settings, index, model=model, kind=choose_kind(count, settings), max_id=max_id)


def update_index(session: Session, settings: Settings, *, model: str) -> IndexMeta | None:
    """Add vectors embedded since the last build; rebuild when the model, kind or rows changed."""
    meta = read_meta(settings)
    count = count_embeddings(session, model=model)
    if (
        meta is None
        or meta.model != model
        or meta.kind != choose_kind(count, settings)
        or count < meta.count  # rows were removed (new versions re-embedded): rebuild from scratch
    ):
        return rebuild_index(session, settings, model=model)
    with build_lock(settings):
        import faiss

        index = faiss.read_index(str(index_dir(settings) / meta.file))
        added, max_id = 0, meta.max_id
        for ids, vectors in iter_vectors(session, model=model, after_id=meta.max_id):
            index.add_with_ids(vectors, ids)
            added += len(ids)
            max_id = int(ids[-1])
        if added == 0 and index.ntotal == count:
            return meta
    if index.ntotal != count:  # a vector was replaced under an old id: only a rebuild is exact
        return rebuild_index(session, settings, model=model)
    with build_lock(settings):
        return _publish(settings, index, model=model, kind=meta.kind, max_id=max_id)


def _publish(settings: Settings, index: Any, *, model: str, kind: str, max_id: int) -> IndexMeta:
    import faiss

    folder = index_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"faiss-{stamp}.index"
    faiss.write_index(index, str(folder / f".{name}.tmp"))
    os.replace(folder / f".{name}.tmp", folder / name)
    meta = IndexMeta(model, index.d, int(index.ntotal), kind, name, stamp, max_id)
    (folder / ".meta.json.tmp").write_text(json.dumps(asdict(meta)))
    os.replace(folder / ".meta.json.tmp", folder / "meta.json")
    for old in sorted(folder.glob("faiss-*.index"))[:-KEEP_FILES]:
        old.unlink(missing_ok=True)
    log.info("index published", extra={"model": model, "count": meta.count, "kind": kind})
    return meta


class LoadedIndex:
    """A read-only index in memory with its meta: search returns (paper id, cosine score)."""

    def __init__(self, index: Any, meta: IndexMeta):
        self.index = index
        self.meta = meta

    def search(self, vector: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
        if self.index.ntotal == 0 or k <= 0:
            return []
        scores, ids = self.index.search(vector.reshape(1, -1).astype(np.float32), min(k, self.index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


class IndexHolder:
    """The web process's index: loaded once, reloaded when a new one is published."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._loaded: LoadedIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self, *, model: str) -> LoadedIndex | None:
        now = time.monotonic()
        if self._loaded is None or now - self._checked >= self._settings.index_reload_seconds:
            with self._lock:
                self._checked = now
                self._refresh()
        loaded = self._loaded
        return loaded if loaded is not None and loaded.meta.model == model else None

    def _refresh(self) -> None:
        meta = read_meta(self._settings)
        if meta is None or (self._loaded is not None and self._loaded.meta.file == meta.file):
            return
        import faiss

        try:
            index = faiss.read_index(str(index_dir(self._settings) / meta.file))
        except RuntimeError:  # replaced between reading meta.json and opening: next check catches up
            return
        inner: Any = faiss.downcast_index(index.index) if hasattr(index, "index") else None
        if inner is not None and hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self._settings.index_hnsw_ef_search
        self._loaded = LoadedIndex(index, meta)
