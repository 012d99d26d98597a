"""A stand-in for export.arxiv.org/api/query on 127.0.0.1 that answers id lookups from recordings.

`id_list` queries get the recorded answer for that id when there is one (tests/data/api/
arxiv.py-recorded), else the recorded answer arXiv gives for an id it does not know (an empty feed).
The whole test session points ARXIV_API_URL here (tests/conftest.py), so nothing reaches the network.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDED = Path(__file__).parent / "data" / "api" / "arxiv.py-recorded"


def _body(name: str) -> bytes:
    # The recorder stored UTF-8 bytes decoded as Latin-1: undo that to get arXiv's bytes back.
    return str(json.loads((RECORDED / name).read_text())["body"]).encode("latin-1")


def recorded_ids() -> dict[str, bytes]:
    """id -> the recorded API answer for looking up that one id."""
    answers = {}
    for path in RECORDED.glob("id_*_s0_m100_*.json"):
        key = path.name.split("_s0_")[0].removeprefix("id_")
        key = key.replace("astro-ph_", "astro-ph/").replace("quant-ph_", "quant-ph/")
        if "_" not in key:  # one id per lookup; the client asks without the version
            answers[re.sub(r"v\d+$", "", key)] = _body(path.name)
    return answers


class _Handler(BaseHTTPRequestHandler):
    server: ArxivApiServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        ids = (query.get("id_list") or [""])[0]
        self.server.requests.append(ids)
        time.sleep(self.server.delays.get(ids, 0.0))
        body = self.server.answers.get(ids, self.server.unknown)
        self.send_response(200)
        self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ArxivApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = recorded_ids()
        self.unknown = _body("id_0000.0000_s0_m100_8b51d9633a68.json")
        self.requests: list[str] = []
        self.delays: dict[str, float] = {}  # seconds before answering an id_list (a slow arXiv)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/query"
