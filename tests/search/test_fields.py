"""The field model (app/search/fields.py): arXiv categories learnt from stored vectors, for related papers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.search import fields
from app.search.embed import embed_missing, paper_text
from app.search.embedder import BUNDLED_MODEL
from app.search.hybrid import Searcher
from app.search.index import IndexHolder, index_dir
from app.search.refresh import embed_and_index, reindex
from app.search.related import POOL, rerank_related
from app.search.torch_embed import SentenceEmbedder
from app.store.db import session_scope
from app.store.ingest import ingest_file
from app.store.models import Embedding, Paper
from app.store.papers import get_paper
from tests.conftest import DATA
from tests.fakes import FakeEmbedder

API100 = DATA / "api" / "api-2025-cs-100-entries.xml"
SNAPSHOT = DATA / "snapshot" / "arxiv-metadata-oai-snapshot.head200.jsonl"


def _unit(v: list[float]) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def _two_subjects(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """40 papers about axis 0 ("A") and 40 about axis 1 ("B"), spread over the other axes alike."""
    spread = rng.normal(scale=0.3, size=(80, 4)).astype(np.float32)
    spread[:40, 0] += 1.0
    spread[40:, 1] += 1.0
    return spread / np.linalg.norm(spread, axis=1, keepdims=True), np.array(["A"] * 40 + ["B"] * 40)


def test_the_field_of_a_closer_stray_falls_behind_a_paper_of_the_same_subject() -> None:
    vectors, labels = _two_subjects(np.random.default_rng(0))
    model = fields.train(vectors, labels, model="m", store_count=80)
    assert model is not None and model.classes == ("A", "B")
    query = _unit([0.6, 0.0, 0.8, 0.0])  # subject A, worded along axis 2
    stray = _unit([0.0, 0.6, 0.8, 0.0])  # subject B, worded alike: the closer by cosine (0.64)
    kin = _unit([0.6, 0.0, 0.0, 0.8])  # subject A, worded otherwise (0.36)
    near = {1: stray, 2: kin}
    found = [(1, float(stray @ query)), (2, float(kin @ query))]
    plain = rerank_related(query, found, vectors=near, authors=[], authors_of={})
    assert [pid for pid, _ in plain] == [1, 2]
    with_fields = rerank_related(query, found, vectors=near, authors=[], authors_of={}, fields=model)
    assert [pid for pid, _ in with_fields] == [2, 1]
    assert all(0.0 <= score <= 1.0 for _, score in with_fields)  # still on the cosine's scale


def test_two_categories_give_two_rows_that_agree_with_the_classifier() -> None:
    """sklearn keeps one row of weights for two classes: the model stores both, the first at 0."""
    vectors, labels = _two_subjects(np.random.default_rng(1))
    model = fields.train(vectors, labels, model="m", store_count=80)
    assert model is not None and model.weights.shape == (2, 4) and model.bias.shape == (2,)
    profiles = model.profile(vectors)
    assert np.allclose(np.linalg.norm(profiles, axis=1), 1.0, atol=1e-5)
    predicted = np.array(model.classes)[profiles.argmax(axis=1)]
    assert (predicted == labels).mean() > 0.9


def test_one_category_or_none_trains_nothing() -> None:
    vectors, _ = _two_subjects(np.random.default_rng(2))
    assert fields.train(vectors, np.array(["A"] * 80), model="m", store_count=80) is None


def test_a_model_of_another_size_is_not_used() -> None:
    vectors, labels = _two_subjects(np.random.default_rng(3))
    model = fields.train(vectors, labels, model="m", store_count=80)
    query = _unit([1.0, 0.0, 0.0])  # three dimensions: another model's vectors
    found = [(1, 0.9), (2, 0.8)]
    near = {1: _unit([1.0, 0.1, 0.0]), 2: _unit([1.0, 0.0, 0.2])}
    assert rerank_related(query, found, vectors=near, authors=[], authors_of={}, fields=model) == (
        rerank_related(query, found, vectors=near, authors=[], authors_of={})
    )


def test_the_file_round_trips_and_a_broken_one_reads_as_none(tmp_path: Path) -> None:
    vectors, labels = _two_subjects(np.random.default_rng(4))
    model = fields.train(vectors, labels, model="m", store_count=80)
    assert model is not None
    fields.write(tmp_path, model)
    again = fields.read(tmp_path)
    assert again is not None and (again.model, again.classes, again.store_count) == ("m", ("A", "B"), 80)
    assert np.array_equal(again.weights, model.weights) and np.array_equal(again.bias, model.bias)
    fields.write(tmp_path, dataclasses.replace(model, bias=np.zeros(3, dtype=np.float32)))
    assert fields.read(tmp_path) is None  # two classes, three biases: not a model
    broken = model.weights.copy()
    broken[0, 0] = np.nan  # every related score was null, in no order
    fields.write(tmp_path, dataclasses.replace(model, weights=broken))
    assert fields.read(tmp_path) is None
    none = np.zeros((0, 4), dtype=np.float32)  # no class: every related call was a 500
    fields.write(tmp_path, dataclasses.replace(model, classes=(), weights=none, bias=np.zeros(0, np.float32)))
    assert fields.read(tmp_path) is None
    with (tmp_path / fields.FILE).open("wb") as out:  # an array, not an archive: a 500, and no retraining
        np.save(out, model.weights)
    assert fields.read(tmp_path) is None
    with (tmp_path / fields.FILE).open("wb") as out:
        np.savez(out, model=np.array("m"), classes=np.array("A"), weights=model.weights, bias=model.bias,
                 store_count=np.array([1, 2]))  # fmt: skip
    assert fields.read(tmp_path) is None
    (tmp_path / fields.FILE).write_bytes(b"PK\x03\x04 not a whole archive")
    assert fields.read(tmp_path) is None
    (tmp_path / fields.FILE).unlink()
    assert fields.read(tmp_path) is None


@pytest.fixture
def settings(settings_env: Settings) -> Settings:
    """A fresh committed database (embed_and_index opens its own sessions); files reread at once."""
    return settings_env.model_copy(update={"index_reload_seconds": 0})


def test_the_store_trains_fields_once_and_again_when_it_has_grown(settings: Settings) -> None:
    embedder = FakeEmbedder()
    ingest_file(settings, path=API100, category=None, day=None)
    folder = index_dir(settings)
    with session_scope(settings) as session:
        embed_missing(session, embedder)
    with session_scope(settings) as session:
        first = fields.refresh_fields(session, folder, model=embedder.name)
        categories = set(session.scalars(select(Paper.primary_category)))
    assert first is not None and set(first.classes) == categories and first.store_count == 100
    stamp = (folder / fields.FILE).stat().st_mtime_ns
    with session_scope(settings) as session:
        kept = fields.refresh_fields(session, folder, model=embedder.name)  # not grown: the file is kept
    assert kept is not None and np.array_equal(kept.weights, first.weights)
    assert (folder / fields.FILE).stat().st_mtime_ns == stamp
    with session_scope(settings) as session:  # 100 more papers' vectors: the store grew, trained again
        session.execute(delete(Embedding).where(Embedding.paper_id.in_(select(Paper.id).limit(10))))
    with session_scope(settings) as session:
        smaller = fields.refresh_fields(session, folder, model=embedder.name, force=True)
        assert smaller is not None and smaller.store_count == 90
        embed_missing(session, embedder)
    with session_scope(settings) as session:
        grown = fields.refresh_fields(session, folder, model=embedder.name)
    assert grown is not None and grown.store_count == 100  # 90 -> 100: more than RETRAIN_GROWTH
    # Trained on a bigger store (a restored backup, another instance's file): trained again.
    assert grown is not None
    fields.write(folder, dataclasses.replace(grown, store_count=1000))
    with session_scope(settings) as session:
        again = fields.refresh_fields(session, folder, model=embedder.name)
    assert again is not None and again.store_count == 100
    # Another model's vectors: trained for it, and the first model's file is replaced.
    other = FakeEmbedder(name="other-model")
    with session_scope(settings) as session:
        embed_missing(session, other)
    with session_scope(settings) as session:
        assert fields.refresh_fields(session, folder, model=other.name) is not None
    assert IndexHolder(settings).fields(model=embedder.name) is None
    assert IndexHolder(settings).fields(model=other.name) is not None


def test_related_papers_use_the_published_fields(settings: Settings) -> None:
    """embed_and_index publishes the fields beside the index; related papers read them (and go
    without when the file is gone), through the same holder as the index; a rebuild trains again."""
    embedder = FakeEmbedder()
    ingest_file(settings, path=API100, category=None, day=None)
    embed_and_index(settings, embedder=embedder)
    holder = IndexHolder(settings)
    assert holder.fields(model=embedder.name) is not None
    with session_scope(settings) as session:
        paper = get_paper(session, "2512.13685")
        assert paper is not None
        searcher = Searcher(session, settings, embedder, holder)
        with_fields = [(h.paper.id, h.score) for h in searcher.related(paper, k=10)]
        (index_dir(settings) / fields.FILE).unlink()
        without = [(h.paper.id, h.score) for h in searcher.related(paper, k=10)]
        assert holder.fields(model=embedder.name) is None
        assert with_fields != without
        with (index_dir(settings) / fields.FILE).open("wb") as out:  # foreign: a 500 before, now none
            np.save(out, np.zeros((3, embedder.dim), dtype=np.float32))
        assert [(h.paper.id, h.score) for h in searcher.related(paper, k=10)] == without
    reindex(settings, embedder=embedder)
    assert holder.fields(model=embedder.name) is not None
    with session_scope(settings) as session:
        paper = get_paper(session, "2512.13685")
        assert paper is not None
        again = Searcher(session, settings, embedder, holder).related(paper, k=10)
        assert [(h.paper.id, h.score) for h in again] == with_fields


def _real_papers() -> tuple[list[str], list[str]]:
    """The texts and primary categories of the repository's real API and snapshot papers."""
    texts, labels = [], []
    for entry in parse_feed(API100.read_bytes()).entries:
        if entry.abstract and entry.primary_category:
            texts.append(paper_text(entry.title, entry.abstract))
            labels.append(entry.primary_category)
    for line in SNAPSHOT.read_text().splitlines():
        record = json.loads(line)
        texts.append(paper_text(" ".join(record["title"].split()), " ".join(record["abstract"].split())))
        labels.append(record["categories"].split()[0])
    return texts, labels


