"""Sentence embeddings on onnxruntime with an int8 graph: the fast CPU path, agreeing with torch fp32.

Only the engine differs from app/search/torch_embed.py's SentenceEmbedder: the text, the tokenizer and its
settings (the model's max sequence length, longest-first truncation, batches sorted longest first),
mean pooling and L2 normalisation are the sentence-transformers model's own, so the vectors agree with
torch fp32 row by row (cosine >= 0.99; tests/search/test_onnx_embed.py, benchmarks/embed.py).

The int8 graph is a derived file, built from the model's own weights on first use and cached under
DATA_DIR/models/<model>-<key>/: exported with torch.onnx (eager attention, which onnxruntime's BERT
optimizer fuses into its attention operator), fused, then quantised dynamically (QInt8 weights of
the matrix products, per channel, and of the embedding tables; two FFN down-projections stay fp32).
The key covers the model folder and its files, EXPORT_VERSION and the versions of torch, onnx and
onnxruntime, so any change exports again into a new folder. Exports serialise on a lock file beside
that folder; the finished graph lands with `os.replace`, so no reader sees half of one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from filelock import FileLock
from numpy.typing import NDArray

from app.errors import EmbedderError
from app.search.embedder import MODEL_LOAD_LOCK, Vectors, resolve_model, unloadable

if TYPE_CHECKING:
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)
EXPORT_VERSION = 2  # bump when the recipe below changes: every cached graph is then rebuilt
GRAPH_FILE = "model-int8.onnx"
OUTPUT = "hidden"
MODULES = ("Transformer", "Pooling", "Normalize")  # what a sentence-transformers model may hold here
# The FFN down-projections where int8 lost the most (their post-GELU inputs have the widest range): for
# all-MiniLM-L6-v2 on 256 real abstracts, keeping them fp32 lifts cosine with torch fp32 from mean
# 0.995 / min 0.991 to 0.997 / 0.994 for ~10 % of the speed. Names absent from a graph are ignored.
FP32_NODES = ("/model/encoder/layer.0/output/dense/MatMul", "/model/encoder/layer.2/output/dense/MatMul")
ModelInputs = dict[str, NDArray[np.int64]]  # the tokenizer's arrays by input name (onnxruntime's "feed")
TOKENIZER_FILE = "tokenizer.json"
RunGraph = Callable[[ModelInputs], NDArray[np.float32]]


def onnx_available() -> bool:
    """onnx and onnxruntime are installed; found without importing them (`import app.main` stays light)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def _read_json(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError(f"{path}: not a JSON object")
    return value


def supports_model(folder: Path) -> bool:
    """A local BERT sentence-transformers model with mean pooling (and at most normalisation after it).

    That is what the recipe reproduces exactly; anything else (CLS pooling, a Dense layer, lower-casing
    done by sentence-transformers, another architecture) stays on torch.
    """
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
        if kinds not in (list(MODULES[:2]), list(MODULES)):
            return False
        pooling = _read_json(folder / str(modules[1]["path"]) / "config.json")
        config = _read_json(folder / "config.json")
        sbert = _read_json(folder / "sentence_bert_config.json")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    modes = {key: value for key, value in pooling.items() if key.startswith("pooling_mode_")}
    mean_only = modes.get("pooling_mode_mean_tokens") is True and not any(
        value for key, value in modes.items() if key != "pooling_mode_mean_tokens"
    )
    plain_text = not sbert.get("do_lower_case", False) and isinstance(sbert.get("max_seq_length"), int)
    fast_tokenizer = (folder / TOKENIZER_FILE).is_file()
    return mean_only and plain_text and fast_tokenizer and config.get("model_type") == "bert"


def mean_pool(hidden: NDArray[np.float32], mask: NDArray[np.int64]) -> Vectors:
    """sentence-transformers' mean pooling over unmasked tokens, then L2 normalisation."""
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.ascontiguousarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def load_tokenizer(folder: Path, *, max_length: int) -> Tokenizer:
    """The model's tokenizer.json on the `tokenizers` library alone, cut at `max_length` (longest first)
    and padded to a batch's longest, as sentence-transformers calls it.

    transformers' AutoTokenizer wraps the same file but imports torch: ~300 MB more in every web
    process that embeds a search query (benchmarks/abuse.py).
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    pad = _read_json(folder / "tokenizer_config.json").get("pad_token", "[PAD]")
    pad = str(pad["content"] if isinstance(pad, dict) else pad)
    pad_id = tokenizer.token_to_id(pad)
    if pad_id is None:
        raise EmbedderError(f"the tokenizer of {folder.name!r} has no padding token {pad!r}")
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad)  # no length: the batch's longest
    return tokenizer


class GraphEncoder:
    """Tokenise as the sentence-transformers model does, run a transformer graph, mean-pool, normalise.

    `run` maps the tokenizer's int64 arrays (by input name) to the last hidden state
    (batch, tokens, dim): onnxruntime here, OpenVINO in benchmarks/embed.py.
    """

    def __init__(self, folder: Path, run: RunGraph):
        self.dim = int(_read_json(folder / "config.json")["hidden_size"])
        self.max_length = int(_read_json(folder / "sentence_bert_config.json")["max_seq_length"])
        # Set up once and never changed: threads may encode at once (transformers, which set the
        # truncation on every call, raised when two threads did).
        self._tokenizer = load_tokenizer(folder, max_length=self.max_length)
        self._run = run

    def tokens(self, texts: Sequence[str]) -> ModelInputs:
        """The graph's inputs (a graph without one, e.g. token_type_ids, is not fed it: onnx_runner)."""
        encoded = self._tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
        }

    def encode(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        # Longest first, as sentence-transformers batches: least padding, and the same batches as torch.
        order = np.argsort([-len(text) for text in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            tokens = self.tokens([texts[i] for i in rows])
            out[rows] = mean_pool(self._run(tokens), tokens["attention_mask"])
        return out


def export_onnx(folder: Path, target: Path) -> Path:
    """The model's transformer as ONNX: the tokenizer's inputs, dynamic batch and length, hidden states out.

    Eager attention: the SDPA graph does not match the patterns onnxruntime's optimizer fuses.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no bars inside workers
    names = list(AutoTokenizer.from_pretrained(str(folder), local_files_only=True).model_input_names)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True, attn_implementation="eager")

    class Hidden(torch.nn.Module):  # the last hidden state alone, as a plain tensor output
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state
            return out

    sample = {name: torch.ones((2, 8), dtype=torch.int64) for name in names}
    sample["attention_mask"][1, 5:] = 0  # a padded row: the trace must keep the masking branch
    axes = {name: {0: "batch", 1: "tokens"} for name in (*names, OUTPUT)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            Hidden().eval(),
            tuple(sample[name] for name in names),
            str(target),
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return target


def fuse_onnx(source: Path, target: Path, *, folder: Path) -> Path:
    """onnxruntime's BERT fusions (attention, layer norm, GELU): fewer, larger operators."""
    from onnxruntime.transformers import optimizer

    config = _read_json(folder / "config.json")
    fused = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
    )
    fused.save_model_to_file(str(target))
    return target


def quantize_onnx(source: Path, target: Path) -> Path:
    """int8 dynamic quantization, per-channel QInt8 weights (sentence-transformers' `avx512_vnni` config).

    The matrix products, and the embedding lookup (onnxruntime's fused EmbedLayerNormalization): its fp32
    tables were 36 of the graph's 62 MB, held by every web process that embeds a search query. On 512
    real abstracts, cosine with torch fp32 went from mean 0.9970 / min 0.9928 to 0.9967 / 0.9927.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    advice = _DropMessage("Please consider to run pre-processing before quantization")
    root = logging.getLogger()
    root.addFilter(advice)  # the quantizer's advice, logged as a root WARNING: noise for users
    try:
        _quantize(quantize_dynamic, QuantType, source, target)
    finally:
        root.removeFilter(advice)
    return target


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _quantize(quantize_dynamic: Any, QuantType: Any, source: Path, target: Path) -> None:
    quantize_dynamic(
        source,
        target,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Attention", "EmbedLayerNormalization"],
        nodes_to_exclude=list(FP32_NODES),
        # FLOAT: the quantizer cannot infer the output types of the fused (com.microsoft) operators.
        extra_options={"DefaultTensorType": 1},
    )


def build_int8_graph(folder: Path, work: Path) -> Path:
    """Export, fuse and quantise the model in `folder`; the intermediate graphs stay in `work`."""
    exported = export_onnx(folder, work / "model.onnx")
    fused = fuse_onnx(exported, work / "fused.onnx", folder=folder)
    return quantize_onnx(fused, work / GRAPH_FILE)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def export_key(name: str, folder: Path) -> str:
    """What the graph is made from: the model's files (name, size, mtime), the recipe, the tools."""
    files = sorted(
        (path.name, path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.iterdir()
        if path.is_file()
    )
    source = {
        "name": name,
        "folder": str(folder.resolve()),
        "files": files,
        "recipe": EXPORT_VERSION,
        "tools": {package: _version(package) for package in ("torch", "onnx", "onnxruntime")},
    }
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16]


def cached_graph(name: str, folder: Path, *, cache_dir: Path) -> Path:
    """The int8 graph of the model, exported into `cache_dir` the first time (one process at a time)."""
    stem = f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-.')}-{export_key(name, folder)}"
    target = cache_dir / stem / GRAPH_FILE
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(cache_dir / f"{stem}.lock"):
        if target.exists():  # another process exported it while this one waited
            return target
        for stale in cache_dir.glob(f".export-{stem}-*"):  # left by a process killed mid-export
            shutil.rmtree(stale, ignore_errors=True)
        target.parent.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".export-{stem}-") as work:
            built = build_int8_graph(folder, Path(work))
            built_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            meta = {"model": name, "folder": str(folder), "recipe": EXPORT_VERSION, "built_at": built_at}
            (Path(work) / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
            os.replace(Path(work) / "meta.json", target.parent / "meta.json")
            os.replace(built, target)  # last: the graph's presence means the export is complete
        log.info("int8 ONNX graph exported", extra={"model": name, "path": str(target)})
    return target


def onnx_runner(path: Path, *, threads: int = 0) -> RunGraph:
    """An onnxruntime CPU session as a function; `threads` 0 lets onnxruntime take one per core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = {graph_input.name for graph_input in session.get_inputs()}

    def run(tokens: ModelInputs) -> NDArray[np.float32]:
        hidden = session.run([OUTPUT], {name: tokens[name] for name in inputs})[0]
        return np.asarray(hidden, dtype=np.float32)

    return run


class OnnxEmbedder:
    """The int8 graph on onnxruntime's CPU provider, exported once per DATA_DIR and loaded on first use.

    `name` is the model's, as for SentenceEmbedder: the vectors agree with torch's, so switching
    backends neither re-embeds the papers nor changes the index.
    """

    def __init__(self, model: str, *, cache_dir: Path, batch_size: int = 64, threads: int = 0):
        self.name = model
        self.batch_size = batch_size
        self.dim = 0
        self._cache_dir = cache_dir
        self._threads = threads
        self._encoder: GraphEncoder | None = None

    def _load(self) -> GraphEncoder:
        with MODEL_LOAD_LOCK:  # see embedder.py
            if self._encoder is None:
                folder = Path(resolve_model(self.name))
                if not folder.is_dir():
                    raise unloadable(self.name, FileNotFoundError(f"no folder {str(folder)!r}"))
                if not supports_model(folder):
                    raise EmbedderError(
                        f"EMBED_BACKEND=onnx needs a local mean-pooled BERT sentence-transformers model; "
                        f"{self.name!r} is not one (use EMBED_BACKEND=torch)"
                    )
                graph = cached_graph(self.name, folder, cache_dir=self._cache_dir)
                self._encoder = GraphEncoder(folder, onnx_runner(graph, threads=self._threads))
                self.dim = self._encoder.dim
                log.info("embedding model loaded", extra={"model": self.name, "backend": "onnx-int8"})
            return self._encoder

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self._load().encode(texts, batch_size=self.batch_size)

    def load(self) -> OnnxEmbedder:
        self._load()
        return self
