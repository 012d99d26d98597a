"""The int8 ONNX path on the real bundled model: agrees with torch fp32, exported once, chosen by settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from app.arxiv.parse import parse_feed
from app.config import Settings, get_settings
from app.search import onnx_embed
from app.search.embed import choose_backend, get_embedder, paper_text
from app.search.embedder import BUNDLED_MODEL, resolve_model
from app.search.onnx_embed import OnnxEmbedder, cached_graph, export_key, supports_model
from app.search.torch_embed import SentenceEmbedder
from tests.conftest import DATA

FOLDER = Path(resolve_model(BUNDLED_MODEL))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export per test session: every test here shares this cache folder."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def onnx_model(models_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder(BUNDLED_MODEL, cache_dir=models_dir, batch_size=16).load()


@pytest.fixture(scope="module")
def torch_model() -> SentenceEmbedder:
    return SentenceEmbedder(BUNDLED_MODEL, device="cpu", dtype="float32", batch_size=16).load()


@pytest.fixture(scope="module")
def texts() -> list[str]:
    feed = parse_feed((DATA / "api" / "api-2025-cs-100-entries.xml").read_bytes())
    return [paper_text(e.title, e.abstract) for e in feed.entries[:24]]


def test_onnx_agrees_with_torch_fp32_row_by_row(
    onnx_model: OnnxEmbedder, torch_model: SentenceEmbedder, texts: list[str]
) -> None:
    fast = onnx_model.embed(texts)
    assert fast.shape == (len(texts), 384) and fast.dtype == np.float32 and onnx_model.dim == 384
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(fast * torch_model.embed(texts), axis=1)
    assert cosines.min() >= 0.99, np.round(cosines, 4)


def test_onnx_tokenizes_as_sentence_transformers_does(texts: list[str]) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(FOLDER), device="cpu", local_files_only=True)
    batch = [" ".join(texts), texts[0], "a short one"]  # the first far longer than 256 tokens
    ours = onnx_embed.GraphEncoder(FOLDER, lambda tokens: np.zeros((0,), dtype=np.float32)).tokens(batch)
    theirs = model.preprocess(batch)
    assert ours["input_ids"].shape == (3, model.max_seq_length) == (3, 256)
    for name, array in ours.items():
        assert np.array_equal(array, theirs[name].numpy()), name


def test_second_embedder_reuses_the_exported_graph(
    models_dir: Path, onnx_model: OnnxEmbedder, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (graph,) = models_dir.glob("*/model-int8.onnx")
    before = graph.stat()

    def no_export(*args: object, **kwargs: object) -> Path:
        raise AssertionError("exported again although the graph is cached")

    monkeypatch.setattr(onnx_embed, "build_int8_graph", no_export)
    again = OnnxEmbedder(BUNDLED_MODEL, cache_dir=models_dir, batch_size=16)
    assert np.allclose(again.embed(texts[:4]), onnx_model.embed(texts[:4]), atol=1e-6)
    after = graph.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert json.loads((graph.parent / "meta.json").read_text())["model"] == BUNDLED_MODEL


def test_concurrent_first_uses_export_once(
    models_dir: Path, onnx_model: OnnxEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first uses at once: one exports (here: copies the session's graph, slowly), the other waits."""
    (exported,) = models_dir.glob("*/model-int8.onnx")
    calls: list[Path] = []

    def slow_export(folder: Path, work: Path) -> Path:
        calls.append(work)
        time.sleep(0.5)  # long enough for the other thread to reach the lock
        return Path(shutil.copy(exported, work / exported.name))

    monkeypatch.setattr(onnx_embed, "build_int8_graph", slow_export)
    (tmp_path / f".export-{exported.parent.name}-dead").mkdir(parents=True)  # a killed export's leftovers
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(cached_graph(BUNDLED_MODEL, FOLDER, cache_dir=tmp_path))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes() == exported.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left


def test_export_key_changes_with_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    key = export_key(BUNDLED_MODEL, FOLDER)
    assert export_key(BUNDLED_MODEL, FOLDER) == key
    monkeypatch.setattr(onnx_embed, "EXPORT_VERSION", onnx_embed.EXPORT_VERSION + 1)
    assert export_key(BUNDLED_MODEL, FOLDER) != key
    assert export_key("another-name", FOLDER) != key


def test_only_mean_pooled_bert_models_are_exported(tmp_path: Path) -> None:
    assert supports_model(FOLDER)
    copy = tmp_path / "model"
    shutil.copytree(FOLDER, copy, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    pooling = copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.write_text(
        json.dumps(config | {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    )
    assert not supports_model(copy)
    assert not supports_model(tmp_path / "missing")
    slow = tmp_path / "slow-tokenizer"  # vocab.txt alone: only transformers' Python tokenizer reads it
    shutil.copytree(FOLDER, slow, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "tokenizer.json"))
    assert not supports_model(slow)
    assert choose_backend("auto", model=str(copy), device="cpu", dtype="auto") == "torch"


def test_auto_picks_onnx_on_cpu_and_keeps_torch_elsewhere() -> None:
    assert choose_backend("auto", model=BUNDLED_MODEL, device="cpu", dtype="auto") == "onnx"
    assert choose_backend("auto", model=BUNDLED_MODEL, device="cuda", dtype="auto") == "torch"
    assert choose_backend("auto", model=BUNDLED_MODEL, device="cpu", dtype="float32") == "torch"
    assert choose_backend("onnx", model=BUNDLED_MODEL, device="cuda", dtype="auto") == "onnx"


def test_default_settings_give_the_onnx_embedder(models_dir: Path) -> None:
    embedder = get_embedder(Settings(data_dir=models_dir.parent / "auto-data", embed_device="cpu"))
    assert isinstance(embedder, OnnxEmbedder)


def test_embed_backend_torch_gives_the_torch_path(
    tmp_path: Path, torch_model: SentenceEmbedder, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EMBED_BACKEND", "torch")
    monkeypatch.setenv("EMBED_DTYPE", "float32")
    get_settings.cache_clear()
    try:
        embedder = get_embedder(get_settings())
    finally:
        get_settings.cache_clear()
    assert isinstance(embedder, SentenceEmbedder)
    assert np.allclose(embedder.embed(texts[:4]), torch_model.embed(texts[:4]), atol=1e-5)
    assert not (tmp_path / "models").exists()  # nothing exported


def test_first_uses_from_many_threads_in_a_fresh_process(models_dir: Path, onnx_model: OnnxEmbedder) -> None:
    """A web process's first requests arrive together, on several threads and embedders at once.

    The loads must take turns (transformers' lazy imports failed when two threads ran them), and
    with the graph exported, embedding imports neither torch nor transformers: ~300 MB a web process
    would carry for its search queries. A fresh interpreter, so nothing is imported yet.
    """
    script = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "from app.search.onnx_embed import OnnxEmbedder\n"
        "errors = []\n"
        "def use(embedder):\n"
        "    try:\n"
        "        assert embedder.embed(['graph neural networks']).shape == (1, 384)\n"
        "    except BaseException as exc:\n"
        "        errors.append(repr(exc))\n"
        "models = [OnnxEmbedder('all-MiniLM-L6-v2', cache_dir=Path(sys.argv[1])) for _ in range(4)]\n"
        "threads = [threading.Thread(target=use, args=(m,)) for m in models]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "errors += [name for name in ('torch', 'transformers', 'sentence_transformers') if name in sys.modules]\n"
        "print(errors)\n"
        "sys.exit(1 if errors else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(models_dir)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
