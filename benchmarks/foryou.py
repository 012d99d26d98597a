"""Benchmark: "for you" precision@20 for simulated readers on real papers, against arxiv-sanity's SVM.

The papers are realdata.py's (~2,500 real abstracts with the shared cs.DS file, ~450 without), with
the app's vectors (bundled all-MiniLM-L6-v2, embedded and cached as quality.py does). They form one
big "day": every reader's candidates.

Simulated readers, drawn with a fixed seed:

  category   interested in one or two primary categories (those with >= 20 papers, cs.DS aside:
             it is most of the pool); relevant = papers of those categories
  seed       interested in a seed paper's neighbourhood: its 40 nearest papers of its own primary
             category by reciprocal rank fusion of MiniLM and TF-IDF cosine (so that neither method
             defines the truth alone)

Each reader stars STARS papers drawn from its relevant ones (3: the app's centroid; 10: its SVM);
the other relevant papers are the held-out truth. Dismissals: the reader is shown its stars-only
"for you" and dismisses DISMISSALS of the non-relevant papers among its top 40 (what a reader
thumbs down). Starred and dismissed papers are left out of every ranking scored, so dismissals count
only through what they teach about the other papers; a last line also scores the list as the reader
sees it, where a dismissed paper still on top is a miss.

Methods, on the same readers and stars:

  svm-tfidf       arxiv-sanity-lite's serve.py svm_rank: TF-IDF features (compute.py's vectoriser, as in
                  quality.py), LinearSVC(C=0.1, balanced) with the stars as positives, every other paper
                  as negatives, ranked by decision function
  vectors-only    the app's ranking with its TF-IDF blends off (LEXICAL_WEIGHT, FEEDBACK_LEXICAL_WEIGHT 0):
                  MiniLM alone
  foryou          the app's ranking (app.ranking.rank.Prepared: centroid below 5 stars, its SVM from 5,
                  blended with the TF-IDF centroid cosine, then pseudo-relevance feedback from its top 10
                  and the stars' walk on the day's nearest-neighbour graph)
  foryou+dismiss  the same with the reader's dismissals

Targets (issue 16): foryou >= svm-tfidf + 0.10, and foryou+dismiss > foryou.

Run:
    .venv/bin/python benchmarks/foryou.py
    .venv/bin/python benchmarks/foryou.py --seeds 16,2,3,4,5          # the spread over draws of readers
    .venv/bin/python benchmarks/foryou.py --readers 40 --extra ''   # small: without the cs.DS file
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import numpy as np
import quality
import realdata

from app.ranking import rank as app_rank
from app.ranking.rank import Candidate, Prepared, Signals

K = 20
STARS = (3, 10)
DISMISSALS = 10
SHOWN = 40  # the stars-only top a reader dismisses from
NEIGHBOURHOOD = 40
MIN_CATEGORY = 20
TARGET_GAIN = 0.10


@dataclass(frozen=True, slots=True)
class Reader:
    kind: str  # category | seed
    relevant: frozenset[int]
    stars: tuple[int, ...]
    dismissed: tuple[int, ...] = ()


def category_interests(papers: Sequence[realdata.Paper], rng: np.random.Generator, n: int) -> list[set[int]]:
    counts = Counter(p.primary for p in papers)
    eligible = sorted(c for c, k in counts.items() if k >= MIN_CATEGORY and c != "cs.DS")
    out = []
    for _ in range(n):
        chosen = set(rng.choice(eligible, size=int(rng.integers(1, 3)), replace=False).tolist())
        out.append({i for i, p in enumerate(papers) if p.primary in chosen})
    return out


def seed_interests(
    papers: Sequence[realdata.Paper], cosines: np.ndarray, tfidf: np.ndarray, rng: np.random.Generator, n: int
) -> list[set[int]]:
    primaries = np.array([p.primary for p in papers])
    out = []
    while len(out) < n:
        seed = int(rng.integers(len(papers)))
        same = np.flatnonzero(primaries == primaries[seed])
        if len(same) < NEIGHBOURHOOD + max(STARS):
            continue
        fused = np.zeros(len(same))
        for scores in (cosines[seed, same], tfidf[seed, same]):
            fused += 1.0 / (60 + np.argsort(np.argsort(-scores)))
        out.append({int(same[i]) for i in np.argsort(-fused)[:NEIGHBOURHOOD]})
    return out


def svm_tfidf(features: Any, stars: Sequence[int]) -> np.ndarray:
    from sklearn import svm

    y = np.zeros(features.shape[0], dtype=np.float32)
    y[list(stars)] = 1.0
    clf = svm.LinearSVC(class_weight="balanced", verbose=False, max_iter=10000, tol=1e-6, C=0.1)
    return np.asarray(clf.fit(features, y).decision_function(features))


def foryou(
    prepared: Prepared, vectors: np.ndarray, stars: Sequence[int], dismissed: Sequence[int]
) -> list[int]:
    signals = Signals(
        stars={i: vectors[i] for i in stars},
        dismissals={i: vectors[i] for i in dismissed},
        starred=stars,
        dismissed=dismissed,
    )
    return [r.paper_id for r in prepared.rank(signals)]


def vectors_only(prepared: Prepared, vectors: np.ndarray, stars: Sequence[int]) -> list[int]:
    weights = app_rank.LEXICAL_WEIGHT, app_rank.FEEDBACK_LEXICAL_WEIGHT
    app_rank.LEXICAL_WEIGHT = app_rank.FEEDBACK_LEXICAL_WEIGHT = 0.0
    try:
        return foryou(prepared, vectors, stars, ())
    finally:
        app_rank.LEXICAL_WEIGHT, app_rank.FEEDBACK_LEXICAL_WEIGHT = weights


def precision(order: Sequence[int], reader: Reader, *, seen: bool = False) -> float:
    """Over the top K that are not labelled; `seen`: as the reader sees it, dismissed papers shown
    (they are not relevant) counting against the ranking."""
    labelled = set(reader.stars) if seen else {*reader.stars, *reader.dismissed}
    top = [i for i in order if i not in labelled][:K]
    return sum(i in reader.relevant for i in top) / K


def make_readers(
    interests: list[tuple[str, set[int]]], prepared: Prepared, vectors: np.ndarray, seed: int
) -> list[Reader]:
    """Stars first, from one generator, so that the readers do not depend on the ranking; then the
    dismissals, from another, among what the ranking shows each reader."""
    rng, pick = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    starred = []
    for kind, relevant in interests:
        for n in STARS:
            if len(relevant) >= n + K // 2:
                stars = tuple(int(i) for i in rng.choice(sorted(relevant), size=n, replace=False))
                starred.append((kind, relevant, stars))
    readers = []
    for kind, relevant, stars in starred:
        shown = [i for i in foryou(prepared, vectors, stars, ()) if i not in stars][:SHOWN]
        wrong = [i for i in shown if i not in relevant]
        dismissed = tuple(int(i) for i in pick.choice(wrong, size=min(DISMISSALS, len(wrong)), replace=False))
        readers.append(Reader(kind, frozenset(relevant), stars, dismissed))
    return readers


@dataclass(frozen=True, slots=True)
class Day:
    """The papers as one day, and what every reader's ranking shares."""

    papers: list[realdata.Paper]
    vectors: np.ndarray
    features: Any  # TF-IDF, for the SVM baseline
    cosines: np.ndarray
    tfidf: np.ndarray
    prepared: Prepared


