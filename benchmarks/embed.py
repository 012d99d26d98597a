"""Benchmark: abstracts embedded per second on CPU, per inference path, with agreement against fp32.

Real abstracts (title + abstract, `paper_text`; see realdata.py) are embedded with the bundled
all-MiniLM-L6-v2 at batch sizes 32/64/128 along these paths, each on `--threads` CPU threads:

  torch-fp32     the app's SentenceEmbedder (sentence-transformers on torch), float32
  torch-bf16     the same in bfloat16 (fast only where the CPU has AVX512-BF16 or AMX)
  onnx-int8      the app's OnnxEmbedder (app/search/onnx_embed.py, EMBED_BACKEND=onnx, the CPU default):
                 the transformer exported with torch.onnx (eager attention), fused by onnxruntime's
                 BERT optimizer, int8 dynamic quantization of the matrix products (per-channel QInt8
                 weights: the `avx512_vnni` config of sentence-transformers'
                 export_dynamic_quantized_onnx_model; two FFN down-projections stay fp32), onnxruntime
  openvino-int8  the same ONNX graph, int8 static post-training quantization with nncf (what
                 export_static_quantized_openvino_model does, calibrated on other real abstracts, not GLUE)
  onnx-fp32, openvino-fp32  (with --paths) the exported graphs without quantization

Speeds are the median of `--repeats` rounds; in each round every path runs every batch size in turn,
so load from other work on a shared machine hits all paths alike (slowest and fastest shown too).

sentence-transformers' own `backend="onnx"` / `backend="openvino"` need optimum / optimum-intel, and
pip resolves those to transformers 4.57 (a downgrade from 5.x) / to another torch with CUDA wheels and
transformers 5.5, so they are not installed: the exports are done with onnxruntime, onnx,
openvino and nncf directly (none of them touches transformers or torch) by the functions of
app/search/onnx_embed.py, from the bundled model folder into a temporary folder, offline. A path
whose packages are missing is reported and skipped. Agreement: row-wise cosine (dot product of normalised vectors) with torch-fp32, mean and
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import harness
import numpy as np
import realdata

from app.search import onnx_embed
from app.search.embedder import BUNDLED_MODEL, resolve_model
from app.search.onnx_embed import OnnxEmbedder
from app.search.torch_embed import SentenceEmbedder

TARGET_RATE = 40.0
TARGET_AGREEMENT = 0.99
DEFAULT_PATHS = ("torch-fp32", "torch-bf16", "onnx-int8", "openvino-int8")
NEEDS = {"onnx": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino", "nncf")}


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], *, batch_size: int) -> np.ndarray: ...


@dataclass(slots=True)
class Run:
    path: str
    batch_size: int
    vectors: np.ndarray  # from the first round
    rates: list[float] = field(default_factory=list)  # abstracts per second, one per round

    @property
    def rate(self) -> float:
        return float(np.median(self.rates))


class EmbedderEncoder:
    """An app embedder (its `embed`) at the batch size asked for."""

    def __init__(self, embedder: Any):
        self.embedder = embedder

    def encode(self, texts: Sequence[str], *, batch_size: int) -> np.ndarray:
        self.embedder.batch_size = batch_size
        return np.asarray(self.embedder.embed(texts))


def model_folder() -> Path:
    return Path(resolve_model(BUNDLED_MODEL))


def onnx_encoder(folder: Path, threads: int, *, int8: bool) -> Encoder:
    """int8: the app's own OnnxEmbedder, its graph exported into `folder` (as into DATA_DIR/models)."""
    if int8:
        embedder = OnnxEmbedder(BUNDLED_MODEL, cache_dir=folder, threads=threads).load()
        return EmbedderEncoder(embedder)
    exported = onnx_embed.export_onnx(model_folder(), folder / "model.onnx")
    fused = onnx_embed.fuse_onnx(exported, folder / "fused.onnx", folder=model_folder())
    return onnx_embed.GraphEncoder(model_folder(), onnx_embed.onnx_runner(fused, threads=threads))


def openvino_encoder(folder: Path, threads: int, *, calibration: Sequence[str] | None) -> Encoder:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(onnx_embed.export_onnx(model_folder(), folder / "model.onnx")))
    if calibration is not None:
        model = _nncf_int8(model, calibration)
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "f32",
    }
    compiled = core.compile_model(model, "CPU", config)
    return onnx_embed.GraphEncoder(model_folder(), lambda feed: compiled(feed)[0])


def _nncf_int8(model: Any, calibration: Sequence[str]) -> Any:
    import nncf

    tokens = onnx_embed.GraphEncoder(model_folder(), lambda feed: feed["input_ids"]).tokens
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
        dtype = "float32" if path.endswith("fp32") else "bfloat16"
        return EmbedderEncoder(SentenceEmbedder(BUNDLED_MODEL, device="cpu", dtype=dtype).load())
    if family == "onnx":
        return onnx_encoder(folder, threads, int8=path.endswith("int8"))
    return openvino_encoder(folder, threads, calibration=calibration if path.endswith("int8") else None)


def measure(encoders: dict[str, Encoder], texts: Sequence[str], args: argparse.Namespace) -> list[Run]:
    """Rounds in which every path runs every batch size in turn: load from other work hits all alike."""
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    for encoder in encoders.values():  # warm-up: first-call allocations, graph caches
        encoder.encode(texts[: max(batch_sizes)], batch_size=max(batch_sizes))
    runs: dict[tuple[str, int], Run] = {}
    for _ in range(args.repeats):
        for path, encoder in encoders.items():
            for batch_size in batch_sizes:
                started = time.perf_counter()
                vectors = encoder.encode(texts, batch_size=batch_size)
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
    realdata.add_extra_argument(parser)
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