def test_held_out_papers_find_more_of_their_category_with_fields() -> None:
    """On ~300 real papers with the real model, each paper's fields model trained without it (5
    folds): its related top 10 share its primary category more often than from text alone
    (benchmarks/quality.py measures the same on ~2,500 papers)."""
    texts, labels = _real_papers()
    primaries = np.array(labels)
    model = SentenceEmbedder(BUNDLED_MODEL, device="cpu", dtype="float32", batch_size=32).load()
    vectors = model.embed(texts)
    cosines = vectors @ vectors.T
    np.fill_diagonal(cosines, -np.inf)
    fold_of = np.arange(len(texts)) % 5
    text_hits = field_hits = 0
    for fold in range(5):
        trained = fields.train(vectors[fold_of != fold], primaries[fold_of != fold], model="m", store_count=0)
        assert trained is not None
        for i in np.flatnonzero(fold_of == fold):
            order = np.argsort(-cosines[i], kind="stable")[:POOL]
            found = [(int(j), float(cosines[i, j])) for j in order]
            near = {j: vectors[j] for j, _ in found}
            plain = rerank_related(vectors[i], found, vectors=near, authors=[], authors_of={})
            fielded = rerank_related(
                vectors[i], found, vectors=near, authors=[], authors_of={}, fields=trained
            )
            text_hits += sum(primaries[j] == primaries[i] for j, _ in plain[:10])
            field_hits += sum(primaries[j] == primaries[i] for j, _ in fielded[:10])
    assert field_hits > text_hits * 1.1, (field_hits, text_hits)
