"""Benchmark: abstracts embedded per second on CPU, per inference path, with agreement against fp32.

Real abstracts (title + abstract, `paper_text`; see realdata.py) are embedded with the bundled
all-MiniLM-L6-v2 at batch sizes 32/64/128 along these paths, each on `--threads` CPU threads:

  torch-fp32     the app's SentenceEmbedder (sentence-transformers on torch), float32
  torch-bf16     the same in bfloat16 (fast only where the CPU has AVX512-BF16 or AMX)
  onnx-int8      the transformer exported with torch.onnx (eager attention), fused by onnxruntime's
                 BERT optimizer, int8 dynamic quantization (per-channel QInt8 weights: the `avx512_vnni`
                 config of sentence-transformers' export_dynamic_quantized_onnx_model), onnxruntime
  openvino-int8  the same ONNX graph, int8 static post-training quantization with nncf (what
                 export_static_quantized_openvino_model does, calibrated on other real abstracts, not GLUE)
  onnx-fp32, openvino-fp32  (with --paths) the exported graphs without quantization

Speeds are the median of `--repeats` rounds; in each round every path runs every batch size in turn,
so load from other work on a shared machine hits all paths alike (slowest and fastest shown too).

sentence-transformers' own `backend="onnx"` / `backend="openvino"` need optimum / optimum-intel, and
pip resolves those to transformers 4.57 (a downgrade from 5.x) / to another torch with CUDA wheels and
transformers 5.5, so they are not installed: the exports are done here with
onnxruntime, onnx, openvino and nncf directly (none of them touches transformers or torch), from the
bundled model folder into a temporary folder, offline. A path whose packages are missing is reported
and skipped. Agreement: row-wise cosine (dot product of normalised vectors) with torch-fp32, mean and
min, and the share of each abstract's 10 nearest neighbours (among the measured ones) that fp32 finds too;
|norm-1| is the largest distance from unit length of the vectors a path returns (the app stores them).

Target on 2 CPU cores: >= 40 abstracts/s with mean agreement >= 0.99.

Run:
    .venv/bin/python benchmarks/embed.py                          # 256 abstracts, all default paths
    .venv/bin/python benchmarks/embed.py --count 512 --batch-sizes 64 --paths torch-fp32,onnx-int8
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import harness
import numpy as np
import realdata

from app.search.embed import BUNDLED_MODEL, SentenceEmbedder, resolve_model

TARGET_RATE = 40.0
TARGET_AGREEMENT = 0.99
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_PATHS = ("torch-fp32", "torch-bf16", "onnx-int8", "openvino-int8")
NEEDS = {"onnx": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino", "nncf")}


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


@dataclass(slots=True)
class Run:
    path: str
    batch_size: int
    vectors: np.ndarray  # from the first round
    rates: list[float] = field(default_factory=list)  # abstracts per second, one per round

    @property
    def rate(self) -> float:
        return float(np.median(self.rates))


class TorchEncoder:
    """The app's own embedder with a fixed dtype."""

    def __init__(self, dtype: str):
        self.embedder = SentenceEmbedder(BUNDLED_MODEL, device="cpu", dtype=dtype).load()

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        self.embedder.batch_size = batch_size
        return self.embedder.embed(texts)


