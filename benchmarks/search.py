"""Benchmark: FAISS kNN at 100k and 1M vectors, and the whole /api/v1/search endpoint at 100k papers.

Vectors are synthetic but shaped like the real ones: 384-d, float32, L2-normalised, in 2,000 clusters
whose centres are real abstracts embedded by the bundled model (the vectors quality.py saved under
`--cache`, else embedded now; `--centres random` for random unit centres). A vector is its centre plus a spread inside a 16-dimensional subspace of its cluster (real
embeddings have a low local dimension) plus a little isotropic noise. Queries are 1,000 data points
moved a little (cosine ~0.9 to the point they came from).

kNN (k=20), per size: the exact IndexFlatIP, HNSW (M=32, efConstruction=80, efSearch 32/64/96/128)
and IVF-PQ (the app's defaults: 4 sqrt(n) lists, PQ48x8, trained on 50 vectors per list; nprobe
16/32/64/128 with 10 candidates re-ranked per result, and re-rank 5/20 at nprobe 64), built by
app/search/index.py's `new_faiss_index` / `trained_ivfpq` and searched through its `LoadedIndex`:
build time (2 threads; IVF-PQ's includes training), memory (serialized size, process RSS delta),
single-query latency p50/p99 with 1 and 2 OpenMP threads, recall@20 against exact. IVF-PQ's kNN rows
re-rank from the vectors in memory; in the app those come from the `embeddings` table, a cost the
endpoint rows (`--endpoint-kinds ...,ivfpq`) include.

Endpoint: papers recombined from real titles and abstract sentences (new ids) stored in a fresh
migrated SQLite database through `upsert_papers`, synthetic vectors through `add_embeddings`, the
index built by `rebuild_index` (once as the app picks it, exact up to 100k, then forced to each other
kind of `--endpoint-kinds`),
then `GET /api/v1/search?q=` through TestClient(create_app()) with the real bundled model, warm
(the first query loads it and is not timed); modes hybrid, keyword and semantic, with faiss and torch
on their default threads (one per CPU) and on one thread (`--endpoint-threads`); `(embed q)` rows
time the query's embedding alone.

Targets on 2 cores: kNN p99 < 5 ms at recall@20 >= 0.95; hybrid endpoint p99 < 50 ms.

Run:
    .venv/bin/python benchmarks/search.py                                   # 100k and 1M, endpoint 100k
    .venv/bin/python benchmarks/search.py --sizes '' --endpoint-size 1000000 --endpoint-kinds hnsw
    .venv/bin/python benchmarks/search.py --sizes 100000 --endpoint-size 20000
    .venv/bin/python benchmarks/search.py --sizes 20000 --kinds ivfpq --endpoint-size 0
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import harness
import numpy as np
import realdata

from app.arxiv.types import FeedEntry
from app.config import Settings
from app.search.index import (
    IndexMeta,
    LoadedIndex,
    VectorLookup,
    new_faiss_index,
    trained_ivfpq,
    training_size,
)

DIM = 384
K = 20
CLUSTERS = 2000
LOCAL_DIM = 16
EF_SEARCH = (32, 64, 96, 128)
NPROBE_RERANK = ((16, 10), (32, 10), (64, 10), (128, 10), (64, 5), (64, 20))
TARGET_KNN_P99_MS = 5.0
TARGET_RECALL = 0.95
TARGET_ENDPOINT_P99_MS = 50.0
MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True, slots=True)
class Spread:
    local: float = 0.55  # along the cluster's own subspace
    noise: float = 0.25  # in every direction
    query: float = 0.45  # queries from data points


# --- synthetic vectors -----------------------------------------------------------------------------


def real_centres(count: int, extra: Path | None, cache: Path | None) -> tuple[np.ndarray, str]:
    """`count` real abstracts' vectors (all papers are embedded: quality.py caches the same set)."""
    papers = realdata.load_papers(extra)
    vectors, origin = realdata.embed_texts([p.text for p in papers], cache=cache)
    chosen = np.random.default_rng(3).choice(len(vectors), min(count, len(vectors)), replace=False)
    return vectors[chosen], f"{len(chosen)} of {len(vectors)} real abstracts, {origin}"


