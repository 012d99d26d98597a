"""The real bundled all-MiniLM-L6-v2 on real abstracts: loaded offline, neighbours that make sense."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from app.arxiv.parse import parse_feed
from app.search.embed import paper_text
from app.search.embedder import BUNDLED_MODEL
from app.search.torch_embed import SentenceEmbedder
from tests.conftest import DATA


@pytest.fixture(scope="module")
def model() -> SentenceEmbedder:
    return SentenceEmbedder(BUNDLED_MODEL, device="cpu", dtype="float32", batch_size=16).load()


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
    return [(e.title, e.abstract) for e in feed.entries[:40]]


def test_bundled_model_loads_offline_and_normalises(model: SentenceEmbedder) -> None:
    vectors = model.embed(["graph neural networks for molecules", "a recipe for bread"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert model.dim == 384


def test_paraphrase_of_an_abstract_finds_it_in_top_3(
    model: SentenceEmbedder, corpus: list[tuple[str, str]]
) -> None:
    vectors = model.embed([paper_text(t, a) for t, a in corpus])
    # Paraphrases written by hand, sharing few words with the papers' titles.
    paraphrases = {
        0: "letting people see early previews while a video generation model is still running",
        7: "changing a generated three-dimensional object by giving written instructions",
        19: "removing the refusal behaviour of chat models and comparing how well that works",
        33: "teaching multimodal models to perform an action on a picture and then reverse it",
    }
    for index, query in paraphrases.items():
        scores = vectors @ model.embed([query])[0]
        top3 = list(np.argsort(-scores)[:3])
        assert index in top3, (query, [corpus[i][0] for i in top3])


def test_bf16_agrees_with_fp32(model: SentenceEmbedder, corpus: list[tuple[str, str]]) -> None:
    texts = [paper_text(t, a) for t, a in corpus[:16]]
    bf16 = SentenceEmbedder(BUNDLED_MODEL, device="cpu", dtype="bfloat16", batch_size=16).embed(texts)
    assert np.allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)  # unit length as stored
    agreement = np.sum(model.embed(texts) * bf16, axis=1)
    assert agreement.min() > 0.99


def test_import_app_main_loads_no_ml_library() -> None:
    """Nor does a listing's key terms: scikit-learn alone is ~85 MB of every web process."""
    code = (
        "import sys, app.main, workers.tasks; "
        "from app.web.templating import key_terms; key_terms('A title of a listing'); "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'faiss', 'transformers', 'onnxruntime', 'onnx', "
        "'sklearn', 'scipy') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_key_terms_drop_scikit_learns_english_stop_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from app.web import templating

    assert templating.english_stop_words() == ENGLISH_STOP_WORDS
    assert (
        templating.key_terms("Whereas the Art of Using Transformers Across Graphs")
        == "Art,Transformers,Graphs"
    )
    # A release that moved the list's file: the import, heavier, gives the same list.
    monkeypatch.setattr(templating.importlib.util, "find_spec", lambda name: None)
    assert templating.english_stop_words() == ENGLISH_STOP_WORDS
