"""The long fuzzing run of `parse_feed`: atheris (libFuzzer, coverage-guided) over the recorded feeds.

Every input must parse or raise FeedParseError; anything else is a crash, a parse slower than
--timeout seconds a hang, and a process above --rss-mb megabytes a memory failure (libFuzzer's
-timeout and -rss_limit_mb). The seeds and the dictionary are those of the bounded harness that runs
in `make test` (tests/arxiv/test_parse_fuzz.py: the recorded documents; XML fragments, entities,
BOMs, arXiv-shaped ids). Findings are written as files under --artifacts; replay one with
`.venv/bin/python benchmarks/fuzz_parse.py --replay FILE`.

    .venv/bin/pip install atheris                       # once (Linux, CPython 3.11+)
    .venv/bin/python benchmarks/fuzz_parse.py --seconds 3600
    .venv/bin/python benchmarks/fuzz_parse.py --seconds 3600 --jobs 2   # one process per core

Without atheris it runs the Hypothesis harness for the same time instead:
`FUZZ_SECONDS=N .venv/bin/pytest tests/arxiv/test_parse_fuzz.py --timeout=0`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the seeds and fragments live with the tests

from app.errors import FeedParseError  # noqa: E402


def write_corpus(folder: Path) -> None:
    from tests.arxiv.test_parse_fuzz import SEEDS

    for number, seed in enumerate(SEEDS):
        (folder / f"seed-{number:03d}").write_bytes(seed)


def write_dictionary(path: Path) -> None:
    """libFuzzer's dictionary format: one quoted token a line, bytes escaped as \\xNN."""
    from tests.arxiv.test_parse_fuzz import FRAGMENTS, STRUCTURE

    lines = []
    for token in (*FRAGMENTS, *STRUCTURE):
        if 0 < len(token) <= 128:
            escaped = "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in token)
            lines.append(f'"{escaped}"')
    path.write_text("\n".join(lines) + "\n")


def run_atheris(args: argparse.Namespace) -> None:
    import atheris

    with atheris.instrument_imports(include=["app.arxiv"]):
        from app.arxiv.parse import parse_feed

    def one_input(data: bytes) -> None:
        with contextlib.suppress(FeedParseError):
            parse_feed(data)

    work = Path(tempfile.mkdtemp(prefix="fuzz-parse-"))
    corpus, dictionary = work / "corpus", work / "xml.dict"
    corpus.mkdir()
    write_corpus(corpus)
    write_dictionary(dictionary)
    args.artifacts.mkdir(parents=True, exist_ok=True)
    print(
        f"corpus {corpus} ({len(list(corpus.iterdir()))} seeds), findings under {args.artifacts}", flush=True
    )
    libfuzzer = [
        sys.argv[0],
        str(corpus),
        f"-dict={dictionary}",
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_mb}",
        f"-max_len={args.max_len}",
        f"-artifact_prefix={args.artifacts}/",
        "-print_final_stats=1",
        *([f"-jobs={args.jobs}", f"-workers={args.jobs}"] if args.jobs > 1 else []),
    ]
    atheris.Setup(libfuzzer, one_input)
    atheris.Fuzz()


def replay(path: Path) -> None:
    from app.arxiv.parse import parse_feed

    try:
        feed = parse_feed(path.read_bytes())
    except FeedParseError as exc:
        print(f"FeedParseError: {exc}")
    else:
        print(f"parsed: {feed.kind}, {len(feed.entries)} entries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600, help="total fuzzing time (default 600)")
    parser.add_argument("--timeout", type=int, default=5, help="seconds one input may take (default 5)")
    parser.add_argument("--rss-mb", type=int, default=1024, help="memory limit of the process (default 1024)")
    parser.add_argument("--max-len", type=int, default=1_048_576, help="largest input (default 1 MiB)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel fuzzing processes")
    parser.add_argument("--artifacts", type=Path, default=Path("/tmp/fuzz-parse-findings"))
    parser.add_argument("--replay", type=Path, help="parse one saved input and say what happened")
    args = parser.parse_args()
    if args.replay:
        replay(args.replay)
        return
    logging.disable(logging.WARNING)  # "skipped a feed entry" on every other input
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: running the Hypothesis harness instead", flush=True)
        env = {**os.environ, "FUZZ_SECONDS": str(args.seconds)}
        test = ROOT / "tests/arxiv/test_parse_fuzz.py"
        pytest = [
            sys.executable,
            "-m",
            "pytest",
            str(test),
            "-q",
            "-s",
            "--timeout=0",
            "-p",
            "no:cacheprovider",
        ]
        raise SystemExit(subprocess.call([*pytest, "-k", "mutated_seeds"], env=env, cwd=ROOT)) from None
    run_atheris(args)


if __name__ == "__main__":
    main()
