"""HTTP caching of pages and JSON: an ETag from what a response depends on, 304 on a match.

A listing or paper page depends only on its URL, a cheap stamp of its data (a day's listing ids and
paper revisions; a paper's revision) and the code and files that render it (`render_version`). So
the ETag is a hash of those three, computed before anything is rendered: a browser or proxy holding
the page gets `304 Not Modified` for the price of the stamp's query, and a changed field changes
the stamp, so the next request past `max-age` gets the new page.

One server-side cache, `kept_responses`, for the responses that are costly to make and asked for by
every reader of a day (a 1,000-paper listing page, ~100 ms to render; its JSON twin): each is kept
by URL with its ETag and its brotli and gzip forms. Its one invalidation rule: a kept response is served only
while its ETag equals the one just computed from the current stamp; otherwise it is made again and
replaces it. Least recently used out first past PAGE_CACHE_MB.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import brotli
from cachetools import LRUCache
from starlette.requests import Request
from starlette.responses import Response

from app import __version__
from app.config import get_settings

ROOT = Path(__file__).resolve().parents[1]
# What the HTML is made from besides the data: templates, the files they link (their hashes are in
# the markup) and the code of the web tier (filters, contexts).
RENDERED_FROM = ("templates", "static", "app/web")


@cache
def render_version() -> str:
    """A digest of the app's version and every file a page is rendered from, read once per process."""
    digest = hashlib.sha256(__version__.encode())
    for folder in RENDERED_FROM:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(path.relative_to(ROOT).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def make_etag(request: Request, stamp: object) -> str:
    """A weak validator: equal for equal (path, query, stamp, render version) in every process.

    Weak, for one tag names the identity, gzip and brotli forms of the response alike (a strong
    tag must differ between codings, RFC 9110 8.8.3); If-None-Match compares weakly anyway.
    `stamp` must have a `repr` that is stable across processes (dataclasses of dates and numbers are).
    """
    key = f"{render_version()}\n{_url_of(request)}\n{stamp!r}".encode()
    return 'W/"' + hashlib.sha256(key).hexdigest()[:32] + '"'


def cache_control(fresh_seconds: int) -> str:
    """Reused for `fresh_seconds`, then shown once more while a revalidation runs; 0: always ask."""
    if fresh_seconds <= 0:
        return "no-cache"
    return f"max-age={fresh_seconds}, stale-while-revalidate={fresh_seconds}"


def etag_matches(request: Request, etag: str) -> bool:
    """If-None-Match holds `etag` (or `*`), compared weakly as RFC 9110 13.1.2 asks of this header."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


@dataclass(frozen=True, slots=True)
class Validation:
    """The caching headers of a response, and the 304 to answer instead of rendering, if any."""

    headers: dict[str, str]
    not_modified: Response | None


def validate(request: Request, *, stamp: object, fresh_seconds: int, vary: str | None = None) -> Validation:
    """Check the request against the stamp: a 304 when the client holds this version already.

    The gzip and identity forms share the validator: same content, coded per `Vary: Accept-Encoding`
    (which GZipMiddleware adds to what it passes; a 304 carries it here).
    """
    etag = make_etag(request, stamp)
    headers = {"ETag": etag, "Cache-Control": cache_control(fresh_seconds)} | ({"Vary": vary} if vary else {})
    matched = etag_matches(request, etag)
    unchanged = Response(status_code=304, headers=with_vary(headers)) if matched else None
    return Validation(headers, unchanged)


VARY = {"Vary": "Accept-Encoding"}


def with_vary(headers: dict[str, str]) -> dict[str, str]:
    """`headers` with Accept-Encoding in their Vary (a page that varies on more names them there)."""
    named = headers.get("Vary")
    return headers | ({"Vary": f"{named}, Accept-Encoding"} if named else VARY)


UNCACHED = {"Cache-Control": "no-cache"}  # pages of per-minute numbers: asked for each time


KEPT_GZIP_LEVEL = 6  # once per version: a 3.1 MB listing to 0.63 MB in ~45 ms
# Brotli, which every browser asks for (Chromium over plain http too): a 2,000-paper listing (7.4 MB)
# to 927 KB in ~80 ms, where gzip 6 gives 1,286 KB in ~97 ms. Quality 9 saves 4 % more for 3x the
# time, 11 16 % more for 100x: a first request waits for it.
KEPT_BROTLI_QUALITY = 6
_kept_lock = threading.Lock()  # cachetools caches are not thread-safe; handlers run in threads


def preferred_coding(request: Request) -> str | None:
    """ "br", "gzip" or None (identity), by the request's Accept-Encoding: br first, `;q=0` refused."""
    accepted = set()
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=")
        if coding and (not params or _positive(quality)):
            accepted.add(coding.strip())
    return next((coding for coding in ("br", "gzip") if coding in accepted or "*" in accepted), None)


def _positive(quality: str) -> bool:
    try:
        return float(quality) > 0
    except ValueError:
        return False


def _compress(coding: str, body: bytes) -> bytes:
    if coding == "br":
        return bytes(brotli.compress(body, quality=KEPT_BROTLI_QUALITY))
    return gzip.compress(body, compresslevel=KEPT_GZIP_LEVEL, mtime=0)


@dataclass(slots=True)
class KeptResponse:
    key: str  # where it is kept: its URL, and the variant of it (see kept_or_made)
    etag: str  # the version it is: URL, stamp, render version
    body: bytes
    media_type: str
    # Compressed once per coding, when first asked: per request, even gzip level 1 took ~15 ms of a
    # 3 MB page. Two threads may both compress a coding the first time; the same bytes either way.
    coded: dict[str, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(coded) for coded in self.coded.values())

    def response(self, request: Request, headers: dict[str, str]) -> Response:
        # Encoded here, GZipMiddleware passes it as it is: the Vary it would add is added here.
        coding = preferred_coding(request)
        if coding is None:
            return Response(self.body, media_type=self.media_type, headers=with_vary(headers))
        body = self.coded.get(coding)
        if body is None:
            body = self.coded[coding] = _compress(coding, self.body)
            with _kept_lock:  # the cache counts the entry's size when it is set: set it again
                kept_ones = kept_responses()
                if kept_ones.get(self.key) is self and self.size <= kept_ones.maxsize:
                    kept_ones[self.key] = self
        encoded = with_vary(headers) | {"Content-Encoding": coding}
        return Response(body, media_type=self.media_type, headers=encoded)


@cache
def kept_responses() -> LRUCache[str, KeptResponse]:
    """The one server-side cache (see the module's docstring), sized by PAGE_CACHE_MB."""
    return LRUCache(maxsize=get_settings().page_cache_mb * 2**20, getsizeof=lambda kept: kept.size)


def kept_response(request: Request, checked: Validation, *, variant: str = "") -> Response | None:
    """The response kept for this URL (and variant) if it is the version `checked` names, else None."""
    with _kept_lock:
        kept = kept_responses().get(_url_of(request) + variant)
    return kept.response(request, checked.headers) if kept and kept.etag == checked.headers["ETag"] else None


def kept_or_made(
    request: Request, checked: Validation, *, media_type: str, make: Callable[[], bytes], variant: str = ""
) -> Response:
    """The response kept for this URL if it is the version `checked` names, else `make()`, kept.

    `variant` tells apart responses of one URL that differ by a request header (then named in the
    response's Vary, and in the stamp the ETag is made of)."""
    found = kept_response(request, checked, variant=variant)
    if found is not None:
        return found
    body, kept_ones = make(), kept_responses()
    etag = checked.headers["ETag"]
    kept = KeptResponse(_url_of(request) + variant, etag, body, media_type)
    response = kept.response(request, checked.headers)  # its coding made before it is kept
    if kept.size <= kept_ones.maxsize:  # larger than the whole cache: used once, not kept
        with _kept_lock:
            kept_ones[kept.key] = kept
    return response


def _url_of(request: Request) -> str:
    return f"{request.url.path}?{request.url.query}"
