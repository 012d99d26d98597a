"""Static files under content-hashed URLs: `/static/js/site.js?v=<hash>` is cached for a year.

Templates link assets through `static_url`, which appends a digest of the file's contents (read once
per process). A request whose `v` is the file's digest can be kept forever (`immutable`): another
version of the file has another URL. Any other request (fonts linked from CSS, an old page's hash)
gets a short lifetime and the ETag / Last-Modified that StaticFiles sends, so it is revalidated.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parents[2] / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
UNHASHED = "public, max-age=3600"  # then revalidated with the ETag StaticFiles sends


@cache
def file_digest(full_path: str) -> str:
    return hashlib.sha256(Path(full_path).read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    """`/static/<path>?v=<digest>` for a file under static/ (a missing file is a template bug: it raises)."""
    return f"/static/{path}?v={file_digest(str(STATIC / path))}"


class HashedStaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[0]
        hashed = asked == file_digest(os.fspath(full_path))
        response.headers["Cache-Control"] = IMMUTABLE if hashed else UNHASHED
        return response
