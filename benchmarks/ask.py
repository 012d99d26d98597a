"""Follow-up questions: how long after the model's first token the reader gets it.

    .venv/bin/python benchmarks/ask.py [--questions 20]

Target: a follow-up answer's first token reaches the reader <= 300 ms after the model's first token.

Real pieces end to end: a loopback OpenAI-compatible model (below) that streams each answer after a
fixed delay and stamps, on the machine's monotonic clock, the moment its first token left the socket;
the app served by a real uvicorn process on SQLite; a real SSE client (httpx, streaming the POST's
response) that stamps the first `answer` event carrying text. Each question is new, so each one is
generated (nothing served from the stored answers). CLOCK_MONOTONIC is one clock for every process of
the machine, so the two stamps compare.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from harness import load_now, median, percentile, table  # noqa: E402

FEED = ROOT / "tests" / "data" / "api" / "api-2025-cs-100-entries.xml"
FIRST_TOKEN_DELAY = 0.2  # the model "thinks" this long before its first token
PIECES, PIECE_DELAY = 40, 0.01
TARGET_MS = 300.0


class StampingModel(ThreadingHTTPServer):
    """An OpenAI-compatible streaming chat server that records when each answer's first token was sent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ModelHandler)
        self.first_tokens: list[float] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ModelHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = {"id": "bench", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
        self._event(chunk | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        time.sleep(FIRST_TOKEN_DELAY)
        for index in range(PIECES):
            delta = {"content": f"word{index} "}
            self._event(chunk | {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            if index == 0:
                server: StampingModel = self.server  # type: ignore[assignment]
                with server.lock:
                    server.first_tokens.append(time.monotonic())
            time.sleep(PIECE_DELAY)
        self._event(chunk | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self._event(chunk | {"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": PIECES}})
        self._send(b"data: [DONE]\n\n")
        self._send(b"")

    def _event(self, data: dict[str, object]) -> None:
        self._send(f"data: {json.dumps(data)}\n\n".encode())

    def _send(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_web(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--log-level", "warning"]
    web = subprocess.Popen(command, cwd=ROOT, env=env)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=1).status_code < 500:
                return web
        except httpx.HTTPError:
            time.sleep(0.2)
    web.kill()
    raise SystemExit("uvicorn did not start")


def ask_once(client: object, url: str, question: str) -> float:
    """The monotonic time at which the first event with answer text arrived."""
    with client.stream("POST", url, json={"question": question}) as response:  # type: ignore[attr-defined]
        if response.status_code != 200:
            raise SystemExit(f"POST {url}: {response.status_code} {response.read()[:200]!r}")
        first = 0.0
        for line in response.iter_lines():
            if not first and line.startswith("data: ") and json.loads(line[6:])["html"]:
                first = time.monotonic()
        return first


def run(questions: int) -> list[list[object]]:
    import httpx
    from sqlalchemy import select

    from app.config import get_settings

    model = StampingModel()
    threading.Thread(target=model.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="coolpapers-ask-") as folder:
        env = os.environ | {
            "DATA_DIR": folder, "DATABASE_URL": f"sqlite:///{folder}/bench.db", "LLM_BASE_URL": model.base_url,
            "LLM_MODEL": "bench-model", "SUMMARY_FULL_TEXT": "false", "RATE_ASK_PER_MINUTE": "100000",
            "ASK_PER_IP_LIMIT": "100000", "ASK_DAILY_LIMIT": "100000", "EMBED_PRELOAD": "false", "LLM_RETRIES": "0",
        }  # fmt: skip
        os.environ.update(env)
        get_settings.cache_clear()
        from app.store.db import session_scope
        from app.store.ingest import ingest_file
        from app.store.migrate import upgrade_database
        from app.store.models import Paper

        upgrade_database(get_settings())
        ingest_file(get_settings(), path=FEED, category=None, day=None)
        with session_scope(get_settings()) as session:
            paper = session.scalars(select(Paper.arxiv_id).order_by(Paper.id).limit(1)).one()
        port = free_port()
        web = start_web(env, port)
        try:
            url = f"http://127.0.0.1:{port}/api/v1/papers/{paper}/ask"
            with httpx.Client(timeout=30) as client:
                ask_once(client, url, "A warm-up question, not timed?")
                gaps = []
                for number in range(questions):
                    seen = ask_once(client, url, f"Question number {number}: what is measured?")
                    gaps.append((seen - model.first_tokens[-1]) * 1000)
        finally:
            web.terminate()
            web.wait(10)
            model.shutdown()
    return [
        ["model's first token -> reader (median)", f"{median(gaps):.1f}", f"<= {TARGET_MS:g}", load_now()],
        [
            "model's first token -> reader (p95)",
            f"{percentile(gaps, 95):.1f}",
            f"<= {TARGET_MS:g}",
            load_now(),
        ],
        ["model's first token -> reader (max)", f"{max(gaps):.1f}", f"<= {TARGET_MS:g}", load_now()],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=20, help="new questions timed, one after another")
    args = parser.parse_args()
    rows = run(args.questions)
    print(table(["what", "ms", "target ms", "load"], rows))
    worst = float(str(rows[-1][1]))
    print(f"\n{'PASS' if worst <= TARGET_MS else 'FAIL'}: worst {worst:.1f} ms against {TARGET_MS:g} ms")


if __name__ == "__main__":
    main()
