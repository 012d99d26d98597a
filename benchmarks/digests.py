"""Benchmark: compose the digests of 10,000 profiles for one arXiv day. Target: < 60 s on 2 cores.

A fresh SQLite database holds a generated day (benchmarks/dayfeed.py: 2,500 real papers under new
ids, listed in cs.LG, cs.AI, cs.CL and stat.ML) with 384-dimension vectors of hashed words (papers
sharing words are near, as with a real model's topics), and 3,000 older papers with vectors that
readers starred. Each simulated profile follows 1 to 3 of the categories and holds 0 to 30 stars,
0 to 6 keywords taken from the papers' titles, 0 to 3 negative keywords and 0 to 10 dismissals.

Measured on this 2-core machine: 9.6 s for 10,000 profiles (0.96 ms each; 2026-12-07, load ~1); earlier
20.3 s (2.0 ms each) at load ~5.

Timed with time.perf_counter: `load_readers` + `compose_digests` (rank, filter, one-line summaries)
for every profile, in one process, as `fetch.digest` does before it sends anything.

    .venv/bin/python benchmarks/digests.py [--profiles 10000] [--size 2500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import time
import zlib
from collections import Counter

import dayfeed
import harness
import numpy as np
from sqlalchemy import insert, select

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.profiles.digest import compose_digests, load_readers
from app.store.db import session_scope
from app.store.embeddings import add_embeddings
from app.store.ingest import ingest_feed
from app.store.models import Paper, Profile, ProfileItem

TARGET_SECONDS = 60.0
DIM = 384
STARRED_BEFORE = 3000  # older papers readers starred
_WORD = re.compile(r"[A-Za-z][A-Za-z\-]{4,}")


def _bag_of_words(text: str, *, rng_seed: int) -> np.ndarray:
    """A unit vector of hashed words: papers sharing words are near, as real embeddings' topics are.

    (Random vectors would be all equally far apart: no reader's stars would form a cluster.)
    """
    vector = np.zeros(DIM, dtype=np.float32)
    for word in _WORD.findall(text.lower()):
        vector[zlib.crc32(f"{rng_seed}:{word}".encode()) % DIM] += 1.0
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else np.eye(DIM, dtype=np.float32)[0]


def load_day(settings: Settings, *, size: int) -> tuple[list[str], list[str], list[str]]:
    """The day with vectors, plus older starred papers; returns (day ids, old ids, title words)."""
    feed = parse_feed(dayfeed.build_day(size))
    older = parse_feed(dayfeed.build_day(STARRED_BEFORE, day=dayfeed.DAY - dt.timedelta(days=30)))
    with session_scope(settings) as session:
        ingest_feed(session, feed=feed, categories=dayfeed.LISTED, day=dayfeed.DAY)
        day_ids = {e.arxiv_id for e in feed.entries}
        # The older papers as stored papers (no listing needed): re-id them so they do not collide.
        for entry in older.entries:
            object.__setattr__(entry, "arxiv_id", "2610." + entry.arxiv_id.split(".")[1])
        ingest_feed(session, feed=older, categories=["cs.DS"], day=dayfeed.DAY - dt.timedelta(days=30))
        rows = session.execute(select(Paper.id, Paper.arxiv_id, Paper.title, Paper.abstract)).all()
        vectors = np.stack([_bag_of_words(f"{r.title} {r.abstract}", rng_seed=7) for r in rows])
        add_embeddings(
            session, model=settings.embed_model, rows=[(r.id, vectors[i]) for i, r in enumerate(rows)]
        )
    words = sorted({w.lower() for r in rows for w in _WORD.findall(r.title)})
    return sorted(day_ids), sorted(r.arxiv_id for r in rows if r.arxiv_id not in day_ids), words


def add_profiles(
    settings: Settings, count: int, day_ids: list[str], old_ids: list[str], words: list[str]
) -> Counter[str]:
    rnd = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    shapes: Counter[str] = Counter()
    with session_scope(settings) as session:
        profiles = [
            {"token_hash": f"{i:064x}", "created_at": now, "updated_at": now, "digest_frequency": "daily",
             "digest_webhook_url": "http://127.0.0.1:9/hook", "unsubscribe_key": "k" * 64}
            for i in range(count)
        ]  # fmt: skip
        session.execute(insert(Profile), profiles)
        ids = list(session.scalars(select(Profile.id).order_by(Profile.id)))
        items = []
        for pid in ids:
            stars = rnd.sample(old_ids, rnd.choice((0, 1, 2, 3, 5, 8, 12, 30)))
            shapes["5+ stars" if len(stars) >= 5 else "1-4 stars" if stars else "no stars"] += 1
            chosen = {
                "categories": rnd.sample(dayfeed.LISTED, rnd.randint(1, 3)),
                "stars": stars,
                "keywords": rnd.sample(words, rnd.randint(0, 6)),
                "negative_keywords": rnd.sample(words, rnd.randint(0, 3)),
                "dismissals": rnd.sample(day_ids, rnd.randint(0, 10)),
            }
            items += [
                {"profile_id": pid, "kind": kind, "value": value, "removed": False, "updated_at": now}
                for kind, values in chosen.items()
                for value in dict.fromkeys(values)
            ]
        for start in range(0, len(items), 5000):
            session.execute(insert(ProfileItem), items[start : start + 5000])
    return shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=2500, help="papers in the day")
    args = parser.parse_args()
    print("\n".join(harness.machine_lines([harness.Target("SQLite", None)])))
    with harness.fresh_database(harness.Target("SQLite", None)) as url:
        settings = Settings(database_url=url)
        started = time.perf_counter()
        day_ids, old_ids, words = load_day(settings, size=args.size)
        shapes = add_profiles(settings, args.profiles, day_ids, old_ids, words)
        print(f"setup: {len(day_ids)} papers in the day, {args.profiles} profiles ({dict(shapes)}) "
              f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
        started = time.perf_counter()
        with session_scope(settings) as session:
            readers = load_readers(session, settings, due=True)
            loaded = time.perf_counter() - started
            digests = compose_digests(session, settings, readers)
        elapsed = time.perf_counter() - started
    papers = [len(d.papers) for d in digests]
    verdict = "ok" if elapsed < TARGET_SECONDS and len(digests) == args.profiles else "MISSED"
    rows = [
        ("load profiles", f"{loaded:.2f} s", ""),
        ("load + compose all", f"{elapsed:.2f} s", f"< {TARGET_SECONDS:.0f} s {verdict}"),
        ("per profile", f"{1000 * elapsed / max(len(digests), 1):.2f} ms", ""),
        ("digests / papers each", f"{len(digests)} / {min(papers, default=0)}-{max(papers, default=0)}", ""),
    ]
    print(harness.table(["step", "time", "target"], rows))


if __name__ == "__main__":
    main()
