"""The FAISS index kinds on synthetic clustered vectors: IVF-PQ re-ranked exactly, memory maps, GPU guard."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faiss
import numpy as np
import pytest
from numpy.typing import NDArray
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.search.embed import embed_missing
from app.search.hybrid import Searcher
from app.search.index import (
    IndexHolder,
    LoadedIndex,
    choose_kind,
    gpu_resources,
    index_dir,
    ivf_lists,
    pq_subquantizers,
    read_meta,
    rebuild_index,
    update_index,
)
from app.store.embeddings import add_embeddings, drop_embeddings, vectors_for
from app.store.ingest import ingest_feed
from app.store.models import Paper
from app.store.papers import get_paper
from tests.fakes import FakeEmbedder
from tests.search.test_search import API100

MODEL = "synthetic-384"
DIM = 384
K = 10


def clustered(n: int, *, dim: int = DIM, clusters: int = 40, seed: int = 0) -> NDArray[np.float32]:
    """Unit vectors shaped like embeddings (as benchmarks/search.py makes them): around random centres,
    spread inside an 8-dimensional subspace of their cluster plus a little isotropic noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    bases = [np.linalg.qr(rng.standard_normal((dim, 8)))[0].T for _ in range(clusters)]
    out = np.empty((n, dim), dtype=np.float32)
    for row, cluster in enumerate(rng.integers(0, clusters, n)):
        local = rng.standard_normal(8) @ bases[cluster] / np.sqrt(8)
        out[row] = centres[cluster] + 0.55 * local + 0.25 * rng.standard_normal(dim) / np.sqrt(dim)
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def store(session: Session, vectors: NDArray[np.float32], *, model: str = MODEL, start: int = 0) -> list[int]:
    """Papers (placeholders) with these vectors, stored through add_embeddings: their ids."""
    rows = [
        {"arxiv_id": f"9999.{start + i:05d}", "title": "t", "abstract": "a", "authors": [], "categories": []}
        for i in range(len(vectors))
    ]
    ids = list(session.scalars(insert(Paper).returning(Paper.id, sort_by_parameter_order=True), rows))
    add_embeddings(session, model=model, rows=list(zip(ids, vectors, strict=True)))
    return ids


def make_settings(folder: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=folder, index_reload_seconds=0, **values)  # type: ignore[call-arg]


# A small corpus with the production defaults scaled down: 3,000 vectors give 76 lists (4 sqrt(n) is
# 219, capped at n / 39); 8 of them probed (~10 %), k x 10 candidates re-ranked.
PQ = {"index_kind": "ivfpq", "index_ivf_nprobe": 8}


@pytest.fixture
def corpus(session: Session) -> tuple[list[int], NDArray[np.float32]]:
    vectors = clustered(3000)
    return store(session, vectors), vectors


def loaded_index(settings: Settings) -> LoadedIndex:
    loaded = IndexHolder(settings).get(model=MODEL)
    assert loaded is not None
    return loaded


def test_choose_kind_by_size_or_setting(tmp_path: Path) -> None:
    auto = make_settings(tmp_path, index_exact_max=100, index_pq_min=1000)
    assert [choose_kind(n, auto) for n in (1, 100, 101, 999, 1000)] == [
        "flat",
        "flat",
        "hnsw",
        "hnsw",
        "ivfpq",
    ]
    forced = make_settings(tmp_path, index_kind="ivfpq")
    assert (choose_kind(300, forced), choose_kind(255, forced)) == ("ivfpq", "flat")  # PQ needs 256
    assert choose_kind(10, make_settings(tmp_path, index_kind="hnsw")) == "hnsw"
    defaults = make_settings(tmp_path)
    assert ivf_lists(3_000_000, defaults) == 6928 and ivf_lists(3000, defaults) == 76
    assert (pq_subquantizers(384, 48), pq_subquantizers(384, 64), pq_subquantizers(64, 48)) == (48, 64, 32)


