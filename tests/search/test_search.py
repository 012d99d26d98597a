"""Embeddings, the FAISS index derived from them, hybrid search and related papers (fake embedder)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.deps import get_searcher
from app.search.embed import embed_missing
from app.search.hybrid import Searcher, SearchFilters, fuse
from app.search.index import IndexHolder, read_meta, rebuild_index, update_index
from app.store.embeddings import count_embeddings
from app.store.ingest import ingest_feed
from app.store.listings import parse_category_expression
from app.store.papers import get_paper
from tests.conftest import DATA
from tests.fakes import FakeEmbedder

API100 = DATA / "api" / "api-2025-cs-100-entries.xml"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, index_reload_seconds=0)  # type: ignore[call-arg]


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def loaded(session: Session) -> Session:
    ingest_feed(session, feed=parse_feed(API100.read_bytes()))
    return session


@pytest.fixture
def searcher(loaded: Session, settings: Settings, embedder: FakeEmbedder) -> Searcher:
    embed_missing(loaded, embedder)
    rebuild_index(loaded, settings, model=embedder.name)
    return Searcher(loaded, settings, embedder, IndexHolder(settings))


def test_embed_missing_is_idempotent(loaded: Session, embedder: FakeEmbedder) -> None:
    first = embed_missing(loaded, embedder, batch_size=30)
    assert (first.embedded, first.remaining) == (100, 0)
    again = embed_missing(loaded, embedder)
    assert again.embedded == 0
    assert count_embeddings(loaded, model=embedder.name) == 100


def test_index_is_exact_and_keyed_by_paper_id(searcher: Searcher, loaded: Session) -> None:
    paper = get_paper(loaded, "2512.13685")
    assert paper is not None
    index = searcher.holder.get(model="fake-bow")
    assert index is not None and index.meta.kind == "flat" and index.meta.count == 100
    vector = searcher.embedder.embed([f"{paper.title}. {paper.abstract}"])[0]
    top_id, top_score = index.search(vector, 1)[0]
    assert top_id == paper.id
    assert top_score == pytest.approx(1.0, abs=1e-5)


def test_hnsw_above_threshold_agrees_with_exact(
    loaded: Session, tmp_path: Path, embedder: FakeEmbedder
) -> None:
    embed_missing(loaded, embedder)
    exact = Settings(_env_file=None, data_dir=tmp_path / "a")  # type: ignore[call-arg]
    approx = Settings(_env_file=None, data_dir=tmp_path / "b", index_exact_max=10)  # type: ignore[call-arg]
    assert rebuild_index(loaded, approx, model=embedder.name).kind == "hnsw"  # type: ignore[union-attr]
    rebuild_index(loaded, exact, model=embedder.name)
    query = embedder.embed(["language models for clinical text"])[0]
    a = IndexHolder(exact).get(model=embedder.name)
    b = IndexHolder(approx).get(model=embedder.name)
    assert a is not None and b is not None
    assert {i for i, _ in a.search(query, 10)} == {i for i, _ in b.search(query, 10)}


def test_update_index_adds_new_vectors_and_model_change_rebuilds(
    loaded: Session, settings: Settings, embedder: FakeEmbedder
) -> None:
    embed_missing(loaded, embedder, limit=60)
    first = update_index(loaded, settings, model=embedder.name)
    assert first is not None and first.count == 60
    embed_missing(loaded, embedder)
    second = update_index(loaded, settings, model=embedder.name)
    assert second is not None and second.count == 100 and second.file != first.file
    other = FakeEmbedder(name="other-model", dim=32)
    embed_missing(loaded, other)
    third = update_index(loaded, settings, model=other.name)
    assert third is not None and (third.model, third.dim, third.count) == ("other-model", 32, 100)
    assert IndexHolder(settings).get(model=embedder.name) is None  # never a mixed index


def test_reader_never_sees_a_broken_index_during_rebuilds(
    loaded: Session, settings: Settings, embedder: FakeEmbedder
) -> None:
    embed_missing(loaded, embedder)
    rebuild_index(loaded, settings, model=embedder.name)
    holder = IndexHolder(settings)
    query = embedder.embed(["graph neural networks"])[0]
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                index = holder.get(model=embedder.name)
                assert index is not None and len(index.search(query, 5)) == 5
            except BaseException as exc:
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(15):
        rebuild_index(loaded, settings, model=embedder.name)
    stop.set()
    reader.join()
    assert failures == []
    assert len(list((settings.data_dir / "index").glob("faiss-*.index"))) == 2
    assert read_meta(settings) is not None


def test_keyword_search_finds_title_words(searcher: Searcher) -> None:
    result = searcher.search("Alzheimer", mode="keyword", limit=5, offset=0)
    assert result.hits
    assert "alzheimer" in (result.hits[0].paper.title + result.hits[0].paper.abstract).lower()


def test_keyword_search_plans_agree_and_rank_only_the_newest(
    loaded: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.store import fts

    narrow = fts.keyword_search(loaded, "language models", limit=20)
    assert narrow
    monkeypatch.setattr(fts, "BROAD_MATCHES", -1)  # as if the planner expected a broad query
    assert fts.keyword_search(loaded, "language models", limit=20) == narrow
    if loaded.get_bind().dialect.name != "postgresql":
        return  # FTS5 ranks every match (bm25 is cheap there)
    monkeypatch.setattr(fts, "RANKED", 3)  # only the 3 newest matches are ranked (at least `limit`)
    newest = {pid for pid, _ in fts.keyword_search(loaded, "language models", limit=2)}
    assert newest and newest <= set(sorted((pid for pid, _ in narrow), reverse=True)[:3])


def test_semantic_and_hybrid_find_paraphrase(searcher: Searcher, loaded: Session) -> None:
    paper = get_paper(loaded, "2512.13685")
    assert paper is not None
    for mode in ("semantic", "hybrid"):
        result = searcher.search(paper.title, mode=mode, limit=3, offset=0)  # type: ignore[arg-type]
        assert paper.id in [h.paper.id for h in result.hits], mode
        assert result.semantic


def test_search_filters_by_category_and_date(searcher: Searcher) -> None:
    cats = SearchFilters(categories=parse_category_expression("cs.CL"))
    result = searcher.search("language models", filters=cats, limit=50, offset=0)
    assert result.hits
    assert all("cs.CL" in h.paper.categories for h in result.hits)
    none = SearchFilters(categories=parse_category_expression("hep-th"))
    assert searcher.search("language models", filters=none, limit=50, offset=0).total == 0


def test_related_excludes_the_paper_and_falls_back_to_keywords(
    loaded: Session, settings: Settings, embedder: FakeEmbedder
) -> None:
    paper = get_paper(loaded, "2512.13685")
    assert paper is not None
    fallback = Searcher(loaded, settings, embedder, IndexHolder(settings)).related(paper, k=5)
    assert fallback and paper.id not in [h.paper.id for h in fallback]
    embed_missing(loaded, embedder)
    rebuild_index(loaded, settings, model=embedder.name)
    related = Searcher(loaded, settings, embedder, IndexHolder(settings)).related(paper, k=5)
    assert len(related) == 5 and paper.id not in [h.paper.id for h in related]
    assert related[0].score >= related[-1].score


def test_search_works_with_nothing_embedded(
    loaded: Session, settings: Settings, embedder: FakeEmbedder
) -> None:
    result = Searcher(loaded, settings, embedder, IndexHolder(settings)).search("learning", limit=5, offset=0)
    assert result.hits and not result.semantic
    assert embedder.calls == 0


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "!!!???...",
        "x" * 10_000,
        'title:"open AND (NEAR(a b)) OR NOT * ^ -',
        "'; DROP TABLE papers; --",
        "a\x00b",
        "papers_fts MATCH '*'",
        "😀 λ∑ 中文",
    ],
)
def test_absurd_queries_never_fail(searcher: Searcher, query: str) -> None:
    result = searcher.search(query, limit=5, offset=0)
    assert result.total >= 0


def test_fuse_prefers_documents_ranked_well_by_both() -> None:
    fused = fuse([[1, 2, 3], [3, 1, 4]])
    assert [pid for pid, _ in fused][:2] == [1, 3]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)


@pytest.fixture
def api(client: TestClient, searcher: Searcher) -> TestClient:
    client.app.dependency_overrides[get_searcher] = lambda: searcher  # type: ignore[attr-defined]
    return client


def test_api_search_and_related(api: TestClient, searcher: Searcher, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    search = searcher.search

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return search(*args, **kwargs)

    monkeypatch.setattr(searcher, "search", watched)
    body = api.get("/api/v1/search", params={"q": "Alzheimer speech", "limit": 3}).json()
    assert body["items"] and body["limit"] == 3 and body["semantic"] is True
    assert len(threads) == 1 and threads[0].startswith("page")  # embeds the query: on the page threads
    assert {"score", "arxiv_id", "title"} <= set(body["items"][0])
    related = api.get("/api/v1/papers/2512.13685/related", params={"k": 4}).json()
    assert len(related["items"]) == 4
    assert "2512.13685" not in [p["arxiv_id"] for p in related["items"]]
    assert api.get("/api/v1/papers/2101.99999/related").status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "x" * 10_000},
        {"q": "a", "mode": "magic"},
        {"q": "a", "limit": 0},
        {"q": "a", "from": "2025-13-01"},
        {"q": "a", "from": "2025-02-01", "to": "2025-01-01"},
        {"q": "a", "category": "<script>"},
    ],
)
def test_api_search_bad_parameters_are_422(api: TestClient, params: dict[str, object]) -> None:
    response = api.get("/api/v1/search", params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_search_page_highlights_and_keeps_markup(api: TestClient) -> None:
    from bs4 import BeautifulSoup

    response = api.get("/arxiv/search", params={"query": "Alzheimer", "highlight": 1})
    assert response.status_code == 200
    soup = BeautifulSoup(response.text, "html.parser")
    papers = soup.select("div.papers > div.paper")
    assert papers
    assert soup.select("mark") and all(m.text.lower() == "alzheimer" for m in soup.select("mark"))
    assert papers[0].select_one("a.title-link")["href"] == f"/arxiv/{papers[0]['id']}"
    page = BeautifulSoup(api.get("/arxiv/2512.13685").text, "html.parser")
    assert len(page.select("section#related div.paper")) == 10