class GraphEncoder:
    """Tokenise (longest first, as sentence-transformers does), run a graph, mean-pool, normalise."""

    def __init__(self, run: Callable[[dict[str, np.ndarray]], np.ndarray]):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model(BUNDLED_MODEL), local_files_only=True)
        self.max_length = _max_seq_length()
        self.run = run

    def tokens(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        return {name: enc[name].astype(np.int64) for name in INPUTS}

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            feed = self.tokens([texts[i] for i in rows])
            out[rows] = _mean_pool(self.run(feed), feed["attention_mask"])
        return out


def _max_seq_length() -> int:
    import json

    config = Path(resolve_model(BUNDLED_MODEL)) / "sentence_bert_config.json"
    return int(json.loads(config.read_text()).get("max_seq_length", 256))


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def export_onnx(folder: Path) -> Path:
    """The bundled transformer as ONNX (dynamic batch and length); eager attention fuses in onnxruntime."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(
        resolve_model(BUNDLED_MODEL), local_files_only=True, attn_implementation="eager"
    ).eval()

    class Hidden(torch.nn.Module):  # the last hidden state alone, as a plain tensor output
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = {name: torch.ones((2, 8), dtype=torch.int64) for name in INPUTS}
    sample["attention_mask"][1, 5:] = 0  # a padded row: the trace must keep the masking branch
    target = folder / "model.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "hidden")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            Hidden().eval(),
            tuple(sample[name] for name in INPUTS),
            str(target),
            input_names=list(INPUTS),
            output_names=["hidden"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    return target


def onnx_session(path: Path, threads: int) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feed: session.run(None, feed)[0]


def onnx_encoder(folder: Path, threads: int, *, int8: bool) -> Encoder:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(
        str(export_onnx(folder)), model_type="bert", num_heads=12, hidden_size=384
    )
    fused.save_model_to_file(str(folder / "fused.onnx"))
    if not int8:
        return GraphEncoder(onnx_session(folder / "fused.onnx", threads))
    quantize_dynamic(
        folder / "fused.onnx",
        folder / "int8.onnx",
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": 1},  # FLOAT, for the outputs of the fused operators
    )
    return GraphEncoder(onnx_session(folder / "int8.onnx", threads))


def openvino_encoder(folder: Path, threads: int, *, calibration: Sequence[str] | None) -> Encoder:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(export_onnx(folder)))
    if calibration is not None:
        model = _nncf_int8(model, calibration)
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    compiled = core.compile_model(model, "CPU", config)
    return GraphEncoder(lambda feed: compiled(feed)[0])


def _nncf_int8(model: Any, calibration: Sequence[str]) -> Any:
    import nncf

    tokens = GraphEncoder(lambda feed: feed["input_ids"]).tokens
    items = [tokens(calibration[i : i + 8]) for i in range(0, len(calibration), 8)]
    return nncf.quantize(
        model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(items)
    )


def make_encoder(path: str, folder: Path, threads: int, calibration: Sequence[str]) -> Encoder:
    family = path.split("-")[0]
    folder.mkdir(parents=True)
    missing = [name for name in NEEDS.get(family, ()) if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(f"pip install {' '.join(missing)}")
    if family == "torch":
        return TorchEncoder("float32" if path.endswith("fp32") else "bfloat16")
    if family == "onnx":
        return onnx_encoder(folder, threads, int8=path.endswith("int8"))
    return openvino_encoder(folder, threads, calibration=calibration if path.endswith("int8") else None)


def measure(encoders: dict[str, Encoder], texts: Sequence[str], args: argparse.Namespace) -> list[Run]:
    """Rounds in which every path runs every batch size in turn: load from other work hits all alike."""
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    for encoder in encoders.values():  # warm-up: first-call allocations, graph caches
        encoder.encode(texts[: max(batch_sizes)], max(batch_sizes))
    runs: dict[tuple[str, int], Run] = {}
    for _ in range(args.repeats):
        for path, encoder in encoders.items():
            for batch_size in batch_sizes:
                started = time.perf_counter()
                vectors = encoder.encode(texts, batch_size)
                rate = len(texts) / (time.perf_counter() - started)
                runs.setdefault((path, batch_size), Run(path, batch_size, vectors)).rates.append(rate)
    return list(runs.values())


def neighbours(vectors: np.ndarray, k: int = 10) -> np.ndarray:
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -np.inf)
    return np.argsort(-scores, axis=1)[:, :k]


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors.astype(np.float64), axis=1, keepdims=True)


def agreement(vectors: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """(mean cosine, min cosine, share of fp32's 10 nearest neighbours found) against `reference`.

    Rows are normalised again in float64 first: bf16 returns vectors whose norms are off by ~1e-3.
    """
    vectors, reference = unit(vectors), unit(reference)
    cosines = (vectors * reference).sum(axis=1)
    mine, theirs = neighbours(vectors), neighbours(reference)
    shared = np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(mine, theirs, strict=True)])
    return float(cosines.mean()), float(cosines.min()), float(shared)


def report(runs: list[Run], reference: np.ndarray) -> None:
    rows, best = [], None
    for run in runs:
        mean, low, shared = agreement(run.vectors, reference)
        ok = mean >= TARGET_AGREEMENT
        rates = f"{run.rate:.1f}", f"{min(run.rates):.1f}", f"{max(run.rates):.1f}"
        norm = float(np.abs(np.linalg.norm(run.vectors.astype(np.float64), axis=1) - 1).max())
        scores = f"{mean:.4f}", f"{low:.4f}", f"{shared:.3f}", f"{norm:.1e}"
        rows.append([run.path, run.batch_size, *rates, *scores])
        if ok and (best is None or run.rate > best.rate):
            best = run
    headers = [
        "path",
        "batch",
        "abstracts/s",
        "slowest",
        "fastest",
        "cos mean",
        "cos min",
        "nn@10 kept",
        "|norm-1|",
    ]
    print(harness.table(headers, rows))
    if best is not None:
        verdict = "meets" if best.rate >= TARGET_RATE else "misses"
        print(
            f"\nfastest path with mean agreement >= {TARGET_AGREEMENT}: {best.path} at batch "
            f"{best.batch_size}, {best.rate:.1f} abstracts/s, median of {len(best.rates)} ({verdict} the {TARGET_RATE:.0f}/s target)"
        )


def pick_texts(count: int, extra: Path | None) -> tuple[list[str], list[str]]:
    """`count` measured abstracts and 128 other ones for int8 calibration, a fixed random draw."""
    papers = realdata.load_papers(extra)
    random.Random(7).shuffle(papers)
    texts = [p.text for p in papers]
    return texts[:count], texts[count : count + 128]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=256, help="abstracts embedded per run")
    parser.add_argument("--batch-sizes", default="32,64,128", help="comma-separated")
    parser.add_argument("--paths", default=",".join(DEFAULT_PATHS), help="comma-separated, see above")
    parser.add_argument("--repeats", type=int, default=3, help="rounds over all paths (median shown)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every path")
    parser.add_argument(
        "--extra",
        type=realdata.optional_path,
        default=realdata.default_extra(),
        help="cs.DS bench file ('': none)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    texts, calibration = pick_texts(args.count, args.extra)
    paths = ["torch-fp32", *(p for p in args.paths.split(",") if p != "torch-fp32")]
    print(*realdata.context_lines(), f"abstracts: {len(texts)} real, {args.threads} threads", sep="\n")
    with tempfile.TemporaryDirectory(prefix="coolpapers-embed-") as folder:
        encoders = prepare(paths, Path(folder), args.threads, calibration)
        runs = measure(encoders, texts, args)
    print(f"\nload after the runs: {realdata.load_average()}\n")
    report(runs, runs[0].vectors)


def prepare(
    paths: Sequence[str], folder: Path, threads: int, calibration: Sequence[str]
) -> dict[str, Encoder]:
    encoders = {}
    for path in paths:
        started = time.perf_counter()
        try:
            encoders[path] = make_encoder(path, folder / path, threads, calibration)
        except (ImportError, RuntimeError, OSError, ValueError) as exc:
            print(f"{path}: skipped ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
            continue
        print(f"{path}: ready in {time.perf_counter() - started:.1f} s (load, export, quantize)")
    return encoders


if __name__ == "__main__":
    main()