def random_centres(count: int, rng: np.random.Generator) -> np.ndarray:
    return normalise(rng.standard_normal((count, DIM), dtype=np.float32))


def normalise(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def synthetic(n: int, centres: np.ndarray, spread: Spread, seed: int) -> np.ndarray:
    """`n` unit vectors around `centres` (cluster sizes uniform at random), clusters interleaved."""
    rng = np.random.default_rng(seed)
    sizes = np.bincount(rng.integers(0, len(centres), n), minlength=len(centres))
    out = np.empty((n, DIM), dtype=np.float32)
    start = 0
    for centre, size in zip(centres, sizes, strict=True):
        basis = np.linalg.qr(rng.standard_normal((DIM, LOCAL_DIM), dtype=np.float32))[0]
        local = rng.standard_normal((size, LOCAL_DIM), dtype=np.float32) @ basis.T
        noise = rng.standard_normal((size, DIM), dtype=np.float32) / np.sqrt(DIM)
        out[start : start + size] = centre + spread.local * local / np.sqrt(LOCAL_DIM) + spread.noise * noise
        start += size
    return normalise(out[rng.permutation(n)])  # papers arrive by date, not by topic


def queries_near(data: np.ndarray, count: int, spread: Spread, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = data[rng.choice(len(data), count, replace=False)]
    return normalise(
        picked + spread.query * rng.standard_normal(picked.shape, dtype=np.float32) / np.sqrt(DIM)
    )


# --- kNN ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Built:
    name: str
    loaded: LoadedIndex
    seconds: float
    bytes: int
    rss_delta: int


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def build(kind: str, data: np.ndarray, threads: int) -> Built:
    """The app's index of `kind` over `data` with ids 1..n, added 50k rows at a time as rebuild_index does.

    IVF-PQ is first trained as rebuild_index trains it: on `training_size` rows spread evenly.
    """
    import faiss

    faiss.omp_set_num_threads(threads)
    settings = Settings(_env_file=None, index_hnsw_m=32, index_hnsw_ef_construction=80)  # type: ignore[call-arg]
    before = rss_bytes()
    started = time.perf_counter()
    if kind == "ivfpq":
        rows = np.unique(np.linspace(0, len(data) - 1, training_size(len(data), settings)).astype(np.int64))
        index = trained_ivfpq(data[rows], settings, count=len(data), gpu=None)
    else:
        index = new_faiss_index(DIM, kind, settings)
    for start in range(0, len(data), 50_000):
        chunk = data[start : start + 50_000]
        index.add_with_ids(chunk, np.arange(start + 1, start + 1 + len(chunk), dtype=np.int64))
    seconds = time.perf_counter() - started
    rss = rss_bytes() - before
    size = int(faiss.serialize_index(index).nbytes)
    meta = IndexMeta(MODEL, DIM, len(data), kind, "bench", "", len(data))
    loaded = LoadedIndex(
        index, meta, rerank=settings.index_pq_rerank, rerank_max=settings.index_pq_rerank_max
    )
    return Built(kind, loaded, seconds, size, rss)


def set_ef(built: Built, ef: int) -> None:
    import faiss

    faiss.downcast_index(built.loaded.index.index).hnsw.efSearch = ef


def in_memory(data: np.ndarray) -> VectorLookup:
    """The vectors of ids 1..n from `data`: what IVF-PQ re-ranks with (the app reads them from the table)."""
    return lambda ids: {pid: data[pid - 1] for pid in ids}


def latencies(
    loaded: LoadedIndex, queries: np.ndarray, threads: int, exact: VectorLookup | None = None
) -> tuple[list[float], list[list[int]]]:
    """Milliseconds per single query (one call each, as the endpoint makes) and the ids found."""
    import faiss

    faiss.omp_set_num_threads(threads)
    times, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = loaded.search(query, K, exact=exact)
        times.append((time.perf_counter() - started) * 1000)
        found.append([pid for pid, _ in hits])
    return times, found


def recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def bench_size(n: int, centres: np.ndarray, args: argparse.Namespace) -> list[list[object]]:
    data = synthetic(n, centres, Spread(), seed=n)
    queries = queries_near(data, args.queries, Spread(), seed=n + 1)
    rows: list[list[object]] = []
    flat = build("flat", data, threads=2)
    truth: list[list[int]] = []
    for threads in (1, 2):
        times, truth = latencies(flat.loaded, queries, threads)
        rows.append(_row(n, "flat", "-", threads, flat, times, 1.0))
    top = flat.loaded.index.search(queries, K)[0]
    print(f"{n:,}: exact neighbour cosine top-1 {top[:, 0].mean():.3f}, top-20 {top[:, -1].mean():.3f}")
    del flat
    if "ivfpq" in args.kinds.split(","):
        rows.extend(ivfpq_rows(n, data, queries, truth))
    if "hnsw" in args.kinds.split(","):
        hnsw = build("hnsw", data, threads=2)
        for ef in EF_SEARCH:
            set_ef(hnsw, ef)
            for threads in (1, 2):
                times, found = latencies(hnsw.loaded, queries, threads)
                rows.append(_row(n, "hnsw", f"ef={ef}", threads, hnsw, times, recall(found, truth)))
    return rows


def ivfpq_rows(n: int, data: np.ndarray, queries: np.ndarray, truth: list[list[int]]) -> list[list[object]]:
    """IVF-PQ per (nprobe, re-rank factor), re-ranking from `data`."""
    pq = build("ivfpq", data, threads=2)
    index = pq.loaded.index
    print(f"{n:,}: IVF-PQ, {index.nlist} lists, {index.pq.M} bytes a vector, built in {pq.seconds:.1f} s")
    rows = []
    for nprobe, rerank in NPROBE_RERANK:
        index.nprobe = nprobe
        pq.loaded.rerank = rerank
        for threads in (1, 2):
            times, found = latencies(pq.loaded, queries, threads, exact=in_memory(data))
            name = f"nprobe={nprobe} R={rerank}"
            rows.append(_row(n, "ivfpq", name, threads, pq, times, recall(found, truth)))
    return rows


def _row(
    n: int, kind: str, ef: object, threads: int, built: Built, times: list[float], rec: float
) -> list[object]:
    p99 = harness.percentile(times, 99)
    ok = "yes" if p99 < TARGET_KNN_P99_MS and rec >= TARGET_RECALL else "no"
    return [
        f"{n:,} {kind}",
        ef,
        threads,
        f"{built.seconds:.1f}",
        f"{built.bytes / 2**20:.0f}",
        f"{built.rss_delta / 2**20:.0f}",
        f"{harness.median(times):.2f}",
        f"{p99:.2f}",
        f"{rec:.3f}",
        ok,
    ]


# --- endpoint -------------------------------------------------------------------------------------


def recombined(papers: Sequence[realdata.Paper], n: int, seed: int) -> Iterator[FeedEntry]:
    """`n` papers: a real title (and its authors, categories) over 5-8 sentences of other abstracts."""
    rng = random.Random(seed)
    sentences = [s for p in papers for s in re.split(r"(?<=[.!?])\s+", p.abstract) if len(s) > 30]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for i in range(n):
        head = papers[rng.randrange(len(papers))]
        abstract = " ".join(rng.sample(sentences, rng.randint(5, 8)))
        yield FeedEntry(
            arxiv_id=f"{3001 + i // 99_999}.{1 + i % 99_999:05d}",
            version=1,
            title=head.title,
            abstract=abstract,
            authors=head.authors or ("A. Author",),
            primary_category=head.primary or "cs.LG",
            categories=(head.primary or "cs.LG",),
            published_at=start + dt.timedelta(minutes=rng.randrange(60 * 24 * 700)),
        )


def fill_database(url: str, papers: Sequence[realdata.Paper], vectors: np.ndarray) -> tuple[float, float]:
    """Store len(vectors) recombined papers and their vectors: (papers s, vectors s)."""
    from sqlalchemy.orm import Session

    from app.store.db import make_engine
    from app.store.embeddings import add_embeddings
    from app.store.papers import upsert_papers

    engine = make_engine(url)
    entries = recombined(papers, len(vectors), seed=11)
    ids: list[int] = []
    started = time.perf_counter()
    while batch := [e for _, e in zip(range(5000), entries, strict=False)]:
        with Session(engine) as session, session.begin():
            stats = upsert_papers(session, entries=batch)
            ids.extend(stats.ids[e.arxiv_id] for e in batch)
    stored = time.perf_counter()
    for start in range(0, len(ids), 5000):
        with Session(engine) as session, session.begin():
            rows = list(zip(ids[start : start + 5000], vectors[start : start + 5000], strict=True))
            add_embeddings(session, model=MODEL, rows=rows)
    engine.dispose()
    return stored - started, time.perf_counter() - stored


def rebuild(kind: str) -> tuple[IndexMeta, float]:
    """rebuild_index with the environment's settings; `flat`: as the app picks, else INDEX_KIND=kind."""
    from app.config import get_settings
    from app.deps import index_holder
    from app.search.index import rebuild_index
    from app.store.db import session_scope

    if kind == "flat":
        os.environ.pop("INDEX_KIND", None)
    else:
        os.environ["INDEX_KIND"] = kind
    get_settings.cache_clear()
    index_holder.cache_clear()
    started = time.perf_counter()
    with session_scope() as session:
        meta = rebuild_index(session, get_settings(), model=MODEL)
    assert meta is not None
    return meta, time.perf_counter() - started


def query_texts(papers: Sequence[realdata.Paper], count: int, seed: int) -> list[str]:
    """2-5 consecutive words of real titles: what readers type."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = re.findall(r"[A-Za-z][\w-]+", papers[rng.randrange(len(papers))].title)
        size = min(len(words), rng.randint(2, 5))
        first = rng.randrange(len(words) - size + 1)
        out.append(" ".join(words[first : first + size]))
    return out


def time_endpoint(queries: Sequence[str], mode: str) -> tuple[list[float], float]:
    """Milliseconds per GET /api/v1/search (fresh app, warm model) and the mean number of results."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    times, totals = [], []
    with TestClient(create_app()) as client:
        for query in ["warm-up", *queries[:10]]:
            client.get("/api/v1/search", params={"q": query, "mode": mode}).raise_for_status()
        for query in queries:
            started = time.perf_counter()
            response = client.get("/api/v1/search", params={"q": query, "mode": mode})
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            totals.append(response.json()["total"])
    return times, float(np.mean(totals))


def time_query_embedding(queries: Sequence[str]) -> list[float]:
    from app.config import get_settings
    from app.search.embed import get_embedder

    embedder = get_embedder(get_settings())
    times = []
    for query in queries:
        started = time.perf_counter()
        embedder.embed([query])
        times.append((time.perf_counter() - started) * 1000)
    return times


def bench_endpoint(size: int, centres: np.ndarray, args: argparse.Namespace) -> None:
    papers = realdata.load_papers(args.extra)
    vectors = synthetic(size, centres, Spread(), seed=size + 7)
    queries = query_texts(papers, args.endpoint_queries, seed=5)
    folder = tempfile.TemporaryDirectory(prefix="coolpapers-search-")
    with folder, harness.fresh_database(harness.Target("SQLite", None)) as url:
        os.environ.update({"DATABASE_URL": url, "DATA_DIR": str(Path(folder.name) / "data")})
        os.environ["RATE_SEARCH_PER_MINUTE"] = str(10**9)  # one client asking fast: not what is measured
        os.environ.pop("REDIS_URL", None)  # the in-process rate counter, as in a single-node setup
        papers_s, vectors_s = fill_database(url, papers, vectors)
        per_million = (papers_s + vectors_s) * 1_000_000 / size / 60
        print(
            f"\nendpoint database: {size:,} papers stored in {papers_s:.0f} s, vectors in {vectors_s:.0f} s"
        )
        print(f"(at this rate 1M papers would take ~{per_million:.0f} min to store, before the index build)")
        threads = args.endpoint_threads.split(",")
        rows = [
            row for kind in args.endpoint_kinds.split(",") for row in endpoint_rows(kind, queries, threads)
        ]
    print(f"\nGET /api/v1/search, {len(queries)} queries each, load {realdata.load_average()}\n")
    headers = ["papers, index, threads", "mode", "p50 ms", "p99 ms", "mean total", "p99 < 50 ms"]
    print(harness.table(headers, rows))


def endpoint_rows(kind: str, queries: Sequence[str], threads: Sequence[str]) -> list[list[object]]:
    meta, seconds = rebuild(kind)
    print(f"index {meta.kind} over {meta.count:,} vectors built by rebuild_index in {seconds:.1f} s")
    rows = []
    for setting in threads:
        use_threads(setting)
        name = f"{meta.count:,} {meta.kind}, {setting}"
        for mode in ("hybrid", "keyword", "semantic"):
            times, total = time_endpoint(queries, mode)
            rows.append(_endpoint_row(name, mode, times, total))
        embed_ms = time_query_embedding(queries)
        p50, p99 = harness.median(embed_ms), harness.percentile(embed_ms, 99)
        rows.append([name, "(embed q)", f"{p50:.1f}", f"{p99:.1f}", "-", "-"])
    return rows


def use_threads(setting: str) -> None:
    """faiss (OpenMP) and torch threads of this process: `auto` is their default, one per CPU."""
    import faiss
    import torch

    count = (os.cpu_count() or 1) if setting == "auto" else int(setting)
    faiss.omp_set_num_threads(count)
    torch.set_num_threads(count)


def _endpoint_row(name: str, mode: str, times: list[float], total: float) -> list[object]:
    p99 = harness.percentile(times, 99)
    ok = "yes" if p99 < TARGET_ENDPOINT_P99_MS else "no"
    return [
        name,
        mode,
        f"{harness.median(times):.1f}",
        f"{p99:.1f}",
        f"{total:.0f}",
        ok if mode == "hybrid" else "-",
    ]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="kNN index sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=1000, help="kNN queries per configuration")
    parser.add_argument("--kinds", default="hnsw,ivfpq", help="approximate kNN kinds beside exact flat")
    parser.add_argument(
        "--endpoint-size", type=int, default=100_000, help="papers in the endpoint run; 0: skip"
    )
    parser.add_argument(
        "--endpoint-kinds",
        default="flat,hnsw,ivfpq",
        help="index kinds for the endpoint run (flat: as the app picks)",
    )
    parser.add_argument(
        "--endpoint-threads",
        default="auto,1",
        help="faiss and torch threads in the endpoint run (auto: 1 per CPU)",
    )
    parser.add_argument("--endpoint-queries", type=int, default=300, help="queries per endpoint mode")
    parser.add_argument("--centres", choices=("real", "random"), default="real", help="cluster centres")
    realdata.add_extra_argument(parser)
    parser.add_argument("--cache", type=Path, default=realdata.CACHE, help="folder caching real vectors")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    print(*realdata.context_lines(), sep="\n")
    import faiss

    if args.centres == "real":
        centres, origin = real_centres(CLUSTERS, args.extra, args.cache)
    else:
        centres, origin = random_centres(CLUSTERS, np.random.default_rng(0)), "random unit vectors"
    print(f"faiss {faiss.__version__}; cluster centres: {origin}")
    rows: list[list[object]] = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        rows.extend(bench_size(size, centres, args))
    if rows:
        print(f"\nkNN k={K}, {args.queries} single queries each, load {realdata.load_average()}\n")
        headers = [
            "vectors, index",
            "parameters",
            "threads",
            "build s",
            "MiB",
            "RSS +MiB",
            "p50 ms",
            "p99 ms",
            "recall@20",
            "target",
        ]
        print(harness.table(headers, rows))
    if args.endpoint_size:
        bench_endpoint(args.endpoint_size, centres, args)


if __name__ == "__main__":
    main()
