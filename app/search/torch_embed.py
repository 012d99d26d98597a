"""The torch backend: sentence-transformers on CPU or CUDA (fp16 on CUDA, bf16 on CPUs that have it)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.search.embedder import MODEL_LOAD_LOCK, Vectors, choose_device, resolve_model, unloadable

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


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
                try:
                    self._model = SentenceTransformer(
                        resolve_model(self.name),
                        device=device,
                        local_files_only=True,
                        model_kwargs={"dtype": getattr(torch, dtype)},
                    )
                except OSError as exc:  # no such folder; a hub name, which is never fetched
                    raise unloadable(self.name, exc) from exc
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