def load_day(args: argparse.Namespace) -> Day:
    papers = realdata.load_papers(args.extra)
    vectors, origin = realdata.embed_texts([p.text for p in papers], cache=args.cache, reuse=args.reuse)
    print(f"minilm vectors: {origin}; {len(papers)} papers, one day of them all")
    features = quality.tfidf_features(papers)
    candidates = [Candidate(i, p.title, p.abstract, p.authors) for i, p in enumerate(papers)]
    return Day(
        papers,
        vectors,
        features,
        vectors @ vectors.T,
        np.asarray((features @ features.T).todense()),
        Prepared.of(candidates, dict(enumerate(vectors))),
    )


Results = dict[str, list[float]]


def run_readers(
    day: Day, *, readers_per_kind: int, seed: int
) -> tuple[list[Reader], Results, dict[str, float], Results]:
    """Every method on the readers drawn with `seed`: precision per reader, seconds per method, and
    the "as the reader sees it" precision of the app's two rankings."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    interests = [("category", s) for s in category_interests(day.papers, rng, readers_per_kind)]
    interests += [
        ("seed", s) for s in seed_interests(day.papers, day.cosines, day.tfidf, rng, readers_per_kind)
    ]
    readers = make_readers(interests, day.prepared, day.vectors, seed + 1)
    print(f"seed {seed}: {len(readers)} simulated readers, prepared in {time.perf_counter() - started:.1f} s")
    results: Results = {"svm-tfidf": [], "vectors-only": [], "foryou": [], "foryou+dismiss": []}
    timings: dict[str, float] = dict.fromkeys(results, 0.0)
    seen: Results = {"foryou": [], "foryou+dismiss": []}
    for reader in readers:
        for name, rank in (
            ("svm-tfidf", lambda r: np.argsort(-svm_tfidf(day.features, r.stars), kind="stable").tolist()),
            ("vectors-only", lambda r: vectors_only(day.prepared, day.vectors, r.stars)),
            ("foryou", lambda r: foryou(day.prepared, day.vectors, r.stars, ())),
            ("foryou+dismiss", lambda r: foryou(day.prepared, day.vectors, r.stars, r.dismissed)),
        ):
            began = time.perf_counter()
            order = rank(reader)
            timings[name] += time.perf_counter() - began
            results[name].append(precision(order, reader))
            if name.startswith("foryou"):
                seen[name].append(precision(order, reader, seen=True))
    return readers, results, timings, seen


def main() -> None:
    args = parse_args()
    if args.lexical_weight is not None:
        app_rank.LEXICAL_WEIGHT = args.lexical_weight
    print(*realdata.context_lines(), sep="\n")
    day = load_day(args)
    if not args.seeds:
        report(*run_readers(day, readers_per_kind=args.readers, seed=args.seed))
        return
    rows = []
    for seed in args.seeds:
        _, results, _, _ = run_readers(day, readers_per_kind=args.readers, seed=seed)
        mean = {name: float(np.mean(values)) for name, values in results.items()}
        rows.append([str(seed), *(f"{mean[m]:.3f}" for m in results),
                     f"{mean['foryou'] - mean['svm-tfidf']:+.3f}", f"{mean['foryou+dismiss'] - mean['foryou']:+.3f}"])  # fmt: skip
    gains = [float(row[-2]) for row in rows]
    lifts = [float(row[-1]) for row in rows]
    print(f"\nprecision@{K} by seed of the readers, load {realdata.load_average()}\n")
    print(harness.table(["seed", *results, "foryou - svm", "dismissals"], rows))
    print(
        f"\nforyou - svm-tfidf: mean {np.mean(gains):+.3f} (from {min(gains):+.3f} to {max(gains):+.3f}; "
        f"target +{TARGET_GAIN} met on {sum(g >= TARGET_GAIN for g in gains)} of {len(gains)} seeds); "
        f"dismissals: mean {np.mean(lifts):+.3f} (> 0 on {sum(v > 0 for v in lifts)} of {len(lifts)})"
    )


def report(
    readers: list[Reader],
    results: dict[str, list[float]],
    timings: dict[str, float],
    seen: dict[str, list[float]],
) -> None:
    groups = [("all", [True] * len(readers))]
    for kind in ("category", "seed"):
        for n in STARS:
            groups.append((f"{kind}, {n} stars", [r.kind == kind and len(r.stars) == n for r in readers]))
    headers = ["method", *(f"{g} ({sum(m)})" for g, m in groups), "ms/reader"]
    rows = []
    for name, values in results.items():
        v = np.array(values)
        cells = [f"{v[np.array(m)].mean():.3f}" if any(m) else "-" for _, m in groups]
        rows.append([name, *cells, f"{1000 * timings[name] / len(readers):.1f}"])
    print(f"\nprecision@{K} (held-out relevant papers), load {realdata.load_average()}\n")
    print(harness.table(headers, rows))
    mean = {name: float(np.mean(v)) for name, v in results.items()}
    gain = mean["foryou"] - mean["svm-tfidf"]
    print(
        f"\nforyou {mean['foryou']:.3f} vs svm-tfidf {mean['svm-tfidf']:.3f}: {gain:+.3f}, "
        f"ratio {mean['foryou'] / mean['svm-tfidf']:.2f} ({'meets' if gain >= TARGET_GAIN else 'misses'} "
        f"+{TARGET_GAIN})"
    )
    lift = mean["foryou+dismiss"] - mean["foryou"]
    wins = sum(d > f for d, f in zip(results["foryou+dismiss"], results["foryou"], strict=True))
    losses = sum(d < f for d, f in zip(results["foryou+dismiss"], results["foryou"], strict=True))
    print(
        f"foryou+dismiss {mean['foryou+dismiss']:.3f} vs foryou {mean['foryou']:.3f}: {lift:+.3f} "
        f"(better for {wins} readers, worse for {losses}; {'meets' if lift > 0 else 'misses'} > 0): what the "
        "dismissals teach about other papers"
    )
    before, after = float(np.mean(seen["foryou"])), float(np.mean(seen["foryou+dismiss"]))
    print(
        f"as the reader sees the list (a dismissed paper left on top counts as a miss): foryou+dismiss "
        f"{after:.3f} vs foryou {before:.3f}: {after - before:+.3f}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    realdata.add_extra_argument(parser)
    parser.add_argument("--cache", type=Path, default=realdata.CACHE, help="folder where vectors are saved")
    parser.add_argument(
        "--reuse", action=argparse.BooleanOptionalAction, default=True, help="read saved vectors"
    )
    parser.add_argument("--readers", type=int, default=60, help="interests of each kind (x2 star counts)")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--seeds",
        type=lambda value: [int(part) for part in value.split(",") if part.strip()],
        default=[],
        help="comma-separated seeds: one summary row each, and their mean (the target's spread over draws)",
    )
    parser.add_argument(
        "--lexical-weight", type=float, default=None, help="try another LEXICAL_WEIGHT (default: the app's)"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
