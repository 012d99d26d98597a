"""The database `load.sh` serves: a fresh PostgreSQL database with one realistic arXiv day.

A generated day of --size papers (benchmarks/dayfeed.py: real titles and abstracts, the four
categories cs.LG, cs.AI, cs.CL, stat.ML, announce types new / cross / replace 60/25/15) and a random
unit vector per paper under the configured model's name (all-MiniLM-L6-v2, 384-d): meaningless
neighbours, realistic work. The FAISS index is then built by `coolpapers reindex` (load.sh).
Writes one wrk script per measured endpoint into --scripts (each request takes the next of its
URL paths: 50 papers, 8 search queries) and prints what was loaded.

    .venv/bin/python benchmarks/loaddata.py --url postgresql+psycopg://... --size 1000 --scripts DIR
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import dayfeed
import numpy as np
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.arxiv.parse import parse_feed
from app.config import Settings
from app.store.db import make_engine
from app.store.embeddings import add_embeddings
from app.store.ingest import ingest_feed
from app.store.migrate import alembic_config
from app.store.models import Paper

DIM = 384
QUERIES = (
    "large language models",
    "graph neural networks for molecules",
    "reinforcement learning from human feedback",
    "diffusion models image generation",
    "speech recognition",
    "causal inference",
    "federated learning privacy",
    "transformer attention efficiency",
)


def recreate(url: str) -> None:
    """Drop and create the database named in `url` (through the server's `postgres` database)."""
    name = make_url(url).database
    server = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    admin = make_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    command.upgrade(alembic_config(url), "head")


def load(url: str, size: int) -> tuple[str, dict[str, list[str]]]:
    data = dayfeed.build_day(size)
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            report = ingest_feed(session, feed=parse_feed(data))
            papers = session.execute(select(Paper.id, Paper.arxiv_id).order_by(Paper.id)).all()
            model = add_random_vectors(session, [pid for pid, _ in papers])
    finally:
        engine.dispose()
    ids = [arxiv_id for _, arxiv_id in papers]
    picked = random.Random(2611).sample(ids, k=min(50, len(ids)))
    return f"{report.summary()}; {len(ids)} vectors ({DIM}-d, {model})", {
        "listing": ["/arxiv/cs.LG"],
        "paper": [f"/arxiv/{arxiv_id}" for arxiv_id in picked],
        "search": [f"/arxiv/search?query={q.replace(' ', '+')}" for q in QUERIES],
        "api_listings": ["/api/v1/listings/cs.LG"],
    }


def add_random_vectors(session: Session, paper_ids: list[int]) -> str:
    """A random unit vector per paper under the configured model's name (what the app searches): the model."""
    model = str(Settings.model_fields["embed_model"].default)
    vectors = np.random.default_rng(2611).standard_normal((len(paper_ids), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    add_embeddings(session, model=model, rows=list(zip(paper_ids, vectors, strict=True)))
    return model


def write_scripts(folder: Path, endpoints: dict[str, list[str]]) -> None:
    """`<endpoint>.lua`: wrk asks for the endpoint's paths in turn (each thread from its own start).

    Each request says `Accept-Encoding: gzip`, as every browser's and feed reader's does.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name, paths in endpoints.items():
        quoted = ", ".join(json.dumps(path) for path in paths)
        (folder / f"{name}.lua").write_text(
            f"local paths = {{{quoted}}}\n"
            "local i = math.random(#paths)\n"
            "request = function()\n"
            "  i = i % #paths + 1\n"
            '  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})\n'
            "end\n"
        )
        (folder / f"{name}.first").write_text(paths[0] + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="PostgreSQL URL of the database to (re)create")
    parser.add_argument("--size", type=int, default=1000, help="papers in the day (default 1000)")
    parser.add_argument("--scripts", type=Path, required=True, help="folder for the wrk scripts")
    args = parser.parse_args()
    recreate(args.url)
    summary, endpoints = load(args.url, args.size)
    write_scripts(args.scripts, endpoints)
    print(summary)


if __name__ == "__main__":
    main()
