"""The FAISS index: a derived file keyed by paper id, rebuilt from the embeddings table.

Layout under DATA_DIR/index/: `faiss-<stamp>.index` files and a `meta.json` naming the current one.
A build writes a new index file, then replaces meta.json atomically (`os.replace`): a reader that
opened the old file keeps a complete index, a reader that reads the new meta.json opens a complete
new one. Builds serialise on a lock file beside (not inside) the folder.

Kinds (`choose_kind`, INDEX_KIND forces one):
- `flat`: exact inner product, up to INDEX_EXACT_MAX vectors;
- `hnsw`: an HNSW graph over the full vectors, up to INDEX_PQ_MIN;
- `ivfpq`: IVF lists of product-quantized codes (INDEX_PQ_M bytes a vector), trained on an even sample
  of the stored vectors. It holds the codes, not the vectors: a query takes k x INDEX_PQ_RERANK
  candidates (at most INDEX_PQ_RERANK_MAX, never fewer than k) and re-scores them exactly with their
  float32 vectors read from the `embeddings` table, so scores stay cosines. Incremental updates add
  to the trained lists; training happens again only on a rebuild.
flat and hnsw wrap their index in IndexIDMap2; an IVF index holds the paper ids itself.

Web processes memory-map the index where FAISS allows (`read_for_search`): with faiss's
IO_FLAG_MMAP_IFC (faiss 1.15.1 here) the vectors of `flat`, the vectors of `hnsw` (its graph links are
read into memory) and the codes and ids of `ivfpq`'s lists are mapped read-only and shared
(MAP_SHARED), so several workers on one host share one copy in the page cache; IndexIDMap2's id maps
are read into memory. A faiss without that flag maps only IVF lists (IO_FLAG_MMAP); a read that
fails mapped is retried unmapped. A mapped file is never rewritten: each build writes a new one and
unlinks old ones, which stay valid for whoever still maps them.

GPU: with faiss-gpu, a visible GPU and INDEX_GPU=auto, an `ivfpq` build trains and adds on the GPU
and is copied back to the CPU before it is written. `flat` has nothing to compute at build time (an
add is a copy) and HNSW is CPU-only in faiss, so both build on the CPU.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from app.config import Settings
from app.search import fields as field_files
from app.search.fields import FieldModel
from app.store.embeddings import count_embeddings, embedded_ids, iter_vectors, replaced_ids, vectors_for

log = logging.getLogger(__name__)
KEEP_FILES = 2  # the current index and the one before it (a reader may still be opening it)
PQ_BITS = 8  # bits per sub-quantizer code: 256 centroids each
PQ_MIN_COUNT = 1 << PQ_BITS  # PQ training needs as many vectors as centroids: below, `flat`
TRAIN_PER_LIST = 50  # training vectors per IVF list in the default sample
MIN_PER_LIST = 39  # faiss's k-means wants at least this many training vectors per centroid
MIN_TRAIN = 10_000  # PQ k-means: 256 centroids x 39
VectorLookup = Callable[[Sequence[int]], Mapping[int, NDArray[np.float32]]]


@dataclass(frozen=True, slots=True)
class IndexMeta:
    model: str
    dim: int
    count: int
    kind: str  # flat | hnsw | ivfpq
    file: str
    built_at: str
    max_id: int
    # When its build began reading vectors (UTC, ISO): one written again after that is replaced by the
    # next update. "" in a meta.json written before this field: the build time, less a margin.
    read_at: str = ""


def index_dir(settings: Settings) -> Path:
    return settings.data_dir / "index"


def build_lock(settings: Settings) -> FileLock:
    """Serialises builds across threads and processes (the lock file sits beside the index folder)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(settings.data_dir / "index.lock")