def test_ivfpq_rerank_scores_are_exact_and_recall_matches_flat(
    session: Session, tmp_path: Path, corpus: tuple[list[int], NDArray[np.float32]]
) -> None:
    ids, vectors = corpus
    pq_settings = make_settings(tmp_path / "pq", **PQ)
    meta = rebuild_index(session, pq_settings, model=MODEL)
    assert meta is not None and (meta.kind, meta.count, meta.dim) == ("ivfpq", 3000, DIM)
    rebuild_index(session, make_settings(tmp_path / "flat", index_kind="flat"), model=MODEL)
    pq, flat = loaded_index(pq_settings), loaded_index(make_settings(tmp_path / "flat", index_kind="flat"))
    assert faiss.extract_index_ivf(pq.index).nlist == 76 and pq.index.nprobe == 8

    def exact(paper_ids: Any) -> dict[int, NDArray[np.float32]]:
        return vectors_for(session, paper_ids=paper_ids, model=MODEL)

    rng = np.random.default_rng(1)
    picked = vectors[rng.choice(len(vectors), 50, replace=False)]
    queries = picked + 0.45 * rng.standard_normal((50, DIM)) / np.sqrt(DIM)  # cosine ~0.9 to a point
    recalls = []
    for query in (q / np.linalg.norm(q) for q in queries.astype(np.float32)):
        found = pq.search(query, K, exact=exact)
        truth = flat.search(query, K)
        stored = exact([pid for pid, _ in found])
        assert len(found) == K and [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        for pid, score in found:  # re-ranked: the cosine of the stored vectors, not a PQ estimate
            assert score == pytest.approx(float(stored[pid] @ query), abs=1e-5)
        recalls.append(len({p for p, _ in found} & {p for p, _ in truth}) / K)
    assert np.mean(recalls) >= 0.9, np.mean(recalls)
    assert set(ids) >= {pid for pid, _ in found}


def test_ivfpq_search_needs_the_stored_vectors(session: Session, tmp_path: Path) -> None:
    vectors = clustered(600, dim=64)
    store(session, vectors)
    settings = make_settings(tmp_path, **PQ)
    rebuild_index(session, settings, model=MODEL)
    with pytest.raises(ValueError, match="exact"):
        loaded_index(settings).search(vectors[0], K)


def test_ivfpq_update_adds_to_the_trained_lists(
    session: Session, tmp_path: Path, corpus: tuple[list[int], NDArray[np.float32]]
) -> None:
    settings = make_settings(tmp_path, **PQ)
    first = rebuild_index(session, settings, model=MODEL)
    assert first is not None
    before = faiss.read_index(str(index_dir(settings) / first.file))
    fresh = clustered(300, seed=7)
    new_ids = store(session, fresh, start=3000)
    second = update_index(session, settings, model=MODEL)
    assert second is not None and (second.kind, second.count, second.max_id) == ("ivfpq", 3300, new_ids[-1])
    after = faiss.read_index(str(index_dir(settings) / second.file))
    lists = before.nlist
    assert np.array_equal(before.quantizer.reconstruct_n(0, lists), after.quantizer.reconstruct_n(0, lists))
    assert np.array_equal(
        faiss.vector_to_array(before.pq.centroids), faiss.vector_to_array(after.pq.centroids)
    )
    loaded = loaded_index(settings)
    top_id, top_score = loaded.search(
        fresh[5], 1, exact=lambda p: vectors_for(session, paper_ids=p, model=MODEL)
    )[0]
    assert top_id == new_ids[5] and top_score == pytest.approx(1.0, abs=1e-5)
    assert update_index(session, settings, model=MODEL) == second  # nothing new: nothing written
    flat = update_index(session, make_settings(tmp_path, index_kind="flat"), model=MODEL)
    assert flat is not None and (flat.kind, flat.count) == ("flat", 3300)  # kind change: a rebuild


def _mapped_paths() -> str:
    maps = Path("/proc/self/maps")
    return maps.read_text() if maps.exists() else ""


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_holder_memory_maps_every_kind(session: Session, tmp_path: Path, kind: str) -> None:
    vectors = clustered(600, dim=64)
    store(session, vectors)
    settings = make_settings(tmp_path, index_kind=kind)
    meta = rebuild_index(session, settings, model=MODEL)
    assert meta is not None and meta.kind == kind
    loaded = loaded_index(settings)
    assert loaded.mapped
    if Path("/proc/self/maps").exists():
        assert str(index_dir(settings) / meta.file) in _mapped_paths()
    found = loaded.search(vectors[3], 5, exact=lambda p: vectors_for(session, paper_ids=p, model=MODEL))
    assert len(found) == 5 and found[0][1] == pytest.approx(1.0, abs=1e-5)


def test_holder_reads_unmapped_where_faiss_cannot_map(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = clustered(600, dim=64)
    store(session, vectors)
    flat, pq = make_settings(tmp_path / "flat", index_kind="flat"), make_settings(tmp_path / "pq", **PQ)
    rebuild_index(session, flat, model=MODEL)
    rebuild_index(session, pq, model=MODEL)
    monkeypatch.delattr(faiss, "IO_FLAG_MMAP_IFC")  # an older faiss: only IVF lists can be mapped
    assert not loaded_index(flat).mapped
    on_disk = loaded_index(pq)
    assert on_disk.mapped and type(faiss.downcast_InvertedLists(on_disk.index.invlists)).__name__ == (
        "OnDiskInvertedLists"
    )
    read_index = faiss.read_index

    def refuse_mmap(path: str, flags: int = 0) -> Any:
        if flags:
            raise RuntimeError("mmap not supported")
        return read_index(path, flags)

    monkeypatch.setattr(faiss, "read_index", refuse_mmap)
    fallback = loaded_index(pq)
    assert not fallback.mapped
    exact = lambda p: vectors_for(session, paper_ids=p, model=MODEL)  # noqa: E731
    assert fallback.search(vectors[0], 3, exact=exact) == on_disk.search(vectors[0], 3, exact=exact)


def test_gpu_is_used_only_when_faiss_sees_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    assert gpu_resources(make_settings(tmp_path, index_gpu="off")) is None
    if not hasattr(faiss, "StandardGpuResources"):  # faiss-cpu: no GPU API at all
        assert gpu_resources(settings) is None
    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 0)
    assert gpu_resources(settings) is None
    monkeypatch.delattr(faiss, "get_num_gpus")
    assert gpu_resources(settings) is None


def test_ivfpq_build_goes_through_the_gpu_when_there_is_one(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GPU here: faiss-gpu's API is faked at its edge, to check the index goes there and back."""
    vectors = clustered(600, dim=64)
    store(session, vectors)
    calls: list[str] = []

    def to_gpu(resources: object, device: int, index: Any, options: object) -> Any:
        calls.append(f"to gpu {device} trained={index.is_trained}")
        return index

    def to_cpu(index: Any) -> Any:
        calls.append(f"to cpu ntotal={index.ntotal}")
        return index

    monkeypatch.setattr(faiss, "StandardGpuResources", object, raising=False)
    monkeypatch.setattr(faiss, "GpuClonerOptions", SimpleNamespace, raising=False)
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu, raising=False)
    monkeypatch.setattr(faiss, "index_gpu_to_cpu", to_cpu, raising=False)
    assert rebuild_index(session, make_settings(tmp_path / "pq", **PQ), model=MODEL) is not None
    assert calls == ["to gpu 0 trained=False", "to cpu ntotal=600"]
    calls.clear()
    assert rebuild_index(session, make_settings(tmp_path / "flat", index_kind="flat"), model=MODEL)
    assert calls == []  # flat (and HNSW) build on the CPU


def test_searcher_reranks_ivfpq_candidates_from_its_session(session: Session, tmp_path: Path) -> None:
    from app.arxiv.parse import parse_feed

    ingest_feed(session, feed=parse_feed(API100.read_bytes()))
    embedder = FakeEmbedder()
    embed_missing(session, embedder)
    store(session, clustered(400, dim=embedder.dim), model=embedder.name)  # 500 vectors: enough for PQ
    pq, flat = make_settings(tmp_path / "pq", **PQ), make_settings(tmp_path / "flat", index_kind="flat")
    assert rebuild_index(session, pq, model=embedder.name).kind == "ivfpq"  # type: ignore[union-attr]
    rebuild_index(session, flat, model=embedder.name)
    paper = get_paper(session, "2512.13685")
    assert paper is not None
    approximate = Searcher(session, pq, embedder, IndexHolder(pq))
    related = approximate.related(paper, k=5)
    exact = Searcher(session, flat, embedder, IndexHolder(flat)).related(paper, k=5)
    assert [(h.paper.id, round(h.score, 5)) for h in related] == [
        (h.paper.id, round(h.score, 5)) for h in exact
    ]
    found = approximate.search(paper.title, mode="semantic", limit=3, offset=0)
    assert found.semantic and paper.id in [h.paper.id for h in found.hits]
    assert read_meta(pq) is not None


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_a_vector_written_again_under_its_id_replaces_the_old_one(
    session: Session, tmp_path: Path, kind: str
) -> None:
    """A new version of a paper is embedded again under its id: the index kept the old vector (a search
    by the paper's own vector scored 0.91), as the row count did not change."""
    ids = store(session, clustered(600 if kind != "ivfpq" else 3000))
    settings = make_settings(tmp_path, index_kind=kind, index_ivf_nprobe=8)
    first = rebuild_index(session, settings, model=MODEL)
    assert first is not None and first.kind == kind
    moved = clustered(1, seed=99)  # its new abstract's vector, far from the old one
    drop_embeddings(session, paper_ids=[ids[3]])
    add_embeddings(session, model=MODEL, rows=[(ids[3], moved[0])])
    second = update_index(session, settings, model=MODEL)
    assert second is not None and second != first and second.count == first.count
    top_id, score = loaded_index(settings).search(
        moved[0], 1, exact=lambda p: vectors_for(session, paper_ids=p, model=MODEL)
    )[0]
    assert top_id == ids[3] and score == pytest.approx(1.0, abs=1e-5)
    assert update_index(session, settings, model=MODEL) == second  # nothing new since: nothing written
