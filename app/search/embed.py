"""Embed papers (title + abstract) with the process's embedder, chosen here from the settings.

EMBED_BACKEND picks the engine (`choose_backend`): torch (sentence-transformers,
app/search/torch_embed.py) or an int8 ONNX graph on onnxruntime (app/search/onnx_embed.py), ~3.5x
torch fp32 on CPU and agreeing with it. Both implement app/search/embedder.py's `Embedder`; the
model loads once per process, on first use (torch and onnxruntime are imported only then).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.search.embedder import Embedder, choose_device, resolve_model
from app.search.onnx_embed import OnnxEmbedder, onnx_available, supports_model
from app.search.torch_embed import SentenceEmbedder
from app.store.embeddings import add_embeddings, papers_without_embedding

log = logging.getLogger(__name__)


def paper_text(title: str, abstract: str) -> str:
    return f"{title.strip()}. {abstract.strip()}"


def choose_backend(setting: str, *, model: str, device: str, dtype: str) -> str:
    """`auto`: the int8 ONNX graph on CPU where it applies, else torch (CUDA keeps torch fp16).

    It applies when onnx and onnxruntime are installed, no EMBED_DTYPE was asked for (a dtype names a
    torch path) and the model is one the export reproduces exactly (a mean-pooled BERT).
    """
    if setting != "auto":
        return setting
    if dtype != "auto" or not onnx_available() or choose_device(device) != "cpu":
        return "torch"
    return "onnx" if supports_model(Path(resolve_model(model))) else "torch"


@lru_cache
def _embedder(model: str, backend: str, device: str, dtype: str, batch_size: int, data_dir: Path) -> Embedder:
    chosen = choose_backend(backend, model=model, device=device, dtype=dtype)
    log.info("embedding backend chosen", extra={"model": model, "setting": backend, "backend": chosen})
    if chosen == "onnx":
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