def read_meta(settings: Settings) -> IndexMeta | None:
    try:
        return IndexMeta(**json.loads((index_dir(settings) / "meta.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def choose_kind(count: int, settings: Settings) -> str:
    """INDEX_KIND, or by size: flat up to INDEX_EXACT_MAX, IVF-PQ from INDEX_PQ_MIN, HNSW between."""
    if settings.index_kind != "auto":
        return "flat" if settings.index_kind == "ivfpq" and count < PQ_MIN_COUNT else settings.index_kind
    if count <= settings.index_exact_max:
        return "flat"
    return "ivfpq" if count >= max(settings.index_pq_min, PQ_MIN_COUNT) else "hnsw"


def ivf_lists(count: int, settings: Settings) -> int:
    """INDEX_IVF_NLIST or 4 sqrt(n) lists, at most one per 39 vectors (what k-means needs)."""
    wanted = settings.index_ivf_nlist or round(4 * math.sqrt(count))
    return max(1, min(wanted, count // MIN_PER_LIST))


def pq_subquantizers(dim: int, wanted: int) -> int:
    """The largest divisor of `dim` not above `wanted`: PQ splits a vector into equal parts."""
    return max(m for m in range(1, min(wanted, dim) + 1) if dim % m == 0)


def new_faiss_index(dim: int, kind: str, settings: Settings, *, lists: int = 1) -> Any:
    """An empty index of `kind`; `ivfpq` (with `lists` IVF lists) must be trained before adding."""
    import faiss

    inner: Any
    if kind == "ivfpq":
        m = pq_subquantizers(dim, settings.index_pq_m)
        # "np": no polysemous training (a slow annealing of code order, for Hamming filters not used here)
        index: Any = faiss.index_factory(dim, f"IVF{lists},PQ{m}x{PQ_BITS}np", faiss.METRIC_INNER_PRODUCT)
        index.nprobe = settings.index_ivf_nprobe
        return index
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, settings.index_hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = settings.index_hnsw_ef_construction
        inner.hnsw.efSearch = settings.index_hnsw_ef_search
    else:
        inner = faiss.IndexFlatIP(dim)
    return faiss.IndexIDMap2(inner)


def training_size(count: int, settings: Settings) -> int:
    """INDEX_PQ_TRAIN_SIZE, or 50 vectors per IVF list and at least 10,000; never more than `count`."""
    return min(
        count, settings.index_pq_train_size or max(TRAIN_PER_LIST * ivf_lists(count, settings), MIN_TRAIN)
    )


def training_sample(session: Session, settings: Settings, *, model: str, count: int) -> NDArray[np.float32]:
    """`training_size` stored vectors evenly spread over paper ids: old and new papers alike."""
    ids = embedded_ids(session, model=model)
    chosen = ids[np.unique(np.linspace(0, len(ids) - 1, training_size(count, settings)).astype(np.int64))]
    found = vectors_for(session, paper_ids=[int(i) for i in chosen], model=model)
    return np.stack(list(found.values())).astype(np.float32, copy=False)


def trained_ivfpq(sample: NDArray[np.float32], settings: Settings, *, count: int, gpu: Any | None) -> Any:
    """An empty IVF-PQ index for `count` vectors trained on `sample`, on the GPU of `gpu` if given."""
    lists = min(ivf_lists(count, settings), max(1, len(sample) // MIN_PER_LIST))
    index = new_faiss_index(sample.shape[1], "ivfpq", settings, lists=lists)
    if gpu is not None:
        index = to_gpu(index, gpu)
    index.train(sample)
    return index


def gpu_resources(settings: Settings) -> Any | None:
    """faiss-gpu's resources when INDEX_GPU allows it and faiss sees a GPU; None with faiss-cpu."""
    if settings.index_gpu == "off":
        return None
    import faiss

    if not hasattr(faiss, "StandardGpuResources") or getattr(faiss, "get_num_gpus", lambda: 0)() < 1:
        return None
    return faiss.StandardGpuResources()


def to_gpu(index: Any, resources: Any) -> Any:
    """`index` cloned onto GPU 0, to train and add there (`faiss.index_gpu_to_cpu` brings it back)."""
    import faiss

    options = faiss.GpuClonerOptions()
    options.useFloat16 = True  # IVF-PQ lookup tables: 48+ sub-quantizers fit the GPU's shared memory
    gpu_index: Any = faiss.index_cpu_to_gpu(resources, 0, index, options)
    gpu_index.referenced_objects = [resources]  # faiss does not: the resources must outlive the index
    return gpu_index


def rebuild_index(session: Session, settings: Settings, *, model: str) -> IndexMeta | None:
    """Build the index for `model` from the embeddings table and publish it; None when empty."""
    with build_lock(settings):
        read_at = dt.datetime.now(dt.UTC)
        count = count_embeddings(session, model=model)
        if count == 0:
            return None
        kind = choose_kind(count, settings)
        gpu = gpu_resources(settings) if kind == "ivfpq" else None
        index: Any = None
        if kind == "ivfpq":  # trained on a sample first, then every vector is added
            sample = training_sample(session, settings, model=model, count=count)
            index = trained_ivfpq(sample, settings, count=count, gpu=gpu)
            del sample  # up to ~0.5 GB at 3M vectors: not held through the adds
        max_id = 0
        for ids, vectors in iter_vectors(session, model=model):
            if index is None:
                index = new_faiss_index(vectors.shape[1], kind, settings)
            index.add_with_ids(vectors, ids)
            max_id = int(ids[-1])
        if gpu is not None:
            import faiss

            index = faiss.index_gpu_to_cpu(index)  # only a CPU index can be written
        return _publish(settings, index, model=model, kind=kind, max_id=max_id, read_at=read_at)


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

        read_at = dt.datetime.now(dt.UTC)
        # An IVF-PQ index adds to its trained lists: new vectors are encoded, nothing is retrained.
        index = faiss.read_index(str(index_dir(settings) / meta.file))
        added, max_id = 0, meta.max_id
        for ids, vectors in iter_vectors(session, model=model, after_id=meta.max_id):
            index.add_with_ids(vectors, ids)
            added += len(ids)
            max_id = int(ids[-1])
        # A new version's vector, written again under its paper's id: the index still held the old
        # one (a search by its own vector scored 0.91). Replaced in place where FAISS can remove ids;
        # an HNSW graph cannot, and is rebuilt.
        replaced = replaced_ids(session, model=model, up_to_id=meta.max_id, since=_vectors_as_of(meta))
        if added == 0 and not replaced and index.ntotal == count:
            return meta
        exact = not replaced or _replace(session, index, replaced, model=model)
    if not exact or index.ntotal != count:  # an HNSW graph, or a count off: only a rebuild is exact
        return rebuild_index(session, settings, model=model)
    with build_lock(settings):
        return _publish(settings, index, model=model, kind=meta.kind, max_id=max_id, read_at=read_at)


# A meta.json written before `read_at` counts from its publication, less the time a build may take
# (replacing a vector with itself changes nothing: the margin only costs work once).
UNDATED_MARGIN = dt.timedelta(minutes=30)


def _vectors_as_of(meta: IndexMeta) -> dt.datetime:
    """Since when a vector under an id the index holds is newer than the index's. A vector's time is
    when it was written (add_embeddings); one written between a build's reads and its commit, a
    moment, is left to the next rebuild (`coolpapers reindex`)."""
    if meta.read_at:
        return dt.datetime.fromisoformat(meta.read_at)
    built = dt.datetime.strptime(meta.built_at, "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
    return built - UNDATED_MARGIN


def _replace(session: Session, index: Any, ids: list[int], *, model: str) -> bool:
    """Put these papers' stored vectors in place of the index's; False where FAISS cannot remove ids."""
    try:
        index.remove_ids(np.asarray(ids, dtype=np.int64))
    except RuntimeError:  # HNSW: its graph keeps every node
        return False
    fresh = vectors_for(session, paper_ids=ids, model=model)
    kept = [i for i in ids if i in fresh]  # dropped again meanwhile: left out, as the table has it
    if kept:
        index.add_with_ids(np.stack([fresh[i] for i in kept]), np.asarray(kept, dtype=np.int64))
    return True


def _publish(
    settings: Settings, index: Any, *, model: str, kind: str, max_id: int, read_at: dt.datetime
) -> IndexMeta:
    import faiss

    folder = index_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    name = f"faiss-{stamp}.index"
    faiss.write_index(index, str(folder / f".{name}.tmp"))
    os.replace(folder / f".{name}.tmp", folder / name)
    meta = IndexMeta(model, index.d, int(index.ntotal), kind, name, stamp, max_id, read_at.isoformat())
    (folder / ".meta.json.tmp").write_text(json.dumps(asdict(meta)))
    os.replace(folder / ".meta.json.tmp", folder / "meta.json")
    for old in sorted(folder.glob("faiss-*.index"))[:-KEEP_FILES]:
        old.unlink(missing_ok=True)  # a process that maps it keeps its pages until it lets go
    log.info("index published", extra={"model": model, "count": meta.count, "kind": kind})
    return meta


def rerank(
    query: NDArray[np.float32], candidates: Sequence[int], exact: VectorLookup, k: int
) -> list[tuple[int, float]]:
    """The candidates scored by their stored vectors' dot product with `query`: the best k first.

    A candidate without a stored vector (dropped since the build: a new version) is left out.
    """
    found = exact(candidates)
    kept = [pid for pid in candidates if pid in found]
    if not kept:
        return []
    scores = np.stack([found[pid] for pid in kept]) @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [(kept[i], float(scores[i])) for i in order]


class LoadedIndex:
    """A read-only index in memory with its meta: search returns (paper id, cosine score) best first.

    An `ivfpq` index needs `exact`, the stored vectors of paper ids, to re-rank its candidates.
    """

    def __init__(
        self, index: Any, meta: IndexMeta, *, rerank: int = 10, rerank_max: int = 1000, mapped: bool = False
    ):
        self.index = index
        self.meta = meta
        self.rerank = rerank
        self.rerank_max = rerank_max
        self.mapped = mapped  # read through a memory map (see the module docstring)

    def search(
        self, vector: NDArray[np.float32], k: int, *, exact: VectorLookup | None = None
    ) -> list[tuple[int, float]]:
        if self.index.ntotal == 0 or k <= 0:
            return []
        query = vector.reshape(1, -1).astype(np.float32)
        if self.meta.kind != "ivfpq":
            scores, ids = self.index.search(query, min(k, self.index.ntotal))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        if exact is None:
            raise ValueError("an ivfpq index holds codes, not vectors: pass `exact` to re-rank")
        wanted = min(self.index.ntotal, max(k, min(k * self.rerank, self.rerank_max)))
        ids = self.index.search(query, wanted)[1][0]
        return rerank(query[0], [int(i) for i in ids if i >= 0], exact, k)


def mmap_flags(kind: str) -> int:
    """faiss read flags that memory-map an index of `kind` in this faiss version; 0: none do."""
    import faiss

    if hasattr(faiss, "IO_FLAG_MMAP_IFC"):  # flat codes, HNSW storage and IVF lists (faiss 1.15.1)
        return int(faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    if kind == "ivfpq":  # older faiss: the IVF lists only, as OnDiskInvertedLists
        return int(faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    return 0


def read_for_search(path: Path, kind: str) -> tuple[Any, bool] | None:
    """(index, mapped): memory-mapped where faiss allows it, else read; None if the file went away."""
    import faiss

    for flags in dict.fromkeys((mmap_flags(kind), 0)):
        try:
            return faiss.read_index(str(path), flags), flags != 0
        except RuntimeError as error:
            if not path.exists():
                return None  # replaced between reading meta.json and opening: the next check catches up
            log.warning("index read failed", extra={"file": path.name, "flags": flags, "error": str(error)})
    return None


def tune_for_search(index: Any, settings: Settings) -> None:
    """The search-time knobs, which settings may change without a rebuild: efSearch, nprobe."""
    import faiss

    if isinstance(index, faiss.IndexIVF):
        index.nprobe = settings.index_ivf_nprobe
        return
    inner: Any = faiss.downcast_index(index.index) if hasattr(index, "index") else None
    if inner is not None and hasattr(inner, "hnsw"):
        inner.hnsw.efSearch = settings.index_hnsw_ef_search


class IndexHolder:
    """The web process's index: loaded once (memory-mapped), reloaded when a new one is published."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._loaded: LoadedIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._fields: FieldModel | None = None
        self._fields_stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the file read
        self._fields_checked = 0.0

    def get(self, *, model: str) -> LoadedIndex | None:
        now = time.monotonic()
        if self._loaded is None or now - self._checked >= self._settings.index_reload_seconds:
            with self._lock:
                self._checked = now
                self._refresh()
        loaded = self._loaded
        return loaded if loaded is not None and loaded.meta.model == model else None

    def fields(self, *, model: str) -> FieldModel | None:
        """The published field model of `model`'s vectors (app/search/fields.py), reread when replaced."""
        now = time.monotonic()
        if self._fields_stamp is None or now - self._fields_checked >= self._settings.index_reload_seconds:
            with self._lock:
                self._fields_checked = now
                self._refresh_fields()
        fields = self._fields
        return fields if fields is not None and fields.model == model else None

    def _refresh_fields(self) -> None:
        try:
            status = (index_dir(self._settings) / field_files.FILE).stat()
        except FileNotFoundError:
            self._fields, self._fields_stamp = None, (0, 0)
            return
        stamp = (status.st_mtime_ns, status.st_size)
        if stamp != self._fields_stamp:
            self._fields, self._fields_stamp = field_files.read(index_dir(self._settings)), stamp

    def _refresh(self) -> None:
        meta = read_meta(self._settings)
        if meta is None or (self._loaded is not None and self._loaded.meta.file == meta.file):
            return
        read = read_for_search(index_dir(self._settings) / meta.file, meta.kind)
        if read is None:
            return
        index, mapped = read
        tune_for_search(index, self._settings)
        settings = self._settings
        self._loaded = LoadedIndex(
            index,
            meta,
            rerank=settings.index_pq_rerank,
            rerank_max=settings.index_pq_rerank_max,
            mapped=mapped,
        )
